-- The desk's settings and the first-response SLA, defined before the wire
-- JSON of sql/05_json.sql, whose session_json flags SLA breaches. The rest of
-- the desk is in sql/60_desk.sql.

-- The desk's settings (one row, written by each server at start-up).
-- SECURITY DEFINER: requests read settings through this, never the table.
CREATE OR REPLACE FUNCTION pgchat.desk_settings() RETURNS desk_settings
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT d FROM desk_settings d WHERE d.id
$$;

-- The advisory lock that serializes every assignment that checks capacity
-- (auto-assignment on every node, manual assign, transfer): one at a time, so
-- load counts are exact and no agent goes over capacity.
CREATE OR REPLACE FUNCTION pgchat.desk_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
  SELECT 8099551754861245291::bigint -- 'pgchdesk' as 8 bytes: arbitrary, fixed
$$;

-- The queue drains urgent first.
CREATE OR REPLACE FUNCTION pgchat.priority_rank(p text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT array_position(ARRAY['urgent', 'high', 'medium', 'low'], p)
$$;

-- When the first answer is due under the first-response SLA (NULL: no SLA).
-- The clock stands still while the session is pending or snoozed (waiting on
-- the customer, or put off): the due time moves by that long.
CREATE OR REPLACE FUNCTION pgchat.first_response_due(s live_chat_sessions) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT s.started_at + make_interval(secs => d.sla_first_response_secs + s.paused_secs
                                              + coalesce(extract(epoch FROM now() - s.paused_at), 0))
    FROM pgchat.desk_settings() d WHERE d.sla_first_response_secs > 0
$$;

-- A session breached the first-response SLA when its first answer came later
-- than the target, or has not come and the target has passed (for an ended
-- session without an answer: it ended after the target).
CREATE OR REPLACE FUNCTION pgchat.sla_breached(s live_chat_sessions) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(coalesce(s.first_response_at, s.ended_at, s.resolved_at, s.closed_at, now())
                  > pgchat.first_response_due(s), false)
$$;

-- When staff first answered an escalated session in public after its latest
-- escalation (NULL: not yet, or never escalated). Read from the messages, so
-- that no send has to write the session row (a send locks the conversation;
-- a session's writers lock the session first).
CREATE OR REPLACE FUNCTION pgchat.escalation_answered_at(s live_chat_sessions) RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT min(m.created_at) FROM chat_messages m
   WHERE s.escalated_at IS NOT NULL AND m.conversation_id = s.conversation_id
     AND m.created_at >= s.escalated_at AND m.sender_role IN ('agent', 'admin')
     AND NOT m.internal AND m.deleted_at IS NULL
$$;

-- An escalation breached its SLA when staff answered after its deadline, or
-- have not answered and the deadline passed (for a session that is over: it
-- ended, was resolved or closed after the deadline).
CREATE OR REPLACE FUNCTION pgchat.escalation_breached(s live_chat_sessions) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT s.escalation_due_at IS NOT NULL
     AND coalesce(pgchat.escalation_answered_at(s),
                  CASE WHEN s.status IN ('resolved', 'closed', 'ended')
                       THEN coalesce(s.ended_at, s.closed_at, s.resolved_at) END,
                  now())
         > s.escalation_due_at
$$;

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

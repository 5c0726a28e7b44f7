-- A support session is a live chat and a ticket: besides waiting, active and
-- ended (a live chat that ended), it can be pending (waiting on the customer),
-- snoozed until a time, resolved (reopened when the customer writes within
-- the reopen window, or by an agent) and closed (final). The transitions and
-- their timestamps are kept by pgchat.tg_session_guard (sql/40_guards.sql).
ALTER TABLE live_chat_sessions
  DROP CONSTRAINT live_chat_sessions_status_check,
  DROP CONSTRAINT live_chat_sessions_check,
  DROP CONSTRAINT live_chat_sessions_check2,
  ADD COLUMN description   text CHECK (length(description) <= 5000),
  ADD COLUMN snoozed_until timestamptz,
  ADD COLUMN resolved_at   timestamptz,
  ADD COLUMN closed_at     timestamptz,
  -- the first-response clock stops while pending or snoozed: since when, and
  -- how long it stood still before
  ADD COLUMN paused_at     timestamptz,
  ADD COLUMN paused_secs   double precision NOT NULL DEFAULT 0,
  ADD CONSTRAINT live_chat_sessions_status_check
    CHECK (status IN ('waiting', 'active', 'pending', 'snoozed', 'resolved', 'closed', 'ended')),
  -- waiting: no agent yet; active, pending, snoozed: someone's
  ADD CONSTRAINT live_chat_sessions_agent_check
    CHECK ((status = 'waiting') = (agent_id IS NULL) OR status IN ('resolved', 'closed', 'ended')),
  ADD CONSTRAINT live_chat_sessions_snooze_check CHECK ((status = 'snoozed') = (snoozed_until IS NOT NULL)),
  ADD CONSTRAINT live_chat_sessions_closed_check CHECK ((status = 'closed') = (closed_at IS NOT NULL));

-- How long after a resolution a customer's message reopens the session (0: never).
ALTER TABLE desk_settings ADD COLUMN reopen_window_secs integer NOT NULL DEFAULT 604800
  CHECK (reopen_window_secs >= 0);

CREATE INDEX live_chat_sessions_snoozed_idx ON live_chat_sessions (snoozed_until) WHERE status = 'snoozed';

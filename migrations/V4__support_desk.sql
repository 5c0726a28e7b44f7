-- The support desk: agents and their capacity, the assignment history, canned
-- responses, the offline-notification outbox and the desk's settings.
-- Functions and triggers are in sql/60_desk.sql, views in sql/91_desk_views.sql,
-- row-level security in policies/.

-- Why a session ended (customer, agent, admin, the inactivity job, another system path).
ALTER TABLE live_chat_sessions
  ADD COLUMN ended_reason text CHECK (ended_reason IN ('customer', 'agent', 'admin', 'inactivity', 'system'));

-- A staff user who takes part in the desk. Only users with a row here are
-- auto-assigned sessions; `status` is their availability (online: assignable).
CREATE TABLE agents (
  user_id           text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  status            text NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'busy', 'offline')),
  -- the most active sessions auto-assignment, assign and transfer give this agent
  capacity          integer NOT NULL DEFAULT 5 CHECK (capacity BETWEEN 0 AND 1000),
  -- categories this agent takes; empty: all of them
  skills            text[] NOT NULL DEFAULT '{}'
                      CHECK (skills <@ ARRAY['payment', 'shipping', 'account', 'returns', 'technical', 'other']::text[]),
  -- admins take an agent out of the desk without deleting the row
  enabled           boolean NOT NULL DEFAULT true,
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_available_idx ON agents (status) WHERE enabled;
CREATE INDEX live_chat_sessions_active_agent_idx ON live_chat_sessions (agent_id) WHERE status = 'active';

-- Every time a session got an agent (written by a trigger, whoever changed it):
-- the audit trail, per-agent figures, and round-robin's notion of "whose turn".
CREATE TABLE session_assignments (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  session_id        uuid NOT NULL REFERENCES live_chat_sessions (id) ON DELETE CASCADE,
  agent_id          text NOT NULL REFERENCES users (id),
  previous_agent_id text REFERENCES users (id),
  kind              text NOT NULL CHECK (kind IN ('auto', 'claim', 'assign', 'transfer')),
  assigned_by       text REFERENCES users (id),
  assigned_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_assignments_agent_idx ON session_assignments (agent_id, id DESC);
CREATE INDEX session_assignments_session_idx ON session_assignments (session_id, id);

-- Canned responses: personal (owner_id set) or shared with every agent (owner_id NULL).
CREATE TABLE canned_responses (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  owner_id   text REFERENCES users (id) ON DELETE CASCADE,
  shortcut   text NOT NULL CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,49}$'),
  title      text CHECK (length(title) <= 200),
  body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
  created_by text NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- One shortcut per owner, and one among the shared ones.
CREATE UNIQUE INDEX canned_responses_shortcut_idx ON canned_responses ((coalesce(owner_id, '')), shortcut);

-- Messages for members with no live connection, waiting for the webhook worker.
-- A row is delivered once (workers take rows with FOR UPDATE SKIP LOCKED);
-- after the last failed attempt it stays as a dead letter.
CREATE TABLE notification_outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  message_id      uuid REFERENCES chat_messages (id) ON DELETE CASCADE,
  payload         jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  last_status     integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  UNIQUE (message_id, user_id)
);
CREATE INDEX notification_outbox_due_idx ON notification_outbox (next_attempt_at, id) WHERE status = 'pending';

-- The desk's settings as SQL sees them (views, triggers, psql). One row; every
-- server writes its configuration here when it starts.
CREATE TABLE desk_settings (
  id                      boolean PRIMARY KEY DEFAULT true CHECK (id),
  assignment_mode         text NOT NULL DEFAULT 'least-loaded'
                            CHECK (assignment_mode IN ('manual', 'round-robin', 'least-loaded')),
  sla_first_response_secs integer NOT NULL DEFAULT 120 CHECK (sla_first_response_secs >= 0),
  inactivity_timeout_secs integer NOT NULL DEFAULT 1800 CHECK (inactivity_timeout_secs >= 0),
  notifications_enabled   boolean NOT NULL DEFAULT false,
  updated_at              timestamptz NOT NULL DEFAULT now()
);
INSERT INTO desk_settings DEFAULT VALUES;

-- Core tables for all three kinds of chat: support, direct and rooms.
-- Versioned and append-only: a change to a table is a new migration.
-- Functions, triggers and views live in sql/ (re-applied on every migrate),
-- row-level security in policies/.

-- The role every request runs as (SET LOCAL ROLE inside the caller's transaction).
-- NOLOGIN: nobody connects as it; the server switches to it per transaction.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgchat_user') THEN
    CREATE ROLE pgchat_user NOLOGIN;
  END IF;
END $$;
GRANT pgchat_user TO CURRENT_USER;

CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS pgchat;

-- One row per JWT subject; the id IS the `sub` claim so API and SQL speak of the same ids.
CREATE TABLE users (
  id           text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
  role         text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'agent', 'admin')),
  name         text,
  email        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz
);

-- Every chat is a conversation. last_seq is the conversation's change counter:
-- every row change that belongs to the conversation takes the next value.
CREATE TABLE conversations (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind             text NOT NULL CHECK (kind IN ('support', 'direct', 'group', 'public', 'private', 'announcement')),
  title            text,
  description      text,
  settings         jsonb NOT NULL DEFAULT '{}'::jsonb,
  direct_key       text UNIQUE,
  created_by       text REFERENCES users (id),
  last_seq         bigint NOT NULL DEFAULT 0,
  last_message_seq bigint NOT NULL DEFAULT 0,
  last_message_at  timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);

-- Per-participant state. `muted` is the member's own notification setting;
-- `banned` is imposed by moderators. `hidden_before_seq` implements delete-for-me.
CREATE TABLE conversation_members (
  conversation_id    uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id            text NOT NULL REFERENCES users (id),
  role               text NOT NULL DEFAULT 'member'
                       CHECK (role IN ('owner', 'admin', 'moderator', 'member', 'customer', 'agent')),
  change_seq         bigint NOT NULL DEFAULT 0,
  pinned             boolean NOT NULL DEFAULT false,
  muted              boolean NOT NULL DEFAULT false,
  archived           boolean NOT NULL DEFAULT false,
  deleted_at         timestamptz,
  hidden_before_seq  bigint NOT NULL DEFAULT 0,
  banned             boolean NOT NULL DEFAULT false,
  last_read_seq      bigint NOT NULL DEFAULT 0,
  last_delivered_seq bigint NOT NULL DEFAULT 0,
  joined_at          timestamptz NOT NULL DEFAULT now(),
  left_at            timestamptz,
  -- What the last seq-taking change was (joined, left, read, delivered, role):
  -- resume replays it as the right event.
  last_change        text NOT NULL DEFAULT 'joined',
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_user_idx ON conversation_members (user_id) WHERE left_at IS NULL;

-- A support chat: 1:1 with a conversation of kind 'support'.
CREATE TABLE live_chat_sessions (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id   uuid NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE,
  customer_id       text NOT NULL REFERENCES users (id),
  agent_id          text REFERENCES users (id),
  status            text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'active', 'ended')),
  subject           text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
  category          text NOT NULL DEFAULT 'other'
                      CHECK (category IN ('payment', 'shipping', 'account', 'returns', 'technical', 'other')),
  priority          text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  change_seq        bigint NOT NULL DEFAULT 0,
  started_at        timestamptz NOT NULL DEFAULT now(),
  assigned_at       timestamptz,
  first_response_at timestamptz,
  ended_at          timestamptz,
  ended_by          text REFERENCES users (id),
  rating            smallint CHECK (rating BETWEEN 1 AND 5),
  feedback          text CHECK (length(feedback) <= 2000),
  rated_at          timestamptz,
  CHECK ((status = 'waiting') = (agent_id IS NULL) OR status = 'ended'),
  CHECK ((status = 'ended') = (ended_at IS NOT NULL)),
  CHECK (rating IS NULL OR status = 'ended')
);
CREATE INDEX live_chat_sessions_queue_idx ON live_chat_sessions (started_at) WHERE status = 'waiting';
CREATE INDEX live_chat_sessions_agent_idx ON live_chat_sessions (agent_id, status);
CREATE INDEX live_chat_sessions_customer_idx ON live_chat_sessions (customer_id, started_at DESC);
CREATE INDEX live_chat_sessions_started_idx ON live_chat_sessions (started_at DESC, id DESC);

-- Messages of every kind of chat. `seq` is the position (immutable), `change_seq`
-- the last change; both come from the conversation's counter (sql/10_sequences.sql).
CREATE TABLE chat_messages (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  seq             bigint NOT NULL,
  change_seq      bigint NOT NULL,
  sender_id       text REFERENCES users (id),
  sender_role     text NOT NULL CHECK (sender_role IN ('user', 'agent', 'admin', 'system')),
  client_msg_id   uuid,
  kind            text NOT NULL DEFAULT 'text'
                    CHECK (kind IN ('text', 'image', 'file', 'audio', 'video', 'system', 'ai_response')),
  body            text NOT NULL CHECK (length(body) <= 5000),
  reply_to        uuid REFERENCES chat_messages (id) ON DELETE SET NULL,
  internal        boolean NOT NULL DEFAULT false,
  attachment_id   uuid,
  metadata        jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  edited_at       timestamptz,
  deleted_at      timestamptz,
  search          tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED,
  UNIQUE (conversation_id, seq),
  UNIQUE (sender_id, client_msg_id)
);
CREATE INDEX chat_messages_change_idx ON chat_messages (conversation_id, change_seq);
CREATE INDEX chat_messages_search_idx ON chat_messages USING gin (search);

-- Attachments (files kept in a blob store: the local folder or S3) and the AI
-- assistant (its job queue, per-user quota, FAQ and settings).
-- Functions and triggers are in sql/04_attachments.sql, sql/70_attachments.sql
-- and sql/75_ai.sql; row-level security in policies/attachments.sql and
-- policies/ai.sql.

-- An uploaded file. A row is created when a client asks to upload
-- (`pending`), becomes `ready` once the bytes are in the store and passed the
-- checks (size, magic bytes, thumbnail), and is then attached to at most one
-- message of the same conversation by its uploader.
CREATE TABLE attachments (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  uploader_id     text NOT NULL REFERENCES users (id),
  -- sanitized: no path, no control characters, at most 255 bytes
  filename        text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255 AND filename !~ '[/\\[:cntrl:]]'),
  mime_type       text NOT NULL CHECK (mime_type ~ '^[a-z0-9.+-]+/[a-z0-9.+-]+$'),
  kind            text NOT NULL CHECK (kind IN ('image', 'file', 'audio', 'video')),
  size            bigint NOT NULL CHECK (size > 0),
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready')),
  -- where the bytes are in the blob store (never derived from the filename)
  storage_key     text NOT NULL,
  thumbnail_key   text,
  width           integer,
  height          integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  completed_at    timestamptz,
  CHECK ((status = 'ready') = (completed_at IS NOT NULL))
);
CREATE INDEX attachments_conversation_idx ON attachments (conversation_id);
CREATE INDEX attachments_pending_idx ON attachments (created_at) WHERE status = 'pending';

-- chat_messages.attachment_id (V1) now names an attachment; one message per attachment.
ALTER TABLE chat_messages
  ADD CONSTRAINT chat_messages_attachment_fkey
  FOREIGN KEY (attachment_id) REFERENCES attachments (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX chat_messages_attachment_idx ON chat_messages (attachment_id)
  WHERE attachment_id IS NOT NULL;

-- Rooms may set their own upload limit (bytes): the V3 list of room settings
-- gains `max_upload_bytes` (an integer from 1 byte to 100 MiB).
ALTER TABLE conversations DROP CONSTRAINT conversations_room_settings_valid;
ALTER TABLE conversations ADD CONSTRAINT conversations_room_settings_valid CHECK (
  kind NOT IN ('public', 'private', 'group', 'announcement') OR (
  jsonb_typeof(settings) = 'object'
  AND settings - ARRAY['allow_invites', 'max_members', 'allow_file_uploads', 'enable_ai',
                       'retention_days', 'anonymous_posting', 'max_upload_bytes'] = '{}'::jsonb
  AND coalesce(jsonb_typeof(settings -> 'allow_invites'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'allow_file_uploads'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'enable_ai'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'anonymous_posting'), 'boolean') = 'boolean'
  AND CASE WHEN settings -> 'max_members' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'max_members') <> 'number' THEN false
           ELSE (settings ->> 'max_members')::numeric BETWEEN 2 AND 100000
                AND (settings ->> 'max_members')::numeric % 1 = 0 END
  AND CASE WHEN settings -> 'retention_days' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'retention_days') <> 'number' THEN false
           ELSE (settings ->> 'retention_days')::numeric BETWEEN 1 AND 3650
                AND (settings ->> 'retention_days')::numeric % 1 = 0 END
  AND CASE WHEN settings -> 'max_upload_bytes' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'max_upload_bytes') <> 'number' THEN false
           ELSE (settings ->> 'max_upload_bytes')::numeric BETWEEN 1 AND 104857600
                AND (settings ->> 'max_upload_bytes')::numeric % 1 = 0 END));

-- The assistant's work: one row per answer to give. Written by triggers (a
-- message mentioning @ai, a support session waiting with no agent online), so
-- a message sent by any path (REST, WebSocket, group commit, psql) is seen.
-- Every node's worker takes due rows with FOR UPDATE SKIP LOCKED and a lease
-- (`locked_until`), so each job is answered once even with many nodes, and a
-- job whose node died is retried when the lease runs out.
CREATE TABLE ai_jobs (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('mention', 'first_response')),
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  message_id      uuid REFERENCES chat_messages (id) ON DELETE CASCADE,
  -- whose question it is: the context is read under this identity
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  user_role       text NOT NULL CHECK (user_role IN ('user', 'agent', 'admin')),
  attempts        integer NOT NULL DEFAULT 0,
  run_at          timestamptz NOT NULL DEFAULT now(),
  locked_until    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_jobs_due_idx ON ai_jobs (run_at, id);

-- Answers given per user in the current window (the per-user rate limit,
-- shared by every node).
CREATE TABLE ai_quota (
  user_id      text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  window_start timestamptz NOT NULL,
  used         integer NOT NULL
);

-- Questions the offline provider answers by lookup (and that every provider
-- gets as reference). Operators maintain them with psql.
CREATE TABLE ai_faq (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  question   text NOT NULL CHECK (length(question) BETWEEN 1 AND 1000),
  answer     text NOT NULL CHECK (length(answer) BETWEEN 1 AND 4000),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The assistant's settings as SQL sees them (the triggers). One row; every
-- server writes its configuration here when it starts.
CREATE TABLE ai_settings (
  id              boolean PRIMARY KEY DEFAULT true CHECK (id),
  -- @ai in support conversations whose settings do not say (enable_ai)
  support_enabled boolean NOT NULL DEFAULT true,
  -- answer a new support session when no agent is online
  first_response  boolean NOT NULL DEFAULT false,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ai_settings DEFAULT VALUES;

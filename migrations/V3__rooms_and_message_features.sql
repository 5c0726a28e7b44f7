-- Direct conversations, rooms, and the message features every kind of chat
-- shares: reactions, pins, edits and tombstones, anonymous posting, retention.
-- Functions and triggers for these live in sql/ (45_rooms.sql), RLS in policies/.

-- Room metadata (title, description, settings) changes take a change_seq from
-- the conversation's counter like every other change, so `room_updated` is
-- resumable by cursor.
ALTER TABLE conversations ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;

-- Room settings live in `settings` (jsonb; absent keys take the defaults of
-- pgchat.room_settings()). Only known keys, each of its type and range.
-- (Other kinds of conversation keep their settings free-form.)
ALTER TABLE conversations ADD CONSTRAINT conversations_room_settings_valid CHECK (
  kind NOT IN ('public', 'private', 'group', 'announcement') OR (
  jsonb_typeof(settings) = 'object'
  AND settings - ARRAY['allow_invites', 'max_members', 'allow_file_uploads', 'enable_ai',
                       'retention_days', 'anonymous_posting'] = '{}'::jsonb
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
                AND (settings ->> 'retention_days')::numeric % 1 = 0 END));

-- Room discovery pages newest first; the retention job visits rooms with a period.
CREATE INDEX conversations_directory_idx ON conversations (created_at DESC, id DESC)
  WHERE kind IN ('public', 'announcement');
CREATE INDEX conversations_retention_idx ON conversations (id)
  WHERE settings ? 'retention_days' AND kind IN ('public', 'private', 'group', 'announcement');

-- A moderator-imposed mute: the member may read but not post until then
-- ('infinity': until lifted). Not the member's own notification flag `muted`.
ALTER TABLE conversation_members ADD COLUMN silenced_until timestamptz;

-- reactions: the per-emoji summary {"👍": ["alice", "bob"]}, kept by a trigger
--   on message_reactions (the message row changes, so it takes a change_seq);
-- pinned_at/pinned_by: a pinned message of its conversation;
-- deleted_by: who turned the message into a tombstone (its sender or a moderator);
-- anonymous: posted in a room with anonymous posting (the sender is not shown).
ALTER TABLE chat_messages
  ADD COLUMN reactions  jsonb NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN pinned_at  timestamptz,
  ADD COLUMN pinned_by  text REFERENCES users (id),
  ADD COLUMN deleted_by text REFERENCES users (id),
  ADD COLUMN anonymous  boolean NOT NULL DEFAULT false;
CREATE INDEX chat_messages_pinned_idx ON chat_messages (conversation_id, pinned_at DESC)
  WHERE pinned_at IS NOT NULL;

-- A reply may outlive its parent (retention purges old messages): reply_to is
-- a plain reference, checked when the reply is sent, and the reply's preview
-- is empty once the parent is gone. (With the foreign key, every purge would
-- rewrite the surviving replies.)
ALTER TABLE chat_messages DROP CONSTRAINT IF EXISTS chat_messages_reply_to_fkey;

-- One row per (message, emoji, user).
CREATE TABLE message_reactions (
  message_id      uuid NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
  emoji           text NOT NULL CHECK (length(emoji) BETWEEN 1 AND 64),
  user_id         text NOT NULL REFERENCES users (id),
  conversation_id uuid NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, emoji, user_id)
);
CREATE INDEX message_reactions_user_idx ON message_reactions (message_id, user_id);

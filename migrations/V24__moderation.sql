-- Content moderation (issue 21 item 1): word lists and patterns the admins
-- keep, a mode per room and for the desk, what a message's check decided, and
-- the review queue. Functions and triggers live in sql/47_moderation.sql, RLS
-- in policies/moderation_*.sql.

-- The words and patterns, one row. `terms` is every entry as a PostgreSQL
-- regular expression (a word matched whole, a pattern as written) and
-- `matcher` all of them as one expression, NULL when both lists are empty:
-- both kept by a trigger, so a send asks one column whether to look at all.
CREATE TABLE moderation_lists (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  words      text[] NOT NULL DEFAULT '{}',
  patterns   text[] NOT NULL DEFAULT '{}',
  terms      text[] NOT NULL DEFAULT '{}',
  matcher    text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text
);
INSERT INTO moderation_lists DEFAULT VALUES;

-- What a match does: nothing, flag it for review (delivered), hold it until a
-- moderator approves it, or refuse the send. Rooms have their own mode; the
-- desk's applies to support conversations. (A column, not a key of the room's
-- settings jsonb: the send plan reads it with the conversation row.)
ALTER TABLE desk_settings ADD COLUMN moderation text NOT NULL DEFAULT 'off'
  CHECK (moderation IN ('off', 'flag', 'hold', 'reject'));
ALTER TABLE conversations ADD COLUMN moderation text NOT NULL DEFAULT 'off'
  CHECK (moderation IN ('off', 'flag', 'hold', 'reject'));

-- What moderation did to a message: NULL (nothing matched, or not checked),
-- 'flagged' (delivered, queued for review), 'held' (its sender and the
-- reviewers see it until a decision), 'approved' (a held message released),
-- 'rejected' (a held or flagged message refused by a reviewer).
ALTER TABLE chat_messages ADD COLUMN moderation text
  CHECK (moderation IN ('flagged', 'held', 'approved', 'rejected'));

-- The review queue: one item per flagged or held message.
CREATE TABLE moderation_queue (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id      uuid NOT NULL UNIQUE REFERENCES chat_messages (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  sender_id       text,
  action          text NOT NULL CHECK (action IN ('flag', 'hold')),
  -- the list entry that matched (a word or a pattern)
  matched         text,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  decided_by      text,
  decided_at      timestamptz,
  reason          text
);
CREATE INDEX moderation_queue_status_idx ON moderation_queue (status, id);
CREATE INDEX moderation_queue_conversation_idx ON moderation_queue (conversation_id);

-- Moderation decisions and list changes join the audit trail.
ALTER TABLE desk_audit DROP CONSTRAINT desk_audit_action_check;
ALTER TABLE desk_audit ADD CONSTRAINT desk_audit_action_check CHECK (action IN (
  'session_deleted', 'user_erased',
  'moderation_approved', 'moderation_rejected', 'moderation_lists_changed'));

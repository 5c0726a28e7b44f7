-- Issue 21, items 4 and 5.
--
-- A user's custom presence status ("In a meeting"): one per user, on every
-- device, kept across connections (cleared with null). `last_seen_at` (V1)
-- is when their last connection closed.
ALTER TABLE users ADD COLUMN status_text text
  CHECK (status_text IS NULL OR char_length(status_text) BETWEEN 1 AND 100);

-- When each participant's delivered and read cursors of a direct conversation
-- moved, and where to: a message's delivered_at / read_at for a participant is
-- the time of the first move of that cursor to or past its seq (the cursors
-- only move forward, so that is the first row at or above it). Written by a
-- trigger on conversation_members (sql/48_direct_receipts.sql), for direct
-- conversations only; rooms keep their cursors alone.
CREATE TABLE cursor_marks (
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         text NOT NULL,
  cursor          text NOT NULL CHECK (cursor IN ('delivered', 'read')),
  seq             bigint NOT NULL,
  at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, user_id, cursor, seq)
);

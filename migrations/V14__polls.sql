-- Polls (issue 21 item 2): a message of kind `poll` carries its poll — the
-- question, 2 to 10 options, single or multiple choice, anonymous or not, an
-- optional closing time — and the results as they stand, kept by a trigger on
-- poll_votes (so a vote changes the message row: it takes a change_seq and
-- reaches members live and on resume like an edit). sql/47_polls.sql has the
-- rules, policies/poll_votes.sql who may vote.
ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_kind_check;
ALTER TABLE chat_messages ADD CONSTRAINT chat_messages_kind_check
  CHECK (kind IN ('text', 'image', 'file', 'audio', 'video', 'system', 'ai_response', 'poll'));
ALTER TABLE chat_messages ADD COLUMN poll jsonb;

-- One ballot per voter and poll: the option indexes chosen (one, or several
-- in a multiple-choice poll). Changing a vote replaces the ballot.
CREATE TABLE poll_votes (
  message_id      uuid NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
  user_id         text NOT NULL REFERENCES users (id),
  conversation_id uuid NOT NULL,
  options         smallint[] NOT NULL CHECK (cardinality(options) BETWEEN 1 AND 10),
  voted_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, user_id)
);
CREATE INDEX poll_votes_user_idx ON poll_votes (user_id);

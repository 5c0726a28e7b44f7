-- Delete for me, one message at a time (issue 21 item 4): a message its reader
-- hid from themselves. The message stays for everyone else; for its reader the
-- messages policy (policies/chat_messages.sql) and resume (pgchat.changes) skip it.
CREATE TABLE hidden_messages (
  user_id    text NOT NULL REFERENCES users (id),
  message_id uuid NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
  hidden_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, message_id)
);
CREATE INDEX hidden_messages_message_idx ON hidden_messages (message_id);

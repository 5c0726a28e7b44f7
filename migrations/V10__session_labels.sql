-- Labels on support sessions (issue 19): words staff put on a session to
-- filter the queue and report by (`billing`, `vip`); at most 20 a session.
ALTER TABLE live_chat_sessions
  ADD COLUMN labels text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(labels) <= 20
           AND array_position(labels, NULL) IS NULL);
CREATE INDEX live_chat_sessions_labels_idx ON live_chat_sessions USING gin (labels);

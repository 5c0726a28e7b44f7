-- Sentiment scores a model gave customers' messages (PGCHAT_AI_SENTIMENT=model),
-- cached per message. `source` is the body that was scored: after an edit the
-- score no longer matches its message and the offline score stands in until the
-- model is asked again. Staff only, for messages they can read
-- (policies/message_sentiment.sql).
CREATE TABLE message_sentiment (
  message_id uuid PRIMARY KEY REFERENCES chat_messages (id) ON DELETE CASCADE,
  source     text NOT NULL,
  score      real NOT NULL CHECK (score BETWEEN -1 AND 1),
  provider   text NOT NULL,
  model      text,
  created_at timestamptz NOT NULL DEFAULT now()
);

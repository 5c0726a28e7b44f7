-- Translations of messages, cached per message and target language
-- (POST /v1/messages/{id}/translate). `source` is the body that was
-- translated: after an edit the cached text no longer matches its message and
-- is made again. Readable and writable by whoever can read the message
-- (policies/message_translations.sql).
CREATE TABLE message_translations (
  message_id uuid NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
  lang       text NOT NULL CHECK (lang ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
  source     text NOT NULL,
  text       text NOT NULL,
  provider   text NOT NULL,
  model      text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, lang)
);

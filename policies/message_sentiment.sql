ALTER TABLE message_sentiment ENABLE ROW LEVEL SECURITY;

-- A model's sentiment score is for staff (the `sentiment` gate's audience), and
-- only for a message they can read: the subquery runs under the caller's own
-- policies on chat_messages.
DROP POLICY IF EXISTS message_sentiment_select ON message_sentiment;
CREATE POLICY message_sentiment_select ON message_sentiment FOR SELECT TO pgchat_user
  USING (auth.is_staff() AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_id));

DROP POLICY IF EXISTS message_sentiment_insert ON message_sentiment;
CREATE POLICY message_sentiment_insert ON message_sentiment FOR INSERT TO pgchat_user
  WITH CHECK (auth.is_staff() AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_id));

DROP POLICY IF EXISTS message_sentiment_update ON message_sentiment;
CREATE POLICY message_sentiment_update ON message_sentiment FOR UPDATE TO pgchat_user
  USING (auth.is_staff() AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_id))
  WITH CHECK (auth.is_staff() AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_id));

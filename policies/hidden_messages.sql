ALTER TABLE hidden_messages ENABLE ROW LEVEL SECURITY;

-- Your own hidden messages (the messages policy reads them to skip yours).
DROP POLICY IF EXISTS hidden_messages_select ON hidden_messages;
CREATE POLICY hidden_messages_select ON hidden_messages FOR SELECT TO pgchat_user
  USING (user_id = (SELECT auth.uid()));

-- You hide, for yourself, a message you can read.
DROP POLICY IF EXISTS hidden_messages_insert ON hidden_messages;
CREATE POLICY hidden_messages_insert ON hidden_messages FOR INSERT TO pgchat_user
  WITH CHECK (user_id = (SELECT auth.uid())
              AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = hidden_messages.message_id));

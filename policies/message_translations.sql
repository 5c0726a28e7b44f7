ALTER TABLE message_translations ENABLE ROW LEVEL SECURITY;

-- A translation is as visible as its message: the subquery runs under the
-- caller's own policies on chat_messages (internal notes stay with staff).
DROP POLICY IF EXISTS message_translations_select ON message_translations;
CREATE POLICY message_translations_select ON message_translations FOR SELECT TO pgchat_user
  USING (EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_id));

DROP POLICY IF EXISTS message_translations_insert ON message_translations;
CREATE POLICY message_translations_insert ON message_translations FOR INSERT TO pgchat_user
  WITH CHECK (EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_id));

DROP POLICY IF EXISTS message_translations_update ON message_translations;
CREATE POLICY message_translations_update ON message_translations FOR UPDATE TO pgchat_user
  USING (EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_id))
  WITH CHECK (EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_id));

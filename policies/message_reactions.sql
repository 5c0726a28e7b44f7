ALTER TABLE message_reactions ENABLE ROW LEVEL SECURITY;

-- Reactions on the messages you can see.
DROP POLICY IF EXISTS message_reactions_select ON message_reactions;
CREATE POLICY message_reactions_select ON message_reactions FOR SELECT TO pgchat_user
  USING (EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_reactions.message_id));

-- You react in your own name, to a message you can see, where you may react
-- (a current member who is not silenced). The rules trigger fills in the
-- conversation from the message before this check runs.
DROP POLICY IF EXISTS message_reactions_insert ON message_reactions;
CREATE POLICY message_reactions_insert ON message_reactions FOR INSERT TO pgchat_user
  WITH CHECK (user_id = (SELECT auth.uid())
              AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = message_reactions.message_id)
              AND pgchat.can_react(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

-- You take back your own reactions.
DROP POLICY IF EXISTS message_reactions_delete ON message_reactions;
CREATE POLICY message_reactions_delete ON message_reactions FOR DELETE TO pgchat_user
  USING (user_id = (SELECT auth.uid()));

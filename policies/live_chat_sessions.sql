ALTER TABLE live_chat_sessions ENABLE ROW LEVEL SECURITY;

-- Customers see their own sessions; agents the waiting queue and sessions
-- assigned to them; admins all. (Membership is how "assigned" is recorded.)
DROP POLICY IF EXISTS live_chat_sessions_select ON live_chat_sessions;
CREATE POLICY live_chat_sessions_select ON live_chat_sessions FOR SELECT TO pgchat_user
  USING (customer_id = (SELECT auth.uid())
         OR pgchat.can_read(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

DROP POLICY IF EXISTS live_chat_sessions_insert ON live_chat_sessions;
CREATE POLICY live_chat_sessions_insert ON live_chat_sessions FOR INSERT TO pgchat_user
  WITH CHECK (customer_id = (SELECT auth.uid()) AND (SELECT auth.role()) = 'user');

-- The customer (end, rate: narrowed further by the guard trigger), the assigned
-- agent, any agent for a waiting session (claim), admins. An agent who can
-- read a session that is another's is admitted too, so that the trigger
-- says why they may not change it (`not_assigned`, pgchat.tg_session_changer)
-- rather than the update matching nothing. The new state must still belong
-- to staff or to the customer.
DROP POLICY IF EXISTS live_chat_sessions_update ON live_chat_sessions;
CREATE POLICY live_chat_sessions_update ON live_chat_sessions FOR UPDATE TO pgchat_user
  USING (customer_id = (SELECT auth.uid())
         OR (SELECT auth.role()) = 'admin'
         OR ((SELECT auth.role()) = 'agent'
             AND (agent_id = (SELECT auth.uid()) OR status = 'waiting'
                  OR pgchat.can_read(conversation_id, (SELECT auth.uid()), 'agent'))))
  WITH CHECK (customer_id = (SELECT auth.uid()) OR (SELECT auth.is_staff()));

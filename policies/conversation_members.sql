ALTER TABLE conversation_members ENABLE ROW LEVEL SECURITY;

-- Your own memberships, and the members of conversations you can read.
DROP POLICY IF EXISTS conversation_members_select ON conversation_members;
CREATE POLICY conversation_members_select ON conversation_members FOR SELECT TO pgchat_user
  USING (user_id = (SELECT auth.uid())
         OR pgchat.can_read(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

-- You add yourself: as the customer of a support conversation you started, as the
-- agent of a support session assigned to you, or to a conversation you created.
-- Admins may add anyone. (Helpers are SECURITY DEFINER: the conversation is not
-- yet visible to you before your membership exists.)
DROP POLICY IF EXISTS conversation_members_insert ON conversation_members;
CREATE POLICY conversation_members_insert ON conversation_members FOR INSERT TO pgchat_user
  WITH CHECK (
    (SELECT auth.role()) = 'admin'
    OR (user_id = (SELECT auth.uid()) AND role = 'customer'
        AND pgchat.created_kind(conversation_id, (SELECT auth.uid())) = 'support')
    OR (user_id = (SELECT auth.uid()) AND role = 'agent'
        AND pgchat.session_agent(conversation_id) = (SELECT auth.uid()))
    OR (user_id = (SELECT auth.uid())
        AND pgchat.created_kind(conversation_id, (SELECT auth.uid())) <> 'support')
    -- joining an open room, inviting, the other member of a new direct conversation
    OR pgchat.can_add_member(conversation_id, user_id, role));

-- Your own row (read cursor, flags, leaving); admins any; the assigned agent
-- those of their support conversation (a transfer retires the previous agent);
-- room moderators those of the members they moderate.
DROP POLICY IF EXISTS conversation_members_update ON conversation_members;
CREATE POLICY conversation_members_update ON conversation_members FOR UPDATE TO pgchat_user
  USING (user_id = (SELECT auth.uid())
         OR (SELECT auth.role()) = 'admin'
         OR ((SELECT auth.role()) = 'agent'
             AND pgchat.session_agent(conversation_id) = (SELECT auth.uid()))
         -- room moderation (ban, silence, role, remove) and inviting back someone
         -- who left, by a current member: the rank rules are in sql/45_rooms.sql
         -- (tg_member_rules), which refuses with the reason (not_a_moderator,
         -- outranked, ...) rather than leaving the row silently unchanged
         OR pgchat.member_rank(conversation_id, (SELECT auth.uid())) >= 1)
  WITH CHECK (user_id = (SELECT auth.uid())
              OR (SELECT auth.role()) = 'admin'
              OR ((SELECT auth.role()) = 'agent'
                  AND pgchat.session_agent(conversation_id) = (SELECT auth.uid()))
              OR pgchat.member_rank(conversation_id, (SELECT auth.uid())) >= 1);

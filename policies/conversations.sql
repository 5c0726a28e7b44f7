ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS conversations_select ON conversations;
CREATE POLICY conversations_select ON conversations FOR SELECT TO pgchat_user
  USING (pgchat.can_read(id, (SELECT auth.uid()), (SELECT auth.role())));

-- Anyone signed in may start a conversation in their own name (a direct
-- conversation only with themselves as one of its pair).
DROP POLICY IF EXISTS conversations_insert ON conversations;
CREATE POLICY conversations_insert ON conversations FOR INSERT TO pgchat_user
  WITH CHECK (created_by = (SELECT auth.uid())
              AND (kind <> 'direct' OR (direct_key::jsonb) ? (SELECT auth.uid())));

-- Owners and admins of a room edit its title and settings; admins anything.
-- Any conversation you read reaches the rules trigger (sql/45_rooms.sql,
-- tg_room_rules), which refuses with the reason (not_room_admin); the check
-- below holds the row to its owners and admins whatever the trigger says.
DROP POLICY IF EXISTS conversations_update ON conversations;
CREATE POLICY conversations_update ON conversations FOR UPDATE TO pgchat_user
  USING ((SELECT auth.role()) = 'admin'
         OR pgchat.can_read(id, (SELECT auth.uid()), (SELECT auth.role())))
  WITH CHECK ((SELECT auth.role()) = 'admin' OR EXISTS (
    SELECT 1 FROM conversation_members m
     WHERE m.conversation_id = conversations.id AND m.user_id = (SELECT auth.uid())
       AND m.left_at IS NULL AND NOT m.banned AND m.role IN ('owner', 'admin')));

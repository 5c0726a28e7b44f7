ALTER TABLE users ENABLE ROW LEVEL SECURITY;

-- You see yourself, staff see everyone, and you see the people you share a conversation with.
DROP POLICY IF EXISTS users_select ON users;
CREATE POLICY users_select ON users FOR SELECT TO pgchat_user USING (
  id = (SELECT auth.uid())
  OR (SELECT auth.is_staff())
  OR EXISTS (SELECT 1 FROM conversation_members mine
               JOIN conversation_members theirs ON theirs.conversation_id = mine.conversation_id
              WHERE mine.user_id = (SELECT auth.uid()) AND theirs.user_id = users.id));

-- Your own row only, with the role your token carries.
DROP POLICY IF EXISTS users_insert ON users;
CREATE POLICY users_insert ON users FOR INSERT TO pgchat_user
  WITH CHECK (id = (SELECT auth.uid()) AND role = (SELECT auth.role()));

DROP POLICY IF EXISTS users_update ON users;
CREATE POLICY users_update ON users FOR UPDATE TO pgchat_user
  USING (id = (SELECT auth.uid()))
  WITH CHECK (id = (SELECT auth.uid()) AND role = (SELECT auth.role()));

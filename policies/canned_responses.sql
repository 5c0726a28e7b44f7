ALTER TABLE canned_responses ENABLE ROW LEVEL SECURITY;

-- Staff see the shared responses and their own personal ones (admins: all).
DROP POLICY IF EXISTS canned_responses_select ON canned_responses;
CREATE POLICY canned_responses_select ON canned_responses FOR SELECT TO pgchat_user
  USING ((SELECT auth.is_staff())
         AND (owner_id IS NULL OR owner_id = (SELECT auth.uid()) OR (SELECT auth.role()) = 'admin'));

-- Staff write personal responses in their own name; only admins write shared ones.
DROP POLICY IF EXISTS canned_responses_insert ON canned_responses;
CREATE POLICY canned_responses_insert ON canned_responses FOR INSERT TO pgchat_user
  WITH CHECK ((SELECT auth.is_staff()) AND created_by = (SELECT auth.uid())
              AND (owner_id = (SELECT auth.uid()) OR (owner_id IS NULL AND (SELECT auth.role()) = 'admin')));

-- Changing or deleting: an owner their own, admins any. Staff reach the shared
-- rows they read, so the gates trigger (sql/41_role_gates.sql) says why an
-- agent may not (`admins_only`); the update's check still holds every row to
-- its owner or an admin.
DROP POLICY IF EXISTS canned_responses_update ON canned_responses;
CREATE POLICY canned_responses_update ON canned_responses FOR UPDATE TO pgchat_user
  USING ((SELECT auth.is_staff())
         AND (owner_id IS NULL OR owner_id = (SELECT auth.uid()) OR (SELECT auth.role()) = 'admin'))
  WITH CHECK ((SELECT auth.is_staff())
              AND (owner_id = (SELECT auth.uid()) OR (SELECT auth.role()) = 'admin'));

DROP POLICY IF EXISTS canned_responses_delete ON canned_responses;
CREATE POLICY canned_responses_delete ON canned_responses FOR DELETE TO pgchat_user
  USING ((SELECT auth.is_staff())
         AND (owner_id IS NULL OR owner_id = (SELECT auth.uid()) OR (SELECT auth.role()) = 'admin'));

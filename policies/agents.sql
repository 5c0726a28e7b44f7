ALTER TABLE agents ENABLE ROW LEVEL SECURITY;

-- Staff see the whole desk (who is online, with what load).
DROP POLICY IF EXISTS agents_select ON agents;
CREATE POLICY agents_select ON agents FOR SELECT TO pgchat_user
  USING ((SELECT auth.is_staff()));

-- Staff enrol themselves; admins enrol anyone (the guard trigger checks that
-- the user is staff, and that only admins set skills and enablement).
DROP POLICY IF EXISTS agents_insert ON agents;
CREATE POLICY agents_insert ON agents FOR INSERT TO pgchat_user
  WITH CHECK ((SELECT auth.role()) = 'admin'
              OR (user_id = (SELECT auth.uid()) AND (SELECT auth.is_staff())));

DROP POLICY IF EXISTS agents_update ON agents;
CREATE POLICY agents_update ON agents FOR UPDATE TO pgchat_user
  USING ((SELECT auth.role()) = 'admin' OR user_id = (SELECT auth.uid()))
  WITH CHECK ((SELECT auth.role()) = 'admin' OR user_id = (SELECT auth.uid()));

-- Only admins take an agent out of the desk.
DROP POLICY IF EXISTS agents_delete ON agents;
CREATE POLICY agents_delete ON agents FOR DELETE TO pgchat_user
  USING ((SELECT auth.role()) = 'admin');

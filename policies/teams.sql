ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;

-- Staff see the teams and who is in them; only admins make, change and
-- delete teams and their membership.
DROP POLICY IF EXISTS teams_select ON teams;
CREATE POLICY teams_select ON teams FOR SELECT TO pgchat_user
  USING ((SELECT auth.is_staff()));

DROP POLICY IF EXISTS teams_write ON teams;
CREATE POLICY teams_write ON teams FOR ALL TO pgchat_user
  USING ((SELECT auth.role()) = 'admin')
  WITH CHECK ((SELECT auth.role()) = 'admin');

DROP POLICY IF EXISTS team_members_select ON team_members;
CREATE POLICY team_members_select ON team_members FOR SELECT TO pgchat_user
  USING ((SELECT auth.is_staff()));

DROP POLICY IF EXISTS team_members_write ON team_members;
CREATE POLICY team_members_write ON team_members FOR ALL TO pgchat_user
  USING ((SELECT auth.role()) = 'admin')
  WITH CHECK ((SELECT auth.role()) = 'admin');

ALTER TABLE business_hours ENABLE ROW LEVEL SECURITY;

-- Admins read and write the schedules; everyone else learns whether the desk
-- is open through pgchat.availability_json, never the table.
DROP POLICY IF EXISTS business_hours_admin ON business_hours;
CREATE POLICY business_hours_admin ON business_hours FOR ALL TO pgchat_user
  USING ((SELECT auth.role()) = 'admin')
  WITH CHECK ((SELECT auth.role()) = 'admin');

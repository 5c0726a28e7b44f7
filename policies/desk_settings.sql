ALTER TABLE desk_settings ENABLE ROW LEVEL SECURITY;

-- Admins read and change the desk settings (PATCH /v1/admin/settings); every
-- other request reads what it needs through pgchat.desk_settings().
DROP POLICY IF EXISTS desk_settings_admin ON desk_settings;
CREATE POLICY desk_settings_admin ON desk_settings FOR ALL TO pgchat_user
  USING ((SELECT auth.role()) = 'admin')
  WITH CHECK ((SELECT auth.role()) = 'admin');

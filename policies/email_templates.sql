ALTER TABLE email_templates ENABLE ROW LEVEL SECURITY;

-- Admins read and edit the email templates; the email worker reads them as
-- the server.
DROP POLICY IF EXISTS email_templates_admin ON email_templates;
CREATE POLICY email_templates_admin ON email_templates FOR ALL TO pgchat_user
  USING ((SELECT auth.role()) = 'admin')
  WITH CHECK ((SELECT auth.role()) = 'admin');

ALTER TABLE desk_audit ENABLE ROW LEVEL SECURITY;

-- Admins read what was deleted and erased; rows are written only by
-- pgchat.delete_session and pgchat.erase_user (sql/72_deletion.sql).
DROP POLICY IF EXISTS desk_audit_select ON desk_audit;
CREATE POLICY desk_audit_select ON desk_audit FOR SELECT TO pgchat_user
  USING ((SELECT auth.role()) = 'admin');

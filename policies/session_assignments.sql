ALTER TABLE session_assignments ENABLE ROW LEVEL SECURITY;

-- The assignment history: admins all of it, agents what concerns them.
-- (Rows are written by a trigger, never by a request.)
DROP POLICY IF EXISTS session_assignments_select ON session_assignments;
CREATE POLICY session_assignments_select ON session_assignments FOR SELECT TO pgchat_user
  USING ((SELECT auth.role()) = 'admin'
         OR agent_id = (SELECT auth.uid()) OR previous_agent_id = (SELECT auth.uid()));

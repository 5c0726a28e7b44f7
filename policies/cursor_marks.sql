ALTER TABLE cursor_marks ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON cursor_marks TO pgchat_user;

-- Who may read a conversation may see when its participants received and read
-- its messages (the receipts a direct conversation's members see anyway).
DROP POLICY IF EXISTS cursor_marks_select ON cursor_marks;
CREATE POLICY cursor_marks_select ON cursor_marks FOR SELECT TO pgchat_user
  USING (pgchat.can_read(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

ALTER TABLE room_join_requests ENABLE ROW LEVEL SECURITY;

-- Your own requests, and those of the rooms you moderate (moderators and up;
-- platform admins).
DROP POLICY IF EXISTS room_join_requests_select ON room_join_requests;
CREATE POLICY room_join_requests_select ON room_join_requests FOR SELECT TO pgchat_user
  USING (user_id = (SELECT auth.uid())
         OR pgchat.can_moderate(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

-- You ask in your own name (which rooms take requests, and from whom, is
-- pgchat.tg_join_request_rules', sql/45_rooms.sql).
DROP POLICY IF EXISTS room_join_requests_insert ON room_join_requests;
CREATE POLICY room_join_requests_insert ON room_join_requests FOR INSERT TO pgchat_user
  WITH CHECK (user_id = (SELECT auth.uid()));

-- A moderator rejects a request; you withdraw your own. (An approval removes
-- it with the membership it creates: pgchat.tg_member_rules.)
DROP POLICY IF EXISTS room_join_requests_delete ON room_join_requests;
CREATE POLICY room_join_requests_delete ON room_join_requests FOR DELETE TO pgchat_user
  USING (user_id = (SELECT auth.uid())
         OR pgchat.can_moderate(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

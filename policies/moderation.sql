-- Moderation (sql/47_moderation.sql). The lists are the admins'; the review
-- queue shows each reviewer the items of the conversations they review
-- (pgchat.can_review: a room's moderators, agents for the desk, admins).
-- Nothing is written by a request directly: pgchat.moderation_put and
-- pgchat.moderation_decide write, after their own checks.
ALTER TABLE moderation_lists ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS moderation_lists_select ON moderation_lists;
CREATE POLICY moderation_lists_select ON moderation_lists FOR SELECT TO pgchat_user
  USING ((SELECT auth.role()) = 'admin');

ALTER TABLE moderation_queue ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS moderation_queue_select ON moderation_queue;
CREATE POLICY moderation_queue_select ON moderation_queue FOR SELECT TO pgchat_user
  USING (pgchat.can_review(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

ALTER TABLE notification_outbox ENABLE ROW LEVEL SECURITY;

-- Admins read the webhook's outbox (GET /v1/admin/webhooks); only the server
-- queues and delivers.
DROP POLICY IF EXISTS notification_outbox_admin ON notification_outbox;
CREATE POLICY notification_outbox_admin ON notification_outbox FOR SELECT TO pgchat_user
  USING ((SELECT auth.role()) = 'admin');

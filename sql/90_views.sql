-- Views for operators in psql (run as the server's role; they bypass RLS).

-- The waiting queue in the order it drains: priority, then age.
CREATE OR REPLACE VIEW support_queue AS
SELECT s.id, s.subject, s.category, s.priority, s.customer_id, u.name AS customer_name,
       s.started_at, now() - s.started_at AS waiting_for
  FROM live_chat_sessions s
  JOIN users u ON u.id = s.customer_id
 WHERE s.status = 'waiting'
 ORDER BY array_position(ARRAY['urgent', 'high', 'medium', 'low'], s.priority), s.started_at;

-- Each agent's current load.
CREATE OR REPLACE VIEW agent_load AS
SELECT u.id AS agent_id, u.name,
       count(s.id) FILTER (WHERE s.status = 'active') AS active_sessions,
       count(s.id) FILTER (WHERE s.status = 'ended' AND s.ended_at > now() - interval '1 day') AS ended_last_24h,
       max(s.assigned_at) AS last_assigned_at
  FROM users u
  LEFT JOIN live_chat_sessions s ON s.agent_id = u.id
 WHERE u.role = 'agent'
 GROUP BY u.id, u.name;

-- Recent traffic per conversation.
CREATE OR REPLACE VIEW conversation_activity AS
SELECT c.id, c.kind, c.title, c.last_seq, c.last_message_at,
       (SELECT count(*) FROM conversation_members m WHERE m.conversation_id = c.id AND m.left_at IS NULL) AS members
  FROM conversations c
 ORDER BY c.last_message_at DESC NULLS LAST;

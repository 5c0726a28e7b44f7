-- Desk views for operators in psql (run as the server's role; they bypass RLS).
-- For any date range: SELECT jsonb_pretty(pgchat.desk_stats(now() - interval '7 days', now()));

-- Who is on the desk: availability, capacity and current load.
CREATE OR REPLACE VIEW desk_agents AS
SELECT a.user_id AS agent_id, u.name, u.role, a.status, a.enabled, a.capacity,
       pgchat.agent_load(a.user_id) AS active_sessions,
       greatest(a.capacity - pgchat.agent_load(a.user_id), 0) AS free,
       a.skills,
       EXISTS (SELECT 1 FROM presence p WHERE p.user_id = a.user_id AND p.expires_at > now()) AS connected,
       (SELECT max(h.assigned_at) FROM session_assignments h WHERE h.agent_id = a.user_id) AS last_assigned_at
  FROM agents a
  JOIN users u ON u.id = a.user_id
 ORDER BY a.status = 'online' DESC, a.user_id;

-- Sessions that missed the first-response target: open ones, and those of the last 7 days.
CREATE OR REPLACE VIEW desk_sla_breaches AS
SELECT s.id, s.status, s.priority, s.category, s.subject, s.customer_id, s.agent_id, s.started_at,
       pgchat.first_response_due(s) AS due_at, s.first_response_at,
       coalesce(s.first_response_at, s.ended_at, now()) - s.started_at AS waited
  FROM live_chat_sessions s
 WHERE pgchat.sla_breached(s)
   AND (s.status <> 'ended' OR s.started_at > now() - interval '7 days')
 ORDER BY s.started_at;

-- One row per day of the last 30: volume, response and resolution times, CSAT, SLA.
CREATE OR REPLACE VIEW desk_daily_stats AS
SELECT date_trunc('day', s.started_at) AS day,
       count(*) AS sessions,
       count(*) FILTER (WHERE s.status = 'ended') AS ended,
       count(*) FILTER (WHERE s.ended_reason = 'inactivity') AS ended_by_inactivity,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.first_response_at - s.started_at)) AS first_response_median_secs,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM s.first_response_at - s.started_at)) AS first_response_p90_secs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.ended_at - s.started_at)) AS resolution_median_secs,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM s.ended_at - s.started_at)) AS resolution_p90_secs,
       round(avg(s.rating), 2) AS csat_average,
       count(s.rating) AS ratings,
       count(*) FILTER (WHERE pgchat.sla_breached(s)) AS sla_breached
  FROM live_chat_sessions s
 WHERE s.started_at > date_trunc('day', now()) - interval '29 days'
 GROUP BY 1
 ORDER BY 1 DESC;

-- Each agent over the last 30 days.
CREATE OR REPLACE VIEW desk_agent_stats AS
SELECT u.id AS agent_id, u.name,
       count(s.id) AS sessions,
       count(s.id) FILTER (WHERE s.status = 'active') AS active_sessions,
       count(s.id) FILTER (WHERE s.status = 'ended') AS ended,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.first_response_at - s.started_at)) AS first_response_median_secs,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM s.first_response_at - s.started_at)) AS first_response_p90_secs,
       round(avg(s.rating), 2) AS csat_average,
       count(s.rating) AS ratings,
       count(s.id) FILTER (WHERE pgchat.sla_breached(s)) AS sla_breached
  FROM users u
  LEFT JOIN live_chat_sessions s ON s.agent_id = u.id AND s.started_at > now() - interval '30 days'
 WHERE u.role IN ('agent', 'admin')
   AND (EXISTS (SELECT 1 FROM agents a WHERE a.user_id = u.id) OR s.id IS NOT NULL)
 GROUP BY u.id, u.name
 ORDER BY u.id;

-- Notifications the webhook never took (after the last retry).
CREATE OR REPLACE VIEW notification_dead_letters AS
SELECT o.id, o.user_id, o.conversation_id, o.message_id, o.attempts, o.last_status, o.last_error,
       o.created_at, o.next_attempt_at AS last_attempt_at
  FROM notification_outbox o
 WHERE o.status = 'dead'
 ORDER BY o.id;

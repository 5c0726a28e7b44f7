-- Presence as clients see it (the `presence` event, the presence reads):
-- `status` (online, away, busy while connected; offline), the user's custom
-- `status_text`, and `last_seen` — when their last connection closed, null
-- while they are connected (they are seen now) or if they never connected.
CREATE OR REPLACE FUNCTION pgchat.presence_json(u users, status text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'user_id', u.id, 'role', u.role, 'status', status, 'status_text', u.status_text,
    'last_seen', CASE WHEN status = 'offline' THEN pgchat.ts(u.last_seen_at) END)
$$;

-- A user's presence now: the status of a live connection (any node), or offline.
CREATE OR REPLACE FUNCTION pgchat.presence_now(uid text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT pgchat.presence_json(u, coalesce(
           (SELECT p.status FROM presence p WHERE p.user_id = u.id AND p.expires_at > now()
             ORDER BY p.status LIMIT 1), 'offline'))
    FROM users u WHERE u.id = uid
$$;

-- Announces a user's presence to every node (the listener's `presence` note).
CREATE OR REPLACE FUNCTION pgchat.announce_presence(uid text, status text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT pg_notify('pgchat', (jsonb_build_object('t', 'presence') || pgchat.presence_json(u, status))::text)
    FROM users u WHERE u.id = uid
$$;

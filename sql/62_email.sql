-- Email notifications (tables in migrations/V8__email.sql). Triggers queue an
-- email in the transaction of what causes it, so a reply written with psql
-- emails too and a rolled-back one never does; the email worker on each node
-- (src/desk/mod.rs, src/desk/email.rs) sends the queue and is woken by
-- NOTIFY pgchat_desk 'email'. Nothing is queued unless a server has email
-- configured (email_settings.enabled), nor for a user without an address or
-- who opted out (users.email_notifications), nor for someone connected.
--
-- Placeholders of the templates (email_templates), filled when sent:
--   reply:    {customer_name} {customer_id} {agent_name} {subject} {category}
--             {priority} {message} {session_id}
--   assigned: {agent_name} {assigned_by} {customer_name} {customer_id}
--             {subject} {category} {priority} {session_id}

-- Whether `p_user` has a live connection on any node (an unexpired presence row).
CREATE OR REPLACE FUNCTION pgchat.is_connected(p_user text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = p_user AND p.expires_at > now())
$$;

-- Whether `u` may be emailed now: email is on, they have an address, have not
-- opted out, and are not connected (they would see it live).
CREATE OR REPLACE FUNCTION pgchat.emailable(u users) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT coalesce((SELECT e.enabled FROM email_settings e), false)
     AND u.email IS NOT NULL AND u.email_notifications
     AND NOT pgchat.is_connected(u.id)
$$;

-- An agent's (or admin's) public reply in a support session emails its
-- customer. Not internal notes, system notices, the assistant, nor the
-- customer's own messages; not a customer who muted the chat. Per statement
-- (a batch of sends is one), over the rows it inserted.
CREATE OR REPLACE FUNCTION pgchat.tg_messages_email() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  queued integer;
BEGIN
  IF NOT coalesce((SELECT e.enabled FROM email_settings e), false) THEN
    RETURN NULL;
  END IF;
  INSERT INTO email_outbox (kind, user_id, session_id, message_id, placeholders)
  SELECT 'reply', c.id, s.id, n.id, jsonb_build_object(
           'customer_name', coalesce(c.name, c.id), 'customer_id', c.id,
           'agent_name', coalesce(a.name, a.id), 'subject', s.subject,
           'category', s.category, 'priority', s.priority,
           'message', n.body, 'session_id', s.id)
    FROM inserted n
    JOIN live_chat_sessions s ON s.conversation_id = n.conversation_id
    JOIN users c ON c.id = s.customer_id
    JOIN users a ON a.id = n.sender_id
   WHERE n.sender_role IN ('agent', 'admin') AND NOT n.internal AND n.kind <> 'system'
     AND n.deleted_at IS NULL AND n.sender_id <> s.customer_id
     AND pgchat.emailable(c)
     AND NOT EXISTS (SELECT 1 FROM conversation_members m
                      WHERE m.conversation_id = n.conversation_id AND m.user_id = c.id AND m.muted)
   ORDER BY n.change_seq
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS queued = ROW_COUNT;
  IF queued > 0 THEN
    PERFORM pg_notify('pgchat_desk', 'email');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chat_messages_email ON chat_messages;
CREATE TRIGGER chat_messages_email AFTER INSERT ON chat_messages
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_messages_email();

-- A session given to an agent who is not connected emails them: auto-assigned,
-- assigned or transferred — not claimed, which the agent did themselves.
CREATE OR REPLACE FUNCTION pgchat.tg_assignment_email() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NEW.kind = 'claim' OR NOT coalesce((SELECT e.enabled FROM email_settings e), false) THEN
    RETURN NULL;
  END IF;
  INSERT INTO email_outbox (kind, user_id, session_id, assignment_id, placeholders)
  SELECT 'assigned', a.id, s.id, NEW.id, jsonb_build_object(
           'agent_name', coalesce(a.name, a.id),
           'assigned_by', coalesce(b.name, b.id, 'The desk'),
           'customer_name', coalesce(c.name, c.id), 'customer_id', c.id,
           'subject', s.subject, 'category', s.category, 'priority', s.priority,
           'session_id', s.id)
    FROM live_chat_sessions s
    JOIN users a ON a.id = NEW.agent_id
    JOIN users c ON c.id = s.customer_id
    LEFT JOIN users b ON b.id = NEW.assigned_by
   WHERE s.id = NEW.session_id AND pgchat.emailable(a)
  ON CONFLICT DO NOTHING;
  IF FOUND THEN
    PERFORM pg_notify('pgchat_desk', 'email');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS session_assignments_email ON session_assignments;
CREATE TRIGGER session_assignments_email AFTER INSERT ON session_assignments
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_assignment_email();

-- A user who opts out, or removes their address, is sent nothing more: their
-- queued emails go. Rows a worker is sending right now (locked) are skipped,
-- so the user's own update never waits on an SMTP server.
CREATE OR REPLACE FUNCTION pgchat.tg_user_email_opt_out() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF (OLD.email_notifications AND NOT NEW.email_notifications)
     OR (OLD.email IS NOT NULL AND NEW.email IS NULL) THEN
    DELETE FROM email_outbox o
     WHERE o.id IN (SELECT x.id FROM email_outbox x
                     WHERE x.user_id = NEW.id AND x.status = 'pending'
                       FOR UPDATE SKIP LOCKED);
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS users_email_opt_out ON users;
CREATE TRIGGER users_email_opt_out AFTER UPDATE OF email, email_notifications ON users
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_user_email_opt_out();

-- A due email as the worker hands it on: the recipient's address as it is
-- now, the template as it is now, and the placeholder values as they were.
CREATE OR REPLACE FUNCTION pgchat.email_json(o email_outbox) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'id', o.id,
    'kind', o.kind,
    'user_id', o.user_id,
    'to', u.email,
    'to_name', u.name,
    'subject', t.subject,
    'body', t.body,
    'placeholders', o.placeholders,
    'created_at', pgchat.ts(o.created_at))
    FROM users u, email_templates t
   WHERE u.id = o.user_id AND t.kind = o.kind
$$;

-- A user as they see themselves (GET/PATCH /v1/contacts/me).
CREATE OR REPLACE FUNCTION pgchat.contact_json(u users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', u.id,
    'role', u.role,
    'name', u.name,
    'email', u.email,
    'email_notifications', u.email_notifications,
    'attributes', u.attributes,
    'verified', u.verified_at IS NOT NULL)
$$;

-- ---------------------------------------------------------------------------
-- Contact context (migrations/V13)

-- A customer as staff see them (GET /v1/contacts/{user_id}): name, address,
-- the host page's attributes, where they last opened a session from, and
-- their previous sessions, newest first. Runs as the caller: the sessions
-- are those RLS shows them (an agent: the queue and their own; an admin: all).
-- A User-Agent read for people: the browser (with its major version) and the
-- operating system, shown to agents with a contact ("Edge 131", "Windows"). A
-- hint, not a fingerprint; the order of the tests matters (Edge and Opera also
-- say Chrome, Chrome also says Safari). NULL without a User-Agent.
CREATE OR REPLACE FUNCTION pgchat.user_agent_device(ua text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN coalesce(ua, '') = '' THEN NULL ELSE jsonb_build_object(
    'browser', coalesce(
      (SELECT 'Edge ' || m[1] FROM regexp_match(ua, 'Edg(?:e|A|iOS)?/(\d+)') m),
      (SELECT 'Opera ' || m[1] FROM regexp_match(ua, 'OPR/(\d+)') m),
      (SELECT 'Firefox ' || m[1] FROM regexp_match(ua, '(?:Firefox|FxiOS)/(\d+)') m),
      (SELECT 'Chrome ' || m[1] FROM regexp_match(ua, '(?:Chrome|CriOS)/(\d+)') m),
      (SELECT 'Safari ' || m[1] FROM regexp_match(ua, 'Version/(\d+)[.0-9]*( Mobile/\S+)? Safari/') m)),
    'os', CASE
      WHEN ua ~ 'iPhone|iPad|iPod' THEN 'iOS'
      WHEN ua ~ 'Android' THEN 'Android'
      WHEN ua ~ 'Windows' THEN 'Windows'
      WHEN ua ~ 'CrOS' THEN 'ChromeOS'
      WHEN ua ~ 'Mac OS X|Macintosh' THEN 'macOS'
      WHEN ua ~ 'Linux' THEN 'Linux' END) END
$$;

CREATE OR REPLACE FUNCTION pgchat.contact_view(u users) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', u.id,
    'role', u.role,
    'name', u.name,
    'email', u.email,
    'attributes', u.attributes,
    'verified', u.verified_at IS NOT NULL,
    'verified_at', pgchat.ts(u.verified_at),
    'created_at', pgchat.ts(u.created_at),
    'last_seen_at', pgchat.ts(u.last_seen_at),
    'context', (SELECT s.context FROM live_chat_sessions s WHERE s.customer_id = u.id
                 ORDER BY s.started_at DESC, s.id DESC LIMIT 1),
    -- the browser and system of that latest context
    'device', pgchat.user_agent_device((SELECT s.context ->> 'user_agent' FROM live_chat_sessions s
                                         WHERE s.customer_id = u.id
                                         ORDER BY s.started_at DESC, s.id DESC LIMIT 1)),
    'session_count', (SELECT count(*) FROM live_chat_sessions s WHERE s.customer_id = u.id),
    'sessions', coalesce((
      SELECT jsonb_agg(jsonb_build_object(
               'id', s.id, 'subject', s.subject, 'status', s.status, 'category', s.category,
               'priority', s.priority, 'labels', to_jsonb(s.labels), 'agent_id', s.agent_id,
               'started_at', pgchat.ts(s.started_at), 'ended_at', pgchat.ts(s.ended_at),
               'resolved_at', pgchat.ts(s.resolved_at), 'closed_at', pgchat.ts(s.closed_at),
               'rating', s.rating, 'context', s.context)
             ORDER BY s.started_at DESC, s.id DESC)
        FROM (SELECT * FROM live_chat_sessions s WHERE s.customer_id = u.id
               ORDER BY s.started_at DESC, s.id DESC LIMIT 20) s), '[]'::jsonb))
$$;

-- A customer of the host site signed in with a correct user hash
-- (migrations/V26): the server, as its own role, records that the host site
-- vouched for this id (creating the customer if new). An agent's or admin's
-- id is refused: a widget sign-in is a customer's, and would demote them.
CREATE OR REPLACE FUNCTION pgchat.verify_contact(p_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM users u WHERE u.id = p_id AND u.role <> 'user') THEN
    PERFORM pgchat.refuse('customers_only',
      'this id is an agent''s or an admin''s: only customers sign in with a user hash');
  END IF;
  INSERT INTO users (id, role, verified_at) VALUES (p_id, 'user', now())
  ON CONFLICT (id) DO UPDATE SET verified_at = now();
END $$;

-- A contact keeps at most 50 attributes (a change merges into them).
CREATE OR REPLACE FUNCTION pgchat.tg_user_attributes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT count(*) FROM jsonb_object_keys(NEW.attributes)) > 50 THEN
    PERFORM pgchat.refuse('too_many_attributes', 'a contact has at most 50 attributes');
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS users_attributes ON users;
CREATE TRIGGER users_attributes BEFORE UPDATE OF attributes ON users
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_user_attributes();

-- Emails never sent (after the last retry, or refused for good), for psql.
CREATE OR REPLACE VIEW email_dead_letters AS
SELECT o.id, o.kind, o.user_id, u.email, o.session_id, o.attempts, o.last_status, o.last_error,
       o.created_at, o.next_attempt_at AS last_attempt_at
  FROM email_outbox o
  JOIN users u ON u.id = o.user_id
 WHERE o.status = 'dead'
 ORDER BY o.id;

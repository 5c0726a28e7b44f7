-- The support desk in SQL: assignment, transfer, the inactivity sweep, the
-- offline-notification outbox, agent availability and the dashboard figures.
--
-- The rules live here, not in Rust, so that they hold however a row is written:
-- a session ended in psql frees its agent's capacity and the queue drains; an
-- agent set online in psql gets work; a message inserted in psql notifies
-- offline members. The server's desk worker (src/desk.rs) LISTENs on channel
-- 'pgchat_desk' and runs pgchat.assign_waiting() when these triggers ask.

-- ---------------------------------------------------------------------------
-- Assignment
-- ---------------------------------------------------------------------------

-- Gives a session (waiting or active) to `agent`: the session row, the agent's
-- membership (the previous agent's ends), and a system notice in the chat.
-- Every assignment path but the agent's own claim comes through here.
-- SECURITY DEFINER because a transfer writes another user's membership; it
-- checks the caller itself (NULL caller: the server's own jobs, psql).
-- Returns the session in wire shape (a transferring agent can no longer read it).
CREATE OR REPLACE FUNCTION pgchat.desk_assign(p_session uuid, p_agent text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  s live_chat_sessions;
  caller text := auth.uid();
  agent_name text;
  notice text;
BEGIN
  -- staff only, before anything is looked up (one answer for every id)
  PERFORM pgchat.gate('assign_session');
  SELECT * INTO s FROM live_chat_sessions WHERE id = p_session FOR UPDATE;
  IF NOT FOUND THEN
    RAISE no_data_found USING MESSAGE = 'session ' || p_session || ' does not exist';
  END IF;
  IF pgchat.session_over(s.status) THEN
    PERFORM pgchat.refuse('session_ended', 'a ' || s.status || ' session cannot be assigned');
  END IF;
  IF s.agent_id IS NOT DISTINCT FROM p_agent THEN
    RETURN pgchat.session_json(s);
  END IF;
  -- an agent hands on a waiting session or their own
  IF pgchat.session_change_refusal(s) IS NOT NULL THEN
    PERFORM pgchat.refuse(pgchat.session_change_refusal(s));
  END IF;
  SELECT coalesce(u.name, u.id) INTO agent_name FROM users u
   WHERE u.id = p_agent AND u.role IN ('agent', 'admin');
  IF agent_name IS NULL THEN
    RAISE foreign_key_violation USING MESSAGE = p_agent || ' is not an agent';
  END IF;

  -- Lock order: the session (above), then memberships, then the conversation
  -- (each seq-taking write takes its row) — the order of every other writer.
  IF s.agent_id IS NULL THEN
    notice := agent_name || ' joined the chat';
  ELSE
    UPDATE conversation_members SET left_at = now()
     WHERE conversation_id = s.conversation_id AND user_id = s.agent_id AND left_at IS NULL;
    notice := coalesce((SELECT coalesce(u.name, u.id) FROM users u WHERE u.id = caller), 'The desk')
              || ' transferred the chat to ' || agent_name;
  END IF;
  INSERT INTO conversation_members (conversation_id, user_id, role)
  VALUES (s.conversation_id, p_agent, 'agent')
  ON CONFLICT (conversation_id, user_id) DO UPDATE SET left_at = NULL, banned = false;
  UPDATE live_chat_sessions
     SET agent_id = p_agent, status = CASE WHEN s.status = 'waiting' THEN 'active' ELSE s.status END,
         assigned_at = coalesce(assigned_at, now())
   WHERE id = p_session;
  INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, metadata)
  VALUES (s.conversation_id, caller, 'system', 'system', notice,
          jsonb_build_object('event', CASE WHEN s.agent_id IS NULL THEN 'assigned' ELSE 'transferred' END,
                             'agent_id', p_agent, 'previous_agent_id', s.agent_id));
  RETURN (SELECT pgchat.session_json(x) FROM live_chat_sessions x WHERE x.id = p_session);
END $$;

-- Handing a session to an agent by hand (`POST …/assign`, `POST …/transfer`,
-- bulk assignment), and why not — the one copy of these rules, for the API
-- and psql. Runs as the caller: a session they cannot see is NULL (the API's
-- 404). The refusals, in the order a client hears them: `session_ended`,
-- `session_not_active` (a transfer of a waiting session), `not_assigned`,
-- `same_agent` (a transfer to its own agent; an assignment to them changes
-- nothing), `unknown_agent`, `agent_disabled`, `agent_at_capacity`. One
-- capacity-checking assignment at a time (the desk's lock, taken before any
-- row lock: no deadlock); `desk_assign` then does it.
CREATE OR REPLACE FUNCTION pgchat.desk_reassign(p_session uuid, p_agent text, p_transfer boolean)
RETURNS jsonb LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  s live_chat_sessions;
  target record;
BEGIN
  PERFORM pgchat.gate('assign_session');
  PERFORM pg_advisory_xact_lock(pgchat.desk_lock_key());
  SELECT * INTO s FROM live_chat_sessions WHERE id = p_session;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF pgchat.session_over(s.status) THEN
    PERFORM pgchat.refuse('session_ended', 'this session has ended');
  END IF;
  IF p_transfer AND s.status = 'waiting' THEN
    PERFORM pgchat.refuse('session_not_active',
      'a waiting session has no agent to transfer from; assign it instead');
  END IF;
  IF pgchat.session_change_refusal(s) IS NOT NULL THEN
    PERFORM pgchat.refuse(pgchat.session_change_refusal(s));
  END IF;
  IF s.agent_id IS NOT DISTINCT FROM p_agent THEN
    IF p_transfer THEN
      PERFORM pgchat.refuse('same_agent', 'the session is already with this agent');
    END IF;
    RETURN pgchat.session_json(s);
  END IF;
  SELECT a.enabled, a.capacity, pgchat.agent_load(a.user_id) AS load INTO target
    FROM agents a JOIN users u ON u.id = a.user_id AND u.role IN ('agent', 'admin')
   WHERE a.user_id = p_agent;
  IF NOT FOUND THEN
    PERFORM pgchat.refuse('unknown_agent', p_agent || ' is not an agent of the desk');
  END IF;
  IF NOT target.enabled THEN
    PERFORM pgchat.refuse('agent_disabled', p_agent || ' is taken out of the desk');
  END IF;
  IF target.load >= target.capacity THEN
    PERFORM pgchat.refuse('agent_at_capacity',
      format('%s already has %s active sessions (capacity %s)', p_agent, target.load, target.capacity));
  END IF;
  RETURN pgchat.desk_assign(p_session, p_agent);
END $$;

-- Auto-assignment: drains the waiting queue by priority, then age, onto agents
-- who are online, enabled, skilled for the category and below capacity — for
-- a session with a team, only that team's members (its own queue).
--   least-loaded: the agent with the fewest active sessions (ties: the one
--                 whose last assignment is oldest);
--   round-robin:  the agent whose last assignment is oldest, whatever the load;
--   manual:       nothing happens automatically.
-- Serialized by the desk advisory lock (every node runs this), so counts are
-- exact; sessions another transaction holds (a claim in flight) are skipped.
-- Returns how many sessions it assigned.
CREATE OR REPLACE FUNCTION pgchat.assign_waiting(p_limit integer DEFAULT 500) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_mode text := (pgchat.desk_settings()).assignment_mode;
  s record;
  pick text;
  assigned integer := 0;
BEGIN
  IF v_mode = 'manual' THEN
    RETURN 0;
  END IF;
  PERFORM pg_advisory_xact_lock(pgchat.desk_lock_key());
  FOR s IN SELECT w.id, w.category, w.team_id FROM live_chat_sessions w
            WHERE w.status = 'waiting'
            ORDER BY pgchat.priority_rank(w.priority), w.started_at, w.id
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED LOOP
    SELECT a.user_id INTO pick
      FROM agents a
      JOIN users u ON u.id = a.user_id AND u.role IN ('agent', 'admin')
      CROSS JOIN LATERAL (SELECT pgchat.agent_load(a.user_id) AS load) l
      LEFT JOIN LATERAL (SELECT max(h.id) AS turn FROM session_assignments h
                          WHERE h.agent_id = a.user_id) t ON true
     WHERE a.enabled AND a.status = 'online' AND l.load < a.capacity
       AND (cardinality(a.skills) = 0 OR s.category = ANY (a.skills))
       AND (s.team_id IS NULL OR EXISTS (SELECT 1 FROM team_members tm
                                          WHERE tm.team_id = s.team_id AND tm.agent_id = a.user_id))
     ORDER BY CASE WHEN v_mode = 'least-loaded' THEN l.load ELSE 0 END,
              t.turn NULLS FIRST, a.user_id
     LIMIT 1;
    IF pick IS NULL THEN
      -- Nobody has room at all: the rest of the queue waits too.
      EXIT WHEN NOT EXISTS (
        SELECT 1 FROM agents a JOIN users u ON u.id = a.user_id AND u.role IN ('agent', 'admin')
         WHERE a.enabled AND a.status = 'online' AND pgchat.agent_load(a.user_id) < a.capacity);
      CONTINUE; -- nobody with room takes this category or team: try the next session
    END IF;
    PERFORM pgchat.desk_assign(s.id, pick);
    assigned := assigned + 1;
  END LOOP;
  RETURN assigned;
END $$;

-- Ends sessions without activity (a public message, the start, the assignment)
-- for longer than the configured timeout, each with a system notice (not an
-- offline session still waiting: sql/64_business_hours.sql). Several
-- nodes run it: SKIP LOCKED gives each session to one of them.
CREATE OR REPLACE FUNCTION pgchat.end_inactive(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  timeout integer := (pgchat.desk_settings()).inactivity_timeout_secs;
  span text;
  r record;
  ended integer := 0;
BEGIN
  IF timeout <= 0 THEN
    RETURN 0;
  END IF;
  span := CASE WHEN timeout % 3600 = 0 THEN (timeout / 3600) || CASE WHEN timeout = 3600 THEN ' hour' ELSE ' hours' END
               WHEN timeout % 60 = 0 THEN (timeout / 60) || CASE WHEN timeout = 60 THEN ' minute' ELSE ' minutes' END
               ELSE timeout || CASE WHEN timeout = 1 THEN ' second' ELSE ' seconds' END END;
  FOR r IN SELECT s.id, s.conversation_id FROM live_chat_sessions s
             JOIN conversations c ON c.id = s.conversation_id
            WHERE s.status IN ('waiting', 'active')
              -- a session opened while the desk was closed waits as a ticket
              AND NOT (s.offline AND s.status = 'waiting')
              AND greatest(s.started_at, s.assigned_at, c.last_message_at) < now() - make_interval(secs => timeout)
            ORDER BY s.started_at
            LIMIT p_limit
            FOR UPDATE OF s SKIP LOCKED LOOP
    INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, metadata)
    VALUES (r.conversation_id, NULL, 'system', 'system',
            'This chat was closed after ' || span || ' without activity',
            jsonb_build_object('event', 'inactivity_timeout'));
    UPDATE live_chat_sessions
       SET status = 'ended', ended_at = now(), ended_by = NULL, ended_reason = 'inactivity'
     WHERE id = r.id;
    ended := ended + 1;
  END LOOP;
  RETURN ended;
END $$;

-- A staff user's WebSocket presence (connect, set_presence, last disconnect)
-- becomes their desk status, if they are enrolled in the desk. The flag tells
-- the agents trigger not to announce the presence a second time.
CREATE OR REPLACE FUNCTION pgchat.agent_presence(p_user text, p_status text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM set_config('pgchat.presence_sync', 'on', true);
  UPDATE agents SET status = p_status WHERE user_id = p_user AND status <> p_status;
  PERFORM set_config('pgchat.presence_sync', '', true);
END $$;

-- ---------------------------------------------------------------------------
-- Triggers
-- ---------------------------------------------------------------------------

-- Records why a session ended, whoever ended it.
CREATE OR REPLACE FUNCTION pgchat.tg_session_end_reason() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NEW.status = 'ended' AND OLD.status <> 'ended' AND NEW.ended_reason IS NULL THEN
    NEW.ended_reason := CASE
      WHEN NEW.ended_by IS NULL THEN 'system'
      WHEN NEW.ended_by = NEW.customer_id THEN 'customer'
      ELSE coalesce((SELECT CASE u.role WHEN 'admin' THEN 'admin' WHEN 'agent' THEN 'agent' END
                       FROM users u WHERE u.id = NEW.ended_by), 'system') END;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_end_reason ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_end_reason BEFORE UPDATE ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_end_reason();

-- Logs every new agent of a session, and wakes the assigners when the queue
-- grew (a new session, a waiting session re-categorized or routed to another
-- team) or capacity freed (a
-- session ended, an agent was relieved by a transfer).
CREATE OR REPLACE FUNCTION pgchat.tg_session_desk() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  wake boolean := false;
BEGIN
  IF TG_OP = 'INSERT' THEN
    wake := NEW.status = 'waiting';
  ELSE
    IF NEW.agent_id IS NOT NULL AND NEW.agent_id IS DISTINCT FROM OLD.agent_id THEN
      INSERT INTO session_assignments (session_id, agent_id, previous_agent_id, kind, assigned_by)
      VALUES (NEW.id, NEW.agent_id, OLD.agent_id,
              CASE WHEN OLD.agent_id IS NOT NULL THEN 'transfer'
                   WHEN auth.uid() IS NULL THEN 'auto'
                   WHEN auth.uid() = NEW.agent_id THEN 'claim'
                   ELSE 'assign' END,
              (SELECT u.id FROM users u WHERE u.id = auth.uid()));
    END IF;
    -- (load counts active sessions: one leaving that status frees capacity;
    -- a reopened session may wait again)
    wake := (OLD.status = 'active' AND NEW.status <> 'active')
         OR (NEW.status = 'waiting' AND OLD.status <> 'waiting')
         OR (OLD.agent_id IS NOT NULL AND OLD.agent_id IS DISTINCT FROM NEW.agent_id)
         OR (NEW.status = 'waiting' AND (NEW.priority, NEW.category, NEW.team_id)
                                        IS DISTINCT FROM (OLD.priority, OLD.category, OLD.team_id));
  END IF;
  IF wake THEN
    PERFORM pg_notify('pgchat_desk', 'assign');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_desk ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_desk AFTER INSERT OR UPDATE ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_desk();

-- Agents are staff; staff join the desk themselves, admins enrol anyone; only
-- admins change skills or take an agent out of the desk. Each refusal says
-- why (the role gates of sql/41_role_gates.sql, then the user's own role).
CREATE OR REPLACE FUNCTION pgchat.tg_agent_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM pgchat.gate('desk');
  IF auth.uid() IS NOT NULL AND NEW.user_id IS DISTINCT FROM auth.uid() THEN
    PERFORM pgchat.gate('manage_agents');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = NEW.user_id) THEN
    PERFORM pgchat.refuse('user_not_found');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = NEW.user_id AND u.role IN ('agent', 'admin')) THEN
    PERFORM pgchat.refuse('not_staff', NEW.user_id || ' is a customer, not an agent');
  END IF;
  IF (TG_OP = 'INSERT' AND (cardinality(NEW.skills) > 0 OR NOT NEW.enabled))
     OR (TG_OP = 'UPDATE' AND (NEW.skills, NEW.enabled) IS DISTINCT FROM (OLD.skills, OLD.enabled)) THEN
    PERFORM pgchat.gate('agent_settings');
  END IF;
  IF TG_OP = 'UPDATE' THEN
    NEW.updated_at := now();
    IF NEW.status <> OLD.status THEN
      NEW.status_changed_at := now();
    END IF;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS agents_guard ON agents;
CREATE TRIGGER agents_guard BEFORE INSERT OR UPDATE ON agents
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_agent_guard();

-- A status change (unless it came from presence itself) becomes the status
-- of the agent's live connections — their presence rows, the server's own
-- table, in the same transaction, so presence and the desk agree (offline
-- leaves the sockets as they are) — and reaches `support:queue` and
-- `presence:{id}` as a presence event (pgchat.announce_presence: the one
-- shape); an agent who became available (online, more capacity, re-enabled,
-- new skills) wakes the assigners.
CREATE OR REPLACE FUNCTION pgchat.tg_agent_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF (TG_OP = 'INSERT' AND NEW.status <> 'offline') OR (TG_OP = 'UPDATE' AND NEW.status <> OLD.status) THEN
    IF coalesce(current_setting('pgchat.presence_sync', true), '') <> 'on' THEN
      IF NEW.status <> 'offline' THEN
        UPDATE presence SET status = NEW.status WHERE user_id = NEW.user_id AND status <> NEW.status;
      END IF;
      PERFORM pgchat.announce_presence(NEW.user_id, NEW.status);
    END IF;
  END IF;
  IF NEW.enabled AND NEW.status = 'online' THEN
    IF TG_OP = 'INSERT' THEN
      PERFORM pg_notify('pgchat_desk', 'assign');
    ELSIF OLD.status <> 'online' OR NEW.capacity > OLD.capacity OR NOT OLD.enabled
          OR NEW.skills IS DISTINCT FROM OLD.skills THEN
      PERFORM pg_notify('pgchat_desk', 'assign');
    END IF;
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS agents_notify ON agents;
CREATE TRIGGER agents_notify AFTER INSERT OR UPDATE ON agents
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_agent_notify();

-- Offline notifications: a new message for a member who has no live
-- connection (no unexpired presence row) and has not muted the conversation
-- goes to the outbox, once per member. Internal notes only for staff members;
-- system notices and the sender's own messages never. A trigger, so that a
-- message inserted with psql notifies too. Off unless a webhook is configured.
-- Per statement (a batch of sends is one), over the rows it inserted.
CREATE OR REPLACE FUNCTION pgchat.tg_messages_outbox() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  queued integer;
BEGIN
  IF NOT coalesce((pgchat.desk_settings()).notifications_enabled, false) THEN
    RETURN NULL;
  END IF;
  INSERT INTO notification_outbox (user_id, conversation_id, message_id, payload)
  SELECT m.user_id, n.conversation_id, n.id, jsonb_build_object(
           'type', 'message',
           'user_id', m.user_id,
           'conversation_id', n.conversation_id,
           'conversation_kind', c.kind,
           'conversation_title', c.title,
           'message', pgchat.message_json(n))
    FROM inserted n
    JOIN conversation_members m ON m.conversation_id = n.conversation_id
    JOIN users u ON u.id = m.user_id
    JOIN conversations c ON c.id = m.conversation_id
   WHERE n.kind <> 'system'
     AND m.left_at IS NULL AND NOT m.banned AND NOT m.muted
     AND m.user_id IS DISTINCT FROM n.sender_id
     AND (NOT n.internal OR u.role IN ('agent', 'admin'))
     AND NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = m.user_id AND p.expires_at > now())
   ORDER BY n.change_seq
  ON CONFLICT (message_id, user_id) DO NOTHING;
  GET DIAGNOSTICS queued = ROW_COUNT;
  IF queued > 0 THEN
    PERFORM pg_notify('pgchat_desk', 'outbox');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chat_messages_outbox ON chat_messages;
DROP FUNCTION IF EXISTS pgchat.tg_message_outbox();
CREATE TRIGGER chat_messages_outbox AFTER INSERT ON chat_messages
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_messages_outbox();

-- ---------------------------------------------------------------------------
-- Dashboard figures
-- ---------------------------------------------------------------------------

-- count, average, median and p90 of some durations in seconds (NULLs ignored).
CREATE OR REPLACE FUNCTION pgchat.duration_stats(secs double precision[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'count', count(v),
    'average', round(avg(v)::numeric, 3),
    'median', round((percentile_cont(0.5) WITHIN GROUP (ORDER BY v))::numeric, 3),
    'p90', round((percentile_cont(0.9) WITHIN GROUP (ORDER BY v))::numeric, 3))
    FROM unnest(secs) AS v
$$;

-- The dashboard for sessions started in [p_from, p_to), optionally one
-- agent's. Runs as the caller (RLS applies; the API allows admins only).
-- Counts and durations only: no message content, so no internal note.
CREATE OR REPLACE FUNCTION pgchat.desk_stats(p_from timestamptz, p_to timestamptz, p_agent text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
  WITH s AS (
    SELECT x.id, x.subject, x.status, x.category, x.priority, x.agent_id, x.customer_id,
           x.started_at, x.first_response_at, x.ended_at, x.rating, x.ended_reason, x.labels,
           extract(epoch FROM x.assigned_at - x.started_at)::float8 AS wait,
           extract(epoch FROM x.first_response_at - x.started_at)::float8 AS frt,
           extract(epoch FROM coalesce(x.ended_at, x.closed_at, x.resolved_at) - x.started_at)::float8 AS resolution,
           pgchat.sla_breached(x) AS breached,
           x.escalation_level, pgchat.escalation_breached(x) AS escalation_breached
      FROM live_chat_sessions x
     WHERE x.started_at >= p_from AND x.started_at < p_to
       AND (p_agent IS NULL OR x.agent_id = p_agent)
  ),
  staff AS (
    SELECT a.user_id AS agent_id FROM agents a WHERE p_agent IS NULL OR a.user_id = p_agent
    UNION
    SELECT DISTINCT s.agent_id FROM s WHERE s.agent_id IS NOT NULL
  )
  SELECT jsonb_build_object(
    'from', pgchat.ts(p_from),
    'to', pgchat.ts(p_to),
    'agent_id', p_agent,
    'sessions', (SELECT jsonb_build_object(
                   'total', count(*),
                   'waiting', count(*) FILTER (WHERE status = 'waiting'),
                   'active', count(*) FILTER (WHERE status = 'active'),
                   'pending', count(*) FILTER (WHERE status = 'pending'),
                   'snoozed', count(*) FILTER (WHERE status = 'snoozed'),
                   'resolved', count(*) FILTER (WHERE status = 'resolved'),
                   'closed', count(*) FILTER (WHERE status = 'closed'),
                   'ended', count(*) FILTER (WHERE status = 'ended'),
                   'ended_by_inactivity', count(*) FILTER (WHERE ended_reason = 'inactivity'))
                   FROM s),
    'by_category', (SELECT coalesce(jsonb_object_agg(category, n), '{}'::jsonb)
                      FROM (SELECT category, count(*) AS n FROM s GROUP BY category) q),
    'by_priority', (SELECT coalesce(jsonb_object_agg(priority, n), '{}'::jsonb)
                      FROM (SELECT priority, count(*) AS n FROM s GROUP BY priority) q),
    -- a session with two labels counts under each
    'by_label', (SELECT coalesce(jsonb_object_agg(label, n), '{}'::jsonb)
                   FROM (SELECT l.label, count(*) AS n FROM s, unnest(s.labels) AS l(label) GROUP BY l.label) q),
    'queue', (SELECT jsonb_build_object(
                'length', count(*),
                'oldest_started_at', pgchat.ts(min(w.started_at)),
                'oldest_wait_secs', round(extract(epoch FROM now() - min(w.started_at))::numeric, 3))
                FROM live_chat_sessions w
               WHERE w.status = 'waiting'),
    'wait_secs', pgchat.duration_stats(ARRAY(SELECT wait FROM s)),
    'first_response_secs', pgchat.duration_stats(ARRAY(SELECT frt FROM s)),
    'resolution_secs', pgchat.duration_stats(ARRAY(SELECT resolution FROM s WHERE pgchat.session_over(status))),
    'csat', (SELECT jsonb_build_object(
               'average', round(avg(rating)::numeric, 2),
               'count', count(rating),
               'distribution', jsonb_build_object(
                 '1', count(*) FILTER (WHERE rating = 1), '2', count(*) FILTER (WHERE rating = 2),
                 '3', count(*) FILTER (WHERE rating = 3), '4', count(*) FILTER (WHERE rating = 4),
                 '5', count(*) FILTER (WHERE rating = 5)))
               FROM s),
    'sla', (SELECT jsonb_build_object(
              'first_response_target_secs', (pgchat.desk_settings()).sla_first_response_secs,
              'breached', count(*) FILTER (WHERE breached),
              'met', count(*) FILTER (WHERE NOT breached AND first_response_at IS NOT NULL),
              'breached_sessions', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                         'id', b.id, 'subject', b.subject, 'status', b.status, 'agent_id', b.agent_id,
                         'priority', b.priority, 'started_at', pgchat.ts(b.started_at),
                         'first_response_at', pgchat.ts(b.first_response_at),
                         'first_response_secs', b.frt) ORDER BY b.started_at)
                  FROM (SELECT * FROM s WHERE breached ORDER BY started_at LIMIT 100) b), '[]'::jsonb))
              FROM s),
    -- sessions escalated at least once, and those whose latest escalation missed its deadline
    'escalations', (SELECT jsonb_build_object(
                      'escalated', count(*) FILTER (WHERE escalation_level > 0),
                      'breached', count(*) FILTER (WHERE escalation_breached))
                      FROM s),
    'agents', coalesce((
      SELECT jsonb_agg(jsonb_build_object(
               'agent_id', st.agent_id,
               'name', u.name,
               'status', coalesce(a.status, 'offline'),
               'capacity', a.capacity,
               'enabled', a.enabled,
               'active_sessions', pgchat.agent_load(st.agent_id),
               'sessions', (SELECT count(*) FROM s WHERE s.agent_id = st.agent_id),
               'ended', (SELECT count(*) FROM s WHERE s.agent_id = st.agent_id AND s.status = 'ended'),
               'first_response_secs', pgchat.duration_stats(ARRAY(SELECT frt FROM s WHERE s.agent_id = st.agent_id)),
               'resolution_secs', pgchat.duration_stats(ARRAY(SELECT resolution FROM s
                                                               WHERE s.agent_id = st.agent_id AND s.status = 'ended')),
               'csat_average', (SELECT round(avg(rating)::numeric, 2) FROM s WHERE s.agent_id = st.agent_id),
               'ratings', (SELECT count(rating) FROM s WHERE s.agent_id = st.agent_id),
               'sla_breached', (SELECT count(*) FROM s WHERE s.agent_id = st.agent_id AND s.breached))
             ORDER BY st.agent_id)
        FROM staff st
        JOIN users u ON u.id = st.agent_id
        LEFT JOIN agents a ON a.user_id = st.agent_id), '[]'::jsonb))
$$;

-- Snoozed sessions whose time has come are active again, back with their
-- agent, with a notice in the chat (a job: the server's role). Returns how many.
CREATE OR REPLACE FUNCTION pgchat.wake_snoozed(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r record;
  woken integer := 0;
BEGIN
  FOR r IN SELECT s.id, s.conversation_id FROM live_chat_sessions s
            WHERE s.status = 'snoozed' AND s.snoozed_until <= now()
            ORDER BY s.snoozed_until
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED LOOP
    UPDATE live_chat_sessions SET status = 'active' WHERE id = r.id;
    INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, metadata)
    VALUES (r.conversation_id, NULL, 'system', 'system', 'The snooze is over',
            jsonb_build_object('event', 'snooze_over'));
    woken := woken + 1;
  END LOOP;
  RETURN woken;
END $$;

-- Business hours and offline mode (migrations/V12). Whether the desk (or a
-- team) is open now is a fact SQL computes from the schedule, the agents
-- online and recent first answers, so the API, the session insert and psql
-- agree: GET /v1/support/availability is pgchat.availability_json; a session
-- opened while closed is marked `offline` and waits as a ticket.

-- The schedule that applies to a team: its own, else the desk's; NULL (no
-- row at all): always open.
CREATE OR REPLACE FUNCTION pgchat.hours_of(team uuid) RETURNS business_hours
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT h FROM business_hours h
   WHERE h.team_id = team OR h.team_id IS NULL
   ORDER BY h.team_id IS NULL
   LIMIT 1
$$;

-- Whether `p_at` falls within schedule `h` (local time in its zone, not on a
-- holiday, inside one of that weekday's intervals; "24:00" closes at midnight).
CREATE OR REPLACE FUNCTION pgchat.within_hours(h business_hours, p_at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT h.id IS NULL OR coalesce((
    SELECT NOT (x.l::date = ANY (h.holidays))
           AND EXISTS (SELECT 1 FROM jsonb_array_elements(h.weekly -> lower(to_char(x.l, 'Dy'))) i
                        WHERE x.l::time >= (i ->> 'open')::time
                          AND (i ->> 'close' = '24:00' OR x.l::time < (i ->> 'close')::time))
      FROM (SELECT p_at AT TIME ZONE h.time_zone AS l) x), false)
$$;

-- When schedule `h` next opens after `p_at` (within two weeks; NULL: open now,
-- always open, or not within two weeks).
CREATE OR REPLACE FUNCTION pgchat.next_open_at(h business_hours, p_at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT min((d.day + (i ->> 'open')::time) AT TIME ZONE h.time_zone)
    FROM (SELECT g::date AS day
            FROM generate_series((p_at AT TIME ZONE h.time_zone)::date,
                                 (p_at AT TIME ZONE h.time_zone)::date + 14, interval '1 day') g) d
   CROSS JOIN LATERAL jsonb_array_elements(h.weekly -> lower(to_char(d.day, 'Dy'))) i
   WHERE h.id IS NOT NULL AND NOT pgchat.within_hours(h, p_at)
     AND NOT (d.day = ANY (h.holidays))
     AND (d.day + (i ->> 'open')::time) AT TIME ZONE h.time_zone > p_at
$$;

-- Agents who may take a session now (a team's: its members).
CREATE OR REPLACE FUNCTION pgchat.agents_online(team uuid) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT count(*)::integer FROM agents a
    JOIN users u ON u.id = a.user_id AND u.role IN ('agent', 'admin')
   WHERE a.enabled AND a.status = 'online'
     AND (team IS NULL OR EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = team AND m.agent_id = a.user_id))
$$;

-- The median first answer, in seconds, of the last 200 sessions answered in
-- the past 7 days (a team's: those in its queue), the time the session was
-- pending or snoozed left out; NULL without any.
CREATE OR REPLACE FUNCTION pgchat.expected_first_reply_secs(team uuid) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY r.secs))::integer
    FROM (SELECT greatest(extract(epoch FROM s.first_response_at - s.started_at) - s.paused_secs, 0) AS secs
            FROM live_chat_sessions s
           WHERE s.first_response_at IS NOT NULL AND s.started_at > now() - interval '7 days'
             AND (team IS NULL OR s.team_id = team)
           ORDER BY s.started_at DESC
           LIMIT 200) r
$$;

-- Open: within hours and someone online to answer.
CREATE OR REPLACE FUNCTION pgchat.desk_open(team uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT pgchat.within_hours(pgchat.hours_of(team), now()) AND pgchat.agents_online(team) > 0
$$;

-- What a signed-in customer's widget shows: open now or not, how many agents
-- are online (a count, never who), when the desk opens next, the expected
-- first reply from recent figures, and whether to ask for the caller's email
-- (closed, and they have given none).
CREATE OR REPLACE FUNCTION pgchat.availability_json(team uuid) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'team_id', team,
    'open', x.within AND x.online > 0,
    'within_hours', x.within,
    'agents_online', x.online,
    'time_zone', (x.h).time_zone,
    'next_open_at', pgchat.ts(pgchat.next_open_at(x.h, now())),
    'expected_first_reply_secs', pgchat.expected_first_reply_secs(team),
    'ask_email', NOT (x.within AND x.online > 0)
                 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = auth.uid() AND u.email IS NOT NULL))
    FROM (SELECT h, pgchat.within_hours(h, now()) AS within, pgchat.agents_online(team) AS online
            FROM (SELECT pgchat.hours_of(team) AS h) s) x
$$;

-- A schedule in wire shape.
CREATE OR REPLACE FUNCTION pgchat.hours_json(h business_hours) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'time_zone', h.time_zone,
    'weekly', h.weekly,
    'holidays', coalesce((SELECT jsonb_agg(d ORDER BY d) FROM unnest(h.holidays) d), '[]'::jsonb),
    'updated_at', pgchat.ts(h.updated_at))
$$;

-- Every schedule: the desk's and each team's. Runs as the caller (RLS: admins).
CREATE OR REPLACE FUNCTION pgchat.business_hours_json() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'desk', (SELECT pgchat.hours_json(h) FROM business_hours h WHERE h.team_id IS NULL),
    'teams', coalesce((SELECT jsonb_agg(jsonb_build_object('team_id', h.team_id) || pgchat.hours_json(h)
                                        ORDER BY h.team_id)
                         FROM business_hours h WHERE h.team_id IS NOT NULL), '[]'::jsonb))
$$;

-- A schedule's time zone must be one PostgreSQL knows, and its team exist.
CREATE OR REPLACE FUNCTION pgchat.tg_business_hours_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  BEGIN
    PERFORM now() AT TIME ZONE NEW.time_zone;
  EXCEPTION WHEN invalid_parameter_value THEN
    PERFORM pgchat.refuse('invalid_time_zone', 'time zone "' || NEW.time_zone || '" is not recognized');
  END;
  IF NEW.team_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM teams t WHERE t.id = NEW.team_id) THEN
    PERFORM pgchat.refuse('unknown_team', 'there is no such team');
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS business_hours_rules ON business_hours;
CREATE TRIGGER business_hours_rules BEFORE INSERT OR UPDATE ON business_hours
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_business_hours_rules();

-- A session opened while its desk is closed (outside hours, or nobody
-- online) is an offline one: a ticket, which the inactivity sweep leaves
-- waiting (pgchat.end_inactive) until an agent takes it.
CREATE OR REPLACE FUNCTION pgchat.tg_session_offline() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.offline := NOT pgchat.desk_open(NEW.team_id);
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_offline ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_offline BEFORE INSERT ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_offline();

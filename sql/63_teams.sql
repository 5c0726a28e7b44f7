-- Teams and escalation (migrations/V11). A session with a team waits in that
-- team's queue: pgchat.assign_waiting (sql/60_desk.sql) gives it only to the
-- team's available agents. Escalation moves a session to another team or up a
-- tier, raises its priority and starts its own deadline (the escalation SLA,
-- pgchat.escalation_breached in sql/03_desk_settings.sql). Who may route a
-- session is decided here, for the API and psql alike, each refusal with its
-- reason.

-- Whether `agent` is a member of `team`.
CREATE OR REPLACE FUNCTION pgchat.in_team(team uuid, agent text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = team AND m.agent_id = agent)
$$;

-- A team in wire shape: its settings, its members and the length of its queue.
CREATE OR REPLACE FUNCTION pgchat.team_json(t teams) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'id', t.id,
    'name', t.name,
    'description', t.description,
    'escalate_to', t.escalate_to,
    'escalation_sla_secs', t.escalation_sla_secs,
    'members', coalesce((SELECT jsonb_agg(m.agent_id ORDER BY m.agent_id)
                           FROM team_members m WHERE m.team_id = t.id), '[]'::jsonb),
    'waiting', (SELECT count(*) FROM live_chat_sessions s WHERE s.team_id = t.id AND s.status = 'waiting'),
    'created_at', pgchat.ts(t.created_at),
    'updated_at', pgchat.ts(t.updated_at))
$$;

-- Why the caller may not route (set the team of, escalate) session `s`, or
-- NULL when they may: admins any session; an agent their own, or one that
-- waits for nobody in particular — without a team or in one of their teams;
-- customers never. (NULL caller: the server's jobs and psql.)
CREATE OR REPLACE FUNCTION pgchat.routing_refusal(s live_chat_sessions) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT CASE
    WHEN auth.uid() IS NULL OR auth.role() = 'admin' THEN NULL
    WHEN auth.role() <> 'agent' THEN 'staff_only'
    WHEN s.agent_id = auth.uid() THEN NULL
    WHEN s.agent_id IS NOT NULL THEN 'not_assigned'
    WHEN s.team_id IS NULL OR pgchat.in_team(s.team_id, auth.uid()) THEN NULL
    ELSE 'not_your_team' END
$$;

-- A session's team changes only to a team that exists, by someone who may
-- route the session (see routing_refusal).
CREATE OR REPLACE FUNCTION pgchat.tg_session_team() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  refusal text;
BEGIN
  IF NEW.team_id IS NOT DISTINCT FROM OLD.team_id THEN
    RETURN NEW;
  END IF;
  IF NEW.team_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM teams t WHERE t.id = NEW.team_id) THEN
    PERFORM pgchat.refuse('unknown_team', 'there is no such team');
  END IF;
  -- (a deleted team leaves its sessions without one, whoever deleted it)
  IF NEW.team_id IS NOT NULL THEN
    refusal := pgchat.routing_refusal(OLD);
    IF refusal IS NOT NULL THEN
      PERFORM pgchat.refuse(refusal, CASE refusal
        WHEN 'staff_only' THEN 'only agents and admins route a session to a team'
        WHEN 'not_your_team' THEN 'this session waits in another team''s queue' END);
    END IF;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_team ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_team BEFORE UPDATE OF team_id ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_team();

-- An agent who joined a team may take its waiting sessions: wake the assigners.
CREATE OR REPLACE FUNCTION pgchat.tg_team_members_wake() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM pg_notify('pgchat_desk', 'assign');
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS team_members_wake ON team_members;
CREATE TRIGGER team_members_wake AFTER INSERT ON team_members
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_team_members_wake();

-- Escalates a session: to `p_team`, or else to the next tier (its team's
-- `escalate_to`), or else up a tier within its team; escalation_level + 1;
-- the priority raised to `p_priority` (never lowered) or one step; the reason
-- recorded; the escalation SLA started (the target team's
-- escalation_sla_secs, else the desk's; 0: none). An agent who is not in the
-- team it goes to is released and the session waits in that team's queue
-- (the assigners are woken by the status change). A staff-only system note
-- in the chat says what happened and why; the session's update is its event.
-- SECURITY DEFINER because releasing the agent writes their membership; it
-- checks the caller itself. Refusals: staff_only, not_assigned,
-- not_your_team, session_ended, unknown_team, priority_lowered,
-- escalation_limit. Returns the session in wire shape.
CREATE OR REPLACE FUNCTION pgchat.escalate(p_session uuid, p_team uuid, p_priority text, p_reason text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  s live_chat_sessions;
  refusal text;
  target uuid;
  target_name text;
  raised text;
  keeps_agent boolean;
  sla integer;
  who text;
BEGIN
  SELECT * INTO s FROM live_chat_sessions WHERE id = p_session FOR UPDATE;
  IF NOT FOUND THEN
    RAISE no_data_found USING MESSAGE = 'session ' || p_session || ' does not exist';
  END IF;
  refusal := pgchat.routing_refusal(s);
  IF refusal IS NOT NULL THEN
    PERFORM pgchat.refuse(refusal, CASE refusal
      WHEN 'staff_only' THEN 'only agents and admins escalate a session'
      WHEN 'not_your_team' THEN 'this session waits in another team''s queue' END);
  END IF;
  IF s.status IN ('resolved', 'closed', 'ended') THEN
    PERFORM pgchat.refuse('session_ended', 'a ' || s.status || ' session is not escalated');
  END IF;
  IF s.escalation_level >= 10 THEN
    PERFORM pgchat.refuse('escalation_limit', 'this session has been escalated 10 times already');
  END IF;
  IF p_team IS NOT NULL AND NOT EXISTS (SELECT 1 FROM teams t WHERE t.id = p_team) THEN
    PERFORM pgchat.refuse('unknown_team', 'there is no such team');
  END IF;
  IF p_priority IS NOT NULL AND pgchat.priority_rank(p_priority) > pgchat.priority_rank(s.priority) THEN
    PERFORM pgchat.refuse('priority_lowered',
      'an escalation raises the priority; this session''s is ' || s.priority);
  END IF;

  target := coalesce(p_team, (SELECT t.escalate_to FROM teams t WHERE t.id = s.team_id), s.team_id);
  raised := coalesce(p_priority,
                     (ARRAY['urgent', 'high', 'medium', 'low'])[greatest(pgchat.priority_rank(s.priority) - 1, 1)]);
  keeps_agent := s.agent_id IS NULL OR target IS NOT DISTINCT FROM s.team_id
                 OR pgchat.in_team(target, s.agent_id);
  sla := coalesce((SELECT t.escalation_sla_secs FROM teams t WHERE t.id = target),
                  (pgchat.desk_settings()).escalation_sla_secs);
  SELECT t.name INTO target_name FROM teams t WHERE t.id = target;
  who := coalesce((SELECT coalesce(u.name, u.id) FROM users u WHERE u.id = auth.uid()), 'The desk');

  -- Lock order: the session (above), then memberships, then the conversation.
  IF NOT keeps_agent THEN
    UPDATE conversation_members SET left_at = now()
     WHERE conversation_id = s.conversation_id AND user_id = s.agent_id AND left_at IS NULL;
  END IF;
  UPDATE live_chat_sessions
     SET team_id = target, priority = raised,
         escalation_level = s.escalation_level + 1, escalated_at = now(),
         escalation_reason = p_reason,
         escalation_due_at = CASE WHEN sla > 0 THEN now() + make_interval(secs => sla) END,
         agent_id = CASE WHEN keeps_agent THEN s.agent_id END,
         status = CASE WHEN keeps_agent THEN s.status ELSE 'waiting' END
   WHERE id = p_session;
  INSERT INTO chat_messages (conversation_id, sender_id, sender_role, kind, body, internal, metadata)
  VALUES (s.conversation_id, auth.uid(), 'system', 'system',
          who || ' escalated the conversation to '
              || CASE WHEN target IS DISTINCT FROM s.team_id THEN target_name || ' (tier ' || s.escalation_level + 1 || ')'
                      ELSE 'tier ' || s.escalation_level + 1 END
              || ', priority ' || raised || ': ' || p_reason,
          true,
          jsonb_build_object('event', 'escalated', 'team_id', target, 'previous_team_id', s.team_id,
                             'escalation_level', s.escalation_level + 1, 'priority', raised,
                             'previous_agent_id', CASE WHEN NOT keeps_agent THEN s.agent_id END,
                             'reason', p_reason));
  RETURN (SELECT pgchat.session_json(x) FROM live_chat_sessions x WHERE x.id = p_session);
END $$;

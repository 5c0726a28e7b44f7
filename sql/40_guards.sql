-- Invariants of a support session that hold whoever writes the row (the API,
-- psql, a job): the status moves only along the lifecycle below, with its
-- timestamps kept here; a rating is given once, by the customer, once the
-- session is over; a customer may end, rate and reopen (by writing, within
-- the reopen window) their session, nothing else. Each refusal says why.
--
--   waiting  → active, resolved, closed, ended
--   active   → pending, snoozed, resolved, closed, ended, waiting
--   pending  → active, snoozed, resolved, closed, ended, waiting
--   snoozed  → active, pending, resolved, closed, ended, waiting
--   resolved → active or waiting (reopened), closed
--   closed, ended: final
-- (back to waiting: the agent is released, as when an escalation hands the
-- session to a team its agent is not in; the CHECK constraints hold a waiting
-- session to having no agent)
CREATE OR REPLACE FUNCTION pgchat.session_over(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT status IN ('resolved', 'closed', 'ended')
$$;

CREATE OR REPLACE FUNCTION pgchat.session_may_become(from_status text, to_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT from_status = to_status OR CASE from_status
    WHEN 'waiting' THEN to_status IN ('active', 'resolved', 'closed', 'ended')
    WHEN 'active' THEN to_status IN ('pending', 'snoozed', 'resolved', 'closed', 'ended', 'waiting')
    WHEN 'pending' THEN to_status IN ('active', 'snoozed', 'resolved', 'closed', 'ended', 'waiting')
    WHEN 'snoozed' THEN to_status IN ('active', 'pending', 'resolved', 'closed', 'ended', 'waiting')
    WHEN 'resolved' THEN to_status IN ('active', 'waiting', 'closed')
    ELSE false END
$$;

CREATE OR REPLACE FUNCTION pgchat.tg_session_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  window_secs integer;
BEGIN
  IF NEW.status <> OLD.status THEN
    IF OLD.status IN ('closed', 'ended') THEN
      PERFORM pgchat.refuse('session_ended', 'a ' || OLD.status || ' session cannot change its status');
    END IF;
    IF NOT pgchat.session_may_become(OLD.status, NEW.status) THEN
      PERFORM pgchat.refuse('invalid_transition', 'a ' || OLD.status || ' session cannot become ' || NEW.status);
    END IF;
    IF auth.uid() IS NOT NULL AND auth.role() = 'user' THEN
      IF OLD.status = 'resolved' THEN
        window_secs := (pgchat.desk_settings()).reopen_window_secs;
        IF window_secs <= 0 OR OLD.resolved_at < now() - make_interval(secs => window_secs) THEN
          PERFORM pgchat.refuse('session_ended', 'this conversation was resolved; start a new one');
        END IF;
      ELSIF NOT (NEW.status = 'ended' OR (OLD.status IN ('pending', 'snoozed') AND NEW.status = 'active')) THEN
        PERFORM pgchat.refuse('staff_only', 'only agents and admins change a session''s status');
      END IF;
    END IF;
    -- the clock of the first answer stands still while pending or snoozed
    IF NEW.status IN ('pending', 'snoozed') AND OLD.paused_at IS NULL THEN
      NEW.paused_at := now();
    ELSIF NEW.status NOT IN ('pending', 'snoozed') AND OLD.paused_at IS NOT NULL THEN
      NEW.paused_secs := OLD.paused_secs + extract(epoch FROM now() - OLD.paused_at);
      NEW.paused_at := NULL;
    END IF;
    IF NEW.status <> 'snoozed' THEN
      NEW.snoozed_until := NULL;
    END IF;
    IF NEW.status = 'resolved' THEN
      NEW.resolved_at := now();
    ELSIF NEW.status = 'closed' THEN
      NEW.closed_at := now();
    END IF;
  END IF;
  IF cardinality(NEW.labels) > 20 THEN
    PERFORM pgchat.refuse('too_many_labels', 'a session has at most 20 labels');
  END IF;
  -- a request ending an ended session again (its end is recorded once; the
  -- server and psql may correct the record)
  IF OLD.status = 'ended' AND auth.uid() IS NOT NULL
     AND (NEW.ended_at, NEW.ended_by) IS DISTINCT FROM (OLD.ended_at, OLD.ended_by) THEN
    PERFORM pgchat.refuse('session_ended', 'this session has already ended');
  END IF;
  IF NEW.status = 'snoozed' AND NEW.snoozed_until IS DISTINCT FROM OLD.snoozed_until
     AND NEW.snoozed_until <= now() THEN
    PERFORM pgchat.refuse('invalid_snooze', 'snooze until a time in the future');
  END IF;
  -- a rating: by the customer, once the session is over, once (each says why)
  IF (NEW.rating, NEW.feedback, NEW.rated_at) IS DISTINCT FROM (OLD.rating, OLD.feedback, OLD.rated_at) THEN
    IF auth.uid() IS NOT NULL AND auth.uid() <> NEW.customer_id THEN
      PERFORM pgchat.refuse('customer_only', 'only the customer rates a session');
    END IF;
    IF NOT pgchat.session_over(NEW.status) THEN
      PERFORM pgchat.refuse('session_not_ended', 'a session is rated after it ends');
    END IF;
    IF OLD.rating IS NOT NULL THEN
      PERFORM pgchat.refuse('already_rated', 'this session has already been rated');
    END IF;
  END IF;
  -- a customer may end, rate and reopen their session, nothing else
  IF auth.uid() IS NOT NULL AND auth.role() = 'user'
     AND (NEW.agent_id, NEW.subject, NEW.category, NEW.priority, NEW.assigned_at, NEW.first_response_at,
          NEW.customer_id, NEW.description, NEW.labels, NEW.team_id)
         IS DISTINCT FROM
         (OLD.agent_id, OLD.subject, OLD.category, OLD.priority, OLD.assigned_at, OLD.first_response_at,
          OLD.customer_id, OLD.description, OLD.labels, OLD.team_id) THEN
    PERFORM pgchat.refuse('staff_only', 'customers may only end, rate or reopen their session');
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_guard ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_guard BEFORE UPDATE ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_guard();

-- Who may change a support session once it is someone's: admins any
-- session, an agent a waiting one or their own (`not_assigned` otherwise);
-- NULL when the caller may. Customers are the guard's (above) and the
-- update policy's: they never reach another customer's row. (NULL caller:
-- the server's jobs and psql.)
CREATE OR REPLACE FUNCTION pgchat.session_change_refusal(s live_chat_sessions) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN auth.role() = 'agent' AND s.status <> 'waiting' AND s.agent_id IS DISTINCT FROM auth.uid()
    THEN 'not_assigned' END
$$;

-- Whoever writes the row: an agent who can read a session that is another
-- agent's (the update policy admits them so that this says why) changes
-- nothing of it; a session's details (priority, category, description,
-- labels) are staff's (the gate `change_session`). Named to run before the
-- guard, so a customer hears `staff_only` for details.
CREATE OR REPLACE FUNCTION pgchat.tg_session_changer() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  refusal text := pgchat.session_change_refusal(OLD);
BEGIN
  IF refusal IS NOT NULL THEN
    PERFORM pgchat.refuse(refusal);
  END IF;
  IF (NEW.priority, NEW.category, NEW.description, NEW.labels)
     IS DISTINCT FROM (OLD.priority, OLD.category, OLD.description, OLD.labels) THEN
    PERFORM pgchat.gate('change_session');
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_changer ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_changer BEFORE UPDATE ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_changer();

-- The same rule asked first, by a service about to change a session's
-- details, labels or agent with an update that skips a change that changes
-- nothing (which no trigger would see): a repeat is refused alike. The gate
-- before anything is looked up (one answer for every id); false when the
-- caller cannot see the session (the service answers 404). As the caller.
CREATE OR REPLACE FUNCTION pgchat.may_change_session(p_session uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  s live_chat_sessions;
  refusal text;
BEGIN
  PERFORM pgchat.gate('change_session');
  SELECT * INTO s FROM live_chat_sessions WHERE id = p_session;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  refusal := pgchat.session_change_refusal(s);
  IF refusal IS NOT NULL THEN
    PERFORM pgchat.refuse(refusal);
  END IF;
  RETURN true;
END $$;

-- A member may not promote, unban or re-admit themselves.
CREATE OR REPLACE FUNCTION pgchat.tg_member_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF auth.uid() IS NOT NULL AND auth.role() <> 'admin' AND NEW.user_id = auth.uid()
     AND (NEW.role <> OLD.role OR (OLD.banned AND NOT NEW.banned)) THEN
    PERFORM pgchat.refuse('not_yourself');
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS conversation_members_guard ON conversation_members;
CREATE TRIGGER conversation_members_guard BEFORE UPDATE ON conversation_members
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_member_guard();

-- A customer may have at most p_cap waiting or active support sessions (the
-- server's PGCHAT_MAX_OPEN_SESSIONS; 0: no cap), so one customer cannot flood
-- the queue ahead of everyone else. The open path calls this before inserting
-- the session; the advisory lock on the customer serializes their concurrent
-- opens until commit, so the count is exact across nodes.
CREATE OR REPLACE FUNCTION pgchat.check_open_sessions(p_cap integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF p_cap <= 0 THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('pgchat.open_sessions:' || auth.uid(), 0));
  IF (SELECT count(*) FROM live_chat_sessions s
       WHERE s.customer_id = auth.uid() AND NOT pgchat.session_over(s.status)) >= p_cap THEN
    RAISE EXCEPTION USING ERRCODE = 'PC001', DETAIL = 'too_many_open_sessions',
      MESSAGE = 'you already have ' || p_cap || ' open support sessions; end one first';
  END IF;
END $$;

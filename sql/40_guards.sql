-- Invariants of a support session that hold whoever writes the row (the API,
-- psql, a future job): the lifecycle only moves forward and a rating is given
-- once, by the customer, after the end.

CREATE OR REPLACE FUNCTION pgchat.tg_session_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF OLD.status = 'ended' AND NEW.status <> 'ended' THEN
    PERFORM pgchat.refuse('session_ended', 'an ended session cannot be reopened');
  END IF;
  IF OLD.status = 'active' AND NEW.status = 'waiting' THEN
    RAISE check_violation USING MESSAGE = 'an active session cannot go back to waiting';
  END IF;
  -- a rating: by the customer, after the end, once (each says why)
  IF (NEW.rating, NEW.feedback, NEW.rated_at) IS DISTINCT FROM (OLD.rating, OLD.feedback, OLD.rated_at) THEN
    IF auth.uid() IS NOT NULL AND auth.uid() <> NEW.customer_id THEN
      PERFORM pgchat.refuse('customer_only', 'only the customer rates a session');
    END IF;
    IF NEW.status <> 'ended' THEN
      PERFORM pgchat.refuse('session_not_ended', 'a session is rated after it ends');
    END IF;
    IF OLD.rating IS NOT NULL THEN
      PERFORM pgchat.refuse('already_rated', 'this session has already been rated');
    END IF;
  END IF;
  -- a customer may end the session and rate it, nothing else
  IF auth.uid() IS NOT NULL AND auth.role() = 'user'
     AND (NEW.agent_id, NEW.subject, NEW.category, NEW.priority, NEW.assigned_at, NEW.first_response_at, NEW.customer_id)
         IS DISTINCT FROM
         (OLD.agent_id, OLD.subject, OLD.category, OLD.priority, OLD.assigned_at, OLD.first_response_at, OLD.customer_id) THEN
    RAISE insufficient_privilege USING MESSAGE = 'customers may only end or rate their session';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_guard ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_guard BEFORE UPDATE ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_guard();

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
       WHERE s.customer_id = auth.uid() AND s.status <> 'ended') >= p_cap THEN
    RAISE EXCEPTION USING ERRCODE = 'PC001', DETAIL = 'too_many_open_sessions',
      MESSAGE = 'you already have ' || p_cap || ' open support sessions; end one first';
  END IF;
END $$;

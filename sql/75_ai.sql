-- The AI assistant's side of the database: which conversations it works in,
-- the triggers that queue its work, and the per-user quota. The worker that
-- answers is src/service/ai/worker.rs (every node runs one).

-- The assistant's settings (one row, written by each server at start-up).
CREATE OR REPLACE FUNCTION pgchat.ai_settings() RETURNS ai_settings
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT a FROM ai_settings a WHERE a.id
$$;

-- Whether the assistant works in a conversation, i.e. whether its messages
-- may be sent to an AI provider: rooms by their `enable_ai` setting (default
-- off); support conversations by their own `enable_ai` if set, otherwise by
-- the server's PGCHAT_AI_SUPPORT; direct conversations only with `enable_ai`.
CREATE OR REPLACE FUNCTION pgchat.ai_enabled(conv uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce((
    SELECT CASE
      WHEN pgchat.is_room(c.kind) THEN (pgchat.room_settings(c.kind, c.settings) ->> 'enable_ai')::boolean
      WHEN jsonb_typeof(c.settings -> 'enable_ai') = 'boolean' THEN (c.settings ->> 'enable_ai')::boolean
      WHEN c.kind = 'support' THEN (pgchat.ai_settings()).support_enabled
      ELSE false END
    FROM conversations c WHERE c.id = conv), false)
$$;

-- Does a message call the assistant? `@ai` or `@assistant` first (any case).
CREATE OR REPLACE FUNCTION pgchat.is_ai_mention(body text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT body ~* '^\s*@(ai|assistant)\M'
$$;

-- A message that calls the assistant queues a job, whoever inserted it (REST,
-- WebSocket, group commit, psql). The WHEN clause keeps the hot path free:
-- only messages that start with @ reach the function.
CREATE OR REPLACE FUNCTION pgchat.tg_message_ai() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF pgchat.is_ai_mention(NEW.body) AND pgchat.ai_enabled(NEW.conversation_id) THEN
    INSERT INTO ai_jobs (kind, conversation_id, message_id, user_id, user_role)
    VALUES ('mention', NEW.conversation_id, NEW.id, NEW.sender_id, NEW.sender_role);
    PERFORM pg_notify('pgchat_ai', 'job');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chat_messages_ai ON chat_messages;
CREATE TRIGGER chat_messages_ai AFTER INSERT ON chat_messages
  FOR EACH ROW
  WHEN (NEW.sender_id IS NOT NULL AND NEW.sender_role IN ('user', 'agent', 'admin')
        AND NEW.kind IN ('text', 'image', 'file', 'audio', 'video') AND NEW.body LIKE '%@%')
  EXECUTE FUNCTION pgchat.tg_message_ai();

-- A new support session may get a first answer from the assistant while no
-- agent is online (PGCHAT_AI_FIRST_RESPONSE). The worker checks, when it runs
-- the job, that the session still waits and that no agent is online.
CREATE OR REPLACE FUNCTION pgchat.tg_session_ai() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF (pgchat.ai_settings()).first_response AND pgchat.ai_enabled(NEW.conversation_id) THEN
    INSERT INTO ai_jobs (kind, conversation_id, user_id, user_role)
    VALUES ('first_response', NEW.conversation_id, NEW.customer_id, 'user');
    PERFORM pg_notify('pgchat_ai', 'job');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_ai ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_ai AFTER INSERT ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_ai();

-- Takes one answer from the caller's quota: `per_window` answers every
-- `window_secs` seconds (a fixed window, shared by every node). Returns 0
-- when granted, otherwise the seconds until the window ends. The caller is
-- auth.uid(), so nobody spends another's quota.
CREATE OR REPLACE FUNCTION pgchat.ai_take_quota(per_window integer, window_secs integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  uid text := auth.uid();
  span interval := make_interval(secs => window_secs);
  n integer;
  since timestamptz;
BEGIN
  IF uid IS NULL THEN
    RAISE insufficient_privilege USING MESSAGE = 'no caller';
  END IF;
  INSERT INTO ai_quota AS q (user_id, window_start, used) VALUES (uid, now(), 1)
  ON CONFLICT (user_id) DO UPDATE
     SET window_start = CASE WHEN q.window_start <= now() - span THEN now() ELSE q.window_start END,
         used = CASE WHEN q.window_start <= now() - span THEN 1 ELSE q.used + 1 END
  RETURNING used, window_start INTO n, since;
  IF n <= per_window THEN
    RETURN 0;
  END IF;
  RETURN greatest(1, ceil(extract(epoch FROM since + span - now())))::integer;
END $$;

-- A message's translation as the API returns it (POST /v1/messages/{id}/translate).
CREATE OR REPLACE FUNCTION pgchat.translation_json(t message_translations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'message_id', t.message_id,
    'lang', t.lang,
    'text', t.text,
    'provider', t.provider,
    'model', t.model,
    'created_at', t.created_at)
$$;

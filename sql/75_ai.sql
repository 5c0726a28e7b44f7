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

-- A phrase as a regular expression that matches it literally.
CREATE OR REPLACE FUNCTION pgchat.regex_quote(phrase text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT regexp_replace(phrase, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g')
$$;

-- What every call of the assistant starts with (case-insensitive): one
-- pattern the send path's trigger tests per row, so a message that cannot be
-- a call costs one regular-expression test and nothing else.
CREATE OR REPLACE FUNCTION pgchat.ai_call_prefix() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT '^\s*(' || string_agg(pgchat.regex_quote(t), '|') || ')'
    FROM ai_settings s, unnest(s.triggers || s.translate_triggers) AS t
   WHERE s.id
$$;

-- Does a message call the assistant, and for what? The one place the trigger
-- phrases are read (ai_settings: PGCHAT_AI_TRIGGERS, PGCHAT_AI_TRANSLATE_TRIGGERS),
-- by the trigger below and by the worker (src/service/ai/worker.rs):
--   `@ai what is …`            → mention, rest = the question (may be empty);
--   `Translate to de: …`       → translate, lang = de, rest = the text;
--   `Translate` (in a reply)   → translate, rest empty: the replied-to message.
-- A phrase counts at the start of the message only, as a whole word (`@aiden`
-- is not `@ai`); `lang` is a BCP 47 tag.
CREATE OR REPLACE FUNCTION pgchat.ai_call(body text, OUT kind text, OUT lang text, OUT rest text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  s ai_settings := pgchat.ai_settings();
  phrase text;
  found text[];
BEGIN
  FOREACH phrase IN ARRAY s.triggers LOOP
    found := regexp_match(body, '^\s*' || pgchat.regex_quote(phrase) || '(?![[:alnum:]_])[\s:,]*(.*)$', 'i');
    IF found IS NOT NULL THEN
      kind := 'mention';
      rest := btrim(found[1], E' \t\r\n');
      RETURN;
    END IF;
  END LOOP;
  FOREACH phrase IN ARRAY s.translate_triggers LOOP
    found := regexp_match(body, '^\s*' || pgchat.regex_quote(phrase)
                                || '(?:\s+(?:to|into)\s+([a-z]{2,3}(?:-[a-z0-9]{2,8}){0,3}))?\s*(?::(.*))?$', 'i');
    IF found IS NOT NULL THEN
      kind := 'translate';
      lang := found[1];
      rest := btrim(coalesce(found[2], ''), E' \t\r\n');
      RETURN;
    END IF;
  END LOOP;
END $$;

DROP FUNCTION IF EXISTS pgchat.is_ai_mention(text);

-- A message that calls the assistant queues a job, whoever inserted it (REST,
-- WebSocket, group commit, psql): once per statement, over the statement's
-- new rows. Only the rows that start like a call (`ai_call_prefix`, one test
-- each) reach `ai_call`.
CREATE OR REPLACE FUNCTION pgchat.tg_messages_ai() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  queued integer;
  translations integer;
BEGIN
  INSERT INTO ai_jobs (kind, conversation_id, message_id, user_id, user_role)
  SELECT c.kind, n.conversation_id, n.id, n.sender_id, n.sender_role
    FROM (SELECT i.* FROM inserted i
           WHERE i.sender_id IS NOT NULL AND i.sender_role IN ('user', 'agent', 'admin')
             AND i.kind IN ('text', 'image', 'file', 'audio', 'video')
             AND i.body ~* (SELECT pgchat.ai_call_prefix())
          OFFSET 0) n
   CROSS JOIN LATERAL pgchat.ai_call(n.body) c
   WHERE c.kind IS NOT NULL AND pgchat.ai_enabled(n.conversation_id)
   ORDER BY n.change_seq;
  GET DIAGNOSTICS queued = ROW_COUNT;
  -- Auto-translation (sql/77_translation.sql): in the statement's rooms
  -- whose settings say `auto_translate`, one job per message a person sent
  -- and per language its room's members read (at most max_room_langs, read
  -- once per room), but the sender's own. Other conversations cost one probe
  -- per statement of the tiny index of auto-translated rooms
  -- (conversations_auto_translate_idx; OFFSET 0 keeps it a probe whatever
  -- size of statement the cached plan was made for).
  INSERT INTO ai_jobs (kind, conversation_id, message_id, user_id, user_role, lang)
  SELECT 'auto_translate', n.conversation_id, n.id, n.sender_id, n.sender_role, l.lang
    FROM (SELECT DISTINCT i.conversation_id FROM inserted i) ic
   CROSS JOIN LATERAL (
          SELECT r.id, ARRAY(SELECT pgchat.room_langs(r.id)) AS langs
            FROM conversations r
           WHERE r.id = ic.conversation_id
             AND r.settings @> '{"auto_translate": true}' AND pgchat.is_room(r.kind)
             AND pgchat.ai_enabled(r.id)
          OFFSET 0) room
    JOIN inserted n ON n.conversation_id = room.id
   CROSS JOIN LATERAL unnest(room.langs) AS l(lang)
   WHERE n.sender_id IS NOT NULL AND n.sender_role IN ('user', 'agent', 'admin')
     AND n.kind IN ('text', 'image', 'file', 'audio', 'video') AND NOT n.internal
     AND n.deleted_at IS NULL AND n.moderation IS DISTINCT FROM 'held'
     AND n.moderation IS DISTINCT FROM 'rejected' AND btrim(n.body) <> ''
     AND l.lang IS DISTINCT FROM (SELECT s.lang FROM conversation_members s
                                   WHERE s.conversation_id = n.conversation_id AND s.user_id = n.sender_id)
   ORDER BY n.change_seq, l.lang;
  GET DIAGNOSTICS translations = ROW_COUNT;
  IF queued + translations > 0 THEN
    PERFORM pg_notify('pgchat_ai', 'job');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chat_messages_ai ON chat_messages;
DROP FUNCTION IF EXISTS pgchat.tg_message_ai();
CREATE TRIGGER chat_messages_ai AFTER INSERT ON chat_messages
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_messages_ai();

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

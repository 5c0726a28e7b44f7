-- Moderation, continued (issue 21): edits are checked like sends, the
-- optional model check, and the live notices of the review queues.
-- Tables in migrations/V24__moderation.sql and V28__moderation_model_and_edits.sql.

-- ── edits ───────────────────────────────────────────────────────────────────

-- An edit is checked with the same lists and mode as a send
-- (pgchat.moderation_verdict): `reject` refuses it (`moderation_rejected`,
-- nothing written); `flag` applies it and queues the message again with the
-- edited text; `hold` keeps the message as it was and holds the edit in the
-- queue (`edited_body`) until a reviewer applies it (approve) or drops it
-- (reject). A message still held is simply rewritten (nobody else reads it)
-- and stays in the queue. Server writes (a reviewer's applied edit) are not
-- checked again. Fires after chat_messages_rules (name order), so a refused
-- edit is refused for its first reason.
CREATE OR REPLACE FUNCTION pgchat.tg_moderation_edit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  verdict text;
  entry text;
BEGIN
  IF auth.uid() IS NULL OR NEW.deleted_at IS NOT NULL OR OLD.moderation = 'rejected' THEN
    RETURN NEW;
  END IF;
  verdict := pgchat.moderation_verdict(NEW);
  entry := pgchat.moderation_match(NEW.body);
  IF verdict IS NULL OR entry IS NULL OR OLD.moderation = 'held' THEN
    -- clean, or only held pending the model check, or not delivered yet
    IF OLD.moderation = 'held' AND entry IS NOT NULL THEN
      UPDATE moderation_queue SET matched = entry WHERE message_id = NEW.id AND status = 'pending';
    END IF;
    RETURN NEW;
  END IF;
  INSERT INTO moderation_queue AS q (message_id, conversation_id, sender_id, action, matched, edited_body)
  VALUES (NEW.id, NEW.conversation_id, NEW.sender_id,
          CASE verdict WHEN 'held' THEN 'hold' ELSE 'flag' END, entry,
          CASE verdict WHEN 'held' THEN NEW.body END)
  ON CONFLICT (message_id) DO UPDATE
     SET action = EXCLUDED.action, matched = EXCLUDED.matched, edited_body = EXCLUDED.edited_body,
         status = 'pending', created_at = now(), decided_by = NULL, decided_at = NULL, reason = NULL;
  IF verdict = 'held' THEN
    RETURN NULL; -- the message stays as it was
  END IF;
  NEW.moderation := 'flagged';
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS chat_messages_rules_moderation ON chat_messages;
CREATE TRIGGER chat_messages_rules_moderation BEFORE UPDATE OF body ON chat_messages
  FOR EACH ROW WHEN (OLD.body IS DISTINCT FROM NEW.body)
  EXECUTE FUNCTION pgchat.tg_moderation_edit();

-- ── the model check ─────────────────────────────────────────────────────────

-- Whether messages the content filter checks also go to the AI provider
-- chain's moderation check (PGCHAT_AI_MODERATION).
CREATE OR REPLACE FUNCTION pgchat.moderation_model_on() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce((SELECT a.moderation_check FROM ai_settings a WHERE a.id), false)
$$;

-- New messages the filter checks (their sender's mode is not `off`) get a
-- model-check job, once per statement over its rows, and the assistant's
-- workers are woken: the check runs after the commit, never inside the
-- send. Skipped: what a list entry already queued (flagged, or held with an
-- item). With the check off the statement costs one read of ai_settings.
CREATE OR REPLACE FUNCTION pgchat.tg_messages_moderation_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  queued integer;
BEGIN
  IF NOT pgchat.moderation_model_on() THEN
    RETURN NULL;
  END IF;
  INSERT INTO ai_jobs (kind, conversation_id, message_id, user_id, user_role)
  SELECT 'moderation', i.conversation_id, i.id, i.sender_id, i.sender_role
    FROM inserted i
    -- the mode once per sender and conversation, not per row
    JOIN (SELECT s.*, pgchat.moderation_mode(s.conversation_id, s.sender_id, s.sender_role) AS mode
            FROM (SELECT DISTINCT conversation_id, sender_id, sender_role FROM inserted) s
          OFFSET 0) d
      ON (d.conversation_id, d.sender_id, d.sender_role) = (i.conversation_id, i.sender_id, i.sender_role)
   WHERE d.mode <> 'off' AND i.sender_id IS NOT NULL AND i.sender_role IN ('user', 'agent', 'admin') AND NOT i.internal
     AND i.kind NOT IN ('system', 'ai_response') AND coalesce(i.body, '') <> ''
     AND (i.moderation IS NULL
          OR (i.moderation = 'held' AND NOT EXISTS (SELECT 1 FROM moderation_queue q WHERE q.message_id = i.id)))
   ORDER BY i.change_seq;
  GET DIAGNOSTICS queued = ROW_COUNT;
  IF queued > 0 THEN
    PERFORM pg_notify('pgchat_ai', 'job');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chat_messages_moderation_check ON chat_messages;
CREATE TRIGGER chat_messages_moderation_check AFTER INSERT ON chat_messages
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_messages_moderation_check();

-- The model's verdict on a message, applied with the mode that holds now:
-- `flagged` true → `flag`: a queue item (the message stays delivered);
-- `hold`: the held message stays held, queued for a reviewer; `reject`: the
-- message is withdrawn (a tombstone by nobody), audited, and its sender told
-- on their inbox (`moderation_withdrawn`). `flagged` false → a message held
-- pending the check is released (it takes the next seq and reaches everyone
-- as `message_new`), audited; otherwise nothing. `flagged` NULL (every
-- provider failed) → fail to review: a queue item (`matched` says
-- `model_unavailable`); a held message stays held, a delivered one stays.
-- Queue items name the model's categories (`model: harassment, …`).
-- Decisions are audited as a reviewer's are, by `model:<provider>`. A
-- message deleted or decided meanwhile is left alone. Run by the server.
CREATE OR REPLACE FUNCTION pgchat.moderation_model_verdict(
  msg uuid, flagged boolean, categories text[], provider text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  m chat_messages;
  mode text;
  pending boolean;
  actor text := 'model:' || coalesce(provider, 'none');
  why text;
BEGIN
  SELECT * INTO m FROM chat_messages WHERE id = msg FOR NO KEY UPDATE;
  IF NOT FOUND OR m.deleted_at IS NOT NULL
     OR EXISTS (SELECT 1 FROM moderation_queue q WHERE q.message_id = msg) THEN
    RETURN 'skipped';
  END IF;
  mode := pgchat.moderation_mode(m.conversation_id, m.sender_id, m.sender_role);
  pending := m.moderation IS NOT DISTINCT FROM 'held';
  why := CASE WHEN flagged IS NULL THEN 'model_unavailable'
              ELSE 'model: ' || coalesce(nullif(array_to_string(categories, ', '), ''), 'flagged') END;
  IF flagged IS FALSE OR (mode = 'off' AND NOT pending) THEN
    IF pending THEN
      UPDATE chat_messages SET moderation = 'approved' WHERE id = msg;
      INSERT INTO desk_audit (actor, action, target, details)
      VALUES (actor, 'moderation_approved', msg::text,
              jsonb_build_object('conversation_id', m.conversation_id, 'sender_id', m.sender_id,
                                 'action', 'hold', 'model', true));
      RETURN 'released';
    END IF;
    RETURN 'clean';
  ELSIF flagged AND mode = 'reject' AND NOT pending THEN
    UPDATE chat_messages SET deleted_at = now() WHERE id = msg;
    INSERT INTO desk_audit (actor, action, target, details)
    VALUES (actor, 'moderation_rejected', msg::text,
            jsonb_build_object('conversation_id', m.conversation_id, 'sender_id', m.sender_id,
                               'action', 'reject', 'model', true, 'matched', why));
    PERFORM pg_notify('pgchat', jsonb_build_object(
      't', 'notice', 'ev', 'moderation_withdrawn', 'c', m.conversation_id, 'user_id', m.sender_id,
      'row', jsonb_build_object('conversation_id', m.conversation_id, 'message_id', msg,
                                'reason', why))::text);
    RETURN 'withdrawn';
  END IF;
  INSERT INTO moderation_queue (message_id, conversation_id, sender_id, action, matched)
  VALUES (msg, m.conversation_id, m.sender_id, CASE WHEN pending THEN 'hold' ELSE 'flag' END, why);
  RETURN 'queued';
END $$;

-- ── live notices ────────────────────────────────────────────────────────────

-- A new item of the review queue, and a new request to join a room, are told
-- to those who decide them on their `inbox` topic (`moderation_queued`,
-- `join_requested`): the notice names the conversation, and the listener
-- sends it to the inbox subscribers that pgchat.can_review (queue items) or
-- pgchat.can_moderate (requests) admits. One row each, off the send path (a
-- queue item only for a message the filter caught).
CREATE OR REPLACE FUNCTION pgchat.tg_moderation_queue_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' OR (NEW.status = 'pending' AND OLD.status <> 'pending')
     OR NEW.edited_body IS DISTINCT FROM OLD.edited_body THEN
    PERFORM pgchat.notify(jsonb_build_object(
      't', 'notice', 'ev', 'moderation_queued', 'c', NEW.conversation_id,
      'row', pgchat.moderation_item_json(NEW) - 'message'));
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS moderation_queue_notify ON moderation_queue;
CREATE TRIGGER moderation_queue_notify AFTER INSERT OR UPDATE ON moderation_queue
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_moderation_queue_notify();

CREATE OR REPLACE FUNCTION pgchat.tg_join_request_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM pgchat.notify(jsonb_build_object(
    't', 'notice', 'ev', 'join_requested', 'c', NEW.conversation_id,
    'row', pgchat.join_request_json(NEW)));
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS room_join_requests_notify ON room_join_requests;
CREATE TRIGGER room_join_requests_notify AFTER INSERT ON room_join_requests
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_join_request_notify();

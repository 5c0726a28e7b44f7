-- Deleting for good (migrations/V7): the bytes of deleted attachments are
-- queued for the purge job, an admin deletes a support session with all it
-- holds, and erases a user's data on request. Both are audited in desk_audit.

-- Every deleted attachment leaves its keys for the purge job, in the
-- deleting transaction (whoever deletes: a cascade, an erasure, the sweep of
-- abandoned uploads).
CREATE OR REPLACE FUNCTION pgchat.tg_attachments_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO blob_deletions (storage_key)
  SELECT k FROM gone, LATERAL (VALUES (gone.storage_key), (gone.thumbnail_key)) AS keys(k)
   WHERE k IS NOT NULL;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS attachments_deleted ON attachments;
CREATE TRIGGER attachments_deleted AFTER DELETE ON attachments
  REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_attachments_deleted();

-- An admin deletes a support session: its conversation with every message,
-- receipt, reaction, membership and attachment (their bytes queued), audited.
-- Its subscribers are told (a "gone" notification: the listener ends their
-- subscriptions). NULL when there is no such session.
CREATE OR REPLACE FUNCTION pgchat.delete_session(p_session uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  s live_chat_sessions;
  details jsonb;
BEGIN
  IF auth.role() IS DISTINCT FROM 'admin' THEN
    PERFORM pgchat.refuse('admins_only', 'only admins delete a session');
  END IF;
  SELECT * INTO s FROM live_chat_sessions WHERE id = p_session FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  details := jsonb_build_object(
    'conversation_id', s.conversation_id,
    'customer_id', s.customer_id,
    'subject', s.subject,
    'messages', (SELECT count(*) FROM chat_messages m WHERE m.conversation_id = s.conversation_id),
    'attachments', (SELECT count(*) FROM attachments a WHERE a.conversation_id = s.conversation_id));
  DELETE FROM conversations WHERE id = s.conversation_id;
  INSERT INTO desk_audit (actor, action, target, details)
  VALUES (auth.uid(), 'session_deleted', p_session::text, details);
  PERFORM pg_notify('pgchat', jsonb_build_object('t', 'gone', 'c', s.conversation_id)::text);
  RETURN details;
END $$;

-- An admin erases a user's data on request. Their attachments are deleted
-- (bytes queued) and their reactions, poll votes, presence, agent row and memberships
-- removed; their messages lose their author (no sender id or name on any
-- path) and, with p_messages = 'delete', their content too (tombstones); the
-- feedback of their sessions is cleared; their name and email are cleared.
-- The user row stays (a session names its customer) with erased_at set.
-- NULL when there is no such user. Runs the message changes as the server
-- (the rules triggers hold requests to their own changes).
CREATE OR REPLACE FUNCTION pgchat.erase_user(p_user text, p_messages text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  actor text := auth.uid();
  details jsonb;
  n_messages bigint;
  n_attachments bigint;
BEGIN
  IF auth.role() IS DISTINCT FROM 'admin' THEN
    PERFORM pgchat.refuse('admins_only', 'only admins erase a user''s data');
  END IF;
  IF p_messages NOT IN ('anonymize', 'delete') THEN
    RAISE check_violation USING MESSAGE = 'messages must be anonymize or delete';
  END IF;
  PERFORM 1 FROM users WHERE id = p_user FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  -- from here the changes are the server's (the audit keeps the admin)
  PERFORM set_config('request.jwt.claims', '', true);
  DELETE FROM message_reactions WHERE user_id = p_user;
  DELETE FROM poll_votes WHERE user_id = p_user;
  DELETE FROM hidden_messages WHERE user_id = p_user;
  DELETE FROM cursor_marks WHERE user_id = p_user;
  WITH gone AS (DELETE FROM attachments WHERE uploader_id = p_user RETURNING 1)
  SELECT count(*) INTO n_attachments FROM gone;
  WITH changed AS (
    UPDATE chat_messages
       SET sender_id = NULL, anonymous = true,
           deleted_at = CASE WHEN p_messages = 'delete' THEN coalesce(deleted_at, now()) ELSE deleted_at END,
           deleted_by = NULL
     WHERE sender_id = p_user RETURNING 1)
  SELECT count(*) INTO n_messages FROM changed;
  UPDATE chat_messages SET deleted_by = NULL WHERE deleted_by = p_user;
  UPDATE chat_messages SET pinned_by = NULL WHERE pinned_by = p_user;
  UPDATE live_chat_sessions SET feedback = NULL WHERE customer_id = p_user AND feedback IS NOT NULL;
  DELETE FROM conversation_members WHERE user_id = p_user;
  DELETE FROM presence WHERE user_id = p_user;
  DELETE FROM agents WHERE user_id = p_user;
  UPDATE users SET name = NULL, email = NULL, last_seen_at = NULL, status_text = NULL, erased_at = now()
   WHERE id = p_user;
  details := jsonb_build_object('messages', n_messages, 'attachments', n_attachments,
                                'mode', p_messages);
  INSERT INTO desk_audit (actor, action, target, details)
  VALUES (actor, 'user_erased', p_user, details);
  RETURN details;
END $$;

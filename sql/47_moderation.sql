-- Content moderation (issue 21 item 1; tables in migrations/V24__moderation.sql).
--
-- Admins keep word lists and patterns (moderation_lists, GET|PUT
-- /v1/admin/moderation); each room has a mode (conversations.moderation), the
-- desk one for support conversations (desk_settings.moderation): `off`, `flag`
-- (delivered, queued for review), `hold` (stored, read only by its sender and
-- the reviewers until approved), `reject` (the send is refused:
-- `moderation_rejected`). Who is checked: customers and room members; not
-- agents and admins in support conversations, not a room's moderators and
-- above, not platform admins, not internal notes or notices.
--
-- Where: the send plan (sql/25_send_batch.sql) asks once per batch whether
-- there is anything to match (moderation_lists.matcher is NULL while both lists
-- are empty: one read of one row, nothing more), then the mode once per
-- sender and conversation, then matches the bodies of moderated items with one
-- regular expression; a match goes to the one-message path, whose numbering
-- trigger (sql/20_sequences.sql) asks pgchat.moderation_verdict and refuses,
-- holds or flags. A flagged or held row is queued by an AFTER INSERT trigger
-- that fires only for them (its WHEN clause costs other rows nothing).
-- Matching ignores case; a word matches whole words (\m…\M), a pattern is a
-- PostgreSQL regular expression (ARE), checked when it is stored.

-- The lists' regular expressions, kept with them. A pattern that does not
-- compile is refused here with its text (`invalid_pattern`, 422).
CREATE OR REPLACE FUNCTION pgchat.tg_moderation_lists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  p text;
BEGIN
  FOREACH p IN ARRAY NEW.patterns LOOP
    BEGIN
      PERFORM '' ~ p;
    EXCEPTION WHEN invalid_regular_expression THEN
      PERFORM pgchat.refuse('invalid_pattern',
        format('pattern %s is not a valid regular expression: %s', p, SQLERRM));
    END;
  END LOOP;
  NEW.terms := ARRAY(
    SELECT '\m' || regexp_replace(w, '([.^$*+?()\[\]{}|\\])', '\\\1', 'g') || '\M'
      FROM unnest(NEW.words) w)
    || NEW.patterns;
  NEW.matcher := CASE WHEN cardinality(NEW.terms) > 0
                      THEN '(' || array_to_string(NEW.terms, ')|(') || ')' END;
  BEGIN
    PERFORM '' ~ NEW.matcher;
  EXCEPTION WHEN invalid_regular_expression THEN
    -- each compiles alone, not all together: embedded options (`(?i)`,
    -- `***:`) belong at the start of a whole expression
    PERFORM pgchat.refuse('invalid_pattern',
      format('the patterns cannot be combined into one expression: %s', SQLERRM));
  END;
  NEW.updated_at := now();
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS moderation_lists_terms ON moderation_lists;
CREATE TRIGGER moderation_lists_terms BEFORE INSERT OR UPDATE ON moderation_lists
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_moderation_lists();

-- The mode that applies to `uid`'s messages in `conv` ('off' for those not
-- checked: admins, agents at the desk, a room's moderators and above).
CREATE OR REPLACE FUNCTION pgchat.moderation_mode(conv uuid, uid text, urole text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  c record;
BEGIN
  SELECT kind, moderation INTO c FROM conversations WHERE id = conv;
  IF NOT FOUND OR urole = 'admin' THEN
    RETURN 'off';
  ELSIF c.kind = 'support' THEN
    RETURN CASE WHEN urole = 'agent' THEN 'off'
                ELSE (SELECT d.moderation FROM desk_settings d WHERE d.id) END;
  ELSIF pgchat.is_room(c.kind) AND c.moderation <> 'off' THEN
    RETURN CASE WHEN pgchat.member_rank(conv, uid) >= 2 THEN 'off' ELSE c.moderation END;
  END IF;
  RETURN 'off';
END $$;

-- What the filter does with a new message: NULL (nothing), 'flagged' or
-- 'held'; a rejected one is refused here (`moderation_rejected`), so nothing is
-- written. Called by the numbering trigger of the one-message path.
CREATE OR REPLACE FUNCTION pgchat.moderation_verdict(m chat_messages) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  pattern text;
  mode text;
  checking boolean;
BEGIN
  IF m.sender_role NOT IN ('user', 'agent', 'admin') OR m.internal
     OR m.kind IN ('system', 'ai_response') OR coalesce(m.body, '') = '' THEN
    RETURN NULL;
  END IF;
  SELECT l.matcher INTO pattern FROM moderation_lists l;
  checking := pgchat.moderation_model_on();
  IF pattern IS NULL AND NOT checking THEN
    RETURN NULL;
  END IF;
  mode := pgchat.moderation_mode(m.conversation_id, m.sender_id, m.sender_role);
  IF mode = 'off' THEN
    RETURN NULL;
  ELSIF pattern IS NOT NULL AND m.body ~* pattern THEN
    IF mode = 'reject' THEN
      PERFORM pgchat.refuse('moderation_rejected');
    END IF;
    RETURN CASE mode WHEN 'hold' THEN 'held' ELSE 'flagged' END;
  ELSIF checking AND mode = 'hold' THEN
    -- held pending the model check (sql/47_moderation_model.sql): read by
    -- its sender and the reviewers until the verdict releases or queues it
    RETURN 'held';
  END IF;
  RETURN NULL;
END $$;

-- A flagged or held message joins the review queue, with the entry it matched.
CREATE OR REPLACE FUNCTION pgchat.tg_moderation_enqueue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  entry text := pgchat.moderation_match(NEW.body);
BEGIN
  IF NEW.moderation = 'held' AND entry IS NULL THEN
    -- held pending the model check, not for a list entry: its verdict
    -- queues it or releases it (sql/47_moderation_model.sql)
    RETURN NULL;
  END IF;
  INSERT INTO moderation_queue (message_id, conversation_id, sender_id, action, matched)
  VALUES (NEW.id, NEW.conversation_id, NEW.sender_id,
          CASE NEW.moderation WHEN 'held' THEN 'hold' ELSE 'flag' END, entry);
  RETURN NULL;
END $$;

-- The first list entry (a word or a pattern, as written) that `body` matches.
CREATE OR REPLACE FUNCTION pgchat.moderation_match(body text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT t.entry
    FROM moderation_lists l, unnest(l.words || l.patterns, l.terms) AS t(entry, rx)
   WHERE body ~* t.rx LIMIT 1
$$;

DROP TRIGGER IF EXISTS chat_messages_moderation_queue ON chat_messages;
CREATE TRIGGER chat_messages_moderation_queue AFTER INSERT ON chat_messages
  FOR EACH ROW WHEN (NEW.moderation IS NOT NULL)
  EXECUTE FUNCTION pgchat.tg_moderation_enqueue();

-- ── the lists ───────────────────────────────────────────────────────────────

CREATE OR REPLACE FUNCTION pgchat.moderation_lists_json(l moderation_lists) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('words', to_jsonb(l.words), 'patterns', to_jsonb(l.patterns),
                            'updated_at', pgchat.ts(l.updated_at), 'updated_by', l.updated_by)
$$;

-- Replaces both lists (admins), audited. SECURITY DEFINER: requests have no
-- write grant on the lists; the gate decides who may.
CREATE OR REPLACE FUNCTION pgchat.moderation_put(new_words text[], new_patterns text[]) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  l moderation_lists;
  old moderation_lists;
BEGIN
  PERFORM pgchat.gate('moderation_lists');
  SELECT * INTO old FROM moderation_lists WHERE id FOR UPDATE;
  UPDATE moderation_lists
     SET words = new_words, patterns = new_patterns, updated_by = auth.uid()
   WHERE id
  RETURNING * INTO l;
  INSERT INTO desk_audit (actor, action, target, details)
  VALUES (coalesce(auth.uid(), current_user), 'moderation_lists_changed', 'moderation_lists',
          jsonb_build_object('words', to_jsonb(l.words), 'patterns', to_jsonb(l.patterns),
                             'previous_words', to_jsonb(old.words),
                             'previous_patterns', to_jsonb(old.patterns)));
  RETURN pgchat.moderation_lists_json(l);
END $$;

-- ── the review queue ────────────────────────────────────────────────────────

-- An item as reviewers see it: the message as it stands (held ones too).
CREATE OR REPLACE FUNCTION pgchat.moderation_item_json(q moderation_queue) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'id', q.id,
    'conversation_id', q.conversation_id,
    'message_id', q.message_id,
    'sender_id', q.sender_id,
    'action', q.action,
    'matched', q.matched,
    'status', q.status,
    'created_at', pgchat.ts(q.created_at),
    'decided_by', q.decided_by,
    'decided_at', pgchat.ts(q.decided_at),
    'reason', q.reason,
    -- an edit held for review: the text it would give the message
    'edited_body', q.edited_body,
    'message', (SELECT pgchat.message_json(m) FROM chat_messages m WHERE m.id = q.message_id))
$$;

-- A reviewer's decision on a pending item, as the caller: `approve` releases
-- a held message (it takes the next seq and reaches everyone as a new
-- message: sql/20_sequences.sql, sql/30_notify.sql) or clears a flag;
-- `reject` keeps a held message from the room for good ('rejected': its
-- sender still reads it) or deletes a flagged one (a tombstone, deleted by
-- the reviewer). Items the caller may not review are not there (`not_found`);
-- a decided item says so (`already_decided`). Every decision is audited
-- (desk_audit: who, when, what, why). The message is changed with the
-- server's rights (claims cleared for that statement): the decision was
-- authorized here, and the message rules' own request checks (who may delete
-- a message) would refuse an agent at the desk.
CREATE OR REPLACE FUNCTION pgchat.moderation_decide(item bigint, decision text, why text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  q moderation_queue;
  actor text := auth.uid();
  claims text := current_setting('request.jwt.claims', true);
BEGIN
  IF decision NOT IN ('approve', 'reject') THEN
    RAISE EXCEPTION 'unknown decision %', decision;
  END IF;
  SELECT * INTO q FROM moderation_queue WHERE id = item FOR UPDATE;
  IF NOT FOUND OR NOT pgchat.can_review(q.conversation_id, actor, auth.role()) THEN
    PERFORM pgchat.refuse('not_found', 'moderation item not found');
  ELSIF q.status <> 'pending' THEN
    PERFORM pgchat.refuse('already_decided');
  END IF;
  PERFORM set_config('request.jwt.claims', '', true);
  IF decision = 'approve' AND q.edited_body IS NOT NULL THEN
    -- a held edit: applied now (the server's write: not checked again)
    UPDATE chat_messages SET body = q.edited_body, edited_at = now()
     WHERE id = q.message_id AND deleted_at IS NULL;
  ELSIF decision = 'reject' AND q.edited_body IS NOT NULL THEN
    NULL; -- a held edit refused: the message keeps its text
  ELSIF decision = 'approve' AND q.action = 'hold' THEN
    UPDATE chat_messages SET moderation = 'approved' WHERE id = q.message_id AND moderation = 'held';
  ELSIF decision = 'reject' AND q.action = 'hold' THEN
    UPDATE chat_messages SET moderation = 'rejected' WHERE id = q.message_id AND moderation = 'held';
  ELSIF decision = 'reject' THEN
    UPDATE chat_messages SET deleted_at = now(), deleted_by = actor
     WHERE id = q.message_id AND deleted_at IS NULL;
  END IF;
  PERFORM set_config('request.jwt.claims', claims, true);
  UPDATE moderation_queue
     SET status = CASE decision WHEN 'approve' THEN 'approved' ELSE 'rejected' END,
         decided_by = actor, decided_at = now(), reason = why
   WHERE id = item
  RETURNING * INTO q;
  INSERT INTO desk_audit (actor, action, target, details)
  VALUES (actor, CASE decision WHEN 'approve' THEN 'moderation_approved' ELSE 'moderation_rejected' END,
          q.message_id::text,
          jsonb_build_object('queue_id', q.id, 'conversation_id', q.conversation_id,
                             'sender_id', q.sender_id, 'action', q.action, 'matched', q.matched,
                             'reason', why));
  RETURN pgchat.moderation_item_json(q);
END $$;

-- ── a room's mode ───────────────────────────────────────────────────────────

-- A room's mode is one of its settings (its own column): the same rule says
-- who may change it (pgchat.tg_room_rules: `not_room_admin`), and a change is
-- a `room_updated` like any other (sql/45_rooms.sql's triggers, for this column).
DROP TRIGGER IF EXISTS conversations_moderation_rules ON conversations;
CREATE TRIGGER conversations_moderation_rules BEFORE UPDATE OF moderation ON conversations
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_room_rules();
DROP TRIGGER IF EXISTS conversations_moderation_seq ON conversations;
CREATE TRIGGER conversations_moderation_seq BEFORE UPDATE OF moderation ON conversations
  FOR EACH ROW WHEN (OLD.moderation IS DISTINCT FROM NEW.moderation
                     AND (OLD.title, OLD.description, OLD.settings)
                         IS NOT DISTINCT FROM (NEW.title, NEW.description, NEW.settings))
  EXECUTE FUNCTION pgchat.tg_conversation_seq();
DROP TRIGGER IF EXISTS conversations_moderation_notify ON conversations;
CREATE TRIGGER conversations_moderation_notify AFTER UPDATE OF moderation ON conversations
  FOR EACH ROW WHEN (OLD.moderation IS DISTINCT FROM NEW.moderation
                     AND (OLD.title, OLD.description, OLD.settings)
                         IS NOT DISTINCT FROM (NEW.title, NEW.description, NEW.settings))
  EXECUTE FUNCTION pgchat.tg_conversation_notify();

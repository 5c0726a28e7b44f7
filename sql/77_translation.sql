-- Auto-translation per member language in a room (issue 21, item 1;
-- migrations/V27). A member states the language they read a conversation in
-- (`conversation_members.lang`, PATCH /v1/conversations/{id}/me); a room with
-- the setting `auto_translate` (which needs `enable_ai`) has each new message
-- translated into its members' languages: the assistant's statement-level
-- trigger (sql/75_ai.sql, pgchat.tg_messages_ai) queues one `auto_translate`
-- job per message and language, the worker caches the text in
-- message_translations, and the trigger below announces it to the
-- conversation's subscribers as `message_translated`.

-- A language tag (BCP 47: `de`, `pt-BR`, `zh-Hant`) in its canonical case:
-- the language lower-case, a script title-case, a region upper-case; NULL if
-- it is not one. The one definition of a valid tag (the Rust `Lang` of the
-- translate endpoint shapes its tags the same way; tests/api/auto_translate.rs
-- compares them).
CREATE OR REPLACE FUNCTION pgchat.lang_canonical(tag text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN btrim(tag) ~* '^[a-z]{2,3}(-[a-z0-9]{2,8}){0,3}$' THEN
    (SELECT string_agg(CASE WHEN s.o = 1 THEN lower(s.p)
                            WHEN length(s.p) = 4 AND s.p ~* '^[a-z]+$' THEN initcap(s.p)
                            WHEN length(s.p) = 2 AND s.p ~* '^[a-z]+$' THEN upper(s.p)
                            ELSE lower(s.p) END, '-' ORDER BY s.o)
       FROM unnest(string_to_array(btrim(tag), '-')) WITH ORDINALITY AS s(p, o)) END
$$;

-- A language a request names (a member's language, `?lang=` on a read):
-- canonical, or refused as `invalid_lang`. NULL stays NULL.
CREATE OR REPLACE FUNCTION pgchat.lang_tag(tag text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  canonical text := pgchat.lang_canonical(tag);
BEGIN
  IF tag IS NOT NULL AND canonical IS NULL THEN
    PERFORM pgchat.refuse('invalid_lang', 'lang must be a language tag such as "de" or "pt-BR"');
  END IF;
  RETURN canonical;
END $$;

-- Most languages a room's members may state: each is a translation of every
-- message of an auto-translated room, so this bounds what one send costs.
CREATE OR REPLACE FUNCTION pgchat.max_room_langs() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 10 $$;

-- The distinct languages of a room's current members (but `except_user`'s),
-- at most max_room_langs, by a loose scan of conversation_members_lang_idx:
-- one index probe per language, whatever the room's size.
CREATE OR REPLACE FUNCTION pgchat.room_langs(conv uuid, except_user text DEFAULT NULL)
RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH RECURSIVE l(lang, n) AS (
    (SELECT m.lang, 1 FROM conversation_members m
      WHERE m.conversation_id = conv AND m.lang IS NOT NULL AND m.left_at IS NULL AND NOT m.banned
        AND m.user_id IS DISTINCT FROM except_user
      ORDER BY m.lang LIMIT 1)
    UNION ALL
    SELECT (SELECT m.lang FROM conversation_members m
             WHERE m.conversation_id = conv AND m.lang > l.lang AND m.left_at IS NULL AND NOT m.banned
               AND m.user_id IS DISTINCT FROM except_user
             ORDER BY m.lang LIMIT 1), l.n + 1
      FROM l WHERE l.lang IS NOT NULL AND l.n < pgchat.max_room_langs()
  )
  SELECT l.lang FROM l WHERE l.lang IS NOT NULL
$$;

-- A member's language: their own to state (an admin may too; a room's
-- moderators may not: `not_yours`), canonical or `invalid_lang`, and one of
-- at most max_room_langs per room (`too_many_languages`; changes of a room's
-- languages are serialized so the count holds).
CREATE OR REPLACE FUNCTION pgchat.tg_member_lang() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF auth.uid() IS NOT NULL AND auth.uid() <> NEW.user_id AND auth.role() <> 'admin' THEN
    PERFORM pgchat.refuse('not_yours');
  END IF;
  NEW.lang := pgchat.lang_tag(NEW.lang);
  IF NEW.lang IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('pgchat.room_langs:' || NEW.conversation_id::text, 0));
    IF NOT EXISTS (SELECT 1 FROM pgchat.room_langs(NEW.conversation_id, NEW.user_id) l WHERE l = NEW.lang)
       AND (SELECT count(*) FROM pgchat.room_langs(NEW.conversation_id, NEW.user_id)) >= pgchat.max_room_langs() THEN
      PERFORM pgchat.refuse('too_many_languages',
        'this conversation''s members read ' || pgchat.max_room_langs()
        || ' languages already; choose one of them');
    END IF;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS conversation_members_lang_insert ON conversation_members;
CREATE TRIGGER conversation_members_lang_insert BEFORE INSERT ON conversation_members
  FOR EACH ROW WHEN (NEW.lang IS NOT NULL) EXECUTE FUNCTION pgchat.tg_member_lang();
DROP TRIGGER IF EXISTS conversation_members_lang_update ON conversation_members;
CREATE TRIGGER conversation_members_lang_update BEFORE UPDATE OF lang ON conversation_members
  FOR EACH ROW WHEN (NEW.lang IS DISTINCT FROM OLD.lang) EXECUTE FUNCTION pgchat.tg_member_lang();

-- `auto_translate` sends every message to the assistant's provider, which is
-- what `enable_ai` allows: one without the other is refused with its reason
-- (after conversations_rules has said who may change the room at all).
CREATE OR REPLACE FUNCTION pgchat.tg_room_auto_translate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pgchat.is_room(NEW.kind) AND (NEW.settings ->> 'enable_ai') IS DISTINCT FROM 'true' THEN
    PERFORM pgchat.refuse('auto_translate_needs_ai',
      'auto_translate sends messages to the assistant: turn on enable_ai with it (or auto_translate off first)');
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS conversations_rules_translate ON conversations;
CREATE TRIGGER conversations_rules_translate BEFORE INSERT OR UPDATE OF settings ON conversations
  FOR EACH ROW WHEN ((NEW.settings ->> 'auto_translate') = 'true')
  EXECUTE FUNCTION pgchat.tg_room_auto_translate();

-- A stored translation is announced on its conversation's topic
-- (`message_translated`, src/realtime/listener.rs), to whoever may read its
-- message: `internal` → staff; a message moderation holds → its sender
-- (`only`). A stale one (the message was edited or deleted since) is not.
-- The text is left out when the payload would not fit in NOTIFY (`big`):
-- the listener reads it back.
CREATE OR REPLACE FUNCTION pgchat.tg_translation_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  note jsonb;
BEGIN
  SELECT jsonb_build_object(
           't', 'translation', 'c', m.conversation_id, 'message_id', NEW.message_id,
           'lang', NEW.lang, 'internal', m.internal,
           'only', CASE WHEN m.moderation IN ('held', 'rejected') THEN m.sender_id END)
    INTO note
    FROM chat_messages m
   WHERE m.id = NEW.message_id AND m.deleted_at IS NULL AND m.body = NEW.source;
  IF note IS NULL THEN
    RETURN NULL;
  END IF;
  IF octet_length(note::text) + octet_length(NEW.text) + 40 > 7900 THEN
    note := note || jsonb_build_object('big', true);
  ELSE
    note := note || jsonb_build_object('text', NEW.text);
  END IF;
  PERFORM pg_notify('pgchat', note::text);
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS message_translations_notify ON message_translations;
CREATE TRIGGER message_translations_notify AFTER INSERT OR UPDATE OF text, source ON message_translations
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_translation_notify();

-- A message's cached translation into `lang`, as a read adds it to the
-- message (`{"translation": {"lang", "text"}}`), or nothing: none cached, or
-- one made before the message was edited. Runs under the reader's RLS.
CREATE OR REPLACE FUNCTION pgchat.translation_field(m chat_messages, lang text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT jsonb_build_object('translation', jsonb_build_object('lang', t.lang, 'text', t.text))
                     FROM message_translations t
                    WHERE t.message_id = m.id AND t.lang = translation_field.lang AND t.source = m.body
                      AND m.deleted_at IS NULL), '{}'::jsonb)
$$;

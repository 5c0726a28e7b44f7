-- Auto-translation per member language in a room (issue 21, item 1). Rules
-- and triggers live in sql/77_translation.sql; the jobs are queued by the
-- assistant's statement-level trigger (sql/75_ai.sql) and done by its worker.

-- The language a member reads a conversation in (a BCP 47 tag, canonical
-- case; NULL: none stated). Per membership, not per user: a member who reads
-- one room in Spanish may read another in English, the room's send path reads
-- one table, and the languages a room needs are one small index range (below).
ALTER TABLE conversation_members
  ADD COLUMN lang text CHECK (lang ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$');

-- The distinct languages of a room's current members, read by a loose index
-- scan (pgchat.room_langs): one probe per language, however large the room.
-- Holds only members who stated a language, so it stays small.
CREATE INDEX conversation_members_lang_idx ON conversation_members (conversation_id, lang)
  WHERE lang IS NOT NULL AND left_at IS NULL AND NOT banned;

-- The rooms with auto-translation on: the send path's trigger probes this
-- (tiny) index for each conversation a statement wrote to, so a conversation
-- without the setting costs one index descent and no heap read.
CREATE INDEX conversations_auto_translate_idx ON conversations (id)
  WHERE settings @> '{"auto_translate": true}';

-- One job per message and target language: the worker translates the message
-- into `lang` and caches it in message_translations.
ALTER TABLE ai_jobs ADD COLUMN lang text;
ALTER TABLE ai_jobs DROP CONSTRAINT ai_jobs_kind_check;
ALTER TABLE ai_jobs ADD CONSTRAINT ai_jobs_kind_check
  CHECK (kind IN ('mention', 'first_response', 'translate', 'auto_translate'));
ALTER TABLE ai_jobs ADD CONSTRAINT ai_jobs_auto_translate_lang
  CHECK ((kind = 'auto_translate') = (lang IS NOT NULL));

-- The room settings, with `auto_translate` (boolean, default false): each new
-- message is translated into its members' languages (needs `enable_ai`: the
-- rule that refuses one without the other is tg_room_auto_translate, with its
-- reason). Otherwise as in V23.
CREATE OR REPLACE FUNCTION pgchat.room_settings_valid(settings jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_typeof(settings) = 'object'
  AND settings - ARRAY['allow_invites', 'max_members', 'allow_file_uploads', 'enable_ai',
                       'retention_days', 'anonymous_posting', 'max_upload_bytes',
                       'avatar_attachment_id', 'banner_attachment_id', 'require_approval',
                       'allowed_mime_types', 'auto_translate'] = '{}'::jsonb
  AND coalesce(jsonb_typeof(settings -> 'allow_invites'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'allow_file_uploads'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'enable_ai'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'anonymous_posting'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'require_approval'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'auto_translate'), 'boolean') = 'boolean'
  AND CASE WHEN settings -> 'max_members' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'max_members') <> 'number' THEN false
           ELSE (settings ->> 'max_members')::numeric BETWEEN 2 AND 100000
                AND (settings ->> 'max_members')::numeric % 1 = 0 END
  AND CASE WHEN settings -> 'retention_days' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'retention_days') <> 'number' THEN false
           ELSE (settings ->> 'retention_days')::numeric BETWEEN 1 AND 3650
                AND (settings ->> 'retention_days')::numeric % 1 = 0 END
  AND CASE WHEN settings -> 'max_upload_bytes' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'max_upload_bytes') <> 'number' THEN false
           ELSE (settings ->> 'max_upload_bytes')::numeric BETWEEN 1 AND 104857600
                AND (settings ->> 'max_upload_bytes')::numeric % 1 = 0 END
  AND CASE WHEN settings -> 'avatar_attachment_id' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'avatar_attachment_id') <> 'string' THEN false
           ELSE settings ->> 'avatar_attachment_id'
                ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' END
  AND CASE WHEN settings -> 'banner_attachment_id' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'banner_attachment_id') <> 'string' THEN false
           ELSE settings ->> 'banner_attachment_id'
                ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' END
  AND CASE WHEN settings -> 'allowed_mime_types' IS NULL THEN true
           WHEN jsonb_typeof(settings -> 'allowed_mime_types') <> 'array' THEN false
           ELSE jsonb_array_length(settings -> 'allowed_mime_types') BETWEEN 1 AND 50
                AND NOT EXISTS (
                  SELECT 1 FROM jsonb_array_elements(settings -> 'allowed_mime_types') t
                   WHERE jsonb_typeof(t) <> 'string'
                      OR t #>> '{}' !~ '^[a-z0-9.+-]{1,60}/([a-z0-9.+-]{1,100}|\*)$') END
$$;

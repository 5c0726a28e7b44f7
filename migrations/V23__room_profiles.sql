-- Room profiles and admission (issue 21, item 3): an avatar and a banner
-- (images from the attachment store), join approval with a request queue for
-- moderators, and the file types a room takes. Rules are in sql/45_rooms.sql
-- and sql/70_attachments.sql; row-level security in
-- policies/room_join_requests.sql and policies/attachments.sql.

-- The list of room settings, each of its type and range, now lives in one
-- function that the constraint calls: a later setting is a migration that
-- replaces this function (CREATE OR REPLACE, the same name and signature), not
-- the constraint. New here: `avatar_attachment_id` and `banner_attachment_id`
-- (a uuid string), `require_approval` (boolean), `allowed_mime_types` (1 to
-- 50 types such as "image/png", or "image/*" for every subtype).
CREATE OR REPLACE FUNCTION pgchat.room_settings_valid(settings jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_typeof(settings) = 'object'
  AND settings - ARRAY['allow_invites', 'max_members', 'allow_file_uploads', 'enable_ai',
                       'retention_days', 'anonymous_posting', 'max_upload_bytes',
                       'avatar_attachment_id', 'banner_attachment_id', 'require_approval',
                       'allowed_mime_types'] = '{}'::jsonb
  AND coalesce(jsonb_typeof(settings -> 'allow_invites'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'allow_file_uploads'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'enable_ai'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'anonymous_posting'), 'boolean') = 'boolean'
  AND coalesce(jsonb_typeof(settings -> 'require_approval'), 'boolean') = 'boolean'
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

ALTER TABLE conversations DROP CONSTRAINT conversations_room_settings_valid;
ALTER TABLE conversations ADD CONSTRAINT conversations_room_settings_valid CHECK (
  kind NOT IN ('public', 'private', 'group', 'announcement') OR pgchat.room_settings_valid(settings));

-- Which rooms show an attachment as their avatar or banner (the attachments
-- policy asks, for each image it is asked to show).
CREATE INDEX conversations_avatar_idx ON conversations ((settings ->> 'avatar_attachment_id'));
CREATE INDEX conversations_banner_idx ON conversations ((settings ->> 'banner_attachment_id'));

-- Someone asking to join a room that requires approval. A moderator approves
-- (they become a member, and the request goes) or rejects (the request goes);
-- the asker may withdraw it. One request per person and room.
CREATE TABLE room_join_requests (
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX room_join_requests_user_idx ON room_join_requests (user_id);

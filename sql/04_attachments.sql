-- The wire shape of an attachment, as a message carries it (`attachment` in
-- pgchat.message_json, sql/05_json.sql, which is why this file comes first).
-- `url` and `thumbnail_url` are API paths: a GET with the reader's token
-- checks visibility, then redirects to the store (S3) or streams the bytes.
CREATE OR REPLACE FUNCTION pgchat.attachment_wire(a attachments) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', a.id,
    'filename', a.filename,
    'mime_type', a.mime_type,
    'kind', a.kind,
    'size', a.size,
    'width', a.width,
    'height', a.height,
    'url', '/v1/attachments/' || a.id,
    'thumbnail_url', CASE WHEN a.thumbnail_key IS NOT NULL
                          THEN '/v1/attachments/' || a.id || '/thumbnail' END)
$$;

DROP FUNCTION IF EXISTS pgchat.attachment_json(uuid);

-- An upload as its uploader sees it (POST /v1/attachments, …/complete):
-- the attachment's wire shape plus its state.
CREATE OR REPLACE FUNCTION pgchat.upload_json(a attachments) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT pgchat.attachment_wire(a) || jsonb_build_object(
    'conversation_id', a.conversation_id,
    'uploader_id', a.uploader_id,
    'status', a.status,
    'created_at', pgchat.ts(a.created_at),
    'completed_at', pgchat.ts(a.completed_at))
$$;

-- Attachments: the rules that hold however a row is written. The bytes live
-- in the blob store (src/storage/); these rows say what they are, whose they
-- are and where they may be attached. RLS is in policies/attachments.sql.

-- A conversation's upload settings: `allow_file_uploads` (default true),
-- `max_upload_bytes` (null: the server's default) and `allowed_mime_types`
-- (null: every type the server takes), read from its settings whatever its
-- kind (rooms set them through the rooms API).
CREATE OR REPLACE FUNCTION pgchat.upload_settings(conv uuid) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'allow_file_uploads', CASE WHEN jsonb_typeof(c.settings -> 'allow_file_uploads') = 'boolean'
                               THEN (c.settings ->> 'allow_file_uploads')::boolean ELSE true END,
    'max_upload_bytes', CASE WHEN jsonb_typeof(c.settings -> 'max_upload_bytes') = 'number'
                             THEN c.settings -> 'max_upload_bytes' END,
    'allowed_mime_types', CASE WHEN jsonb_typeof(c.settings -> 'allowed_mime_types') = 'array'
                               THEN c.settings -> 'allowed_mime_types' END)
    FROM conversations c WHERE c.id = conv
$$;

-- Whether a file of type `mime` may go where `allowed` (a conversation's
-- allowed_mime_types) says: null allows every type; "image/*" every image.
CREATE OR REPLACE FUNCTION pgchat.mime_allowed(allowed jsonb, mime text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT allowed IS NULL OR jsonb_typeof(allowed) <> 'array' OR EXISTS (
    SELECT 1 FROM jsonb_array_elements_text(allowed) t
     WHERE t = mime OR (t LIKE '%/*' AND split_part(t, '/', 1) = split_part(mime, '/', 1)))
$$;

-- A file in `conv` under its settings, each refusal with its reason: uploads
-- may be off (`uploads_disabled`), the type must be one the room takes
-- (`mime_type_not_allowed`), the size must fit its max_upload_bytes, else
-- `server_max` (`payload_too_large`). Checked when an upload is created and
-- again when a message carries it (the settings may have changed since).
CREATE OR REPLACE FUNCTION pgchat.upload_check(conv uuid, mime text, size bigint, server_max numeric)
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
  s jsonb := pgchat.upload_settings(conv);
  limit_bytes numeric;
BEGIN
  IF s IS NULL THEN
    RETURN;
  END IF;
  IF NOT (s ->> 'allow_file_uploads')::boolean THEN
    PERFORM pgchat.refuse('uploads_disabled', 'file uploads are turned off in this conversation');
  END IF;
  IF NOT pgchat.mime_allowed(s -> 'allowed_mime_types', mime) THEN
    PERFORM pgchat.refuse('mime_type_not_allowed',
      mime || ' files are not allowed here (allowed: '
      || (SELECT string_agg(t, ', ') FROM jsonb_array_elements_text(s -> 'allowed_mime_types') t) || ')');
  END IF;
  limit_bytes := coalesce((s ->> 'max_upload_bytes')::numeric, server_max);
  IF size > limit_bytes THEN
    PERFORM pgchat.refuse('payload_too_large',
      'the file is larger than the ' || limit_bytes || ' bytes allowed here');
  END IF;
END $$;

-- Whether `uid` may attach `att` to a message in `conv`: the upload is
-- complete, belongs to that conversation, and is the sender's own. (One
-- message per attachment is a unique index.) SECURITY DEFINER: called by the
-- chat_messages policy, whatever the caller may read of attachments.
CREATE OR REPLACE FUNCTION pgchat.attachment_usable(att uuid, conv uuid, uid text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM attachments a
                  WHERE a.id = att AND a.conversation_id = conv
                    AND a.uploader_id = uid AND a.status = 'ready')
$$;

-- A message carrying an attachment, whoever writes it: the sender's own
-- completed upload in that conversation, on no other message yet
-- (`invalid_attachment`, `attachment_not_ready`, `attachment_in_use`), of a
-- kind that fits: a `text` message (the default) takes the attachment's kind,
-- `file` fits any, another kind must be the attachment's (`kind_mismatch`). Called by pgchat.message_insert_rules; the
-- chat_messages_attachment policy holds the same for requests. (One message
-- per attachment is also a unique index, for a race.)
CREATE OR REPLACE FUNCTION pgchat.message_attachment(m chat_messages) RETURNS chat_messages
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  a attachments;
BEGIN
  SELECT * INTO a FROM attachments WHERE id = m.attachment_id;
  IF NOT FOUND OR a.uploader_id IS DISTINCT FROM m.sender_id OR a.conversation_id <> m.conversation_id THEN
    PERFORM pgchat.refuse('invalid_attachment', 'attachment_id must name your own upload in this conversation');
  END IF;
  IF a.status <> 'ready' THEN
    PERFORM pgchat.refuse('attachment_not_ready', 'complete the upload before sending it');
  END IF;
  IF EXISTS (SELECT 1 FROM chat_messages x WHERE x.attachment_id = a.id) THEN
    PERFORM pgchat.refuse('attachment_in_use', 'this attachment is already on a message');
  END IF;
  -- the room's upload settings as they are now (`mime_type_not_allowed`,
  -- `payload_too_large`; `uploads_disabled` is pgchat.message_insert_rules')
  PERFORM pgchat.upload_check(m.conversation_id, a.mime_type, a.size, NULL);
  IF m.kind = 'text' THEN
    m.kind := a.kind;
  ELSIF m.kind NOT IN ('file', a.kind) THEN
    PERFORM pgchat.refuse('kind_mismatch', 'a ' || a.kind || ' attachment cannot be sent as ' || m.kind);
  END IF;
  RETURN m;
END $$;

-- The caller's own upload, to send its bytes to or complete: no row when they
-- cannot see it, `not_uploader` when it is someone else's they can see (on a
-- message). Runs as the caller: RLS decides what they see.
CREATE OR REPLACE FUNCTION pgchat.own_upload(att uuid) RETURNS SETOF attachments
LANGUAGE plpgsql STABLE AS $$
DECLARE
  a attachments;
BEGIN
  SELECT * INTO a FROM attachments WHERE id = att;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF a.uploader_id IS DISTINCT FROM auth.uid() THEN
    PERFORM pgchat.refuse('not_uploader', 'only the uploader uploads and completes an attachment');
  END IF;
  RETURN NEXT a;
END $$;

-- On insert the database decides where the bytes go (a request never names a
-- storage key, so it cannot point at another upload's bytes), the row starts
-- pending, and the conversation's settings apply, each refusal with its
-- reason: a request uploads where it may write (`not_found` where it cannot
-- see, `forbidden`), and the conversation takes the file (pgchat.upload_check:
-- `uploads_disabled`, `mime_type_not_allowed`, `payload_too_large` against its
-- max_upload_bytes, else the server's `pgchat.max_upload_bytes`, set by the
-- server for its requests). On update, for requests,
-- only the completion may change (pending → ready, with its thumbnail and size
-- in pixels); what was declared stays. (Operators in psql may fix rows.)
CREATE OR REPLACE FUNCTION pgchat.tg_attachment_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.storage_key := 'attachments/' || NEW.conversation_id || '/' || NEW.id;
    NEW.status := 'pending';
    NEW.completed_at := NULL;
    NEW.thumbnail_key := NULL;
    NEW.width := NULL;
    NEW.height := NULL;
    IF auth.uid() IS NOT NULL THEN
      IF NOT pgchat.can_read(NEW.conversation_id, auth.uid(), auth.role()) THEN
        PERFORM pgchat.refuse('not_found');
      ELSIF NOT pgchat.can_write(NEW.conversation_id, auth.uid(), auth.role()) THEN
        PERFORM pgchat.refuse('forbidden', 'you may not post in this conversation');
      END IF;
    END IF;
    PERFORM pgchat.upload_check(NEW.conversation_id, NEW.mime_type, NEW.size,
      nullif(current_setting('pgchat.max_upload_bytes', true), '')::numeric);
    RETURN NEW;
  END IF;
  IF auth.uid() IS NULL THEN
    RETURN NEW;
  END IF;
  IF (NEW.id, NEW.conversation_id, NEW.uploader_id, NEW.filename, NEW.mime_type, NEW.kind,
      NEW.size, NEW.storage_key, NEW.created_at)
     IS DISTINCT FROM
     (OLD.id, OLD.conversation_id, OLD.uploader_id, OLD.filename, OLD.mime_type, OLD.kind,
      OLD.size, OLD.storage_key, OLD.created_at) THEN
    RAISE check_violation USING MESSAGE = 'an attachment''s declared properties cannot change';
  END IF;
  IF OLD.status = 'ready' AND NEW.status <> 'ready' THEN
    RAISE check_violation USING MESSAGE = 'a completed attachment stays complete';
  END IF;
  IF NEW.thumbnail_key IS NOT NULL AND NEW.thumbnail_key <> NEW.storage_key || '.thumb.jpg' THEN
    RAISE check_violation USING MESSAGE = 'a thumbnail is stored beside its attachment';
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS attachments_rules ON attachments;
CREATE TRIGGER attachments_rules BEFORE INSERT OR UPDATE ON attachments
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_attachment_rules();

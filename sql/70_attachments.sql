-- Attachments: the rules that hold however a row is written. The bytes live
-- in the blob store (src/storage/); these rows say what they are, whose they
-- are and where they may be attached. RLS is in policies/attachments.sql.

-- A conversation's upload settings: `allow_file_uploads` (default true) and
-- `max_upload_bytes` (null: the server's default), read from its settings
-- whatever its kind (rooms set them through the rooms API).
CREATE OR REPLACE FUNCTION pgchat.upload_settings(conv uuid) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'allow_file_uploads', CASE WHEN jsonb_typeof(c.settings -> 'allow_file_uploads') = 'boolean'
                               THEN (c.settings ->> 'allow_file_uploads')::boolean ELSE true END,
    'max_upload_bytes', CASE WHEN jsonb_typeof(c.settings -> 'max_upload_bytes') = 'number'
                             THEN c.settings -> 'max_upload_bytes' END)
    FROM conversations c WHERE c.id = conv
$$;

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

-- On insert the database decides where the bytes go (a request never names a
-- storage key, so it cannot point at another upload's bytes), the row starts
-- pending, and the conversation's settings apply. On update, for requests,
-- only the completion may change (pending → ready, with its thumbnail and size
-- in pixels); what was declared stays. (Operators in psql may fix rows.)
CREATE OR REPLACE FUNCTION pgchat.tg_attachment_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  s jsonb;
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.storage_key := 'attachments/' || NEW.conversation_id || '/' || NEW.id;
    NEW.status := 'pending';
    NEW.completed_at := NULL;
    NEW.thumbnail_key := NULL;
    NEW.width := NULL;
    NEW.height := NULL;
    s := pgchat.upload_settings(NEW.conversation_id);
    IF s IS NOT NULL AND NOT (s ->> 'allow_file_uploads')::boolean THEN
      RAISE insufficient_privilege USING MESSAGE = 'file uploads are turned off in this conversation';
    END IF;
    IF s ->> 'max_upload_bytes' IS NOT NULL AND NEW.size > (s ->> 'max_upload_bytes')::numeric THEN
      RAISE check_violation USING MESSAGE = 'the file is larger than this conversation allows';
    END IF;
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

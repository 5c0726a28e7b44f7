-- Committed changes reach the realtime listener as NOTIFY on channel 'pgchat'.
-- The payload names the table ("t"), the event ("ev"), the conversation ("c")
-- and its change_seq ("cs"), and carries the row in wire shape ("row") when the
-- whole payload fits under NOTIFY's 8000-byte limit; otherwise it carries ids
-- only and the listener fetches the row. NOTIFY is transactional: nothing is
-- announced that did not commit, and notifications arrive in commit order.

CREATE OR REPLACE FUNCTION pgchat.notify(payload jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  body text := payload::text;
BEGIN
  IF octet_length(body) > 7900 THEN
    body := (payload - 'row' || jsonb_build_object('big', true))::text;
  END IF;
  PERFORM pg_notify('pgchat', body);
END $$;

CREATE OR REPLACE FUNCTION pgchat.tg_message_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM pgchat.notify(jsonb_build_object(
    't', 'message',
    -- resume replays reactions and pins as message_updated (the row as it is now)
    'ev', CASE WHEN TG_OP = 'INSERT' THEN 'message_new'
               WHEN NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN 'message_deleted'
               WHEN NEW.reactions IS DISTINCT FROM OLD.reactions THEN 'reaction'
               WHEN NEW.pinned_at IS DISTINCT FROM OLD.pinned_at
                 THEN CASE WHEN NEW.pinned_at IS NULL THEN 'message_unpinned' ELSE 'message_pinned' END
               ELSE 'message_updated' END,
    'c', NEW.conversation_id,
    'cs', NEW.change_seq,
    'id', NEW.id,
    'internal', NEW.internal,
    'row', pgchat.message_json(NEW)));
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chat_messages_notify ON chat_messages;
CREATE TRIGGER chat_messages_notify AFTER INSERT OR UPDATE ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_message_notify();

CREATE OR REPLACE FUNCTION pgchat.tg_session_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM pgchat.notify(jsonb_build_object(
    't', 'session',
    'ev', 'session_updated',
    'c', NEW.conversation_id,
    'cs', NEW.change_seq,
    'id', NEW.id,
    -- who must hear of it on their inbox topic
    'users', jsonb_build_array(NEW.customer_id, NEW.agent_id)
             || CASE WHEN TG_OP = 'UPDATE' AND OLD.agent_id IS DISTINCT FROM NEW.agent_id
                     THEN jsonb_build_array(OLD.agent_id) ELSE '[]'::jsonb END,
    'row', pgchat.session_json(NEW)));
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_notify ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_notify AFTER INSERT OR UPDATE ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_notify();

CREATE OR REPLACE FUNCTION pgchat.member_event(change text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE change
    WHEN 'joined' THEN 'member_joined'
    WHEN 'left' THEN 'member_left'
    WHEN 'read' THEN 'read'
    WHEN 'delivered' THEN 'delivered'
    ELSE 'member_updated' END
$$;

CREATE OR REPLACE FUNCTION pgchat.tg_member_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.change_seq <> OLD.change_seq THEN
    PERFORM pgchat.notify(jsonb_build_object(
      't', 'member',
      'ev', pgchat.member_event(NEW.last_change),
      'c', NEW.conversation_id,
      'cs', NEW.change_seq,
      'user_id', NEW.user_id,
      'row', pgchat.member_json(NEW)));
  END IF;
  IF TG_OP = 'INSERT' OR (NEW.pinned, NEW.muted, NEW.archived, NEW.deleted_at, NEW.last_read_seq)
       IS DISTINCT FROM (OLD.pinned, OLD.muted, OLD.archived, OLD.deleted_at, OLD.last_read_seq) THEN
    -- the member's own devices: flags and read position, on their inbox topic
    PERFORM pgchat.notify(jsonb_build_object(
      't', 'flags',
      'ev', 'flags',
      'c', NEW.conversation_id,
      'user_id', NEW.user_id,
      'row', pgchat.flags_json(NEW)));
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS conversation_members_notify ON conversation_members;
CREATE TRIGGER conversation_members_notify AFTER INSERT OR UPDATE ON conversation_members
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_member_notify();

-- Committed changes reach the realtime listener as NOTIFY on channel 'pgchat'.
-- The payload names the kind of change ("t") and the conversation ("c").
-- Messages, the bulk of the traffic, are announced per statement with the
-- range of change_seqs written (see below). Sessions, members and rooms are
-- announced per row with the event ("ev"), the change_seq ("cs") and the row
-- in wire shape ("row") when the whole payload fits under NOTIFY's 8000-byte
-- limit; otherwise with ids only ("big") and the listener reads the row back. NOTIFY is transactional: nothing is
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

-- Messages are announced per statement and conversation, not per row: one
-- small payload naming the conversation and the change_seq range the statement
-- wrote ({"t": "messages", "c", "lo", "hi", "n"}: `n` rows inserted, 0 for an
-- update). A batch of sends is one INSERT, so one notification per
-- conversation in it, however many rows. Updates (edits, reactions, pins,
-- deletes) also say which live event each change was ("ev": change_seq →
-- reaction | message_pinned | message_unpinned | message_deleted |
-- message_updated). Both carry each row as the statement left it ("rows":
-- change_seq → wire JSON) when the payload fits under NOTIFY's 8000 bytes
-- (about a dozen short messages; a row's JSON is ~600 bytes and its body, and
-- rows that cannot fit are not built only to be dropped): the listener
-- then delivers every change as it was, even when the row changed again before
-- it could read it back (a read-back sees only the latest version), and needs
-- no read at all — the common send, a few short messages, costs the listener
-- no query. Too big, the rows are left out and the listener reads the range
-- back in one set-based query (pgchat.changes); a replay reads every change as
-- the row is now.
--
-- One function for both triggers: each names its new rows `changed`.
CREATE OR REPLACE FUNCTION pgchat.tg_messages_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r record;
  rows jsonb;
  ev jsonb;
  note jsonb;
BEGIN
  FOR r IN
    SELECT conversation_id, min(change_seq) AS lo, max(change_seq) AS hi, count(*) AS n,
           coalesce(sum(octet_length(body)), 0) AS bytes
      FROM changed GROUP BY conversation_id ORDER BY min(change_seq)
  LOOP
    note := jsonb_build_object('t', 'messages', 'c', r.conversation_id, 'lo', r.lo, 'hi', r.hi,
                               'n', CASE WHEN TG_OP = 'INSERT' THEN r.n ELSE 0 END);
    ev := NULL;
    IF TG_OP = 'UPDATE' AND r.n <= 100 THEN
      SELECT jsonb_object_agg(n.change_seq::text,
               CASE WHEN o.moderation = 'held' AND n.moderation = 'approved' THEN 'message_new'
                    WHEN n.deleted_at IS NOT NULL AND o.deleted_at IS NULL THEN 'message_deleted'
                    WHEN n.reactions IS DISTINCT FROM o.reactions THEN 'reaction'
                    WHEN n.pinned_at IS DISTINCT FROM o.pinned_at
                      THEN CASE WHEN n.pinned_at IS NULL THEN 'message_unpinned' ELSE 'message_pinned' END
                    ELSE 'message_updated' END)
        INTO ev
        FROM changed n JOIN before_update o ON o.id = n.id
       WHERE n.conversation_id = r.conversation_id;
    END IF;
    rows := NULL;
    IF r.bytes + 600 * r.n <= 7880 THEN
      SELECT jsonb_object_agg(m.change_seq::text,
               pgchat.message_wire(m, d.sender_name, d.reply_preview, d.attachment_json))
        INTO rows
        FROM changed m
       CROSS JOIN LATERAL pgchat.message_decor(m.sender_id, m.conversation_id, m.reply_to, m.internal,
                                               m.attachment_id) d
       WHERE m.conversation_id = r.conversation_id;
    END IF;
    IF rows IS NOT NULL
       AND octet_length((note || jsonb_build_object('rows', rows))::text) + coalesce(octet_length(ev::text), 0)
           <= 7880 THEN
      note := note || jsonb_build_object('rows', rows);
    END IF;
    IF ev IS NOT NULL THEN
      note := note || jsonb_build_object('ev', ev);
    END IF;
    PERFORM pg_notify('pgchat', note::text);
  END LOOP;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chat_messages_notify ON chat_messages;
DROP FUNCTION IF EXISTS pgchat.tg_message_notify();
DROP TRIGGER IF EXISTS chat_messages_notify_insert ON chat_messages;
CREATE TRIGGER chat_messages_notify_insert AFTER INSERT ON chat_messages
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_messages_changed();
DROP TRIGGER IF EXISTS chat_messages_notify_update ON chat_messages;
CREATE TRIGGER chat_messages_notify_update AFTER UPDATE ON chat_messages
  REFERENCING OLD TABLE AS before_update NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_messages_changed();
DROP FUNCTION IF EXISTS pgchat.tg_messages_inserted();
DROP FUNCTION IF EXISTS pgchat.tg_messages_updated();

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
    -- where it was: agents who saw it waiting, or had it, learn that it left them
    'was', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
    'was_agent', CASE WHEN TG_OP = 'UPDATE' THEN OLD.agent_id END,
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

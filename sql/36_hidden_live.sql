-- Delete for me, live: a reader who hides a message (hidden_messages) is told
-- on their own sockets of its conversation (`message_hidden`), and each of
-- their sessions adds it to the set of messages whose later changes (edits,
-- reactions, votes) it drops for them — the rule pgchat.changes applies on
-- resume, applied to live delivery without a query per delivery.
CREATE OR REPLACE FUNCTION pgchat.tg_hidden_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM pg_notify('pgchat', jsonb_build_object(
    't', 'hidden', 'c', m.conversation_id, 'user_id', NEW.user_id, 'message_id', NEW.message_id)::text)
    FROM chat_messages m WHERE m.id = NEW.message_id;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS hidden_messages_notify ON hidden_messages;
CREATE TRIGGER hidden_messages_notify AFTER INSERT ON hidden_messages
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_hidden_notify();

-- The messages of `conv` the caller hid for themselves: what a new
-- subscription's session starts its set from (after registering, so a hide
-- committed meanwhile arrives as `message_hidden`).
CREATE OR REPLACE FUNCTION pgchat.my_hidden_in(conv uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT h.message_id FROM hidden_messages h JOIN chat_messages m ON m.id = h.message_id
   WHERE h.user_id = auth.uid() AND m.conversation_id = conv
$$;

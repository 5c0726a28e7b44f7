-- Per-message delivered and read times in direct conversations (issue 21,
-- item 4), derived from the two cursors. A cursor only moves forward, and
-- never past the newest message its member can see (pgchat.cursor_limit), so
-- the first move of a participant's cursor to or past a message's seq is the
-- moment that message was delivered to them (or read): cursor_marks keeps each
-- move (one row per move, written here), and the time of a message is the
-- first mark at or above its seq (one index probe). Rooms are not logged:
-- their receipts stay counts and lists (pgchat.receipts_json).

-- Logs a participant's cursor moves in a direct conversation. SECURITY
-- DEFINER: members move their cursors as themselves; cursor_marks is written
-- by this trigger alone.
CREATE OR REPLACE FUNCTION pgchat.tg_cursor_marks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF (SELECT c.kind FROM conversations c WHERE c.id = NEW.conversation_id) = 'direct' THEN
    INSERT INTO cursor_marks (conversation_id, user_id, cursor, seq)
    SELECT NEW.conversation_id, NEW.user_id, x.cursor, x.seq
      FROM (VALUES ('delivered', NEW.last_delivered_seq, OLD.last_delivered_seq),
                   ('read', NEW.last_read_seq, OLD.last_read_seq)) x(cursor, seq, was)
     WHERE x.seq > x.was
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS conversation_members_cursor_marks ON conversation_members;
CREATE TRIGGER conversation_members_cursor_marks
  AFTER UPDATE OF last_read_seq, last_delivered_seq ON conversation_members
  FOR EACH ROW
  WHEN (NEW.last_read_seq > OLD.last_read_seq OR NEW.last_delivered_seq > OLD.last_delivered_seq)
  EXECUTE FUNCTION pgchat.tg_cursor_marks();

-- pgchat.cursor_reached_at (the lookup) is in sql/05_json.sql, beside pgchat.receipts_json, its reader.

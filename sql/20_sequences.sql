-- Sequence numbers are the backbone of realtime delivery: every row change that
-- belongs to a conversation takes the next value of conversations.last_seq in a
-- BEFORE trigger, inside the writing transaction. The row lock on the
-- conversation makes commit order equal seq order, so a client's cursor is one
-- number and resume is `change_seq > cursor`. Triggers (not application code)
-- do it so that rows written with psql get their numbers too.

CREATE OR REPLACE FUNCTION pgchat.next_seq(conv uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  n bigint;
BEGIN
  UPDATE conversations SET last_seq = last_seq + 1 WHERE id = conv RETURNING last_seq INTO n;
  IF n IS NULL THEN
    RAISE foreign_key_violation USING MESSAGE = 'conversation ' || coalesce(conv::text, 'NULL') || ' does not exist';
  END IF;
  RETURN n;
END $$;

-- Messages: seq on insert (also the conversation's last message), change_seq
-- on every change. A batch of sends (pgchat.send_batch) reserves a whole
-- conversation's numbers with one UPDATE and inserts its rows already numbered,
-- saying so with the transaction-local setting pgchat.seq_reserved: updating
-- the conversation row once per message would cost a new row version each
-- (and walking the chain of them, quadratic within one transaction). Only the
-- server sets that setting, as it sets request.jwt.claims; UNIQUE
-- (conversation_id, seq) still refuses a number taken twice.
-- A request's message says why it may not be written (pgchat.refuse) before
-- RLS refuses it without a reason: the sender's own message (not a system
-- notice) is checked by the write rule, an internal note needs staff, a reply
-- names a message of the same conversation. Server writes (no claims) pass.
CREATE OR REPLACE FUNCTION pgchat.message_write_check(m chat_messages) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  refusal text;
BEGIN
  IF auth.uid() IS NULL OR m.sender_id IS DISTINCT FROM auth.uid() OR m.sender_role = 'system' THEN
    RETURN;
  END IF;
  IF m.internal AND NOT auth.is_staff() THEN
    PERFORM pgchat.refuse('staff_only');
  END IF;
  refusal := pgchat.write_refusal(m.conversation_id, auth.uid(), auth.role());
  IF refusal IS NOT NULL THEN
    PERFORM pgchat.refuse(refusal);
  ELSIF m.reply_to IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM chat_messages p WHERE p.id = m.reply_to AND p.conversation_id = m.conversation_id) THEN
    PERFORM pgchat.refuse('invalid_reply_to');
  END IF;
END $$;

CREATE OR REPLACE FUNCTION pgchat.tg_message_seq_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  c_kind text;
  c_settings jsonb;
BEGIN
  IF NEW.seq IS NOT NULL AND current_setting('pgchat.seq_reserved', true) = 'on' THEN
    -- a send batch: its plan checked every row already (sql/25_send_batch.sql)
    SELECT kind, settings INTO c_kind, c_settings FROM conversations WHERE id = NEW.conversation_id;
  ELSE
    PERFORM pgchat.message_write_check(NEW);
    -- the content filter (sql/47_moderation.sql): refuses, holds or flags;
    -- a held message is nobody's last message until it is approved
    NEW.moderation := pgchat.moderation_verdict(NEW);
    UPDATE conversations
       SET last_seq = last_seq + 1,
           last_message_seq = CASE WHEN NEW.internal OR NEW.moderation = 'held'
                                   THEN last_message_seq ELSE last_seq + 1 END,
           last_message_at = CASE WHEN NEW.internal OR NEW.moderation = 'held'
                                  THEN last_message_at ELSE now() END
     WHERE id = NEW.conversation_id
    RETURNING last_seq, kind, settings INTO NEW.seq, c_kind, c_settings;
  END IF;
  IF NOT FOUND THEN
    RAISE foreign_key_violation USING MESSAGE = 'conversation ' || coalesce(NEW.conversation_id::text, 'NULL') || ' does not exist';
  END IF;
  NEW.change_seq := NEW.seq;
  -- the room's rules for a new message (sql/45_rooms.sql), from the row read here
  RETURN pgchat.message_insert_rules(NEW, c_kind, c_settings);
END $$;

CREATE OR REPLACE FUNCTION pgchat.tg_message_seq_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF NEW.seq <> OLD.seq OR NEW.conversation_id <> OLD.conversation_id OR NEW.id <> OLD.id THEN
    RAISE check_violation USING MESSAGE = 'a message''s id, conversation and seq are immutable';
  END IF;
  IF OLD.moderation = 'held' AND NEW.moderation = 'approved' THEN
    -- a held message released by a reviewer is new to everyone but its
    -- sender: it takes the next seq (the end of the conversation, where
    -- readers' cursors expect new messages) and becomes the last message
    UPDATE conversations
       SET last_seq = last_seq + 1,
           last_message_seq = CASE WHEN NEW.internal THEN last_message_seq ELSE last_seq + 1 END,
           last_message_at = CASE WHEN NEW.internal THEN last_message_at ELSE now() END
     WHERE id = NEW.conversation_id
    RETURNING last_seq INTO NEW.seq;
    NEW.change_seq := NEW.seq;
    RETURN NEW;
  END IF;
  NEW.change_seq := pgchat.next_seq(NEW.conversation_id);
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS chat_messages_seq ON chat_messages;
DROP FUNCTION IF EXISTS pgchat.tg_message_seq();
DROP TRIGGER IF EXISTS chat_messages_seq_insert ON chat_messages;
CREATE TRIGGER chat_messages_seq_insert BEFORE INSERT ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_message_seq_insert();
DROP TRIGGER IF EXISTS chat_messages_seq_update ON chat_messages;
CREATE TRIGGER chat_messages_seq_update BEFORE UPDATE ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_message_seq_update();

-- Sessions: every change is visible to the conversation, so every change takes a change_seq.
CREATE OR REPLACE FUNCTION pgchat.tg_session_seq() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.change_seq := pgchat.next_seq(NEW.conversation_id);
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS live_chat_sessions_seq ON live_chat_sessions;
CREATE TRIGGER live_chat_sessions_seq BEFORE INSERT OR UPDATE ON live_chat_sessions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_session_seq();

-- Members: changes the other members see (join, leave, ban, role, silence, read
-- and delivered cursors) take a change_seq and record which change it was; the
-- member's private flags (pinned, muted, archived, deleted) do not: they
-- raise the member's own flags_version instead (the read cursor raises both).
CREATE OR REPLACE FUNCTION pgchat.tg_member_seq() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND (NEW.pinned, NEW.muted, NEW.archived, NEW.deleted_at, NEW.last_read_seq)
         IS DISTINCT FROM (OLD.pinned, OLD.muted, OLD.archived, OLD.deleted_at, OLD.last_read_seq) THEN
    NEW.flags_version := OLD.flags_version + 1;
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW.last_change := 'joined';
  ELSIF (NEW.left_at IS NOT NULL AND OLD.left_at IS NULL) OR (NEW.banned AND NOT OLD.banned) THEN
    NEW.last_change := 'left';
  ELSIF (NEW.left_at IS NULL AND OLD.left_at IS NOT NULL)
        OR (OLD.banned AND NOT NEW.banned AND NEW.left_at IS NULL) THEN
    NEW.last_change := 'joined';
  ELSIF NEW.role <> OLD.role THEN
    NEW.last_change := 'role';
  ELSIF NEW.silenced_until IS DISTINCT FROM OLD.silenced_until THEN
    NEW.last_change := 'silenced';
  ELSIF NEW.banned <> OLD.banned THEN
    -- lifted while away: not back in, but the others see the change
    NEW.last_change := 'unbanned';
  ELSIF NEW.last_read_seq <> OLD.last_read_seq THEN
    NEW.last_change := 'read';
  ELSIF NEW.last_delivered_seq <> OLD.last_delivered_seq THEN
    NEW.last_change := 'delivered';
  ELSE
    NEW.change_seq := OLD.change_seq;
    NEW.last_change := OLD.last_change;
    RETURN NEW;
  END IF;
  NEW.change_seq := pgchat.next_seq(NEW.conversation_id);
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS conversation_members_seq ON conversation_members;
CREATE TRIGGER conversation_members_seq BEFORE INSERT OR UPDATE ON conversation_members
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_member_seq();

-- Direct conversations, rooms and message features: who may do what in a room
-- (roles ranked owner > admin > moderator > member), the rules that hold
-- however a row is written (API, psql, a job), reactions, pins, tombstones,
-- room metadata changes as resumable events, and the retention purge.
-- The policies in policies/ call the helpers; the triggers are the authority.

-- ── helpers ─────────────────────────────────────────────────────────────────

CREATE OR REPLACE FUNCTION pgchat.is_room(kind text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT kind IN ('public', 'private', 'group', 'announcement')
$$;

-- Rooms anyone may find and join.
CREATE OR REPLACE FUNCTION pgchat.is_open_room(kind text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT kind IN ('public', 'announcement')
$$;

CREATE OR REPLACE FUNCTION pgchat.role_rank(role text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE role WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'moderator' THEN 2
                   WHEN 'member' THEN 1 WHEN 'customer' THEN 1 WHEN 'agent' THEN 1 ELSE 0 END
$$;

-- The rank of `uid` in `conv`: 0 unless a current member (not left, not banned).
CREATE OR REPLACE FUNCTION pgchat.member_rank(conv uuid, uid text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce((SELECT pgchat.role_rank(m.role) FROM conversation_members m
                    WHERE m.conversation_id = conv AND m.user_id = uid
                      AND m.left_at IS NULL AND NOT m.banned), 0)
$$;

-- Moderators (and above) of a room remove others' messages and members; platform admins anywhere.
CREATE OR REPLACE FUNCTION pgchat.can_moderate(conv uuid, uid text, urole text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT uid IS NOT NULL AND (urole = 'admin' OR (
    pgchat.is_room((SELECT c.kind FROM conversations c WHERE c.id = conv))
    AND pgchat.member_rank(conv, uid) >= 2))
$$;

-- Pinning: moderators of a room; either member of a direct conversation.
CREATE OR REPLACE FUNCTION pgchat.can_pin(conv uuid, uid text, urole text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT pgchat.can_moderate(conv, uid, urole) OR (
    (SELECT c.kind FROM conversations c WHERE c.id = conv) = 'direct'
    AND pgchat.member_rank(conv, uid) >= 1)
$$;

-- Reacting: a current member (or an admin) who is not silenced.
CREATE OR REPLACE FUNCTION pgchat.can_react(conv uuid, uid text, urole text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT uid IS NOT NULL AND (urole = 'admin' OR EXISTS (
    SELECT 1 FROM conversation_members m
     WHERE m.conversation_id = conv AND m.user_id = uid AND m.left_at IS NULL AND NOT m.banned
       AND (m.silenced_until IS NULL OR m.silenced_until <= now())))
$$;

-- The unique key of the direct conversation of two users (order-free).
CREATE OR REPLACE FUNCTION pgchat.direct_key(a text, b text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_array(least(a COLLATE "C", b COLLATE "C"), greatest(a COLLATE "C", b COLLATE "C"))::text
$$;

-- Whether a user id is known (has made an authenticated request): users are
-- otherwise visible only to those who share a conversation with them.
CREATE OR REPLACE FUNCTION pgchat.user_exists(uid text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM users WHERE id = uid)
$$;

-- Whether the caller must ask to join `conv` rather than join it: an open
-- room whose settings say `require_approval`. Platform admins never ask.
-- (Whether they are a member already is the caller's to check.)
CREATE OR REPLACE FUNCTION pgchat.join_needs_approval(conv uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT auth.role() IS DISTINCT FROM 'admin' AND coalesce((
    SELECT pgchat.is_open_room(c.kind)
           AND (pgchat.room_settings(c.kind, c.settings) ->> 'require_approval')::boolean
      FROM conversations c WHERE c.id = conv), false)
$$;

-- Whether `actor` admitting `target` to `conv` is an approval: `target`
-- asked to join, and `actor` moderates the room (moderators and up).
CREATE OR REPLACE FUNCTION pgchat.is_approval(conv uuid, target text, actor text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT pgchat.member_rank(conv, actor) >= 2
     AND EXISTS (SELECT 1 FROM room_join_requests r
                  WHERE r.conversation_id = conv AND r.user_id = target)
$$;

-- May the caller add `target` to `conv` with `role`? (The INSERT policy of
-- conversation_members; joining, inviting and starting a direct conversation.)
CREATE OR REPLACE FUNCTION pgchat.can_add_member(conv uuid, target text, role text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT auth.uid() IS NOT NULL AND coalesce((
    SELECT CASE
      -- the creator of a direct conversation adds its other member
      WHEN c.kind = 'direct' THEN
        c.created_by = auth.uid() AND target <> auth.uid() AND role = 'member'
        AND c.direct_key = pgchat.direct_key(auth.uid(), target)
      WHEN NOT pgchat.is_room(c.kind) THEN false
      -- anyone joins an open room, as a member
      WHEN target = auth.uid() THEN pgchat.is_open_room(c.kind) AND role = 'member'
      -- a moderator approves someone's request to join, as a member
      WHEN role = 'member' AND pgchat.is_approval(conv, target, auth.uid()) THEN true
      -- a member invites (when the room allows it; admins always), as a member
      -- or with a role below their own (owners may name owners)
      ELSE pgchat.member_rank(conv, auth.uid()) >= 1
        AND ((pgchat.room_settings(c.kind, c.settings) ->> 'allow_invites')::boolean
             OR pgchat.member_rank(conv, auth.uid()) >= 3)
        AND (role = 'member' OR pgchat.role_rank(role) < pgchat.member_rank(conv, auth.uid())
             OR pgchat.member_rank(conv, auth.uid()) = 4)
        AND pgchat.role_rank(role) BETWEEN 1 AND 4 AND role NOT IN ('customer', 'agent')
    END
    FROM conversations c WHERE c.id = conv), false)
$$;

-- ── the room directory ──────────────────────────────────────────────────────

-- Rooms the caller may find: every open room (public, announcement) and the
-- private rooms and groups they belong to. A view with its owner's rights, so
-- an open room is listed before the caller is a member (the conversations
-- policy shows members only); the WHERE clause applies the caller's identity.
CREATE OR REPLACE VIEW pgchat.room_directory WITH (security_barrier = true) AS
  SELECT c.id, c.kind, c.title, c.created_at, pgchat.room_json(c) AS room
    FROM conversations c
   WHERE pgchat.is_open_room(c.kind)
      OR (c.kind IN ('private', 'group') AND pgchat.can_read(c.id, auth.uid(), auth.role()));

-- ── membership rules ────────────────────────────────────────────────────────

-- An invitation (a new member, or one who left invited back) by a member of
-- rank `actor_rank`: members invite when the room allows it, its admins
-- always; the role given is below the inviter's own (owners may name owners).
CREATE OR REPLACE FUNCTION pgchat.invite_check(c conversations, actor_rank integer, new_role text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF actor_rank < 1 THEN
    PERFORM pgchat.refuse('not_a_member');
  END IF;
  IF NOT ((pgchat.room_settings(c.kind, c.settings) ->> 'allow_invites')::boolean OR actor_rank >= 3) THEN
    PERFORM pgchat.refuse('invites_disabled');
  END IF;
  IF new_role <> 'member' AND pgchat.role_rank(new_role) >= actor_rank AND actor_rank < 4 THEN
    PERFORM pgchat.refuse('role_too_high');
  END IF;
END $$;

-- Rules of room membership that hold whoever writes: capacity (max_members,
-- 50 for a group) always; for requests, the rank rules: a moderator acts on
-- members, an admin on moderators and members, an owner on everyone below
-- owner, and nobody grants a role at or above their own (owners may name
-- owners). Members may not silence, ban or re-admit themselves into a closed
-- room, nor touch another member's private flags. Platform admins are exempt
-- from the rank rules. Support conversations have their own rules.
CREATE OR REPLACE FUNCTION pgchat.tg_member_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  c conversations;
  actor text := auth.uid();
  actor_rank integer;
  active integer;
  max_members integer;
BEGIN
  -- one's own flags and read cursors (or a server job's cursor updates):
  -- nothing to check, and no lookup on this frequent path
  IF TG_OP = 'UPDATE'
     AND (NEW.role, NEW.banned, NEW.left_at, NEW.silenced_until)
         IS NOT DISTINCT FROM (OLD.role, OLD.banned, OLD.left_at, OLD.silenced_until)
     AND (actor IS NULL OR NEW.user_id = actor) THEN
    RETURN NEW;
  END IF;
  SELECT * INTO c FROM conversations WHERE id = NEW.conversation_id;
  IF NOT FOUND OR NOT (pgchat.is_room(c.kind) OR c.kind = 'direct') THEN
    RETURN NEW;
  END IF;
  IF (c.kind = 'direct' AND NEW.role <> 'member')
     OR NEW.role NOT IN ('owner', 'admin', 'moderator', 'member') THEN
    RAISE check_violation USING MESSAGE = 'no role ' || NEW.role || ' in a ' || c.kind || ' conversation';
  END IF;

  -- (each refusal below says why: pgchat.refuse, sql/10_visibility.sql)
  -- joining by oneself a room that requires approval: ask instead (its
  -- creator, who adds themselves as its owner, does not)
  IF TG_OP = 'INSERT' AND actor IS NOT NULL AND NEW.user_id = actor AND NEW.role = 'member'
     AND pgchat.is_open_room(c.kind) AND c.created_by IS DISTINCT FROM actor
     AND pgchat.join_needs_approval(NEW.conversation_id) THEN
    PERFORM pgchat.refuse('approval_required');
  END IF;
  IF TG_OP = 'INSERT' AND actor IS NOT NULL AND NEW.user_id <> actor AND pgchat.is_room(c.kind) THEN
    -- an invitation: by a member (when the room allows it; its admins always),
    -- with a role below their own (owners may name owners), of someone who
    -- exists and is not in the room yet (who left comes back by an UPDATE);
    -- or an approval: a moderator admits, as a member, someone who asked
    IF auth.role() <> 'admin'
       AND NOT (NEW.role = 'member' AND pgchat.is_approval(NEW.conversation_id, NEW.user_id, actor)) THEN
      PERFORM pgchat.invite_check(c, pgchat.member_rank(NEW.conversation_id, actor), NEW.role);
    END IF;
    IF NOT pgchat.user_exists(NEW.user_id) THEN
      PERFORM pgchat.refuse('user_not_found');
    END IF;
    IF EXISTS (SELECT 1 FROM conversation_members m
                WHERE m.conversation_id = NEW.conversation_id AND m.user_id = NEW.user_id
                  AND m.left_at IS NULL AND NOT m.banned) THEN
      PERFORM pgchat.refuse('already_member');
    END IF;
  END IF;
  IF TG_OP = 'UPDATE' AND actor IS NOT NULL AND auth.role() <> 'admin' THEN
    IF NEW.user_id = actor THEN
      IF OLD.left_at IS NOT NULL AND NEW.left_at IS NULL THEN
        IF NEW.banned THEN
          PERFORM pgchat.refuse('banned');
        END IF;
        IF NOT pgchat.is_open_room(c.kind) THEN
          PERFORM pgchat.refuse('not_found');
        END IF;
        IF pgchat.join_needs_approval(NEW.conversation_id) THEN
          PERFORM pgchat.refuse('approval_required');
        END IF;
        -- whoever comes back by themselves comes back as a member
        NEW.role := 'member';
      ELSIF NEW.silenced_until IS DISTINCT FROM OLD.silenced_until OR (NEW.banned AND NOT OLD.banned) THEN
        -- (one's own role and unbanning: tg_member_guard, any conversation)
        PERFORM pgchat.refuse('not_yourself');
      END IF;
      IF OLD.left_at IS NULL AND NEW.left_at IS NOT NULL AND OLD.role = 'owner'
         AND NOT EXISTS (SELECT 1 FROM conversation_members o
                          WHERE o.conversation_id = NEW.conversation_id AND o.user_id <> actor
                            AND o.role = 'owner' AND o.left_at IS NULL AND NOT o.banned)
         AND EXISTS (SELECT 1 FROM conversation_members o
                      WHERE o.conversation_id = NEW.conversation_id AND o.user_id <> actor
                        AND o.left_at IS NULL AND NOT o.banned) THEN
        PERFORM pgchat.refuse('last_owner');
      END IF;
    ELSE
      actor_rank := pgchat.member_rank(NEW.conversation_id, actor);
      IF (NEW.pinned, NEW.muted, NEW.archived, NEW.deleted_at, NEW.hidden_before_seq,
          NEW.last_read_seq, NEW.last_delivered_seq)
         IS DISTINCT FROM
         (OLD.pinned, OLD.muted, OLD.archived, OLD.deleted_at, OLD.hidden_before_seq,
          OLD.last_read_seq, OLD.last_delivered_seq) THEN
        PERFORM pgchat.refuse('not_yours');
      END IF;
      IF OLD.left_at IS NOT NULL AND NEW.left_at IS NULL THEN
        -- inviting back someone who left or was removed (not while banned)
        IF NEW.banned THEN
          PERFORM pgchat.refuse('user_banned');
        END IF;
        IF NOT (NEW.role = 'member' AND pgchat.is_approval(NEW.conversation_id, NEW.user_id, actor)) THEN
          PERFORM pgchat.invite_check(c, actor_rank, NEW.role);
        END IF;
      ELSIF actor_rank < 2 THEN
        PERFORM pgchat.refuse('not_a_moderator');
      ELSIF pgchat.role_rank(OLD.role) >= actor_rank THEN
        PERFORM pgchat.refuse('outranked');
      END IF;
      IF NEW.role <> OLD.role AND pgchat.role_rank(NEW.role) >= actor_rank AND actor_rank < 4 THEN
        PERFORM pgchat.refuse('role_too_high');
      END IF;
    END IF;
  END IF;

  -- capacity, whenever someone becomes a current member
  IF pgchat.is_room(c.kind) AND NEW.left_at IS NULL AND NOT NEW.banned
     AND (TG_OP = 'INSERT' OR OLD.left_at IS NOT NULL OR OLD.banned) THEN
    max_members := (pgchat.room_settings(c.kind, c.settings) ->> 'max_members')::integer;
    IF max_members IS NOT NULL THEN
      -- serialize joins of this room: the count below sees every committed join
      PERFORM 1 FROM conversations WHERE id = NEW.conversation_id FOR NO KEY UPDATE;
      SELECT count(*) INTO active FROM conversation_members m
       WHERE m.conversation_id = NEW.conversation_id AND m.user_id <> NEW.user_id
         AND m.left_at IS NULL AND NOT m.banned;
      IF active >= max_members THEN
        PERFORM pgchat.refuse('room_full', 'this room is full (' || max_members || ' members)');
      END IF;
    END IF;
    -- whoever becomes a member (approved, invited, joined once approval was
    -- turned off) no longer waits: their request to join goes
    DELETE FROM room_join_requests
     WHERE conversation_id = NEW.conversation_id AND user_id = NEW.user_id;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS conversation_members_rules ON conversation_members;
CREATE TRIGGER conversation_members_rules BEFORE INSERT OR UPDATE ON conversation_members
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_member_rules();

-- ── message rules ───────────────────────────────────────────────────────────

-- A new message, under its room's settings: anonymous posting stamps it; with
-- file uploads off, no message carries an attachment (`uploads_disabled`).
-- Whatever the room, a message of a file's kind carries a file
-- (`attachment_required`), an attachment is one the sender may send, its
-- kind the message's (pgchat.message_attachment, sql/70_attachments.sql), and
-- a poll carries its poll, checked and stored without votes (sql/46_polls.sql).
-- Called by the numbering trigger (sql/20_sequences.sql), which has just read
-- the conversation row.
CREATE OR REPLACE FUNCTION pgchat.message_insert_rules(m chat_messages, c_kind text, c_settings jsonb)
RETURNS chat_messages LANGUAGE plpgsql AS $$
DECLARE
  s jsonb;
BEGIN
  -- a message of a file's kind carries its file (an image without one is not an image)
  IF m.kind IN ('image', 'file', 'audio', 'video') AND m.attachment_id IS NULL THEN
    PERFORM pgchat.refuse('attachment_required',
      'a message of kind ' || m.kind || ' carries its file: send its attachment_id');
  END IF;
  IF m.kind = 'poll' OR m.poll IS NOT NULL THEN
    m.poll := pgchat.poll_new(m.id, m.kind, m.poll);
  END IF;
  m.reactions := '{}'::jsonb;
  m.anonymous := false;
  IF pgchat.is_room(c_kind) AND c_settings <> '{}'::jsonb THEN
    s := pgchat.room_settings(c_kind, c_settings);
    IF NOT (s ->> 'allow_file_uploads')::boolean AND m.attachment_id IS NOT NULL THEN
      PERFORM pgchat.refuse('uploads_disabled', 'file uploads are turned off in this room');
    END IF;
  END IF;
  IF m.attachment_id IS NOT NULL THEN
    m := pgchat.message_attachment(m);
  END IF;
  IF m.kind NOT IN ('system', 'ai_response') AND (s ->> 'anonymous_posting')::boolean THEN
    m.anonymous := true;
  END IF;
  RETURN m;
END $$;

-- Who may ask for what, for requests, whatever the values (so a repeat that
-- would change nothing is refused alike): an edit (body, edited_at, metadata)
-- by its sender; a deletion by the sender or a moderator; a pin by those who
-- may pin. One trigger per intent, by the columns a statement sets (they fire
-- before chat_messages_rules: triggers fire in name order).
CREATE OR REPLACE FUNCTION pgchat.tg_message_intent() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  actor text := auth.uid();
BEGIN
  IF actor IS NULL THEN
    RETURN NEW;
  END IF;
  CASE TG_ARGV[0]
    WHEN 'edit' THEN
      IF OLD.sender_id IS DISTINCT FROM actor AND NOT (NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL) THEN
        PERFORM pgchat.refuse('not_your_message', 'you may only edit your own messages');
      END IF;
    WHEN 'delete' THEN
      IF NEW.deleted_at IS NOT NULL AND OLD.sender_id IS DISTINCT FROM actor
         AND NOT pgchat.can_moderate(NEW.conversation_id, actor, auth.role()) THEN
        PERFORM pgchat.refuse('not_your_message', 'only its sender or a moderator deletes a message');
      END IF;
    WHEN 'pin' THEN
      IF NOT pgchat.can_pin(NEW.conversation_id, actor, auth.role()) THEN
        PERFORM pgchat.refuse('not_a_moderator', 'only moderators pin messages here');
      END IF;
  END CASE;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS chat_messages_may_delete ON chat_messages;
CREATE TRIGGER chat_messages_may_delete BEFORE UPDATE OF deleted_at ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_message_intent('delete');
DROP TRIGGER IF EXISTS chat_messages_may_edit ON chat_messages;
CREATE TRIGGER chat_messages_may_edit BEFORE UPDATE OF body, edited_at, metadata ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_message_intent('edit');
DROP TRIGGER IF EXISTS chat_messages_may_pin ON chat_messages;
CREATE TRIGGER chat_messages_may_pin BEFORE UPDATE OF pinned_at, pinned_by ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_message_intent('pin');

-- What a change does, whoever writes: only the body (and metadata) changes in
-- an edit, whose sender must still be allowed to write; a tombstone stays one.
-- Each refusal says why (pgchat.refuse); the update policy lets every reader's
-- update reach these triggers for that, and its WITH CHECK still holds the row
-- to its sender or a pinner. A deletion always empties the message (body,
-- reactions, pin): a tombstone. An update that changes nothing (a repeated
-- request) is skipped: no change_seq, no event.
CREATE OR REPLACE FUNCTION pgchat.tg_message_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  actor text := auth.uid();
  arole text := auth.role();
  edited boolean;
BEGIN
  IF (NEW.sender_id, NEW.sender_role, NEW.client_msg_id, NEW.kind, NEW.reply_to, NEW.internal,
      NEW.created_at, NEW.attachment_id, NEW.anonymous)
     IS DISTINCT FROM
     (OLD.sender_id, OLD.sender_role, OLD.client_msg_id, OLD.kind, OLD.reply_to, OLD.internal,
      OLD.created_at, OLD.attachment_id, OLD.anonymous) AND actor IS NOT NULL THEN
    RAISE check_violation USING MESSAGE = 'only a message''s body can be edited';
  END IF;
  IF NEW.pinned_at IS DISTINCT FROM OLD.pinned_at THEN
    NEW.pinned_by := CASE WHEN NEW.pinned_at IS NULL THEN NULL ELSE coalesce(actor, NEW.pinned_by) END;
  ELSE
    NEW.pinned_by := OLD.pinned_by;
  END IF;
  IF (NEW.body, NEW.edited_at, NEW.deleted_at, NEW.metadata, NEW.pinned_at, NEW.reactions,
      NEW.sender_id, NEW.anonymous, NEW.deleted_by, NEW.poll, NEW.moderation)
     IS NOT DISTINCT FROM
     (OLD.body, OLD.edited_at, OLD.deleted_at, OLD.metadata, OLD.pinned_at, OLD.reactions,
      OLD.sender_id, OLD.anonymous, OLD.deleted_by, OLD.poll, OLD.moderation) THEN
    RETURN NULL;
  END IF;
  edited := NEW.deleted_at IS NOT DISTINCT FROM OLD.deleted_at
            AND (NEW.body, NEW.edited_at, NEW.metadata) IS DISTINCT FROM (OLD.body, OLD.edited_at, OLD.metadata);
  IF OLD.deleted_at IS NOT NULL THEN
    PERFORM pgchat.refuse('message_deleted');
  END IF;

  IF NEW.deleted_at IS NOT NULL THEN
    NEW.body := '';
    NEW.metadata := NULL;
    NEW.reactions := '{}'::jsonb;
    NEW.pinned_at := NULL;
    NEW.pinned_by := NULL;
    NEW.edited_at := OLD.edited_at;
    NEW.deleted_by := coalesce(actor, NEW.deleted_by);
    RETURN NEW;
  END IF;

  IF actor IS NOT NULL AND edited THEN
    IF OLD.kind IN ('system', 'ai_response') THEN
      PERFORM pgchat.refuse('not_editable');
    END IF;
    IF OLD.kind = 'poll' THEN
      PERFORM pgchat.refuse('not_editable', 'a poll cannot be edited; close it and ask again');
    END IF;
    IF NOT pgchat.can_write(NEW.conversation_id, actor, arole) THEN
      PERFORM pgchat.refuse('cannot_write');
    END IF;
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS chat_messages_rules ON chat_messages;
CREATE TRIGGER chat_messages_rules BEFORE UPDATE ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_message_rules();

-- A tombstone keeps no reactions.
CREATE OR REPLACE FUNCTION pgchat.tg_message_tombstone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  DELETE FROM message_reactions WHERE message_id = NEW.id;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS chat_messages_tombstone ON chat_messages;
CREATE TRIGGER chat_messages_tombstone AFTER UPDATE OF deleted_at ON chat_messages
  FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
  EXECUTE FUNCTION pgchat.tg_message_tombstone();

-- ── reactions ───────────────────────────────────────────────────────────────

-- Lock order for a message and its satellites (ARCHITECTURE.md, invariants):
-- the message row first (FOR NO KEY UPDATE), then its reactions, then the
-- conversation's counter (the seq triggers take it last). An INSERT of a
-- reaction gets there by its BEFORE trigger; a DELETE cannot (its row is
-- locked before any row trigger runs), so every request path calls this
-- first — an add and a remove of the same reaction then queue on the message
-- instead of each holding what the other wants. SECURITY DEFINER because a
-- member who may react may not lock the row with SELECT … FOR UPDATE (RLS
-- lets only its sender update it); it locks only what the caller can read.
CREATE OR REPLACE FUNCTION pgchat.lock_message(p_message uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM 1 FROM chat_messages m
    WHERE m.id = p_message AND pgchat.can_read(m.conversation_id, auth.uid(), auth.role())
    FOR NO KEY UPDATE;
  RETURN FOUND;
END $$;

-- A reaction belongs to its message's conversation; a tombstone takes none;
-- a request reacts where it may (pgchat.can_react, which the insert policy
-- also holds it to); at most 20 different reactions per person per message.
CREATE OR REPLACE FUNCTION pgchat.tg_reaction_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  m chat_messages;
BEGIN
  -- Lock the message now, before the foreign key check takes its KEY SHARE
  -- lock: two reactions that both held KEY SHARE and then wanted to update the
  -- summary would deadlock.
  SELECT * INTO m FROM chat_messages WHERE id = NEW.message_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE foreign_key_violation USING MESSAGE = 'message ' || NEW.message_id || ' does not exist';
  END IF;
  IF m.deleted_at IS NOT NULL THEN
    PERFORM pgchat.refuse('message_deleted', 'a deleted message takes no reactions');
  END IF;
  NEW.conversation_id := m.conversation_id;
  IF auth.uid() IS NOT NULL AND NOT pgchat.can_react(m.conversation_id, auth.uid(), auth.role()) THEN
    PERFORM pgchat.refuse('cannot_react');
  END IF;
  IF (SELECT count(*) FROM message_reactions r
       WHERE r.message_id = NEW.message_id AND r.user_id = NEW.user_id) >= 20 THEN
    PERFORM pgchat.refuse('too_many_reactions');
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS message_reactions_rules ON message_reactions;
CREATE TRIGGER message_reactions_rules BEFORE INSERT ON message_reactions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_reaction_rules();

-- A reaction added or removed rewrites its message's summary, so the message
-- takes a new change_seq: live it is a `reaction` event, on resume a
-- `message_updated` with the summary as it is now. The message row is locked
-- first, so concurrent reactions each recompute from the other's committed row.
CREATE OR REPLACE FUNCTION pgchat.tg_reaction_summary() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  msg uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.message_id ELSE NEW.message_id END;
BEGIN
  PERFORM 1 FROM chat_messages WHERE id = msg AND deleted_at IS NULL FOR NO KEY UPDATE;
  IF FOUND THEN
    UPDATE chat_messages SET reactions = coalesce((
      SELECT jsonb_object_agg(e.emoji, e.users)
        FROM (SELECT r.emoji, jsonb_agg(r.user_id ORDER BY r.created_at, r.user_id) AS users
                FROM message_reactions r WHERE r.message_id = msg GROUP BY r.emoji) e), '{}'::jsonb)
     WHERE id = msg;
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS message_reactions_summary ON message_reactions;
CREATE TRIGGER message_reactions_summary AFTER INSERT OR DELETE ON message_reactions
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_reaction_summary();

-- ── room metadata as events ─────────────────────────────────────────────────

-- A request changes a room's title, description or settings as one of its
-- owners or admins (or a platform admin); otherwise it is told why.
CREATE OR REPLACE FUNCTION pgchat.tg_room_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF auth.uid() IS NOT NULL AND auth.role() <> 'admin' AND pgchat.is_room(NEW.kind)
     AND pgchat.member_rank(NEW.id, auth.uid()) < 3 THEN
    PERFORM pgchat.refuse('not_room_admin');
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS conversations_rules ON conversations;
CREATE TRIGGER conversations_rules BEFORE UPDATE OF title, description, settings ON conversations
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_room_rules();

-- A room's title, description or settings changed: take the next seq of its
-- counter (the row being updated is the counter itself) so the change is
-- resumable as `room_updated`. Sends, which bump last_seq only, never fire this.
CREATE OR REPLACE FUNCTION pgchat.tg_conversation_seq() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.last_seq := greatest(NEW.last_seq, OLD.last_seq) + 1;
  NEW.change_seq := NEW.last_seq;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS conversations_seq ON conversations;
CREATE TRIGGER conversations_seq BEFORE UPDATE OF title, description, settings ON conversations
  FOR EACH ROW WHEN ((OLD.title, OLD.description, OLD.settings) IS DISTINCT FROM (NEW.title, NEW.description, NEW.settings))
  EXECUTE FUNCTION pgchat.tg_conversation_seq();

CREATE OR REPLACE FUNCTION pgchat.tg_conversation_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM pgchat.notify(jsonb_build_object(
    't', 'room',
    'ev', 'room_updated',
    'c', NEW.id,
    'cs', NEW.change_seq,
    'row', pgchat.room_json(NEW)));
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS conversations_notify ON conversations;
CREATE TRIGGER conversations_notify AFTER UPDATE OF title, description, settings ON conversations
  FOR EACH ROW WHEN (OLD.change_seq IS DISTINCT FROM NEW.change_seq)
  EXECUTE FUNCTION pgchat.tg_conversation_notify();

-- ── room profile and admission (migrations/V23) ────────────────────────────

-- A room's avatar and banner name images of the attachment store: a request
-- that sets one names its own completed upload (`invalid_attachment`,
-- `attachment_not_ready`), an image (`not_an_image`). Whoever can see the room
-- may then read it (policies/attachments.sql). Runs after conversations_rules
-- (triggers fire in name order), so who may change a room is said first.
-- Operators in psql (no caller) may name any attachment.
CREATE OR REPLACE FUNCTION pgchat.tg_room_images() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  key text;
  att uuid;
  a attachments;
BEGIN
  IF auth.uid() IS NULL OR NOT pgchat.is_room(NEW.kind) THEN
    RETURN NEW;
  END IF;
  FOREACH key IN ARRAY ARRAY['avatar_attachment_id', 'banner_attachment_id'] LOOP
    CONTINUE WHEN NEW.settings ->> key IS NULL
      OR (TG_OP = 'UPDATE' AND NEW.settings ->> key IS NOT DISTINCT FROM OLD.settings ->> key);
    att := (NEW.settings ->> key)::uuid;
    SELECT * INTO a FROM attachments WHERE id = att;
    IF NOT FOUND OR a.uploader_id IS DISTINCT FROM auth.uid() THEN
      PERFORM pgchat.refuse('invalid_attachment', key || ' must name your own upload');
    END IF;
    IF a.status <> 'ready' THEN
      PERFORM pgchat.refuse('attachment_not_ready', 'complete the upload before using it');
    END IF;
    IF a.kind <> 'image' THEN
      PERFORM pgchat.refuse('not_an_image', key || ' must name an image (' || a.mime_type || ' is not one)');
    END IF;
  END LOOP;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS conversations_rules_images ON conversations;
CREATE TRIGGER conversations_rules_images BEFORE INSERT OR UPDATE OF settings ON conversations
  FOR EACH ROW WHEN (NEW.settings ? 'avatar_attachment_id' OR NEW.settings ? 'banner_attachment_id')
  EXECUTE FUNCTION pgchat.tg_room_images();

-- Whether `att` is the avatar or banner of a room the caller can see (an open
-- room, or one they may read): the attachments policy shows it to them.
CREATE OR REPLACE FUNCTION pgchat.is_room_image(att uuid, uid text, urole text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT uid IS NOT NULL AND EXISTS (
    SELECT 1 FROM conversations c
     WHERE (c.settings ->> 'avatar_attachment_id' = att::text
            OR c.settings ->> 'banner_attachment_id' = att::text)
       AND pgchat.is_room(c.kind)
       AND (pgchat.is_open_room(c.kind) OR pgchat.can_read(c.id, uid, urole)))
$$;

-- Asking to join (POST /v1/rooms/{id}/join where approval is required), for
-- requests: a room that takes requests (an open room requiring approval:
-- `approval_not_required`), by someone not banned from it (`banned`) and not
-- in it already (`already_member`). The request's time is the database's.
CREATE OR REPLACE FUNCTION pgchat.tg_join_request_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  m conversation_members;
BEGIN
  NEW.created_at := now();
  IF auth.uid() IS NULL THEN
    RETURN NEW;
  END IF;
  SELECT * INTO m FROM conversation_members
   WHERE conversation_id = NEW.conversation_id AND user_id = NEW.user_id;
  IF FOUND AND m.banned THEN
    PERFORM pgchat.refuse('banned');
  END IF;
  IF FOUND AND m.left_at IS NULL THEN
    PERFORM pgchat.refuse('already_member', 'you are already a member of this room');
  END IF;
  IF NOT coalesce((SELECT pgchat.is_open_room(c.kind)
                          AND (pgchat.room_settings(c.kind, c.settings) ->> 'require_approval')::boolean
                     FROM conversations c WHERE c.id = NEW.conversation_id), false) THEN
    PERFORM pgchat.refuse('approval_not_required', 'this room takes no join requests: join it');
  END IF;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS room_join_requests_rules ON room_join_requests;
CREATE TRIGGER room_join_requests_rules BEFORE INSERT ON room_join_requests
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_join_request_rules();

-- The moderators' gate of a room's request queue: `not_a_moderator` unless
-- the caller moderates the room (moderators and up; platform admins).
CREATE OR REPLACE FUNCTION pgchat.moderator_check(conv uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT pgchat.can_moderate(conv, auth.uid(), auth.role()) THEN
    PERFORM pgchat.refuse('not_a_moderator');
  END IF;
END $$;

-- A join request in wire shape (GET /v1/rooms/{id}/requests).
CREATE OR REPLACE FUNCTION pgchat.join_request_json(r room_join_requests) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'room_id', r.conversation_id,
    'user_id', r.user_id,
    'name', (SELECT u.name FROM users u WHERE u.id = r.user_id),
    'status', 'requested',
    'requested_at', pgchat.ts(r.created_at))
$$;

-- ── the preview of a room ────────────────────────────────────────────────────

-- A read-only look at a room without joining it (GET /v1/rooms/{id}/preview):
-- the room as listed, its member count and its `lim` (1 to 100) latest
-- messages, oldest first. Anyone signed in previews an open room (public,
-- announcement) they are not banned from (`banned`); a private room or group
-- only its readers (members, platform admins): to others it does not exist
-- (NULL). Shown are messages everyone in the room sees: never an internal
-- note, a deleted message, nor what the caller hid for themselves. To a
-- non-member the files are not readable (their URLs are left out: joining
-- gives them) and the client ids of messages are not shown.
-- SECURITY DEFINER: the messages policy lets members alone read a room's
-- messages; this function is the one exception, and shows exactly this.
CREATE OR REPLACE FUNCTION pgchat.room_preview(conv uuid, lim integer) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  c conversations;
  me conversation_members;
  reader boolean;
  messages jsonb;
BEGIN
  IF auth.uid() IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT * INTO c FROM conversations WHERE id = conv;
  IF NOT FOUND OR NOT pgchat.is_room(c.kind) THEN
    RETURN NULL;
  END IF;
  reader := pgchat.can_read(conv, auth.uid(), auth.role());
  IF NOT reader AND NOT pgchat.is_open_room(c.kind) THEN
    RETURN NULL;
  END IF;
  SELECT * INTO me FROM conversation_members m WHERE m.conversation_id = conv AND m.user_id = auth.uid();
  IF me.banned AND auth.role() <> 'admin' THEN
    PERFORM pgchat.refuse('banned');
  END IF;
  SELECT coalesce(jsonb_agg(
           CASE WHEN reader THEN j
                ELSE j || jsonb_build_object(
                  'client_msg_id', NULL,
                  'attachment', CASE WHEN jsonb_typeof(j -> 'attachment') = 'object'
                                     THEN j -> 'attachment' || '{"url": null, "thumbnail_url": null}'::jsonb
                                     ELSE j -> 'attachment' END) END
           ORDER BY seq), '[]'::jsonb)
    INTO messages
    FROM (SELECT m.seq, pgchat.message_json(m) AS j
            FROM chat_messages m
           WHERE m.conversation_id = conv AND NOT m.internal AND m.deleted_at IS NULL
             AND m.seq > coalesce(me.hidden_before_seq, 0)
             AND NOT EXISTS (SELECT 1 FROM hidden_messages h
                              WHERE h.user_id = auth.uid() AND h.message_id = m.id)
           ORDER BY m.seq DESC
           LIMIT least(greatest(lim, 1), 100)) recent;
  RETURN jsonb_build_object(
    'room', pgchat.room_json(c) || jsonb_build_object(
      'my_role', CASE WHEN me.left_at IS NULL AND NOT me.banned THEN me.role END,
      'join_requested', EXISTS (SELECT 1 FROM room_join_requests r
                                 WHERE r.conversation_id = conv AND r.user_id = auth.uid())),
    'member_count', (SELECT count(*) FROM conversation_members m
                      WHERE m.conversation_id = conv AND m.left_at IS NULL AND NOT m.banned),
    'messages', messages);
END $$;

-- ── retention ───────────────────────────────────────────────────────────────

-- Deletes up to `batch` messages older than their room's retention_days (their
-- reactions go with them; nothing else refers to a message by foreign key).
-- Safe to run on several nodes at once: each takes rows with SKIP LOCKED, so
-- they share the work instead of waiting for each other. Each call is one short
-- transaction; the caller repeats until it returns 0. Per call, the oldest
-- 4 × `batch` messages of a room are examined (created_at follows seq, so the
-- expired ones come first), which bounds the work when nothing has expired.
-- Operators may run it in psql: SELECT pgchat.purge_expired(1000);
CREATE OR REPLACE FUNCTION pgchat.purge_expired(batch integer) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  purged integer;
BEGIN
  WITH doomed AS (
    SELECT x.id
      FROM conversations c
      CROSS JOIN LATERAL (
        SELECT m.id FROM chat_messages m
         WHERE m.conversation_id = c.id
           AND m.seq <= (SELECT max(f.seq) FROM (SELECT o.seq FROM chat_messages o
                                                  WHERE o.conversation_id = c.id
                                                  ORDER BY o.seq LIMIT 4 * batch) f)
           AND m.created_at < now() - make_interval(days => (c.settings ->> 'retention_days')::integer)
         ORDER BY m.seq
         LIMIT batch
         FOR UPDATE OF m SKIP LOCKED) x
     WHERE c.settings ? 'retention_days' AND pgchat.is_room(c.kind)
     LIMIT batch)
  DELETE FROM chat_messages WHERE id IN (SELECT id FROM doomed);
  GET DIAGNOSTICS purged = ROW_COUNT;
  RETURN purged;
END $$;

-- Who may read and who may write a conversation, defined once. The RLS policies
-- call these with auth.uid()/auth.role(); the realtime hub calls the same
-- functions with a subscriber's identity, so hub delivery and RLS cannot drift.
-- SECURITY DEFINER: they must see membership rows the caller may not read.
-- PL/pgSQL, not SQL: a SECURITY DEFINER SQL function is never inlined and is
-- planned again on every call from a trigger or a loop, while PL/pgSQL keeps
-- its plans per session (halves the cost of a batch of sends; BENCHMARKS.md).

CREATE OR REPLACE FUNCTION pgchat.can_read(conv uuid, uid text, urole text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN RETURN (
  SELECT uid IS NOT NULL AND (
       urole = 'admin'
    OR EXISTS (SELECT 1 FROM conversation_members m
                WHERE m.conversation_id = conv AND m.user_id = uid
                  AND m.left_at IS NULL AND NOT m.banned)
    -- agents see the waiting queue
    OR (urole = 'agent' AND EXISTS (SELECT 1 FROM live_chat_sessions s
                                     WHERE s.conversation_id = conv AND s.status = 'waiting')))
); END
$$;

-- Who reviews moderation in `conv` (its queue items, the messages it holds):
-- the room's moderators and above, agents in support conversations (the
-- desk's queue), admins anywhere. PL/pgSQL: pgchat.can_moderate is defined
-- later (sql/45_rooms.sql).
CREATE OR REPLACE FUNCTION pgchat.can_review(conv uuid, uid text, urole text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN RETURN (
  SELECT uid IS NOT NULL AND (
       urole = 'admin'
    OR (urole = 'agent' AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = conv AND c.kind = 'support'))
    OR pgchat.can_moderate(conv, uid, urole))
); END
$$;

-- Why `uid` may not write in `conv` (NULL: they may), as a refusal code
-- (pgchat.refuse): the one copy of the write rule. can_write, the insert
-- policies and the send batch ask it whether; the message trigger raises its
-- reason, so a refused send says why (banned, silenced, session_ended, ...).
CREATE OR REPLACE FUNCTION pgchat.write_refusal(conv uuid, uid text, urole text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r record;
BEGIN
  -- one read: the conversation, its session if any, the writer's membership
  SELECT c.kind, s.status, s.customer_id, s.agent_id,
         m.role, m.left_at, m.banned, m.silenced_until
    INTO r
    FROM conversations c
    LEFT JOIN live_chat_sessions s ON s.conversation_id = c.id
    LEFT JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = uid
   WHERE c.id = conv;
  IF uid IS NULL OR r.kind IS NULL THEN
    RETURN 'not_found';
  END IF;
  IF r.kind = 'support' THEN
    IF r.status IS NULL THEN
      RETURN 'not_found';
    ELSIF r.customer_id = uid OR urole = 'admin' OR (urole = 'agent' AND r.agent_id = uid) THEN
      RETURN CASE WHEN pgchat.session_over(r.status) THEN 'session_ended' END;
    ELSIF NOT pgchat.can_read(conv, uid, urole) THEN
      -- a session the caller cannot see is not there for them
      RETURN 'not_found';
    ELSIF pgchat.session_over(r.status) THEN
      RETURN 'session_ended';
    ELSIF urole = 'agent' THEN
      RETURN 'not_assigned';
    END IF;
    RETURN 'not_a_participant';
  END IF;
  IF urole = 'admin' THEN
    RETURN NULL;
  ELSIF r.role IS NULL OR r.left_at IS NOT NULL OR r.banned THEN
    -- not (or no longer) a member: the room is not there for them (a
    -- banned member hears `banned` when they try to join again)
    RETURN 'not_found';
  ELSIF r.silenced_until IS NOT NULL AND r.silenced_until > now() THEN
    RETURN 'silenced';
  ELSIF r.kind = 'announcement' AND r.role NOT IN ('owner', 'admin') THEN
    RETURN 'read_only';
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION pgchat.can_write(conv uuid, uid text, urole text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  RETURN pgchat.write_refusal(conv, uid, urole) IS NULL;
END $$;

-- Refuses with a reason: SQLSTATE PC001, the code in DETAIL (the API's error
-- code, src/error.rs maps it to a status), the message for people. Every
-- refusal a rule raises by name is listed here, once.
DROP FUNCTION IF EXISTS pgchat.refuse(text);
CREATE OR REPLACE FUNCTION pgchat.refuse(code text, message text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'PC001', DETAIL = code, MESSAGE = coalesce(message, CASE code
    WHEN 'not_found' THEN 'conversation not found'
    WHEN 'session_ended' THEN 'this support session has ended'
    WHEN 'not_assigned' THEN 'this session is assigned to another agent'
    WHEN 'not_a_participant' THEN 'you are not a participant of this support session'
    WHEN 'silenced' THEN 'a moderator has silenced you in this room'
    WHEN 'read_only' THEN 'only the owners and admins of an announcement room post in it'
    WHEN 'staff_only' THEN 'only agents and admins write internal notes'
    WHEN 'invalid_reply_to' THEN 'reply_to must name a message of this conversation'
    -- room membership (pgchat.tg_member_rules)
    WHEN 'banned' THEN 'you are banned from this room'
    WHEN 'not_yourself' THEN 'members do not moderate themselves'
    WHEN 'not_yours' THEN 'a member''s own settings are theirs to change'
    WHEN 'last_owner' THEN 'name another owner before leaving this room'
    WHEN 'user_banned' THEN 'this user is banned from the room; lift the ban first'
    WHEN 'not_a_member' THEN 'you are not a member of this room'
    WHEN 'invites_disabled' THEN 'only the room''s owners and admins invite here'
    WHEN 'role_too_high' THEN 'you may not grant a role at or above your own'
    WHEN 'not_a_moderator' THEN 'only the room''s moderators, admins and owners do that'
    WHEN 'outranked' THEN 'you may only act on members ranked below you'
    WHEN 'user_not_found' THEN 'user not found'
    WHEN 'not_room_admin' THEN 'only the room''s owners and admins change it'
    WHEN 'already_member' THEN 'this user is already a member'
    -- admission (migrations/V23)
    WHEN 'approval_required' THEN 'this room admits members on approval: ask to join (POST /v1/rooms/{id}/join)'
    -- what happens to a message (pgchat.tg_message_rules, pgchat.tg_reaction_rules)
    WHEN 'not_your_message' THEN 'this message is not yours'
    WHEN 'message_deleted' THEN 'a deleted message cannot be changed'
    WHEN 'not_editable' THEN 'system messages cannot be edited'
    WHEN 'cannot_write' THEN 'you may no longer write in this conversation'
    WHEN 'cannot_react' THEN 'only current members who may speak react here'
    WHEN 'too_many_reactions' THEN 'at most 20 reactions per person on one message'
    -- polls (sql/46_polls.sql)
    WHEN 'not_a_poll' THEN 'this message is not a poll'
    WHEN 'poll_closed' THEN 'this poll is closed'
    -- teams and escalation (sql/63_teams.sql)
    WHEN 'not_your_team' THEN 'this session waits in another team''s queue'
    WHEN 'unknown_team' THEN 'there is no such team'
    -- moderation (sql/47_moderation.sql)
    WHEN 'moderation_rejected' THEN 'this message was refused by the content filter'
    WHEN 'invalid_pattern' THEN 'a moderation pattern is not a valid regular expression'
    WHEN 'already_decided' THEN 'this item was already decided'
    ELSE code END);
END $$;

-- The messages the caller hid for themselves (delete for me, one message:
-- hidden_messages), for the messages policy and resume. Only the caller's
-- own, so SECURITY DEFINER needs no policy of hidden_messages in between.
CREATE OR REPLACE FUNCTION pgchat.my_hidden_messages() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT h.message_id FROM hidden_messages h WHERE h.user_id = auth.uid()
$$;

-- Messages below this seq are hidden from the member (delete-for-me).
CREATE OR REPLACE FUNCTION pgchat.hidden_before(conv uuid, uid text) RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN RETURN (
  SELECT coalesce((SELECT m.hidden_before_seq FROM conversation_members m
                    WHERE m.conversation_id = conv AND m.user_id = uid), 0)
); END
$$;

-- The kind of `conv` if `uid` created it (NULL otherwise): lets a creator add
-- themselves as the first member before the conversation is visible to them.
CREATE OR REPLACE FUNCTION pgchat.created_kind(conv uuid, uid text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT c.kind FROM conversations c WHERE c.id = conv AND c.created_by = uid
$$;

-- The agent a support conversation is assigned to (NULL if none).
CREATE OR REPLACE FUNCTION pgchat.session_agent(conv uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT s.agent_id FROM live_chat_sessions s WHERE s.conversation_id = conv
$$;

-- Whose presence `watcher` may follow: their own, anyone's for staff, and
-- otherwise the people they share a conversation with as current members —
-- leaving or being banned ends it (the listener re-checks live subscriptions
-- with this function when a membership ends).
CREATE OR REPLACE FUNCTION pgchat.can_see_presence(watcher text, watcher_role text, target text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN RETURN (
  SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = target) AND (
       watcher = target
    OR watcher_role IN ('agent', 'admin')
    OR EXISTS (SELECT 1 FROM conversation_members mine
                 JOIN conversation_members theirs ON theirs.conversation_id = mine.conversation_id
                WHERE mine.user_id = watcher AND theirs.user_id = target
                  AND mine.left_at IS NULL AND NOT mine.banned
                  AND theirs.left_at IS NULL AND NOT theirs.banned))
); END
$$;

-- Where a member's read and delivered cursors may go in `conv`: up to the
-- newest message they can see, never the conversation's counter (marking
-- read is itself a change that takes a number: a cursor chasing the counter
-- would never catch up). Not SECURITY DEFINER: called as the member, RLS
-- decides which messages count. Both cursors follow this one rule.
CREATE OR REPLACE FUNCTION pgchat.cursor_limit(conv uuid) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT coalesce(max(m.seq), 0) FROM chat_messages m WHERE m.conversation_id = conv
$$;

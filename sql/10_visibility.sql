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

CREATE OR REPLACE FUNCTION pgchat.can_write(conv uuid, uid text, urole text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN RETURN (
  SELECT uid IS NOT NULL AND coalesce((
    SELECT CASE c.kind
      WHEN 'support' THEN EXISTS (
        SELECT 1 FROM live_chat_sessions s
         WHERE s.conversation_id = conv AND s.status <> 'ended'
           AND (s.customer_id = uid OR urole = 'admin' OR (urole = 'agent' AND s.agent_id = uid)))
      ELSE urole = 'admin' OR EXISTS (
        SELECT 1 FROM conversation_members m
         WHERE m.conversation_id = conv AND m.user_id = uid
           AND m.left_at IS NULL AND NOT m.banned
           -- silenced by a moderator: reads, does not post
           AND (m.silenced_until IS NULL OR m.silenced_until <= now())
           AND (c.kind <> 'announcement' OR m.role IN ('owner', 'admin')))
    END
    FROM conversations c WHERE c.id = conv), false)
); END
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

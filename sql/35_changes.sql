-- A conversation's changes after a cursor, rebuilt from the tables, oldest
-- first: the backfill of a subscribe with `since`, long polling, SSE resume,
-- and the listener's fan-out of notified ranges and refills. Every row change
-- of a conversation carries a change_seq, so "everything after the cursor" is
-- one ordered, set-based query (no event log is kept, and no function is
-- called per row: message JSON comes from the pgchat.message_rows joins).
--
-- `origin` is the reader's original cursor: a message with seq > origin is new
-- to the reader (message_new), whichever chunk it falls in; others are
-- replayed as the row as it is now. `staff` and `hidden` are the reader's
-- visibility of messages (internal notes; delete-for-me), with the messages
-- the caller hid for themselves (hidden_messages, by auth.uid()), the same rule as the
-- chat_messages SELECT policy. Not granted to pgchat_user: readers go through
-- pgchat.changes_as_caller.
CREATE OR REPLACE FUNCTION pgchat.changes(conv uuid, after bigint, upto bigint, origin bigint,
                                          lim bigint, staff boolean, hidden bigint)
RETURNS TABLE (change_seq bigint, t text, ev text, internal boolean, user_id text, wire jsonb)
LANGUAGE sql STABLE AS $$
  SELECT * FROM (
    -- Each kind is limited in change_seq order before the union, so JSON is
    -- built for at most `lim` rows of each (the index gives the order), not for
    -- the whole rest of the conversation before the final sort.
    (SELECT m.change_seq, 'message'::text,
            CASE WHEN m.seq > origin THEN 'message_new'
                 WHEN m.deleted_at IS NOT NULL THEN 'message_deleted'
                 ELSE 'message_updated' END,
            m.internal, NULL::text, m.json
       FROM pgchat.message_rows m
      WHERE m.conversation_id = conv AND m.change_seq > after AND m.change_seq <= upto
        AND (staff OR NOT m.internal) AND m.seq > hidden
        -- the reader's messages hidden for them (none for the server's fan-out, which has no claims)
        AND m.id NOT IN (SELECT pgchat.my_hidden_messages())
        -- what moderation holds: its sender and the reviewers (the policy's
        -- rule); the server's fan-out (no claims) reads it for the sender
        AND (m.moderation IS NULL OR m.moderation IN ('flagged', 'approved') OR auth.uid() IS NULL
             OR m.sender_id = auth.uid() OR pgchat.can_review(conv, auth.uid(), auth.role()))
      ORDER BY m.change_seq LIMIT lim)
    UNION ALL
    SELECT s.change_seq, 'session', 'session_updated', false, NULL, pgchat.session_wire(s, cu.name, au.name)
      FROM live_chat_sessions s
      LEFT JOIN users cu ON cu.id = s.customer_id
      LEFT JOIN users au ON au.id = s.agent_id
     WHERE s.conversation_id = conv AND s.change_seq > after AND s.change_seq <= upto
    UNION ALL
    (SELECT cm.change_seq, 'member', pgchat.member_event(cm.last_change), false, cm.user_id,
            pgchat.member_wire(cm, mu.name)
       FROM conversation_members cm
       LEFT JOIN users mu ON mu.id = cm.user_id
      WHERE cm.conversation_id = conv AND cm.change_seq > after AND cm.change_seq <= upto
      ORDER BY cm.change_seq LIMIT lim)
    UNION ALL
    SELECT c.change_seq, 'room', 'room_updated', false, NULL, pgchat.room_json(c)
      FROM conversations c WHERE c.id = conv AND c.change_seq > after AND c.change_seq <= upto
  ) changes ORDER BY 1 LIMIT lim
$$;

-- The caller's view (RLS's rule, decided once per call instead of per row):
-- nothing unless they may read the conversation (pgchat.can_read, as the
-- policies), internal notes for staff, nothing below their delete-for-me point.
-- The first row carries only where the conversation stands (`head`, its last
-- change_seq); no row at all means the caller may not read it.
CREATE OR REPLACE FUNCTION pgchat.changes_as_caller(conv uuid, after bigint, upto bigint, origin bigint,
                                                    lim bigint)
RETURNS TABLE (head bigint, change_seq bigint, t text, ev text, internal boolean, user_id text, wire jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  last bigint;
BEGIN
  IF NOT pgchat.can_read(conv, auth.uid(), auth.role()) THEN
    RETURN;
  END IF;
  SELECT c.last_seq INTO last FROM conversations c WHERE c.id = conv;
  head := last;
  RETURN NEXT;
  RETURN QUERY
    SELECT last, x.*
      FROM pgchat.changes(conv, after, least(upto, last), origin, lim, auth.is_staff(),
                          pgchat.hidden_before(conv, auth.uid())) x;
END $$;

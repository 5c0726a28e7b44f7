-- Group commit of concurrent sends: one transaction, one commit (so one pass
-- through NOTIFY's commit-time lock) for a whole batch, each message still
-- inserted under its own sender's identity (claims switched per item, RLS
-- checks every row). Called by the server after SET LOCAL ROLE pgchat_user.
--
-- It handles only the plain case and answers 'slow' for anything else (a
-- support reply that claims or first-answers a session, a message the sender
-- may not write, a reply_to that does not fit, a client_msg_id used elsewhere):
-- the server then runs the ordinary one-message path, which applies the rules
-- and produces the precise error. Once one of a sender's items is 'slow', the
-- sender's later items are too, so the server sends them after it, in order.
-- Items are processed in the given order; the caller sorts them by
-- conversation so concurrent batches lock conversations in the same order and
-- cannot deadlock.
CREATE OR REPLACE FUNCTION pgchat.send_batch(items jsonb)
RETURNS TABLE (i integer, outcome text, message jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  item jsonb;
  n integer := 0;
  conv uuid;
  uid text;
  urole text;
  is_internal boolean;
  parent uuid;
  existing chat_messages;
  inserted chat_messages;
  held_back text[] := '{}';
BEGIN
  FOR item IN SELECT value FROM jsonb_array_elements(items) LOOP
    n := n + 1;
    i := n;
    message := NULL;
    conv := (item ->> 'conversation_id')::uuid;
    uid := item -> 'claims' ->> 'sub';
    urole := item -> 'claims' ->> 'role';
    is_internal := (item ->> 'internal')::boolean;
    parent := (item ->> 'reply_to')::uuid;
    IF uid = ANY (held_back) THEN
      outcome := 'slow';
      RETURN NEXT;
      CONTINUE;
    END IF;
    PERFORM set_config('request.jwt.claims', (item -> 'claims')::text, true);

    SELECT * INTO existing FROM chat_messages
     WHERE sender_id = uid AND client_msg_id = (item ->> 'client_msg_id')::uuid;
    IF FOUND THEN
      IF existing.conversation_id = conv THEN
        outcome := 'existing';
        message := pgchat.message_json(existing);
      ELSE
        outcome := 'slow';
        held_back := held_back || uid;
      END IF;
      RETURN NEXT;
      CONTINUE;
    END IF;

    IF NOT pgchat.can_write(conv, uid, urole)
       OR (item ->> 'attachment_id') IS NOT NULL  -- attachments: checked by the one-message path
       OR (is_internal AND urole NOT IN ('agent', 'admin'))
       OR (parent IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM chat_messages p WHERE p.id = parent AND p.conversation_id = conv))
       OR (urole IN ('agent', 'admin') AND EXISTS (
             SELECT 1 FROM live_chat_sessions s
              WHERE s.conversation_id = conv
                AND (s.status = 'waiting' OR s.first_response_at IS NULL OR s.agent_id IS DISTINCT FROM uid)))
    THEN
      outcome := 'slow';
      held_back := held_back || uid;
      RETURN NEXT;
      CONTINUE;
    END IF;

    INSERT INTO chat_messages (conversation_id, sender_id, sender_role, client_msg_id, kind, body, reply_to, internal)
    VALUES (conv, uid, urole, (item ->> 'client_msg_id')::uuid, item ->> 'kind', item ->> 'body', parent, is_internal)
    ON CONFLICT (sender_id, client_msg_id) DO NOTHING
    RETURNING * INTO inserted;
    IF FOUND THEN
      outcome := 'created';
      message := pgchat.message_json(inserted);
    ELSE
      -- A concurrent send with the same client_msg_id committed first. The
      -- trigger already took a seq for nothing: the caller rolls this batch
      -- back and runs it again without the item.
      outcome := 'conflict';
      held_back := held_back || uid;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

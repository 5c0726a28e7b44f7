-- What a caller may follow and announce live, decided here like every other
-- rule: the realtime transports ask as the caller, in one transaction, and a
-- refusal says why (PC001, the code in DETAIL).

-- May the caller follow topic `kind` (of `subject`) live? Refuses with the
-- reason: the support desk's feed is staff's (the gate `support_queue`:
-- staff_only); an inbox is its owner's alone (`topic_not_found`: another's is
-- not there for them); a user's presence as pgchat.can_see_presence, which
-- the listener asks again when a membership ends (`user_not_found`). A
-- conversation's topic is not asked here: its backlog read is the check,
-- under RLS (not_found).
CREATE OR REPLACE FUNCTION pgchat.may_subscribe(kind text, subject text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  CASE kind
    WHEN 'support_queue' THEN
      PERFORM pgchat.gate('support_queue');
    WHEN 'inbox' THEN
      IF subject IS DISTINCT FROM auth.uid() THEN
        PERFORM pgchat.refuse('topic_not_found', 'topic not found');
      END IF;
    WHEN 'presence' THEN
      IF NOT pgchat.can_see_presence(auth.uid(), auth.role(), subject) THEN
        PERFORM pgchat.refuse('user_not_found');
      END IF;
    ELSE
      RAISE EXCEPTION 'no topic kind named %', kind;
  END CASE;
END $$;

-- Tells every node that the caller started or stopped typing in `conv`, a
-- conversation they can read (not_found otherwise, under RLS); typing an
-- internal note is staff's (the gate `internal_note`: staff_only), and the
-- listener tells it to staff only (`internal`). The listener's `typing`
-- note, built once here; no seq, not replayed.
CREATE OR REPLACE FUNCTION pgchat.announce_typing(conv uuid, p_name text, p_typing boolean, p_note boolean)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_note THEN
    PERFORM pgchat.gate('internal_note');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = conv) THEN
    PERFORM pgchat.refuse('not_found');
  END IF;
  PERFORM pg_notify('pgchat', jsonb_build_object(
    't', 'typing', 'c', conv, 'user_id', auth.uid(), 'name', p_name,
    'typing', p_typing, 'internal', p_note)::text);
END $$;

-- Polls (issue 21): a message of kind `poll` carries `poll` — its question,
-- options, choice (single or multiple), anonymity, closing time, whether and by
-- whom it was closed, and the results as they stand. Votes are rows of
-- poll_votes (one ballot per voter, RLS in policies/poll_votes.sql); a trigger
-- rewrites the message's results after each, so the message takes a new
-- change_seq and every member sees `message_updated` live and on resume, like
-- a reaction. The rules hold whoever writes (API, psql, PostgREST's subset).

-- The results of a poll as its ballots stand: votes per option, who chose
-- each (oldest first; null in an anonymous poll: the wire JSON is the same for
-- every reader), and the totals.
CREATE OR REPLACE FUNCTION pgchat.poll_results(msg uuid, n integer, anonymous boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'counts', jsonb_agg(c.votes ORDER BY c.i),
    'voters', CASE WHEN NOT anonymous THEN jsonb_agg(c.voters ORDER BY c.i) END,
    'total_votes', sum(c.votes),
    'total_voters', (SELECT count(*) FROM poll_votes v WHERE v.message_id = msg))
    FROM (SELECT o.i, count(v.user_id) AS votes,
                 coalesce(jsonb_agg(v.user_id ORDER BY v.voted_at, v.user_id)
                            FILTER (WHERE v.user_id IS NOT NULL), '[]') AS voters
            FROM generate_series(0, n - 1) o(i)
            LEFT JOIN poll_votes v ON v.message_id = msg AND o.i = ANY (v.options)
           GROUP BY o.i) c
$$;

-- A new poll message's poll, as stored: the author's definition checked and
-- normalized (question and options trimmed), not yet closed, no votes. What a
-- writer put in the results or closing fields is ignored. Refused with the
-- reason: `poll_required` (a poll message without one), `invalid_poll`.
CREATE OR REPLACE FUNCTION pgchat.poll_new(msg uuid, kind text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  options jsonb;
  n integer;
  closes timestamptz;
  anonymous boolean;
BEGIN
  IF kind <> 'poll' THEN
    PERFORM pgchat.refuse('invalid_poll', 'only a message of kind poll carries a poll');
  END IF;
  IF p IS NULL OR jsonb_typeof(p) <> 'object' THEN
    PERFORM pgchat.refuse('poll_required', 'a message of kind poll carries its poll: a question and its options');
  END IF;
  IF jsonb_typeof(p -> 'question') IS DISTINCT FROM 'string'
     OR btrim(p ->> 'question') = '' OR length(p ->> 'question') > 300 THEN
    PERFORM pgchat.refuse('invalid_poll', 'a poll asks a question of 1 to 300 characters');
  END IF;
  IF jsonb_typeof(p -> 'options') IS DISTINCT FROM 'array'
     OR jsonb_array_length(p -> 'options') NOT BETWEEN 2 AND 10
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(p -> 'options') o
                 WHERE jsonb_typeof(o) <> 'string' OR btrim(o #>> '{}') = '' OR length(o #>> '{}') > 100)
     OR (SELECT count(DISTINCT btrim(o #>> '{}')) FROM jsonb_array_elements(p -> 'options') o)
        <> jsonb_array_length(p -> 'options') THEN
    PERFORM pgchat.refuse('invalid_poll', 'a poll has 2 to 10 different options of 1 to 100 characters');
  END IF;
  IF jsonb_typeof(p -> 'multiple') NOT IN ('boolean', 'null') OR jsonb_typeof(p -> 'anonymous') NOT IN ('boolean', 'null') THEN
    PERFORM pgchat.refuse('invalid_poll', 'multiple and anonymous are true or false');
  END IF;
  IF jsonb_typeof(p -> 'closes_at') = 'string' THEN
    BEGIN
      closes := (p ->> 'closes_at')::timestamptz;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation THEN
      PERFORM pgchat.refuse('invalid_poll', 'closes_at is an RFC 3339 time');
    END;
    IF closes <= now() THEN
      PERFORM pgchat.refuse('invalid_poll', 'closes_at is in the future');
    END IF;
  ELSIF jsonb_typeof(p -> 'closes_at') NOT IN ('null') THEN
    PERFORM pgchat.refuse('invalid_poll', 'closes_at is an RFC 3339 time');
  END IF;
  SELECT jsonb_agg(btrim(o #>> '{}') ORDER BY i), count(*) INTO options, n
    FROM jsonb_array_elements(p -> 'options') WITH ORDINALITY AS x(o, i);
  anonymous := coalesce((p ->> 'anonymous')::boolean, false);
  RETURN jsonb_build_object(
    'question', btrim(p ->> 'question'),
    'options', options,
    'multiple', coalesce((p ->> 'multiple')::boolean, false),
    'anonymous', anonymous,
    'closes_at', pgchat.ts(closes),
    'closed_at', NULL,
    'closed_by', NULL,
    'results', pgchat.poll_results(msg, n, anonymous));
END $$;

-- Whether a poll takes votes no more: closed by its author or a moderator, or
-- past its closing time.
CREATE OR REPLACE FUNCTION pgchat.poll_closed(p jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p ->> 'closed_at' IS NOT NULL OR (p ->> 'closes_at')::timestamptz <= now()
$$;

-- A ballot: by a voter who may write in its conversation (the write rule's
-- reason otherwise), on a poll that is neither deleted nor closed (`poll_closed`),
-- choosing valid option indexes — one, or several distinct ones in a
-- multiple-choice poll (`invalid_poll_vote`). Taking a vote back is refused
-- on a closed poll too. The message row is locked first (the lock order of
-- sql/45_rooms.sql: message, then its satellites). Server writes (no claims:
-- an erasure) pass the closed and write checks.
CREATE OR REPLACE FUNCTION pgchat.tg_poll_vote_rules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  m chat_messages;
  refusal text;
  n integer;
BEGIN
  SELECT * INTO m FROM chat_messages
   WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.message_id ELSE NEW.message_id END
     FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    IF TG_OP = 'DELETE' THEN
      RETURN OLD; -- the message is being deleted: its ballots go with it
    END IF;
    RAISE foreign_key_violation USING MESSAGE = 'message ' || NEW.message_id || ' does not exist';
  END IF;
  IF auth.uid() IS NOT NULL THEN
    -- first who may write there, so an outsider learns nothing of the message
    refusal := pgchat.write_refusal(m.conversation_id, auth.uid(), auth.role());
    IF refusal IS NOT NULL THEN
      PERFORM pgchat.refuse(refusal);
    END IF;
  END IF;
  IF m.kind <> 'poll' OR m.poll IS NULL THEN
    PERFORM pgchat.refuse('not_a_poll');
  END IF;
  IF auth.uid() IS NOT NULL THEN
    IF m.deleted_at IS NOT NULL THEN
      PERFORM pgchat.refuse('message_deleted', 'a deleted poll takes no votes');
    END IF;
    IF pgchat.poll_closed(m.poll) THEN
      PERFORM pgchat.refuse('poll_closed');
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  n := jsonb_array_length(m.poll -> 'options');
  IF cardinality(NEW.options) = 0
     OR EXISTS (SELECT 1 FROM unnest(NEW.options) o WHERE o IS NULL OR o < 0 OR o >= n)
     OR (SELECT count(DISTINCT o) FROM unnest(NEW.options) o) <> cardinality(NEW.options)
     OR (cardinality(NEW.options) > 1 AND NOT (m.poll ->> 'multiple')::boolean) THEN
    PERFORM pgchat.refuse('invalid_poll_vote',
      CASE WHEN (m.poll ->> 'multiple')::boolean
           THEN 'choose one or more different options by index, 0 to ' || n - 1
           ELSE 'choose one option by index, 0 to ' || n - 1 END);
  END IF;
  NEW.conversation_id := m.conversation_id;
  NEW.options := (SELECT array_agg(o ORDER BY o) FROM unnest(NEW.options) o);
  NEW.voted_at := now();
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS poll_votes_rules ON poll_votes;
CREATE TRIGGER poll_votes_rules BEFORE INSERT OR UPDATE OR DELETE ON poll_votes
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_poll_vote_rules();

-- A ballot cast, changed or taken back rewrites its poll's results: the
-- message takes a change_seq, and members see `message_updated`.
CREATE OR REPLACE FUNCTION pgchat.tg_poll_vote_results() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE chat_messages
     SET poll = jsonb_set(poll, '{results}',
                          pgchat.poll_results(id, jsonb_array_length(poll -> 'options'),
                                              (poll ->> 'anonymous')::boolean))
   WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.message_id ELSE NEW.message_id END
     AND poll IS NOT NULL AND deleted_at IS NULL;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS poll_votes_results ON poll_votes;
CREATE TRIGGER poll_votes_results AFTER INSERT OR UPDATE OR DELETE ON poll_votes
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_poll_vote_results();

-- Closes a poll early: its author or a moderator of its room (a platform
-- admin anywhere). Closing a closed poll changes nothing. The caller has
-- found the message under RLS; false when it is gone.
CREATE OR REPLACE FUNCTION pgchat.close_poll(p_message uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  m chat_messages;
BEGIN
  SELECT * INTO m FROM chat_messages WHERE id = p_message FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF m.kind <> 'poll' OR m.poll IS NULL THEN
    PERFORM pgchat.refuse('not_a_poll');
  END IF;
  IF m.deleted_at IS NOT NULL THEN
    PERFORM pgchat.refuse('message_deleted');
  END IF;
  IF auth.uid() IS NOT NULL AND m.sender_id IS DISTINCT FROM auth.uid()
     AND NOT pgchat.can_moderate(m.conversation_id, auth.uid(), auth.role()) THEN
    PERFORM pgchat.refuse('not_your_message', 'only its author or a moderator closes a poll');
  END IF;
  IF m.poll ->> 'closed_at' IS NULL THEN
    UPDATE chat_messages
       SET poll = poll || jsonb_build_object(
                    'closed_at', pgchat.ts(least(now(), coalesce((poll ->> 'closes_at')::timestamptz, now()))),
                    'closed_by', auth.uid())
     WHERE id = p_message;
  END IF;
  RETURN true;
END $$;

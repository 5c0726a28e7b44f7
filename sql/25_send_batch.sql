-- Group commit of sends: a batch of messages from many senders and
-- conversations is stored by one set-based call, in one transaction (one
-- commit, one pass through NOTIFY's commit-time lock), with one INSERT
-- statement (so one notification per conversation, sql/30_notify.sql):
--
--   1. plan    every item: a retry of a stored message ('existing'), one this
--              call stores ('insert'), or one for the one-message path ('slow':
--              what the plain case does not cover — an attachment, a staff reply
--              that claims or first-answers a support session —, or one that
--              would be refused, so the ordinary path gives the precise error);
--   2. reserve each conversation's numbers with one UPDATE, in conversation
--              order (concurrent batches lock conversations in the same order);
--   3. insert  the planned rows in one INSERT as pgchat_user: the insert policy
--              admits each row in its sender's name (request.jwt.batch), and
--              checks pgchat.can_write for it — the database decides;
--   4. answer  every item with its stored message.
--
-- Once one of a sender's items is 'slow', the sender's later items are too,
-- so the server sends them after it, in order.

-- The senders of a batch, each with the role their verified token carries: set
-- by the server (like request.jwt.claims) for the batch's INSERT.
CREATE OR REPLACE FUNCTION auth.batch() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.batch', true), ''), '{}')::jsonb
$$;

-- The (conversation, sender, role) pairs of the batch being inserted
-- (pgchat.batch_writes, set by send_batch) in which the sender may write, by
-- pgchat.can_write: the insert policy checks every row against this set. The
-- setting only says which pairs to check, never that one may write; and the
-- policy computes the set once per statement (a hashed subplan), not a
-- can_write call per row.
CREATE OR REPLACE FUNCTION pgchat.batch_writable()
RETURNS TABLE (conversation_id uuid, sender_id text, sender_role text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT w.c, w.u, w.r
    FROM (SELECT x.c, x.u, (SELECT auth.batch()) ->> x.u AS r
            FROM jsonb_to_recordset(coalesce(nullif(current_setting('pgchat.batch_writes', true), ''), '[]')::jsonb)
                 AS x(c uuid, u text)) w
   WHERE w.r IN ('user', 'agent', 'admin') AND pgchat.can_write(w.c, w.u, w.r);
END $$;

-- Step 1. SECURITY DEFINER: a sender's earlier message is found whatever RLS
-- shows the batch; only senders of the batch (auth.batch()) are served.
-- (PL/pgSQL here and below: its plans are kept per session, where a SECURITY
-- DEFINER SQL function would be planned again on every call.)
DROP FUNCTION IF EXISTS pgchat.send_plan(jsonb);
CREATE FUNCTION pgchat.send_plan(items jsonb)
RETURNS TABLE (i integer, outcome text, sub text, role text, conversation_id uuid,
               client_msg_id uuid, kind text, body text, reply_to uuid, internal boolean,
               k bigint, message jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH input AS (
    SELECT x.ord::integer AS i, x.*
      FROM ROWS FROM (jsonb_to_recordset(items)
             AS (sub text, role text, conversation_id uuid, client_msg_id uuid, kind text, body text,
                 reply_to uuid, internal boolean, attachment_id uuid, poll boolean)) WITH ORDINALITY
           AS x(sub, role, conversation_id, client_msg_id, kind, body, reply_to, internal, attachment_id, poll, ord)
  ), lists AS (
    -- the content filter's one expression, once per batch: no row while both
    -- lists are empty, and then nothing below looks at moderation (sql/47_moderation.sql)
    SELECT l.matcher FROM moderation_lists l WHERE l.matcher IS NOT NULL
  ), writable AS MATERIALIZED (
    -- once per sender and conversation, not per item: MATERIALIZED, or the
    -- planner pulls this up into `planned` and calls can_write and the
    -- moderation functions once per item
    SELECT d.conversation_id, d.sub, d.role, pgchat.can_write(d.conversation_id, d.sub, d.role) AS ok,
           f.matcher,
           -- `hold` with the model check on: every checked message is held until
           -- its verdict, on the checked path (sql/47_moderation_model.sql)
           CASE WHEN x.model THEN pgchat.moderation_mode(d.conversation_id, d.sub, d.role) = 'hold'
                ELSE false END AS pending
      FROM (SELECT DISTINCT conversation_id, sub, role FROM input) d
      CROSS JOIN (SELECT pgchat.moderation_model_on() AS model) x
      -- the mode of each sender and conversation, only when there is something to match
      LEFT JOIN lists f ON pgchat.moderation_mode(d.conversation_id, d.sub, d.role) <> 'off'
  ), planned AS (
    SELECT input.*, prior.conversation_id AS stored_in, prior.json,
           CASE
             WHEN prior.json IS NOT NULL
               THEN CASE WHEN prior.conversation_id = input.conversation_id THEN 'existing' ELSE 'slow' END
             WHEN input.role IS DISTINCT FROM (SELECT auth.batch()) ->> input.sub
               OR NOT w.ok
               OR input.attachment_id IS NOT NULL
               -- a file's kind without its file: refused with the reason on the checked path
               OR input.kind IN ('image', 'file', 'audio', 'video')
               -- a poll, or a message carrying one: the checked path stores it (sql/46_polls.sql)
               OR input.kind = 'poll' OR input.poll
               OR (input.internal AND input.role NOT IN ('agent', 'admin'))
               -- the content filter matched: flagged, held or refused on the checked path
               OR (w.matcher IS NOT NULL AND NOT input.internal AND input.body ~* w.matcher)
               OR (w.pending AND NOT input.internal)
               OR (input.reply_to IS NOT NULL AND NOT EXISTS (
                     SELECT 1 FROM chat_messages p
                      WHERE p.id = input.reply_to AND p.conversation_id = input.conversation_id))
               -- a customer answering a pending, snoozed or resolved session moves it
               OR (input.role = 'user' AND EXISTS (
                     SELECT 1 FROM live_chat_sessions s
                      WHERE s.conversation_id = input.conversation_id
                        AND s.status IN ('pending', 'snoozed', 'resolved')))
               OR (input.role IN ('agent', 'admin') AND EXISTS (
                     SELECT 1 FROM live_chat_sessions s
                      WHERE s.conversation_id = input.conversation_id
                        AND (s.status = 'waiting' OR s.first_response_at IS NULL
                             OR s.agent_id IS DISTINCT FROM input.sub)))
               -- the same client_msg_id twice in one batch: the later one is a retry
               OR count(*) OVER (PARTITION BY input.sub, input.client_msg_id ORDER BY input.i) > 1
               THEN 'slow'
             ELSE 'insert'
           END AS plan
      FROM input
      JOIN writable w USING (conversation_id, sub, role)
      LEFT JOIN LATERAL (
        SELECT m.conversation_id, r.json
          FROM chat_messages m JOIN pgchat.message_rows r ON r.id = m.id
         WHERE m.sender_id = input.sub AND m.client_msg_id = input.client_msg_id) prior ON true
  ), held AS (
    SELECT planned.*,
           CASE WHEN bool_or(plan = 'slow') OVER (PARTITION BY sub ORDER BY i) THEN 'slow' ELSE plan END AS outcome
      FROM planned
  )
  SELECT h.i, h.outcome, h.sub, h.role, h.conversation_id, h.client_msg_id, h.kind, h.body,
         h.reply_to, h.internal,
         CASE WHEN h.outcome = 'insert'
              THEN count(*) FILTER (WHERE h.outcome = 'insert')
                     OVER (PARTITION BY h.conversation_id ORDER BY h.i) END,
         h.json
    FROM held h
   ORDER BY h.i;
END $$;

-- Step 2. Takes `n` numbers of a conversation at once and returns the one
-- before them; `last_public` is the position (1..n) of the last message that
-- is not an internal note, which becomes the conversation's last message.
CREATE OR REPLACE FUNCTION pgchat.reserve_seqs(conv uuid, n bigint, last_public bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  base bigint;
BEGIN
  UPDATE conversations
     SET last_seq = last_seq + n,
         last_message_seq = CASE WHEN last_public IS NULL THEN last_message_seq ELSE last_seq + last_public END,
         last_message_at = CASE WHEN last_public IS NULL THEN last_message_at ELSE now() END
   WHERE id = conv
  RETURNING last_seq - n INTO base;
  RETURN base;
END $$;

-- Step 4. SECURITY DEFINER: each sender's own stored message, in wire shape
-- (one set-based read). No ON CONFLICT in step 3 (under RLS it would need the
-- rows to be readable by the batch's claims): a send of the same
-- client_msg_id that commits concurrently fails the batch with a unique
-- violation, and the server sends its items one by one.
DROP FUNCTION IF EXISTS pgchat.send_results(jsonb);
CREATE FUNCTION pgchat.send_results(plan jsonb)
RETURNS TABLE (i integer, outcome text, message jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT p.i,
         CASE p.outcome WHEN 'insert' THEN 'created' ELSE p.outcome END,
         CASE p.outcome WHEN 'existing' THEN p.message
                        WHEN 'insert' THEN r.json END
    FROM jsonb_to_recordset(plan) AS p(i integer, outcome text, sub text, client_msg_id uuid, message jsonb)
    LEFT JOIN chat_messages m
           ON p.outcome = 'insert' AND m.sender_id = p.sub AND m.client_msg_id = p.client_msg_id
    LEFT JOIN pgchat.message_rows r ON r.id = m.id
   ORDER BY p.i;
END $$;

-- The batch, as the caller (pgchat_user): the INSERT is checked by RLS.
-- Generic plans, for this call and everything under it (the plan, the
-- triggers, the answers): their parameters are JSON documents whose values
-- tell the planner nothing, yet PL/pgSQL's plan cache kept choosing custom
-- plans, so each batch planned its big queries again (a third of a batch's
-- time, measured).
CREATE OR REPLACE FUNCTION pgchat.send_batch(items jsonb, senders jsonb)
RETURNS TABLE (i integer, outcome text, message jsonb)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  plan jsonb;
  bases jsonb := '{}';
  r record;
BEGIN
  PERFORM set_config('request.jwt.batch', senders::text, true);
  SELECT jsonb_agg(to_jsonb(p)) INTO plan FROM pgchat.send_plan(items) p;
  FOR r IN
    SELECT p.conversation_id AS conv, count(*) AS n, max(p.k) FILTER (WHERE NOT p.internal) AS last_public
      FROM jsonb_to_recordset(plan) AS p(outcome text, conversation_id uuid, internal boolean, k bigint)
     WHERE p.outcome = 'insert'
     GROUP BY p.conversation_id ORDER BY p.conversation_id
  LOOP
    bases := bases || jsonb_build_object(r.conv, pgchat.reserve_seqs(r.conv, r.n, r.last_public));
  END LOOP;
  IF bases <> '{}' THEN
    PERFORM set_config('pgchat.batch_writes', (
      SELECT jsonb_agg(DISTINCT jsonb_build_object('c', p.conversation_id, 'u', p.sub))::text
        FROM jsonb_to_recordset(plan) AS p(outcome text, conversation_id uuid, sub text)
       WHERE p.outcome = 'insert'), true);
    PERFORM set_config('pgchat.seq_reserved', 'on', true);
    INSERT INTO chat_messages (conversation_id, seq, sender_id, sender_role, client_msg_id, kind, body,
                               reply_to, internal)
    SELECT p.conversation_id, (bases ->> p.conversation_id::text)::bigint + p.k, p.sub, p.role,
           p.client_msg_id, p.kind, p.body, p.reply_to, p.internal
      FROM jsonb_to_recordset(plan) AS p(i integer, outcome text, sub text, role text, conversation_id uuid,
                                         client_msg_id uuid, kind text, body text, reply_to uuid,
                                         internal boolean, k bigint)
     WHERE p.outcome = 'insert'
     ORDER BY p.conversation_id, p.k;
    PERFORM set_config('pgchat.seq_reserved', '', true);
    PERFORM set_config('pgchat.batch_writes', '', true);
  END IF;
  PERFORM set_config('request.jwt.batch', '', true);
  RETURN QUERY SELECT * FROM pgchat.send_results(plan);
END $$;
DROP FUNCTION IF EXISTS pgchat.send_batch(jsonb);

-- Sentiment, offline: a hint for agents about which chats are going badly,
-- not a verdict. A text scores the words it shares with a small lexicon
-- (weights -3..3; a negation just before a word — "not good" — flips it),
-- summed and squashed into -1..1 by x / sqrt(x² + 15) as VADER's compound
-- score is; `sentiment_label` names it (±0.05 as VADER's thresholds).
-- Computed when asked (GET /v1/support/sessions/{id}/sentiment), never on the
-- send path.
CREATE OR REPLACE FUNCTION pgchat.sentiment_score(body text) RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  WITH words AS (
    SELECT t.word, lag(t.word) OVER (ORDER BY t.n) AS prev
      FROM regexp_split_to_table(lower(coalesce(body, '')), '[^[:alpha:]'']+') WITH ORDINALITY AS t(word, n)
  ), total AS (
    SELECT coalesce(sum(CASE WHEN w.prev IN ('not', 'no', 'never', 'dont', 'don''t', 'doesn''t', 'didn''t',
                                               'isn''t', 'wasn''t', 'aren''t', 'cannot', 'can''t', 'won''t',
                                               'hardly', 'nothing')
                             THEN -l.weight ELSE l.weight END), 0) AS x
      FROM words w
      JOIN (VALUES
        ('amazing', 3), ('awesome', 3), ('excellent', 3), ('fantastic', 3), ('perfect', 3),
        ('wonderful', 3), ('love', 3), ('brilliant', 3), ('outstanding', 3),
        ('great', 2), ('thanks', 2), ('thank', 2), ('happy', 2), ('glad', 2), ('helpful', 2),
        ('appreciate', 2), ('pleased', 2), ('nice', 2), ('good', 2), ('resolved', 2), ('solved', 2),
        ('fixed', 2), ('quick', 1), ('fast', 1), ('easy', 1), ('works', 1), ('working', 1), ('ok', 1),
        ('okay', 1), ('fine', 1), ('kind', 1), ('friendly', 1), ('clear', 1),
        ('terrible', -3), ('awful', -3), ('horrible', -3), ('worst', -3), ('hate', -3),
        ('useless', -3), ('unacceptable', -3), ('ridiculous', -3), ('scam', -3), ('furious', -3),
        ('bad', -2), ('angry', -2), ('annoyed', -2), ('frustrated', -2), ('frustrating', -2),
        ('disappointed', -2), ('disappointing', -2), ('broken', -2), ('poor', -2), ('wrong', -2),
        ('fail', -2), ('failed', -2), ('failing', -2), ('fails', -2), ('rude', -2), ('complaint', -2),
        ('slow', -1), ('problem', -1), ('issue', -1), ('error', -1), ('refund', -1), ('cancel', -1),
        ('waiting', -1), ('confused', -1), ('confusing', -1), ('late', -1), ('missing', -1), ('still', -1)
      ) AS l(word, weight) ON l.word = w.word
  )
  SELECT (x / sqrt(x * x + 15))::real FROM total
$$;

CREATE OR REPLACE FUNCTION pgchat.sentiment_label(score real) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN score >= 0.05 THEN 'positive' WHEN score <= -0.05 THEN 'negative' ELSE 'neutral' END
$$;

-- The messages a session's sentiment is read from, as the caller sees them
-- (RLS): the customer's own, not deleted, newest 100.
CREATE OR REPLACE FUNCTION pgchat.sentiment_messages(s live_chat_sessions) RETURNS SETOF chat_messages
LANGUAGE sql STABLE AS $$
  SELECT m.* FROM chat_messages m
   WHERE m.conversation_id = s.conversation_id AND m.sender_id = s.customer_id
     AND m.deleted_at IS NULL AND NOT m.internal
   ORDER BY m.seq DESC LIMIT 100
$$;

-- Those of them a model has not scored as they read now (none scored, or
-- edited since), newest first: what PGCHAT_AI_SENTIMENT=model asks it about.
CREATE OR REPLACE FUNCTION pgchat.sentiment_unscored(s live_chat_sessions)
RETURNS TABLE (id uuid, body text)
LANGUAGE sql STABLE AS $$
  SELECT m.id, m.body FROM pgchat.sentiment_messages(s) m
   WHERE NOT EXISTS (SELECT 1 FROM message_sentiment c WHERE c.message_id = m.id AND c.source = m.body)
   ORDER BY m.seq DESC
$$;

-- A support session's sentiment as the caller sees it: those messages, each
-- scored, oldest first, and their mean; `recent` is the mean of the last five,
-- so an agent sees a chat turning either way. A message a model scored for its
-- current text (`message_sentiment`) takes the model's score and names its
-- provider; any other is scored offline. The session's `provider` is the model's
-- when it scored any of them.
CREATE OR REPLACE FUNCTION pgchat.session_sentiment(s live_chat_sessions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  WITH scored AS (
    SELECT m.id, m.seq, coalesce(c.score, pgchat.sentiment_score(m.body)) AS score,
           coalesce(c.provider, 'offline') AS provider,
           row_number() OVER (ORDER BY m.seq DESC) AS back
      FROM pgchat.sentiment_messages(s) m
      LEFT JOIN message_sentiment c ON c.message_id = m.id AND c.source = m.body
  )
  SELECT jsonb_build_object(
    'session_id', s.id,
    'score', round(coalesce(avg(score), 0)::numeric, 3),
    'label', pgchat.sentiment_label(coalesce(avg(score), 0)::real),
    'recent', round(coalesce(avg(score) FILTER (WHERE back <= 5), 0)::numeric, 3),
    'provider', coalesce(max(provider) FILTER (WHERE provider <> 'offline'), 'offline'),
    'messages', coalesce(jsonb_agg(jsonb_build_object(
                  'id', id, 'seq', seq, 'score', round(score::numeric, 3),
                  'label', pgchat.sentiment_label(score), 'provider', provider) ORDER BY seq), '[]'::jsonb))
  FROM scored
$$;

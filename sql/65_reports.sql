-- Reports (issue 19, item 8): the desk's figures over a date range, grouped
-- by day, week, agent, team or label — GET /v1/admin/reports in JSON or CSV,
-- and in psql: SELECT * FROM pgchat.desk_report(from, to, 'week').
--
-- Per group: sessions opened (started in the range and the group) and
-- resolved (resolved, closed or ended in it); for the sessions opened, the
-- first-response and resolution times (median and average, seconds; the time
-- pending or snoozed is not left out of resolution), the first-response and
-- escalation SLA breaches, the ratings (count and average), and the
-- customers' sentiment (the mean of the sessions' `session_sentiment` scores,
-- sql/76_sentiment.sql, and how many sessions scored negative). Day and week
-- buckets are UTC (weeks start on Monday) and every bucket of the range is a
-- row, empty or not; agent, team and label rows are those with sessions (a
-- session with two labels counts under each; no agent or team: key null).
-- Admins only: the function refuses anyone else (`admins_only`) and runs as
-- the caller, so RLS applies too.

DROP FUNCTION IF EXISTS pgchat.desk_report(timestamptz, timestamptz, text);
CREATE FUNCTION pgchat.desk_report(p_from timestamptz, p_to timestamptz, p_group text)
RETURNS TABLE (key text, name text, sessions_opened bigint, sessions_resolved bigint,
               first_response_median_secs numeric, first_response_avg_secs numeric,
               resolution_median_secs numeric, resolution_avg_secs numeric,
               sla_breaches bigint, escalation_breaches bigint, ratings bigint, rating_average numeric,
               sentiment_average numeric, sentiment_negative bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
#variable_conflict use_column
DECLARE
  -- the bucket's width (a day for the groupings that have none)
  unit text := CASE WHEN p_group = 'week' THEN 'week' ELSE 'day' END;
BEGIN
  IF auth.uid() IS NOT NULL AND auth.role() <> 'admin' THEN
    PERFORM pgchat.refuse('admins_only', 'reports are for admins');
  END IF;
  IF p_group NOT IN ('day', 'week', 'agent', 'team', 'label') THEN
    PERFORM pgchat.refuse('invalid_group_by', 'group_by is day, week, agent, team or label');
  END IF;
  IF p_from >= p_to THEN
    PERFORM pgchat.refuse('invalid_range', '`from` must be before `to`');
  END IF;
  IF p_to - p_from > interval '366 days' THEN
    PERFORM pgchat.refuse('invalid_range', 'a report covers at most 366 days');
  END IF;
  RETURN QUERY
  WITH s AS (
    SELECT x.id, x.agent_id, x.team_id, x.labels, x.started_at, x.rating,
           CASE WHEN pgchat.session_over(x.status) THEN coalesce(x.ended_at, x.closed_at, x.resolved_at) END AS done_at,
           extract(epoch FROM x.first_response_at - x.started_at)::numeric AS frt,
           extract(epoch FROM CASE WHEN pgchat.session_over(x.status)
                                   THEN coalesce(x.ended_at, x.closed_at, x.resolved_at) END - x.started_at)::numeric AS resolution,
           pgchat.sla_breached(x) AS breached,
           pgchat.escalation_breached(x) AS escalation_missed,
           (pgchat.session_sentiment(x) ->> 'score')::numeric AS sentiment
      FROM live_chat_sessions x
     WHERE (x.started_at >= p_from AND x.started_at < p_to)
        OR (pgchat.session_over(x.status)
            AND coalesce(x.ended_at, x.closed_at, x.resolved_at) >= p_from
            AND coalesce(x.ended_at, x.closed_at, x.resolved_at) < p_to)
  ),
  -- each session under the keys of its group, with whether it was opened or
  -- resolved in the range (and bucket)
  keyed AS (
    SELECT k.key, s.*, k.opened, k.resolved
      FROM s
     CROSS JOIN LATERAL (
       SELECT to_char(date_trunc(unit, s.started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS key, true AS opened, false AS resolved
        WHERE p_group IN ('day', 'week') AND s.started_at >= p_from AND s.started_at < p_to
       UNION ALL
       SELECT to_char(date_trunc(unit, s.done_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD'), false, true
        WHERE p_group IN ('day', 'week') AND s.done_at >= p_from AND s.done_at < p_to
       UNION ALL
       SELECT g.key, s.started_at >= p_from AND s.started_at < p_to, s.done_at >= p_from AND s.done_at < p_to
         FROM (SELECT s.agent_id AS key WHERE p_group = 'agent'
               UNION ALL SELECT s.team_id::text WHERE p_group = 'team'
               UNION ALL SELECT l FROM unnest(s.labels) l WHERE p_group = 'label') g
     ) k
  ),
  buckets AS (
    SELECT to_char(b, 'YYYY-MM-DD') AS key
      FROM generate_series(date_trunc(unit, p_from AT TIME ZONE 'UTC'),
                           (p_to AT TIME ZONE 'UTC') - interval '1 microsecond',
                           ('1 ' || unit)::interval) b
     WHERE p_group IN ('day', 'week')
    UNION
    SELECT DISTINCT keyed.key FROM keyed WHERE p_group NOT IN ('day', 'week')
  )
  SELECT b.key,
         CASE p_group WHEN 'team' THEN (SELECT t.name FROM teams t WHERE t.id::text = b.key)
                      WHEN 'agent' THEN (SELECT u.name FROM users u WHERE u.id = b.key) END,
         count(k.id) FILTER (WHERE k.opened),
         count(k.id) FILTER (WHERE k.resolved),
         round((percentile_cont(0.5) WITHIN GROUP (ORDER BY k.frt) FILTER (WHERE k.opened))::numeric, 3),
         round(avg(k.frt) FILTER (WHERE k.opened), 3),
         round((percentile_cont(0.5) WITHIN GROUP (ORDER BY k.resolution) FILTER (WHERE k.opened))::numeric, 3),
         round(avg(k.resolution) FILTER (WHERE k.opened), 3),
         count(k.id) FILTER (WHERE k.opened AND k.breached),
         count(k.id) FILTER (WHERE k.opened AND k.escalation_missed),
         count(k.rating) FILTER (WHERE k.opened),
         round(avg(k.rating) FILTER (WHERE k.opened), 2),
         round(avg(k.sentiment) FILTER (WHERE k.opened), 3),
         count(k.id) FILTER (WHERE k.opened AND pgchat.sentiment_label(k.sentiment::real) = 'negative')
    FROM buckets b
    LEFT JOIN keyed k ON k.key IS NOT DISTINCT FROM b.key
   GROUP BY b.key
   ORDER BY b.key NULLS LAST;
END $$;

-- The report as JSON: {"from", "to", "group_by", "rows": [{"key", "name",
-- "sessions_opened", "sessions_resolved", "first_response_secs": {"median",
-- "average"}, "resolution_secs": {...}, "sla_breaches", "escalation_breaches",
-- "ratings", "rating_average", "sentiment": {"average", "negative_sessions"}}]}.
CREATE OR REPLACE FUNCTION pgchat.desk_report_json(p_from timestamptz, p_to timestamptz, p_group text)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'from', pgchat.ts(p_from), 'to', pgchat.ts(p_to), 'group_by', p_group,
    'rows', coalesce(jsonb_agg(jsonb_build_object(
      'key', r.key, 'name', r.name,
      'sessions_opened', r.sessions_opened, 'sessions_resolved', r.sessions_resolved,
      'first_response_secs', jsonb_build_object('median', r.first_response_median_secs,
                                                'average', r.first_response_avg_secs),
      'resolution_secs', jsonb_build_object('median', r.resolution_median_secs,
                                            'average', r.resolution_avg_secs),
      'sla_breaches', r.sla_breaches, 'escalation_breaches', r.escalation_breaches,
      'ratings', r.ratings, 'rating_average', r.rating_average,
      'sentiment', jsonb_build_object('average', r.sentiment_average,
                                      'negative_sessions', r.sentiment_negative)) ORDER BY r.key NULLS LAST), '[]'::jsonb))
    FROM pgchat.desk_report(p_from, p_to, p_group) r
$$;

-- One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line
-- break or leading/trailing space, quotes doubled; a text that a spreadsheet
-- would run as a formula (= + - @ tab) is prefixed with an apostrophe.
CREATE OR REPLACE FUNCTION pgchat.csv_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN f ~ '[",\r\n]' OR f <> btrim(f) THEN '"' || replace(f, '"', '""') || '"' ELSE f END
    FROM (SELECT CASE WHEN coalesce(v, '') ~ '^[=+\-@\t\r]' THEN '''' || v ELSE coalesce(v, '') END AS f) x
$$;

-- The report as CSV: a header row, then a row per group, CRLF line ends.
CREATE OR REPLACE FUNCTION pgchat.desk_report_csv(p_from timestamptz, p_to timestamptz, p_group text)
RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT 'key,name,sessions_opened,sessions_resolved,first_response_median_secs,first_response_avg_secs,'
         || 'resolution_median_secs,resolution_avg_secs,sla_breaches,escalation_breaches,ratings,rating_average,'
         || 'sentiment_average,sentiment_negative_sessions'
         || E'\r\n'
         || coalesce(string_agg(concat_ws(',',
              pgchat.csv_field(r.key), pgchat.csv_field(r.name),
              r.sessions_opened, r.sessions_resolved,
              coalesce(r.first_response_median_secs::text, ''), coalesce(r.first_response_avg_secs::text, ''),
              coalesce(r.resolution_median_secs::text, ''), coalesce(r.resolution_avg_secs::text, ''),
              r.sla_breaches, r.escalation_breaches, r.ratings, coalesce(r.rating_average::text, ''),
              coalesce(r.sentiment_average::text, ''), r.sentiment_negative)
              || E'\r\n', '' ORDER BY r.key NULLS LAST), '')
    FROM pgchat.desk_report(p_from, p_to, p_group) r
$$;

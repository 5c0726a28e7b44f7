-- A waiting customer's place in the queue (the widget shows it): how many
-- waiting sessions the assigner takes before theirs, in its own order
-- (priority, then age), how many wait in all, and the median wait of the
-- sessions of the last day that an agent took, as a hint of what to expect.
-- SECURITY DEFINER: a customer cannot read the others' sessions, and this
-- tells only counts. Callers check first that the session is theirs to see.
CREATE OR REPLACE FUNCTION pgchat.queue_place(p_session uuid) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'session_id', s.id,
    'status', s.status,
    'position', CASE WHEN s.status = 'waiting' THEN (
      SELECT count(*) + 1 FROM live_chat_sessions w
       WHERE w.status = 'waiting'
         AND (pgchat.priority_rank(w.priority), w.started_at, w.id)
           < (pgchat.priority_rank(s.priority), s.started_at, s.id)) END,
    'waiting', (SELECT count(*) FROM live_chat_sessions w WHERE w.status = 'waiting'),
    'expected_wait_secs', (
      SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.assigned_at - a.started_at)))::integer
        FROM live_chat_sessions a
       WHERE a.started_at > now() - interval '1 day' AND a.assigned_at IS NOT NULL))
  FROM live_chat_sessions s
  WHERE s.id = p_session
$$;

-- Full-text search (src/service/search.rs): the query a client typed, bounded.

-- The tsquery of a search (websearch syntax, 'simple' configuration), refused
-- with query_too_complex when it has more than p_max_terms words (0: no
-- bound). Each word is another posting list to intersect and, in a phrase,
-- another position check on every candidate row: a long phrase of common words
-- was the query that ran for minutes. Words are the tsquery's operands (each
-- a quoted lexeme in its text form), so "foo-bar" counts as the parser sees it.
CREATE OR REPLACE FUNCTION pgchat.search_query(p_q text, p_max_terms integer) RETURNS tsquery
LANGUAGE plpgsql STABLE AS $$
DECLARE
  q tsquery := websearch_to_tsquery('simple', p_q);
  terms integer;
BEGIN
  IF p_max_terms > 0 THEN
    SELECT count(*) INTO terms FROM regexp_matches(q::text, '''(?:[^'']|'''')*''', 'g');
    IF terms > p_max_terms THEN
      RAISE EXCEPTION USING ERRCODE = 'PC001', DETAIL = 'query_too_complex',
        MESSAGE = 'a search may have at most ' || p_max_terms || ' words (this one has ' || terms || ')';
    END IF;
  END IF;
  RETURN q;
END $$;

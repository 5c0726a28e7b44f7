-- The caller's identity, Supabase/PostgREST style: the server sets
-- `request.jwt.claims` (and role pgchat_user) at the start of every request's
-- transaction; policies read it through these helpers. Outside a request
-- (psql, the listener) the claims are empty and uid() is NULL.

CREATE OR REPLACE FUNCTION auth.claims() RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

CREATE OR REPLACE FUNCTION auth.uid() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT auth.claims() ->> 'sub'
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(auth.claims() ->> 'role', 'user')
$$;

CREATE OR REPLACE FUNCTION auth.is_staff() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT auth.role() IN ('agent', 'admin')
$$;

-- RFC 3339 in UTC with microseconds, whatever the session's TimeZone: every JSON
-- the database produces (API responses and NOTIFY payloads) uses this one format.
CREATE OR REPLACE FUNCTION pgchat.ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

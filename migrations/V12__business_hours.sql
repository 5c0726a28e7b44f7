-- Business hours and offline mode (issue 19, item 6): the desk's weekly hours
-- and holidays, and a team's own, in a time zone. Outside them, or with no
-- agent online, a session opened is an offline one: it waits as a ticket (the
-- inactivity sweep leaves it alone) until an agent takes it.
-- Functions and triggers are in sql/64_business_hours.sql.

-- One row for the desk (team_id NULL) and at most one per team; a team
-- without one keeps the desk's; no desk row: always open.
CREATE TABLE business_hours (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  team_id    uuid REFERENCES teams (id) ON DELETE CASCADE,
  -- an IANA name (Europe/Paris); checked by a trigger
  time_zone  text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
  -- {"mon": [{"open": "09:00", "close": "17:00"}], ...}: local times, days
  -- left out are closed (the API parses and orders it)
  weekly     jsonb NOT NULL CHECK (jsonb_typeof(weekly) = 'object'),
  -- local dates on which the desk is closed
  holidays   date[] NOT NULL DEFAULT '{}' CHECK (cardinality(holidays) <= 366),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX business_hours_scope_idx ON business_hours ((coalesce(team_id::text, 'desk')));

-- Opened while the desk was closed or nobody was online: a ticket, not a chat
-- that times out.
ALTER TABLE live_chat_sessions ADD COLUMN offline boolean NOT NULL DEFAULT false;

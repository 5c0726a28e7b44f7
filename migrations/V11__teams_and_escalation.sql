-- Teams of agents and escalation (issue 19, item 2). A team has its own queue:
-- auto-assignment gives a session with a team only to that team's available
-- agents. Escalation moves a session to another team or up a tier, raises its
-- priority and starts a deadline of its own (the escalation SLA).
-- Functions and triggers are in sql/63_teams.sql, row-level security in
-- policies/teams.sql.

CREATE TABLE teams (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  description         text CHECK (length(description) <= 1000),
  -- the next tier: where an escalation without a named team goes
  escalate_to         uuid REFERENCES teams (id) ON DELETE SET NULL CHECK (escalate_to <> id),
  -- seconds an escalated session of this team may wait for a staff answer
  -- (NULL: the desk's default, desk_settings.escalation_sla_secs)
  escalation_sla_secs integer CHECK (escalation_sla_secs BETWEEN 1 AND 31536000),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_name_idx ON teams (lower(name));

-- An agent may be in several teams; leaving the desk leaves them all.
CREATE TABLE team_members (
  team_id  uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
  agent_id text NOT NULL REFERENCES agents (user_id) ON DELETE CASCADE,
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_agent_idx ON team_members (agent_id);

ALTER TABLE live_chat_sessions
  ADD COLUMN team_id           uuid REFERENCES teams (id) ON DELETE SET NULL,
  -- 0: never escalated; each escalation adds one
  ADD COLUMN escalation_level  integer NOT NULL DEFAULT 0 CHECK (escalation_level BETWEEN 0 AND 10),
  ADD COLUMN escalated_at      timestamptz,
  ADD COLUMN escalation_reason text CHECK (length(escalation_reason) <= 1000),
  -- the escalation SLA: a staff answer is due by then
  ADD COLUMN escalation_due_at timestamptz,
  ADD CONSTRAINT live_chat_sessions_escalation_check
    CHECK ((escalation_level = 0) = (escalated_at IS NULL));
CREATE INDEX live_chat_sessions_team_idx ON live_chat_sessions (team_id) WHERE team_id IS NOT NULL;

-- The escalation SLA of a team without its own (0: no deadline).
ALTER TABLE desk_settings ADD COLUMN escalation_sla_secs integer NOT NULL DEFAULT 3600
  CHECK (escalation_sla_secs >= 0);

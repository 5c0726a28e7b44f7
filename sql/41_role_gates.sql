-- Role gates: what only staff (agents and admins), only admins or only
-- customers do, one row per action. A gate refuses by role alone, before
-- anything is looked up, so its answer is the same for every id and reveals
-- nothing (`staff_only`, `admins_only`, `customers_only`, PC001). Services
-- pass the gate of their action first (`SELECT pgchat.gate('desk')`); the
-- triggers on the desk's tables pass the same gates, so rows written as a
-- request from psql are refused with the same reasons. Requests only: the
-- server and psql without claims pass.
CREATE OR REPLACE FUNCTION pgchat.gate(action text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  needs text;
  why text;
BEGIN
  SELECT g.needs, g.why INTO needs, why FROM (VALUES
    ('desk',                 'staff', 'the desk is for agents and admins'),
    ('manage_agents',        'admin', 'only admins manage agents'),
    ('agent_settings',       'admin', 'only admins set an agent''s skills or enablement'),
    ('canned',               'staff', 'canned responses are for agents and admins'),
    ('write_shared_canned',  'admin', 'only admins write shared canned responses'),
    ('change_shared_canned', 'admin', 'only admins change shared canned responses'),
    ('claim_session',        'staff', 'only agents and admins claim sessions'),
    ('assign_session',       'staff', 'only agents and admins assign sessions'),
    ('change_session',       'staff', 'only agents and admins change a session''s details'),
    ('support_queue',        'staff', 'the support queue is for agents and admins'),
    ('internal_note',        'staff', 'only agents and admins write internal notes'),
    ('teams',                'staff', 'teams are for agents and admins'),
    ('manage_teams',         'admin', 'only admins change teams'),
    ('contacts',             'staff', 'only agents and admins read other contacts'),
    ('business_hours',       'admin', 'only admins read and set business hours'),
    ('dashboard',            'admin', 'the dashboard is for admins'),
    ('audit',                'admin', 'only admins read the audit trail'),
    ('settings',             'admin', 'only admins read and change the desk''s settings'),
    ('summarize',            'staff', 'conversation summaries are for agents and admins'),
    ('sentiment',            'staff', 'sentiment is for agents and admins'),
    ('moderation_lists',     'admin', 'only admins read and set the moderation lists'),
    ('open_session',         'user',  'support sessions are opened by customers'))
    AS g(action, needs, why)
   WHERE g.action = gate.action;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no gate named %', action;
  END IF;
  IF auth.uid() IS NULL THEN
    RETURN;
  END IF;
  IF needs = 'staff' AND NOT auth.is_staff() THEN
    PERFORM pgchat.refuse('staff_only', why);
  ELSIF needs = 'admin' AND auth.role() <> 'admin' THEN
    PERFORM pgchat.refuse('admins_only', why);
  ELSIF needs = 'user' AND auth.role() <> 'user' THEN
    PERFORM pgchat.refuse('customers_only', why);
  END IF;
END $$;

-- Canned responses are the desk's; shared ones (no owner) are written,
-- changed and deleted by admins. The update and delete policies let staff
-- reach shared rows so that this trigger says why (`admins_only`); their
-- checks still hold every row to its owner or an admin.
CREATE OR REPLACE FUNCTION pgchat.tg_canned_gates() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgchat.gate('canned');
  IF TG_OP = 'INSERT' AND NEW.owner_id IS NULL THEN
    PERFORM pgchat.gate('write_shared_canned');
  ELSIF TG_OP <> 'INSERT' AND OLD.owner_id IS NULL THEN
    PERFORM pgchat.gate('change_shared_canned');
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

DROP TRIGGER IF EXISTS canned_responses_gates ON canned_responses;
CREATE TRIGGER canned_responses_gates BEFORE INSERT OR UPDATE OR DELETE ON canned_responses
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_canned_gates();

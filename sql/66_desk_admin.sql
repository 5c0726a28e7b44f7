-- The desk's settings screen (issue 20): the desk settings, the email
-- templates and the webhook's outbox, read and changed by admins as
-- themselves (RLS, policies/desk_settings.sql, email_templates.sql,
-- notification_outbox.sql) behind the `settings` gate (sql/41_role_gates.sql).

-- The desk settings as admins see them (GET|PATCH /v1/admin/settings): the
-- row itself, so a column a later migration adds shows without a change here.
CREATE OR REPLACE FUNCTION pgchat.desk_settings_json(d desk_settings) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT (to_jsonb(d) - 'id') || jsonb_build_object('updated_at', pgchat.ts(d.updated_at))
$$;

-- Changes the settings named in `p_changes` (a JSON object of column →
-- value, checked by the caller's edge and by the table's constraints) and
-- marks them as the admins' (desk_settings.admin_set). Runs as the caller.
CREATE OR REPLACE FUNCTION pgchat.patch_desk_settings(p_changes jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  names text[];
  result jsonb;
BEGIN
  PERFORM pgchat.gate('settings');
  SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO names
    FROM pg_attribute a
   WHERE a.attrelid = 'public.desk_settings'::regclass AND a.attnum > 0 AND NOT a.attisdropped
     AND p_changes ? a.attname
     AND a.attname NOT IN ('id', 'updated_at', 'admin_set', 'notifications_enabled');
  IF names IS NULL THEN
    PERFORM pgchat.refuse('nothing_to_change', 'name a setting to change');
  END IF;
  EXECUTE format(
    'UPDATE desk_settings d SET (%s, admin_set, updated_at) = '
    '(SELECT %s, ARRAY(SELECT DISTINCT x FROM unnest(d.admin_set || $2) x ORDER BY x), now() '
    '   FROM jsonb_populate_record(NULL::desk_settings, $1) r) WHERE d.id',
    (SELECT string_agg(format('%I', n), ', ') FROM unnest(names) n),
    (SELECT string_agg(format('r.%I', n), ', ') FROM unnest(names) n))
    USING p_changes, names;
  SELECT pgchat.desk_settings_json(d) INTO result FROM desk_settings d WHERE d.id;
  RETURN result;
END $$;

-- Whether a server has email configured (email_settings is the server's own).
CREATE OR REPLACE FUNCTION pgchat.email_enabled() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce((SELECT e.enabled FROM email_settings e WHERE e.id), false)
$$;

-- The placeholders each kind of email fills (the triggers of sql/62_email.sql
-- queue their values); a template may use these and no others.
CREATE OR REPLACE FUNCTION pgchat.email_placeholders(p_kind text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_kind
    WHEN 'reply' THEN ARRAY['customer_name', 'customer_id', 'agent_name', 'subject', 'category',
                            'priority', 'message', 'session_id']
    WHEN 'assigned' THEN ARRAY['agent_name', 'assigned_by', 'customer_name', 'customer_id',
                               'subject', 'category', 'priority', 'session_id']
  END
$$;

-- An email template (GET /v1/admin/email-templates).
CREATE OR REPLACE FUNCTION pgchat.email_template_json(t email_templates) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('kind', t.kind, 'subject', t.subject, 'body', t.body,
                            'placeholders', to_jsonb(pgchat.email_placeholders(t.kind)),
                            'updated_at', pgchat.ts(t.updated_at))
$$;

-- The placeholders a template names, read as the renderer reads it
-- (domain::desk::render): `{{` and `}}` are literal braces, `{name}` runs to
-- the next `}`, a `{` with no `}` after it and a lone `}` are text.
CREATE OR REPLACE FUNCTION pgchat.template_placeholders(p_text text) RETURNS SETOF text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  rest text := p_text;
  at integer;
  close integer;
BEGIN
  LOOP
    at := least(nullif(strpos(rest, '{'), 0), nullif(strpos(rest, '}'), 0));
    IF at IS NULL THEN
      RETURN;
    END IF;
    rest := substr(rest, at);
    IF left(rest, 2) IN ('{{', '}}') THEN
      rest := substr(rest, 3);
      CONTINUE;
    END IF;
    close := CASE WHEN left(rest, 1) = '{' THEN strpos(rest, '}') ELSE 0 END;
    IF close > 0 THEN
      RETURN NEXT substr(rest, 2, close - 2);
      rest := substr(rest, close + 1);
    ELSE
      rest := substr(rest, 2);
    END IF;
  END LOOP;
END $$;

-- A template names only the placeholders its kind fills: written with psql
-- or through the API, a misspelt placeholder is refused, not mailed as is.
CREATE OR REPLACE FUNCTION pgchat.tg_email_template_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  known text[] := pgchat.email_placeholders(NEW.kind);
  unknown text;
BEGIN
  SELECT p INTO unknown
    FROM unnest(ARRAY[NEW.subject, NEW.body]) t, pgchat.template_placeholders(t) p
   WHERE NOT p = ANY (known)
   LIMIT 1;
  IF FOUND THEN
    PERFORM pgchat.refuse('unknown_placeholder', format(
      '{%s} is not a placeholder of %s emails (they have {%s}; write {{ and }} for literal braces)',
      unknown, NEW.kind, array_to_string(known, '}, {')));
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS email_templates_check ON email_templates;
CREATE TRIGGER email_templates_check BEFORE INSERT OR UPDATE ON email_templates
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_email_template_check();

-- The desk settings and the email templates are changed by admins only,
-- whatever the path (a request from psql is refused with the same reason as
-- the API's, not with an update of no row); the server passes.
CREATE OR REPLACE FUNCTION pgchat.tg_settings_gate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgchat.gate('settings');
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS desk_settings_gate ON desk_settings;
CREATE TRIGGER desk_settings_gate BEFORE UPDATE ON desk_settings
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_settings_gate();

DROP TRIGGER IF EXISTS email_templates_gate ON email_templates;
CREATE TRIGGER email_templates_gate BEFORE INSERT OR UPDATE OR DELETE ON email_templates
  FOR EACH STATEMENT EXECUTE FUNCTION pgchat.tg_settings_gate();

-- The webhook's outbox as admins see it (GET /v1/admin/webhooks): how many
-- notifications wait, failed for good (dead letters) and were delivered, and
-- the latest `p_limit`, newest first, without their payloads. As the caller.
CREATE OR REPLACE FUNCTION pgchat.webhook_outbox_json(p_limit integer) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
  result jsonb;
BEGIN
  PERFORM pgchat.gate('settings');
  SELECT jsonb_build_object(
    'pending', count(*) FILTER (WHERE o.status = 'pending'),
    'failed', count(*) FILTER (WHERE o.status = 'dead'),
    'delivered', count(*) FILTER (WHERE o.status = 'delivered'),
    'recent', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'id', r.id, 'status', r.status, 'user_id', r.user_id, 'conversation_id', r.conversation_id,
        'message_id', r.message_id, 'attempts', r.attempts, 'last_status', r.last_status,
        'last_error', r.last_error, 'created_at', pgchat.ts(r.created_at),
        'next_attempt_at', CASE WHEN r.status = 'pending' THEN pgchat.ts(r.next_attempt_at) END,
        'delivered_at', pgchat.ts(r.delivered_at)) ORDER BY r.id DESC)
      FROM (SELECT * FROM notification_outbox x ORDER BY x.id DESC LIMIT p_limit) r), '[]'::jsonb))
    INTO result
    FROM notification_outbox o;
  RETURN result;
END $$;

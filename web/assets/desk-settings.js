// The desk's Settings screen (admins): the desk settings (GET|PATCH
// /v1/admin/settings; settings the page does not know, added by a later
// server, are listed as they are), the email templates (GET
// /v1/admin/email-templates, PUT …/{kind}) and the webhook's status (GET
// /v1/admin/webhooks: host, signing, outbox).
import { h } from '/client/ui.js';

const MODES = [['manual', 'Manual (agents claim, admins assign)'], ['round-robin', 'Round robin'], ['least-loaded', 'Least loaded']];
const DURATIONS = [
  ['sla_first_response_secs', 'First-response target', 'Later first answers count as SLA breaches. 0: no target.'],
  ['inactivity_timeout_secs', 'Inactivity timeout', 'A chat without messages for this long is ended. 0: never.'],
  ['reopen_window_secs', 'Reopen window', 'A customer writing within this long after a resolution reopens the session. 0: never.'],
  ['escalation_sla_secs', 'Escalation deadline', 'For teams without their own. 0: none.'],
];
const KNOWN = new Set(['assignment_mode', ...DURATIONS.map(([k]) => k), 'notifications_enabled', 'admin_set', 'updated_at']);
const KINDS = { reply: 'Reply to a customer who left', assigned: 'Chat assigned to an offline agent' };

/** Draws the Settings screen in `area`. */
export async function settingsScreen({ client, area, toast, isCurrent, has }) {
  const failed = (what) => (e) => { toast(`Could not ${what}: ${e.message}`); };
  const [settings, templates, hooks] = await Promise.all([
    client.api('GET', '/v1/admin/settings').catch(failed('load the settings')),
    has('GET', '/v1/admin/email-templates') ? client.api('GET', '/v1/admin/email-templates').catch(failed('load the email templates')) : null,
    has('GET', '/v1/admin/webhooks') ? client.api('GET', '/v1/admin/webhooks?limit=10').catch(failed('load the webhook status')) : null,
  ]);
  if (!isCurrent() || !settings) return;

  // --- the desk --------------------------------------------------------------------
  const mode = h('select', { id: 'set-mode', name: 'assignment_mode' }, MODES.map(([v, t]) => h('option', { value: v, selected: v === settings.assignment_mode }, t)));
  const durations = DURATIONS.map(([key, name, hint]) => [
    h('label', { for: `set-${key}` }, `${name} (seconds)`),
    h('input', { id: `set-${key}`, name: key, type: 'number', min: 0, max: 31536000, step: 1, required: true, value: String(settings[key] ?? 0), 'aria-describedby': `set-${key}-hint` }),
    h('p', { id: `set-${key}-hint`, class: 'muted hint' }, hint)]);
  const extra = Object.entries(settings).filter(([k, v]) => !KNOWN.has(k) && v !== null && typeof v !== 'object');
  const adminSetText = () => (settings.admin_set?.length
    ? `Set here (kept across restarts): ${settings.admin_set.map((k) => k.replace(/_(secs)$/, '').replace(/_/g, ' ')).join(', ')}. The others follow the server's flags.`
    : 'Every setting follows the server\'s flags until it is changed here.');
  const adminSetHint = h('p', { class: 'muted hint' }, adminSetText());
  const deskForm = h('form', {
    class: 'panel-form settings-form', 'aria-label': 'Desk settings', onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target.elements;
      const changes = {};
      if (f.assignment_mode.value !== settings.assignment_mode) changes.assignment_mode = f.assignment_mode.value;
      for (const [key] of DURATIONS) {
        const v = Number(f[key].value);
        if (v !== settings[key]) changes[key] = v;
      }
      if (!Object.keys(changes).length) { toast('Nothing changed.'); return; }
      // Only this form's state changes: redrawing the screen would throw away an
      // email template being edited beside it.
      await client.api('PATCH', '/v1/admin/settings', changes).then((saved) => {
        Object.assign(settings, saved);
        adminSetHint.replaceChildren(adminSetText());
        toast('Settings saved.');
      }, failed('save the settings'));
    },
  },
  h('h2', {}, 'Desk'),
  h('label', { for: 'set-mode' }, 'Assignment'), mode,
  durations,
  extra.length ? h('dl', { class: 'extra-settings' }, extra.map(([k, v]) => h('div', { class: 'kv' }, h('dt', {}, k.replace(/_/g, ' ')), h('dd', {}, String(v))))) : null,
  adminSetHint,
  h('button', { class: 'btn primary', type: 'submit' }, 'Save settings'));

  // --- email templates ---------------------------------------------------------------
  const template = (t) => {
    const id = `tpl-${t.kind}`;
    return h('form', {
      class: 'panel-form template-form', 'aria-label': `Email: ${KINDS[t.kind] || t.kind}`, dataset: { template: t.kind }, onsubmit: async (e) => {
        e.preventDefault();
        const f = e.target.elements;
        await client.api('PUT', `/v1/admin/email-templates/${encodeURIComponent(t.kind)}`, { subject: f.subject.value, body: f.body.value })
          .then(() => toast(`Saved the ${t.kind} email.`), failed('save the template'));
      },
    },
    h('h3', {}, KINDS[t.kind] || t.kind),
    h('label', { for: `${id}-subject` }, 'Subject'),
    h('input', { id: `${id}-subject`, name: 'subject', value: t.subject, maxlength: 300, required: true }),
    h('label', { for: `${id}-body` }, 'Text'),
    h('textarea', { id: `${id}-body`, name: 'body', rows: 6, value: t.body, required: true, 'aria-describedby': `${id}-hint` }),
    h('p', { id: `${id}-hint`, class: 'muted hint' }, 'Placeholders: ', t.placeholders.map((p) => h('code', {}, `{${p}} `)), '— write {{ and }} for literal braces. An unsubscribe line is added to every email.'),
    h('button', { class: 'btn primary', type: 'submit', 'aria-label': `Save email: ${t.kind}` }, 'Save email'));
  };
  const email = templates ? h('section', { class: 'settings-section', 'aria-labelledby': 'set-email' },
    h('h2', { id: 'set-email' }, 'Email'),
    h('p', { class: templates.email_enabled ? 'muted' : 'notice' }, templates.email_enabled
      ? 'Email is on: customers who left get agents\' replies, offline agents get assignments.'
      : 'Email is off on this server (no SMTP settings): the templates are used once it is configured.'),
    templates.items.map(template)) : null;

  // --- webhook -------------------------------------------------------------------------
  const webhook = hooks ? h('section', { class: 'settings-section', 'aria-labelledby': 'set-webhook' },
    h('h2', { id: 'set-webhook' }, 'Webhook'),
    h('dl', { class: 'webhook-status' },
      h('div', { class: 'kv' }, h('dt', {}, 'Delivers to'), h('dd', {}, hooks.configured ? hooks.host || 'a configured URL' : 'No webhook configured (PGCHAT_WEBHOOK_URL)')),
      hooks.configured ? h('div', { class: 'kv' }, h('dt', {}, 'Signed'), h('dd', {}, hooks.signed ? 'Yes (X-Pgchat-Signature)' : 'No secret set')) : null,
      h('div', { class: 'kv' }, h('dt', {}, 'Waiting'), h('dd', { dataset: { outbox: 'pending' } }, String(hooks.outbox.pending))),
      h('div', { class: 'kv' }, h('dt', {}, 'Failed for good'), h('dd', { dataset: { outbox: 'failed' } }, String(hooks.outbox.failed))),
      h('div', { class: 'kv' }, h('dt', {}, 'Delivered (last 7 days)'), h('dd', { dataset: { outbox: 'delivered' } }, String(hooks.outbox.delivered)))),
    hooks.outbox.recent.length ? h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Recent webhook deliveries' }, h('table', { class: 'grid' },
      h('caption', { class: 'visually-hidden' }, 'Recent webhook deliveries'),
      h('thead', {}, h('tr', {}, ['#', 'Status', 'For', 'Attempts', 'Last answer', 'Queued'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, hooks.outbox.recent.map((d) => h('tr', {},
        h('th', { scope: 'row' }, String(d.id)),
        h('td', {}, h('span', { class: `chip hook-${d.status}` }, d.status === 'dead' ? 'failed' : d.status)),
        h('td', {}, d.user_id),
        h('td', {}, String(d.attempts)),
        h('td', { class: 'wrap' }, d.last_error || (d.last_status ? `HTTP ${d.last_status}` : '–')),
        h('td', {}, new Date(d.created_at).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }))))))) : h('p', { class: 'muted' }, 'No notifications yet.')) : null;

  area.replaceChildren(h('h1', { tabindex: '-1' }, 'Settings'), h('div', { class: 'settings-cols' }, deskForm, h('div', {}, email, webhook)));
}

// The desk's management screens, beside the queue: the agents (status,
// capacity, skills, enabled: admins change them through PUT /v1/agents/{id})
// and the canned responses (GET|POST /v1/support/canned, DELETE …/{id}); for
// admins also teams, business hours (desk-teams.js), reports
// (desk-reports.js) and settings (desk-settings.js).
import { h, CATEGORIES, AGENT_STATUSES, label } from '/client/ui.js';
import { teamsScreen, hoursScreen } from '/assets/desk-teams.js';
import { reportsScreen } from '/assets/desk-reports.js';
import { settingsScreen } from '/assets/desk-settings.js';

/**
 * Adds the screen switcher to `nav` and draws the chosen screen in `area`
 * (the queue is `desk`, shown when no other screen is).
 */
export function adminScreens({ client, me, myRole, nav, area, desk, features, has, toast, onCanned }) {
  const admin = myRole === 'admin';
  const screens = [['queue', 'Queue', true], ['agents', 'Agents', admin && features.agents], ['teams', 'Teams', admin && features.teams],
    ['canned', 'Canned responses', features.canned], ['hours', 'Hours', admin && features.hours], ['reports', 'Reports', admin && features.reports],
    ['settings', 'Settings', admin && features.settings]]
    .filter(([, , shown]) => shown);
  if (screens.length < 2) return;
  let current = 'queue';
  const buttons = screens.map(([id, text]) => h('button', {
    type: 'button', class: 'screen-link', dataset: { screen: id }, onclick: () => show(id),
  }, text));
  nav.replaceChildren(...buttons);
  nav.hidden = false;

  async function show(id) {
    current = id;
    buttons.forEach((b) => { if (b.dataset.screen === id) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current'); });
    desk.hidden = id !== 'queue';
    area.hidden = id === 'queue';
    const isCurrent = () => current === id;
    const ctx = { client, area, toast, isCurrent, has };
    if (id === 'agents') await agents();
    if (id === 'canned') await canned();
    if (id === 'teams') await teamsScreen(ctx);
    if (id === 'hours') await hoursScreen(ctx);
    if (id === 'reports') await reportsScreen(ctx);
    if (id === 'settings') await settingsScreen(ctx);
    if (id !== 'queue') area.querySelector('h1')?.focus();
  }
  show('queue');

  const failed = (what) => (e) => toast(`Could not ${what}: ${e.message}`);

  // --- agents ---------------------------------------------------------------------
  async function agents() {
    const data = await client.api('GET', '/v1/agents').catch(failed('load the agents'));
    if (current !== 'agents' || !data) return;
    const enrol = h('form', {
      class: 'inline-form', onsubmit: async (e) => {
        e.preventDefault();
        const id = e.target.elements.user.value.trim();
        if (!id) return;
        await client.api('PUT', `/v1/agents/${encodeURIComponent(id)}`, {}).then(agents, failed('add the agent'));
      },
    }, h('input', { name: 'user', 'aria-label': 'User id to add to the desk', placeholder: 'user id' }), h('button', { class: 'btn', type: 'submit' }, 'Add to the desk'));
    area.replaceChildren(
      h('h1', { tabindex: '-1' }, 'Agents'),
      h('p', { class: 'muted' }, 'Only online, enabled agents below their capacity are given chats automatically. Skills limit an agent to those topics (none: all).'),
      enrol,
      h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Agent', 'Status', 'Chats', 'Capacity', 'Skills', 'Enabled', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, data.items.map(agentRow)))));
  }

  function agentRow(a) {
    const id = a.agent_id;
    const status = h('select', { 'aria-label': `Status of ${a.name || id}` }, AGENT_STATUSES.map((s) => h('option', { value: s, selected: s === a.status }, label(s))));
    const capacity = h('input', { type: 'number', min: 0, max: 1000, value: String(a.capacity), 'aria-label': `Capacity of ${a.name || id}`, class: 'num' });
    const skills = CATEGORIES.map((c) => h('label', { class: 'skill' },
      h('input', { type: 'checkbox', value: c, checked: (a.skills || []).includes(c) }), label(c)));
    const enabled = h('input', { type: 'checkbox', checked: a.enabled, 'aria-label': `${a.name || id} enabled` });
    const save = async () => {
      const body = {
        status: status.value, capacity: Number(capacity.value), enabled: enabled.checked,
        skills: skills.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value),
      };
      await client.api('PUT', `/v1/agents/${encodeURIComponent(id)}`, body).then(() => { toast(`Saved ${a.name || id}.`); agents(); }, failed('save the agent'));
    };
    return h('tr', { dataset: { agent: id } },
      h('th', { scope: 'row' }, h('span', { class: `dot ${a.connected ? 'st-active' : ''}`, title: a.connected ? 'Connected' : 'Not connected' }), ' ', a.name || id, id === me ? ' (you)' : ''),
      h('td', {}, status),
      h('td', {}, String(a.active_sessions ?? 0)),
      h('td', {}, capacity),
      h('td', {}, h('fieldset', { class: 'skills' }, h('legend', { class: 'visually-hidden' }, `Skills of ${a.name || id}`), skills)),
      h('td', {}, enabled),
      h('td', {}, h('button', { class: 'btn primary', type: 'button', 'aria-label': `Save ${a.name || id}`, onclick: save }, 'Save')));
  }

  // --- canned responses ---------------------------------------------------------------
  async function canned() {
    const data = await client.api('GET', '/v1/support/canned').catch(failed('load the canned responses'));
    if (current !== 'canned' || !data) return;
    onCanned(data.items);
    const form = h('form', {
      class: 'panel-form canned-form', 'aria-label': 'New canned response', onsubmit: async (e) => {
        e.preventDefault();
        const f = e.target.elements;
        const body = { shortcut: f.shortcut.value.trim(), title: f.title.value.trim() || undefined, body: f.body.value };
        if (admin) body.shared = f.shared.checked;
        await client.api('POST', '/v1/support/canned', body).then(canned, failed('save the response'));
      },
    },
    h('label', { for: 'canned-shortcut' }, 'Shortcut'),
    h('input', { id: 'canned-shortcut', name: 'shortcut', required: true, maxlength: 50, placeholder: 'e.g. shipping' }),
    h('label', { for: 'canned-title' }, 'Title'),
    h('input', { id: 'canned-title', name: 'title', maxlength: 200 }),
    h('label', { for: 'canned-body' }, 'Text'),
    h('textarea', { id: 'canned-body', name: 'body', required: true, rows: 3, placeholder: 'Hi {customer_name}, …' }),
    admin ? h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'shared', checked: true }), ' Shared with every agent') : null,
    h('button', { class: 'btn primary', type: 'submit' }, 'Add response'));
    const mayDelete = (c) => (c.shared ? admin : c.owner_id === me || admin);
    area.replaceChildren(
      h('h1', { tabindex: '-1' }, 'Canned responses'),
      h('p', { class: 'muted' }, 'Type / and the shortcut in a reply. {customer_name}, {agent_name}, {subject}, {category} and {priority} are filled in.'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Shortcut', 'Title', 'Text', 'Shared', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, data.items.length ? data.items.map((c) => h('tr', { dataset: { canned: c.id } },
          h('th', { scope: 'row' }, h('code', {}, `/${c.shortcut}`)),
          h('td', {}, c.title || ''),
          h('td', { class: 'wrap' }, c.body),
          h('td', {}, c.shared ? 'Shared' : 'Mine'),
          h('td', {}, mayDelete(c) ? h('button', {
            class: 'btn danger', type: 'button', 'aria-label': `Delete /${c.shortcut}`,
            onclick: () => client.api('DELETE', `/v1/support/canned/${c.id}`).then(canned, failed('delete the response')),
          }, 'Delete') : null))) : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No canned responses yet.'))))),
      form);
  }
}

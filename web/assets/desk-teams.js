// The desk's Teams and Business hours screens (admins): teams and their
// agents (GET|POST /v1/teams, PATCH|DELETE /v1/teams/{id},
// PUT|DELETE /v1/teams/{id}/members/{agent_id}); the desk's and each team's
// weekly hours, time zone and holidays (GET|PUT /v1/admin/business-hours),
// with whether the desk is open now (GET /v1/support/availability).
import { h } from '/client/ui.js';

const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];

/** Draws the Teams screen in `area`; `isCurrent()` says it is still the one shown. */
export async function teamsScreen({ client, area, toast, isCurrent }) {
  const failed = (what) => (e) => { toast(`Could not ${what}: ${e.message}`); };
  const [teams, agents] = await Promise.all([
    client.api('GET', '/v1/teams').catch(failed('load the teams')),
    client.api('GET', '/v1/agents').catch(() => ({ items: [] })),
  ]);
  if (!isCurrent() || !teams) return;
  const redraw = () => teamsScreen({ client, area, toast, isCurrent });
  const nameOf = new Map(agents.items.map((a) => [a.agent_id, a.name || a.agent_id]));
  const create = h('form', {
    class: 'inline-form wrap-form', 'aria-label': 'New team', onsubmit: async (e) => {
      e.preventDefault();
      const f = e.target.elements;
      const name = f.name.value.trim();
      if (!name) return;
      const body = { name };
      if (f.description.value.trim()) body.description = f.description.value.trim();
      await client.api('POST', '/v1/teams', body).then(() => { toast(`Created ${name}.`); redraw(); }, failed('create the team'));
    },
  },
  h('input', { name: 'name', 'aria-label': 'Team name', placeholder: 'team name', maxlength: 100, required: true }),
  h('input', { name: 'description', 'aria-label': 'Team description', placeholder: 'description (optional)', maxlength: 1000 }),
  h('button', { class: 'btn primary', type: 'submit' }, 'Create team'));

  const card = (t) => {
    const name = h('input', { value: t.name, 'aria-label': `Name of ${t.name}`, maxlength: 100 });
    const rename = h('form', {
      class: 'inline-form', onsubmit: async (e) => {
        e.preventDefault();
        const next = name.value.trim();
        if (!next || next === t.name) return;
        await client.api('PATCH', `/v1/teams/${t.id}`, { name: next }).then(() => { toast(`Renamed to ${next}.`); redraw(); }, failed('rename the team'));
      },
    }, name, h('button', { class: 'btn', type: 'submit', 'aria-label': `Rename ${t.name}` }, 'Rename'));
    const others = agents.items.filter((a) => !t.members.includes(a.agent_id));
    const pick = h('select', { 'aria-label': `Agent to add to ${t.name}` },
      h('option', { value: '' }, others.length ? 'Choose an agent' : 'Every agent is in'),
      others.map((a) => h('option', { value: a.agent_id }, a.name || a.agent_id)));
    const add = h('form', {
      class: 'inline-form', onsubmit: async (e) => {
        e.preventDefault();
        if (!pick.value) return;
        await client.api('PUT', `/v1/teams/${t.id}/members/${encodeURIComponent(pick.value)}`).then(redraw, failed('add the agent'));
      },
    }, pick, h('button', { class: 'btn', type: 'submit', disabled: !others.length, 'aria-label': `Add to ${t.name}` }, 'Add'));
    return h('section', { class: 'team-card', dataset: { team: t.id }, 'aria-label': t.name },
      h('div', { class: 'team-head' },
        h('h2', {}, t.name),
        h('span', { class: 'muted' }, `${t.waiting} waiting`),
        h('button', {
          class: 'btn danger', type: 'button', 'aria-label': `Delete ${t.name}`,
          onclick: async () => {
            if (!window.confirm(`Delete the team ${t.name}? Its sessions lose their team.`)) return;
            await client.api('DELETE', `/v1/teams/${t.id}`).then(() => { toast(`Deleted ${t.name}.`); redraw(); }, failed('delete the team'));
          },
        }, 'Delete')),
      t.description ? h('p', { class: 'muted' }, t.description) : null,
      rename,
      h('h3', { class: 'section-title' }, 'Agents'),
      h('ul', { class: 'member-list', 'aria-label': `Agents of ${t.name}` }, t.members.length
        ? t.members.map((m) => h('li', { class: 'chip label-chip' }, nameOf.get(m) || m,
          h('button', {
            type: 'button', class: 'chip-x', 'aria-label': `Remove ${nameOf.get(m) || m} from ${t.name}`,
            onclick: () => client.api('DELETE', `/v1/teams/${t.id}/members/${encodeURIComponent(m)}`).then(redraw, failed('remove the agent')),
          }, '×')))
        : h('li', { class: 'muted' }, 'No agents yet.')),
      add);
  };
  area.replaceChildren(
    h('h1', { tabindex: '-1' }, 'Teams'),
    h('p', { class: 'muted' }, 'A session routed to a team waits in that team\'s queue; its agents are assigned first. Escalation moves sessions between teams.'),
    create,
    h('div', { class: 'team-grid' }, teams.items.length ? teams.items.map(card) : h('p', { class: 'empty' }, 'No teams yet.')));
}

/** "09:00-12:00, 14:00-18:00" for a day's intervals. */
const dayText = (intervals) => (intervals || []).map((i) => `${i.open}-${i.close}`).join(', ');

/** A day's intervals from its text, or throws a sentence saying what is wrong. */
function parseDay(text, day) {
  if (!text.trim()) return [];
  return text.split(',').map((part) => {
    const m = /^\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*$/.exec(part);
    if (!m) throw new Error(`${day}: write hours like 09:00-17:00 (several: 09:00-12:00, 14:00-18:00)`);
    const pad = (t) => t.padStart(5, '0');
    return { open: pad(m[1]), close: pad(m[2]) };
  });
}

function availabilityText(a) {
  if (!a) return 'Availability unknown.';
  const reply = typeof a.expected_first_reply_secs === 'number'
    ? ` · expected first reply about ${a.expected_first_reply_secs < 90 ? `${a.expected_first_reply_secs} s` : `${Math.round(a.expected_first_reply_secs / 60)} min`}` : '';
  const agents = `${a.agents_online} agent${a.agents_online === 1 ? '' : 's'} online`;
  if (a.open) return `Open now · ${agents}${reply}`;
  if (a.within_hours) return `Within hours, but no agent online${reply}`;
  const next = a.next_open_at ? ` · opens ${new Date(a.next_open_at).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' })}` : '';
  return `Closed now${next} · ${agents}`;
}

/** Draws the Business hours screen in `area`. */
export async function hoursScreen({ client, area, toast, isCurrent, scope = '' }) {
  const failed = (what) => (e) => { toast(`Could not ${what}: ${e.message}`); };
  const [config, teams, available] = await Promise.all([
    client.api('GET', '/v1/admin/business-hours').catch(failed('load the business hours')),
    client.api('GET', '/v1/teams').catch(() => ({ items: [] })),
    client.api('GET', `/v1/support/availability${scope ? `?team_id=${scope}` : ''}`).catch(() => null),
  ]);
  if (!isCurrent() || !config) return;
  const redraw = (next = scope) => hoursScreen({ client, area, toast, isCurrent, scope: next });
  const current = scope ? config.teams.find((t) => t.team_id === scope) || null : config.desk;
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const scopeSelect = h('select', { id: 'hours-scope', onchange: () => redraw(scopeSelect.value) },
    h('option', { value: '', selected: !scope }, 'The whole desk'),
    teams.items.map((t) => h('option', { value: t.id, selected: t.id === scope }, `Team ${t.name}`)));
  const always = h('input', { type: 'checkbox', id: 'hours-always', checked: !current, onchange: () => { fields.hidden = always.checked; } });
  const zone = h('input', { id: 'hours-zone', name: 'zone', list: 'hours-zones', value: current?.time_zone || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', maxlength: 64 });
  const days = DAYS.map(([key, name]) => h('input', { id: `hours-${key}`, name: key, value: dayText(current?.weekly?.[key]), placeholder: 'closed', 'aria-describedby': 'hours-hint' }));
  const holidays = h('textarea', { id: 'hours-holidays', rows: 2, placeholder: '2026-12-25, 2027-01-01', value: (current?.holidays || []).join(', ') });
  const fields = h('div', { class: 'hours-fields', hidden: !current },
    h('label', { for: 'hours-zone' }, 'Time zone'), zone,
    h('datalist', { id: 'hours-zones' }, zones.map((z) => h('option', { value: z }))),
    h('p', { id: 'hours-hint', class: 'muted' }, 'Opening hours per day, local time, like 09:00-17:00 or 09:00-12:00, 14:00-18:00 (24:00 for midnight). Empty: closed.'),
    h('div', { class: 'hours-days' }, DAYS.map(([key, name], i) => [h('label', { for: `hours-${key}` }, name), days[i]])),
    h('label', { for: 'hours-holidays' }, 'Holidays (closed all day; dates, comma separated)'), holidays);
  const form = h('form', {
    class: 'panel-form hours-form', 'aria-label': 'Business hours', onsubmit: async (e) => {
      e.preventDefault();
      let schedule = null;
      try {
        if (!always.checked) {
          const weekly = {};
          DAYS.forEach(([key, name], i) => { const d = parseDay(days[i].value, name); if (d.length) weekly[key] = d; });
          const dates = holidays.value.split(/[\s,]+/).filter(Boolean);
          schedule = { time_zone: zone.value.trim(), weekly, holidays: dates };
        }
      } catch (err) {
        toast(err.message);
        return;
      }
      const strip = ({ time_zone: tz, weekly, holidays: hd }) => ({ time_zone: tz, weekly, holidays: hd });
      const body = { desk: config.desk ? strip(config.desk) : null, teams: config.teams.map((t) => ({ team_id: t.team_id, ...strip(t) })) };
      if (!scope) body.desk = schedule;
      else {
        body.teams = body.teams.filter((t) => t.team_id !== scope);
        if (schedule) body.teams.push({ team_id: scope, ...schedule });
      }
      await client.api('PUT', '/v1/admin/business-hours', body).then(() => { toast('Business hours saved.'); redraw(); }, failed('save the hours'));
    },
  },
  h('label', { for: 'hours-scope' }, 'Schedule of'), scopeSelect,
  h('label', { class: 'check', for: 'hours-always' }, always, scope ? ' Same as the desk (no hours of its own)' : ' Always open (no business hours)'),
  fields,
  h('button', { class: 'btn primary', type: 'submit' }, 'Save hours'));
  area.replaceChildren(
    h('h1', { tabindex: '-1' }, 'Business hours'),
    h('p', { class: `availability ${available?.open ? 'is-open' : 'is-closed'}`, role: 'status' }, availabilityText(available)),
    h('p', { class: 'muted' }, 'Outside these hours (or with no agent online) the widget says so, asks for an email address and the session waits as a ticket.'),
    form);
}

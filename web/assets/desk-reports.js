// The desk's Reports screen (admins): GET /v1/admin/reports over a date range,
// grouped by day, week, agent, team or label, drawn as inline SVG bar charts
// (sessions opened and resolved; median first response) with the figures in a
// table below, and the same report as a CSV download (format=csv).
import { h } from '/client/ui.js';

const NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const GROUPS = [['day', 'Day'], ['week', 'Week'], ['agent', 'Agent'], ['team', 'Team'], ['label', 'Label']];
const day = (d) => d.toISOString().slice(0, 10);
/** The customers' mean sentiment (-1..1) and how many sessions went badly. */
const mood = (s) => (!s || typeof s.average !== 'number' ? '–'
  : `${s.average >= 0.05 ? 'positive' : s.average <= -0.05 ? 'negative' : 'neutral'} (${s.average.toFixed(2)})${s.negative_sessions ? `, ${s.negative_sessions} negative` : ''}`);
export const secs = (v) => (typeof v !== 'number' ? '–' : v < 90 ? `${Math.round(v)} s` : v < 5400 ? `${Math.round(v / 60)} min` : `${(v / 3600).toFixed(1)} h`);
const rowName = (r, group) => (r.key === null ? (group === 'team' ? 'No team' : group === 'agent' ? 'Unassigned' : '–') : r.name || r.key);

/**
 * A bar chart of `series` ({name, class, value(row)}) over `rows`: one group of
 * bars per row, a bar per series (`rect.bar`, its figure in its <title>), with
 * the axis' top value; role=img with a summary for screen readers.
 */
export function barChart({ title, rows, series, labelOf, format = String }) {
  const width = 720;
  const height = 220;
  const pad = { top: 16, right: 8, bottom: 36, left: 44 };
  const max = Math.max(1, ...rows.flatMap((r) => series.map((s) => s.value(r) || 0)));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const slot = plotW / Math.max(rows.length, 1);
  const barW = Math.max(1, Math.min(28, (slot * 0.8) / series.length));
  const every = Math.ceil(rows.length / 12);
  const bars = rows.flatMap((r, i) => series.map((s, j) => {
    const v = s.value(r) || 0;
    const hgt = (v / max) * plotH;
    const x = pad.left + i * slot + (slot - barW * series.length) / 2 + j * barW;
    return svg('rect', { class: `bar ${s.class}`, x: x.toFixed(1), y: (pad.top + plotH - hgt).toFixed(1), width: barW.toFixed(1), height: hgt.toFixed(1), 'data-value': v },
      svg('title', {}, `${labelOf(r)}: ${format(v)} ${s.name.toLowerCase()}`));
  }));
  const ticks = rows.map((r, i) => (i % every ? null : svg('text', { class: 'tick', x: (pad.left + i * slot + slot / 2).toFixed(1), y: height - pad.bottom + 14, 'text-anchor': 'middle' }, labelOf(r).slice(0, 10))));
  const total = series.map((s) => `${s.name}: ${format(rows.reduce((n, r) => n + (s.value(r) || 0), 0))} in all`).join('; ');
  const figure = h('figure', { class: 'chart' },
    h('figcaption', {}, title, ' ', series.length > 1 ? series.map((s) => h('span', { class: `legend ${s.class}` }, s.name)) : null),
    svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}. ${rows.length} ${rows.length === 1 ? 'group' : 'groups'}; ${total}.`, preserveAspectRatio: 'none' },
      svg('line', { class: 'axis', x1: pad.left, y1: pad.top + plotH, x2: width - pad.right, y2: pad.top + plotH }),
      svg('line', { class: 'grid-line', x1: pad.left, y1: pad.top, x2: width - pad.right, y2: pad.top }),
      svg('text', { class: 'tick', x: pad.left - 6, y: pad.top + 4, 'text-anchor': 'end' }, format(max)),
      svg('text', { class: 'tick', x: pad.left - 6, y: pad.top + plotH + 4, 'text-anchor': 'end' }, '0'),
      bars, ticks));
  return figure;
}

/** Draws the Reports screen in `area`. */
export async function reportsScreen({ client, area, toast, isCurrent, query }) {
  const now = new Date();
  const q = query || { from: day(new Date(now - 13 * 86400e3)), to: day(now), group_by: 'day' };
  const params = () => new URLSearchParams({
    from: `${q.from}T00:00:00Z`, to: new Date(Date.parse(`${q.to}T00:00:00Z`) + 86400e3).toISOString(), group_by: q.group_by,
  });
  const report = await client.api('GET', `/v1/admin/reports?${params()}`).catch((e) => { toast(`Could not load the report: ${e.message}`); return null; });
  if (!isCurrent()) return;
  const redraw = (next) => reportsScreen({ client, area, toast, isCurrent, query: next });
  const form = h('form', {
    class: 'inline-form wrap-form report-form', 'aria-label': 'Report range', onsubmit: (e) => {
      e.preventDefault();
      const f = e.target.elements;
      if (f.from.value > f.to.value) { toast('The first day must not be after the last.'); return; }
      redraw({ from: f.from.value, to: f.to.value, group_by: f.group_by.value });
    },
  },
  h('label', { for: 'report-from' }, 'From'), h('input', { id: 'report-from', name: 'from', type: 'date', value: q.from, required: true }),
  h('label', { for: 'report-to' }, 'To'), h('input', { id: 'report-to', name: 'to', type: 'date', value: q.to, required: true }),
  h('label', { for: 'report-group' }, 'By'), h('select', { id: 'report-group', name: 'group_by' }, GROUPS.map(([v, t]) => h('option', { value: v, selected: v === q.group_by }, t))),
  h('button', { class: 'btn primary', type: 'submit' }, 'Show'),
  h('button', {
    class: 'btn', type: 'button', onclick: async () => {
      const p = params();
      p.set('format', 'csv');
      try {
        const r = await fetch(`${client.base}/v1/admin/reports?${p}`, { headers: { authorization: `Bearer ${client.token}` } });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const url = URL.createObjectURL(await r.blob());
        const a = h('a', { href: url, download: `pgchat-report-${q.group_by}-${q.from}-${q.to}.csv`, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (e) {
        toast(`Could not download the CSV: ${e.message}`);
      }
    },
  }, 'Download CSV'));
  const rows = report?.rows || [];
  const labelOf = (r) => rowName(r, q.group_by);
  const content = !report ? h('p', { class: 'empty' }, 'No report.') : !rows.length ? h('p', { class: 'empty' }, 'No sessions in this range.') : [
    h('div', { class: 'charts' },
      barChart({ title: 'Sessions', rows, labelOf, series: [
        { name: 'Opened', class: 'opened', value: (r) => r.sessions_opened },
        { name: 'Resolved', class: 'resolved', value: (r) => r.sessions_resolved }] }),
      barChart({ title: 'Median first response', rows, labelOf, format: secs, series: [
        { name: 'First response', class: 'frt', value: (r) => r.first_response_secs?.median }] })),
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Report figures' }, h('table', { class: 'grid report-table' },
      h('caption', { class: 'visually-hidden' }, 'Report figures'),
      h('thead', {}, h('tr', {}, [GROUPS.find(([v]) => v === q.group_by)[1], 'Opened', 'Resolved', 'First response (median)', 'Resolution (median)', 'SLA breaches', 'Rating', 'Sentiment'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {},
        h('th', { scope: 'row' }, labelOf(r)),
        h('td', {}, String(r.sessions_opened)),
        h('td', {}, String(r.sessions_resolved)),
        h('td', {}, secs(r.first_response_secs?.median)),
        h('td', {}, secs(r.resolution_secs?.median)),
        h('td', {}, String(r.sla_breaches)),
        h('td', {}, r.rating_average === null ? '–' : `${r.rating_average} (${r.ratings})`),
        h('td', {}, mood(r.sentiment)))))))];
  area.replaceChildren(h('h1', { tabindex: '-1' }, 'Reports'), form, ...[content].flat());
}

// The agent desk: the live queue (support:queue + GET /v1/support/sessions),
// several chats at once, claim / assign / transfer / end, internal notes,
// canned responses (/shortcut), the customer panel and ticket fields, the
// agent's status (kept across reloads), a stats header, a chime + notification
// for new chats, the lifecycle actions, labels, bulk actions and search; for
// admins the agents, teams, canned-response, hours, reports and settings
// screens (desk-admin.js). Endpoints the server's OpenAPI
// document does not list hide their controls.
import { ATTACHMENT_TYPES, PgChat } from '/client/pgchat.js';
import { h, icon, MessageList, Receipts, ago, fmtTime, initials, chime, CATEGORIES, PRIORITIES, PRESENCE_STATUSES, label, attachmentError } from '/client/ui.js';
import { signIn, signOut } from '/assets/signin.js';
import { routes } from '/assets/routes.js';
import { adminScreens } from '/assets/desk-admin.js';

const KEY = 'pgchat:desk:token';
const root = document.getElementById('app');
const { token, getToken } = await signIn({ key: KEY, role: 'agent', root, title: 'Agent desk' });
const client = new PgChat({ token, getToken });
const me = client.sub;
const myRole = client.user.role;
if (myRole !== 'agent' && myRole !== 'admin') {
  root.replaceChildren(h('main', { class: 'landing-main narrow' },
    h('h1', {}, 'Agents only'),
    h('p', {}, `You are signed in as ${client.user.name || me} (${myRole}). The desk is for agents and admins.`),
    h('button', { class: 'btn', onclick: () => signOut(KEY) }, 'Sign out')));
  throw new Error('not staff');
}

const state = {
  sessions: new Map(),
  tab: 'new',
  open: [],
  active: null,
  chats: new Map(),
  seenWaiting: new Set(),
  claiming: new Set(),
  features: {
    assign: false, transfer: false, canned: false, agents: false, patch: false, stats: false, lifecycle: false, labels: false, bulk: false, search: false,
    teams: false, hours: false, reports: false, settings: false,
  },
  canned: [],
  agents: [],
  stats: null,
  sound: localStorage.getItem('pgchat:desk:sound') !== 'off',
  // My desk status: the one I chose last (this browser remembers it), else null
  // until the server says (an admin is not on the desk until they pick one).
  status: localStorage.getItem(`pgchat:desk:status:${me}`),
  booted: false,
  selected: new Set(),
  search: null,
};
// Each connection starts with my chosen status: a reload never makes me online.
if (state.status) client.presence = state.status;

// --- layout --------------------------------------------------------------------
const connPill = h('span', { class: 'pill conn', role: 'status' }, 'Connecting…');
// The figures get a strip of their own under the header: never clipped by the header's controls.
const statsBar = h('div', { class: 'stats', role: 'group', 'aria-label': 'Queue statistics' });
const statusSelect = h('select', { id: 'agent-status', class: 'status-select', 'aria-label': 'My status', onchange: () => setStatus(statusSelect.value) },
  h('option', { value: '', disabled: true }, 'Not on the desk'),
  PRESENCE_STATUSES.map((s) => h('option', { value: s }, label(s))));
const soundButton = h('button', { class: 'btn ghost', type: 'button', 'aria-pressed': String(state.sound), onclick: toggleSound }, state.sound ? 'Sound on' : 'Sound off');
const notifyButton = h('button', { class: 'btn ghost', type: 'button', 'aria-label': 'Notifications', onclick: askNotifications }, icon('bell', 16), h('span', { class: 'wide-only' }, ' Notifications'));
const screenNav = h('nav', { class: 'screens', 'aria-label': 'Desk screens', hidden: true });
const topbar = h('header', { class: 'topbar' },
  h('div', { class: 'brand' }, h('span', { class: 'logo-dot', 'aria-hidden': 'true' }), 'pgchat desk'),
  screenNav,
  h('div', { class: 'spacer' }),
  h('div', { class: 'top-actions' },
    connPill, notifyButton, soundButton,
    h('label', { class: 'status-wrap', for: 'agent-status' }, h('span', { class: `presence-dot` }), statusSelect),
    h('span', { class: 'me', title: me }, h('span', { class: 'avatar small' }, initials(client.user.name || me)), client.user.name || me),
    h('button', { class: 'btn ghost', type: 'button', onclick: () => signOut(KEY) }, 'Sign out')));

const tabs = ['new', 'mine', 'all'].map((t) => h('button', {
  type: 'button', role: 'tab', id: `tab-${t}`, class: 'tab', 'aria-controls': 'queue-list',
  onclick: () => { state.tab = t; renderQueue(); },
  onkeydown: (e) => {
    const order = ['new', 'mine', 'all'];
    const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!d) return;
    state.tab = order[(order.indexOf(t) + d + 3) % 3];
    renderQueue();
    document.getElementById(`tab-${state.tab}`).focus();
  },
}));
const queueList = h('div', { id: 'queue-list', class: 'queue-list', role: 'tabpanel' });
const searchInput = h('input', { type: 'search', name: 'q', placeholder: 'Search sessions', 'aria-label': 'Search sessions', maxlength: 200 });
const searchForm = h('form', { class: 'desk-search', role: 'search', hidden: true, onsubmit: (e) => { e.preventDefault(); searchSessions(searchInput.value.trim()); } },
  searchInput, h('button', { class: 'btn', type: 'submit', 'aria-label': 'Search' }, icon('search', 16)));
searchInput.addEventListener('input', () => { if (!searchInput.value.trim() && state.search) { state.search = null; renderQueue(); } });
const bulkBar = h('div', { class: 'bulk', role: 'toolbar', 'aria-label': 'Selected sessions', hidden: true });
const sidebar = h('aside', { class: 'sidebar', 'aria-label': 'Conversations' },
  searchForm,
  h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Queues' }, tabs), bulkBar, queueList);
// Open chats: links of a kind (each with its close button), not ARIA tabs (a tab list holds tabs only).
const chatTabs = h('nav', { class: 'chat-tabs', 'aria-label': 'Open chats' });
const chatArea = h('div', { class: 'chat-area' });
const infoPanel = h('aside', { class: 'info', 'aria-label': 'Customer' });
const center = h('main', { class: 'center' }, chatTabs, chatArea);
const deskBody = h('div', { class: 'desk-body' }, sidebar, center, infoPanel);
const screenArea = h('section', { class: 'screen', 'aria-label': 'Desk screen', hidden: true });
root.replaceChildren(h('div', { class: 'desk' }, topbar, statsBar, deskBody, screenArea));

// --- queue ---------------------------------------------------------------------
// Statuses an agent still works on (the lifecycle's open ones past the queue).
const WORKING = ['active', 'pending', 'snoozed'];
const FINAL = ['closed', 'ended'];

function inTab(s, tab) {
  if (tab === 'new') return s.status === 'waiting';
  if (tab === 'mine') return s.agent_id === me && WORKING.includes(s.status);
  return true;
}

function renderQueue() {
  const all = [...state.sessions.values()];
  const counts = { new: 0, mine: 0, all: all.length };
  for (const s of all) {
    if (inTab(s, 'new')) counts.new++;
    if (inTab(s, 'mine')) counts.mine++;
  }
  tabs.forEach((b, i) => {
    const t = ['new', 'mine', 'all'][i];
    b.setAttribute('aria-selected', String(state.tab === t));
    b.tabIndex = state.tab === t ? 0 : -1;
    b.replaceChildren(label(t), h('span', { class: 'count' }, String(counts[t])));
  });
  const items = (state.search ? state.search.filter((s) => state.sessions.has(s.id)).map((s) => state.sessions.get(s.id)) : all.filter((s) => inTab(s, state.tab))).sort((a, b) =>
    state.tab === 'new'
      ? PRIORITIES.indexOf(b.priority) - PRIORITIES.indexOf(a.priority) || a.started_at.localeCompare(b.started_at)
      : b.started_at.localeCompare(a.started_at));
  queueList.setAttribute('aria-labelledby', `tab-${state.tab}`);
  if (!items.length) {
    queueList.replaceChildren(h('p', { class: 'empty' }, state.search ? 'No session matches.'
      : state.tab === 'new' ? 'No one is waiting.' : state.tab === 'mine' ? 'No chats assigned to you.' : 'No sessions yet.'));
  } else {
    queueList.replaceChildren(...(state.search ? [h('p', { class: 'search-note', role: 'status' }, `${items.length} found · `,
      h('button', { class: 'link', type: 'button', onclick: () => { searchInput.value = ''; state.search = null; renderQueue(); } }, 'Clear search'))] : []),
    ...items.map(queueItem));
  }
  renderBulk();
  renderStats();
}

/** Unread counts are mine: a chat I never joined has no read position of mine to count from. */
function unreadOf(s) {
  if (s.agent_id !== me) return 0;
  return state.chats.get(s.id)?.unread ?? s.unread ?? 0;
}

function statusChip(s) {
  if (s.status === 'waiting') return null;
  const text = s.status === 'active' ? (s.agent_id === me ? 'Mine' : s.agent_name || s.agent_id || 'Active') : label(s.status);
  return h('span', { class: `chip st st-${s.status}` }, text);
}

function queueItem(s) {
  const unread = unreadOf(s);
  const who = s.customer_name || s.customer_id;
  return h('div', { class: `queue-row ${state.selected.has(s.id) ? 'selected' : ''}` },
    state.features.bulk ? h('input', {
      type: 'checkbox', class: 'qi-check', 'aria-label': `Select ${who}: ${s.subject}`, checked: state.selected.has(s.id), dataset: { check: s.id },
      onchange: (e) => {
        if (e.target.checked) state.selected.add(s.id); else state.selected.delete(s.id);
        renderQueue();
        queueList.querySelector(`[data-check="${s.id}"]`)?.focus();
      },
    }) : null,
    h('button', {
      type: 'button', class: `queue-item ${state.active === s.id ? 'active' : ''} st-${s.status}`,
      dataset: { session: s.id }, onclick: () => openChat(s.id),
    },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(who)),
    h('span', { class: 'qi-main' },
      h('span', { class: 'qi-top' }, h('strong', {}, who), h('span', { class: 'qi-time' }, ago(s.started_at))),
      h('span', { class: 'qi-subject' }, s.subject),
      h('span', { class: 'qi-tags' },
        h('span', { class: `chip pr-${s.priority}` }, label(s.priority)),
        h('span', { class: 'chip' }, label(s.category)),
        statusChip(s),
        (s.labels || []).map((l) => h('span', { class: 'chip label-chip' }, l)))),
    unread ? h('span', { class: 'unread' }, String(unread), h('span', { class: 'visually-hidden' }, ' unread')) : null));
}

// --- bulk actions (POST /v1/support/sessions/bulk) ------------------------------------
// Made once (a re-render of the queue must not wipe a label being typed).
const bulkCount = h('span', { class: 'bulk-count' });
const bulkLabel = h('input', { 'aria-label': 'Label for the selected sessions', placeholder: 'label', size: 8, maxlength: 50 });
bulkBar.append(
  bulkCount,
  h('button', { class: 'btn', type: 'button', onclick: () => bulk('resolve') }, 'Resolve'),
  h('button', { class: 'btn', type: 'button', onclick: () => bulk('close') }, 'Close'),
  h('form', { class: 'bulk-label', onsubmit: (e) => { e.preventDefault(); const word = bulkLabel.value.trim().toLowerCase(); if (word) bulk('label', { label: word }); } },
    bulkLabel, h('button', { class: 'btn', type: 'submit' }, 'Add label')),
  h('button', { class: 'link', type: 'button', onclick: () => { state.selected.clear(); renderQueue(); } }, 'Clear'));

function renderBulk() {
  for (const id of state.selected) if (!state.sessions.has(id)) state.selected.delete(id);
  bulkBar.hidden = !state.selected.size;
  bulkCount.textContent = `${state.selected.size} selected`;
}

async function bulk(action, params = {}) {
  const ids = [...state.selected];
  try {
    const { results } = await client.api('POST', '/v1/support/sessions/bulk', { ids, action, params });
    const failed = results.filter((r) => !r.ok);
    if (failed.length) toast(`${failed.length} of ${ids.length} not changed: ${failed[0].error.message}`);
    state.selected.clear();
    bulkLabel.value = '';
    await Promise.all(results.filter((r) => r.ok).map((r) => client.api('GET', `/v1/support/sessions/${r.id}`).then(upsertSession, () => {})));
    renderQueue();
  } catch (e) {
    toast(`Could not ${action}: ${e.message}`);
  }
}

// --- search: subjects and customers here, message text through GET /v1/search ----------
async function searchSessions(q) {
  if (!q) { state.search = null; return renderQueue(); }
  const needle = q.toLowerCase();
  const found = new Map();
  for (const s of state.sessions.values()) {
    if ([s.subject, s.customer_name, s.customer_id, ...(s.labels || [])].some((x) => String(x || '').toLowerCase().includes(needle))) found.set(s.id, s);
  }
  try {
    const data = await client.api('GET', `/v1/search?${new URLSearchParams({ q, limit: '50' })}`);
    const byConversation = new Map([...state.sessions.values()].map((s) => [s.conversation_id, s]));
    for (const r of data.items) {
      const s = byConversation.get(r.conversation?.id || r.message?.conversation_id);
      if (s) found.set(s.id, s);
    }
  } catch (e) {
    toast(`Message search failed: ${e.message}`);
  }
  state.search = [...found.values()];
  renderQueue();
}

function renderStats() {
  const all = [...state.sessions.values()];
  const waiting = all.filter((s) => s.status === 'waiting');
  const oldest = waiting.reduce((o, s) => (!o || s.started_at < o ? s.started_at : o), null);
  const mine = all.filter((s) => s.agent_id === me && WORKING.includes(s.status)).length;
  const today = new Date().toDateString();
  const endedToday = all.filter((s) => FINAL.includes(s.status) && s.ended_at && new Date(s.ended_at).toDateString() === today);
  const rated = endedToday.filter((s) => s.rating);
  const csat = rated.length ? (rated.reduce((n, s) => n + s.rating, 0) / rated.length).toFixed(1) : '–';
  const stat = (name, value, hint) => h('div', { class: 'stat', title: hint || '' }, h('span', { class: 'stat-value' }, String(value)), h('span', { class: 'stat-name' }, name));
  const parts = [
    stat('Waiting', waiting.length),
    stat('Longest wait', oldest ? ago(oldest) : '–'),
    stat('My chats', mine),
    stat('Closed today', endedToday.length),
    stat('Rating', csat, 'Average rating of chats closed today'),
  ];
  if (state.features.agents) {
    const online = state.agents.filter((a) => a.status === 'online' && a.connected !== false).length;
    parts.push(stat('Agents online', online));
  }
  const st = state.stats;
  if (st && typeof st === 'object') {
    // The admin dashboard (GET /v1/admin/stats, the last 7 days).
    const secs = (v) => (typeof v === 'number' ? (v < 90 ? `${Math.round(v)}s` : `${Math.round(v / 60)}m`) : '–');
    if (st.first_response_secs) parts.push(stat('First reply (7d)', secs(st.first_response_secs.median ?? st.first_response_secs.p50), 'Median first response time, last 7 days'));
    if (st.csat && st.csat.average !== undefined) parts.push(stat('CSAT (7d)', st.csat.average ?? '–', `${st.csat.count ?? 0} ratings in the last 7 days`));
    if (st.sla && typeof st.sla.breached === 'number') parts.push(stat('SLA breached', st.sla.breached, 'Sessions past the first-response target, last 7 days'));
  }
  statsBar.replaceChildren(...parts);
}

function upsertSession(s) {
  const old = state.sessions.get(s.id);
  if (old && (old.change_seq ?? 0) > (s.change_seq ?? 0)) return;
  const merged = { ...old, ...s };
  // The queue tells an agent a session left them without the rest of it (a
  // transfer away, another agent's claim): it is no longer theirs.
  if (!('agent_id' in s) && old?.agent_id === me) {
    merged.agent_id = null;
    merged.agent_name = null;
    merged.left_me = true;
  }
  if (merged.unread === undefined) merged.unread = 0;
  state.sessions.set(s.id, merged);
  if (s.status === 'waiting' && !state.seenWaiting.has(s.id)) {
    state.seenWaiting.add(s.id);
    if (state.booted) announceNewChat(merged);
  } else if (state.booted && old && old.agent_id === me && merged.agent_id !== me && !FINAL.includes(merged.status) && myRole !== 'admin') {
    // Handed to someone else (a colleague's or an admin's transfer): say so.
    toast(`${merged.customer_name || merged.customer_id || 'A chat'} was transferred${merged.agent_name ? ` to ${merged.agent_name}` : ''}.`);
  } else if (state.booted && s.status === 'active' && s.agent_id === me && old?.agent_id !== me && !state.seenWaiting.has(`mine:${s.id}`)) {
    // Assigned to me (auto-assignment, an admin, a colleague's transfer).
    state.seenWaiting.add(`mine:${s.id}`);
    if (!state.claiming.has(s.id)) announceNewChat(merged);
  }
  // Keep my active chats' conversations subscribed: live unread counts and notices.
  if (merged.agent_id === me && WORKING.includes(merged.status)) ensureChat(merged.id, { background: true });
  renderQueue();
  if (state.chats.has(s.id)) renderChatHeader(s.id);
  if (state.active === s.id) {
    renderInfo();
    markRead(state.chats.get(s.id));
  }
}

// --- new-chat alerts -----------------------------------------------------------
function announceNewChat(s) {
  if (state.sound) chime();
  if ('Notification' in window && Notification.permission === 'granted') {
    try {
      const n = new Notification(`New chat: ${s.subject}`, { body: `${s.customer_name || s.customer_id} · ${label(s.category)}`, tag: s.id });
      n.onclick = () => { window.focus(); openChat(s.id); };
    } catch { /* notifications unavailable */ }
  }
  flashTitle();
}

let titleTimer = null;
function flashTitle() {
  const waiting = [...state.sessions.values()].filter((s) => s.status === 'waiting').length;
  clearTimeout(titleTimer);
  document.title = waiting ? `(${waiting}) New chat · pgchat desk` : 'pgchat desk';
  titleTimer = setTimeout(() => { document.title = 'pgchat desk'; }, 8000);
}

function toggleSound() {
  state.sound = !state.sound;
  localStorage.setItem('pgchat:desk:sound', state.sound ? 'on' : 'off');
  soundButton.textContent = state.sound ? 'Sound on' : 'Sound off';
  soundButton.setAttribute('aria-pressed', String(state.sound));
  if (state.sound) chime();
}

function renderNotifyButton() {
  if (!('Notification' in window)) { notifyButton.hidden = true; return; }
  const p = Notification.permission;
  notifyButton.disabled = p !== 'default';
  notifyButton.title = p === 'granted' ? 'Notifications are on' : p === 'denied' ? 'Notifications are blocked in this browser' : 'Get a notification for every new chat';
  notifyButton.classList.toggle('on', p === 'granted');
}

async function askNotifications() {
  try { await Notification.requestPermission(); } catch { /* ignore */ }
  renderNotifyButton();
}

// --- status --------------------------------------------------------------------
// My choice is remembered here and is where every connection starts
// (`client.presence`): the server puts a reconnecting agent back online otherwise.
async function setStatus(status) {
  state.status = status;
  localStorage.setItem(`pgchat:desk:status:${me}`, status);
  showStatus();
  client.presence = status;
  try {
    await client.api('PUT', '/v1/agents/me', { status });
  } catch (e) {
    toast(`Could not change your status: ${e.message}`);
  }
}

function showStatus() {
  statusSelect.value = state.status || '';
  document.body.dataset.presence = state.status || 'off';
}

// --- chats ---------------------------------------------------------------------
function ensureChat(id, { background = false } = {}) {
  let chat = state.chats.get(id);
  if (chat) return chat;
  const s = state.sessions.get(id);
  if (!s) return null;
  const log = h('div', { class: 'pc-log desk-log', 'aria-label': `Conversation with ${s.customer_name || s.customer_id}` });
  chat = {
    id, conversation: s.conversation_id, unread: 0, mode: 'reply', typers: new Map(), background,
    receipts: new Receipts(me), log, typingSentAt: 0, lastRead: 0, canned: [], cannedIndex: 0,
  };
  chat.list = new MessageList(log, { me, staff: true, files: client, receipt: (m) => chat.receipts.of(m), queued: () => client.state !== 'open' });
  state.chats.set(id, chat);
  client.messages(s.conversation_id).forEach((m) => chat.list.upsert(m));
  buildChatView(chat);
  client.subscribe(`conversation:${s.conversation_id}`, { since: 0 }).catch(() => {});
  return chat;
}

function openChat(id) {
  const chat = ensureChat(id);
  if (!chat) return;
  chat.background = false;
  if (!state.open.includes(id)) state.open.push(id);
  state.active = id;
  deskBody.classList.add('chat-open');
  renderChatTabs();
  chatArea.replaceChildren(chat.view);
  renderChatHeader(id);
  renderInfo();
  renderQueue();
  chat.list.stick();
  markRead(chat);
  chat.input.focus();
}

function closeChat(id) {
  state.open = state.open.filter((x) => x !== id);
  const chat = state.chats.get(id);
  const s = state.sessions.get(id);
  if (chat && !(s && s.agent_id === me && WORKING.includes(s.status))) {
    client.unsubscribe(`conversation:${chat.conversation}`);
    state.chats.delete(id);
  } else if (chat) chat.background = true;
  if (state.active === id) state.active = state.open[state.open.length - 1] || null;
  renderChatTabs();
  if (state.active) openChat(state.active);
  else { chatArea.replaceChildren(emptyCenter()); deskBody.classList.remove('chat-open'); renderInfo(); renderQueue(); }
}

/** Phone layout: from a chat back to the queue (the chat stays open in its tab). */
function showQueue() {
  deskBody.classList.remove('chat-open');
  queueList.querySelector(`[data-session="${state.active}"]`)?.focus();
}

function emptyCenter() {
  return h('div', { class: 'center-empty' }, icon('chat', 48), h('p', {}, 'Pick a chat from the queue.'), h('p', { class: 'muted' }, 'Several chats can be open at once; they stay live in their tabs.'));
}

function renderChatTabs() {
  chatTabs.replaceChildren(...state.open.map((id) => {
    const s = state.sessions.get(id) || {};
    const chat = state.chats.get(id);
    const unread = chat?.unread || 0;
    return h('div', { class: `chat-tab ${state.active === id ? 'active' : ''}` },
      h('button', { type: 'button', 'aria-current': state.active === id ? 'true' : null, class: 'chat-tab-open', onclick: () => openChat(id) },
        h('span', { class: `dot st-${s.status}` }), s.customer_name || s.customer_id || 'Chat',
        unread ? h('span', { class: 'unread' }, String(unread)) : null),
      h('button', { type: 'button', class: 'chat-tab-close', 'aria-label': `Close chat with ${s.customer_name || s.customer_id}`, onclick: () => closeChat(id) }, '×'));
  }));
}

function buildChatView(chat) {
  chat.header = h('div', { class: 'chat-header' });
  chat.input = h('textarea', {
    class: 'composer-input', rows: 2, 'aria-label': 'Reply', placeholder: replyHint(),
    onkeydown: (e) => composerKey(chat, e), oninput: () => composerInput(chat),
  });
  chat.cannedBox = h('div', { class: 'canned-box', role: 'listbox', 'aria-label': 'Canned responses', hidden: true });
  chat.modeButtons = ['reply', 'note'].map((mode) => h('button', {
    type: 'button', class: 'mode', role: 'tab', 'aria-selected': String(mode === 'reply'),
    onclick: () => setMode(chat, mode),
  }, mode === 'reply' ? 'Reply' : 'Internal note'));
  const fileInput = h('input', {
    class: 'visually-hidden', type: 'file', multiple: true, tabindex: '-1', 'aria-label': 'Choose files to send', accept: ATTACHMENT_TYPES.join(','),
    onchange: () => { attachFrom(chat, fileInput.files); fileInput.value = ''; },
  });
  chat.input.addEventListener('paste', (e) => {
    if (!e.clipboardData?.files?.length) return;
    e.preventDefault();
    attachFrom(chat, e.clipboardData.files);
  });
  chat.composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); sendFrom(chat); } },
    h('div', { class: 'modes', role: 'tablist', 'aria-label': 'Message type' }, chat.modeButtons),
    chat.cannedBox,
    h('div', { class: 'composer-row' },
      h('button', { class: 'btn ghost attach', type: 'button', 'aria-label': 'Attach a file', title: 'Attach a file', onclick: () => fileInput.click() }, icon('clip', 20)),
      fileInput, chat.input, h('button', { class: 'btn primary send', type: 'submit' }, icon('send', 16), ' Send')));
  chat.endedNote = h('div', { class: 'ended-note', hidden: true });
  chat.view = h('section', { class: 'chat', 'aria-label': 'Chat' }, chat.header, chat.log, chat.endedNote, chat.composer);
}

function replyHint() {
  return state.features.canned ? 'Reply to the customer…  (type / for canned responses)' : 'Reply to the customer…';
}

function setMode(chat, mode) {
  chat.mode = mode;
  chat.modeButtons.forEach((b, i) => b.setAttribute('aria-selected', String(['reply', 'note'][i] === mode)));
  chat.composer.classList.toggle('note-mode', mode === 'note');
  chat.input.setAttribute('aria-label', mode === 'note' ? 'Internal note' : 'Reply');
  chat.input.placeholder = mode === 'note' ? 'Internal note — only agents see this' : replyHint();
  if (mode === 'note' && chat.typingSentAt) { client.typing(chat.conversation, false); chat.typingSentAt = 0; }
  chat.input.focus();
}

function renderChatHeader(id) {
  const chat = state.chats.get(id);
  const s = state.sessions.get(id);
  if (!chat || !s) return;
  const mine = s.agent_id === me;
  const admin = myRole === 'admin';
  // A chat of mine handed to someone else: I can no longer read or answer it.
  const gone = !admin && !FINAL.includes(s.status) && (s.left_me || (chat.wasMine && !mine));
  if (mine) chat.wasMine = true;
  const actions = [];
  const button = (text, onclick, cls = 'btn') => h('button', { class: cls, type: 'button', onclick }, text);
  if (!gone) {
    if (s.status === 'waiting') actions.push(button('Claim', () => claim(s), 'btn primary'));
    // Transfer: the assigned agent or an admin; assign (a waiting chat): admins.
    const canMove = WORKING.includes(s.status) ? (mine || admin) && (state.features.transfer || state.features.assign)
      : s.status === 'waiting' && state.features.assign;
    if (canMove) actions.push(agentPicker(s));
    const canWork = mine || admin || s.status === 'waiting';
    if (state.features.lifecycle && canWork) {
      if (WORKING.includes(s.status) || s.status === 'waiting') actions.push(button('Resolve', () => act(s, 'resolve')));
      if (WORKING.includes(s.status) && s.status !== 'snoozed') actions.push(snoozeButton(s));
      if (['resolved', 'pending', 'snoozed'].includes(s.status)) actions.push(button('Reopen', () => act(s, 'reopen')));
      if (!FINAL.includes(s.status)) actions.push(button('Close', () => act(s, 'close')));
    }
    if (!FINAL.includes(s.status) && s.status !== 'resolved' && canWork) {
      actions.push(button('End chat', () => endSession(s), 'btn danger'));
    }
  }
  const who = s.customer_name || s.customer_id;
  chat.header.replaceChildren(
    h('button', { class: 'btn ghost back', type: 'button', 'aria-label': 'Back to the queue', onclick: showQueue }, icon('back', 18)),
    h('div', { class: 'ch-who' },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(who)),
      h('div', {}, h('h2', {}, who), h('div', { class: 'muted' }, s.subject))),
    h('span', { class: `chip st st-${s.status}` }, s.status === 'active' ? (mine ? 'Active · you' : `Active · ${s.agent_name || s.agent_id || 'another agent'}`) : label(s.status)),
    h('div', { class: 'ch-actions' }, actions));
  const ended = FINAL.includes(s.status);
  chat.composer.hidden = ended || gone || (s.status !== 'waiting' && !mine && !admin);
  chat.endedNote.hidden = !ended && !gone;
  chat.endedNote.textContent = gone
    ? `This chat was transferred${s.agent_name && !mine ? ` to ${s.agent_name}` : ' to another agent'}: you are no longer in it.`
    : ended
      ? `Chat ${s.status === 'closed' ? 'closed' : 'ended'}${s.ended_at ? ' at ' + fmtTime(s.ended_at) : ''}.${s.rating ? ` Rated ${'★'.repeat(s.rating)}${'☆'.repeat(5 - s.rating)}` : ''}${s.feedback ? ` — “${s.feedback}”` : ''}`
      : '';
  renderChatTabs();
}

/** Snooze until tomorrow 09:00 (local time), the usual "later" of a desk. */
function snoozeButton(s) {
  return h('button', {
    class: 'btn', type: 'button', title: 'Snooze until tomorrow 9:00',
    onclick: () => {
      const until = new Date();
      until.setDate(until.getDate() + 1);
      until.setHours(9, 0, 0, 0);
      act(s, 'snooze', { until: until.toISOString() });
    },
  }, 'Snooze');
}

const agentId = (a) => a.agent_id || a.user_id || a.id;

/** The agents a session may go to: on the desk, enabled, not offline. No one: says so (no free text). */
function agentPicker(s) {
  const verb = s.status === 'waiting' || !state.features.transfer ? 'assign' : 'transfer';
  const others = state.agents.filter((a) => agentId(a) !== s.agent_id && a.enabled !== false && a.status !== 'offline' && a.connected !== false);
  if (!others.length) {
    return h('span', { class: 'picker-none', title: `No other agent is online to ${verb} to` }, 'No other agent online');
  }
  const field = h('select', { 'aria-label': `${label(verb)} to agent` }, h('option', { value: '' }, `${label(verb)} to…`),
    others.map((a) => h('option', { value: agentId(a) }, `${a.name || agentId(a)}${a.status ? ` (${a.status})` : ''}`)));
  return h('form', {
    class: 'picker',
    onsubmit: async (e) => {
      e.preventDefault();
      if (field.value) await act(s, verb, { agent_id: field.value });
    },
  }, field, h('button', { class: 'btn', type: 'submit' }, label(verb)));
}

async function act(s, action, body) {
  try {
    const updated = await client.api('POST', `/v1/support/sessions/${s.id}/${action}`, body);
    upsertSession(updated);
    return updated;
  } catch (e) {
    toast(e.missingRoute ? `${label(action)} is not available on this server` : `Could not ${action}: ${e.message}`);
    return null;
  }
}

async function claim(s) {
  // No reply while the claim is in flight: the reply would race it.
  const chat = state.chats.get(s.id);
  if (chat) chat.input.disabled = true;
  state.claiming.add(s.id);
  try {
    return await act(s, 'claim');
  } finally {
    if (chat) {
      chat.input.disabled = false;
      chat.input.focus();
    }
  }
}
const endSession = (s) => act(s, 'end');

function composerKey(chat, e) {
  if (!chat.cannedBox.hidden && chat.canned.length) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      chat.cannedIndex = (chat.cannedIndex + (e.key === 'ArrowDown' ? 1 : -1) + chat.canned.length) % chat.canned.length;
      renderCanned(chat);
      return;
    }
    if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      useCanned(chat, chat.canned[chat.cannedIndex]);
      return;
    }
    if (e.key === 'Escape') { chat.cannedBox.hidden = true; return; }
  }
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sendFrom(chat);
  }
}

function composerInput(chat) {
  const text = chat.input.value;
  const m = /^\/(\S*)$/.exec(text);
  if (m && state.features.canned) {
    const q = m[1].toLowerCase();
    chat.canned = state.canned.filter((c) => (c.shortcut || '').toLowerCase().includes(q) || (c.title || '').toLowerCase().includes(q)).slice(0, 8);
    chat.cannedIndex = 0;
    renderCanned(chat);
  } else chat.cannedBox.hidden = true;
  if (chat.mode === 'reply' && text.trim() && Date.now() - chat.typingSentAt > 2000) {
    chat.typingSentAt = Date.now();
    client.typing(chat.conversation, true);
  } else if (!text.trim() && chat.typingSentAt) {
    chat.typingSentAt = 0;
    client.typing(chat.conversation, false);
  }
}

function renderCanned(chat) {
  chat.cannedBox.hidden = !chat.canned.length;
  chat.cannedBox.replaceChildren(...chat.canned.map((c, i) => h('div', {
    role: 'option', class: `canned ${i === chat.cannedIndex ? 'sel' : ''}`, 'aria-selected': String(i === chat.cannedIndex),
    onmousedown: (e) => { e.preventDefault(); useCanned(chat, c); },
  }, h('code', {}, '/' + c.shortcut), ' ', h('span', {}, c.title || c.body))));
}

async function useCanned(chat, c) {
  if (!c) return;
  chat.cannedBox.hidden = true;
  const s = state.sessions.get(chat.id) || {};
  // The server renders the placeholders ({customer_name}, {agent_name}, {subject}, …) for this session.
  let body = c.body || '';
  try {
    const q = new URLSearchParams({ shortcut: c.shortcut, session_id: chat.id });
    body = (await client.api('GET', `/v1/support/canned/lookup?${q}`)).body || body;
  } catch {
    const values = { customer_name: s.customer_name || 'there', customer_id: s.customer_id, agent_name: client.user.name || me, subject: s.subject, category: s.category, priority: s.priority };
    body = body.replace(/\{(\w+)\}/g, (m, k) => values[k] ?? m);
  }
  chat.input.value = body;
  chat.input.focus();
}

function sendFrom(chat) {
  const text = chat.input.value.trim();
  if (!text) return;
  chat.input.value = '';
  chat.cannedBox.hidden = true;
  chat.typingSentAt = 0;
  client.send(chat.conversation, text, { internal: chat.mode === 'note' });
  chat.list.stick();
}

function attachFrom(chat, files) {
  for (const file of files || []) {
    client.upload(chat.conversation, file, { internal: chat.mode === 'note' }).catch(() => { /* send_failed shows it */ });
  }
  chat.list.stick();
}

function markRead(chat) {
  if (!chat) return;
  const s = state.sessions.get(chat.id);
  if (!s || s.agent_id !== me || state.active !== chat.id || document.visibilityState !== 'visible') return;
  const seq = chat.list.lastSeq({ others: true });
  if (seq > chat.lastRead && client.state === 'open') {
    chat.lastRead = seq;
    client.markRead(chat.conversation, seq).catch(() => {});
  }
  chat.unread = 0;
  s.unread = 0;
  renderChatTabs();
  renderQueue();
}

function chatOf(conversationId) {
  for (const chat of state.chats.values()) if (chat.conversation === conversationId) return chat;
  return null;
}

// --- customer panel ---------------------------------------------------------------
/** The session's labels: remove one with its ×, add one with the field (PUT|DELETE …/labels/{label}). */
function labelsEditor(s) {
  const editable = myRole === 'admin' || s.agent_id === me || s.status === 'waiting';
  // The draft survives a re-render of the panel (a session event while typing).
  const hadFocus = document.activeElement?.dataset?.labelDraft === s.id;
  const input = h('input', {
    'aria-label': 'New label', placeholder: 'add a label', size: 10, maxlength: 50, dataset: { labelDraft: s.id },
    value: state.labelDraft?.id === s.id ? state.labelDraft.text : '',
    oninput: (e) => { state.labelDraft = { id: s.id, text: e.target.value }; },
  });
  if (hadFocus) setTimeout(() => input.focus(), 0);
  const change = async (method, word) => {
    try {
      upsertSession(await client.api(method, `/v1/support/sessions/${s.id}/labels/${encodeURIComponent(word)}`));
    } catch (e) {
      toast(`Could not change the labels: ${e.message}`);
    }
  };
  return h('div', { class: 'labels' },
    h('h4', { id: 'labels-title' }, 'Labels'),
    h('ul', { class: 'label-list', 'aria-labelledby': 'labels-title' }, (s.labels || []).map((l) => h('li', { class: 'chip label-chip' }, l,
      editable ? h('button', { type: 'button', class: 'chip-x', 'aria-label': `Remove label ${l}`, onclick: () => change('DELETE', l) }, '×') : null))),
    editable ? h('form', { class: 'label-add', onsubmit: (e) => { e.preventDefault(); const w = input.value.trim().toLowerCase(); state.labelDraft = null; if (w) change('PUT', w); } },
      input, h('button', { class: 'btn', type: 'submit' }, 'Add')) : null);
}

function renderInfo() {
  const s = state.sessions.get(state.active);
  if (!s) {
    infoPanel.replaceChildren(h('p', { class: 'empty' }, 'Customer details appear here.'));
    return;
  }
  const row = (name, value) => h('div', { class: 'kv' }, h('dt', {}, name), h('dd', {}, value ?? '–'));
  const when = (iso) => (iso ? `${new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}` : '–');
  const editable = state.features.patch && !FINAL.includes(s.status);
  const select = (field, options) => h('select', {
    'aria-label': label(field), disabled: !editable, title: editable ? '' : 'Not editable on this server',
    onchange: async (e) => {
      try {
        upsertSession(await client.api('PATCH', `/v1/support/sessions/${s.id}`, { [field]: e.target.value }));
      } catch (err) { toast(`Could not change the ${field}: ${err.message}`); }
    },
  }, options.map((o) => h('option', { value: o, selected: o === s[field] }, label(o))));
  const waited = s.assigned_at ? Math.round((new Date(s.assigned_at) - new Date(s.started_at)) / 1000) : null;
  infoPanel.replaceChildren(
    h('div', { class: 'info-card' },
      h('span', { class: 'avatar large' }, initials(s.customer_name || s.customer_id)),
      h('h3', {}, s.customer_name || s.customer_id),
      h('p', { class: 'muted' }, s.customer_id)),
    h('h4', {}, 'Ticket'),
    h('dl', {},
      row('Subject', s.subject),
      h('div', { class: 'kv' }, h('dt', {}, 'Priority'), h('dd', {}, select('priority', PRIORITIES))),
      h('div', { class: 'kv' }, h('dt', {}, 'Category'), h('dd', {}, select('category', CATEGORIES))),
      row('Status', label(s.status)),
      row('Agent', s.agent_name || s.agent_id),
      s.snoozed_until ? row('Snoozed until', when(s.snoozed_until)) : null),
    state.features.labels ? labelsEditor(s) : null,
    h('dl', {},
      row('Started', when(s.started_at)),
      row('Waited', waited === null ? (s.status === 'waiting' ? ago(s.started_at) : '–') : `${Math.floor(waited / 60)}m ${waited % 60}s`),
      row('First reply', when(s.first_response_at)),
      FINAL.includes(s.status) ? row('Ended', when(s.ended_at)) : null,
      s.rating ? row('Rating', `${'★'.repeat(s.rating)}${'☆'.repeat(5 - s.rating)}`) : null,
      s.feedback ? row('Feedback', s.feedback) : null),
    h('h4', {}, 'History'),
    h('ul', { class: 'history' }, [...state.sessions.values()]
      .filter((x) => x.customer_id === s.customer_id && x.id !== s.id)
      .slice(0, 5)
      .map((x) => h('li', {}, h('button', { class: 'link', type: 'button', onclick: () => openChat(x.id) }, x.subject), h('span', { class: 'muted' }, ` · ${label(x.status)} · ${ago(x.started_at)} ago`)))),
  );
}

// --- toasts --------------------------------------------------------------------------
const toasts = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
document.body.append(toasts);
function toast(text) {
  const t = h('div', { class: 'toast' }, text);
  toasts.append(t);
  setTimeout(() => t.remove(), 5000);
}

// --- realtime wiring ------------------------------------------------------------------
client.on('state', ({ state: st }) => {
  connPill.textContent = { open: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline', closed: 'Closed' }[st] || st;
  connPill.className = `pill conn conn-${st}`;
  if (st === 'open' && state.status) client.setPresence(state.status).catch(() => {});
});
client.on('session', (s) => upsertSession(s));
client.on('message', ({ message: m }) => {
  const chat = chatOf(m.conversation_id);
  if (!chat) return;
  chat.list.upsert(m);
  if (m.id && m.sender_id !== me) {
    chat.typers.delete(m.sender_id);
    renderTypers(chat);
    if (state.active === chat.id && document.visibilityState === 'visible') markRead(chat);
    else if (m.seq > chat.lastRead && m.kind !== 'system' && !m.internal && m.sender_role === 'user') {
      chat.unread = chat.list.messages().filter((x) => x.id && x.sender_id !== me && x.sender_role === 'user' && x.seq > chat.lastRead).length;
      renderChatTabs();
      renderQueue();
    }
  }
});
client.on('send_failed', ({ item, error }) => {
  const chat = chatOf(item.conversation_id);
  chat?.list.fail(item.client_msg_id, error);
  toast(item.attachment ? attachmentError(error, item.attachment.filename) : `Message not sent: ${error.message || error.code}`);
});
client.on('upload', (u) => chatOf(u.conversation_id)?.list.progress(u));
client.on('member', (f) => {
  const chat = chatOf(f.conversation_id);
  if (!chat) return;
  chat.receipts.frame(f);
  if (f.user_id === me) chat.lastRead = Math.max(chat.lastRead, chat.receipts.lastRead(me));
  chat.list.schedule();
});
client.on('typing', (f) => {
  const chat = chatOf(f.conversation_id);
  if (!chat || f.user_id === me) return;
  if (f.typing) chat.typers.set(f.user_id, { name: f.name || f.user_id, until: Date.now() + 6000 });
  else chat.typers.delete(f.user_id);
  renderTypers(chat);
});
function renderTypers(chat) {
  const names = [...chat.typers.values()].filter((t) => t.until > Date.now()).map((t) => t.name);
  chat.list.setTyping(names);
}
setInterval(() => { for (const chat of state.chats.values()) renderTypers(chat); renderQueue(); }, 5000);
client.on('subscribed', ({ topic, ack }) => {
  if (topic === 'support:queue' && Array.isArray(ack.sessions)) ack.sessions.forEach(upsertSession);
});
document.addEventListener('visibilitychange', () => {
  const chat = state.chats.get(state.active);
  if (chat) markRead(chat);
});

// --- boot ------------------------------------------------------------------------------
async function loadSessions() {
  let cursor = null;
  for (let page = 0; page < 5; page++) {
    const data = await client.api('GET', `/v1/support/sessions?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    data.items.forEach((s) => { state.seenWaiting.add(s.id); upsertSession(s); });
    cursor = data.next_cursor;
    if (!cursor) break;
  }
}

chatArea.replaceChildren(emptyCenter());
renderInfo();
renderNotifyButton();
// Which desk endpoints this server has: its OpenAPI document says (no probing writes).
const has = await routes(client);
const SESSION = '/v1/support/sessions/{id}';
Object.assign(state.features, {
  assign: has('POST', `${SESSION}/assign`), transfer: has('POST', `${SESSION}/transfer`), patch: has('PATCH', SESSION),
  canned: has('GET', '/v1/support/canned'), agents: has('GET', '/v1/agents'), stats: myRole === 'admin' && has('GET', '/v1/admin/stats'),
  lifecycle: has('POST', `${SESSION}/resolve`), labels: has('PUT', `${SESSION}/labels/{label}`),
  bulk: has('POST', '/v1/support/sessions/bulk'), search: has('GET', '/v1/search'),
  teams: has('GET', '/v1/teams'), hours: has('GET', '/v1/admin/business-hours'),
  reports: has('GET', '/v1/admin/reports'), settings: has('GET', '/v1/admin/settings'),
});
document.body.dataset.features = Object.entries(state.features).filter(([, v]) => v).map(([k]) => k).join(' ');
searchForm.hidden = !state.features.search;
// My status: the one chosen in this browser, else the desk's (not `offline`: that is only
// "no connection"). An agent who has none joins the desk online; an admin joins only by choosing.
if (!state.status && state.features.agents) {
  const agent = (await client.api('GET', '/v1/agents').catch(() => null))?.items.find((a) => a.agent_id === me);
  state.status = agent && agent.status !== 'offline' ? agent.status : myRole === 'agent' ? 'online' : null;
  if (state.status) client.presence = state.status;
}
showStatus();
client.connect();
client.subscribe('support:queue');
await loadSessions().catch((e) => toast(`Could not load sessions: ${e.message}`));
const [canned, agents, stats] = await Promise.all([
  state.features.canned ? client.api('GET', '/v1/support/canned').catch(() => null) : null,
  state.features.agents ? client.api('GET', '/v1/agents').catch(() => null) : null,
  state.features.stats ? client.api('GET', '/v1/admin/stats').catch(() => null) : null,
]);
state.canned = canned?.items || [];
state.agents = agents?.items || [];
state.stats = stats || null;
state.booted = true;
if (state.features.agents && state.status && (myRole === 'agent' || localStorage.getItem(`pgchat:desk:status:${me}`))) {
  // On the desk with my status (enrols an agent who was not): assignable only when online.
  await setStatus(state.status);
}
async function refreshAgents() {
  if (!state.features.agents || client.state !== 'open') return;
  state.agents = (await client.api('GET', '/v1/agents').catch(() => null))?.items || state.agents;
  renderStats();
  const chat = state.chats.get(state.active);
  // Not while the agent is using the header (it would reset a half-made choice).
  if (chat && !chat.header.contains(document.activeElement)) renderChatHeader(state.active);
}
await refreshAgents();
let agentsTimer = null;
client.on('presence', () => {
  clearTimeout(agentsTimer);
  agentsTimer = setTimeout(refreshAgents, 300);
});
setInterval(async () => {
  if (client.state !== 'open') return;
  await refreshAgents();
  if (state.features.stats) state.stats = (await client.api('GET', '/v1/admin/stats').catch(() => null)) || state.stats;
  renderStats();
}, 30000);
adminScreens({
  client, me, myRole, nav: screenNav, area: screenArea, desk: deskBody, features: state.features, has, toast,
  onCanned: (items) => { state.canned = items; },
});
renderQueue();
if (state.active) { renderChatHeader(state.active); renderInfo(); }
document.body.dataset.ready = 'true';

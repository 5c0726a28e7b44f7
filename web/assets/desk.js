// The agent desk: the live queue (support:queue + GET /v1/support/sessions),
// several chats at once, claim / assign / transfer / end, internal notes,
// canned responses (/shortcut), the customer panel and ticket fields, the
// agent's status, a stats header, and a chime + notification for new chats.
// Endpoints that are not deployed yet (404 "route not found") hide their controls.
import { ATTACHMENT_TYPES, PgChat, PgChatError } from '/client/pgchat.js';
import { h, icon, MessageList, Receipts, ago, fmtTime, initials, chime, CATEGORIES, PRIORITIES, PRESENCE_STATUSES, label, attachmentError } from '/client/ui.js';
import { signIn, signOut } from '/assets/signin.js';

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
  features: { assign: false, transfer: false, canned: false, agents: false, patch: false, stats: false, agentsMe: undefined },
  canned: [],
  agents: [],
  stats: null,
  sound: localStorage.getItem('pgchat:desk:sound') !== 'off',
  status: 'online',
  booted: false,
};

// --- layout --------------------------------------------------------------------
const connPill = h('span', { class: 'pill conn', role: 'status' }, 'Connecting…');
const statsBar = h('div', { class: 'stats', 'aria-label': 'Queue statistics' });
const statusSelect = h('select', { id: 'agent-status', class: 'status-select', 'aria-label': 'My status', onchange: () => setStatus(statusSelect.value) },
  PRESENCE_STATUSES.map((s) => h('option', { value: s }, label(s))));
const soundButton = h('button', { class: 'btn ghost', type: 'button', 'aria-pressed': String(state.sound), onclick: toggleSound }, state.sound ? 'Sound on' : 'Sound off');
const notifyButton = h('button', { class: 'btn ghost', type: 'button', onclick: askNotifications }, icon('bell', 16), ' Notifications');
const topbar = h('header', { class: 'topbar' },
  h('div', { class: 'brand' }, h('span', { class: 'logo-dot', 'aria-hidden': 'true' }), 'pgchat desk'),
  statsBar,
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
const sidebar = h('aside', { class: 'sidebar', 'aria-label': 'Conversations' },
  h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Queues' }, tabs), queueList);
const chatTabs = h('div', { class: 'chat-tabs', role: 'tablist', 'aria-label': 'Open chats' });
const chatArea = h('div', { class: 'chat-area' });
const infoPanel = h('aside', { class: 'info', 'aria-label': 'Customer' });
const center = h('main', { class: 'center' }, chatTabs, chatArea);
root.replaceChildren(h('div', { class: 'desk' }, topbar, h('div', { class: 'desk-body' }, sidebar, center, infoPanel)));

// --- queue ---------------------------------------------------------------------
function inTab(s, tab) {
  if (tab === 'new') return s.status === 'waiting';
  if (tab === 'mine') return s.agent_id === me && s.status === 'active';
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
  const items = all.filter((s) => inTab(s, state.tab)).sort((a, b) =>
    state.tab === 'new'
      ? PRIORITIES.indexOf(b.priority) - PRIORITIES.indexOf(a.priority) || a.started_at.localeCompare(b.started_at)
      : b.started_at.localeCompare(a.started_at));
  queueList.setAttribute('aria-labelledby', `tab-${state.tab}`);
  if (!items.length) {
    queueList.replaceChildren(h('p', { class: 'empty' },
      state.tab === 'new' ? 'No one is waiting.' : state.tab === 'mine' ? 'No chats assigned to you.' : 'No sessions yet.'));
  } else {
    queueList.replaceChildren(...items.map(queueItem));
  }
  renderStats();
}

function queueItem(s) {
  const unread = state.chats.get(s.id)?.unread ?? s.unread ?? 0;
  return h('button', {
    type: 'button', class: `queue-item ${state.active === s.id ? 'active' : ''} st-${s.status}`,
    dataset: { session: s.id }, onclick: () => openChat(s.id),
    'aria-label': `${s.customer_name || s.customer_id}: ${s.subject}, ${s.status}${unread ? `, ${unread} unread` : ''}`,
  },
  h('span', { class: 'avatar' }, initials(s.customer_name || s.customer_id)),
  h('span', { class: 'qi-main' },
    h('span', { class: 'qi-top' }, h('strong', {}, s.customer_name || s.customer_id), h('span', { class: 'qi-time' }, ago(s.started_at))),
    h('span', { class: 'qi-subject' }, s.subject),
    h('span', { class: 'qi-tags' },
      h('span', { class: `chip pr-${s.priority}` }, label(s.priority)),
      h('span', { class: 'chip' }, label(s.category)),
      s.status !== 'waiting' ? h('span', { class: `chip st st-${s.status}` }, s.status === 'active' ? (s.agent_id === me ? 'Mine' : s.agent_name || s.agent_id) : 'Ended') : null)),
  unread ? h('span', { class: 'unread' }, String(unread)) : null);
}

function renderStats() {
  const all = [...state.sessions.values()];
  const waiting = all.filter((s) => s.status === 'waiting');
  const oldest = waiting.reduce((o, s) => (!o || s.started_at < o ? s.started_at : o), null);
  const mine = all.filter((s) => s.agent_id === me && s.status === 'active').length;
  const today = new Date().toDateString();
  const endedToday = all.filter((s) => s.status === 'ended' && s.ended_at && new Date(s.ended_at).toDateString() === today);
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
  if (merged.unread === undefined) merged.unread = 0;
  state.sessions.set(s.id, merged);
  if (s.status === 'waiting' && !state.seenWaiting.has(s.id)) {
    state.seenWaiting.add(s.id);
    if (state.booted) announceNewChat(merged);
  } else if (state.booted && s.status === 'active' && s.agent_id === me && old?.agent_id !== me && !state.seenWaiting.has(`mine:${s.id}`)) {
    // Assigned to me (auto-assignment, an admin, a colleague's transfer).
    state.seenWaiting.add(`mine:${s.id}`);
    if (!state.claiming.has(s.id)) announceNewChat(merged);
  }
  // Keep my active chats' conversations subscribed: live unread counts and notices.
  if (merged.agent_id === me && merged.status === 'active') ensureChat(merged.id, { background: true });
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
async function setStatus(status) {
  state.status = status;
  document.body.dataset.presence = status;
  try { await client.setPresence(status); } catch { /* offline: sent on reconnect */ }
  if (state.features.agentsMe !== false) {
    try {
      await client.api('PUT', '/v1/agents/me', { status });
      state.features.agentsMe = true;
    } catch (e) {
      if (e.missingRoute) state.features.agentsMe = false;
    }
  }
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
  if (chat && !(s && s.agent_id === me && s.status === 'active')) {
    client.unsubscribe(`conversation:${chat.conversation}`);
    state.chats.delete(id);
  } else if (chat) chat.background = true;
  if (state.active === id) state.active = state.open[state.open.length - 1] || null;
  renderChatTabs();
  if (state.active) openChat(state.active);
  else { chatArea.replaceChildren(emptyCenter()); renderInfo(); renderQueue(); }
}

function emptyCenter() {
  return h('div', { class: 'center-empty' }, icon('chat', 48), h('p', {}, 'Pick a chat from the queue.'), h('p', { class: 'muted' }, 'Several chats can be open at once; they stay live in their tabs.'));
}

function renderChatTabs() {
  chatTabs.replaceChildren(...state.open.map((id) => {
    const s = state.sessions.get(id) || {};
    const chat = state.chats.get(id);
    const unread = chat?.unread || 0;
    return h('div', { class: `chat-tab ${state.active === id ? 'active' : ''}`, role: 'presentation' },
      h('button', { type: 'button', role: 'tab', 'aria-selected': String(state.active === id), class: 'chat-tab-open', onclick: () => openChat(id) },
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
  const actions = [];
  if (s.status === 'waiting') actions.push(h('button', { class: 'btn primary', type: 'button', onclick: () => claim(s) }, 'Claim'));
  // Transfer: the assigned agent or an admin; assign (a waiting chat): admins.
  const canMove = s.status === 'active' ? (mine || myRole === 'admin') && (state.features.transfer || state.features.assign)
    : s.status === 'waiting' && state.features.assign;
  if (canMove) actions.push(agentPicker(s));
  if (s.status !== 'ended' && (mine || s.status === 'waiting' || myRole === 'admin')) {
    actions.push(h('button', { class: 'btn danger', type: 'button', onclick: () => endSession(s) }, 'End chat'));
  }
  chat.header.replaceChildren(
    h('div', { class: 'ch-who' },
      h('span', { class: 'avatar' }, initials(s.customer_name || s.customer_id)),
      h('div', {}, h('h2', {}, s.customer_name || s.customer_id), h('div', { class: 'muted' }, s.subject))),
    h('span', { class: `chip st st-${s.status}` }, s.status === 'active' ? (mine ? 'Active · you' : `Active · ${s.agent_name || s.agent_id}`) : label(s.status)),
    h('div', { class: 'ch-actions' }, actions));
  const ended = s.status === 'ended';
  chat.composer.hidden = ended || (s.status === 'active' && !mine && myRole !== 'admin');
  chat.endedNote.hidden = !ended;
  chat.endedNote.textContent = ended
    ? `Chat ended${s.ended_at ? ' at ' + fmtTime(s.ended_at) : ''}.${s.rating ? ` Rated ${'★'.repeat(s.rating)}${'☆'.repeat(5 - s.rating)}` : ''}${s.feedback ? ` — “${s.feedback}”` : ''}`
    : '';
  renderChatTabs();
}

const agentId = (a) => a.agent_id || a.user_id || a.id;

function agentPicker(s) {
  const verb = s.status === 'waiting' || !state.features.transfer ? 'assign' : 'transfer';
  const others = state.agents.filter((a) => agentId(a) !== s.agent_id && a.enabled !== false && a.status !== 'offline');
  const field = others.length
    ? h('select', { 'aria-label': `${label(verb)} to agent` }, h('option', { value: '' }, `${label(verb)} to…`),
      others.map((a) => h('option', { value: agentId(a) }, `${a.name || agentId(a)}${a.status ? ` (${a.status})` : ''}`)))
    : h('input', { 'aria-label': `${label(verb)} to agent id`, placeholder: `${label(verb)} to agent id`, size: 14 });
  return h('form', {
    class: 'picker',
    onsubmit: async (e) => {
      e.preventDefault();
      const agent = field.value.trim();
      if (!agent) return;
      await act(s, verb, { agent_id: agent });
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
function renderInfo() {
  const s = state.sessions.get(state.active);
  if (!s) {
    infoPanel.replaceChildren(h('p', { class: 'empty' }, 'Customer details appear here.'));
    return;
  }
  const row = (name, value) => h('div', { class: 'kv' }, h('dt', {}, name), h('dd', {}, value ?? '–'));
  const when = (iso) => (iso ? `${new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}` : '–');
  const editable = state.features.patch && s.status !== 'ended';
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
      row('Started', when(s.started_at)),
      row('Waited', waited === null ? (s.status === 'waiting' ? ago(s.started_at) : '–') : `${Math.floor(waited / 60)}m ${waited % 60}s`),
      row('First reply', when(s.first_response_at)),
      s.status === 'ended' ? row('Ended', when(s.ended_at)) : null,
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
  if (st === 'open') client.setPresence(state.status).catch(() => {});
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
async function detect(method, path, body) {
  try {
    return { ok: true, data: await client.api(method, path, body) };
  } catch (e) {
    return { ok: !(e instanceof PgChatError && e.missingRoute), error: e };
  }
}

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
client.connect();
client.subscribe('support:queue');
await loadSessions().catch((e) => toast(`Could not load sessions: ${e.message}`));
const zero = '00000000-0000-0000-0000-000000000000';
const [assign, transfer, patch, canned, agents, stats] = await Promise.all([
  detect('POST', `/v1/support/sessions/${zero}/assign`, { agent_id: me }),
  detect('POST', `/v1/support/sessions/${zero}/transfer`, { agent_id: me }),
  detect('PATCH', `/v1/support/sessions/${zero}`, { priority: 'low' }),
  detect('GET', '/v1/support/canned'),
  detect('GET', '/v1/agents'),
  myRole === 'admin' ? detect('GET', '/v1/admin/stats') : Promise.resolve({ ok: false }),
]);
// A 400 `method_not_allowed` means the path exists for another method only.
const real = (r) => r.ok && r.error?.code !== 'method_not_allowed';
Object.assign(state.features, {
  assign: real(assign), transfer: real(transfer), patch: real(patch),
  canned: real(canned), agents: real(agents), stats: real(stats),
});
state.canned = canned.data?.items || (Array.isArray(canned.data) ? canned.data : []);
state.agents = agents.data?.items || (Array.isArray(agents.data) ? agents.data : []);
state.stats = stats.data || null;
document.body.dataset.features = Object.entries(state.features).filter(([, v]) => v).map(([k]) => k).join(' ');
state.booted = true;
// Being on the desk (an agents row, status online) makes this agent assignable.
if (state.features.agents) {
  await setStatus(state.status);
  await refreshAgents();
}
async function refreshAgents() {
  if (!state.features.agents || client.state !== 'open') return;
  state.agents = (await client.api('GET', '/v1/agents').catch(() => null))?.items || state.agents;
  renderStats();
  const chat = state.chats.get(state.active);
  // Not while the agent is using the header (it would reset a half-made choice).
  if (chat && !chat.header.contains(document.activeElement)) renderChatHeader(state.active);
}
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
renderQueue();
if (state.active) { renderChatHeader(state.active); renderInfo(); }
document.body.dataset.ready = 'true';

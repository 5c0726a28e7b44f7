// The chat page: my conversations (the `inbox` topic's snapshot, enriched by
// GET /v1/conversations where deployed), direct messages and rooms. Every
// endpoint of direct conversations and rooms is feature-detected: a 404
// "route not found" hides its controls and says so.
import { ATTACHMENT_TYPES, PgChat } from '/client/pgchat.js';
import { h, icon, MessageList, Receipts, ago, initials, label } from '/client/ui.js';
import { signIn, signOut } from '/assets/signin.js';

const KEY = 'pgchat:chat:token';
const root = document.getElementById('app');
const { token, getToken } = await signIn({ key: KEY, role: 'user', root, title: 'Chat' });
const client = new PgChat({ token, getToken });
const me = client.sub;

const state = {
  conversations: new Map(),
  active: null,
  views: new Map(),
  features: { list: false, direct: false, rooms: false },
  publicRooms: [],
};

const connPill = h('span', { class: 'pill conn', role: 'status' }, 'Connecting…');
const listEl = h('nav', { class: 'queue-list', 'aria-label': 'Conversations' });
const notice = h('p', { class: 'notice', hidden: true });
const directForm = h('form', { class: 'conv-form', hidden: true, onsubmit: startDirect },
  h('input', { name: 'user', placeholder: 'User id', 'aria-label': 'Start a conversation with user id', required: true }),
  h('button', { class: 'btn primary', type: 'submit' }, 'Message'));
const roomForm = h('form', { class: 'conv-form', hidden: true, onsubmit: createRoom },
  h('input', { name: 'name', placeholder: 'New room name', 'aria-label': 'New room name', required: true }),
  h('button', { class: 'btn', type: 'submit' }, 'Create'));
const roomsEl = h('div', { class: 'rooms', hidden: true });
const main = h('main', { class: 'chat-area' });
root.replaceChildren(
  h('header', { class: 'topbar' },
    h('div', { class: 'brand' }, h('span', { class: 'logo-dot', 'aria-hidden': 'true' }), 'pgchat'),
    h('div', { class: 'stats' }),
    h('div', { class: 'top-actions' }, connPill,
      h('span', { class: 'me' }, h('span', { class: 'avatar small' }, initials(client.user.name || me)), client.user.name || me),
      h('button', { class: 'btn ghost', type: 'button', onclick: () => signOut(KEY) }, 'Sign out'))),
  h('div', { class: 'chatpage' },
    h('aside', { class: 'conv-list' },
      notice,
      h('section', { class: 'conv-section', hidden: true, id: 'new-section' },
        h('h3', {}, 'New'), directForm, h('div', { style: 'height:6px' }), roomForm),
      h('section', { class: 'conv-section', id: 'rooms-section', hidden: true }, h('h3', {}, 'Public rooms'), roomsEl),
      h('section', { class: 'conv-section' }, h('h3', {}, 'Conversations')),
      listEl),
    main));

function titleOf(c) {
  if (c.title || c.name) return c.title || c.name;
  if (c.kind === 'direct' || c.peer) {
    const other = c.peer || (c.members || []).find((m) => (m.user_id || m.id) !== me);
    return other ? other.name || other.user_id : 'Direct message';
  }
  if (c.kind === 'support') return 'Support chat';
  return label(c.kind || 'conversation');
}

function upsertConversation(c) {
  const id = c.id || c.conversation_id;
  if (!id) return;
  state.conversations.set(id, { ...state.conversations.get(id), ...c, id });
  renderList();
}

function renderList() {
  const items = [...state.conversations.values()].filter((c) => !c.deleted && !c.archived)
    .sort((a, b) => (b.pinned ? 1 : 0) - (a.pinned ? 1 : 0) || String(b.last_message_at || '').localeCompare(String(a.last_message_at || '')));
  if (!items.length) {
    listEl.replaceChildren(h('p', { class: 'empty' }, 'No conversations yet.'));
    return;
  }
  listEl.replaceChildren(...items.map((c) => h('button', {
    type: 'button', class: `queue-item ${state.active === c.id ? 'active' : ''}`, onclick: () => open(c.id),
    'aria-current': state.active === c.id ? 'true' : null,
  },
  h('span', { class: 'avatar' }, initials(titleOf(c))),
  h('span', { class: 'qi-main' },
    h('span', { class: 'qi-top' }, h('strong', {}, titleOf(c)), c.last_message_at ? h('span', { class: 'qi-time' }, ago(c.last_message_at)) : null),
    h('span', { class: 'qi-subject' }, c.last_message?.body || label(c.kind || ''))),
  c.unread ? h('span', { class: 'unread' }, String(c.unread)) : null)));
}

let refreshTimer = null;
function refreshList() {
  if (!state.features.list) return;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    const data = await client.api('GET', '/v1/conversations').catch(() => null);
    (data?.items || []).forEach(upsertConversation);
    const v = state.views.get(state.active);
    if (v) open(state.active);
  }, 200);
}

function view(id) {
  let v = state.views.get(id);
  if (v) return v;
  const log = h('div', { class: 'pc-log desk-log' });
  const receipts = new Receipts(me);
  const list = new MessageList(log, { me, staff: client.user.role !== 'user', files: client, receipt: (m) => receipts.of(m), queued: () => client.state !== 'open' });
  const input = h('textarea', { class: 'composer-input', rows: 1, 'aria-label': 'Message', placeholder: 'Write a message…',
    onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } },
    oninput: () => {
      if (input.value.trim() && Date.now() - v.typingAt > 2000) { v.typingAt = Date.now(); client.typing(id, true); }
    } });
  const send = () => {
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    v.typingAt = 0;
    client.send(id, text);
    list.stick();
  };
  const attach = (files) => {
    for (const file of files || []) client.upload(id, file).catch(() => { /* send_failed shows it */ });
    list.stick();
  };
  const fileInput = h('input', {
    class: 'visually-hidden', type: 'file', multiple: true, tabindex: '-1', 'aria-label': 'Choose files to send', accept: ATTACHMENT_TYPES.join(','),
    onchange: () => { attach(fileInput.files); fileInput.value = ''; },
  });
  input.addEventListener('paste', (e) => {
    if (!e.clipboardData?.files?.length) return;
    e.preventDefault();
    attach(e.clipboardData.files);
  });
  const header = h('div', { class: 'chat-header' });
  v = {
    id, list, receipts, input, header, typers: new Map(), typingAt: 0, lastRead: 0,
    el: h('section', { class: 'chat', 'aria-label': 'Conversation' }, header, log,
      h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); send(); } },
        h('div', { class: 'composer-row' },
          h('button', { class: 'btn ghost attach', type: 'button', 'aria-label': 'Attach a file', title: 'Attach a file', onclick: () => fileInput.click() }, icon('clip', 20)),
          fileInput, input, h('button', { class: 'btn primary send', type: 'submit' }, icon('send', 16), ' Send')))),
  };
  state.views.set(id, v);
  client.messages(id).forEach((m) => list.upsert(m));
  client.subscribe(`conversation:${id}`, { since: 0 }).catch(() => {});
  return v;
}

function open(id) {
  state.active = id;
  const v = view(id);
  const c = state.conversations.get(id) || {};
  v.header.replaceChildren(h('div', { class: 'ch-who' }, h('span', { class: 'avatar' }, initials(titleOf(c))),
    h('div', {}, h('h2', {}, titleOf(c)), h('div', { class: 'muted' }, [label(c.kind || ''), c.member_count ? `${c.member_count} members` : null].filter(Boolean).join(' · ')))));
  main.replaceChildren(v.el);
  v.list.stick();
  read(v);
  renderList();
  v.input.focus();
}

function read(v) {
  if (state.active !== v.id || document.visibilityState !== 'visible' || client.state !== 'open') return;
  const seq = v.list.lastSeq({ others: true });
  if (seq > v.lastRead) {
    v.lastRead = seq;
    client.markRead(v.id, seq).catch(() => {});
  }
  const c = state.conversations.get(v.id);
  if (c && c.unread) { c.unread = 0; renderList(); }
}

async function startDirect(e) {
  e.preventDefault();
  const user = directForm.elements.user.value.trim();
  if (!user) return;
  try {
    const c = await client.api('POST', '/v1/conversations/direct', { user_id: user });
    upsertConversation(c);
    directForm.reset();
    open(c.id);
  } catch (err) {
    alertText(`Could not start the conversation: ${err.message}`);
  }
}

async function createRoom(e) {
  e.preventDefault();
  const name = roomForm.elements.name.value.trim();
  if (!name) return;
  try {
    const room = await client.api('POST', '/v1/rooms', { name, type: 'public' });
    upsertConversation(room);
    roomForm.reset();
    open(room.id);
    loadRooms();
  } catch (err) {
    alertText(`Could not create the room: ${err.message}`);
  }
}

async function loadRooms() {
  try {
    const data = await client.api('GET', '/v1/rooms?type=public&limit=20');
    state.publicRooms = data.items || [];
  } catch {
    state.publicRooms = [];
  }
  roomsEl.replaceChildren(...(state.publicRooms.length ? state.publicRooms.map((r) => h('div', { class: 'kv' },
    h('dt', {}, r.name || r.title), h('dd', {}, state.conversations.has(r.id)
      ? h('button', { class: 'link', type: 'button', onclick: () => open(r.id) }, 'Open')
      : h('button', { class: 'btn', type: 'button', onclick: () => join(r) }, 'Join')))) : [h('p', { class: 'muted' }, 'No public rooms yet.')]));
}

async function join(room) {
  try {
    await client.api('POST', `/v1/rooms/${room.id}/join`);
    upsertConversation(room);
    open(room.id);
    loadRooms();
  } catch (err) {
    alertText(`Could not join: ${err.message}`);
  }
}

function alertText(text) {
  notice.hidden = false;
  notice.textContent = text;
}

client.on('state', ({ state: st }) => {
  connPill.textContent = { open: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline' }[st] || st;
  connPill.className = `pill conn conn-${st}`;
});
client.on('subscribed', ({ topic, ack }) => {
  if (topic === 'inbox' && Array.isArray(ack.conversations)) ack.conversations.forEach(upsertConversation);
});
client.on('message', ({ message: m }) => {
  const c = state.conversations.get(m.conversation_id);
  if (c && m.id) {
    c.last_message = m;
    c.last_message_at = m.created_at;
    if (m.sender_id !== me && m.kind !== 'system' && state.active !== m.conversation_id && !state.views.get(m.conversation_id)?.list.byKey.has(m.id)) c.unread = (c.unread || 0) + 1;
    renderList();
  } else if (!c && m.id) {
    upsertConversation({ id: m.conversation_id, last_message: m, last_message_at: m.created_at, unread: m.sender_id === me ? 0 : 1 });
    refreshList();
  }
  const v = state.views.get(m.conversation_id);
  if (!v) return;
  v.list.upsert(m);
  if (m.sender_id !== me) { v.typers.delete(m.sender_id); typing(v); read(v); }
});
client.on('member', (f) => {
  const v = state.views.get(f.conversation_id);
  if (f.type === 'member_joined' && f.user_id === me && !state.conversations.has(f.conversation_id)) {
    upsertConversation({ id: f.conversation_id });
    refreshList();
  }
  if (!v) return;
  v.receipts.frame(f);
  if (f.user_id === me) v.lastRead = Math.max(v.lastRead, v.receipts.lastRead(me));
  v.list.schedule();
});
client.on('flags', (f) => {
  const c = state.conversations.get(f.conversation_id);
  if (c) { Object.assign(c, f.flags); renderList(); }
});
client.on('typing', (f) => {
  const v = state.views.get(f.conversation_id);
  if (!v || f.user_id === me) return;
  if (f.typing) v.typers.set(f.user_id, { name: f.name || f.user_id, until: Date.now() + 6000 });
  else v.typers.delete(f.user_id);
  typing(v);
});
function typing(v) {
  v.list.setTyping([...v.typers.values()].filter((t) => t.until > Date.now()).map((t) => t.name));
}
client.on('send_failed', ({ item, error }) => state.views.get(item.conversation_id)?.list.fail(item.client_msg_id, error));
client.on('upload', (u) => state.views.get(u.conversation_id)?.list.progress(u));
document.addEventListener('visibilitychange', () => { const v = state.views.get(state.active); if (v) read(v); });

main.replaceChildren(h('div', { class: 'center-empty' }, icon('chat', 48), h('p', {}, 'Pick a conversation.')));
renderList();
client.connect();
client.subscribe('inbox');

// Feature detection: which conversation and room endpoints this server has.
const probe = async (method, path, body) => {
  try {
    return { ok: true, data: await client.api(method, path, body) };
  } catch (e) {
    return { ok: !e.missingRoute && e.code !== 'method_not_allowed', error: e };
  }
};
const [list, direct, rooms] = await Promise.all([
  probe('GET', '/v1/conversations'),
  probe('POST', '/v1/conversations/direct', {}),
  probe('GET', '/v1/rooms?type=public&limit=20'),
]);
state.features = { list: list.ok, direct: direct.ok, rooms: rooms.ok };
(list.data?.items || []).forEach(upsertConversation);
directForm.hidden = !direct.ok;
roomForm.hidden = !rooms.ok;
document.getElementById('new-section').hidden = !direct.ok && !rooms.ok;
document.getElementById('rooms-section').hidden = !rooms.ok;
if (rooms.ok) loadRooms();
if (!direct.ok && !rooms.ok) {
  notice.hidden = false;
  notice.textContent = 'Direct conversations and rooms are not available on this server yet. Your support chats are listed below.';
}
document.body.dataset.ready = 'true';

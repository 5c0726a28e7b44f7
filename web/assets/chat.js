// The chat page: my conversations (the `inbox` topic's snapshot, enriched by
// GET /v1/conversations), direct messages and rooms: discover and join rooms,
// reply, react, edit, delete and pin messages, pin, mute and archive
// conversations, search. Which endpoints exist is read from the server's
// OpenAPI document (a GET), never probed with writes.
import { ATTACHMENT_TYPES, PgChat } from '/client/pgchat.js';
import { h, icon, MessageList, Receipts, ago, initials, label } from '/client/ui.js';
import { MODERATOR_ROLES } from '/client/vocabulary.js';
import { signIn, signOut } from '/assets/signin.js';
import { routes } from '/assets/routes.js';

const KEY = 'pgchat:chat:token';
const REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢'];
const root = document.getElementById('app');
const { token, getToken } = await signIn({ key: KEY, role: 'user', root, title: 'Chat' });
const client = new PgChat({ token, getToken });
const me = client.sub;
const platformAdmin = client.user.role === 'admin';

const state = {
  conversations: new Map(),
  archived: new Map(),
  showArchived: false,
  active: null,
  views: new Map(),
  features: { list: false, direct: false, rooms: false, search: false },
  publicRooms: [],
};

const connPill = h('span', { class: 'pill conn', role: 'status' }, 'Connecting…');
const listEl = h('nav', { class: 'queue-list conv-items', 'aria-label': 'Conversations' });
const notice = h('p', { class: 'notice', role: 'status', hidden: true });
const directForm = h('form', { class: 'conv-form', hidden: true, onsubmit: startDirect },
  h('input', { name: 'user', placeholder: 'User id', 'aria-label': 'Start a conversation with user id', required: true }),
  h('button', { class: 'btn primary', type: 'submit' }, 'Message'));
const roomForm = h('form', { class: 'conv-form', hidden: true, onsubmit: createRoom },
  h('input', { name: 'name', placeholder: 'New room name', 'aria-label': 'New room name', required: true }),
  h('button', { class: 'btn', type: 'submit' }, 'Create'));
const searchForm = h('form', { class: 'conv-form', role: 'search', hidden: true, onsubmit: search },
  h('input', { name: 'q', type: 'search', placeholder: 'Search messages', 'aria-label': 'Search messages', maxlength: 200 }),
  h('button', { class: 'btn', type: 'submit', 'aria-label': 'Search' }, icon('search', 16)));
const searchResults = h('div', { class: 'search-results', 'aria-live': 'polite' });
const roomsEl = h('ul', { class: 'rooms', 'aria-label': 'Public rooms' });
const archiveToggle = h('button', { class: 'link', type: 'button', 'aria-pressed': 'false', onclick: toggleArchived }, 'Archived');
const listTitle = h('h2', { class: 'section-title' }, 'Conversations');
const main = h('main', { class: 'chat-area' });
const page = h('div', { class: 'chatpage' },
  h('aside', { class: 'conv-list', 'aria-label': 'Conversations and rooms' },
    notice,
    h('section', { class: 'conv-section', hidden: true, id: 'search-section' }, searchForm, searchResults),
    h('section', { class: 'conv-section', hidden: true, id: 'new-section' },
      h('h2', { class: 'section-title' }, 'New'), directForm, h('div', { style: 'height:6px' }), roomForm),
    h('section', { class: 'conv-section', id: 'rooms-section', hidden: true }, h('h2', { class: 'section-title' }, 'Public rooms'), roomsEl),
    h('section', { class: 'conv-section conv-head' }, listTitle, archiveToggle),
    listEl),
  main);
root.replaceChildren(
  h('header', { class: 'topbar' },
    h('div', { class: 'brand' }, h('span', { class: 'logo-dot', 'aria-hidden': 'true' }), 'pgchat'),
    h('div', { class: 'spacer' }),
    h('div', { class: 'top-actions' }, connPill,
      h('span', { class: 'me' }, h('span', { class: 'avatar small', 'aria-hidden': 'true' }, initials(client.user.name || me)), client.user.name || me),
      h('button', { class: 'btn ghost', type: 'button', onclick: () => signOut(KEY) }, 'Sign out'))),
  page);

// --- the conversation list -----------------------------------------------------------
function titleOf(c) {
  if (c.title || c.name) return c.title || c.name;
  if (c.kind === 'direct' || c.peer) {
    const other = c.peer || (c.members || []).find((m) => (m.user_id || m.id) !== me);
    return other ? other.name || other.user_id : 'Direct message';
  }
  if (c.kind === 'support') return 'Support chat';
  return label(c.kind || 'conversation');
}

/** The list's one-line preview: the last message as its reader would put it. */
function preview(c) {
  const m = c.last_message;
  if (!m) return c.kind === 'direct' ? 'No messages yet' : label(c.kind || '');
  const who = m.sender_id === me ? 'You: ' : '';
  if (m.deleted_at) return `${who}Message deleted`;
  if (m.attachment && (!m.body || m.body === m.attachment.filename)) return `${who}File: ${m.attachment.filename}`;
  return who + (m.body || label(m.kind || ''));
}

const flagsOf = (c) => c.me || c;

function upsertConversation(c) {
  const id = c.id || c.conversation_id;
  if (!id) return;
  const merged = { ...state.conversations.get(id), ...state.archived.get(id), ...c, id };
  const known = state.conversations.get(id)?.me;
  // Flags come from a PATCH answer, the `flags` frame and refetches, in any
  // order: the highest flags_version is the newest.
  if (c.me) merged.me = (known?.flags_version ?? -1) > (c.me.flags_version ?? -1) ? known : { ...known, ...c.me };
  state.conversations.set(id, merged);
  renderList();
  if (state.active === id) renderHeader(id);
}

function renderList() {
  const items = [...state.conversations.values()]
    .filter((c) => !flagsOf(c).deleted_at && !!flagsOf(c).archived === state.showArchived)
    .sort((a, b) => (flagsOf(b).pinned ? 1 : 0) - (flagsOf(a).pinned ? 1 : 0) ||
      String(b.last_message_at || b.created_at || '').localeCompare(String(a.last_message_at || a.created_at || '')));
  listTitle.textContent = state.showArchived ? 'Archived' : 'Conversations';
  archiveToggle.textContent = state.showArchived ? 'Back to conversations' : 'Archived';
  archiveToggle.setAttribute('aria-pressed', String(state.showArchived));
  if (!items.length) {
    listEl.replaceChildren(h('p', { class: 'empty' }, state.showArchived ? 'No archived conversations.' : 'No conversations yet.'));
    return;
  }
  listEl.replaceChildren(...items.map((c) => h('button', {
    type: 'button', class: `queue-item ${state.active === c.id ? 'active' : ''}`, onclick: () => open(c.id),
    'aria-current': state.active === c.id ? 'true' : null, dataset: { conversation: c.id },
  },
  h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(titleOf(c))),
  h('span', { class: 'qi-main' },
    h('span', { class: 'qi-top' }, h('strong', {}, titleOf(c)),
      h('span', { class: 'qi-flags' },
        flagsOf(c).pinned ? h('span', { class: 'chip', title: 'Pinned' }, 'Pinned') : null,
        flagsOf(c).muted ? h('span', { class: 'chip', title: 'Muted' }, 'Muted') : null,
        c.last_message_at ? h('span', { class: 'qi-time' }, ago(c.last_message_at)) : null)),
    h('span', { class: 'qi-subject' }, preview(c))),
  c.unread ? h('span', { class: 'unread' }, String(c.unread), h('span', { class: 'visually-hidden' }, ' unread')) : null)));
}

async function loadConversations() {
  if (!state.features.list) return;
  const data = await client.api('GET', `/v1/conversations?archived=${state.showArchived}&limit=100`).catch(() => null);
  (data?.items || []).forEach(upsertConversation);
}

let refreshTimer = null;
function refreshList() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(loadConversations, 200);
}

function toggleArchived() {
  state.showArchived = !state.showArchived;
  renderList();
  loadConversations();
}

/** One conversation again (member count, my role, flags), a moment after a change. */
const refetchTimers = new Map();
function refetch(id) {
  clearTimeout(refetchTimers.get(id));
  refetchTimers.set(id, setTimeout(async () => {
    const c = await client.api('GET', `/v1/conversations/${id}`).catch(() => null);
    if (c) upsertConversation(c);
  }, 150));
}

// --- one conversation --------------------------------------------------------------------
function view(id) {
  let v = state.views.get(id);
  if (v) return v;
  const log = h('div', { class: 'pc-log desk-log' });
  const receipts = new Receipts(me);
  const input = h('textarea', { class: 'composer-input', rows: 1, 'aria-label': 'Message', placeholder: 'Write a message…',
    onkeydown: (e) => {
      if (e.key === 'Escape' && (v.replyTo || v.editing)) { e.preventDefault(); setDraft(v, null); return; }
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    },
    oninput: () => {
      if (!v.editing && input.value.trim() && Date.now() - v.typingAt > 2000) { v.typingAt = Date.now(); client.typing(id, true); }
    } });
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    if (v.editing) {
      const target = v.editing;
      setDraft(v, null);
      input.value = '';
      if (text !== target.body) await messageAction(() => client.api('PATCH', `/v1/messages/${target.id}`, { body: text }), 'edit the message');
      return;
    }
    input.value = '';
    v.typingAt = 0;
    client.send(id, text, { replyTo: v.replyTo?.id });
    setDraft(v, null);
    list.stick();
  };
  const list = new MessageList(log, {
    me, staff: client.user.role !== 'user', files: client, receipt: (m) => receipts.of(m), queued: () => client.state !== 'open',
    actions: (m) => messageActions(v, m),
    onReact: (m, emoji, on) => react(m, emoji, on),
  });
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
  const draft = h('div', { class: 'draft', hidden: true, role: 'status' });
  const composer = h('form', { class: 'composer', 'aria-label': 'Write a message', onsubmit: (e) => { e.preventDefault(); send(); } },
    draft,
    h('div', { class: 'composer-row' },
      h('button', { class: 'btn ghost attach', type: 'button', 'aria-label': 'Attach a file', title: 'Attach a file', onclick: () => fileInput.click() }, icon('clip', 20)),
      fileInput, input, h('button', { class: 'btn primary send', type: 'submit' }, icon('send', 16), ' Send')));
  const members = h('ul', { class: 'members', id: `members-${id}`, 'aria-label': 'Members', hidden: true });
  v = {
    id, list, receipts, input, header, draft, composer, members, typers: new Map(), typingAt: 0, lastRead: 0,
    replyTo: null, editing: null, pickerFor: null, confirmDelete: null,
    el: h('section', { class: 'chat', 'aria-label': 'Conversation' }, header, members, log, composer),
  };
  state.views.set(id, v);
  client.messages(id).forEach((m) => list.upsert(m));
  client.subscribe(`conversation:${id}`, { since: 0 }).catch(() => {});
  return v;
}

/** What I may do to a message here: the server decides too; this only hides what it would refuse. */
function messageActions(v, m) {
  const c = state.conversations.get(v.id) || {};
  const mine = m.sender_id === me;
  const role = c.my_role || c.me?.role;
  const moderator = platformAdmin || MODERATOR_ROLES.includes(role);
  const system = m.kind === 'system' || m.sender_role === 'system';
  const act = (text, name, onclick, extra = '') => h('button', { type: 'button', class: `pc-act ${extra}`, 'aria-label': name, title: name, onclick }, text);
  if (system) return null;
  const out = [
    act(icon('reply', 14), 'Reply', () => { setDraft(v, { replyTo: m }); }),
    act(icon('smile', 14), 'React', () => { v.pickerFor = v.pickerFor === m.id ? null : m.id; v.list.schedule(); focusSoon(v, '.pc-picker button'); }),
  ];
  if (mine && m.kind !== 'ai_response') out.push(act('Edit', 'Edit', () => setDraft(v, { editing: m })));
  if (mine || (moderator && c.kind !== 'direct')) {
    const confirming = v.confirmDelete === m.id;
    out.push(act(confirming ? 'Really delete?' : 'Delete', confirming ? 'Confirm delete' : 'Delete', () => {
      if (!confirming) { v.confirmDelete = m.id; v.list.schedule(); focusSoon(v, `[data-id="${m.id}"] [aria-label="Confirm delete"]`); return; }
      v.confirmDelete = null;
      messageAction(() => client.api('DELETE', `/v1/messages/${m.id}`), 'delete the message');
    }, 'pc-danger'));
  }
  if (c.kind === 'direct' || moderator) {
    const pinned = !!m.pinned_at;
    out.push(act(pinned ? 'Unpin' : 'Pin', pinned ? 'Unpin' : 'Pin', () =>
      messageAction(() => client.api(pinned ? 'DELETE' : 'PUT', `/v1/rooms/${v.id}/pins/${m.id}`), pinned ? 'unpin' : 'pin')));
  }
  if (v.pickerFor === m.id) {
    out.push(h('div', { class: 'pc-picker', role: 'group', 'aria-label': 'Pick a reaction' },
      REACTIONS.map((emoji) => h('button', { type: 'button', 'aria-label': `React with ${emoji}`, onclick: () => { v.pickerFor = null; react(m, emoji, !(m.reactions?.[emoji] || []).includes(me)); } }, emoji))));
  }
  return out;
}

function focusSoon(v, selector) {
  setTimeout(() => v.list.root.querySelector(selector)?.focus(), 0);
}

/** A write on a message; its answer (the message as it is now) updates every view. */
async function messageAction(request, what) {
  try {
    const m = await request();
    if (m?.id) client.ingest(m);
  } catch (err) {
    alertText(`Could not ${what}: ${err.message}`);
  }
}

function react(m, emoji, on) {
  return messageAction(() => client.api(on ? 'PUT' : 'DELETE', `/v1/messages/${m.id}/reactions/${encodeURIComponent(emoji)}`), 'react');
}

/** The composer's draft: a reply (with the quoted parent) or an edit of my message. */
function setDraft(v, draft) {
  v.replyTo = draft?.replyTo || null;
  v.editing = draft?.editing || null;
  const target = v.replyTo || v.editing;
  const wasEditing = v.composer.classList.contains('editing');
  v.draft.hidden = !target;
  v.composer.classList.toggle('editing', !!v.editing);
  if (target) {
    v.draft.replaceChildren(
      h('span', { class: 'draft-text' }, v.editing ? 'Editing your message' : `Replying to ${target.sender_name || target.sender_id || 'a message'}: `,
        v.replyTo ? h('q', {}, (target.body || '').slice(0, 140)) : null),
      h('button', { type: 'button', class: 'link', onclick: () => setDraft(v, null) }, 'Cancel'));
    if (v.editing) v.input.value = v.editing.body;
  } else if (wasEditing) v.input.value = '';
  v.input.focus();
}

function renderHeader(id) {
  const v = state.views.get(id);
  if (!v) return;
  const c = state.conversations.get(id) || { id };
  const f = flagsOf(c);
  const room = c.kind && !['direct', 'support'].includes(c.kind);
  const flag = (name, on, onText, offText) => h('button', {
    class: 'btn ghost', type: 'button', 'aria-pressed': String(!!on),
    onclick: () => setFlags(id, { [name]: !on }),
  }, on ? onText : offText);
  v.header.replaceChildren(
    h('button', { class: 'btn ghost back', type: 'button', 'aria-label': 'Back to conversations', onclick: closeConversation }, icon('back', 18)),
    h('div', { class: 'ch-who' }, h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(titleOf(c))),
      h('div', {}, h('h2', {}, titleOf(c)), h('div', { class: 'muted members' }, [label(c.kind || ''),
        typeof c.member_count === 'number' ? `${c.member_count} ${c.member_count === 1 ? 'member' : 'members'}` : null].filter(Boolean).join(' · ')))),
    h('div', { class: 'ch-actions' },
      flag('pinned', f.pinned, 'Unpin chat', 'Pin chat'),
      flag('muted', f.muted, 'Unmute', 'Mute'),
      flag('archived', f.archived, 'Unarchive', 'Archive'),
      room ? h('button', {
        class: 'btn ghost', type: 'button', 'aria-expanded': String(!v.members.hidden), 'aria-controls': v.members.id,
        onclick: () => { v.members.hidden = !v.members.hidden; renderHeader(id); if (!v.members.hidden) loadMembers(v); },
      }, 'Members') : null,
      room && (c.my_role || c.me?.role) ? h('button', { class: 'btn ghost', type: 'button', onclick: () => leave(id) }, 'Leave') : null));
}

/** A room's members (shown on demand; kept current by the member events while shown). */
async function loadMembers(v) {
  if (v.members.hidden) return;
  const data = await client.api('GET', `/v1/rooms/${v.id}/members`).catch(() => null);
  if (!data) return;
  v.members.replaceChildren(...data.items.map((m) => h('li', { class: 'member' },
    h('span', { class: 'avatar small', 'aria-hidden': 'true' }, initials(m.name || m.user_id)),
    h('span', {}, m.name || m.user_id, m.user_id === me ? ' (you)' : ''),
    m.role !== 'member' ? h('span', { class: 'chip' }, label(m.role)) : null)));
}

function open(id) {
  state.active = id;
  const v = view(id);
  renderHeader(id);
  main.replaceChildren(v.el);
  page.classList.add('conv-open');
  v.list.stick();
  read(v);
  renderList();
  v.input.focus();
}

/** Phone layout: back from the conversation to the list. */
function closeConversation() {
  const id = state.active;
  state.active = null;
  page.classList.remove('conv-open');
  main.replaceChildren(emptyMain());
  renderList();
  listEl.querySelector(`[data-conversation="${id}"]`)?.focus();
}

function emptyMain() {
  return h('div', { class: 'center-empty' }, icon('chat', 48), h('p', {}, 'Pick a conversation.'));
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

async function setFlags(id, flags) {
  try {
    upsertConversation(await client.api('PATCH', `/v1/conversations/${id}/me`, flags));
    if (flags.archived !== undefined && state.active === id) closeConversation();
  } catch (err) {
    alertText(`Could not change the conversation: ${err.message}`);
  }
}

async function leave(id) {
  try {
    await client.api('DELETE', `/v1/rooms/${id}/leave`);
    state.conversations.delete(id);
    if (state.active === id) closeConversation();
    renderList();
    loadRooms();
  } catch (err) {
    alertText(`Could not leave: ${err.message}`);
  }
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

// --- the room directory (refreshed while the page is visible: rooms others create have no event) ---
async function loadRooms() {
  if (!state.features.rooms) return;
  const data = await client.api('GET', '/v1/rooms?limit=50').catch(() => null);
  if (!data) return;
  const rooms = data.items.filter((r) => r.type === 'public' || r.type === 'announcement');
  // Unchanged: left alone (a redraw would take the keyboard's focus away).
  const key = JSON.stringify(rooms.map((r) => [r.id, r.name, r.member_count, r.my_role]));
  if (key === state.roomsKey) return;
  state.roomsKey = key;
  state.publicRooms = rooms;
  roomsEl.replaceChildren(...(state.publicRooms.length ? state.publicRooms.map((r) => h('li', { class: 'room-row' },
    h('span', { class: 'room-name' }, h('strong', {}, r.name || r.title), h('span', { class: 'muted' }, ` · ${r.member_count} ${r.member_count === 1 ? 'member' : 'members'}`)),
    r.my_role
      ? h('button', { class: 'btn', type: 'button', 'aria-label': `Open ${r.name}`, onclick: () => { upsertConversation(r); open(r.id); } }, 'Open')
      : h('button', { class: 'btn primary', type: 'button', 'aria-label': `Join ${r.name}`, onclick: () => join(r) }, 'Join'))) : [h('li', { class: 'muted' }, 'No public rooms yet.')]));
}
setInterval(() => { if (document.visibilityState === 'visible') loadRooms(); }, 5000);

async function join(room) {
  try {
    upsertConversation(await client.api('POST', `/v1/rooms/${room.id}/join`));
    open(room.id);
    loadRooms();
  } catch (err) {
    alertText(`Could not join: ${err.message}`);
  }
}

// --- search --------------------------------------------------------------------------------
async function search(e) {
  e.preventDefault();
  const q = searchForm.elements.q.value.trim();
  if (!q) { searchResults.replaceChildren(); return; }
  try {
    const data = await client.api('GET', `/v1/search?${new URLSearchParams({ q, limit: '20' })}`);
    searchResults.replaceChildren(data.items.length
      ? h('ul', { class: 'results', 'aria-label': 'Search results' }, data.items.map((r) => h('li', {},
        h('button', { type: 'button', class: 'queue-item result', onclick: () => { upsertConversation(r.conversation); open(r.conversation.id); } },
          h('span', { class: 'qi-main' }, h('strong', {}, titleOf(r.conversation)), h('span', { class: 'qi-subject' }, highlighted(r.highlight)))))))
      : h('p', { class: 'muted' }, 'Nothing found.'));
  } catch (err) {
    searchResults.replaceChildren(h('p', { class: 'error' }, `Search failed: ${err.message}`));
  }
}

/** The server's `highlight` (escaped text with <mark>) as nodes: only <mark> becomes an element. */
function highlighted(html) {
  const text = (s) => new DOMParser().parseFromString(s, 'text/html').body.textContent;
  return String(html).split(/(<mark>.*?<\/mark>)/s).map((part) => {
    const m = /^<mark>(.*)<\/mark>$/s.exec(part);
    return m ? h('mark', {}, text(m[1])) : text(part);
  });
}

function alertText(text) {
  notice.hidden = false;
  notice.textContent = text;
}

// --- realtime ----------------------------------------------------------------------------
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
    // A new message, or a change of the one the preview shows (edited, deleted).
    if (!c.last_message || m.seq > (c.last_message.seq ?? 0) || m.id === c.last_message.id) {
      c.last_message = m;
      c.last_message_at = m.created_at;
    }
    if (m.sender_id !== me && m.kind !== 'system' && !m.deleted_at && state.active !== m.conversation_id && !state.views.get(m.conversation_id)?.list.byKey.has(m.id)) c.unread = (c.unread || 0) + 1;
    renderList();
  } else if (!c && m.id) {
    upsertConversation({ id: m.conversation_id, last_message: m, last_message_at: m.created_at, unread: m.sender_id === me ? 0 : 1 });
    refetch(m.conversation_id);
  }
  const v = state.views.get(m.conversation_id);
  if (!v) return;
  v.list.upsert(m);
  if (m.sender_id !== me) { v.typers.delete(m.sender_id); typing(v); read(v); }
});
client.on('member', (f) => {
  const v = state.views.get(f.conversation_id);
  if (f.type === 'member_joined' || f.type === 'member_left') {
    // My inbox: a conversation I was added to or left; a room: its member count.
    if (f.user_id === me && f.type === 'member_left' && f.topic === 'inbox') {
      state.conversations.delete(f.conversation_id);
      renderList();
    } else if (f.user_id !== me || !state.conversations.has(f.conversation_id) || v) refetch(f.conversation_id);
  }
  if (v && f.type.startsWith('member_')) loadMembers(v);
  if (!v) return;
  v.receipts.frame(f);
  if (f.user_id === me) v.lastRead = Math.max(v.lastRead, v.receipts.lastRead(me));
  v.list.schedule();
});
client.on('flags', (f) => {
  const c = state.conversations.get(f.conversation_id);
  if (c) upsertConversation({ id: c.id, me: f.flags });
  else refreshList();
});
client.on('room_updated', (f) => {
  if (f.room) upsertConversation({ ...f.room, id: f.conversation_id || f.room.id });
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

main.replaceChildren(emptyMain());
renderList();
client.connect();
client.subscribe('inbox');

// Which conversation and room endpoints this server has: its OpenAPI document says.
const has = await routes(client);
state.features = {
  list: has('GET', '/v1/conversations'),
  direct: has('POST', '/v1/conversations/direct'),
  rooms: has('GET', '/v1/rooms'),
  search: has('GET', '/v1/search'),
};
directForm.hidden = !state.features.direct;
roomForm.hidden = !state.features.rooms;
searchForm.hidden = !state.features.search;
document.getElementById('search-section').hidden = !state.features.search;
document.getElementById('new-section').hidden = !state.features.direct && !state.features.rooms;
document.getElementById('rooms-section').hidden = !state.features.rooms;
await Promise.all([loadConversations(), loadRooms()]);
if (!state.features.direct && !state.features.rooms) {
  alertText('Direct conversations and rooms are not available on this server yet. Your support chats are listed below.');
}
document.body.dataset.ready = 'true';

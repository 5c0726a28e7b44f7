// Shared UI pieces of the widget, the desk and the chat page: a tiny element
// builder and the message list (date separators, grouping, timestamps,
// receipts, typing, attachments). User text only ever becomes a Text node:
// never innerHTML.
import { formatBytes, kindOf } from './pgchat.js';

export { formatBytes };

/**
 * h('div', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child, ...)
 * Strings become text nodes; null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'hidden') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Icons are constant markup of ours (never user text). */
const ICONS = {
  chat: '<path d="M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.2 3.4A.5.5 0 0 1 5 19v-3.1A2.5 2.5 0 0 1 4 14Z"/>',
  close: '<path d="M6 6l12 12M18 6 6 18" stroke-width="2" stroke-linecap="round" fill="none"/>',
  send: '<path d="M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z"/>',
  minimize: '<path d="M6 12h12" stroke-width="2" stroke-linecap="round" fill="none"/>',
  bell: '<path d="M12 3a6 6 0 0 0-6 6v3.6L4.3 15.4A1 1 0 0 0 5.2 17h13.6a1 1 0 0 0 .9-1.6L18 12.6V9a6 6 0 0 0-6-6Zm-2.5 15a2.5 2.5 0 0 0 5 0Z"/>',
  star: '<path d="m12 3 2.8 5.7 6.2.9-4.5 4.4 1 6.2L12 17.3 6.5 20.2l1-6.2L3 9.6l6.2-.9Z"/>',
  note: '<path d="M5 3h10l4 4v14H5Zm9 1.5V8h3.5" stroke-width="1.6" fill="none" stroke-linejoin="round"/>',
  user: '<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0Z"/>',
  clip: '<path d="M20.5 11.5 12.3 19.7a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8" stroke-width="1.9" fill="none" stroke-linecap="round" stroke-linejoin="round"/>',
  file: '<path d="M6 2.8h8l4.2 4.2v14.2H6Z M13.6 3v4.4H18" stroke-width="1.6" fill="none" stroke-linejoin="round"/>',
  image: '<rect x="3.5" y="4.5" width="17" height="15" rx="2.5" stroke-width="1.6" fill="none"/><circle cx="9" cy="10" r="1.8"/><path d="m5 18 4.5-4.5 3 3 2.5-2.5L19.5 18Z"/>',
  clock: '<circle cx="12" cy="12" r="8.2" stroke-width="1.9" fill="none"/><path d="M12 7.5V12l3 2" stroke-width="1.9" fill="none" stroke-linecap="round" stroke-linejoin="round"/>',
  reply: '<path d="M9.5 6 4 11.5 9.5 17M4.5 11.5H14a6 6 0 0 1 6 6v1" stroke-width="1.9" fill="none" stroke-linecap="round" stroke-linejoin="round"/>',
  smile: '<circle cx="12" cy="12" r="8.2" stroke-width="1.8" fill="none"/><path d="M8.5 14a4.2 4.2 0 0 0 7 0" stroke-width="1.8" fill="none" stroke-linecap="round"/><circle cx="9.3" cy="10" r="1.1"/><circle cx="14.7" cy="10" r="1.1"/>',
  back: '<path d="M15 5 8 12l7 7" stroke-width="2" fill="none" stroke-linecap="round" stroke-linejoin="round"/>',
  search: '<circle cx="10.5" cy="10.5" r="6" stroke-width="1.9" fill="none"/><path d="m15 15 5 5" stroke-width="1.9" stroke-linecap="round"/>',
  pin: '<path d="M9 3.5h6l-1 5.5 3.5 3.5v1.5h-11V12.5L10 9Zm3 10.5v6.5" stroke-width="1.7" fill="none" stroke-linejoin="round" stroke-linecap="round"/>',
  download: '<path d="M12 4v11m-4.5-4.5L12 15l4.5-4.5M5 19.5h14" stroke-width="1.9" fill="none" stroke-linecap="round" stroke-linejoin="round"/>',
};

export function icon(name, size = 20) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', size);
  svg.setAttribute('height', size);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('fill', 'currentColor');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '0');
  svg.innerHTML = ICONS[name] || '';
  return svg;
}

export function fmtTime(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function dayLabel(iso, now = new Date()) {
  const d = new Date(iso);
  const start = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((start(now) - start(d)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return d.toLocaleDateString([], {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    ...(d.getFullYear() !== now.getFullYear() ? { year: 'numeric' } : {}),
  });
}

export function ago(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function initials(name) {
  return (name || '?')
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join('');
}

const GROUP_GAP_MS = 5 * 60 * 1000;

// The pending marks are an SVG clock (an emoji renders as a box without an emoji font).
const RECEIPTS = {
  pending: [null, 'Sending'],
  queued: [null, 'Waiting for connection'],
  failed: ['!', 'Not sent'],
  sent: ['✓', 'Sent'],
  delivered: ['✓✓', 'Delivered'],
  read: ['✓✓', 'Read'],
};

/**
 * The message list of one conversation. Keeps messages by id (placeholders by
 * client_msg_id until stored), renders them in seq order with date separators,
 * grouping and receipts, and keeps the view pinned to the bottom when it was.
 */
export class MessageList {
  /**
   * @param {HTMLElement} root the scrolling container
   * @param {object} options
   *   me: the viewer's sub; staff: viewer sees internal notes;
   *   receipt(message) -> 'sent'|'delivered'|'read'|null for own messages;
   *   queued(): whether pending messages are waiting for a connection
   */
  constructor(root, options = {}) {
    this.root = root;
    this.options = options;
    this.byKey = new Map();
    this.typingNames = [];
    this.scheduled = false;
    this.images = new Map(); // message key -> its <img> (kept across renders: no reload, no jump)
    this.bars = new Map(); // client_msg_id -> its upload progress bar
    this.pinned = true;
    root.addEventListener('scroll', () => {
      this.pinned = root.scrollHeight - root.scrollTop - root.clientHeight < 48;
    }, { passive: true });
    root.setAttribute('role', 'log');
    root.setAttribute('aria-live', 'polite');
    root.setAttribute('aria-relevant', 'additions');
    if (!root.hasAttribute('aria-label')) root.setAttribute('aria-label', 'Messages');
    if (!root.hasAttribute('tabindex')) root.setAttribute('tabindex', '0');
  }

  /** Adds or updates a message; a stored message replaces its placeholder. */
  upsert(message) {
    if (message.client_msg_id) {
      const pending = this.byKey.get('c:' + message.client_msg_id);
      if (pending && message.id) this.byKey.delete('c:' + message.client_msg_id);
      if (!message.id) {
        if ([...this.byKey.values()].some((m) => m.client_msg_id === message.client_msg_id && m.id)) return;
        this.byKey.set('c:' + message.client_msg_id, { ...message, pending: true });
        return this.schedule();
      }
    }
    const old = this.byKey.get(message.id);
    if (old && (old.change_seq ?? 0) > (message.change_seq ?? 0)) return;
    this.byKey.set(message.id, message);
    this.schedule();
  }

  /** Marks a placeholder as not sent; `error` (a PgChatError) explains a refused attachment. */
  fail(clientMsgId, error) {
    const m = this.byKey.get('c:' + clientMsgId);
    if (m) {
      m.failed = true;
      if (m.attachment && error) m.error = attachmentError(error);
      delete m.upload;
      this.schedule();
    }
  }

  /** An `upload` event of the client: moves the placeholder's progress bar. */
  progress(u) {
    const m = this.byKey.get('c:' + u.client_msg_id);
    if (!m || m.id) return;
    if (u.state === 'failed' || u.state === 'sending') {
      delete m.upload;
      this.bars.delete(u.client_msg_id);
      return this.schedule();
    }
    const was = m.upload?.state;
    m.upload = { state: u.state, loaded: u.loaded, total: u.total };
    const bar = this.bars.get(u.client_msg_id);
    if (bar && was === u.state) bar.update(m.upload);
    else this.schedule();
  }

  /** Removes a placeholder (a failed upload the user dismissed). */
  remove(clientMsgId) {
    if (this.byKey.delete('c:' + clientMsgId)) this.schedule();
  }

  messages() {
    const all = [...this.byKey.values()].filter((m) => !m.internal || this.options.staff);
    const stored = all.filter((m) => m.id).sort((a, b) => a.seq - b.seq);
    const pending = all.filter((m) => !m.id).sort((a, b) => a.created_at.localeCompare(b.created_at));
    return [...stored, ...pending];
  }

  /** The highest seq of a stored message, and of one written by someone else. */
  lastSeq({ others = false } = {}) {
    let max = 0;
    for (const m of this.byKey.values()) {
      if (m.id && m.seq > max && (!others || m.sender_id !== this.options.me)) max = m.seq;
    }
    return max;
  }

  setTyping(names) {
    this.typingNames = names;
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.render();
    });
  }

  render() {
    const root = this.root;
    const atBottom = root.scrollHeight - root.scrollTop - root.clientHeight < 48;
    const frag = document.createDocumentFragment();
    let lastDay = null;
    let prev = null;
    const list = this.messages();
    list.forEach((m, i) => {
      const day = dayLabel(m.created_at);
      if (day !== lastDay) {
        frag.append(h('div', { class: 'pc-day', role: 'separator' }, h('span', {}, day)));
        lastDay = day;
        prev = null;
      }
      if (m.kind === 'system' || m.sender_role === 'system') {
        frag.append(h('div', { class: 'pc-notice', dataset: { seq: m.seq } }, h('span', {}, m.body), ' ', h('time', { datetime: m.created_at }, fmtTime(m.created_at))));
        prev = null;
        return;
      }
      const next = list[i + 1];
      const sameAs = (a, b) =>
        a && b && a.kind !== 'system' && a.sender_role !== 'system' && a.sender_id === b.sender_id &&
        !!a.internal === !!b.internal &&
        Math.abs(new Date(b.created_at) - new Date(a.created_at)) < GROUP_GAP_MS &&
        dayLabel(a.created_at) === dayLabel(b.created_at);
      const first = !sameAs(prev, m);
      const last = !sameAs(m, next);
      frag.append(this.bubble(m, first, last));
      prev = m;
    });
    if (this.typingNames.length) {
      const who = this.typingNames.join(', ');
      frag.append(
        h('div', { class: 'pc-typing', role: 'status' },
          h('span', { class: 'pc-dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
          `${who} ${this.typingNames.length > 1 ? 'are' : 'is'} typing…`),
      );
    }
    // Keep the keyboard's place: the control focused before the render, found again by its message and name.
    const active = root.getRootNode().activeElement;
    const focus = active && active !== root && root.contains(active)
      ? { id: active.closest('[data-id]')?.dataset.id, name: active.getAttribute('aria-label') || active.textContent }
      : null;
    root.replaceChildren(frag);
    if (focus?.id) {
      const again = [...(root.querySelector(`[data-id="${CSS.escape(focus.id)}"]`)?.querySelectorAll('button, a') || [])]
        .find((el) => (el.getAttribute('aria-label') || el.textContent) === focus.name);
      again?.focus({ preventScroll: true });
    }
    if (atBottom || this.stickNext) root.scrollTop = root.scrollHeight;
    this.pinned = atBottom || this.stickNext || this.pinned;
    this.stickNext = false;
    const live = new Set(list.map((m) => m.client_msg_id || m.id));
    for (const key of this.images.keys()) if (!live.has(key)) this.images.delete(key);
    for (const key of this.bars.keys()) if (!live.has(key)) this.bars.delete(key);
  }

  /** Scrolls to the newest message on the next render. */
  stick() {
    this.stickNext = true;
    this.schedule();
  }

  bubble(m, first, last) {
    const mine = m.sender_id === this.options.me;
    const classes = ['pc-msg', mine ? 'pc-mine' : 'pc-theirs'];
    if (first) classes.push('pc-first');
    if (last) classes.push('pc-last');
    if (m.internal) classes.push('pc-internal');
    if (m.pending) classes.push('pc-pending');
    if (m.failed) classes.push('pc-failed');
    if (m.deleted_at) classes.push('pc-deleted');
    let receipt = null;
    if (mine) {
      const state = m.failed ? 'failed' : m.pending ? (this.options.queued?.() ? 'queued' : 'pending') : this.options.receipt?.(m) || 'sent';
      const [glyph, label] = RECEIPTS[state];
      receipt = h('span', { class: `pc-receipt pc-${state}`, title: label, 'aria-label': label, role: 'img', dataset: { receipt: state } }, glyph ?? icon('clock', 13));
    }
    const who = m.sender_name || m.sender_id;
    const attachment = m.attachment && !m.deleted_at ? this.attachment(m) : null;
    if (attachment) classes.push('pc-with-file');
    // A file sent without a caption carries its name as the body: shown once, on the file.
    const caption = m.deleted_at ? 'This message was deleted' : attachment && m.body === m.attachment.filename ? null : m.body;
    if (m.pinned_at && !m.deleted_at) classes.push('pc-pinned');
    const actions = m.id && !m.deleted_at && this.options.actions ? this.options.actions(m) : null;
    return h('div', { class: classes.join(' '), dataset: { seq: m.seq ?? '', id: m.id || '', cmid: m.client_msg_id || '' } },
      first && !mine ? h('div', { class: 'pc-sender' }, who, m.sender_role === 'agent' || m.sender_role === 'admin' ? h('span', { class: 'pc-role' }, m.sender_role === 'admin' ? 'Admin' : 'Agent') : null) : null,
      first && m.internal ? h('div', { class: 'pc-note-label' }, mine ? 'Internal note' : `Internal note · ${who}`) : null,
      m.reply_preview && !m.deleted_at ? quote(m.reply_preview) : null,
      h('div', { class: 'pc-bubble' },
        attachment,
        caption === null ? null : h('span', { class: 'pc-body' }, m.deleted_at ? caption : linkify(caption)),
        h('span', { class: 'pc-meta' },
          m.pinned_at && !m.deleted_at ? h('span', { class: 'pc-pin-mark', title: 'Pinned', 'aria-label': 'Pinned', role: 'img' }, icon('pin', 12)) : null,
          m.edited_at ? h('span', { class: 'pc-edited' }, 'edited') : null,
          h('time', { datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, fmtTime(m.created_at)),
          receipt)),
      m.deleted_at ? null : this.reactions(m),
      actions ? h('div', { class: 'pc-actions', role: 'toolbar', 'aria-label': 'Message actions' }, actions) : null,
      m.error ? h('div', { class: 'pc-error-note' }, m.error) : null,
    );
  }

  /** The reactions under a message: one chip per emoji, mine pressed; a click toggles mine. */
  reactions(m) {
    const entries = Object.entries(m.reactions || {}).filter(([, who]) => who.length);
    if (!entries.length) return null;
    const react = this.options.onReact;
    return h('div', { class: 'pc-reactions' }, entries.map(([emoji, who]) => {
      const mine = who.includes(this.options.me);
      const text = `${emoji} ${who.length}`;
      const label = `${emoji}: ${who.length} reaction${who.length > 1 ? 's' : ''}${mine ? ', including yours' : ''}`;
      return react
        ? h('button', { type: 'button', class: 'pc-reaction', 'aria-pressed': String(mine), 'aria-label': label, title: who.join(', '), onclick: () => react(m, emoji, !mine) }, text)
        : h('span', { class: 'pc-reaction', 'aria-label': label, title: who.join(', ') }, text);
    }));
  }

  /**
   * An attachment: an image as its thumbnail, linking to the full image; any
   * other file as a card with its name and size, linking to a download. The
   * bytes are fetched with the token (options.files: the PgChat client).
   */
  attachment(m) {
    const a = m.attachment;
    const files = this.options.files;
    const name = a.filename || 'file';
    const size = formatBytes(a.size);
    const stored = !!(a.id && m.id);
    const kind = a.kind || kindOf(a.mime_type);
    // A refused image is shown by name (its bytes may not even be a picture).
    const preview = kind === 'image' && !m.failed && (a.local_url || (a.id && a.thumbnail_url && files));
    const open = (e) => {
      if (e.type === 'auxclick' && e.button !== 1) return;
      e.preventDefault();
      if (!files || !a.id) return;
      const link = e.currentTarget;
      link.classList.add('pc-att-busy');
      files.openAttachment(a).then(
        () => link.classList.remove('pc-att-busy'),
        (error) => {
          link.classList.remove('pc-att-busy');
          link.classList.add('pc-att-broken');
          link.title = `Could not open ${name}: ${error.message || error.code}`;
        },
      );
    };
    // A link once the file is stored (clicks fetch it with the token); text until then.
    const linkAttrs = (label, extra = {}) => (stored && files
      ? { href: files.base + `/v1/attachments/${encodeURIComponent(a.id)}`, 'aria-label': label, title: label, onclick: open, onauxclick: open, ...extra }
      : { 'aria-label': label, title: label });
    const parts = [];
    if (preview) {
      const label = `${stored ? 'Open image' : 'Image'} ${name} (${size})`;
      parts.push(h(stored && files ? 'a' : 'span', { class: 'pc-att pc-att-image', ...linkAttrs(label) }, this.image(m, a)));
    } else {
      const verb = kind === 'file' || !files ? 'Download' : 'Open';
      const label = `${stored ? verb + ' ' : ''}${name} (${size})`;
      parts.push(h(stored && files ? 'a' : 'span', {
        class: `pc-att pc-att-file pc-kind-${kind}`,
        ...linkAttrs(label, kind === 'file' ? { download: name } : {}),
      },
      h('span', { class: 'pc-att-icon', 'aria-hidden': 'true' }, icon(kind === 'image' ? 'image' : 'file', 22), h('span', { class: 'pc-att-ext' }, extension(name, a.mime_type))),
      h('span', { class: 'pc-att-text' },
        h('span', { class: 'pc-att-name' }, name),
        h('span', { class: 'pc-att-size' }, size)),
      stored && files ? h('span', { class: 'pc-att-get', 'aria-hidden': 'true' }, icon('download', 18)) : null));
    }
    if (m.upload && !m.id && !m.failed) parts.push(this.bar(m));
    return h('div', { class: 'pc-att-wrap' }, parts);
  }

  /** The <img> of an attachment, made once per message and loaded with the token. */
  image(m, a) {
    const key = m.client_msg_id || m.id;
    let img = this.images.get(key);
    const source = a.local_url || (a.id ? `id:${a.id}` : '');
    if (img && img.dataset.source === source) return img;
    if (img && a.id && img.dataset.loaded === 'true') {
      // The stored message of a placeholder: keep the picture already shown.
      img.dataset.source = source;
      return img;
    }
    // Reserve the thumbnail's box (at most 240 × 240) so loading moves nothing.
    const w = a.width || 0;
    const ht = a.height || 0;
    const scale = w && ht ? Math.min(1, 240 / w, 240 / ht) : 0;
    img = h('img', {
      class: 'pc-att-img', alt: a.filename || 'image', decoding: 'async', dataset: { source },
      ...(scale ? { width: Math.max(24, Math.round(w * scale)), height: Math.max(24, Math.round(ht * scale)) } : {}),
    });
    img.addEventListener('load', () => {
      img.dataset.loaded = 'true';
      if (this.pinned) this.root.scrollTop = this.root.scrollHeight;
    });
    img.addEventListener('error', () => img.closest('.pc-att')?.classList.add('pc-att-broken'));
    this.images.set(key, img);
    if (a.local_url) img.src = a.local_url;
    else {
      this.options.files.attachmentUrl(a, { thumbnail: true }).then(
        (url) => { img.src = url; },
        () => {
          img.dataset.loaded = 'error';
          img.closest('.pc-att')?.classList.add('pc-att-broken');
        },
      );
    }
    return img;
  }

  /** The upload progress of a placeholder, updated in place (no re-render per step). */
  bar(m) {
    let bar = this.bars.get(m.client_msg_id);
    if (!bar) {
      const meter = h('progress', { class: 'pc-progress', max: 100, 'aria-label': `Uploading ${m.attachment.filename}` });
      const text = h('span', { class: 'pc-progress-text' });
      bar = { el: h('div', { class: 'pc-upload' }, meter, text) };
      bar.update = (u) => {
        const pct = u.total ? Math.min(100, Math.round((u.loaded / u.total) * 100)) : 0;
        if (u.state === 'uploading') {
          meter.value = pct;
          text.textContent = `Uploading… ${pct}%`;
        } else {
          meter.removeAttribute('value');
          text.textContent = u.state === 'waiting' ? 'Waiting for the connection…' : 'Checking the file…';
        }
      };
      this.bars.set(m.client_msg_id, bar);
    }
    bar.update(m.upload);
    return bar.el;
  }
}

/** The quoted parent of a reply (`reply_preview`). */
function quote(p) {
  return h('div', { class: 'pc-quote', dataset: { parent: p.id || '' } },
    h('span', { class: 'pc-quote-who' }, p.sender_name || p.sender_id || 'Someone'),
    h('span', { class: 'pc-quote-body' }, p.deleted ? 'This message was deleted' : p.body || label(p.kind || '')));
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;

/**
 * Text with its web addresses as links: only http and https, opened in a new
 * tab without access to this page (`noopener`). Everything else stays a Text
 * node, so no markup in a message can become HTML.
 */
export function linkify(text) {
  const parts = [];
  let at = 0;
  for (const match of String(text).matchAll(URL_PATTERN)) {
    // Trailing punctuation ends the sentence, not the address.
    const raw = match[0].replace(/[.,;:!?)\]}]+$/, '');
    let url = null;
    try { url = new URL(raw); } catch { /* not an address */ }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    if (match.index > at) parts.push(text.slice(at, match.index));
    parts.push(h('a', { class: 'pc-link', href: url.href, target: '_blank', rel: 'noopener noreferrer nofollow' }, raw));
    at = match.index + raw.length;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

/** "report.pdf" → "PDF"; from the type when the name has no extension. */
function extension(name, mimeType) {
  const dot = /\.([a-z0-9]{1,5})$/i.exec(name || '');
  if (dot) return dot[1].toUpperCase();
  return (String(mimeType || '').split('/')[1] || 'file').slice(0, 4).toUpperCase();
}

/**
 * A refused or interrupted upload as a sentence for people: what happened
 * to which file, with the server's reason. Without a file name: the short
 * form shown under the file's bubble ("Not sent: …").
 */
export function attachmentError(error, filename) {
  const reason = (error?.message || error?.code || 'unknown error').replace(/\.$/, '');
  const limit = /(\d+) bytes allowed/.exec(reason);
  const [long, short] = {
    payload_too_large: limit
      ? [`is too large to send: the limit is ${formatBytes(Number(limit[1]))}.`, `too large (the limit is ${formatBytes(Number(limit[1]))})`]
      : [`is too large to send (${reason}).`, 'too large'],
    unsupported_mime_type: [`cannot be sent: this type of file is not accepted (${reason}).`, 'this type of file is not accepted'],
    mime_mismatch: [`was not sent: ${reason}.`, reason],
    invalid_image: [`was not sent: the image could not be read (${reason}).`, 'the image could not be read'],
    invalid_size: ['is empty.', 'the file is empty'],
    uploads_disabled: ['cannot be sent: files are turned off in this conversation.', 'files are turned off here'],
    network: ['could not be uploaded: the connection was lost.', 'the connection was lost'],
    cancelled: ['was not sent: the upload was cancelled.', 'cancelled'],
  }[error?.code] || [`could not be sent: ${reason}.`, reason];
  return filename === undefined ? `Not sent: ${short}.` : `“${filename || 'The file'}” ${long}`;
}

/**
 * Read receipts of one conversation from member rows and `read`/`delivered`
 * events: the highest position any other member has read / received.
 */
export class Receipts {
  constructor(me) {
    this.me = me;
    this.members = new Map();
  }
  member(userId, fields) {
    const m = this.members.get(userId) || { last_read_seq: 0, last_delivered_seq: 0 };
    for (const key of ['last_read_seq', 'last_delivered_seq']) {
      if (typeof fields[key] === 'number') m[key] = Math.max(m[key], fields[key]);
    }
    for (const key of ['name', 'role', 'left_at']) if (key in fields) m[key] = fields[key];
    this.members.set(userId, m);
  }
  /** Applies a `read`, `delivered`, `member_*` frame. */
  frame(f) {
    if (!f.user_id) return;
    const fields = { ...(f.member || {}) };
    if (f.type === 'read') fields.last_read_seq = f.seq;
    if (f.type === 'delivered') fields.last_delivered_seq = f.seq;
    this.member(f.user_id, fields);
  }
  of(message) {
    let state = 'sent';
    for (const [id, m] of this.members) {
      if (id === this.me) continue;
      if (m.last_read_seq >= message.seq) return 'read';
      if (m.last_delivered_seq >= message.seq) state = 'delivered';
    }
    return state;
  }
  lastRead(userId) {
    return this.members.get(userId)?.last_read_seq ?? 0;
  }
}

/** A short two-note chime through Web Audio (no audio file needed). */
export function chime() {
  try {
    const Ctx = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!Ctx) return;
    const ctx = (chime.ctx ||= new Ctx());
    const now = ctx.currentTime;
    [880, 1320].forEach((freq, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.14);
      gain.gain.exponentialRampToValueAtTime(0.15, now + i * 0.14 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.14 + 0.3);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + i * 0.14);
      osc.stop(now + i * 0.14 + 0.32);
    });
  } catch {
    /* no audio */
  }
}

// The server's own lists (generated from its types), not a copy.
export { CATEGORIES, PRIORITIES, AGENT_STATUSES, PRESENCE_STATUSES } from './vocabulary.js';

export function label(word) {
  return word ? word[0].toUpperCase() + word.slice(1) : '';
}

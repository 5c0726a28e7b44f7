// pgchat.js: the browser client of pgchat (an ES module, no dependencies).
//
// Connects to the realtime gateway (GET /v1/ws?token=…), keeps the connection
// alive (heartbeat, reconnect with exponential backoff and jitter), resumes
// every subscribed topic by its cursor after any disconnect (gap-free, never
// twice), sends messages optimistically with a client_msg_id, keeps unsent
// messages in an outbox persisted in localStorage and flushes it exactly once
// per reconnect (one tab at a time, under a Web Lock), keeps the tabs of one
// browser in sync through a BroadcastChannel, and uploads and fetches
// attachments with the token. docs/client.md documents it.

const DEFAULTS = {
  minBackoffMs: 250,
  maxBackoffMs: 15000,
  pingIntervalMs: 20000,
  pongTimeoutMs: 10000,
  requestTimeoutMs: 15000,
  refreshBeforeSecs: 60,
};

/** An error answered by the server (REST or socket). */
export class PgChatError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message || code);
    this.name = 'PgChatError';
    this.status = status;
    this.code = code;
    Object.assign(this, extra);
  }
  /** The route itself does not exist on this server (a feature not deployed yet). */
  get missingRoute() {
    return this.status === 404 && /route not found/.test(this.message);
  }
}

/** Decodes a JWT's claims (without verifying: the server does that). */
export function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      atob(part + '==='.slice((part.length + 3) % 4))
        .split('')
        .map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'))
        .join(''),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

/** A UUID v4 (crypto.randomUUID where available: secure contexts). */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter. */
export function backoff(attempt, min = DEFAULTS.minBackoffMs, max = DEFAULTS.maxBackoffMs) {
  const cap = Math.min(max, min * 2 ** Math.min(attempt, 16));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

/** The MIME types pgchat recognizes by their content (a server accepts these or fewer). */
export const ATTACHMENT_TYPES = [
  'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'application/zip',
  'text/plain', 'audio/mpeg', 'audio/ogg', 'audio/wav', 'video/mp4', 'video/webm',
];

/** The message kind of a file of this MIME type: image, audio, video or file. */
export function kindOf(mimeType) {
  const top = String(mimeType || '').split('/')[0];
  return ['image', 'audio', 'video'].includes(top) ? top : 'file';
}

/** 1536 → "1.5 KB". */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i += 1;
  } while (v >= 1024 && i < units.length - 1);
  return `${v >= 10 ? Math.round(v) : Math.round(v * 10) / 10} ${units[i]}`;
}

/**
 * One user's connection to pgchat.
 *
 * Events (addEventListener / on): `state`, `message`, `typing`, `read`,
 * `delivered`, `session`, `member`, `presence`, `flags`, `unsubscribed`,
 * `frame` (every server frame), `outbox`, `tab` (app data from another tab),
 * `token_expired`. Each is a CustomEvent; the payload is `event.detail`.
 */
export class PgChat extends EventTarget {
  /**
   * @param {object} options
   * @param {string} [options.url] the server's base URL (default: this page's origin)
   * @param {string} [options.token] a JWT
   * @param {() => Promise<string>} [options.getToken] called for a fresh token
   *   before the current one expires, and after the server closed with 4001
   * @param {string} [options.presence] the status each connection starts with
   *   (`online`, `away`, `busy`); `setPresence` keeps it
   */
  constructor(options = {}) {
    super();
    this.options = { ...DEFAULTS, ...options };
    this.base = (options.url || globalThis.location?.origin || '').replace(/\/$/, '');
    this.token = options.token || null;
    this.getToken = options.getToken || null;
    this.user = this.token ? claimsOf(this.token) : {};
    this.presence = options.presence || null;
    this.state = 'idle';
    this.attempt = 0;
    this.ws = null;
    this.wanted = false;
    this.refs = 0;
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.topics = new Map(); // topic -> {cursor: number|null, since: number|null}
    this.versions = new Map(); // message id -> highest change_seq seen
    this.cache = new Map(); // conversation id -> Map(message id -> latest message)
    this.uploads = new Map(); // client_msg_id -> an upload in progress
    this.blobs = new Map(); // attachment path -> {promise, local} (object URLs, least recently used first)
    this.flushing = null;
    this.timers = {};
    this.tabId = uuid();
    this.channel = null;
    this._onOnline = () => this._online();
    this._onOffline = () => this._offline();
  }

  get sub() {
    return this.user.sub;
  }

  on(type, fn) {
    const listener = (e) => fn(e.detail, e);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state, extra = {}) {
    if (this.state === state && !extra.force) return;
    this.state = state;
    this._emit('state', { state, attempt: this.attempt, ...extra });
  }

  // --- connection ----------------------------------------------------------

  /** Opens the connection (and keeps it open until close()). */
  connect() {
    if (!this.wanted) {
      this.wanted = true;
      globalThis.addEventListener?.('online', this._onOnline);
      globalThis.addEventListener?.('offline', this._onOffline);
      this._openChannel();
    }
    if (this.ws || this.opening || this.timers.reconnect) return this;
    if (globalThis.navigator && navigator.onLine === false) {
      this._setState('offline');
      return this;
    }
    this._open();
    return this;
  }

  /** Closes for good (no reconnect). */
  close() {
    this.wanted = false;
    globalThis.removeEventListener?.('online', this._onOnline);
    globalThis.removeEventListener?.('offline', this._onOffline);
    for (const t of Object.values(this.timers)) clearTimeout(t);
    this.timers = {};
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'bye');
    this._failPending(new PgChatError(0, 'closed', 'connection closed'));
    this.channel?.close();
    this.channel = null;
    this._setState('closed');
  }

  async _open() {
    if (this.opening) return;
    this.opening = true;
    this._setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let token;
    try {
      token = await this._freshToken();
    } catch (error) {
      this.opening = false;
      this._emit('token_expired', { error });
      return this._scheduleReconnect();
    }
    this.opening = false;
    if (!this.wanted || this.ws || this.state === 'offline') return;
    const url = new URL(this.base + '/v1/ws');
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token);
    // The presence to start with (the desk's chosen status survives reconnects).
    if (this.presence) url.searchParams.set('status', this.presence);
    const ws = new WebSocket(url);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this._setState('open');
      this._heartbeat();
      this._scheduleRefresh();
      this._resubscribe().then(() => this.flush());
    };
    ws.onmessage = (e) => {
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      this._frame(frame);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.timers.ping);
      clearTimeout(this.timers.pong);
      this._failPending(new PgChatError(0, 'disconnected', 'connection lost'));
      if (!this.wanted) return;
      if (e.code === 4001 || (!opened && this._tokenExpiring(5))) this.forceRefresh = true;
      if (e.code === 4001 && !this.getToken) {
        this._emit('token_expired', { code: e.code });
      }
      this._emit('disconnected', { code: e.code, reason: e.reason, opened });
      if (this.state === 'offline') return;
      this._scheduleReconnect();
    };
  }

  _scheduleReconnect() {
    if (!this.wanted || this.timers.reconnect) return;
    const delay = backoff(this.attempt, this.options.minBackoffMs, this.options.maxBackoffMs);
    this.attempt += 1;
    this._setState('reconnecting', { delay, force: true });
    this.timers.reconnect = setTimeout(() => {
      delete this.timers.reconnect;
      if (this.wanted && !this.ws) this._open();
    }, delay);
  }

  /** Reconnects now (e.g. a "retry" button), skipping the backoff wait. */
  reconnect() {
    clearTimeout(this.timers.reconnect);
    delete this.timers.reconnect;
    if (this.ws) this.ws.close(4100, 'reconnect');
    else if (this.wanted) this._open();
  }

  _offline() {
    if (!this.wanted) return;
    clearTimeout(this.timers.reconnect);
    delete this.timers.reconnect;
    this._setState('offline');
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close(1000, 'offline');
    }
    clearTimeout(this.timers.ping);
    clearTimeout(this.timers.pong);
    this._failPending(new PgChatError(0, 'offline', 'offline'));
  }

  _online() {
    if (!this.wanted) return;
    this.attempt = 0;
    clearTimeout(this.timers.reconnect);
    delete this.timers.reconnect;
    if (!this.ws) this._open();
  }

  _heartbeat() {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      const since = Date.now();
      this.request({ type: 'ping' }).catch(() => {});
      this.timers.pong = setTimeout(() => {
        if (this.ws === ws && (this.lastFrameAt || 0) < since) ws.close(4000, 'no pong');
      }, this.options.pongTimeoutMs);
      this._heartbeat();
    }, this.options.pingIntervalMs);
  }

  // --- tokens --------------------------------------------------------------

  _tokenExpiring(marginSecs) {
    const exp = claimsOf(this.token || '').exp;
    return !exp || exp - Date.now() / 1000 < marginSecs;
  }

  async _freshToken() {
    if (this.getToken && (!this.token || this.forceRefresh || this._tokenExpiring(10))) {
      this.setToken(await this.getToken());
      this.forceRefresh = false;
    }
    if (!this.token) throw new PgChatError(401, 'unauthorized', 'no token');
    return this.token;
  }

  /** Replaces the token (sent on the open socket as `access_token`). */
  setToken(token) {
    if (!token || token === this.token) return;
    this.token = token;
    this.user = claimsOf(token);
    if (this.state === 'open') {
      this.request({ type: 'access_token', token }).catch(() => {});
      this._scheduleRefresh();
    }
  }

  _scheduleRefresh() {
    clearTimeout(this.timers.refresh);
    if (!this.getToken) return;
    const exp = claimsOf(this.token || '').exp;
    if (!exp) return;
    const ms = Math.max(1000, (exp - this.options.refreshBeforeSecs) * 1000 - Date.now());
    this.timers.refresh = setTimeout(async () => {
      try {
        this.setToken(await this.getToken());
      } catch (error) {
        this._emit('token_expired', { error });
      }
    }, Math.min(ms, 2 ** 31 - 1));
  }

  // --- requests ------------------------------------------------------------

  /** Sends a client frame and resolves with its ack (rejects with its error). */
  request(frame) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new PgChatError(0, 'disconnected', 'not connected'));
    }
    const ref = `r${++this.refs}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new PgChatError(0, 'timeout', `no answer to ${frame.type}`));
      }, this.options.requestTimeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  _failPending(error) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(error);
    }
    this.pending.clear();
  }

  /** REST: `api('GET', '/v1/support/sessions')`; throws PgChatError. */
  async api(method, path, body) {
    await this._freshToken().catch(() => {});
    let response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new PgChatError(0, 'network', `the server could not be reached (${error.message})`);
    }
    return answerOf(response.status, await response.text());
  }

  // --- topics and cursors --------------------------------------------------

  /**
   * Subscribes to `topic` and keeps it subscribed across reconnects.
   * `since`: replay changes after this change_seq the first time (0: the whole
   * conversation, with every member's read cursor). Later (re)subscriptions
   * resume from the highest change_seq received.
   */
  subscribe(topic, { since = null } = {}) {
    const known = this.topics.get(topic);
    if (!known) this.topics.set(topic, { cursor: null, since });
    if (this.state !== 'open') return Promise.resolve(null);
    return this._subscribe(topic);
  }

  unsubscribe(topic) {
    this.topics.delete(topic);
    if (this.state === 'open') this.request({ type: 'unsubscribe', topic }).catch(() => {});
  }

  /** The highest change_seq received on a conversation (null if none). */
  cursor(conversationId) {
    return this.topics.get(`conversation:${conversationId}`)?.cursor ?? null;
  }

  async _subscribe(topic) {
    const entry = this.topics.get(topic);
    if (!entry) return null;
    const since = entry.cursor ?? entry.since;
    const frame = { type: 'subscribe', topic };
    if (since !== null && since !== undefined) frame.since = since;
    const ack = await this.request(frame);
    if (typeof ack.cursor === 'number' && entry === this.topics.get(topic)) {
      entry.cursor = Math.max(entry.cursor ?? -1, ack.cursor);
    }
    this._emit('subscribed', { topic, ack, resumed: since !== null && since !== undefined });
    return ack;
  }

  async _resubscribe() {
    const results = [...this.topics.keys()].map((t) =>
      this._subscribe(t).catch((error) => {
        if (error.code === 'not_found' || error.code === 'staff_only') this.topics.delete(t);
        this._emit('subscribe_error', { topic: t, error });
      }),
    );
    await Promise.all(results);
  }

  // --- incoming frames -----------------------------------------------------

  _frame(frame) {
    if (frame.ref !== undefined && frame.ref !== null && this.pending.has(frame.ref)) {
      const { resolve, reject, timer } = this.pending.get(frame.ref);
      this.pending.delete(frame.ref);
      clearTimeout(timer);
      if (frame.type === 'error') {
        reject(new PgChatError(0, frame.code, frame.message, { retryAfter: frame.retry_after }));
      } else resolve(frame);
      return;
    }
    // Drop anything at or below the topic's cursor: a replay after a resume.
    if (typeof frame.change_seq === 'number' && frame.topic?.startsWith('conversation:')) {
      const entry = this.topics.get(frame.topic);
      if (entry) {
        if (entry.cursor !== null && frame.change_seq <= entry.cursor) return;
        entry.cursor = frame.change_seq;
      }
    }
    this._emit('frame', frame);
    switch (frame.type) {
      case 'message_new':
      case 'message_updated':
      case 'message_deleted':
      case 'reaction':
      case 'message_pinned':
      case 'message_unpinned':
        // A reaction or a pin is an update of its message row: the same path.
        this._message(frame.message, frame.type);
        break;
      case 'typing':
        this._emit('typing', frame);
        break;
      case 'read':
      case 'delivered':
        this._emit(frame.type, frame);
        this._emit('member', frame);
        break;
      case 'member_joined':
      case 'member_left':
      case 'member_updated':
        this._emit('member', frame);
        break;
      case 'session_updated':
        this._emit('session', frame.session);
        break;
      case 'presence':
      case 'flags':
      case 'room_updated':
      case 'unsubscribed':
        if (frame.type === 'unsubscribed') this.topics.delete(frame.topic);
        this._emit(frame.type, frame);
        break;
      default:
        break;
    }
  }

  /**
   * Takes in a message from any path (socket, REST page, another tab) and
   * emits `message` once per new version of it (by id and change_seq).
   */
  ingest(message, origin = 'rest') {
    return this._message(message, origin);
  }

  _message(message, origin) {
    if (!message?.id) return false;
    const seen = this.versions.get(message.id);
    if (seen !== undefined && seen >= (message.change_seq ?? 0)) return false;
    this.versions.set(message.id, message.change_seq ?? 0);
    this._remember(message);
    const mine = message.sender_id === this.sub && message.client_msg_id;
    if (mine && this._outboxRemove(message.client_msg_id)) {
      this._tabPost({ type: 'sent', message });
    }
    this._emit('message', { message, origin, pending: false });
    return true;
  }

  _remember(message) {
    let messages = this.cache.get(message.conversation_id);
    if (!messages) this.cache.set(message.conversation_id, (messages = new Map()));
    messages.set(message.id, message);
    if (messages.size > 1000) messages.delete(messages.keys().next().value);
  }

  /**
   * The messages of a conversation this client has seen (on any topic: the
   * inbox carries new messages of every conversation), oldest first. A view
   * opened later starts from these: `message` fires once per version, so a
   * replay of a version already seen does not fire again.
   */
  messages(conversationId) {
    return [...(this.cache.get(conversationId)?.values() || [])].sort((a, b) => a.seq - b.seq);
  }

  // --- sending, outbox -----------------------------------------------------

  get _outboxKey() {
    return `pgchat:outbox:${this.sub}`;
  }

  /** Messages not yet acknowledged by the server, oldest first. */
  outbox() {
    try {
      return JSON.parse(localStorage.getItem(this._outboxKey) || '[]');
    } catch {
      return [];
    }
  }

  _outboxSave(items) {
    try {
      localStorage.setItem(this._outboxKey, JSON.stringify(items));
    } catch {
      /* storage full or disabled: the queue lives in memory for this page */
    }
    this._emit('outbox', { items });
  }

  _outboxRemove(clientMsgId) {
    const items = this.outbox();
    const rest = items.filter((i) => i.client_msg_id !== clientMsgId);
    if (rest.length === items.length) return false;
    this._outboxSave(rest);
    return true;
  }

  /**
   * Sends a message optimistically: a `message` event with `pending: true`
   * fires at once (id null, the client_msg_id set); the stored message follows
   * when the server acknowledges it. Queued while offline, kept across reloads.
   * Resolves with the stored message.
   */
  send(conversationId, body, options = {}) {
    return this._enqueue(this._item(conversationId, body, options));
  }

  _item(conversationId, body, { kind, internal, replyTo, clientMsgId } = {}) {
    return {
      client_msg_id: clientMsgId || uuid(),
      conversation_id: conversationId,
      body,
      kind: kind || 'text',
      internal: !!internal,
      reply_to: replyTo || null,
      created_at: new Date().toISOString(),
      sender_id: this.sub,
      sender_name: this.user.name || null,
      sender_role: this.user.role || 'user',
    };
  }

  /** Queues an item in the outbox, shows its placeholder, flushes. */
  _enqueue(item, done = this._settled(item.client_msg_id)) {
    this._outboxSave([...this.outbox(), item]);
    const placeholder = pendingMessage(item);
    this._emit('message', { message: placeholder, origin: 'local', pending: true });
    this._tabPost({ type: 'pending', item });
    this.flush();
    return Object.assign(done, { clientMsgId: item.client_msg_id });
  }

  /** Resolves with the stored message of this client_msg_id; rejects on `send_failed`. */
  _settled(clientMsgId) {
    const done = new Promise((resolve, reject) => {
      const off = this.on('message', ({ message }) => {
        if (message.id && message.client_msg_id === clientMsgId) {
          off();
          offFail();
          resolve(message);
        }
      });
      const offFail = this.on('send_failed', ({ item: failed, error }) => {
        if (failed.client_msg_id === clientMsgId) {
          off();
          offFail();
          reject(error);
        }
      });
    });
    done.catch(() => {});
    return done;
  }

  /**
   * Sends what the outbox holds, in order, one at a time. One flush runs at a
   * time per browser (a Web Lock), so two tabs coming back online never send a
   * message twice; a retry of an in-doubt send reuses its client_msg_id, which
   * the server de-duplicates.
   */
  flush() {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    const run = async () => {
      do {
        this.flushAgain = false;
        await this._flushOnce();
      } while (this.flushAgain && this.state === 'open');
    };
    const locked = globalThis.navigator?.locks
      ? () => navigator.locks.request(`pgchat:flush:${this.sub}`, run)
      : run;
    this.flushing = Promise.resolve()
      .then(locked)
      .catch(() => {})
      .finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  async _flushOnce() {
    for (;;) {
      if (this.state !== 'open') return;
      const item = this.outbox()[0];
      if (!item) return;
      let ack;
      try {
        ack = await this.request({
          type: 'send_message',
          conversation_id: item.conversation_id,
          client_msg_id: item.client_msg_id,
          body: item.body,
          kind: item.kind,
          internal: item.internal,
          ...(item.reply_to ? { reply_to: item.reply_to } : {}),
          ...(item.attachment_id ? { attachment_id: item.attachment_id } : {}),
        });
      } catch (error) {
        if (['retry', 'unavailable', 'rate_limited'].includes(error.code)) {
          // The server asked us to wait: try again then (the item stays first).
          clearTimeout(this.timers.flush);
          this.timers.flush = setTimeout(() => this.flush(), (error.retryAfter || 1) * 1000);
          return;
        }
        if (!error.code || ['disconnected', 'offline', 'timeout', 'closed'].includes(error.code)) {
          return; // stays queued; the next open flushes again
        }
        this._outboxRemove(item.client_msg_id);
        this._emit('send_failed', { item, error });
        this._tabPost({ type: 'failed', item, error: { code: error.code, message: error.message } });
        continue;
      }
      this._outboxRemove(item.client_msg_id);
      this._message(ack.message, 'ack');
      this._tabPost({ type: 'sent', message: ack.message });
    }
  }

  /** Drops a queued (unsent) message. */
  discard(clientMsgId) {
    this._outboxRemove(clientMsgId);
  }

  // --- attachments ---------------------------------------------------------

  /**
   * Sends a file as a message, optimistically like `send()`: a `message` event
   * with `pending: true` fires at once (its `attachment` has the file's name,
   * size and type, and `local_url`, an object URL of the file, for images),
   * `upload` events report progress, and the stored message follows. The
   * steps: `POST /v1/attachments`, the bytes (`PUT` to the presigned
   * `upload_url` when the server hands one out, then `POST …/complete`;
   * otherwise `PUT /v1/attachments/{id}/content`, which completes it), then
   * `send_message` with `attachment_id` and the attachment's kind through the
   * outbox. A refusal (too large, a type not accepted, content that is not
   * what it claims) fires `send_failed` with the server's error and rejects.
   * Resolves with the stored message; `.clientMsgId` and `.cancel()` are set.
   *
   * @param {string} conversationId
   * @param {File|Blob} file
   * @param {object} [options] body (the caption; the file name by default),
   *   internal, replyTo, filename and mimeType (for a Blob without them)
   */
  upload(conversationId, file, { body, internal, replyTo, filename, mimeType } = {}) {
    const name = filename || file.name || 'file';
    const type = (mimeType || file.type || 'application/octet-stream').toLowerCase();
    const caption = typeof body === 'string' && body.trim() ? body : null;
    const item = this._item(conversationId, caption || name, { kind: kindOf(type), internal, replyTo });
    item.attachment = { id: null, filename: name, mime_type: type, kind: kindOf(type), size: file.size };
    const local = item.attachment.kind === 'image' && globalThis.URL?.createObjectURL ? URL.createObjectURL(file) : null;
    const job = { item, file, local, xhr: null, cancelled: false, state: 'uploading', loaded: 0 };
    this.uploads.set(item.client_msg_id, job);
    const done = this._settled(item.client_msg_id);
    const progress = (state, loaded = job.loaded) => {
      job.state = state;
      job.loaded = loaded;
      this._emit('upload', {
        client_msg_id: item.client_msg_id, conversation_id: conversationId, state, loaded, total: file.size,
      });
    };
    const placeholder = pendingMessage(item);
    placeholder.attachment = { ...item.attachment, local_url: local };
    placeholder.upload = { state: 'uploading', loaded: 0, total: file.size };
    this._emit('message', { message: placeholder, origin: 'local', pending: true });
    progress('uploading', 0);

    (async () => {
      const created = await this._retrying(job, () => this.api('POST', '/v1/attachments', {
        conversation_id: conversationId, filename: name, size: file.size, mime_type: type,
      }));
      const path = `/v1/attachments/${encodeURIComponent(created.id)}`;
      const onProgress = (loaded) => progress('uploading', loaded);
      let ready;
      if (created.upload_url) {
        // Straight to the store: the signed headers, never our token.
        await this._retrying(job, () => this._put(job, created.upload_url, created.upload_method || 'PUT', {
          ...(created.upload_headers || {}),
        }, onProgress));
        progress('processing', file.size);
        ready = await this._retrying(job, () => this.api('POST', `${path}/complete`));
      } else {
        try {
          ready = await this._retrying(job, async () => this._put(job, this.base + path + '/content', 'PUT', {
            authorization: `Bearer ${await this._freshToken()}`,
            'content-type': created.mime_type || type,
          }, onProgress));
        } catch (error) {
          // A retry of a PUT whose answer was lost: the first one completed it.
          if (error.code !== 'already_completed') throw error;
        }
        if (!ready || ready.status !== 'ready') {
          progress('processing', file.size);
          ready = await this._retrying(job, () => this.api('POST', `${path}/complete`));
        }
      }
      if (job.cancelled) throw new PgChatError(0, 'cancelled', 'the upload was cancelled');
      const attachment = {
        id: ready.id, filename: ready.filename, mime_type: ready.mime_type, kind: ready.kind, size: ready.size,
        width: ready.width ?? null, height: ready.height ?? null,
        url: ready.url || path, thumbnail_url: ready.thumbnail_url || null,
      };
      // This tab already has the bytes: no download to show them.
      if (local) {
        this._blobSeed(attachment, true, local);
        this._blobSeed(attachment, false, local);
      }
      this.uploads.delete(item.client_msg_id);
      progress('sending', file.size);
      this._enqueue({
        ...item,
        body: caption || attachment.filename,
        kind: attachment.kind || item.kind,
        attachment_id: attachment.id,
        attachment,
      }, done);
    })().catch((error) => {
      this.uploads.delete(item.client_msg_id);
      if (local) setTimeout(() => URL.revokeObjectURL(local), 1000);
      const failure = error instanceof PgChatError ? error : new PgChatError(0, 'upload_failed', error?.message);
      progress('failed');
      this._emit('send_failed', { item, error: failure });
    });
    return Object.assign(done, {
      clientMsgId: item.client_msg_id,
      cancel: () => this.cancelUpload(item.client_msg_id),
    });
  }

  /** Stops an upload still sending its bytes (it fails with code `cancelled`). */
  cancelUpload(clientMsgId) {
    const job = this.uploads.get(clientMsgId);
    if (!job) return false;
    job.cancelled = true;
    job.xhr?.abort();
    return true;
  }

  /**
   * Runs one step of an upload; when the network is gone (status 0), waits
   * for the connection to come back and tries again (a few times).
   */
  async _retrying(job, step) {
    for (let attempt = 0; ; attempt += 1) {
      if (job.cancelled) throw new PgChatError(0, 'cancelled', 'the upload was cancelled');
      try {
        return await step();
      } catch (error) {
        if (job.cancelled || error.code === 'cancelled') throw new PgChatError(0, 'cancelled', 'the upload was cancelled');
        if (error.status !== 0 || attempt >= 4 || !this.wanted) throw error;
        this._emit('upload', {
          client_msg_id: job.item.client_msg_id, conversation_id: job.item.conversation_id,
          state: 'waiting', loaded: job.loaded, total: job.file.size,
        });
        await this._whenOpen();
        await new Promise((r) => setTimeout(r, backoff(attempt, 250, 4000)));
      }
    }
  }

  /** Resolves once the socket is open again (the network is back). */
  _whenOpen() {
    if (this.state === 'open') return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.on('state', ({ state }) => {
        if (state === 'open' || state === 'closed') {
          off();
          resolve();
        }
      });
    });
  }

  /** PUTs a file with upload progress (XMLHttpRequest: fetch has none). */
  _put(job, url, method, headers, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      job.xhr = xhr;
      xhr.open(method, url);
      for (const [key, value] of Object.entries(headers)) xhr.setRequestHeader(key, value);
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        job.xhr = null;
        try {
          resolve(answerOf(xhr.status, xhr.responseText));
        } catch (error) {
          reject(error);
        }
      };
      xhr.onerror = () => {
        job.xhr = null;
        reject(new PgChatError(0, 'network', 'the connection was lost during the upload'));
      };
      xhr.onabort = () => {
        job.xhr = null;
        reject(new PgChatError(0, 'cancelled', 'the upload was cancelled'));
      };
      xhr.send(job.file);
    });
  }

  /**
   * An object URL (`blob:`) of an attachment's bytes, or of its thumbnail,
   * fetched with the token (the download endpoints need it: an `<img src>`
   * cannot send it). Cached; only ever asks this server, whatever the
   * attachment's `url` says. The blob's type is the attachment's checked type
   * (never HTML or SVG), so opening it cannot run anything.
   */
  attachmentUrl(attachment, { thumbnail = false } = {}) {
    if (!attachment?.id) return Promise.reject(new PgChatError(0, 'not_ready', 'the upload is not complete'));
    const key = blobKey(attachment, thumbnail);
    const cached = this.blobs.get(key);
    if (cached) {
      this.blobs.delete(key);
      this.blobs.set(key, cached);
      return cached.promise;
    }
    const promise = (async () => {
      await this._freshToken().catch(() => {});
      let response;
      try {
        response = await fetch(this.base + key, { headers: { authorization: `Bearer ${this.token}` } });
      } catch (error) {
        throw new PgChatError(0, 'network', `the file could not be downloaded (${error.message})`);
      }
      if (!response.ok) answerOf(response.status, await response.text());
      const bytes = await response.blob();
      const type = thumbnail ? 'image/jpeg' : safeType(attachment.mime_type);
      return URL.createObjectURL(new Blob([bytes], { type }));
    })();
    const entry = { promise, local: false };
    this.blobs.set(key, entry);
    promise.catch(() => {
      if (this.blobs.get(key) === entry) this.blobs.delete(key);
    });
    this._blobTrim();
    return promise;
  }

  _blobSeed(attachment, thumbnail, url) {
    if (thumbnail && !attachment.thumbnail_url) return;
    this.blobs.set(blobKey(attachment, thumbnail), { promise: Promise.resolve(url), local: true });
    this._blobTrim();
  }

  /** Keeps the 300 most recently used object URLs (revoking the others). */
  _blobTrim() {
    while (this.blobs.size > 300) {
      const [key, entry] = this.blobs.entries().next().value;
      this.blobs.delete(key);
      if (!entry.local) entry.promise.then((url) => setTimeout(() => URL.revokeObjectURL(url), 60000), () => {});
    }
  }

  /**
   * Opens an attachment from a click: images, audio and video in a new tab,
   * any other file downloaded under its name. Call it inside the click
   * handler (the tab is opened before the bytes arrive, so no popup blocker
   * stops it). Resolves when the file is shown; rejects with a PgChatError.
   */
  openAttachment(attachment, { download = false } = {}) {
    const inline = !download && ['image', 'audio', 'video'].includes(kindOf(attachment?.mime_type));
    const tab = inline && globalThis.open ? globalThis.open('', '_blank') : null;
    if (tab) {
      try {
        tab.document.title = attachment.filename || 'Attachment';
        tab.document.body.textContent = 'Loading…';
      } catch {
        /* not ours to write */
      }
    }
    return this.attachmentUrl(attachment).then(
      (url) => {
        if (tab) {
          tab.opener = null;
          tab.location.href = url;
          return;
        }
        const a = document.createElement('a');
        a.href = url;
        if (inline) {
          a.target = '_blank';
          a.rel = 'noopener';
        } else a.download = attachment.filename || 'download';
        a.click();
      },
      (error) => {
        tab?.close();
        throw error;
      },
    );
  }

  // --- other commands ------------------------------------------------------

  typing(conversationId, typing = true) {
    if (this.state !== 'open') return Promise.resolve(null);
    return this.request({
      type: typing ? 'typing_start' : 'typing_stop',
      conversation_id: conversationId,
    }).catch(() => null);
  }

  markRead(conversationId, seq) {
    if (this.state !== 'open') {
      return this.api('POST', `/v1/conversations/${conversationId}/read`, { seq });
    }
    return this.request({ type: 'mark_read', conversation_id: conversationId, seq });
  }

  setPresence(status) {
    this.presence = status;
    return this.request({ type: 'set_presence', status });
  }

  // --- tabs ----------------------------------------------------------------

  _openChannel() {
    if (this.channel || typeof BroadcastChannel === 'undefined' || !this.sub) return;
    this.channel = new BroadcastChannel(`pgchat:${this.sub}`);
    this.channel.onmessage = (e) => {
      const data = e.data || {};
      if (data.from === this.tabId) return;
      if (data.type === 'pending') {
        this._emit('message', { message: pendingMessage(data.item), origin: 'tab', pending: true });
      } else if (data.type === 'sent') {
        this._message(data.message, 'tab');
      } else if (data.type === 'failed') {
        this._emit('send_failed', { item: data.item, error: data.error });
      } else if (data.type === 'app') {
        this._emit('tab', data.data);
      }
    };
  }

  _tabPost(data) {
    try {
      this.channel?.postMessage({ ...data, from: this.tabId });
    } catch {
      /* closed */
    }
  }

  /** Sends app data to this user's other tabs (they get a `tab` event). */
  broadcast(data) {
    this._tabPost({ type: 'app', data });
  }
}

/** The placeholder shown for a message until the server has stored it. */
function pendingMessage(item) {
  return {
    id: null,
    seq: null,
    change_seq: null,
    conversation_id: item.conversation_id,
    client_msg_id: item.client_msg_id,
    sender_id: item.sender_id,
    sender_name: item.sender_name,
    sender_role: item.sender_role,
    kind: item.kind,
    body: item.body,
    internal: item.internal,
    reply_to: item.reply_to,
    attachment: item.attachment || null,
    created_at: item.created_at,
    pending: true,
  };
}

/** The answer of a REST call: its JSON, or a PgChatError for a status other than 2xx. */
function answerOf(status, text) {
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (status < 200 || status >= 300) {
    const e = data?.error || {};
    throw new PgChatError(status, e.code || 'http_' + status, e.message);
  }
  return data;
}

/** The path of an attachment (or its thumbnail) on this server, built from its id alone. */
function blobKey(attachment, thumbnail) {
  return `/v1/attachments/${encodeURIComponent(attachment.id)}${thumbnail ? '/thumbnail' : ''}`;
}

/** The type a downloaded blob gets: the attachment's, when it is one pgchat checks. */
function safeType(mimeType) {
  const type = String(mimeType || '').split(';')[0].trim().toLowerCase();
  return ATTACHMENT_TYPES.includes(type) ? type : 'application/octet-stream';
}

/** Resolves a dev-mode token from the server (only when PGCHAT_DEV=1). */
export async function devToken(base, { sub, role = 'user', name, ttl_secs } = {}) {
  const response = await fetch(`${(base || '').replace(/\/$/, '')}/v1/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, role, name, ...(ttl_secs ? { ttl_secs } : {}) }),
  });
  if (!response.ok) throw new PgChatError(response.status, 'dev_signin_unavailable', 'development sign-in is off');
  return (await response.json()).token;
}

/**
 * The widget's verified sign-in (`POST /v1/widget/token`): a customer of the
 * host site, by their user id and its HMAC-SHA256 under the site's identity
 * secret (computed by the host's server). Resolves with the token; rejects
 * with a PgChatError (`invalid_user_hash`, `identity_verification_off`, …).
 */
export async function verifiedToken(base, { userId, userHash }) {
  let response;
  try {
    response = await fetch(`${(base || '').replace(/\/$/, '')}/v1/widget/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: userId, user_hash: userHash }),
    });
  } catch (error) {
    throw new PgChatError(0, 'network', `the server could not be reached (${error.message})`);
  }
  return answerOf(response.status, await response.text()).token;
}

export default PgChat;

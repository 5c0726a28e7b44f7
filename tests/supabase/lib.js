// Shared pieces of the Supabase tests: the server, Supabase-style tokens
// (HS256 with the server's secret, as Supabase Auth signs them), clients, and
// waiting on facts (never on time).
import { createClient } from '@supabase/supabase-js';
import { createHmac, randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import pg from 'pg';
import WebSocket from 'ws';
import { BASE, unique, api, serve } from '../node_common.mjs';
export { BASE, unique, api, serve };

const SECRET = process.env.PGCHAT_JWT_SECRET;
assert.ok(SECRET, 'PGCHAT_JWT_SECRET (the server secret) is needed to sign tokens');

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

export function sign(claims) {
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

/** The project's anon key: names no user. */
export const ANON_KEY = sign({ iss: 'supabase', role: 'anon', exp: now() + 3600 * 24 });

/**
 * A signed-in user's token as Supabase Auth issues it: role "authenticated";
 * the server maps app_metadata.pgchat_role ("support" → agent) to pgchat's role.
 */
export function userToken(sub, { staff = false, ttl = 3600, name } = {}) {
  return sign({
    sub, role: 'authenticated', aud: 'authenticated', exp: now() + ttl, iat: now(),
    email: `${sub}@example.com`,
    app_metadata: staff ? { provider: 'email', pgchat_role: 'support' } : { provider: 'email' },
    user_metadata: { full_name: name || sub },
  });
}

/**
 * supabase-js as an app sets it up with third-party auth (realtime over `ws`:
 * node 20), once signed in: the realtime client has the user's token before
 * the first channel joins (a join without one is refused and realtime-js
 * joins again with it).
 */
const clients = [];

/** Closes every client's socket (a file's tests end; open sockets keep node running). */
export async function closeAll() {
  await Promise.all(clients.splice(0).map((c) => c.realtime.disconnect()));
}

/** `url`: another server of the suite (`serve()`), else the harness's. */
export async function client(token, realtime = {}, url = BASE) {
  const supabase = createClient(url, ANON_KEY, {
    accessToken: async () => token,
    realtime: { transport: WebSocket, ...realtime },
  });
  await supabase.realtime.setAuth(token);
  clients.push(supabase);
  return supabase;
}

/** A customer's new support session (pgchat's API), claimed by `agent` when given. */
export async function supportChat(customer, agent) {
  const opened = await api(customer, 'POST', '/v1/support/sessions', {
    subject: 'Where is my order?',
    message: { body: 'Hello, order 1234 has not arrived', client_msg_id: randomUUID() },
  });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  if (agent) {
    const claimed = await api(agent, 'POST', `/v1/support/sessions/${opened.body.id}/claim`);
    assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
  }
  return opened.body;
}

export async function send(token, conversation, body, extra = {}) {
  const r = await api(token, 'POST', `/v1/conversations/${conversation}/messages`, {
    body, client_msg_id: randomUUID(), ...extra,
  });
  assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
  return r.body;
}

/** Plain SQL as an operator or a job writes it (the server's own role). */
export async function sql(text, params = []) {
  const db = new pg.Client({ connectionString: undefined, ...pgConfig() });
  await db.connect();
  try {
    return (await db.query(text, params)).rows;
  } finally {
    await db.end();
  }
}

/** PGCHAT_DATABASE_URL is libpq's key=value form. */
function pgConfig() {
  const out = {};
  const re = /(\w+)='((?:[^'\\]|\\.)*)'|(\w+)=(\S+)/g;
  for (const m of (process.env.PGCHAT_DATABASE_URL || '').matchAll(re)) {
    const key = m[1] || m[3];
    const value = (m[2] ?? m[4]).replace(/\\(.)/g, '$1');
    out[{ dbname: 'database' }[key] || key] = key === 'port' ? Number(value) : value;
  }
  return out;
}

/** Subscribes a channel and resolves once SUBSCRIBED (rejects on an error). */
export function subscribed(channel) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve(channel);
      else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(err || new Error(status));
    });
  });
}

/** Collects a channel's postgres_changes; `until(pred)` waits for one that passes. */
export function collector() {
  const seen = [];
  const waiters = [];
  return {
    seen,
    push(payload) {
      seen.push(payload);
      for (const w of [...waiters]) {
        if (w.pred(payload)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(payload);
        }
      }
    },
    until(pred, what = 'a change', ms = 15000) {
      const found = seen.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => {
          if (waiters.includes(w)) reject(new Error(`timed out waiting for ${what}; saw ${JSON.stringify(seen.map((s) => [s.eventType, s.table, s.new?.body ?? s.new?.id]))}`));
        }, ms).unref();
      });
    },
  };
}

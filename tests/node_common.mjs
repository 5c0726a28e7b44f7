// What every node test folder (tests/browser, tests/stomp, tests/supabase)
// needs of pgchat: where the server is (PGCHAT_URL, set by
// tests/node_harness), unique names, development tokens and the REST API.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

export const BASE = process.env.PGCHAT_URL || 'http://127.0.0.1:8080';

/** A unique suffix, so tests sharing one server never see each other's users. */
export function unique(prefix) {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A token from the development sign-in (`PGCHAT_DEV=1`). */
export async function devToken(sub, role = 'user', name = sub) {
  const r = await fetch(`${BASE}/v1/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, role, name }),
  });
  assert.equal(r.status, 200, `dev token: ${await r.clone().text()}`);
  return (await r.json()).token;
}

/** pgchat's own REST API: `{status, body}` (body parsed, or null). */
export async function api(token, method, path, body) {
  const r = await fetch(BASE + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

// What every node test folder (tests/browser, tests/stomp, tests/supabase)
// needs of pgchat: where the server is (PGCHAT_URL, set by
// tests/node_harness), more servers on the same database (serve), unique
// names, development tokens and the REST API.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** A free local port (the server binds it, and binds it again after a restart). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers /readyz, polling it (rejects after `ms`). */
async function ready(url, child, ms = 60000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`pgchat serve exited (${child.exitCode}); TEST_LOG=1 shows its log`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pgchat serve did not become ready at ${url}`);
}

/**
 * Another `pgchat serve` on the suite's database, with the suite's settings
 * (PGCHAT_SERVE, set by tests/node_harness): a second node, or a server to
 * stop and start again on the same port. `stop()` ends it (SIGTERM: a
 * graceful drain; 'SIGKILL': a crash), `start()` starts it again, `close()`
 * stops it for good. A server still running when node exits is killed.
 */
export async function serve() {
  const how = JSON.parse(process.env.PGCHAT_SERVE || 'null');
  assert.ok(how, 'PGCHAT_SERVE (set by tests/node_harness) says how to start pgchat serve');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'pgchat-node-'));
  const url = `http://127.0.0.1:${port}`;
  let child = null;
  const kill = () => child?.kill('SIGKILL');
  process.on('exit', kill);
  const server = {
    url,
    async start() {
      assert.equal(child, null, 'the server is running');
      child = spawn(how.program, ['serve'], {
        cwd: how.cwd,
        env: { ...process.env, ...how.env, PGCHAT_BIND: `127.0.0.1:${port}`, PGCHAT_DATA_DIR: dataDir },
        stdio: process.env.TEST_LOG ? 'inherit' : 'ignore',
      });
      await ready(url, child);
    },
    async stop(signal = 'SIGTERM') {
      if (!child) return;
      const exited = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
      child = null;
    },
    async close() {
      await server.stop('SIGKILL');
      process.off('exit', kill);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

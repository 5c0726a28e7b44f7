// Shared pieces of the browser tests: the server under test, Chromium, tokens,
// and small helpers for the widget (in its open shadow root: Playwright's CSS
// and role selectors pierce it) and the desk.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const BASE = process.env.PGCHAT_URL || 'http://127.0.0.1:8080';
export const ARTIFACTS = process.env.PGCHAT_ARTIFACTS ||
  join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', 'browser');
mkdirSync(ARTIFACTS, { recursive: true });

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
      '--disable-quic', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** A unique suffix, so scenarios sharing one server never see each other's users. */
export function unique(prefix) {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function devToken(sub, role, name) {
  const r = await fetch(`${BASE}/v1/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, role, name }),
  });
  assert.equal(r.status, 200, `dev token: ${await r.clone().text()}`);
  return (await r.json()).token;
}

export async function api(token, method, path, body) {
  const r = await fetch(BASE + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Fails the test on any uncaught page error or console error. */
export function watch(page, name) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_INTERNET_DISCONNECTED|WebSocket connection/.test(m.text())) {
      problems.push(`${name}: console error: ${m.text()}`);
    }
  });
  return problems;
}

/** A customer's page hosting the widget (the landing page embeds it). */
export async function customerPage(context, sub, name) {
  const page = await context.newPage();
  const problems = watch(page, `customer ${sub}`);
  await page.goto(`${BASE}/?user=${encodeURIComponent(sub)}&name=${encodeURIComponent(name)}`);
  await page.waitForSelector('#pgchat-widget[data-ready="true"]', { state: 'attached' });
  page.problems = problems;
  return page;
}

export function widget(page) {
  return page.locator('#pgchat-widget');
}

export async function openWidget(page) {
  const launcher = widget(page).locator('.pcw-launcher');
  if ((await launcher.getAttribute('aria-expanded')) !== 'true') await launcher.click();
  await widget(page).locator('.pcw-panel').waitFor({ state: 'visible' });
}

export async function startChat(page, { subject, category = 'shipping', message }) {
  await openWidget(page);
  const w = widget(page);
  await w.getByLabel('Subject').fill(subject);
  await w.getByLabel('Topic').selectOption(category);
  await w.getByLabel('Message', { exact: true }).fill(message);
  await w.getByRole('button', { name: 'Start chat' }).click();
  await w.locator('.pcw-composer').waitFor({ state: 'visible' });
}

export async function widgetSend(page, text) {
  const input = widget(page).locator('#pcw-input');
  await input.fill(text);
  await input.press('Enter');
}

/** The desk, signed in through the URL fragment like the dev page links. */
export async function deskPage(context, sub, name, role = 'agent') {
  const token = await devToken(sub, role, name);
  const page = await context.newPage();
  const problems = watch(page, `desk ${sub}`);
  await page.goto(`${BASE}/desk#token=${encodeURIComponent(token)}`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
  page.problems = problems;
  return page;
}

/** Bodies of the messages shown in a message list, in order. */
export async function bodies(scope) {
  return scope.locator('.pc-msg .pc-body').allTextContents();
}

export async function eventually(fn, { timeout = 10000, interval = 100, message = 'condition' } = {}) {
  const until = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${message}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export async function shot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

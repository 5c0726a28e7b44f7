// Shared pieces of the browser tests: the server under test, Chromium, tokens,
// and small helpers for the widget (in its open shadow root: Playwright's CSS
// and role selectors pierce it) and the desk.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { deflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { BASE, unique, devToken, api } from '../node_common.mjs';
export { BASE, unique, devToken, api };

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

/**
 * A fence: posts `body` to `conversation` as `token`, then waits until every
 * scope shows it. Messages render in order, so whatever reached the
 * conversation before it shows by then: a check made after a fence cannot
 * pass just because a page had not caught up, as one after a fixed wait can.
 */
export async function fence(token, conversation, body, ...scopes) {
  const r = await api(token, 'POST', `/v1/conversations/${conversation}/messages`, { body, client_msg_id: crypto.randomUUID() });
  assert.equal(r.status, 201, `the fence: ${JSON.stringify(r.body)}`);
  for (const scope of scopes) {
    await eventually(async () => (await bodies(scope)).includes(body), { message: `the fence ${JSON.stringify(body)}` });
  }
}

export async function shot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A real PNG of `width` × `height` (RGB, a diagonal gradient with a dot), made
 * here: the server checks the magic bytes and decodes it for the thumbnail.
 */
export function png(width = 96, height = 64) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const dot = (x - width * 0.7) ** 2 + (y - height * 0.35) ** 2 < (height * 0.18) ** 2;
      raw[row + 1 + x * 3] = dot ? 250 : Math.round(79 + (x / width) * 120);
      raw[row + 2 + x * 3] = dot ? 204 : Math.round(70 + (y / height) * 110);
      raw[row + 3 + x * 3] = dot ? 21 : 229;
    }
  }
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export const PHONE = { width: 390, height: 844 };

/** The chat page of `sub`, signed in through the URL fragment. */
export async function chatPage(browser, sub, name, viewport = { width: 1280, height: 800 }) {
  const page = await (await browser.newContext({ viewport })).newPage();
  page.problems = watch(page, `chat ${sub}`);
  await page.goto(`${BASE}/chat#token=${encodeURIComponent(await devToken(sub, 'user', name))}`);
  await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
  return page;
}

/** A support session opened by customer `sub` through the API: {token, session}. */
export async function openSession(sub, name, subject, body = 'Hello there') {
  const token = await devToken(sub, 'user', name);
  const r = await api(token, 'POST', '/v1/support/sessions', {
    subject, category: 'shipping', message: { body, client_msg_id: crypto.randomUUID() },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { token, session: r.body };
}

const AXE = join(dirname(fileURLToPath(import.meta.url)), 'node_modules', 'axe-core', 'axe.min.js');

/**
 * The page's serious and critical accessibility violations (axe-core, WCAG 2
 * A and AA rules), as "rule: target" lines; an empty list passes.
 */
export async function axeViolations(page) {
  // Evaluated, not a <script> tag: the pages' Content-Security-Policy forbids inline scripts.
  if (!(await page.evaluate(() => !!globalThis.axe))) await page.evaluate(readFileSync(AXE, 'utf8'));
  const violations = await page.evaluate(async () => (await globalThis.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    resultTypes: ['violations'],
  })).violations);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')} (${v.help})`));
}

// The desk, second round (issue 20): the agent's status survives a reload,
// admins are not enrolled by looking, no probing writes or missing favicon,
// the stats bar fits, the transfer picker, a transfer away, unread counts,
// search, the lifecycle actions, labels and bulk actions, the admin screens
// and the phone layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, unique, deskPage, openSession, api, devToken, eventually, shot, BASE, PHONE } from '../lib.js';

const WIDE = { width: 1440, height: 900 };

async function desk(browser, sub, name, role = 'agent', viewport = WIDE) {
  return deskPage(await browser.newContext({ viewport }), sub, name, role);
}

const agentStatus = async (token, id) => (await api(token, 'GET', `/v1/agents/${id}`)).body?.status;

test('an agent who chose Away is still away after a reload', async () => {
  const browser = await launch();
  try {
    const ann = unique('ann');
    const page = await desk(browser, ann, 'Ann Agent');
    const token = await devToken(ann, 'agent', 'Ann Agent');
    await eventually(async () => (await agentStatus(token, ann)) === 'online', { message: 'online on the desk' });
    await page.getByLabel('My status').selectOption('away');
    await eventually(async () => (await agentStatus(token, ann)) === 'away', { message: 'away' });

    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    assert.equal(await page.getByLabel('My status').inputValue(), 'away');
    await eventually(async () => (await api(token, 'GET', '/v1/agents')).body.items.find((a) => a.agent_id === ann)?.connected, { message: 'connected again' });
    assert.equal(await agentStatus(token, ann), 'away', 'not put back online (and auto-assignable)');
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('an admin looking at the desk is not enrolled, and loading it writes nothing and misses nothing', async () => {
  const browser = await launch();
  try {
    const boss = unique('boss');
    const context = await browser.newContext({ viewport: WIDE });
    const writes = [];
    const failures = [];
    context.on('request', (r) => { if (r.method() !== 'GET' && r.url().startsWith(BASE)) writes.push(`${r.method()} ${r.url()}`); });
    context.on('response', (r) => { if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`); });
    const page = await deskPage(context, boss, 'Boss', 'admin');
    const token = await devToken(boss, 'admin', 'Boss');
    await page.getByRole('tab', { name: /All/ }).click();
    assert.equal((await api(token, 'GET', `/v1/agents/${boss}`)).status, 404, 'the admin is not on the desk');
    assert.equal(await page.getByLabel('My status').inputValue(), '');
    assert.deepEqual(writes, [], 'no write requests while loading');
    assert.deepEqual(failures, [], 'no failed requests while loading');
    assert.equal((await fetch(`${BASE}/favicon.ico`)).status, 200);
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('the stats bar fits at 1280 and 1440 pixels', async () => {
  const browser = await launch();
  try {
    for (const width of [1280, 1366, 1440]) {
      const page = await desk(browser, unique('boss'), 'Boss With A Long Name', 'admin', { width, height: 900 });
      const clipped = await page.evaluate(() => {
        const bar = document.querySelector('.stats').getBoundingClientRect();
        return [...document.querySelectorAll('.stats .stat')]
          .filter((s) => s.offsetParent !== null)
          .map((s) => s.getBoundingClientRect())
          .filter((r) => r.right > bar.right + 0.5 || r.bottom > bar.bottom + 0.5).length;
      });
      assert.equal(clipped, 0, `no stat clipped at ${width}px`);
      assert.ok(await page.locator('.stats .stat').count() >= 5);
      if (width === 1280) await shot(page, 'desk-admin-1280');
    }
  } finally {
    await browser.close();
  }
});

test('alone on the desk the transfer picker says so; a chat transferred away is announced', async () => {
  const browser = await launch();
  try {
    const ann = unique('ann');
    const boss = unique('boss');
    const subject = `Transfer ${ann}`;
    await openSession(unique('cy'), 'Cy', subject);
    const page = await desk(browser, ann, 'Ann Agent');
    const id = await page.locator('.queue-item', { hasText: subject }).getAttribute('data-session');
    await page.locator('.queue-item', { hasText: subject }).click();
    await page.getByRole('button', { name: 'Claim' }).click();
    await page.locator('.chat-header .chip', { hasText: 'Active · you' }).waitFor();
    const header = page.locator('.chat-header');
    await header.locator('.picker-none', { hasText: 'No other agent online' }).waitFor();
    assert.equal(await header.locator('input').count(), 0, 'no free-text agent id');

    // An admin hands it to Bob: Ann's tab says so and takes no more replies.
    const bob = unique('bob');
    const bobToken = await devToken(bob, 'agent', 'Bob Agent');
    await api(bobToken, 'PUT', '/v1/agents/me', { status: 'online' });
    const bossToken = await devToken(boss, 'admin', 'Boss');
    const moved = await api(bossToken, 'POST', `/v1/support/sessions/${id}/transfer`, { agent_id: bob });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    await page.locator('.ended-note', { hasText: 'transferred' }).waitFor();
    await page.locator('.toast', { hasText: 'was transferred' }).waitFor();
    assert.equal(await page.getByLabel('Reply').isVisible(), false);
    await shot(page, 'desk-transferred-away');
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test("an admin's All list shows no unread counts for chats the admin never joined", async () => {
  const browser = await launch();
  try {
    const subject = `Unread ${unique('s')}`;
    const { token, session } = await openSession(unique('cy'), 'Cy', subject);
    await api(token, 'POST', `/v1/conversations/${session.conversation_id}/messages`, { body: 'anyone?', client_msg_id: crypto.randomUUID() });
    const page = await desk(browser, unique('boss'), 'Boss', 'admin');
    await page.getByRole('tab', { name: /All/ }).click();
    const item = page.locator('.queue-item', { hasText: subject });
    await item.waitFor();
    assert.equal(await item.locator('.unread').count(), 0);
    assert.doesNotMatch(await item.textContent(), /unread/);
  } finally {
    await browser.close();
  }
});

test('search finds sessions by message text, and the lifecycle buttons move a chat along', async () => {
  const browser = await launch();
  try {
    const word = `walrus${Math.random().toString(36).slice(2, 7)}`;
    const subject = `Lifecycle ${word.slice(-5)}`;
    await openSession(unique('cy'), 'Cy', subject, `my ${word} is broken`);
    await openSession(unique('di'), 'Di', `Other ${word.slice(-5)}`, 'nothing to see');
    const page = await desk(browser, unique('ann'), 'Ann Agent');
    await page.getByLabel('Search sessions').fill(word);
    await page.getByLabel('Search sessions').press('Enter');
    await page.locator('.search-note', { hasText: '1 found' }).waitFor();
    await page.locator('.queue-item', { hasText: subject }).click();
    await page.getByRole('button', { name: 'Claim' }).click();
    const chip = page.locator('.chat-header .chip');
    await chip.filter({ hasText: 'Active · you' }).waitFor();
    await page.getByRole('button', { name: 'Resolve' }).click();
    await chip.filter({ hasText: 'Resolved' }).waitFor();
    await page.getByRole('button', { name: 'Reopen' }).click();
    await chip.filter({ hasText: 'Active · you' }).waitFor();
    await page.getByRole('button', { name: 'Snooze' }).click();
    await chip.filter({ hasText: 'Snoozed' }).waitFor();
    await page.getByRole('button', { name: 'Close', exact: true }).click();
    await chip.filter({ hasText: 'Closed' }).waitFor();
    assert.equal(await page.getByLabel('Reply').isVisible(), false);
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('labels on a session and bulk actions on a selection', async () => {
  const browser = await launch();
  try {
    const tag = unique('b').slice(-6);
    const subjects = [`Bulk one ${tag}`, `Bulk two ${tag}`];
    for (const subject of subjects) await openSession(unique('cy'), 'Cy', subject);
    const page = await desk(browser, unique('ann'), 'Ann Agent');
    for (const subject of subjects) await page.getByLabel(new RegExp(`Select .*${subject}`)).click();
    await page.locator('.bulk-count', { hasText: '2 selected' }).waitFor();
    await page.getByLabel('Label for the selected sessions').fill('vip');
    await page.getByRole('button', { name: 'Add label' }).click();
    for (const subject of subjects) {
      await page.locator('.queue-item', { hasText: subject }).locator('.label-chip', { hasText: 'vip' }).waitFor();
    }
    // One session's labels in its panel: add one, remove one.
    await page.locator('.queue-item', { hasText: subjects[0] }).click();
    await page.getByLabel('New label').fill('billing');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.locator('.queue-item', { hasText: subjects[0] }).locator('.label-chip', { hasText: 'billing' }).waitFor();
    await page.getByRole('button', { name: 'Remove label vip' }).click();
    await eventually(async () => (await page.locator('.queue-item', { hasText: subjects[0] }).locator('.label-chip', { hasText: 'vip' }).count()) === 0, { message: 'vip removed' });
    await shot(page, 'desk-labels-bulk');
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('admins manage agents and canned responses on their screens', async () => {
  const browser = await launch();
  try {
    const ann = unique('ann');
    const annToken = await devToken(ann, 'agent', 'Ann Agent');
    await api(annToken, 'PUT', '/v1/agents/me', { status: 'online' });
    const page = await desk(browser, unique('boss'), 'Boss', 'admin');
    await page.getByRole('button', { name: 'Agents' }).click();
    const row = page.locator(`tr[data-agent="${ann}"]`);
    await row.getByLabel('Capacity of Ann Agent').fill('7');
    await row.getByLabel('Payment').check();
    await row.getByRole('button', { name: 'Save Ann Agent' }).click();
    await eventually(async () => {
      const a = (await api(annToken, 'GET', `/v1/agents/${ann}`)).body;
      return a.capacity === 7 && a.skills.includes('payment');
    }, { message: 'capacity and skills saved' });
    await shot(page, 'desk-agents');

    await page.getByRole('button', { name: 'Canned responses' }).click();
    const shortcut = `hello${Math.random().toString(36).slice(2, 6)}`;
    await page.getByLabel('Shortcut').fill(shortcut);
    await page.getByLabel('Text').fill('Hi {customer_name}!');
    await page.getByRole('button', { name: 'Add response' }).click();
    await page.locator('tr', { hasText: `/${shortcut}` }).waitFor();
    const listed = await api(annToken, 'GET', '/v1/support/canned');
    assert.ok(listed.body.items.some((c) => c.shortcut === shortcut && c.shared), 'shared with the agents');
    await page.getByRole('button', { name: `Delete /${shortcut}` }).click();
    await eventually(async () => (await page.locator('tr', { hasText: `/${shortcut}` }).count()) === 0, { message: 'deleted' });
    await page.getByRole('button', { name: 'Queue' }).click();
    await page.getByRole('tab', { name: /New/ }).waitFor();
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('on a phone the desk shows the queue or one chat, with a way back', async () => {
  const browser = await launch();
  try {
    const subject = `Phone ${unique('p').slice(-6)}`;
    await openSession(unique('cy'), 'Cy', subject);
    const page = await desk(browser, unique('ann'), 'Ann Agent', 'agent', PHONE);
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.ok(await fits(), 'no sideways scrolling');
    await shot(page, 'desk-phone-queue');
    await page.locator('.queue-item', { hasText: subject }).click();
    await page.getByRole('button', { name: 'Claim' }).click();
    const reply = page.getByLabel('Reply');
    await reply.waitFor();
    const box = await reply.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width && box.y + box.height <= PHONE.height, `reply box on screen: ${JSON.stringify(box)}`);
    assert.equal(await page.locator('.sidebar').isVisible(), false);
    assert.ok(await fits(), 'no sideways scrolling in a chat');
    await shot(page, 'desk-phone-chat');
    await page.getByRole('button', { name: 'Back to the queue' }).click();
    await page.getByRole('tab', { name: /Mine/ }).click();
    await page.locator('.queue-item', { hasText: subject }).waitFor();
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

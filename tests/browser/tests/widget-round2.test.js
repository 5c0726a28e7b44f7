// The widget, second round (issue 20): when the visitor loses the connection
// the header says so of the visitor (not "Offline" under the agent's name),
// the pending mark is drawn (no emoji font needed), a skipped rating stays
// skipped after a reload, and a waiting visitor sees their place in the queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, unique, customerPage, widget, openWidget, startChat, widgetSend, openSession, api, devToken, eventually, shot } from '../lib.js';

/** A customer's chat, claimed by an agent through the API. */
async function claimedChat(browser, sub) {
  const context = await browser.newContext();
  const customer = await customerPage(context, sub, 'Vera');
  const subject = `Widget ${sub}`;
  await startChat(customer, { subject, message: 'Hello?' });
  const ann = unique('ann');
  const annToken = await devToken(ann, 'agent', 'Ann Agent');
  const mine = await api(await devToken(sub, 'user', 'Vera'), 'GET', '/v1/support/sessions');
  const session = mine.body.items.find((s) => s.subject === subject);
  assert.equal((await api(annToken, 'POST', `/v1/support/sessions/${session.id}/claim`)).status, 200);
  await widget(customer).locator('.pcw-title', { hasText: 'Ann Agent' }).waitFor();
  return { context, customer, session, annToken };
}

test("the visitor's lost connection is said of the visitor, with a drawn pending mark", async () => {
  const browser = await launch();
  try {
    const { context, customer } = await claimedChat(browser, unique('vera'));
    const w = widget(customer);
    await context.setOffline(true);
    await w.locator('.pcw-panel[data-connection="offline"]').waitFor();
    const subtitle = await w.locator('.pcw-subtitle').textContent();
    assert.notEqual(subtitle, 'Offline', 'not "Offline" under the agent\'s name');
    assert.match(subtitle, /You are offline/);
    await widgetSend(customer, 'sent while offline');
    const mark = w.locator('.pc-receipt[data-receipt="queued"]');
    await mark.waitFor();
    assert.equal((await mark.textContent()).trim(), '', 'no emoji glyph');
    assert.equal(await mark.locator('svg').count(), 1, 'an SVG clock');
    assert.equal(await mark.getAttribute('aria-label'), 'Waiting for connection');
    await shot(customer, 'widget-offline');
    await context.setOffline(false);
    await eventually(async () => (await w.locator('.pc-pending').count()) === 0, { message: 'sent once back' });
    assert.deepEqual(customer.problems, []);
  } finally {
    await browser.close();
  }
});

test('a skipped rating stays skipped after a reload', async () => {
  const browser = await launch();
  try {
    const { customer, session, annToken } = await claimedChat(browser, unique('vera'));
    const w = widget(customer);
    assert.equal((await api(annToken, 'POST', `/v1/support/sessions/${session.id}/end`)).status, 200);
    await w.getByRole('button', { name: 'Skip' }).click();
    await w.getByRole('button', { name: 'Start chat' }).waitFor();
    await customer.reload();
    await customer.waitForSelector('#pgchat-widget[data-ready="true"]', { state: 'attached' });
    await openWidget(customer);
    await w.getByRole('button', { name: 'Start chat' }).waitFor();
    assert.equal(await w.getByRole('button', { name: 'Send rating' }).count(), 0, 'the rating is not asked again');
    assert.deepEqual(customer.problems, []);
  } finally {
    await browser.close();
  }
});

test('a waiting visitor sees their place in the queue', async () => {
  const browser = await launch();
  try {
    // Someone is already waiting: this visitor is at least second.
    await openSession(unique('early'), 'Early Bird', 'Early');
    const customer = await customerPage(await browser.newContext(), unique('vera'), 'Vera');
    await startChat(customer, { subject: 'Queue place', message: 'Am I next?' });
    const note = widget(customer).locator('.pcw-queue');
    await note.waitFor();
    assert.match(await note.textContent(), /You are (number \d+ in the queue|next in the queue)/);
    assert.doesNotMatch(await note.textContent(), /next/, 'someone waits ahead');
    await shot(customer, 'widget-queue-place');
    assert.deepEqual(customer.problems, []);
  } finally {
    await browser.close();
  }
});

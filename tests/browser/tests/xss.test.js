// Message bodies (and subjects, and names) are text: markup shows as written
// and never runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, unique, customerPage, deskPage, widget, startChat, widgetSend, eventually, bodies, api, devToken, fence } from '../lib.js';

const EVIL = '<img src=x onerror=alert(1)>';

test('a message body with markup is shown as text and never runs', async () => {
  const browser = await launch();
  try {
    const dialogs = [];
    const customerContext = await browser.newContext();
    const agentContext = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    for (const context of [customerContext, agentContext]) {
      context.on('page', (page) => page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); }));
    }
    const sub = unique('mal');
    const customer = await customerPage(customerContext, sub, '<b>Mal</b>');
    const w = widget(customer);
    const subject = `<script>alert(2)</script> ${sub}`;
    await startChat(customer, { subject, message: EVIL });
    await widgetSend(customer, '<a href="javascript:alert(3)">click</a>');

    const desk = await deskPage(agentContext, unique('ann'), 'Ann Agent');
    const item = desk.locator('.queue-item', { hasText: subject });
    await item.waitFor();
    await item.click();
    await desk.getByRole('button', { name: 'Claim' }).click();
    await desk.locator('.chat-header .chip', { hasText: 'Active · you' }).waitFor();
    await desk.getByLabel('Reply').fill(EVIL);
    await desk.getByLabel('Reply').press('Enter');
    await eventually(async () => (await bodies(w)).filter((b) => b === EVIL).length === 2, { message: 'both bodies in the widget' });
    await eventually(async () => (await bodies(desk)).filter((b) => b === EVIL).length === 2, { message: 'both bodies on the desk' });
    // The fence: a later message shows on both pages once all before it are rendered.
    const mal = await devToken(sub, 'user', '<b>Mal</b>');
    const session = (await api(mal, 'GET', '/v1/support/sessions')).body.items[0];
    await fence(mal, session.conversation_id, 'fence', w, desk);

    for (const [page, scope] of [[customer, w], [desk, desk.locator('body')]]) {
      assert.equal(await scope.locator('.pc-log img, .pc-log a, .pc-log script').count(), 0, 'no element made from user text');
      assert.ok((await bodies(scope)).includes('<a href="javascript:alert(3)">click</a>'));
      assert.equal(await page.evaluate(() => document.querySelectorAll('img[src="x"]').length), 0);
    }
    assert.equal(await desk.locator('.chat-header .muted').textContent(), subject, 'the subject is text');
    assert.equal(await desk.locator('.chat-header h2').textContent(), '<b>Mal</b>', 'the name is text');
    assert.deepEqual(dialogs, [], 'no dialog fired');
    assert.deepEqual([...customer.problems, ...desk.problems], []);
  } finally {
    await browser.close();
  }
});

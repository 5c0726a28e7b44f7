// The desk's tools that need issue 4's endpoints: canned responses through
// `/shortcut`, transferring a chat to another agent, the status switch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, unique, customerPage, deskPage, widget, startChat, eventually, api, devToken, shot } from '../lib.js';

test('an agent inserts a canned response and transfers the chat to a colleague', async () => {
  const browser = await launch();
  try {
    const ann = unique('ann');
    const bob = unique('bob');
    const annToken = await devToken(ann, 'agent', 'Ann Agent');
    const shortcut = `ship${Math.random().toString(36).slice(2, 6)}`;
    const created = await api(annToken, 'POST', '/v1/support/canned', {
      shortcut, title: 'Shipping times', body: 'Hi {customer_name}, orders ship within two days.',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const customerContext = await browser.newContext();
    const sub = unique('cora');
    const subject = `Canned ${sub}`;
    const customer = await customerPage(customerContext, sub, 'Cora');
    const w = widget(customer);
    await startChat(customer, { subject, message: 'When will it ship?' });

    const annDesk = await deskPage(await browser.newContext({ viewport: { width: 1440, height: 900 } }), ann, 'Ann Agent');
    const bobDesk = await deskPage(await browser.newContext({ viewport: { width: 1440, height: 900 } }), bob, 'Bob Agent');
    assert.match(await annDesk.evaluate(() => document.body.dataset.features), /canned/);

    await annDesk.locator('.queue-item', { hasText: subject }).click();
    await annDesk.getByRole('button', { name: 'Claim' }).click();
    await annDesk.locator('.chat-header .chip', { hasText: 'Active · you' }).waitFor();

    // `/` opens the canned responses; Enter inserts the rendered one.
    const reply = annDesk.getByLabel('Reply');
    await reply.pressSequentially(`/${shortcut.slice(0, 4)}`, { delay: 20 });
    await annDesk.getByRole('option', { name: new RegExp(shortcut) }).waitFor();
    await reply.press('Enter');
    await eventually(async () => (await reply.inputValue()) === 'Hi Cora, orders ship within two days.', { message: 'the rendered canned response' });
    await reply.press('Enter');
    await w.locator('.pc-body', { hasText: 'Hi Cora, orders ship within two days.' }).waitFor();

    // Transfer to Bob (on the desk since his desk opened).
    const picker = annDesk.getByLabel('Transfer to agent');
    await eventually(async () => (await picker.locator(`option[value="${bob}"]`).count()) === 1, { message: 'Bob in the agent list' });
    await picker.selectOption(bob);
    await annDesk.getByRole('button', { name: 'Transfer' }).click();
    await annDesk.locator('.chat-header .chip', { hasText: 'Bob Agent' }).waitFor();
    await bobDesk.getByRole('tab', { name: /Mine/ }).click();
    await bobDesk.locator('.queue-item', { hasText: subject }).click();
    await bobDesk.getByLabel('Reply').fill('Bob here, I will take it from here.');
    await bobDesk.getByLabel('Reply').press('Enter');
    await w.locator('.pc-body', { hasText: 'Bob here' }).waitFor();
    await w.locator('.pcw-title', { hasText: 'Bob Agent' }).waitFor();
    await shot(bobDesk, 'desk-transferred');

    // The status switch reaches the agents list.
    await annDesk.getByLabel('My status').selectOption('away');
    await eventually(async () => {
      const agents = await api(annToken, 'GET', '/v1/agents');
      return agents.body.items.find((a) => a.agent_id === ann)?.status === 'away';
    }, { message: "Ann's status away" });
    assert.deepEqual([...customer.problems, ...annDesk.problems, ...bobDesk.problems], []);
  } finally {
    await browser.close();
  }
});

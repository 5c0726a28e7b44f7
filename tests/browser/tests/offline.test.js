// The customer goes offline, sends three messages, comes back: each arrives
// exactly once at the agent (the outbox is persisted and flushed once; the
// client_msg_id makes a retry harmless).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, unique, customerPage, deskPage, widget, startChat, widgetSend, bodies, eventually, api, devToken, fence,
} from '../lib.js';

test('messages sent offline arrive exactly once after reconnecting', async () => {
  const browser = await launch();
  try {
    const customerContext = await browser.newContext();
    const agentContext = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const sub = unique('olive');
    const subject = `Offline ${sub}`;
    const customer = await customerPage(customerContext, sub, 'Olive Offline');
    const w = widget(customer);
    await startChat(customer, { subject, message: 'Hello from Olive.' });

    const desk = await deskPage(agentContext, unique('ann'), 'Ann Agent');
    await desk.locator('.queue-item', { hasText: subject }).click();
    await desk.getByRole('button', { name: 'Claim' }).click();
    await w.locator('.pc-notice', { hasText: 'joined the chat' }).waitFor();

    await customerContext.setOffline(true);
    await w.locator('.pcw-panel[data-connection="offline"]').waitFor();
    const sent = ['offline one', 'offline two', 'offline three'];
    for (const text of sent) await widgetSend(customer, text);
    await eventually(async () => (await w.locator('.pc-receipt[data-receipt="queued"]').count()) === 3,
      { message: 'three queued messages' });
    const queued = await customer.evaluate((me) => JSON.parse(localStorage.getItem(`pgchat:outbox:${me}`) || '[]').length, sub);
    assert.equal(queued, 3, 'the outbox is persisted in localStorage');
    await w.locator('.pcw-banner', { hasText: '3 messages will be sent' }).waitFor();
    // The fence: a message from the customer's other device reaches the desk
    // after anything the offline page could have sent.
    const token = await devToken(sub, 'user', 'Olive Offline');
    const sessions = await api(token, 'GET', '/v1/support/sessions');
    const conversation = sessions.body.items[0].conversation_id;
    await fence(token, conversation, 'fence one', desk.locator('.chat'));
    assert.equal(await desk.locator('.pc-body', { hasText: 'offline' }).count(), 0, 'nothing leaks while offline');

    await customerContext.setOffline(false);
    await eventually(async () => (await desk.locator('.pc-body', { hasText: 'offline' }).count()) === 3,
      { timeout: 20000, message: 'the three messages at the agent' });
    await eventually(async () => (await w.locator('.pc-pending').count()) === 0, { message: 'no pending message left' });
    // The page has sent all it will: a duplicate reaches the desk before this fence.
    await fence(token, conversation, 'fence two', desk.locator('.chat'));
    const agentSees = (await bodies(desk.locator('.chat'))).filter((b) => b.startsWith('offline'));
    assert.deepEqual(agentSees, sent, 'each arrives once, in order');
    assert.deepEqual((await bodies(w)).filter((b) => b.startsWith('offline')), sent);
    assert.equal(await customer.evaluate((me) => JSON.parse(localStorage.getItem(`pgchat:outbox:${me}`) || '[]').length, sub), 0);

    // The server stored each once.
    const stored = await api(token, 'GET', `/v1/conversations/${conversation}/messages?limit=100`);
    assert.deepEqual(stored.body.items.map((m) => m.body).filter((b) => b.startsWith('offline')), sent);
    assert.deepEqual([...customer.problems, ...desk.problems], []);
  } finally {
    await browser.close();
  }
});

test('a dropped connection resumes from its cursor without gaps or duplicates', async () => {
  const browser = await launch();
  try {
    const context = await browser.newContext();
    const sub = unique('rita');
    const customer = await customerPage(context, sub, 'Rita Resume');
    const w = widget(customer);
    await startChat(customer, { subject: `Resume ${sub}`, message: 'first' });
    const agent = await devToken(unique('ann'), 'agent', 'Ann Agent');
    const sessions = await api(await devToken(sub, 'user', 'Rita Resume'), 'GET', '/v1/support/sessions');
    const session = sessions.body.items[0];
    assert.equal((await api(agent, 'POST', `/v1/support/sessions/${session.id}/claim`)).status, 200);
    await w.locator('.pc-notice', { hasText: 'joined the chat' }).waitFor();

    // Kill the socket; while it is down the agent writes twice.
    await customer.evaluate(() => window.PgChatWidget.client.ws.close(4100, 'test'));
    for (const body of ['while away 1', 'while away 2']) {
      const r = await api(agent, 'POST', `/v1/conversations/${session.conversation_id}/messages`, { body, client_msg_id: crypto.randomUUID() });
      assert.equal(r.status, 201);
    }
    await eventually(async () => (await bodies(w)).filter((b) => b.startsWith('while away')).length === 2,
      { timeout: 20000, message: 'the backlog after reconnecting' });
    // The fence: a message sent now shows after any duplicate of the backlog.
    await fence(agent, session.conversation_id, 'fence', w);
    assert.deepEqual((await bodies(w)).filter((b) => b.startsWith('while away')), ['while away 1', 'while away 2']);
    assert.deepEqual(customer.problems, []);
  } finally {
    await browser.close();
  }
});

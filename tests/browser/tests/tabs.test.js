// Two tabs of one customer stay in sync: a chat started in one shows in the
// other, messages appear once in both, and reading in one clears the other's badge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, unique, customerPage, widget, openWidget, startChat, widgetSend, bodies, eventually, api, devToken, fence } from '../lib.js';

test('two tabs stay in sync', async () => {
  const browser = await launch();
  try {
    const context = await browser.newContext();
    const sub = unique('tess');
    const one = await customerPage(context, sub, 'Tess Tabs');
    const two = await customerPage(context, sub, 'Tess Tabs');
    await startChat(one, { subject: `Tabs ${sub}`, message: 'Started in tab one.' });

    // Tab two picks up the chat by itself.
    await openWidget(two);
    await eventually(async () => (await bodies(widget(two))).includes('Started in tab one.'), { message: 'the chat in tab two' });

    await widgetSend(two, 'Written in tab two.');
    await eventually(async () => (await bodies(widget(one))).includes('Written in tab two.'), { message: 'tab two\'s message in tab one' });
    // The fence: a message from another device shows in both tabs after any duplicate.
    const tess = await devToken(sub, 'user', 'Tess Tabs');
    const session = (await api(tess, 'GET', '/v1/support/sessions')).body.items[0];
    await fence(tess, session.conversation_id, 'From elsewhere.', widget(one), widget(two));
    for (const page of [one, two]) {
      const all = await bodies(widget(page));
      assert.deepEqual(all, ['Started in tab one.', 'Written in tab two.', 'From elsewhere.'], 'each message once, in order');
    }

    // Both tabs closed: an agent's reply raises the badge in both; reading in one clears both.
    await widget(two).locator('.pcw-launcher').click();
    const agent = await devToken(unique('ann'), 'agent', 'Ann Agent');
    await widget(one).locator('.pcw-launcher').click();
    await api(agent, 'POST', `/v1/support/sessions/${session.id}/claim`);
    await api(agent, 'POST', `/v1/conversations/${session.conversation_id}/messages`, { body: 'Hi Tess!', client_msg_id: crypto.randomUUID() });
    for (const page of [one, two]) {
      await widget(page).locator('.pcw-badge:not([hidden])', { hasText: '1' }).waitFor();
    }
    await openWidget(one);
    await widget(two).locator('.pcw-badge').waitFor({ state: 'hidden' });
    assert.deepEqual([...one.problems, ...two.problems], []);
  } finally {
    await browser.close();
  }
});

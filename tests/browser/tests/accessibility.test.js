// Accessibility (issue 20): axe-core finds no serious or critical violation
// on the widget, the desk and the chat page, on a desktop and on a phone; the
// pages are kept as screenshots in test-artifacts/browser/. And the desk's
// queue and the chat page's message actions work from the keyboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, unique, customerPage, deskPage, chatPage, startChat, widget, openSession, api, devToken, axeViolations, eventually, shot, PHONE,
} from '../lib.js';

const SIZES = { desktop: { width: 1280, height: 800 }, phone: PHONE };

for (const [size, viewport] of Object.entries(SIZES)) {
  test(`no serious accessibility violations on the widget, the desk and the chat page (${size})`, async () => {
    const browser = await launch();
    try {
      const sub = unique('ada');
      const subject = `Access ${sub}`;
      const customer = await customerPage(await browser.newContext({ viewport }), sub, 'Ada');
      await startChat(customer, { subject, message: 'Can everyone use this?' });
      await widget(customer).locator('.pc-body', { hasText: 'Can everyone use this?' }).waitFor();
      assert.deepEqual(await axeViolations(customer), [], 'widget');
      await shot(customer, `widget-${size}`);

      const desk = await deskPage(await browser.newContext({ viewport }), unique('ann'), 'Ann Agent');
      assert.deepEqual(await axeViolations(desk), [], 'desk, the queue');
      await shot(desk, `desk-${size}`);
      await desk.locator('.queue-item', { hasText: subject }).click();
      await desk.getByRole('button', { name: 'Claim' }).click();
      await desk.locator('.chat-header .chip', { hasText: 'Active · you' }).waitFor();
      assert.deepEqual(await axeViolations(desk), [], 'desk, a chat');
      await shot(desk, `desk-chat-${size}`);

      const cleo = unique('cleo');
      const chat = await chatPage(browser, cleo, 'Cleo', viewport);
      const bobToken = await devToken(unique('bob'), 'user', 'Bob');
      const direct = await api(bobToken, 'POST', '/v1/conversations/direct', { user_id: cleo });
      await api(bobToken, 'POST', `/v1/conversations/${direct.body.id}/messages`, { body: 'Hi Cleo, see https://example.com', client_msg_id: crypto.randomUUID() });
      await chat.locator('.queue-item', { hasText: 'Bob' }).click();
      await chat.locator('.pc-body', { hasText: 'Hi Cleo' }).waitFor();
      assert.deepEqual(await axeViolations(chat), [], 'chat page');
      await shot(chat, `chat-${size}`);
      assert.deepEqual([...customer.problems, ...desk.problems, ...chat.problems], []);
    } finally {
      await browser.close();
    }
  });
}

test('the queue and the message actions work from the keyboard', async () => {
  const browser = await launch();
  try {
    const subject = `Keys ${unique('k').slice(-6)}`;
    await openSession(unique('cy'), 'Cy', subject);
    const desk = await deskPage(await browser.newContext({ viewport: SIZES.desktop }), unique('ann'), 'Ann Agent');
    // Tabs move with the arrow keys; Enter on a queue item opens it.
    await desk.getByRole('tab', { name: /New/ }).focus();
    await desk.keyboard.press('ArrowRight');
    assert.equal(await desk.evaluate(() => document.activeElement.id), 'tab-mine');
    await desk.keyboard.press('ArrowLeft');
    await desk.locator('.queue-item', { hasText: subject }).focus();
    await desk.keyboard.press('Enter');
    await desk.getByRole('button', { name: 'Claim' }).waitFor();

    // The chat page: Reply and React reached with Tab, the picker takes focus.
    const cleo = unique('cleo');
    const chat = await chatPage(browser, cleo, 'Cleo');
    const bobToken = await devToken(unique('bob'), 'user', 'Bob');
    const direct = await api(bobToken, 'POST', '/v1/conversations/direct', { user_id: cleo });
    await api(bobToken, 'POST', `/v1/conversations/${direct.body.id}/messages`, { body: 'Keyboard only', client_msg_id: crypto.randomUUID() });
    await chat.locator('.queue-item', { hasText: 'Bob' }).click();
    const msg = chat.locator('.pc-msg', { hasText: 'Keyboard only' });
    await msg.getByRole('button', { name: 'React', exact: true }).focus();
    await chat.keyboard.press('Enter');
    await eventually(async () => /^React with/.test(await chat.evaluate(() => document.activeElement.getAttribute('aria-label') || '')),
      { message: 'the picker takes the focus' });
    await chat.keyboard.press('Enter');
    await msg.locator('.pc-reaction', { hasText: '1' }).waitFor();
    assert.deepEqual([...desk.problems, ...chat.problems], []);
  } finally {
    await browser.close();
  }
});

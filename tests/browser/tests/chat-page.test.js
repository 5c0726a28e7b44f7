// The chat page: a direct conversation between two users, live both ways, and
// a public room (where the server has issue 5's endpoints).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, unique, chatPage, bodies, eventually, shot } from '../lib.js';

test('two users talk in a direct conversation on the chat page', async () => {
  const browser = await launch();
  try {
    const alice = unique('alice');
    const bob = unique('bob');
    const bobPage = await chatPage(browser, bob, 'Bob');
    const alicePage = await chatPage(browser, alice, 'Alice');
    const start = alicePage.getByLabel('Start a conversation with user id');
    if (!(await start.isVisible())) {
      // Not deployed on this server: the page says so instead.
      await alicePage.locator('.notice', { hasText: 'not available' }).waitFor();
      return;
    }
    await start.fill(bob);
    await alicePage.getByRole('button', { name: 'Message' }).click();
    await alicePage.getByLabel('Message', { exact: true }).fill('Hello Bob!');
    await alicePage.getByLabel('Message', { exact: true }).press('Enter');
    await bobPage.locator('.queue-item').first().click();
    await eventually(async () => (await bodies(bobPage)).includes('Hello Bob!'), { message: "Alice's message at Bob" });
    await bobPage.getByLabel('Message', { exact: true }).fill('Hi Alice');
    await bobPage.getByLabel('Message', { exact: true }).press('Enter');
    await eventually(async () => (await bodies(alicePage)).includes('Hi Alice'), { message: "Bob's reply at Alice" });
    await eventually(async () => (await alicePage.locator('.pc-mine .pc-receipt').first().getAttribute('data-receipt')) === 'read', { message: 'read tick' });
    await shot(alicePage, 'chat-direct');
    assert.deepEqual([...alicePage.problems, ...bobPage.problems], []);
  } finally {
    await browser.close();
  }
});

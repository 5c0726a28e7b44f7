// The chat page, second round (issue 20): rooms to discover and join with a
// live member count and list, replies, reactions, edits, deletes and pins from the
// message toolbar, pinned / muted / archived conversations, safe links,
// search, and the phone layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, unique, chatPage, devToken, api, eventually, shot, PHONE } from '../lib.js';

/** Alice and Bob with a direct conversation and their chat pages, Alice's open on it. */
async function pair(browser, viewport) {
  const alice = unique('alice');
  const bob = unique('bob');
  const bobPage = await chatPage(browser, bob, 'Bob', viewport);
  const alicePage = await chatPage(browser, alice, 'Alice', viewport);
  const aliceToken = await devToken(alice, 'user', 'Alice');
  const bobToken = await devToken(bob, 'user', 'Bob');
  const direct = await api(aliceToken, 'POST', '/v1/conversations/direct', { user_id: bob });
  assert.ok([200, 201].includes(direct.status), JSON.stringify(direct.body));
  return { alice, bob, alicePage, bobPage, aliceToken, bobToken, conversation: direct.body.id };
}

const post = (token, conversation, body) =>
  api(token, 'POST', `/v1/conversations/${conversation}/messages`, { body, client_msg_id: crypto.randomUUID() });

/** The message whose own text (not a quote of it) has `text`. */
const message = (page, text) => page.locator('.pc-msg').filter({ has: page.locator('.pc-body', { hasText: text }) });
const action = (page, text, name) => message(page, text).getByRole('button', { name, exact: true });

test('public rooms are listed, joined from the list, and the member count stays current', async () => {
  const browser = await launch();
  try {
    const owner = unique('olga');
    const ownerPage = await chatPage(browser, owner, 'Olga');
    const joinerPage = await chatPage(browser, unique('jon'), 'Jon');
    const name = `Lobby ${owner}`;
    await ownerPage.getByLabel('New room name').fill(name);
    await ownerPage.getByRole('button', { name: 'Create' }).click();
    await ownerPage.locator('.chat-header', { hasText: '1 member' }).waitFor();
    await ownerPage.getByRole('button', { name: 'Members' }).click();
    const members = ownerPage.getByRole('list', { name: 'Members' });
    await members.getByText('Olga (you)').waitFor();

    // Created after Jon's page loaded: the directory is live.
    const join = joinerPage.getByRole('button', { name: `Join ${name}` });
    await join.waitFor({ timeout: 15000 });
    await join.click();
    await joinerPage.locator('.chat-header h2', { hasText: name }).waitFor();
    await joinerPage.locator('.chat-header', { hasText: '2 members' }).waitFor();
    await joinerPage.locator('.queue-item', { hasText: name }).waitFor();
    // The owner's open room: the count follows the join.
    await ownerPage.locator('.chat-header', { hasText: '2 members' }).waitFor();
    await members.getByText('Jon').waitFor();
    await shot(joinerPage, 'chat-room-joined');
    assert.deepEqual([...ownerPage.problems, ...joinerPage.problems], []);
  } finally {
    await browser.close();
  }
});

test('reply, react, edit, delete and pin from the message toolbar, seen live by the other side', async () => {
  const browser = await launch();
  try {
    const { alicePage, bobPage, bobToken, conversation } = await pair(browser);
    assert.equal((await post(bobToken, conversation, 'Lunch at noon?')).status, 201);
    await alicePage.locator('.queue-item', { hasText: 'Bob' }).click();
    await bobPage.locator('.queue-item', { hasText: 'Alice' }).click();
    await message(alicePage, 'Lunch at noon?').waitFor();

    // Reply: the parent is quoted on both sides.
    await message(alicePage, 'Lunch at noon?').hover();
    await action(alicePage, 'Lunch at noon?', 'Reply').click();
    await alicePage.locator('.draft', { hasText: 'Replying to Bob' }).waitFor();
    await alicePage.getByLabel('Message', { exact: true }).fill('Yes, see you there');
    await alicePage.getByLabel('Message', { exact: true }).press('Enter');
    await message(bobPage, 'Yes, see you there').locator('.pc-quote', { hasText: 'Lunch at noon?' }).waitFor();

    // React through the picker: Bob sees it without reloading.
    await message(alicePage, 'Lunch at noon?').hover();
    await action(alicePage, 'Lunch at noon?', 'React').click();
    await alicePage.getByRole('button', { name: 'React with 👍' }).click();
    await message(bobPage, 'Lunch at noon?').locator('.pc-reaction', { hasText: '👍 1' }).waitFor();
    assert.equal(await message(alicePage, 'Lunch at noon?').locator('.pc-reaction').getAttribute('aria-pressed'), 'true');

    // Edit my message.
    await message(alicePage, 'Yes, see you there').hover();
    await action(alicePage, 'Yes, see you there', 'Edit').click();
    const input = alicePage.getByLabel('Message', { exact: true });
    assert.equal(await input.inputValue(), 'Yes, see you there');
    await input.fill('Yes, see you at 12:15');
    await input.press('Enter');
    await message(bobPage, 'Yes, see you at 12:15').locator('.pc-edited').waitFor();

    // Pin (either member of a direct conversation).
    await message(alicePage, 'Lunch at noon?').hover();
    await action(alicePage, 'Lunch at noon?', 'Pin').click();
    await bobPage.locator('.pc-pinned', { hasText: 'Lunch at noon?' }).waitFor();

    // Delete my last message: a tombstone at Bob's, and the list says so (not "Direct").
    await message(alicePage, 'see you at 12:15').hover();
    await action(alicePage, 'see you at 12:15', 'Delete').click();
    await action(alicePage, 'see you at 12:15', 'Confirm delete').click();
    await bobPage.locator('.pc-deleted', { hasText: 'This message was deleted' }).waitFor();
    await bobPage.locator('.queue-item', { hasText: 'Alice' }).locator('.qi-subject', { hasText: 'Message deleted' }).waitFor();
    await alicePage.locator('.queue-item', { hasText: 'Bob' }).locator('.qi-subject', { hasText: 'You: Message deleted' }).waitFor();
    await shot(bobPage, 'chat-message-features');
    assert.deepEqual([...alicePage.problems, ...bobPage.problems], []);
  } finally {
    await browser.close();
  }
});

test('a conversation is pinned, muted and archived, and the archived view brings it back', async () => {
  const browser = await launch();
  try {
    const { alicePage, bobToken, conversation } = await pair(browser);
    await post(bobToken, conversation, 'Archive me later');
    const item = alicePage.locator('.queue-item', { hasText: 'Bob' });
    await item.click();
    await alicePage.getByRole('button', { name: 'Pin chat' }).click();
    await item.locator('.chip', { hasText: 'Pinned' }).waitFor();
    await alicePage.getByRole('button', { name: 'Mute' }).click();
    await item.locator('.chip', { hasText: 'Muted' }).waitFor();
    await alicePage.getByRole('button', { name: 'Archive', exact: true }).click();
    await eventually(async () => (await item.count()) === 0, { message: 'archived out of the list' });

    await alicePage.getByRole('button', { name: 'Archived' }).click();
    await item.click();
    await alicePage.getByRole('button', { name: 'Unarchive' }).click();
    await alicePage.getByRole('button', { name: 'Back to conversations' }).click();
    await item.waitFor();
    assert.deepEqual(alicePage.problems, []);
  } finally {
    await browser.close();
  }
});

test('web addresses in messages are links, and only they are', async () => {
  const browser = await launch();
  try {
    const { alicePage, bobToken, conversation } = await pair(browser);
    const body = 'Docs: https://example.com/guide?step=2. Not these: javascript:alert(1) <img src=x onerror=alert(1)> <b>bold</b> ftp://files.test/x';
    await post(bobToken, conversation, body);
    await alicePage.locator('.queue-item', { hasText: 'Bob' }).click();
    const bubble = alicePage.locator('.pc-msg', { hasText: 'Docs:' }).locator('.pc-body');
    await bubble.waitFor();
    const links = await bubble.locator('a').evaluateAll((as) => as.map((a) => ({ href: a.href, rel: a.rel, target: a.target, text: a.textContent })));
    assert.deepEqual(links, [{ href: 'https://example.com/guide?step=2', rel: 'noopener noreferrer nofollow', target: '_blank', text: 'https://example.com/guide?step=2' }]);
    assert.equal(await bubble.locator('img, b').count(), 0);
    assert.equal(await bubble.textContent(), body);
    assert.deepEqual(alicePage.problems, []);
  } finally {
    await browser.close();
  }
});

test('search finds a message and opens its conversation', async () => {
  const browser = await launch();
  try {
    const { alicePage, bobToken, conversation } = await pair(browser);
    const word = `zebra${Math.random().toString(36).slice(2, 7)}`;
    await post(bobToken, conversation, `the ${word} crossed`);
    await alicePage.getByLabel('Search messages').fill(word);
    await alicePage.getByLabel('Search messages').press('Enter');
    const result = alicePage.locator('.results .result', { hasText: word });
    await result.locator('mark', { hasText: word }).waitFor();
    await result.click();
    await message(alicePage, `the ${word} crossed`).waitFor();
    assert.deepEqual(alicePage.problems, []);
  } finally {
    await browser.close();
  }
});

test('on a phone the list and the conversation take turns, with a way back', async () => {
  const browser = await launch();
  try {
    const { alicePage, bobToken, conversation } = await pair(browser, PHONE);
    await post(bobToken, conversation, 'Small screens too');
    const list = alicePage.locator('.conv-list');
    const composer = alicePage.getByLabel('Message', { exact: true });
    await alicePage.locator('.queue-item', { hasText: 'Bob' }).click();
    await composer.waitFor();
    assert.equal(await list.isVisible(), false, 'the list gives way to the conversation');
    const box = await composer.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width && box.y + box.height <= PHONE.height, `composer on screen: ${JSON.stringify(box)}`);
    await shot(alicePage, 'chat-phone-conversation');
    await alicePage.getByRole('button', { name: 'Back to conversations' }).click();
    await list.waitFor();
    assert.equal(await composer.isVisible(), false);
    assert.ok(await alicePage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    await shot(alicePage, 'chat-phone-list');
    assert.deepEqual(alicePage.problems, []);
  } finally {
    await browser.close();
  }
});

// Attachments: a customer sends a picture and a text file from the widget; the
// agent sees the thumbnail in the desk, opens the full image and downloads the
// file (both fetched with the token); a file that lies about its type, one
// too large, and one named with markup show the server's refusal as a clear
// message, as text. On the chat page a user sends a picture to another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  launch, unique, customerPage, deskPage, widget, openWidget, startChat, devToken, watch,
  eventually, shot, png, BASE,
} from '../lib.js';

/** Waits until the <img> of `link` shows a decoded picture; returns its natural size and src. */
async function picture(link, what) {
  const img = link.locator('img');
  await img.waitFor();
  return eventually(async () => {
    const seen = await img.evaluate((el) => ({ w: el.naturalWidth, h: el.naturalHeight, src: el.src, done: el.complete }));
    return seen.done && seen.w > 0 ? seen : null;
  }, { message: what });
}

test('a customer attaches files in the widget and the agent sees them in the desk', async () => {
  const browser = await launch();
  try {
    const dialogs = [];
    const customerContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const agentContext = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    for (const context of [customerContext, agentContext]) {
      context.on('page', (page) => page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); }));
    }
    const sub = unique('fiona');
    const subject = `Damaged parcel ${sub}`;
    const customer = await customerPage(customerContext, sub, 'Fiona Files');
    const w = widget(customer);
    await startChat(customer, { subject, message: 'The box arrived crushed, photo below.' });

    const desk = await deskPage(agentContext, unique('ann'), 'Ann Agent');
    await desk.locator('.queue-item', { hasText: subject }).click();
    await desk.getByRole('button', { name: 'Claim' }).click();
    await desk.locator('.chat-header .chip', { hasText: 'Active · you' }).waitFor();

    // The attach button is a labelled control in the composer.
    const attach = w.getByRole('button', { name: 'Attach a file' });
    assert.equal(await attach.count(), 1, 'one labelled attach button');
    assert.equal(await w.locator('#pcw-file').getAttribute('type'), 'file');

    // A real PNG: shown at once from the file, then stored with a thumbnail.
    const image = png(240, 160);
    await w.locator('#pcw-file').setInputFiles({ name: 'parcel.png', mimeType: 'image/png', buffer: image });
    const mine = w.locator('.pc-mine.pc-with-file', { has: customer.locator('.pc-att-image') });
    await mine.locator('.pc-att-img').waitFor();
    await eventually(async () => (await mine.getAttribute('data-id')) !== '', { message: 'the picture stored' });
    const ownLink = mine.locator('a.pc-att-image');
    assert.equal(await ownLink.getAttribute('aria-label'), 'Open image parcel.png (' + formatKB(image.length) + ')');
    await picture(ownLink, 'the picture in the widget');

    // The agent sees the thumbnail: fetched with the token, shown from a blob: URL.
    const theirs = desk.locator('.pc-theirs a.pc-att-image');
    await theirs.waitFor();
    assert.match(await theirs.getAttribute('aria-label'), /^Open image parcel\.png \(/);
    const thumb = await picture(theirs, 'the thumbnail in the desk');
    assert.ok(thumb.src.startsWith('blob:'), `the thumbnail is a blob: URL (${thumb.src})`);
    assert.ok(Math.max(thumb.w, thumb.h) <= 320 && Math.abs(thumb.w / thumb.h - 1.5) < 0.02, `a thumbnail of the picture (${thumb.w} × ${thumb.h})`);
    assert.equal(await desk.locator('.pc-theirs .pc-body', { hasText: 'parcel.png' }).count(), 0, 'no caption repeating the file name');

    // The thumbnail links to the full picture: it opens in a new tab.
    const [full] = await Promise.all([agentContext.waitForEvent('page'), theirs.click()]);
    await eventually(async () => full.url().startsWith('blob:'), { message: 'the full picture in a new tab' });
    await full.waitForLoadState();
    assert.deepEqual(await full.evaluate(() => [document.images[0]?.naturalWidth, document.images[0]?.naturalHeight]), [240, 160]);
    await full.close();

    // A text file: a card with its name and size; a click downloads it under its name.
    const notes = Buffer.from('Order 1234\nParcel damaged on arrival.\n');
    await w.locator('#pcw-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: notes });
    const card = desk.locator('.pc-theirs a.pc-att-file', { hasText: 'notes.txt' });
    await card.waitFor();
    assert.equal(await card.locator('.pc-att-size').textContent(), `${notes.length} B`);
    assert.equal(await card.getAttribute('download'), 'notes.txt');
    const [download] = await Promise.all([desk.waitForEvent('download'), card.click()]);
    assert.equal(download.suggestedFilename(), 'notes.txt');
    assert.equal(await readFile(await download.path(), 'utf8'), notes.toString());

    // Offline: the file waits (the bubble says so) and goes once the network is back.
    await customerContext.setOffline(true);
    await w.locator('.pcw-panel[data-connection="offline"]').waitFor();
    await w.locator('#pcw-file').setInputFiles({ name: 'later.txt', mimeType: 'text/plain', buffer: Buffer.from('sent after a tunnel') });
    await w.locator('.pc-mine .pc-upload', { hasText: 'Waiting for the connection' }).waitFor();
    await customerContext.setOffline(false);
    await desk.locator('.pc-theirs a.pc-att-file', { hasText: 'later.txt' }).waitFor();
    assert.equal(await w.locator('.pc-mine', { hasText: 'later.txt' }).count(), 1, 'sent once');

    // A text file calling itself a PNG: the server refuses the content; the
    // widget says so in words, names the file, and marks the bubble.
    await w.locator('#pcw-file').setInputFiles({ name: 'holiday.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture at all') });
    const alert = w.locator('.pcw-attach-note[role="alert"]');
    await alert.waitFor();
    // (The reason is the server's mime_mismatch message, e.g. "the content does
    // not match the declared type image/png".)
    const said = await alert.locator('.pcw-attach-text').textContent();
    assert.match(said, /^“holiday\.png” was not sent: the content .*image\/png[^.]*\.$/, said);
    const refused = w.locator('.pc-mine.pc-failed', { hasText: 'holiday.png' });
    const note = await refused.locator('.pc-error-note').textContent();
    assert.match(note, /^Not sent: the content .*image\/png/, note);
    await shot(customer, 'widget-attachments');
    await w.getByRole('button', { name: 'Dismiss' }).click();
    assert.equal(await alert.isHidden(), true);

    // Too large: refused before a byte is sent, with the limit in words.
    await w.locator('#pcw-file').setInputFiles({ name: 'video.zip', mimeType: 'application/zip', buffer: Buffer.alloc(10 * 1024 * 1024 + 1, 0x50) });
    await alert.locator('.pcw-attach-text', { hasText: '“video.zip” is too large to send: the limit is 10 MB.' }).waitFor();

    // A file name with markup stays text, in the widget and in the error.
    const evil = '<img src=x onerror=alert(1)>.png';
    await w.locator('#pcw-file').setInputFiles({ name: evil, mimeType: 'image/png', buffer: Buffer.from('<svg onload=alert(2)>') });
    await w.locator('.pc-failed .pc-att-name', { hasText: evil }).waitFor();
    await alert.locator('.pcw-attach-text', { hasText: `“${evil}” was not sent` }).waitFor();
    assert.equal(await w.locator('img[src="x"]').count(), 0);

    // None of the refused files reached the agent; the desk shows the good ones.
    await desk.locator('.pc-theirs .pc-att').nth(2).waitFor();
    assert.equal(await desk.locator('.pc-theirs .pc-att').count(), 3);
    await desk.locator('.pc-theirs .pc-att-image').scrollIntoViewIfNeeded();
    await shot(desk, 'desk-attachments');

    assert.deepEqual(dialogs, []);
    assert.deepEqual([...customer.problems, ...desk.problems], []);
  } finally {
    await browser.close();
  }
});

test('a picture sent on the chat page shows as a thumbnail on the other side', async () => {
  const browser = await launch();
  try {
    const open = async (sub, name) => {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
      page.problems = watch(page, `chat ${sub}`);
      await page.goto(`${BASE}/chat#token=${encodeURIComponent(await devToken(sub, 'user', name))}`);
      await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
      return page;
    };
    const alice = unique('alice');
    const bob = unique('bob');
    const bobPage = await open(bob, 'Bob');
    const alicePage = await open(alice, 'Alice');
    const start = alicePage.getByLabel('Start a conversation with user id');
    if (!(await start.isVisible())) {
      await alicePage.locator('.notice', { hasText: 'not available' }).waitFor();
      return;
    }
    await start.fill(bob);
    await alicePage.getByRole('button', { name: 'Message' }).click();
    await alicePage.getByLabel('Message', { exact: true }).fill('Look at this:');
    await alicePage.getByLabel('Message', { exact: true }).press('Enter');
    assert.equal(await alicePage.getByRole('button', { name: 'Attach a file' }).count(), 1);
    await alicePage.getByLabel('Choose files to send').setInputFiles({ name: 'sunset.png', mimeType: 'image/png', buffer: png(320, 200) });
    await bobPage.locator('.queue-item').first().click();
    const theirs = bobPage.locator('.pc-theirs a.pc-att-image');
    await theirs.waitFor();
    assert.equal(await theirs.getAttribute('aria-label'), `Open image sunset.png (${formatKB(png(320, 200).length)})`);
    const seen = await picture(theirs, "the thumbnail at Bob's");
    assert.ok(seen.src.startsWith('blob:'));
    assert.ok(seen.w <= 320 && seen.w > 0);
    await eventually(async () => (await alicePage.locator('.pc-mine.pc-with-file').getAttribute('data-id')) !== '', { message: 'stored at Alice' });
    await shot(bobPage, 'chat-attachment');
    assert.deepEqual([...alicePage.problems, ...bobPage.problems], []);
  } finally {
    await browser.close();
  }
});

/** formatBytes of the client for sizes from 1 KB to 1 MB. */
function formatKB(n) {
  const v = n / 1024;
  return `${v >= 10 ? Math.round(v) : Math.round(v * 10) / 10} KB`;
}

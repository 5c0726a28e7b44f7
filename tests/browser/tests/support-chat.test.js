// A customer and an agent, in two browser contexts, complete a whole support
// chat: start, wait, claim, talk, typing, read ticks, internal note, end, rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, unique, customerPage, deskPage, widget, openWidget, startChat, widgetSend,
  bodies, eventually, shot,
} from '../lib.js';

test('a customer and an agent complete a whole chat', async () => {
  const browser = await launch();
  try {
    const customerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const agentContext = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const sub = unique('carol');
    const subject = `Where is order ${sub}?`;

    const customer = await customerPage(customerContext, sub, 'Carol Customer');
    const w = widget(customer);
    await openWidget(customer);
    await w.getByLabel('Subject').waitFor();
    await shot(customer, 'widget-start');
    await startChat(customer, { subject, category: 'shipping', message: 'Hi, my order has not arrived.' });
    await w.locator('.pcw-subtitle', { hasText: 'Waiting for an agent' }).waitFor();
    await widgetSend(customer, 'It was due on Monday.');
    await eventually(async () => (await bodies(w)).length === 2, { message: 'two customer messages' });

    // The agent sees the chat in the New tab, live, and claims it.
    const desk = await deskPage(agentContext, unique('ann'), 'Ann Agent');
    const item = desk.locator('.queue-item', { hasText: subject });
    await item.waitFor();
    await shot(desk, 'desk-queue');
    await item.click();
    await desk.getByRole('button', { name: 'Claim' }).click();
    await desk.locator('.chat-header .chip', { hasText: 'Active · you' }).waitFor();

    // The customer is told an agent joined; the header names the agent.
    await w.locator('.pc-notice', { hasText: 'Ann Agent joined the chat' }).waitFor();
    await w.locator('.pcw-title', { hasText: 'Ann Agent' }).waitFor();

    // The agent read the customer's messages: both show the read tick.
    await eventually(async () => {
      const ticks = await w.locator('.pc-mine .pc-receipt').evaluateAll((els) => els.map((e) => e.dataset.receipt));
      return ticks.length === 2 && ticks.every((t) => t === 'read');
    }, { message: 'read ticks on the customer side' });

    // Typing, both ways.
    const reply = desk.getByLabel('Reply');
    await reply.pressSequentially('Hello Car', { delay: 20 });
    await w.locator('.pc-typing', { hasText: 'Ann Agent is typing' }).waitFor();
    await reply.fill('Hello Carol, let me check that for you.');
    await reply.press('Enter');
    await w.locator('.pc-theirs .pc-body', { hasText: 'let me check that for you' }).waitFor();
    await w.locator('.pc-typing').waitFor({ state: 'detached' });

    const input = w.locator('#pcw-input');
    await input.pressSequentially('Thank', { delay: 20 });
    await desk.locator('.pc-typing', { hasText: 'Carol Customer is typing' }).waitFor();
    await input.fill('Thank you!');
    await input.press('Enter');
    await desk.locator('.pc-theirs .pc-body', { hasText: 'Thank you!' }).waitFor();

    // The open widget read the agent's message: the desk shows it read.
    await eventually(async () => (await desk.locator('.pc-mine .pc-receipt').last().getAttribute('data-receipt')) === 'read',
      { message: 'read tick on the desk' });

    // An internal note: visibly distinct on the desk, never shown to the customer.
    await desk.getByRole('tab', { name: 'Internal note' }).click();
    await desk.getByLabel('Internal note').fill('VIP customer: offer free shipping.');
    await desk.getByLabel('Internal note').press('Enter');
    const note = desk.locator('.pc-internal', { hasText: 'VIP customer' });
    await note.waitFor();
    assert.notEqual(
      await note.locator('.pc-bubble').evaluate((e) => getComputedStyle(e).backgroundColor),
      await desk.locator('.pc-mine:not(.pc-internal) .pc-bubble').first().evaluate((e) => getComputedStyle(e).backgroundColor),
      'an internal note looks different from a reply',
    );
    await desk.getByRole('tab', { name: 'Reply' }).click();
    await desk.getByLabel('Reply').fill('Good news: it ships today.');
    await desk.getByLabel('Reply').press('Enter');
    await w.locator('.pc-body', { hasText: 'Good news' }).waitFor();
    assert.ok(!(await bodies(w)).some((b) => b.includes('VIP')), 'the customer never sees the note');
    await shot(desk, 'desk-chat');
    await shot(customer, 'widget-chat');

    // Date separator, timestamps and grouping.
    assert.equal(await w.locator('.pc-day').first().textContent(), 'Today');
    assert.ok((await w.locator('.pc-msg time').count()) >= 4);
    assert.ok((await w.locator('.pc-mine.pc-first').count()) < (await w.locator('.pc-mine').count()), 'consecutive messages are grouped');

    // The agent ends the chat; the customer rates it.
    await desk.getByRole('button', { name: 'End chat' }).click();
    await w.getByRole('radiogroup', { name: 'Rating' }).waitFor();
    await shot(customer, 'widget-rating');
    await w.getByRole('radio', { name: '4 stars' }).click();
    await w.getByLabel('Feedback').fill('Quick and friendly.');
    await w.getByRole('button', { name: 'Send rating' }).click();
    await w.getByText('Thanks for your feedback!').waitFor();
    await desk.locator('.ended-note', { hasText: 'Rated ★★★★☆' }).waitFor();
    await desk.locator('.ended-note', { hasText: 'Quick and friendly.' }).waitFor();

    assert.deepEqual([...customer.problems, ...desk.problems], []);
  } finally {
    await browser.close();
  }
});

test('the widget is usable on a phone and by keyboard', async () => {
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
    const page = await customerPage(context, unique('pat'), 'Pat Phone');
    const w = widget(page);
    // Keyboard only: focus the launcher, open with Enter, fill the form, Escape closes.
    await w.locator('.pcw-launcher').focus();
    await page.keyboard.press('Enter');
    await w.getByLabel('Subject').waitFor();
    assert.equal(await w.locator('.pcw-launcher').getAttribute('aria-expanded'), 'true');
    await w.locator('.pcw-panel').evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
    const box = await w.locator('.pcw-panel').boundingBox();
    const viewport = await page.evaluate(() => window.innerWidth);
    assert.ok(Math.abs(box.width - viewport) < 1 && box.x === 0, `the panel fills a phone's width (${box.width} of ${viewport})`);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'nothing scrolls sideways');
    await page.keyboard.type('Login problem');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.type('I cannot sign in.');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await w.locator('#pcw-input').waitFor();
    await eventually(async () => (await bodies(w)).includes('I cannot sign in.'), { message: 'the first message' });
    await shot(page, 'widget-mobile');
    // Labelled controls.
    for (const name of ['Message', 'Send message', 'Minimize chat']) {
      assert.equal(await w.getByLabel(name, { exact: true }).count(), 1, `a control labelled ${name}`);
    }
    await page.keyboard.press('Escape');
    assert.equal(await w.locator('.pcw-launcher').getAttribute('aria-expanded'), 'false');
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

// pgchat('identify', {...}) from the host page (issue 19): with the user id's
// HMAC under the site's secret (the suite's server has PGCHAT_IDENTITY_SECRET)
// the widget signs that customer in, verified, before or after it loaded; a
// wrong hash or none leaves the visitor as they were, unverified, with the
// details given kept on their contact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { BASE, launch, unique, watch, widget, startChat, api, devToken, eventually } from '../lib.js';

const SECRET = process.env.PGCHAT_IDENTITY_SECRET;
const hash = (id) => createHmac('sha256', SECRET).update(id).digest('hex');

/** The landing page as a host page whose pgchat queue holds `calls` before the widget loads. */
async function hostPage(browser, visitor, calls = []) {
  const page = await (await browser.newContext()).newPage();
  page.problems = watch(page, `host page ${visitor}`);
  await page.addInitScript((queued) => {
    window.pgchat = window.pgchat || function () { (window.pgchat.q = window.pgchat.q || []).push(arguments); };
    for (const args of queued) window.pgchat(...args);
  }, calls);
  await page.goto(`${BASE}/?user=${encodeURIComponent(visitor)}&name=Visitor`);
  await page.waitForSelector('#pgchat-widget[data-ready="true"]', { state: 'attached' });
  return page;
}

async function contact(sub) {
  const agent = await devToken('identity-agent', 'agent', 'Ida');
  return api(agent, 'GET', `/v1/contacts/${encodeURIComponent(sub)}`);
}

test('identify with a correct user hash signs the host customer in, verified, with their details', async () => {
  assert.ok(SECRET, 'PGCHAT_IDENTITY_SECRET (set by tests/browser.rs)');
  const browser = await launch();
  try {
    const userId = unique('shop-user');
    const page = await hostPage(browser, unique('visitor'), [['identify', {
      user_id: userId, user_hash: hash(userId), name: 'Hana Host', email: `${userId}@shop.example`,
      attributes: { plan: 'pro', orders: 3 },
    }]]);
    assert.equal(await widget(page).getAttribute('data-user'), userId);
    await startChat(page, { subject: 'Verified', message: 'It is me' });
    const seen = await eventually(async () => {
      const r = await contact(userId);
      return r.status === 200 && r.body.name === 'Hana Host' && r.body;
    }, { message: 'the identified contact' });
    assert.equal(seen.verified, true);
    assert.equal(seen.email, `${userId}@shop.example`);
    assert.deepEqual(seen.attributes, { plan: 'pro', orders: 3 });
    assert.equal(seen.context.page_title, 'pgchat');
    assert.equal(seen.session_count, 1);
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('identify after the page loaded: a wrong hash changes nobody, a correct one signs the customer in', async () => {
  const browser = await launch();
  try {
    const visitor = unique('visitor');
    const page = await hostPage(browser, visitor);
    assert.equal(await widget(page).getAttribute('data-user'), visitor);

    const claimed = unique('shop-user');
    await page.evaluate((id) => window.pgchat('identify', { user_id: id, user_hash: '0'.repeat(64), attributes: { plan: 'free' } }), claimed);
    // The visitor keeps their identity; the claimed id is kept, unverified.
    const unverified = await eventually(async () => {
      const r = await contact(visitor);
      return r.body.attributes?.plan === 'free' && r.body;
    }, { message: 'the claim kept on the visitor' });
    assert.deepEqual([unverified.verified, unverified.attributes.user_id], [false, claimed]);
    assert.equal((await contact(claimed)).status, 404, 'nobody signed in as the claimed id');
    assert.equal(await widget(page).getAttribute('data-user'), visitor);

    const userId = unique('shop-user');
    await page.evaluate(([id, h]) => window.pgchat('identify', { user_id: id, user_hash: h, name: 'Yan' }), [userId, hash(userId)]);
    await page.waitForSelector(`#pgchat-widget[data-ready="true"][data-user="${userId}"]`, { state: 'attached' });
    assert.equal(await page.locator('#pgchat-widget').count(), 1, 'one widget');
    const verified = await eventually(async () => {
      const r = await contact(userId);
      return r.body.name === 'Yan' && r.body;
    }, { message: 'the signed-in customer' });
    assert.equal(verified.verified, true);
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('identify without a user id keeps the details on the visitor, unverified', async () => {
  const browser = await launch();
  try {
    const visitor = unique('visitor');
    const page = await hostPage(browser, visitor, [['identify', { name: 'Nia', email: `${visitor}@example.com`, attributes: { tier: 'gold' } }]]);
    const seen = await eventually(async () => {
      const r = await contact(visitor);
      return r.body.name === 'Nia' && r.body;
    }, { message: 'the visitor identified' });
    assert.deepEqual([seen.verified, seen.email, seen.attributes], [false, `${visitor}@example.com`, { tier: 'gold' }]);
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

// Offline mode (issue 19): the widget asks GET /v1/support/availability and
// says what it answers — outside business hours that the desk is away and
// when it is back, the visitor's email asked for and saved, the chat waiting
// as a ticket; with an agent online, the expected first reply from the
// server's recent figures (never a constant). Business hours are global on
// the suite's one server: the schedule is put back as it was in `finally`
// (the files of the suite and the tests of a file run one at a time), and the
// agent put online here goes offline again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, launch, unique, customerPage, widget, openWidget, startChat, openSession, api, devToken, shot,
} from '../lib.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const ALL_WEEK = Object.fromEntries(DAYS.map((d) => [d, [{ open: '00:00', close: '24:00' }]]));
const day = (offset) => new Date(Date.now() + offset * 86400e3).toISOString().slice(0, 10);

/** Runs `fn` with `schedule` as the business hours, then puts the old ones back. */
async function withHours(schedule, fn) {
  const admin = await devToken(unique('boss'), 'admin', 'Boss');
  const saved = await api(admin, 'GET', '/v1/admin/business-hours');
  assert.equal(saved.status, 200, JSON.stringify(saved.body));
  const put = await api(admin, 'PUT', '/v1/admin/business-hours', schedule);
  assert.equal(put.status, 200, JSON.stringify(put.body));
  try {
    return await fn();
  } finally {
    const plain = ({ time_zone, weekly, holidays }) => ({ time_zone, weekly, holidays });
    const back = await api(admin, 'PUT', '/v1/admin/business-hours', {
      desk: saved.body.desk ? plain(saved.body.desk) : null,
      teams: saved.body.teams.map((t) => ({ team_id: t.team_id, ...plain(t) })),
    });
    assert.equal(back.status, 200, `the business hours put back: ${JSON.stringify(back.body)}`);
  }
}

test('outside business hours the widget says so, asks for an email and the chat waits as a ticket', async () => {
  // Open all week, but today and tomorrow (UTC) are holidays: closed, back the day after.
  await withHours({ desk: { time_zone: 'UTC', weekly: ALL_WEEK, holidays: [day(0), day(1)] } }, async () => {
    const browser = await launch();
    try {
      const sub = unique('olga');
      const customer = await customerPage(await browser.newContext(), sub, 'Olga');
      const w = widget(customer);
      await openWidget(customer);
      await w.locator('.pcw-start[data-availability="away"]').waitFor();
      assert.match(await w.locator('.pcw-subtitle').textContent(), /^We are away · back \S/);
      assert.match(await w.locator('.pcw-hello').textContent(), /Leave us a message and we will get back to you by email\./);
      assert.doesNotMatch(await w.locator('.pcw-panel').textContent(), /typically reply|few minutes|within minutes/);
      await shot(customer, 'widget-away');

      await w.getByLabel('Your email').fill(`${sub}@example.com`);
      await startChat(customer, { subject: 'After hours', message: 'Anyone there?' });

      // The chat waits as a ticket; the visitor is told, and how the answer reaches them.
      const note = w.locator('.pcw-queue', { hasText: 'We are away' });
      await note.waitFor();
      assert.match(await note.textContent(), /as soon as we are back, here and by email\./);
      const mine = await api(await devToken(sub, 'user', 'Olga'), 'GET', '/v1/support/sessions');
      const session = mine.body.items.find((s) => s.subject === 'After hours');
      assert.deepEqual([session.status, session.offline], ['waiting', true]);

      // The agent sees the address and where the visitor wrote from (sent by the widget).
      const agent = await devToken(unique('ann'), 'agent', 'Ann');
      const contact = (await api(agent, 'GET', `/v1/contacts/${sub}`)).body;
      assert.equal(contact.email, `${sub}@example.com`);
      assert.equal(contact.context.page_url, `${BASE}/?user=${sub}&name=Olga`);
      assert.equal(contact.context.page_title, 'pgchat');
      assert.match(contact.context.locale, /^[a-z]{2}(-[A-Z]{2})?$/);
      assert.match(contact.context.user_agent, /Chrome/);
      assert.deepEqual(customer.problems, []);
    } finally {
      await browser.close();
    }
  });
});

test('with an agent online the widget shows the expected first reply from recent figures', async () => {
  const agent = await devToken(unique('ann'), 'agent', 'Ann');
  assert.equal((await api(agent, 'PUT', '/v1/agents/me', { status: 'online' })).status, 200);
  const browser = await launch();
  try {
    // An answered chat makes a figure.
    const { session } = await openSession(unique('early'), 'Early Bird', 'Figure');
    const reply = await api(agent, 'POST', `/v1/conversations/${session.conversation_id}/messages`,
      { body: 'Hello!', client_msg_id: crypto.randomUUID() });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));

    const sub = unique('vera');
    const now = (await api(await devToken(sub, 'user', 'Vera'), 'GET', '/v1/support/availability')).body;
    assert.equal(now.open, true, JSON.stringify(now));
    const secs = now.expected_first_reply_secs;
    assert.equal(typeof secs, 'number', JSON.stringify(now));
    const minutes = Math.round(secs / 60);
    const expected = secs < 60 ? 'Usually replies in under a minute'
      : minutes < 90 ? `Usually replies in ~${minutes} minute${minutes > 1 ? 's' : ''}`
        : `Usually replies in ~${Math.round(minutes / 60)} hours`;

    const customer = await customerPage(await browser.newContext(), sub, 'Vera');
    const w = widget(customer);
    await openWidget(customer);
    await w.locator('.pcw-start[data-availability="open"]').waitFor();
    assert.equal(await w.locator('.pcw-subtitle').textContent(), expected);
    assert.match(await w.locator('.pcw-hello').textContent(), new RegExp(`Ask us anything\\. ${expected}\\.`));
    assert.equal(await w.getByLabel('Your email').isVisible(), false, 'no email asked while open');
    assert.deepEqual(customer.problems, []);
  } finally {
    await browser.close();
    await api(agent, 'PUT', '/v1/agents/me', { status: 'offline' });
  }
});

// The desk's admin screens (issue 20): teams and their agents, business hours
// saved and read back after a reload, reports drawn as SVG from
// /v1/admin/reports (a bar per figure) with a CSV download, the desk
// settings and an email template saved; each screen passes axe and fits a
// 390-pixel phone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, unique, deskPage, openSession, api, devToken, eventually, shot, axeViolations, PHONE } from '../lib.js';

const WIDE = { width: 1440, height: 900 };

async function admin(browser, viewport = WIDE) {
  const boss = unique('boss');
  const page = await deskPage(await browser.newContext({ viewport, acceptDownloads: true }), boss, 'Boss', 'admin');
  return { page, token: await devToken(boss, 'admin', 'Boss') };
}

const screen = async (page, name) => {
  await page.getByRole('navigation', { name: 'Desk screens' }).getByRole('button', { name, exact: true }).click();
  await page.locator('.screen h1', { hasText: name === 'Hours' ? 'Business hours' : name }).waitFor();
};

test('admins create a team, rename it and put an agent in it', async () => {
  const browser = await launch();
  try {
    const ann = unique('ann');
    await api(await devToken(ann, 'agent', 'Ann Agent'), 'PUT', '/v1/agents/me', { status: 'online' });
    const { page, token } = await admin(browser);
    await screen(page, 'Teams');
    const name = `Billing ${unique('t').slice(-6)}`;
    await page.getByLabel('Team name').fill(name);
    await page.getByLabel('Team description').fill('Invoices and refunds');
    await page.getByRole('button', { name: 'Create team' }).click();
    const card = page.locator('.team-card', { hasText: name });
    await card.waitFor();
    await card.getByLabel(`Agent to add to ${name}`).selectOption(ann);
    await card.getByRole('button', { name: `Add to ${name}` }).click();
    await page.locator('.team-card', { hasText: name }).locator('.member-list li', { hasText: 'Ann Agent' }).waitFor();
    const team = (await api(token, 'GET', '/v1/teams')).body.items.find((t) => t.name === name);
    assert.deepEqual(team.members, [ann]);
    assert.equal(team.description, 'Invoices and refunds');

    const renamed = `${name} EU`;
    await page.getByLabel(`Name of ${name}`).fill(renamed);
    await page.getByRole('button', { name: `Rename ${name}` }).click();
    await page.locator('.team-card h2', { hasText: renamed }).waitFor();
    assert.deepEqual(await axeViolations(page), [], 'teams screen');
    await shot(page, 'desk-teams');
    await page.getByRole('button', { name: `Remove Ann Agent from ${renamed}` }).click();
    await eventually(async () => (await api(token, 'GET', '/v1/teams')).body.items.find((t) => t.id === team.id).members.length === 0,
      { message: 'Ann taken out' });
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: `Delete ${renamed}` }).click();
    await eventually(async () => !(await api(token, 'GET', '/v1/teams')).body.items.some((t) => t.id === team.id), { message: 'deleted' });
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test("a team's business hours are saved and read back after a reload", async () => {
  const browser = await launch();
  try {
    const { page, token } = await admin(browser);
    // A team's schedule: the desk stays always open for the other tests.
    const name = `Nights ${unique('t').slice(-6)}`;
    const team = (await api(token, 'POST', '/v1/teams', { name })).body;
    await screen(page, 'Hours');
    await page.locator('.availability').waitFor();
    await page.getByLabel('Schedule of').selectOption(team.id);
    await page.getByLabel('Same as the desk').uncheck();
    await page.getByLabel('Time zone').fill('Europe/Paris');
    await page.getByLabel('Monday').fill('09:00-12:00, 14:00-18:00');
    await page.getByLabel('Saturday').fill('10:00-16:00');
    await page.getByLabel(/Holidays/).fill('2026-12-25, 2027-01-01');
    await page.getByRole('button', { name: 'Save hours' }).click();
    await eventually(async () => (await api(token, 'GET', '/v1/admin/business-hours')).body.teams.some((t) => t.team_id === team.id),
      { message: 'saved' });
    const saved = (await api(token, 'GET', '/v1/admin/business-hours')).body;
    const mine = saved.teams.find((t) => t.team_id === team.id);
    assert.equal(saved.desk, null, 'the desk is still always open');
    assert.equal(mine.time_zone, 'Europe/Paris');
    assert.deepEqual(mine.weekly, { mon: [{ open: '09:00', close: '12:00' }, { open: '14:00', close: '18:00' }], sat: [{ open: '10:00', close: '16:00' }] });
    assert.deepEqual(mine.holidays, ['2026-12-25', '2027-01-01']);

    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    await screen(page, 'Hours');
    await page.getByLabel('Schedule of').selectOption(team.id);
    await eventually(async () => (await page.getByLabel('Monday').inputValue()) === '09:00-12:00, 14:00-18:00', { message: 'Monday read back' });
    assert.equal(await page.getByLabel('Time zone').inputValue(), 'Europe/Paris');
    assert.equal(await page.getByLabel('Tuesday').inputValue(), '');
    assert.match(await page.getByLabel(/Holidays/).inputValue(), /2026-12-25, 2027-01-01/);
    assert.match(await page.locator('.availability').textContent(), /Open now|Closed now|Within hours/);
    assert.deepEqual(await axeViolations(page), [], 'hours screen');
    await shot(page, 'desk-hours');
    await api(token, 'DELETE', `/v1/teams/${team.id}`);
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('reports are drawn as SVG bars from the report, and download as CSV', async () => {
  const browser = await launch();
  try {
    for (let i = 0; i < 3; i++) await openSession(unique('rita'), 'Rita', `Report ${i}`);
    const { page, token } = await admin(browser);
    await screen(page, 'Reports');
    await page.locator('svg[role="img"] rect.bar').first().waitFor({ state: 'attached' });
    const from = await page.getByLabel('From', { exact: true }).inputValue();
    const to = await page.getByLabel('To', { exact: true }).inputValue();
    const q = new URLSearchParams({ from: `${from}T00:00:00Z`, to: new Date(Date.parse(`${to}T00:00:00Z`) + 86400e3).toISOString(), group_by: 'day' });
    const report = (await api(token, 'GET', `/v1/admin/reports?${q}`)).body;
    assert.equal(report.rows.length, 14, 'two weeks by day');
    const opened = await page.locator('rect.bar.opened').evaluateAll((bars) => bars.map((b) => Number(b.dataset.value)));
    assert.deepEqual(opened, report.rows.map((r) => r.sessions_opened), 'a bar per day, with its figure');
    assert.ok(opened.reduce((a, b) => a + b, 0) >= 3);
    const resolved = await page.locator('rect.bar.resolved').count();
    assert.equal(resolved, report.rows.length);
    assert.equal(await page.locator('.report-table tbody tr').count(), report.rows.length);
    // How the customers felt: the mean sentiment's label and figure, per row.
    const moods = await page.locator('.report-table tbody tr td:last-child').allTextContents();
    assert.deepEqual(moods.map((m) => m.split(' ')[0]), report.rows.map((r) => (r.sentiment.average === null ? '–'
      : r.sentiment.average >= 0.05 ? 'positive' : r.sentiment.average <= -0.05 ? 'negative' : 'neutral')));
    // The tallest bar is the day with the most sessions.
    const heights = await page.locator('rect.bar.opened').evaluateAll((bars) => bars.map((b) => Number(b.getAttribute('height'))));
    const top = Math.max(...opened);
    assert.ok(heights[opened.indexOf(top)] >= Math.max(...heights) - 0.01);
    assert.deepEqual(await axeViolations(page), [], 'reports screen');
    await shot(page, 'desk-reports');

    await page.getByLabel('By', { exact: true }).selectOption('agent');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.locator('.report-table thead th', { hasText: 'Agent' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.match(download.suggestedFilename(), /^pgchat-report-agent-.*\.csv$/);
    const csv = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
    assert.match(csv, /^key,name,sessions_opened,/);
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

test('admins save the desk settings and an email template', async () => {
  const browser = await launch();
  const { page, token } = await admin(browser);
  const before = (await api(token, 'GET', '/v1/admin/settings')).body;
  try {
    await screen(page, 'Settings');
    await page.getByLabel('First-response target (seconds)').fill('300');
    await page.getByLabel('Reopen window (seconds)').fill('86400');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await eventually(async () => (await api(token, 'GET', '/v1/admin/settings')).body.sla_first_response_secs === 300, { message: 'SLA saved' });
    const after = (await api(token, 'GET', '/v1/admin/settings')).body;
    assert.equal(after.reopen_window_secs, 86400);
    assert.equal(after.assignment_mode, before.assignment_mode, 'unchanged fields are not sent');
    assert.ok(after.admin_set.includes('sla_first_response_secs') && !after.admin_set.includes('assignment_mode'));

    const reply = page.locator('form[data-template="reply"]');
    await reply.getByLabel('Subject').fill('{agent_name} answered: {subject}');
    await reply.getByLabel('Text').fill('Hi {customer_name},\n\n{message}\n\nThe team');
    await reply.getByRole('button', { name: 'Save email: reply' }).click();
    await eventually(async () => (await api(token, 'GET', '/v1/admin/email-templates')).body.items.find((t) => t.kind === 'reply').subject === '{agent_name} answered: {subject}',
      { message: 'template saved' });
    // A placeholder the email does not fill is refused, in words.
    await reply.getByLabel('Text').fill('Hi {customer}');
    await reply.getByRole('button', { name: 'Save email: reply' }).click();
    await page.locator('.toast', { hasText: /\{customer\} is not a placeholder/ }).waitFor();
    assert.match(await page.locator('.webhook-status').textContent(), /No webhook configured/);
    assert.deepEqual(await axeViolations(page), [], 'settings screen');
    await shot(page, 'desk-settings');
    assert.deepEqual(page.problems, []);
  } finally {
    await api(token, 'PATCH', '/v1/admin/settings', { sla_first_response_secs: before.sla_first_response_secs, reopen_window_secs: before.reopen_window_secs });
    await browser.close();
  }
});

test('the admin screens fit a 390-pixel phone and pass axe there', async () => {
  const browser = await launch();
  try {
    const { page } = await admin(browser, PHONE);
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    for (const name of ['Teams', 'Hours', 'Reports', 'Settings']) {
      await page.getByRole('navigation', { name: 'Desk screens' }).getByRole('button', { name, exact: true }).scrollIntoViewIfNeeded();
      await screen(page, name);
      if (name === 'Reports') await page.locator('.report-table, .screen .empty').first().waitFor();
      assert.ok(await fits(), `${name}: no sideways scrolling`);
      assert.deepEqual(await axeViolations(page), [], `${name} on a phone`);
      await shot(page, `desk-${name.toLowerCase()}-phone`);
    }
    assert.deepEqual(page.problems, []);
  } finally {
    await browser.close();
  }
});

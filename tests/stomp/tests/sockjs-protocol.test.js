// SockJS's rules spoken by hand over HTTP (the xhr transports): `o` first,
// `a[…]` frames, one receiver at a time, xhr_send's answers, unknown and
// timed-out sessions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BASE, devToken, eventually, unique } from '../lib.js';

const post = (path, body) => fetch(`${BASE}/ws/000/${path}`, { method: 'POST', body });

test('xhr polling and sending follow SockJS framing', async () => {
  const session = randomUUID();
  const token = await devToken(unique('sj'));
  const open = await post(`${session}/xhr`);
  assert.equal(open.status, 200);
  assert.equal(await open.text(), 'o\n');

  const connect = `CONNECT\naccept-version:1.2\nheart-beat:0,0\nAuthorization:Bearer ${token}\n\n\0`;
  const sent = await post(`${session}/xhr_send`, JSON.stringify([connect]));
  assert.equal(sent.status, 204);
  const frames = await (await post(`${session}/xhr`)).text();
  assert.match(frames, /^a\[/);
  const [connected] = JSON.parse(frames.slice(1));
  assert.match(connected, /^CONNECTED\n/);

  // a second receiver while one waits is told so at once. Two polls race: whichever
  // reaches the server second is the one refused, and the other keeps waiting.
  const polls = [post(`${session}/xhr`), post(`${session}/xhr`)].map((p) => p.then((r) => r.text()));
  const refused = await Promise.race(polls.map((p, i) => p.then((text) => ({ i, text }))));
  assert.equal(refused.text, 'c[2010,"Another connection still open"]\n');
  const waiting = polls[1 - refused.i];
  // the waiting poll gets the RECEIPT of a DISCONNECT, then the session says go away
  await post(`${session}/xhr_send`, JSON.stringify(['DISCONNECT\nreceipt:bye\n\n\0']));
  assert.match(await waiting, /RECEIPT\\nreceipt-id:bye/);
  const gone = await (await post(`${session}/xhr`)).text();
  assert.equal(gone, 'c[3000,"Go away!"]\n');

  assert.equal((await post(`${randomUUID()}/xhr_send`, '["x"]')).status, 404, 'unknown session');
  const other = randomUUID();
  await post(`${other}/xhr`);
  assert.equal((await post(`${other}/xhr_send`, '')).status, 500);
  assert.equal(await (await post(`${other}/xhr_send`, '[broken')).text(), 'Broken JSON encoding.');
});

test('a session without a receiver times out', async () => {
  const session = randomUUID();
  assert.equal(await (await post(`${session}/xhr`)).text(), 'o\n');
  assert.equal((await post(`${session}/xhr_send`, '["\\n"]')).status, 204);
  // nobody polls: after the disconnect delay (5 s) the session is gone
  await eventually(async () => (await post(`${session}/xhr_send`, '["\\n"]')).status === 404, {
    timeout: 15000, interval: 250, message: 'the session to time out',
  });
});

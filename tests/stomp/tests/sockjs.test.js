// @stomp/stompjs 7 over sockjs-client 1.6, one transport forced at a time, as
// `Stomp.over(new SockJS('/ws'))` frontends connect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, chatScenario } from '../lib.js';

test('SockJS info and greeting', async () => {
  const info = await fetch(`${BASE}/ws/info?t=1`);
  assert.equal(info.status, 200);
  const body = await info.json();
  assert.equal(body.websocket, true);
  assert.equal(body.cookie_needed, false);
  const greeting = await fetch(`${BASE}/ws`);
  assert.equal(await greeting.text(), 'Welcome to SockJS!\n');
});

test('stompjs over SockJS websocket transport', async () => {
  await chatScenario('websocket');
});

test('stompjs over SockJS xhr-streaming transport', async () => {
  await chatScenario('xhr-streaming');
});

test('stompjs over SockJS xhr-polling transport', async () => {
  await chatScenario('xhr-polling');
});

// @stomp/stompjs 7 over a plain WebSocket (the `ws` package), as a Spring-style
// frontend uses it: bearer token in CONNECT, /topic/chat/{id} and /app/chat/{id}/….
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@stomp/stompjs';
import {
  STOMP_URL, chatScenario, connect, devToken, eventually, publish, subscribe, supportChat, unique,
} from '../lib.js';

test('stompjs over ws: send, receive, typing, receipts, refusal and resume', async () => {
  await chatScenario('ws');
});

test('stompjs over ws: heart-beats flow both ways and keep the connection', async () => {
  // The server offers 1000 ms heart-beats (PGCHAT_STOMP_HEARTBEAT_MS in tests/stomp.rs).
  const token = await devToken(unique('beat'));
  const client = await connect(token, 'ws', { heartbeatIncoming: 1000, heartbeatOutgoing: 1000 });
  try {
    assert.equal(client.connectedFrame.headers['heart-beat'], '1000,1000');
    await eventually(() => client.log.filter((l) => l === '<<< PONG').length >= 3, { message: 'three server heart-beats' });
    assert.ok(client.log.filter((l) => l === '>>> PING').length >= 2, 'the client beat too');
    assert.equal(client.connected, true);
    assert.deepEqual(client.errors, []);
  } finally {
    await client.deactivate();
  }
});

test('a bad token is refused with ERROR', async () => {
  const errors = [];
  const client = new Client({
    brokerURL: STOMP_URL, connectHeaders: { Authorization: 'Bearer nope' }, reconnectDelay: 0, debug: () => {},
  });
  client.onStompError = (frame) => errors.push(frame);
  client.activate();
  try {
    await eventually(() => errors.length > 0, { message: 'ERROR for a bad token' });
    assert.equal(errors[0].headers['x-error-code'], 'unauthorized');
  } finally {
    await client.deactivate();
  }
});

test('the inbox and the other feeds of a chat', async () => {
  const chat = await supportChat();
  const customer = await connect(chat.customer.token, 'ws');
  const agent = await connect(chat.agent.token, 'ws');
  try {
    const inbox = await subscribe(agent, '/user/queue/inbox');
    const reads = await subscribe(agent, `/topic/chat/${chat.id}/read`);
    const messages = await subscribe(customer, `/topic/chat/${chat.conversation}`);
    assert.deepEqual(agent.errors, []);
    assert.deepEqual(customer.errors, []);
    // the conversation id names the same chat as the session id
    await publish(agent, `/app/chat/${chat.conversation}/send`, { content: 'by conversation id' });
    await eventually(() => messages.bodies().some((b) => b.content === 'by conversation id'), { message: 'message by conversation id' });
    assert.equal(messages.bodies().find((b) => b.content === 'by conversation id').chatId, chat.conversation);
    await publish(customer, `/app/chat/${chat.id}/read`, {});
    await eventually(() => reads.bodies().some((b) => b.userId === chat.customer.sub), { message: 'read position' });
    await eventually(() => inbox.got.length > 0, { message: 'an inbox event' });
  } finally {
    await customer.deactivate();
    await agent.deactivate();
  }
});

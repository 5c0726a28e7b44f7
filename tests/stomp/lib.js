// Shared pieces of the STOMP client tests: the server under test, tokens, a
// support chat between a customer and an agent, and @stomp/stompjs clients
// over `ws` or over sockjs-client with one transport forced.
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import SockJS from 'sockjs-client';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BASE, unique, devToken, api } from '../node_common.mjs';
export { BASE, unique, devToken, api };

// Node 20 has no global WebSocket; stompjs's `brokerURL` needs one.
Object.assign(globalThis, { WebSocket });

export const STOMP_URL = `${BASE.replace(/^http/, 'ws')}/ws`;
export const SOCKJS_URL = `${BASE}/ws`;

/** A customer opens a support chat and an agent claims it; plus a stranger. */
export async function supportChat() {
  const customer = { sub: unique('cust'), name: 'Carla Customer' };
  const agent = { sub: unique('agent'), name: 'Arno Agent' };
  const stranger = { sub: unique('other'), name: 'Olga Other' };
  customer.token = await devToken(customer.sub, 'user', customer.name);
  agent.token = await devToken(agent.sub, 'agent', agent.name);
  stranger.token = await devToken(stranger.sub, 'user', stranger.name);
  const opened = await api(customer.token, 'POST', '/v1/support/sessions', {
    subject: 'Where is my order?',
    message: { body: 'Hello, order 1234 has not arrived.', client_msg_id: randomUUID() },
  });
  assert.equal(opened.status, 201, JSON.stringify(opened.body));
  const claimed = await api(agent.token, 'POST', `/v1/support/sessions/${opened.body.id}/claim`);
  assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
  // a stranger with a session of their own, so they are a known user
  return { id: opened.body.id, conversation: opened.body.conversation_id, customer, agent, stranger };
}

/**
 * A connected stompjs client. `transport`: 'ws' (brokerURL over the `ws`
 * package) or a SockJS transport name ('websocket', 'xhr-streaming').
 */
export async function connect(token, transport = 'ws', options = {}) {
  const log = [];
  const errors = [];
  const client = new Client({
    ...(transport === 'ws'
      ? { brokerURL: STOMP_URL }
      : { webSocketFactory: () => new SockJS(SOCKJS_URL, null, { transports: [transport] }) }),
    connectHeaders: { Authorization: `Bearer ${token}` },
    reconnectDelay: 0,
    debug: (line) => log.push(line),
    ...options,
  });
  client.log = log;
  client.errors = errors;
  client.closed = false;
  client.onStompError = (frame) => errors.push(frame);
  client.onWebSocketClose = () => { client.closed = true; };
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no CONNECTED over ${transport}: ${log.join('\n')}`)), 15000);
    client.onConnect = (frame) => { clearTimeout(timer); client.connectedFrame = frame; resolve(); };
    client.activate();
  });
  return client;
}

let receipts = 0;

/** Subscribes and waits for the server's RECEIPT: the subscription is live. */
export async function subscribe(client, destination, headers = {}) {
  const got = [];
  const receipt = `sub-${++receipts}`;
  const done = new Promise((resolve) => client.watchForReceipt(receipt, resolve));
  const subscription = client.subscribe(destination, (message) => got.push(message), { ...headers, receipt });
  await Promise.race([done, eventually(() => client.errors.length > 0, { message: 'receipt or error' })]);
  return { got, subscription, bodies: () => got.map((m) => JSON.parse(m.body)) };
}

/** Publishes and waits for the RECEIPT (the send committed). */
export async function publish(client, destination, body, headers = {}) {
  const receipt = `send-${++receipts}`;
  const done = new Promise((resolve) => client.watchForReceipt(receipt, resolve));
  client.publish({ destination, body: typeof body === 'string' ? body : JSON.stringify(body), headers: { ...headers, receipt } });
  return done;
}

export async function eventually(fn, { timeout = 10000, interval = 20, message = 'condition' } = {}) {
  const until = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${message}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** The scenario every transport must pass: send, receive, typing, receipts, refusal, resume. */
export async function chatScenario(transport) {
  const chat = await supportChat();
  const topic = `/topic/chat/${chat.id}`;
  const agent = await connect(chat.agent.token, transport);
  const customer = await connect(chat.customer.token, transport);
  try {
    const agentMessages = await subscribe(agent, topic);
    const agentTyping = await subscribe(agent, `${topic}/typing`);
    const customerMessages = await subscribe(customer, topic);
    assert.deepEqual(agent.errors, []);

    // typing reaches the other side, not the typist
    await publish(customer, `/app/chat/${chat.id}/typing`, { typing: true });
    await eventually(() => agentTyping.got.length > 0, { message: 'typing on the agent side' });
    const typing = agentTyping.bodies()[0];
    assert.equal(typing.userId, chat.customer.sub);
    assert.equal(typing.typing, true);
    assert.equal(typing.chatId, chat.id);

    // a send with a receipt; the other side gets it in the profile's shape
    const receipt = await publish(customer, `/app/chat/${chat.id}/send`, { content: 'Any news?', messageType: 'TEXT' });
    assert.ok(receipt.headers['x-message-id'], 'the receipt names the stored message');
    await eventually(() => agentMessages.bodies().some((b) => b.content === 'Any news?'), { message: 'the message at the agent' });
    const message = agentMessages.bodies().find((b) => b.content === 'Any news?');
    assert.equal(message.senderId, chat.customer.sub);
    assert.equal(message.senderFullName, chat.customer.name);
    assert.equal(message.messageType, 'TEXT');
    assert.equal(message.chatId, chat.id);
    assert.equal(message.messageId, receipt.headers['x-message-id']);
    assert.ok(Date.parse(message.timestamp), 'an ISO timestamp');
    const frame = agentMessages.got.find((m) => JSON.parse(m.body).content === 'Any news?');
    assert.equal(frame.headers.destination, topic);
    assert.ok(frame.headers['message-id']);
    assert.ok(Number(frame.headers['x-change-seq']) > 0);

    // the agent answers; the customer hears it
    await publish(agent, `/app/chat/${chat.id}/send`, { content: 'On its way!' });
    await eventually(() => customerMessages.bodies().some((b) => b.content === 'On its way!'), { message: 'the answer at the customer' });

    // an internal note (sent over REST) reaches the agent, never the customer
    const note = await api(chat.agent.token, 'POST', `/v1/conversations/${chat.conversation}/messages`, {
      body: 'note: VIP customer', client_msg_id: randomUUID(), internal: true,
    });
    assert.equal(note.status, 201, JSON.stringify(note.body));
    await publish(agent, `/app/chat/${chat.id}/send`, { content: 'after the note' });
    await eventually(() => customerMessages.bodies().some((b) => b.content === 'after the note'), { message: 'the message after the note' });
    await eventually(() => agentMessages.bodies().some((b) => b.content === 'note: VIP customer'), { message: 'the note at the agent' });
    assert.equal(agentMessages.bodies().find((b) => b.content === 'note: VIP customer').internal, true);
    assert.ok(!customerMessages.bodies().some((b) => b.internal), 'no internal note at the customer');

    // a client-msg-id makes a retry the same message
    const key = randomUUID();
    const first = await publish(customer, `/app/chat/${chat.id}/send`, { content: 'once' }, { 'client-msg-id': key });
    const retry = await publish(customer, `/app/chat/${chat.id}/send`, { content: 'once' }, { 'client-msg-id': key });
    assert.equal(first.headers['x-message-id'], retry.headers['x-message-id']);
    await eventually(() => agentMessages.bodies().some((b) => b.content === 'once'), { message: 'the agent has everything' });

    // someone who may not see the chat gets ERROR on SUBSCRIBE
    const stranger = await connect(chat.stranger.token, transport);
    await subscribe(stranger, topic);
    await eventually(() => stranger.errors.length > 0, { message: 'ERROR for the stranger' });
    assert.equal(stranger.errors[0].headers['x-error-code'], 'not_found');
    await eventually(() => stranger.closed, { message: 'the stranger disconnected after ERROR' });
    await stranger.deactivate();

    // resume: the agent leaves, misses three messages, comes back with x-since
    const seen = agentMessages.got.map((m) => Number(m.headers['x-change-seq']));
    const cursor = Math.max(...seen);
    await agent.deactivate();
    for (const content of ['missed 1', 'missed 2', 'missed 3']) {
      await publish(customer, `/app/chat/${chat.id}/send`, { content });
    }
    // two ways back: straight to the messages with x-since (register, then
    // backfill), and after another feed of the chat already made it live (the
    // backlog then goes to the new subscription alone)
    const again = await connect(chat.agent.token, transport);
    const other = await connect(chat.agent.token, transport);
    try {
      const resumed = await subscribe(again, topic, { 'x-since': String(cursor) });
      await subscribe(other, `${topic}/typing`);
      const joined = await subscribe(other, topic, { 'x-since': String(cursor) });
      await publish(customer, `/app/chat/${chat.id}/send`, { content: 'live again' });
      for (const feed of [resumed, joined]) {
        await eventually(() => feed.bodies().some((b) => b.content === 'live again'), { message: 'the live message after resume' });
        const contents = feed.bodies().map((b) => b.content);
        assert.deepEqual(contents, ['missed 1', 'missed 2', 'missed 3', 'live again']);
        const seqs = feed.got.map((m) => Number(m.headers['x-change-seq']));
        assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in change_seq order');
        assert.ok(seqs[0] > cursor);
      }
    } finally {
      await again.deactivate();
      await other.deactivate();
    }
  } finally {
    await agent.deactivate();
    await customer.deactivate();
  }
}

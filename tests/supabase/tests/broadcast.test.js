// Broadcast (self, ack; the binary frames realtime-js 2.91+ sends under
// 2.0.0, and 1.0.0's JSON) and presence (track, untrack, presence_state,
// presence_diff) between two clients. Every broadcast and presence change
// goes through PostgreSQL's NOTIFY, so clients on other nodes hear it alike:
// tested with a second server process on the same database.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { client, userToken, unique, subscribed, closeAll, serve } from '../lib.js';

after(closeAll);

/** Resolves with the first value `register` hands to its callback that passes `pred`. */
function next(register, pred = () => true, what = 'an event') {
  return new Promise((resolve, reject) => {
    let done = false;
    register((value) => {
      if (!done && pred(value)) {
        done = true;
        resolve(value);
      }
    });
    setTimeout(() => done || reject(new Error(`timed out waiting for ${what}`)), 15000).unref();
  });
}

for (const [a, b] of [['2.0.0', '2.0.0'], ['1.0.0', '2.0.0']]) {
  test(`broadcast between two clients (vsn ${a} → ${b}), with self and ack`, async () => {
    const room = unique('room');
    const alice = await client(userToken(unique('alice')), { vsn: a });
    const bob = await client(userToken(unique('bob')), { vsn: b });
    const heardByBob = [];
    const heardByAlice = [];
    const bobCh = bob.channel(room);
    const bobHeard = next((cb) => bobCh.on('broadcast', { event: 'cursor' }, (m) => { heardByBob.push(m); cb(m); }), (m) => m.payload.x === 2, 'bob hearing x=2');
    await subscribed(bobCh);
    const aliceCh = alice.channel(room, { config: { broadcast: { self: true, ack: true } } });
    const aliceHeard = next((cb) => aliceCh.on('broadcast', { event: 'cursor' }, (m) => { heardByAlice.push(m); cb(m); }), (m) => m.payload.x === 2, 'alice hearing herself');
    await subscribed(aliceCh);

    assert.equal(await aliceCh.send({ type: 'broadcast', event: 'cursor', payload: { x: 1 } }), 'ok');
    assert.equal(await aliceCh.send({ type: 'broadcast', event: 'cursor', payload: { x: 2 } }), 'ok');
    const got = await bobHeard;
    assert.deepEqual(got.payload, { x: 2 });
    assert.equal(got.event, 'cursor');
    await aliceHeard;
    assert.deepEqual(heardByBob.map((m) => m.payload.x), [1, 2], 'in order, once each');

    // bob did not ask for self: his own broadcasts reach alice only
    await bobCh.send({ type: 'broadcast', event: 'cursor', payload: { x: 3 } });
    await next((cb) => aliceCh.on('broadcast', { event: 'cursor' }, cb), (m) => m.payload.x === 3, 'alice hearing bob');
    assert.ok(!heardByBob.some((m) => m.payload.x === 3));
    await alice.removeAllChannels();
    await bob.removeAllChannels();
  });
}

/** Waits until `check()` holds, re-checking on every presence event of `log`. */
function when(log, check, what) {
  return new Promise((resolve, reject) => {
    const look = () => {
      if (check()) {
        log.watchers.delete(look);
        resolve();
      }
    };
    log.watchers.add(look);
    look();
    setTimeout(() => log.watchers.has(look) && reject(new Error(`timed out waiting for ${what}`)), 15000).unref();
  });
}

/** A channel with every presence event logged (callbacks go in before subscribe()). */
function presenceChannel(supabase, room, key) {
  const ch = supabase.channel(room, { config: { presence: { key } } });
  const log = { joins: [], leaves: [], watchers: new Set() };
  const tell = () => [...log.watchers].forEach((w) => w());
  ch.on('presence', { event: 'sync' }, tell)
    .on('presence', { event: 'join' }, (e) => { log.joins.push(e); tell(); })
    .on('presence', { event: 'leave' }, (e) => { log.leaves.push(e); tell(); });
  return { ch, log };
}

test('presence: state on join, diffs on track and untrack, leave on disconnect', async () => {
  const room = unique('lobby');
  const alice = await client(userToken(unique('alice')));
  const bob = await client(userToken(unique('bob')), { vsn: '1.0.0' });

  const a = presenceChannel(alice, room, 'alice');
  await subscribed(a.ch);
  assert.equal(await a.ch.track({ status: 'online' }), 'ok');
  await when(a.log, () => a.ch.presenceState().alice?.[0]?.status === 'online', 'alice tracked');

  // bob joins later and is given the state, then sees alice's changes
  const b = presenceChannel(bob, room, 'bob');
  await subscribed(b.ch);
  await when(b.log, () => b.ch.presenceState().alice?.[0]?.status === 'online', 'bob given the state');
  assert.equal(await b.ch.track({ status: 'away' }), 'ok');
  await when(a.log, () => a.log.joins.some((e) => e.key === 'bob' && e.newPresences[0].status === 'away'), 'alice seeing bob join');

  await a.ch.track({ status: 'busy' });
  await when(b.log, () => b.ch.presenceState().alice?.[0]?.status === 'busy', 'alice busy');
  assert.equal(b.ch.presenceState().alice.length, 1, 'a new track replaces the old one');

  await b.ch.untrack();
  await when(a.log, () => !a.ch.presenceState().bob && a.log.leaves.some((e) => e.key === 'bob'), 'bob untracked');
  await b.ch.track({ status: 'back' });
  await when(a.log, () => a.ch.presenceState().bob?.[0]?.status === 'back', 'bob back');

  // bob's socket goes away: his presence leaves with it
  await bob.realtime.disconnect();
  await when(a.log, () => !a.ch.presenceState().bob, 'bob gone');
  await alice.removeAllChannels();
});

test('private channels are refused with a reason', async () => {
  const alice = await client(userToken(unique('alice')));
  const ch = alice.channel(unique('secret'), { config: { private: true } });
  await assert.rejects(subscribed(ch), /private channels/);
  await alice.removeAllChannels();
});

/** A `ws` WebSocket that keeps the frames it sends and receives (text, or binary bytes). */
function recordingTransport() {
  const frames = { sent: [], received: [] };
  class Recording extends WebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => frames.received.push(e.data));
    }

    send(data, ...rest) {
      frames.sent.push(data);
      return super.send(data, ...rest);
    }
  }
  return { Recording, frames };
}

const isBinary = (data) => typeof data !== 'string';

test('binary broadcast frames of a 2.0.0 client reach a 1.0.0 subscriber as JSON', async () => {
  const room = unique('room');
  const sender = recordingTransport();
  const listener = recordingTransport();
  const alice = await client(userToken(unique('alice')), { transport: sender.Recording });
  const bob = await client(userToken(unique('bob')), { vsn: '1.0.0', transport: listener.Recording });
  const carol = await client(userToken(unique('carol')));
  const bobHeard = [];
  const carolHeard = [];
  const bobCh = bob.channel(room).on('broadcast', { event: 'blob' }, (m) => bobHeard.push(m));
  const carolCh = carol.channel(room).on('broadcast', { event: 'blob' }, (m) => carolHeard.push(m));
  await subscribed(bobCh);
  await subscribed(carolCh);
  const aliceCh = alice.channel(room, { config: { broadcast: { ack: true } } });
  await subscribed(aliceCh);

  // a JSON payload (a binary frame, JSON encoding) and an opaque one (ArrayBuffer)
  assert.equal(await aliceCh.send({ type: 'broadcast', event: 'blob', payload: { text: 'héllo ✓' } }), 'ok');
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  assert.equal(await aliceCh.send({ type: 'broadcast', event: 'blob', payload: bytes.buffer }), 'ok');
  assert.equal(sender.frames.sent.filter(isBinary).length, 2, 'realtime-js sent both broadcasts as binary frames');

  const until = (log, n, who) => new Promise((resolve, reject) => {
    const look = setInterval(() => log.length >= n && (clearInterval(look), resolve()), 20);
    setTimeout(() => { clearInterval(look); reject(new Error(`timed out waiting for ${who}`)); }, 15000).unref();
  });
  await until(bobHeard, 2, 'the 1.0.0 subscriber');
  assert.deepEqual(bobHeard[0].payload, { text: 'héllo ✓' });
  assert.equal(bobHeard[1].payload_encoding, 'base64');
  assert.deepEqual([...Buffer.from(bobHeard[1].payload, 'base64')], [...bytes]);
  assert.ok(!listener.frames.received.some(isBinary), 'a 1.0.0 socket is sent text only');
  // a 2.0.0 subscriber is given the bytes as they were sent
  await until(carolHeard, 2, 'the 2.0.0 subscriber');
  assert.deepEqual(carolHeard[0].payload, { text: 'héllo ✓' });
  assert.deepEqual([...new Uint8Array(carolHeard[1].payload)], [...bytes]);
  await alice.removeAllChannels();
  await bob.removeAllChannels();
  await carol.removeAllChannels();
});

test('broadcast and presence reach a client on another server node', async () => {
  const other = await serve();
  try {
    const room = unique('nodes');
    const alice = await client(userToken(unique('alice')));
    const bob = await client(userToken(unique('bob')), {}, other.url);
    const a = presenceChannel(alice, room, 'alice');
    const b = presenceChannel(bob, room, 'bob');
    const heard = { alice: [], bob: [] };
    a.ch.on('broadcast', { event: 'hello' }, (m) => { heard.alice.push(m.payload.from); a.log.watchers.forEach((w) => w()); });
    b.ch.on('broadcast', { event: 'hello' }, (m) => { heard.bob.push(m.payload.from); b.log.watchers.forEach((w) => w()); });
    await subscribed(a.ch);
    assert.equal(await a.ch.track({ node: 'first' }), 'ok');
    // bob joins on the other node: given the whole channel's state
    await subscribed(b.ch);
    await when(b.log, () => b.ch.presenceState().alice?.[0]?.node === 'first', 'bob given alice, tracked on the other node');
    assert.equal(await b.ch.track({ node: 'second' }), 'ok');
    await when(a.log, () => a.log.joins.some((e) => e.key === 'bob' && e.newPresences[0].node === 'second'), 'alice seeing bob join');

    await a.ch.send({ type: 'broadcast', event: 'hello', payload: { from: 'alice' } });
    await when(b.log, () => heard.bob.includes('alice'), 'bob hearing alice across nodes');
    await b.ch.send({ type: 'broadcast', event: 'hello', payload: { from: 'bob' } });
    await when(a.log, () => heard.alice.includes('bob'), 'alice hearing bob across nodes');

    // bob's node stops: his presence leaves with it
    await other.stop();
    await when(a.log, () => !a.ch.presenceState().bob, 'bob gone with his node');
    await alice.removeAllChannels();
  } finally {
    await other.close();
  }
});

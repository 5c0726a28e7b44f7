// Broadcast (self, ack; the binary frames realtime-js 2.91+ sends under
// 2.0.0, and 1.0.0's JSON) and presence (track, untrack, presence_state,
// presence_diff) between two clients. Every broadcast and presence change
// goes through PostgreSQL's NOTIFY, so clients on other nodes hear it alike.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { client, userToken, unique, subscribed, closeAll } from '../lib.js';

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

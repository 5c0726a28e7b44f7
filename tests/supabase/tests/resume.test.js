// Beyond Supabase: no missed changes. A socket that drops (cut under
// realtime-js' feet, as a network failure would) reconnects by itself, joins
// its channels again, and is first given what changed while it was away —
// once each. A binding's `since` resumes from a cursor the app kept (any
// node, after a restart of the server process: a server of the test's own).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  client, userToken, unique, supportChat, send, subscribed, collector, closeAll, serve,
} from '../lib.js';

after(closeAll);

/** Waits until `check()` holds, polling a condition of the client (not the clock). */
async function until(check, what) {
  for (let i = 0; i < 300; i += 1) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const vsn of ['1.0.0', '2.0.0']) {
  test(`vsn ${vsn}: after a dropped socket the channel replays what it missed`, async () => {
    const customer = userToken(unique('cust'));
    const agent = userToken(unique('agent'), { staff: true });
    const chat = await supportChat(customer, agent);
    const c = chat.conversation_id;
    const supabase = await client(customer, { vsn, reconnectAfterMs: () => 200 });
    const changes = collector();
    const channel = supabase.channel(unique('resume'))
      .on('postgres_changes', { event: '*', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${c}` }, (p) => changes.push(p));
    await subscribed(channel);
    const before = await send(agent, c, 'before the drop');
    await changes.until((p) => p.new.id === before.id, 'the first message');

    const socket = supabase.realtime.socketAdapter.socket;
    const dropped = socket.conn;
    dropped.terminate();
    await until(() => socket.conn !== dropped, 'the drop to be noticed');
    const missed = [];
    for (let i = 0; i < 5; i += 1) missed.push(await send(agent, c, `while away ${i}`));
    const edited = await send(agent, c, 'to be edited');

    // realtime-js reconnects and rejoins by itself
    await until(() => socket.isConnected() && channel.state === 'joined', 'the rejoin');
    for (const m of missed) await changes.until((p) => p.new.id === m.id, m.body);
    await changes.until((p) => p.new.id === edited.id, 'the last missed message');
    const ids = changes.seen.filter((p) => p.eventType === 'INSERT').map((p) => p.new.id);
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    assert.deepEqual(ids, [before.id, ...missed.map((m) => m.id), edited.id], 'in order');
    await supabase.removeAllChannels();
  });
}

test('a binding resumes from the change_seq the app kept', async () => {
  const customer = userToken(unique('cust'));
  const agent = userToken(unique('agent'), { staff: true });
  const chat = await supportChat(customer, agent);
  const c = chat.conversation_id;
  const first = await send(agent, c, 'seen');
  const later = [await send(agent, c, 'not seen 1'), await send(agent, c, 'not seen 2')];
  const supabase = await client(customer);
  const changes = collector();
  await subscribed(supabase.channel(unique('since'))
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${c}`, since: first.change_seq }, (p) => changes.push(p)));
  for (const m of later) await changes.until((p) => p.new.id === m.id, m.body);
  assert.ok(!changes.seen.some((p) => p.new.id === first.id));
  await supabase.removeAllChannels();
});

test('after the server restarts, a binding that keeps its since up to date gets what it missed', async () => {
  const node = await serve();
  try {
    const customer = userToken(unique('cust'));
    const agent = userToken(unique('agent'), { staff: true });
    const chat = await supportChat(customer, agent);
    const c = chat.conversation_id;
    const start = await send(agent, c, 'before the subscription');
    const supabase = await client(customer, { reconnectAfterMs: () => 200 }, node.url);
    const filter = `conversation_id=eq.${c}`;
    // The app keeps its binding and moves `since` to each change it is given:
    // realtime-js sends this same object again when it joins after a reconnect.
    const binding = { event: '*', schema: 'public', table: 'chat_messages', filter, since: start.change_seq };
    const kept = collector();
    const plain = collector();
    const withSince = supabase.channel(unique('since'))
      .on('postgres_changes', binding, (p) => {
        binding.since = Math.max(binding.since, (p.new?.change_seq ?? p.old?.change_seq));
        kept.push(p);
      });
    const without = supabase.channel(unique('plain'))
      .on('postgres_changes', { event: '*', schema: 'public', table: 'chat_messages', filter }, (p) => plain.push(p));
    await subscribed(withSince);
    await subscribed(without);
    const seen = await send(agent, c, 'before the restart');
    await kept.until((p) => p.new.id === seen.id, 'the first message');
    await plain.until((p) => p.new.id === seen.id, 'the first message, without since');

    await node.stop();
    // written through another node while this one is down
    const missed = await send(agent, c, 'while the server was down');
    await node.start();

    // realtime-js reconnects and joins again by itself
    await kept.until((p) => p.new.id === missed.id, 'the message written while the server was down');
    const after = await send(agent, c, 'after the restart');
    await kept.until((p) => p.new.id === after.id, 'a message after the restart');
    await plain.until((p) => p.new.id === after.id, 'a message after the restart, without since');
    const ids = (log) => log.seen.filter((p) => p.eventType === 'INSERT').map((p) => p.new.id);
    assert.deepEqual(ids(kept), [seen.id, missed.id, after.id], 'in order, once each');
    // without since, a restart forgets where the channel stood: what was written meanwhile is not replayed
    assert.deepEqual(ids(plain), [seen.id, after.id]);
    await supabase.removeAllChannels();
  } finally {
    await node.close();
  }
});

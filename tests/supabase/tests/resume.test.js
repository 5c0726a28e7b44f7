// Beyond Supabase: no missed changes. A socket that drops (here: cut under
// realtime-js' feet, as a network failure would; the test cannot restart the
// server the harness owns) reconnects by itself, joins its channels again, and
// is first given what changed while it was away — once each. A binding's
// `since` resumes from a cursor the app kept (any node, after a restart).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  client, userToken, unique, supportChat, send, subscribed, collector, closeAll,
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

// postgres_changes with unmodified supabase-js: filters, both serializers,
// INSERT/UPDATE/DELETE made through pgchat's API and plain SQL, RLS (a foreign
// user receives nothing, a customer never an internal note), token refresh.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import {
  BASE, ANON_KEY, client, userToken, unique, supportChat, send, api, sql, subscribed, collector, closeAll,
} from '../lib.js';

after(closeAll);

for (const vsn of ['1.0.0', '2.0.0']) {
  test(`vsn ${vsn}: a customer receives the changes of their chat, never a note`, async () => {
    const customer = userToken(unique('cust'));
    const agent = userToken(unique('agent'), { staff: true });
    const chat = await supportChat(customer, agent);
    const c = chat.conversation_id;

    const supabase = await client(customer, { vsn });
    const changes = collector();
    const channel = supabase
      .channel(unique('chat'))
      .on('postgres_changes', { event: '*', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${c}` },
        (p) => changes.push(p));
    await subscribed(channel);
    assert.equal(supabase.realtime.vsn ?? vsn, vsn);

    // pgchat's own API
    const reply = await send(agent, c, 'We are on it');
    const inserted = await changes.until((p) => p.eventType === 'INSERT' && p.new.id === reply.id, 'the reply');
    assert.equal(inserted.table, 'chat_messages');
    assert.equal(inserted.schema, 'public');
    assert.equal(inserted.new.body, 'We are on it');
    assert.equal(inserted.new.conversation_id, c);
    assert.equal(typeof inserted.new.seq, 'number');
    assert.ok(inserted.commit_timestamp);

    // an internal note never reaches the customer: the marker after it does, alone
    await send(agent, c, 'customer seems upset', { internal: true });
    const marker = await send(agent, c, 'marker after the note');
    await changes.until((p) => p.new?.id === marker.id, 'the marker');
    assert.ok(!changes.seen.some((p) => p.new?.internal || p.new?.body === 'customer seems upset'));

    // plain SQL: an insert, an edit, a tombstone
    const [row] = await sql(
      `INSERT INTO chat_messages (conversation_id, sender_id, sender_role, body)
       VALUES ($1, NULL, 'system', 'written by psql') RETURNING id`, [c]);
    await changes.until((p) => p.eventType === 'INSERT' && p.new.id === row.id, 'the psql insert');
    await sql(`UPDATE chat_messages SET body = 'edited by psql', edited_at = now() WHERE id = $1`, [row.id]);
    const updated = await changes.until((p) => p.eventType === 'UPDATE' && p.new.id === row.id, 'the psql update');
    assert.equal(updated.new.body, 'edited by psql');
    assert.deepEqual(updated.old, { id: row.id });

    // pgchat's API deletes (a tombstone): DELETE for the app
    const gone = await api(agent, 'DELETE', `/v1/messages/${reply.id}`);
    assert.ok(gone.status < 300, JSON.stringify(gone.body));
    const deleted = await changes.until((p) => p.eventType === 'DELETE' && p.old.id === reply.id, 'the delete');
    assert.deepEqual(deleted.new, {});

    await supabase.removeAllChannels();
  });
}

test('event and column filters narrow the stream', async () => {
  const customer = userToken(unique('cust'));
  const agent = userToken(unique('agent'), { staff: true });
  const chat = await supportChat(customer, agent);
  const other = await supportChat(userToken(unique('cust')), agent);
  const c = chat.conversation_id;
  const supabase = await client(agent);
  const inserts = collector();
  const updates = collector();
  const fromCustomer = collector();
  const channel = supabase
    .channel(unique('filters'))
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${c}` }, (p) => inserts.push(p))
    .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'chat_messages', filter: `conversation_id=in.(${c},${other.conversation_id})` }, (p) => updates.push(p))
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${c}` }, () => {})
    .on('postgres_changes', { event: '*', schema: 'public', table: 'chat_messages', filter: `sender_role=neq.agent` }, (p) => fromCustomer.push(p));
  await subscribed(channel);

  const first = await send(customer, c, 'first');
  await inserts.until((p) => p.new.id === first.id);
  const mine = await send(agent, c, 'from the agent');
  await inserts.until((p) => p.new.id === mine.id);
  const edited = await api(customer, 'PATCH', `/v1/messages/${first.id}`, { body: 'first (edited)' });
  assert.equal(edited.status, 200, JSON.stringify(edited.body));
  const update = await updates.until((p) => p.new.id === first.id, 'the edit');
  assert.equal(update.new.body, 'first (edited)');
  assert.ok(!inserts.seen.some((p) => p.eventType !== 'INSERT'));
  assert.ok(!updates.seen.some((p) => p.eventType !== 'UPDATE'));
  // the unfiltered-conversation binding reads the agent's inbox: new messages of
  // their conversations, from customers only
  await fromCustomer.until((p) => p.new.id === first.id, 'the customer message on the inbox');
  assert.ok(!fromCustomer.seen.some((p) => p.new?.sender_role === 'agent'));
  await supabase.removeAllChannels();
});

test('a foreign user receives nothing of a chat that is not theirs', async () => {
  const customer = userToken(unique('cust'));
  const agent = userToken(unique('agent'), { staff: true });
  const stranger = userToken(unique('stranger'));
  const chat = await supportChat(customer, agent);
  const own = await supportChat(stranger);

  const supabase = await client(stranger);
  // naming the foreign conversation: refused, as pgchat answers 404
  const refused = supabase.channel(unique('foreign'))
    .on('postgres_changes', { event: '*', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${chat.conversation_id}` }, () => {});
  await assert.rejects(subscribed(refused), /not found/);
  await supabase.removeChannel(refused);

  // every message of the stranger's conversations: only their own arrive
  const changes = collector();
  const all = supabase.channel(unique('mine'))
    .on('postgres_changes', { event: '*', schema: 'public', table: 'chat_messages' }, (p) => changes.push(p));
  await subscribed(all);
  await send(agent, chat.conversation_id, 'for the customer only');
  const marker = await send(stranger, own.conversation_id, 'my own marker');
  await changes.until((p) => p.new?.id === marker.id, 'the marker');
  assert.deepEqual(changes.seen.map((p) => p.new.conversation_id), [own.conversation_id]);
  await supabase.removeAllChannels();
});

test('staff hear new sessions on live_chat_sessions; customers their own', async () => {
  const agent = userToken(unique('agent'), { staff: true });
  const customer = userToken(unique('cust'));
  const desk = await client(agent);
  const sessions = collector();
  await subscribed(desk.channel(unique('desk'))
    .on('postgres_changes', { event: '*', schema: 'public', table: 'live_chat_sessions' }, (p) => sessions.push(p)));
  const widget = await client(customer);
  const mine = collector();
  await subscribed(widget.channel(unique('widget'))
    .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'live_chat_sessions', filter: 'status=eq.active' }, (p) => mine.push(p)));

  const chat = await supportChat(customer);
  const created = await sessions.until((p) => p.new?.id === chat.id, 'the new session');
  assert.equal(created.eventType, 'INSERT');
  assert.equal(created.new.status, 'waiting');
  const claimed = await api(agent, 'POST', `/v1/support/sessions/${chat.id}/claim`);
  assert.equal(claimed.status, 200);
  const active = await mine.until((p) => p.new.id === chat.id, 'the claim');
  assert.equal(active.new.status, 'active');
  await desk.removeAllChannels();
  await widget.removeAllChannels();
});

test('setAuth refreshes the token of a live socket; another user is refused', async () => {
  const sub = unique('cust');
  const customer = userToken(sub);
  const agent = userToken(unique('agent'), { staff: true });
  const chat = await supportChat(customer, agent);
  const supabase = await client(customer);
  const changes = collector();
  const channel = supabase.channel(unique('auth'))
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${chat.conversation_id}` }, (p) => changes.push(p));
  await subscribed(channel);
  await supabase.realtime.setAuth(userToken(sub, { ttl: 7200 }));
  const after = await send(agent, chat.conversation_id, 'after the refresh');
  await changes.until((p) => p.new.id === after.id);

  // a token for someone else on the same socket is refused: the socket stays the customer's
  await supabase.realtime.setAuth(userToken(unique('other')));
  const still = await send(agent, chat.conversation_id, 'still the customer');
  await changes.until((p) => p.new.id === still.id);
  await supabase.removeAllChannels();
});

test('a channel needs a signed-in user: refused with the reason, joined by itself on sign-in, ended on sign-out', async () => {
  const customer = userToken(unique('cust'));
  const agent = userToken(unique('agent'), { staff: true });
  const chat = await supportChat(customer, agent);
  // supabase-js before sign-in: its token is the project key (anon)
  let token = ANON_KEY;
  const supabase = createClient(BASE, ANON_KEY, { accessToken: async () => token, realtime: { transport: WebSocket } });
  try {
    // one log of statuses and changes, in the order the app saw them
    const log = collector();
    const channel = supabase.channel(unique('signin'))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${chat.conversation_id}` },
        (p) => log.push(p));
    channel.subscribe((status, err) => log.push({ status, reason: err?.message }));
    const refused = await log.until((e) => e.status === 'CHANNEL_ERROR', 'the refused join');
    assert.match(refused.reason, /sign in first: a channel needs a signed-in user's access_token/);

    token = customer;
    await supabase.realtime.setAuth();
    await log.until((e) => e.status === 'SUBSCRIBED', 'the join realtime-js makes again, signed in');
    const first = await send(agent, chat.conversation_id, 'while signed in');
    await log.until((e) => e.new?.id === first.id, 'a change once signed in');

    // sign-out: supabase-js sends the anon key; the channel ends at once
    token = ANON_KEY;
    const signedOut = log.seen.length;
    await supabase.realtime.setAuth();
    await log.until((e, i = log.seen.indexOf(e)) => i >= signedOut && e.status === 'CHANNEL_ERROR', 'the end of the channel');
    const missed = await send(agent, chat.conversation_id, 'while signed out');
    // signed in again: the channel comes back, with what it missed, after its join
    token = customer;
    await supabase.realtime.setAuth();
    const back = await log.until((e, i = log.seen.indexOf(e)) => i >= signedOut && e.status === 'SUBSCRIBED', 'the join after signing in again');
    const replayed = await log.until((e) => e.new?.id === missed.id, 'the change made while signed out');
    assert.ok(log.seen.indexOf(replayed) > log.seen.indexOf(back), 'nothing reached the socket while signed out');
  } finally {
    await supabase.removeAllChannels();
    await supabase.realtime.disconnect();
  }
});

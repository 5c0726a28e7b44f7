// The PostgREST subset with supabase-js' query builder: reads under RLS with
// select/filters/order/limit/range/count/single, inserts through pgchat's send
// service (delivered live like any message), PATCH, and PostgREST's errors.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  BASE, ANON_KEY, client, userToken, unique, supportChat, send, subscribed, collector, closeAll,
} from '../lib.js';

after(closeAll);

test('reads run as the caller: filters, order, limit, range, count, single; no notes for customers', async () => {
  const customer = userToken(unique('cust'));
  const agent = userToken(unique('agent'), { staff: true });
  const chat = await supportChat(customer, agent);
  const c = chat.conversation_id;
  for (const body of ['one', 'two', 'three']) await send(agent, c, body);
  await send(agent, c, 'note: VIP', { internal: true });

  const db = (await client(customer));
  const { data, error } = await db.from('chat_messages')
    .select('id, body, seq, sender_role').eq('conversation_id', c).eq('sender_role', 'agent')
    .order('seq', { ascending: false }).limit(2);
  assert.equal(error, null);
  assert.deepEqual(data.map((m) => m.body), ['three', 'two']);
  assert.deepEqual(Object.keys(data[0]).sort(), ['body', 'id', 'sender_role', 'seq']);

  const all = await db.from('chat_messages').select('*', { count: 'exact' }).eq('conversation_id', c).order('seq');
  assert.equal(all.error, null);
  assert.equal(all.count, all.data.length);
  assert.ok(!all.data.some((m) => m.internal), 'a customer never reads a note');
  const staff = await (await client(agent)).from('chat_messages').select('body').eq('conversation_id', c).eq('internal', true);
  assert.deepEqual(staff.data.map((m) => m.body), ['note: VIP']);

  const page = await db.from('chat_messages').select('body').eq('conversation_id', c).order('seq').range(1, 2);
  assert.deepEqual(page.data.map((m) => m.body), all.data.slice(1, 3).map((m) => m.body));
  const some = await db.from('chat_messages').select('body').eq('conversation_id', c).in('body', ['one', 'three']).order('seq');
  assert.deepEqual(some.data.map((m) => m.body), ['one', 'three']);
  const neq = await db.from('chat_messages').select('seq').eq('conversation_id', c).gt('seq', 0).lte('seq', 1000).neq('body', 'one').is('deleted_at', null);
  assert.equal(neq.data.length, all.data.length - 1);

  const single = await db.from('live_chat_sessions').select('id, status').eq('id', chat.id).single();
  assert.equal(single.error, null);
  assert.equal(single.data.status, 'active');
  const none = await db.from('live_chat_sessions').select('id').eq('id', randomUUID()).single();
  assert.equal(none.error.code, 'PGRST116');

  // a stranger reads nothing of it
  const stranger = await client(userToken(unique('stranger')));
  const foreign = await stranger.from('chat_messages').select('id').eq('conversation_id', c);
  assert.deepEqual(foreign.data, []);
  const members = await stranger.from('conversation_members').select('user_id').eq('conversation_id', c);
  assert.deepEqual(members.data, []);
});

test('an insert is a send: deduplicated, delivered live, returned with return=representation', async () => {
  const customer = userToken(unique('cust'));
  const agent = userToken(unique('agent'), { staff: true });
  const chat = await supportChat(customer, agent);
  const c = chat.conversation_id;
  const desk = await client(agent);
  const live = collector();
  await subscribed(desk.channel(unique('desk'))
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${c}` }, (p) => live.push(p)));

  const widget = await client(customer);
  const optimistic = randomUUID();
  const one = await widget.from('chat_messages').insert({ id: optimistic, conversation_id: c, body: 'sent through REST' }).select().single();
  assert.equal(one.error, null, JSON.stringify(one.error));
  assert.equal(one.data.body, 'sent through REST');
  assert.equal(one.data.client_msg_id, optimistic);
  await live.until((p) => p.new.id === one.data.id, 'the REST insert, live');

  // a retry with the same id stores nothing new
  const again = await widget.from('chat_messages').insert({ id: optimistic, conversation_id: c, body: 'sent through REST' }).select().single();
  assert.equal(again.data.id, one.data.id);

  const many = await widget.from('chat_messages').insert([
    { conversation_id: c, body: 'batch 1' }, { conversation_id: c, body: 'batch 2' },
  ]).select('body, seq');
  assert.equal(many.error, null, JSON.stringify(many.error));
  assert.deepEqual(many.data.map((m) => m.body), ['batch 1', 'batch 2']);
  assert.ok(many.data[0].seq < many.data[1].seq);

  const minimal = await widget.from('chat_messages').insert({ conversation_id: c, body: 'no representation' });
  assert.equal(minimal.error, null);
  assert.equal(minimal.status, 201);

  // refusals in PostgREST's shape
  const note = await widget.from('chat_messages').insert({ conversation_id: c, body: 'x', internal: true });
  assert.equal(note.status, 403);
  const forged = await widget.from('chat_messages').insert({ conversation_id: c, body: 'x', sender_id: 'someone-else' });
  assert.equal(forged.error.code, '42501');
  const unknown = await widget.from('chat_messages').insert({ conversation_id: c, body: 'x', seq: 5 });
  assert.equal(unknown.error.code, 'PGRST204');
  const foreign = await (await client(userToken(unique('stranger')))).from('chat_messages').insert({ conversation_id: c, body: 'x' });
  assert.ok(foreign.status === 404 || foreign.status === 403, JSON.stringify(foreign));
});

test('an array insert is all or nothing: one refused row writes none', async () => {
  const customer = userToken(unique('cust'));
  const agent = userToken(unique('agent'), { staff: true });
  const chat = await supportChat(customer, agent);
  const other = await supportChat(userToken(unique('cust')), agent);
  const c = chat.conversation_id;
  const widget = await client(customer);
  const stored = async () => (await widget.from('chat_messages').select('body').eq('conversation_id', c)).data
    .filter((m) => m.body.startsWith('atomic'));

  // a rule the database refuses (a customer's internal note), after a valid row
  const note = await widget.from('chat_messages').insert([
    { conversation_id: c, body: 'atomic 1' }, { conversation_id: c, body: 'atomic 2', internal: true },
  ]).select();
  assert.equal(note.status, 403, JSON.stringify(note));
  assert.equal(note.error.code, '42501');
  assert.match(note.error.details, /row 2 of 2/);
  // a conversation the caller may not write to
  const foreign = await widget.from('chat_messages').insert([
    { conversation_id: c, body: 'atomic 3' }, { conversation_id: other.conversation_id, body: 'atomic 4' },
  ]);
  assert.ok(foreign.status === 404 || foreign.status === 403, JSON.stringify(foreign));
  assert.match(foreign.error.details, /row 2 of 2/);
  // an invalid row (a column the server sets)
  const invalid = await widget.from('chat_messages').insert([
    { conversation_id: c, body: 'atomic 5' }, { conversation_id: c, body: 'atomic 6', seq: 1 },
  ]);
  assert.equal(invalid.error.code, 'PGRST204');
  assert.deepEqual(await stored(), [], 'nothing of a refused array was written');

  // dedupe still holds inside an array: a stored row comes back as it was
  const kept = await widget.from('chat_messages').insert({ conversation_id: c, body: 'atomic kept', id: randomUUID() }).select().single();
  const mixed = await widget.from('chat_messages').insert([
    { conversation_id: c, body: 'atomic kept', id: kept.data.client_msg_id }, { conversation_id: c, body: 'atomic new' },
  ]).select('id, body');
  assert.equal(mixed.error, null, JSON.stringify(mixed.error));
  assert.deepEqual(mixed.data.map((m) => m.body), ['atomic kept', 'atomic new']);
  assert.equal(mixed.data[0].id, kept.data.id);
  assert.deepEqual((await stored()).map((m) => m.body).sort(), ['atomic kept', 'atomic new']);
});

test('PATCH updates what the filters select, as the caller', async () => {
  const customer = userToken(unique('cust'));
  const agent = userToken(unique('agent'), { staff: true });
  const chat = await supportChat(customer, agent);
  const c = chat.conversation_id;
  const mine = await send(customer, c, 'typo hree');
  const theirs = await send(agent, c, 'agent text');
  const widget = await client(customer);
  const live = collector();
  await subscribed(widget.channel(unique('w'))
    .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'chat_messages', filter: `conversation_id=eq.${c}` }, (p) => live.push(p)));

  const fixed = await widget.from('chat_messages').update({ body: 'typo here' }).eq('id', mine.id).select();
  assert.equal(fixed.error, null, JSON.stringify(fixed.error));
  assert.equal(fixed.data[0].body, 'typo here');
  await live.until((p) => p.new.id === mine.id && p.new.body === 'typo here', 'the REST update, live');

  // RLS: the agent's message is not the customer's to change
  const other = await widget.from('chat_messages').update({ body: 'hacked' }).eq('id', theirs.id).select();
  assert.ok(other.error || other.data.length === 0, JSON.stringify(other));
  const computed = await widget.from('chat_messages').update({ sender_name: 'x' }).eq('id', mine.id);
  assert.equal(computed.error.code, 'PGRST204');
});

test('errors come in PostgREST shape', async () => {
  const token = userToken(unique('cust'));
  const get = (path, headers = {}) => fetch(`${BASE}/rest/v1/${path}`, {
    headers: { apikey: ANON_KEY, authorization: `Bearer ${token}`, ...headers },
  });
  const shape = async (r, status, code) => {
    assert.equal(r.status, status);
    const body = await r.json();
    assert.equal(body.code, code, JSON.stringify(body));
    assert.ok(typeof body.message === 'string' && 'hint' in body && 'details' in body);
  };
  await shape(await get('users'), 404, 'PGRST205');
  await shape(await get('chat_messages?nope=eq.1'), 400, '42703');
  await shape(await get('chat_messages?seq=like.1'), 400, 'PGRST100');
  await shape(await get('chat_messages?seq=eq.x'), 400, '22P02');
  await shape(await get('chat_messages?select=*,users(*)'), 400, 'PGRST100');
  await shape(await get('chat_messages', { range: '5-1' }), 416, 'PGRST103');
  await shape(await get('chat_messages', { authorization: `Bearer ${ANON_KEY}` }), 401, 'PGRST301');
  await shape(await fetch(`${BASE}/rest/v1/chat_messages`), 401, 'PGRST301');
  const anonymous = await fetch(`${BASE}/rest/v1/chat_messages`, { method: 'DELETE', headers: { apikey: ANON_KEY } });
  await shape(anonymous, 405, 'PGRST105');
});

// Rooms over STOMP: joining an open room through /app/chat/{id}/join shows on
// /topic/chat/{id}/presence; a member removed by a moderator loses the
// subscription at once (ERROR, then close) and is refused when resubscribing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, connect, devToken, eventually, publish, subscribe, unique,
} from '../lib.js';

test('join shows on presence; a removed member is cut off and refused', async () => {
  const owner = unique('owner');
  const guest = unique('guest');
  const ownerToken = await devToken(owner, 'user', 'Olive Owner');
  const guestToken = await devToken(guest, 'user', 'Gus Guest');
  const room = await api(ownerToken, 'POST', '/v1/rooms', { name: unique('Lobby'), type: 'public' });
  assert.equal(room.status, 201, JSON.stringify(room.body));
  const id = room.body.id;

  const ownerClient = await connect(ownerToken);
  const guestClient = await connect(guestToken);
  try {
    const presence = await subscribe(ownerClient, `/topic/chat/${id}/presence`);
    const ownerMessages = await subscribe(ownerClient, `/topic/chat/${id}`);
    await publish(guestClient, `/app/chat/${id}/join`, '');
    await eventually(() => presence.bodies().some((b) => b.type === 'JOIN' && b.userId === guest), { message: 'JOIN on presence' });

    const guestMessages = await subscribe(guestClient, `/topic/chat/${id}`);
    assert.deepEqual(guestClient.errors, []);
    await publish(guestClient, `/app/chat/${id}/send`, { content: 'hello room' });
    await eventually(() => ownerMessages.bodies().some((b) => b.content === 'hello room'), { message: 'the guest message at the owner' });

    const removed = await api(ownerToken, 'DELETE', `/v1/rooms/${id}/members/${guest}`);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    await eventually(() => guestClient.errors.length > 0, { message: 'ERROR for the removed member' });
    assert.equal(guestClient.errors[0].headers['x-error-code'], 'unsubscribed');
    await eventually(() => guestClient.closed, { message: 'closed after revocation' });
    await eventually(() => presence.bodies().some((b) => b.type === 'LEAVE' && b.userId === guest), { message: 'LEAVE on presence' });

    // nothing sent after the removal reached the guest
    await publish(ownerClient, `/app/chat/${id}/send`, { content: 'after removal' });
    await eventually(() => ownerMessages.bodies().some((b) => b.content === 'after removal'), { message: 'owner message' });
    assert.ok(!guestMessages.bodies().some((b) => b.content === 'after removal'));

    // the guest comes back: the room is still open, but its history after the
    // removal is theirs only once they join again; a SUBSCRIBE without joining is refused
    const back = await connect(guestToken);
    try {
      await subscribe(back, `/topic/chat/${id}`);
      await eventually(() => back.errors.length > 0, { message: 'ERROR on resubscribe' });
      assert.equal(back.errors[0].headers['x-error-code'], 'not_found');
    } finally {
      await back.deactivate();
    }
  } finally {
    await ownerClient.deactivate();
    await guestClient.deactivate();
  }
});

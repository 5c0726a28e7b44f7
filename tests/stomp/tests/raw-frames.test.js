// The STOMP endpoint spoken to by hand over `ws`: sub-protocol and version
// negotiation, frames split across messages, NULs in a content-length body,
// heart-beat LFs, and ERROR then close on bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { STOMP_URL, devToken, eventually, supportChat, unique } from '../lib.js';

function open(protocols, url = STOMP_URL) {
  const ws = new WebSocket(url, protocols);
  ws.received = '';
  ws.closed = false;
  ws.on('message', (data) => { ws.received += data.toString(); });
  ws.on('close', () => { ws.closed = true; });
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

/** Frames received so far: [command, headers, body]. */
function frames(ws) {
  return ws.received.split('\0').slice(0, -1).map((raw) => {
    const text = raw.replace(/^\n+/, '');
    const [head, ...rest] = text.split('\n\n');
    const [command, ...lines] = head.split('\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
    return { command, headers, body: rest.join('\n\n') };
  });
}

test('sub-protocols and versions negotiate', async () => {
  const token = await devToken(unique('raw'));
  const best = await open(['v10.stomp', 'v12.stomp']);
  assert.equal(best.protocol, 'v12.stomp', 'the best version both speak');
  best.close();
  const ws = await open(['v11.stomp']);
  try {
    assert.equal(ws.protocol, 'v11.stomp');
    ws.send(`CONNECT\naccept-version:1.1,1.0\nhost:pgchat\nAuthorization:Bearer ${token}\n\n\0`);
    await eventually(() => frames(ws).length === 1, { message: 'CONNECTED' });
    const [connected] = frames(ws);
    assert.equal(connected.command, 'CONNECTED');
    assert.equal(connected.headers.version, '1.1');
    assert.equal(connected.headers['user-name'].startsWith('raw-'), true);
  } finally {
    ws.close();
  }
  const bare = await open(undefined);
  try {
    assert.equal(bare.protocol, '');
    // STOMP 1.0 with the token as passcode, CRLF lines, split across two messages
    bare.send('STOMP\r\nlogin:me\r\n');
    bare.send(`passcode:${token}\r\n\r\n\0`);
    await eventually(() => frames(bare).length === 1, { message: 'CONNECTED for 1.0' });
    assert.equal(frames(bare)[0].command, 'CONNECTED');
    assert.equal(frames(bare)[0].headers.version, undefined);
  } finally {
    bare.close();
  }
});

test('SockJS\'s raw websocket URL speaks plain STOMP', async () => {
  const token = await devToken(unique('rawsj'));
  const ws = await open(['v12.stomp'], `${STOMP_URL}/websocket`);
  try {
    ws.send(`CONNECT\naccept-version:1.2\nAuthorization:Bearer ${token}\n\n\0`);
    await eventually(() => frames(ws).length === 1, { message: 'CONNECTED' });
    assert.equal(frames(ws)[0].headers.version, '1.2');
  } finally {
    ws.close();
  }
});

test('a content-length body may hold NULs, heart-beats are ignored, bad input gets ERROR then close', async () => {
  const chat = await supportChat();
  const ws = await open(['v12.stomp']);
  ws.send(`\nCONNECT\naccept-version:1.2\nheart-beat:0,0\nAuthorization:Bearer ${chat.customer.token}\n\n\0\n\n`);
  await eventually(() => frames(ws).length === 1, { message: 'CONNECTED' });
  // framing carries a NUL inside a content-length body; the message check then refuses it
  ws.send(`SEND\ndestination:/app/chat/${chat.id}/send\ncontent-type:text/plain\ncontent-length:3\nreceipt:r1\n\na\0b\0`);
  await eventually(() => frames(ws).length === 2, { message: 'an answer to the send' });
  const [, error] = frames(ws);
  assert.equal(error.command, 'ERROR');
  assert.equal(error.headers['receipt-id'], 'r1');
  assert.equal(error.headers['x-error-code'], 'invalid_body');
  await eventually(() => ws.closed, { message: 'closed after ERROR' });

  const again = await open(['v12.stomp']);
  again.send(`CONNECT\naccept-version:1.2\nAuthorization:Bearer ${chat.customer.token}\n\n\0`);
  await eventually(() => frames(again).length === 1, { message: 'CONNECTED again' });
  const ok = JSON.stringify({ content: 'framed by length' });
  again.send(`SEND\ndestination:/app/chat/${chat.id}/send\ncontent-length:${Buffer.byteLength(ok)}\nreceipt:r2\n\n${ok}\0\n`);
  await eventually(() => frames(again).length === 2, { message: 'RECEIPT' });
  assert.equal(frames(again)[1].command, 'RECEIPT');
  assert.equal(frames(again)[1].headers['receipt-id'], 'r2');
  again.send('garbage without a colon\nnope\n\n\0');
  await eventually(() => frames(again).length === 3, { message: 'ERROR for garbage' });
  assert.equal(frames(again)[2].command, 'ERROR');
  await eventually(() => again.closed, { message: 'closed after ERROR' });
});

test('DISCONNECT is answered with its receipt', async () => {
  const token = await devToken(unique('bye'));
  const ws = await open(['v12.stomp']);
  ws.send(`CONNECT\naccept-version:1.2\nAuthorization:Bearer ${token}\n\n\0`);
  await eventually(() => frames(ws).length === 1, { message: 'CONNECTED' });
  ws.send('DISCONNECT\nreceipt:bye-1\n\n\0');
  await eventually(() => frames(ws).length === 2, { message: 'RECEIPT' });
  assert.equal(frames(ws)[1].command, 'RECEIPT');
  assert.equal(frames(ws)[1].headers['receipt-id'], 'bye-1');
  await eventually(() => ws.closed, { message: 'closed after DISCONNECT' });
});

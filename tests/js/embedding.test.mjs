// The example chat host (apps/server/examples/chat_host.rs): Huddle attached to the host's
// own Socket.IO namespace, so one socket.io-client connection carries the host's `message`
// event and Huddle's call events; the host's own authenticator (session tokens); chat
// messages written from Huddle's lifecycle stream.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { connect, emitAck, waitFor, FIXTURE, REPO_ROOT } from './lib/harness.mjs';
import { startHuddle } from '../shared/server.mjs';

const HOST_BIN = process.env.CHAT_HOST_BIN || path.join(REPO_ROOT, 'target', 'debug', 'examples', 'chat_host');
let host;
const sockets = [];

before(async () => {
  host = await startHuddle({ bin: HOST_BIN, args: ['--directory', FIXTURE] });
});
after(async () => {
  for (const s of sockets) s.disconnect();
  await host?.stop();
});

async function as(user) {
  const s = await connect(host.url, { auth: { session: `session-${user}` } });
  sockets.push(s);
  return s;
}

test('one connection carries chat and calls; the host authenticates and narrates calls', { timeout: 30_000 }, async () => {
  // The host's authenticator refuses unknown sessions (the text is the connect_error).
  await assert.rejects(connect(host.url, { auth: { session: 'forged' } }), /unknown session/);
  await assert.rejects(connect(host.url), /Authentication required/);

  const alice = await as('1');
  const bob = await as('2');
  // The host's own event on the shared socket.
  const chat = waitFor(bob, 'message');
  assert.deepEqual(await emitAck(alice, 'message', { conversationId: 'conv-team', text: 'hi' }), { ok: true });
  assert.deepEqual(await chat, { conversationId: 'conv-team', from: '1', text: 'hi', system: false });
  assert.deepEqual(await emitAck(alice, 'message', { conversationId: 'conv-pair', text: 'x' }), { error: 'Not a member' });

  // Huddle's events on the same socket: the authenticated socket is bound to its user, so
  // createRoom works without `join`, and `join` as someone else is refused.
  assert.deepEqual(await emitAck(alice, 'join', '2'), { error: 'User id does not match the authenticated user' });
  const started = waitFor(bob, 'message', { predicate: (m) => m.system });
  const ringing = waitFor(bob, 'group_call_started');
  const ack = await emitAck(alice, 'createRoom', { roomId: 'conv-team' });
  assert.ok(ack.rtpCapabilities, JSON.stringify(ack));
  assert.equal((await ringing).conversationId, 'conv-team');
  assert.deepEqual(await started, { conversationId: 'conv-team', from: null, text: 'Alice started a call', system: true });

  assert.ok((await emitAck(bob, 'createRoom', { roomId: 'conv-team' })).rtpCapabilities);
  const ended = waitFor(alice, 'message', { predicate: (m) => m.system && m.text.startsWith('Call ended') });
  await emitAck(bob, 'leaveRoom');
  await emitAck(alice, 'leaveRoom');
  assert.deepEqual(await ended, {
    conversationId: 'conv-team', from: null, text: 'Call ended · under a minute · 2 people', system: true,
  });
  // Unknown events are still answered by Huddle, the host's stay the host's.
  assert.deepEqual(await emitAck(alice, 'no-such-event', {}), { error: 'Unknown event' });
});

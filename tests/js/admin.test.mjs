// The admin HTTP API (--admin-token) against real clients: listing calls with producers,
// muting (producers paused in the worker, producerPaused {by: "admin"} to everyone), removing
// a participant, ending a call, and every error (401, 400, 404).
import assert from 'node:assert/strict';
import {
  useServer, enterRoom, produce, closeCall, waitFor, expectNoMediaLeftovers, MEDIASOUP_CLIENTS,
} from './lib/harness.mjs';

const TOKEN = 'admin-test-token';
const srv = useServer({ extraArgs: ['--admin-token', TOKEN] });
const { serverTest } = srv;
const client = MEDIASOUP_CLIENTS[0];

async function api(method, path, { token = TOKEN, body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${srv.url}${path}`, { method, headers, body: body && JSON.stringify(body) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

serverTest('list, mute, remove and end a call; errors are JSON with the right status', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const callA = await enterRoom(a, 'conv-team', client);
  const [audio, video] = await produce(callA, ['audio', 'video']);
  const callB = await enterRoom(b, 'conv-team', client);

  assert.deepEqual(await api('GET', '/api/v1/calls', { token: null }), { status: 401, body: { error: 'Unauthorized' } });
  assert.equal((await api('GET', '/api/v1/calls', { token: 'nope' })).status, 401);
  const listed = await api('GET', '/api/v1/calls');
  assert.equal(listed.status, 200);
  const [call] = listed.body.calls;
  assert.equal(call.conversationId, 'conv-team');
  assert.deepEqual(call.participants.map((p) => [p.userId, p.socketId]), [['1', a.id], ['2', b.id]]);
  assert.deepEqual(call.participants[0].producers, [
    { id: audio.id, kind: 'audio', source: 'microphone', paused: false },
    { id: video.id, kind: 'video', source: 'camera', paused: false },
  ]);

  // Mute Alice's audio: both sides (Alice too) hear it, marked by the admin.
  const toA = waitFor(a, 'producerPaused');
  const toB = waitFor(b, 'producerPaused');
  const muted = await api('POST', '/api/v1/calls/conv-team/participants/1/mute', { body: { kind: 'audio' } });
  assert.deepEqual(muted, { status: 200, body: { success: true, paused: 1 } });
  const expected = { producerId: audio.id, socketId: a.id, kind: 'audio', by: 'admin' };
  assert.deepEqual(await toA, expected);
  assert.deepEqual(await toB, expected);
  const after = await api('GET', '/api/v1/calls');
  assert.deepEqual(after.body.calls[0].participants[0].producers.map((p) => p.paused), [true, false]);
  // Muting again changes nothing.
  assert.deepEqual((await api('POST', '/api/v1/calls/conv-team/participants/1/mute', { body: { kind: 'audio' } })).body,
    { success: true, paused: 0 });
  assert.deepEqual(await api('POST', '/api/v1/calls/conv-team/participants/1/mute', { body: { kind: 'screen' } }),
    { status: 400, body: { error: 'kind must be "audio" or "video"' } });
  assert.equal((await api('POST', '/api/v1/calls/conv-team/participants/1/mute', { body: 'x' })).status, 400);
  assert.deepEqual(await api('POST', '/api/v1/calls/conv-team/participants/3/mute', { body: { kind: 'audio' } }),
    { status: 404, body: { error: 'User not in call' } });
  assert.deepEqual(await api('POST', '/api/v1/calls/conv-nope/participants/1/mute', { body: { kind: 'audio' } }),
    { status: 404, body: { error: 'Call not found' } });

  // Remove Bob, then end the call.
  const removed = waitFor(b, 'removedFromRoom');
  const left = waitFor(a, 'participantLeft');
  assert.equal((await api('DELETE', '/api/v1/calls/conv-team/participants/2')).status, 200);
  assert.deepEqual(await removed, { roomId: 'conv-team', reason: 'removed_by_admin' });
  assert.deepEqual(await left, { socketId: b.id });
  const ended = waitFor(b, 'group_call_ended');
  const endedForA = waitFor(a, 'removedFromRoom');
  assert.deepEqual(await api('DELETE', '/api/v1/calls/conv-team'), { status: 200, body: { success: true } });
  assert.deepEqual(await endedForA, { roomId: 'conv-team', reason: 'ended_by_admin' });
  assert.deepEqual(await ended, { conversationId: 'conv-team' });
  assert.deepEqual(await api('DELETE', '/api/v1/calls/conv-team'), { status: 404, body: { error: 'Call not found' } });
  assert.deepEqual((await api('GET', '/api/v1/calls')).body, { calls: [] });
  closeCall(callA);
  closeCall(callB);
  await expectNoMediaLeftovers(srv.server);
});

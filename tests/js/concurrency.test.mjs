// Simultaneous createRoom for the same new conversation.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, request, expectNoMediaLeftovers, sleep, collect,
  MEDIASOUP_CLIENTS, newDevice, enterRoom, produce, consume,
} from './lib/harness.mjs';

const srv = useServer();
const { serverTest } = srv;
const [current, v36] = MEDIASOUP_CLIENTS;

const QUAD = { id: 'conv-quad', name: 'Quad Squad', avatar: null };

serverTest('4 members createRoom the same new room at once: one router, same capabilities', async () => {
  const users = ['1', '2', '3', '5'];
  const sockets = [];
  for (const u of users) sockets.push(await srv.connectAs(u));
  const outsider = await srv.connectAs('4');

  const started = sockets.map((s) => collect(s, 'group_call_started'));
  const noOutsider = expectNoEvent(outsider, 'group_call_started', 800);

  const acks = await Promise.all(sockets.map((s) => emitAck(s, 'createRoom', { roomId: 'conv-quad' })));
  for (const [i, ack] of acks.entries()) {
    assert.ok(ack && ack.rtpCapabilities, `createRoom ack #${i}: ${JSON.stringify(ack)}`);
  }
  for (const ack of acks.slice(1)) assert.deepEqual(ack.rtpCapabilities, acks[0].rtpCapabilities);

  const st = await srv.stats();
  assert.equal(st.rooms, 1, 'exactly one room');
  assert.equal(st.participants, 4);

  // Exactly one group_call_started per member socket (only the first
  // participant found the room empty).
  await sleep(500);
  await noOutsider;
  for (const [i, c] of started.entries()) {
    c.stop();
    assert.deepEqual(c.items, [{ conversationId: 'conv-quad', conversationInfo: QUAD }],
      `group_call_started received by user ${users[i]}`);
  }

  const list = await emitAck(sockets[3], 'get_active_calls', {});
  assert.equal(list.calls.length, 1);
  const [{ participants, ...call }] = list.calls;
  assert.deepEqual(call, { conversationId: 'conv-quad', conversationInfo: QUAD, participantCount: 4 });
  // Listed in join order, which the race decides: compare as a set.
  assert.deepEqual(participants.map((p) => p.userId).sort(), ['1', '2', '3', '5']);

  // A consumer across them works (mixing client versions).
  const load = async (s, client, caps) => {
    const d = newDevice(client);
    await d.load({ routerRtpCapabilities: caps });
    return d;
  };
  await load(sockets[0], current, acks[0].rtpCapabilities); // sanity: caps loadable by both
  await load(sockets[0], v36, acks[0].rtpCapabilities);

  // enterRoom() re-sends createRoom for the room the socket is already in; do
  // the transports by hand instead, reusing the existing participant.
  const calls = [];
  for (const [i, s] of sockets.entries()) {
    const client = i % 2 === 0 ? current : v36;
    calls.push(await setupTransports(s, client, acks[i].rtpCapabilities));
  }
  const [p0] = await produce(calls[0], ['audio']);
  const [p1] = await produce(calls[1], ['video']);
  for (const i of [1, 2, 3]) await consume(calls[i], p0.id);
  for (const i of [0, 2, 3]) await consume(calls[i], p1.id);
  const st2 = await srv.stats();
  assert.deepEqual([st2.transports, st2.producers, st2.consumers], [8, 2, 6]);

  const ended = sockets.map((s) => waitFor(s, 'group_call_ended'));
  await Promise.all(sockets.map(async (s) => s.emit('leaveRoom')));
  for (const p of ended) assert.deepEqual(await p, { conversationId: 'conv-quad' });
  await expectNoMediaLeftovers(srv.server);
});

serverTest('concurrent leave: exactly one group_call_ended per member socket', async () => {
  const users = ['1', '2', '3', '5'];
  const sockets = [];
  for (const u of users) sockets.push(await srv.connectAs(u));
  for (const s of sockets) await request(s, 'createRoom', { roomId: 'conv-quad' });
  const ended = sockets.map((s) => collect(s, 'group_call_ended'));
  for (const s of sockets) s.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
  await sleep(500);
  for (const [i, c] of ended.entries()) {
    c.stop();
    assert.deepEqual(c.items, [{ conversationId: 'conv-quad' }], `group_call_ended for user ${users[i]}`);
  }
});

serverTest('concurrent createRoom + disconnect churn leaves no leftovers', async () => {
  const rounds = 5;
  for (let r = 0; r < rounds; r++) {
    const sockets = [];
    for (const u of ['1', '2', '3', '5']) sockets.push(await srv.connectAs(u));
    const acks = await Promise.all(sockets.map((s) => emitAck(s, 'createRoom', { roomId: 'conv-quad' })));
    for (const a of acks) assert.ok(a.rtpCapabilities, JSON.stringify(a));
    await Promise.all(sockets.map((s) => emitAck(s, 'createTransport', { type: 'send' })));
    // half leave, half disconnect, simultaneously
    sockets.forEach((s, i) => (i % 2 ? s.emit('leaveRoom') : s.disconnect()));
    await expectNoMediaLeftovers(srv.server);
    for (const s of sockets) s.disconnect();
  }
});

serverTest('a burst of requests on one socket: every request is answered, socket survives', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  await request(a, 'createRoom', { roomId: 'conv-team' });
  const N = 200;
  const acks = await Promise.all(Array.from({ length: N }, () => emitAck(a, 'get_active_calls', {})));
  let ok = 0;
  for (const r of acks) {
    assert.ok(r && (Array.isArray(r.calls) || typeof r.error === 'string'), `burst ack: ${JSON.stringify(r)}`);
    if (Array.isArray(r.calls)) {
      ok++;
      assert.deepEqual(r.calls.map((c) => [c.conversationId, c.participantCount]), [['conv-team', 1]]);
    }
  }
  assert.ok(ok > 0, 'at least some burst requests succeeded');
  const mixed = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    i % 2 ? emitAck(a, 'getProducers') : emitAck(b, 'get_active_calls', {})));
  for (const r of mixed) assert.ok(r && typeof r === 'object', JSON.stringify(r));
  assert.equal(a.connected, true, 'socket still connected after the burst');
  // Normal service afterwards.
  assert.deepEqual(await emitAck(a, 'getProducers', {}), { producers: [] });
  a.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

function setupTransports(socket, client, rtpCapabilities) {
  return enterRoom(socket, 'conv-quad', client, { rtpCapabilities });
}

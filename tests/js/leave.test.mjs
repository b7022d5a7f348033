// leaveRoom, group_call_ended fan-out, and switching rooms with createRoom.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, request, expectNoMediaLeftovers, waitForStats,
  MEDIASOUP_CLIENTS, enterRoom, produce, consume, closeCall, sleep,
} from './lib/harness.mjs';

const srv = useServer();
const { serverTest } = srv;
const [client] = MEDIASOUP_CLIENTS;

serverTest('leaveRoom: participantLeft to the rest, group_call_ended to all member devices, zero leftovers', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const b2 = await srv.connectAs('2'); // second device of user 2, not in the room
  const c1 = await srv.connectAs('3'); // member, never joins the room
  const c2 = await srv.connectAs('3');
  const d = await srv.connectAs('4'); // not a member

  const callA = await enterRoom(a, 'conv-team', client);
  const [aAudio, aVideo] = await produce(callA);
  const callB = await enterRoom(b, 'conv-team', client);
  const [bAudio] = await produce(callB, ['audio']);
  await consume(callB, aAudio.id);
  await consume(callB, aVideo.id);
  await consume(callA, bAudio.id);
  let st = await srv.stats();
  assert.deepEqual([st.rooms, st.participants, st.transports, st.producers, st.consumers], [1, 2, 4, 3, 3]);

  // A leaves: only B (in the room) hears participantLeft; nobody hears ended.
  const left = waitFor(b, 'participantLeft');
  const quiet = [
    expectNoEvent(a, 'participantLeft', 600),
    expectNoEvent(b2, 'participantLeft', 600),
    expectNoEvent(c1, 'participantLeft', 600),
    ...[a, b, b2, c1, c2, d].map((s) => expectNoEvent(s, 'group_call_ended', 600)),
  ];
  const aId = a.id;
  a.emit('leaveRoom');
  closeCall(callA);
  assert.deepEqual(await left, { socketId: aId });
  await Promise.all(quiet);
  st = await waitForStats(srv.server, (s) => s.participants === 1);
  assert.deepEqual([st.rooms, st.transports, st.producers], [1, 2, 1]);

  // A's transports are really gone.
  // (A is no longer a participant: "Participant not found".)
  assert.deepEqual(
    await emitAck(a, 'connectTransport', { transportId: callA.sendTransport.id, dtlsParameters: { fingerprints: [], role: 'auto' } }),
    { error: 'Participant not found' });

  // A second leaveRoom by A is a harmless no-op.
  const quiet2 = [b, a].map((s) => expectNoEvent(s, 'participantLeft', 400));
  a.emit('leaveRoom');
  await Promise.all(quiet2);

  // B (last) leaves: group_call_ended to every socket of every member.
  const ended = [a, b, b2, c1, c2].map((s) => waitFor(s, 'group_call_ended'));
  const noD = expectNoEvent(d, 'group_call_ended', 800);
  const noLeft = expectNoEvent(a, 'participantLeft', 500);
  b.emit('leaveRoom');
  closeCall(callB);
  for (const p of ended) assert.deepEqual(await p, { conversationId: 'conv-team' });
  await noD;
  await noLeft;

  st = await expectNoMediaLeftovers(srv.server);
  assert.equal(st.sockets, 6, 'all six sockets still connected');
  assert.equal(st.joinedUsers, 4, 'users 1, 2, 3, 4 joined');

  // Nothing is active any more.
  assert.deepEqual(await emitAck(c1, 'get_active_calls', {}), { calls: [] });

  // Everyone disconnects: stats go to zero.
  for (const s of [a, b, b2, c1, c2, d]) s.disconnect();
  st = await waitForStats(srv.server, (s) => s.sockets === 0 && s.joinedUsers === 0);
  for (const k of ['sockets', 'joinedUsers', 'rooms', 'participants', 'transports', 'producers', 'consumers']) {
    assert.equal(st[k], 0, `stats.${k}`);
  }
});

serverTest('leaveRoom when not in a room is ignored', async () => {
  const a = await srv.connectAs('1');
  const noEnded = expectNoEvent(a, 'group_call_ended', 400);
  a.emit('leaveRoom');
  await noEnded;
  const s = await srv.connect();
  s.emit('leaveRoom'); // not even joined
  await sleep(100);
  assert.deepEqual(await emitAck(a, 'get_active_calls', {}), { calls: [] });
});

serverTest('createRoom for another room while in one leaves the old room first', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const c = await srv.connectAs('3');
  const d = await srv.connectAs('4');

  const callA = await enterRoom(a, 'conv-team', client);
  const [aAudio] = await produce(callA, ['audio']);
  const callB = await enterRoom(b, 'conv-team', client);
  await consume(callB, aAudio.id);

  // A switches to conv-noname.  conv-team still has B: participantLeft to B,
  // no group_call_ended for conv-team; conv-noname starts (members 1 and 4).
  const left = waitFor(b, 'participantLeft');
  const noEndedTeam = [a, b, c].map((s) => expectNoEvent(s, 'group_call_ended', 700));
  const startedNoname = [a, d].map((s) => waitFor(s, 'group_call_started',
    { predicate: (e) => e.conversationId === 'conv-noname' }));
  const aId = a.id;
  const res = await emitAck(a, 'createRoom', { roomId: 'conv-noname' });
  assert.ok(res.rtpCapabilities, `createRoom(conv-noname): ${JSON.stringify(res)}`);
  closeCall(callA);
  assert.deepEqual(await left, { socketId: aId });
  await Promise.all(noEndedTeam);
  for (const p of startedNoname) {
    assert.deepEqual(await p, {
      conversationId: 'conv-noname',
      conversationInfo: { id: 'conv-noname', name: 'Group Call', avatar: null },
    });
  }

  let st = await srv.stats();
  assert.equal(st.rooms, 2, 'conv-team (B) and conv-noname (A)');
  assert.equal(st.participants, 2);
  assert.equal(st.producers, 0, 'A\'s producer in conv-team is closed');
  assert.equal(st.transports, 2, 'only B\'s transports remain');

  // The old transport is gone for A (A is a participant of the new room).
  assert.deepEqual(
    await emitAck(a, 'connectTransport', { transportId: callA.sendTransport.id, dtlsParameters: { fingerprints: [], role: 'auto' } }),
    { error: 'Transport not found' });
  // getProducers now reports the new room (empty).
  assert.deepEqual(await emitAck(a, 'getProducers'), { producers: [] });

  // B sees the old room's producer list without A's producer.
  assert.deepEqual(await emitAck(b, 'getProducers', {}), { producers: [] });

  // A switches back to conv-team: conv-noname empties -> group_call_ended
  // for conv-noname to its members (1 and 4), B gets no participantLeft.
  const endedNoname = [a, d].map((s) => waitFor(s, 'group_call_ended'));
  const noEndedB = expectNoEvent(b, 'group_call_ended', 700);
  const noEndedC = expectNoEvent(c, 'group_call_ended', 700);
  const noLeftB = expectNoEvent(b, 'participantLeft', 700);
  await request(a, 'createRoom', { roomId: 'conv-team' });
  for (const p of endedNoname) assert.deepEqual(await p, { conversationId: 'conv-noname' });
  await Promise.all([noEndedB, noEndedC, noLeftB]);
  st = await srv.stats();
  assert.equal(st.rooms, 1);
  assert.equal(st.participants, 2);

  // createRoom for the room one is already in (the seed server just
  // overwrote the participant entry): no participantLeft, no new
  // group_call_started, still a single participant.
  const noLeft2 = expectNoEvent(b, 'participantLeft', 500);
  const noStarted2 = [a, b, c].map((s) => expectNoEvent(s, 'group_call_started', 500));
  const again = await emitAck(a, 'createRoom', { roomId: 'conv-team' });
  assert.ok(again.rtpCapabilities, `createRoom on the same room: ${JSON.stringify(again)}`);
  await noLeft2;
  await Promise.all(noStarted2);
  st = await srv.stats();
  assert.equal(st.participants, 2, 'no duplicate participant');
  assert.equal(st.rooms, 1);

  const ended = [a, b, c].map((s) => waitFor(s, 'group_call_ended'));
  a.emit('leaveRoom');
  b.emit('leaveRoom');
  closeCall(callB);
  for (const p of ended) assert.deepEqual(await p, { conversationId: 'conv-team' });
  await expectNoMediaLeftovers(srv.server);
});

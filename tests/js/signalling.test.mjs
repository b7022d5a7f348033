// group_call_initiate / group_call_incoming / group_call_started /
// group_call_ended shapes, directory defaults, multi-device delivery.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, request, emitAck, expectNoMediaLeftovers, sleep,
} from './lib/harness.mjs';

const srv = useServer();
const { serverTest } = srv;

const ALICE = { id: 1, name: 'Alice', avatar: 'https://cdn.test/avatars/alice.png' };
const USER3 = { id: 3, name: 'User 3', avatar: null };
const TEAM = { id: 'conv-team', name: 'Team Alpha', avatar: 'https://cdn.test/avatars/team.png' };
const NONAME = { id: 'conv-noname', name: 'Group Call', avatar: null };

serverTest('caller flow: group_call_incoming / group_call_started exact shapes', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const c = await srv.connectAs('3');
  const d = await srv.connectAs('4'); // not in conv-team

  const incomingB = waitFor(b, 'group_call_incoming');
  const incomingC = waitFor(c, 'group_call_incoming');
  const startedA = waitFor(a, 'group_call_started');
  const startedB = waitFor(b, 'group_call_started');
  const startedC = waitFor(c, 'group_call_started');
  const noIncomingA = expectNoEvent(a, 'group_call_incoming', 800);
  const noIncomingD = expectNoEvent(d, 'group_call_incoming', 800);
  const noStartedD = expectNoEvent(d, 'group_call_started', 800);
  const noErrorA = expectNoEvent(a, 'group_call_error', 800);

  a.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'video' });

  const expectedIncoming = {
    callerId: '1',
    conversationId: 'conv-team',
    callType: 'video',
    callerInfo: ALICE,
    conversationInfo: TEAM,
  };
  assert.deepEqual(await incomingB, expectedIncoming, 'group_call_incoming to user 2');
  assert.deepEqual(await incomingC, expectedIncoming, 'group_call_incoming to user 3');
  const b1 = await incomingB;
  assert.equal(typeof b1.callerInfo.id, 'number', 'callerInfo.id is a number');

  const expectedStarted = { conversationId: 'conv-team', callerInfo: ALICE, conversationInfo: TEAM };
  assert.deepEqual(await startedA, expectedStarted, 'group_call_started to the caller');
  assert.deepEqual(await startedB, expectedStarted, 'group_call_started to user 2');
  assert.deepEqual(await startedC, expectedStarted, 'group_call_started to user 3');
  await Promise.all([noIncomingA, noIncomingD, noStartedD, noErrorA]);

  // group_call_initiate does not create a room by itself.
  const st = await srv.stats();
  assert.equal(st.rooms, 0, 'no room before createRoom');

  // The caller joins the (empty) room: group_call_started again, this time
  // without callerInfo, to all members.
  const started2 = [a, b, c].map((s) => waitFor(s, 'group_call_started'));
  const noStartedD2 = expectNoEvent(d, 'group_call_started', 600);
  const created = await request(a, 'createRoom', { roomId: 'conv-team' });
  assert.ok(created.rtpCapabilities, 'createRoom returns rtpCapabilities');
  for (const p of started2) {
    const ev = await p;
    assert.equal(ev.callerInfo, undefined, 'createRoom-triggered group_call_started has no callerInfo');
    assert.deepEqual(ev, { conversationId: 'conv-team', conversationInfo: TEAM });
  }
  await noStartedD2;

  // Second participant: room is not empty -> no new group_call_started.
  const noStarted3 = [a, b, c].map((s) => expectNoEvent(s, 'group_call_started', 600));
  await request(b, 'createRoom', { roomId: 'conv-team' });
  await Promise.all(noStarted3);

  // Both leave -> group_call_ended to everybody (including those not in the room).
  const ended = [a, b, c].map((s) => waitFor(s, 'group_call_ended'));
  const noEndedD = expectNoEvent(d, 'group_call_ended', 800);
  a.emit('leaveRoom');
  await sleep(100);
  b.emit('leaveRoom');
  for (const p of ended) assert.deepEqual(await p, { conversationId: 'conv-team' });
  await noEndedD;
  await expectNoMediaLeftovers(srv.server);
});

serverTest('directory defaults: user without name/avatar, conversation without name', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const c = await srv.connectAs('3');
  const d = await srv.connectAs('4');

  // User 3 has name=null, avatar=null -> "User 3", null.  callType 'audio' is echoed.
  const inA = waitFor(a, 'group_call_incoming');
  const inB = waitFor(b, 'group_call_incoming');
  const stC = waitFor(c, 'group_call_started');
  c.emit('group_call_initiate', { callerId: '3', conversationId: 'conv-team', callType: 'audio' });
  const exp = {
    callerId: '3', conversationId: 'conv-team', callType: 'audio', callerInfo: USER3, conversationInfo: TEAM,
  };
  assert.deepEqual(await inA, exp);
  assert.deepEqual(await inB, exp);
  assert.deepEqual(await stC, { conversationId: 'conv-team', callerInfo: USER3, conversationInfo: TEAM });

  // Conversation with name=null, avatar=null -> "Group Call", null.
  const inD = waitFor(d, 'group_call_incoming');
  const stA = waitFor(a, 'group_call_started', { predicate: (e) => e.conversationId === 'conv-noname' });
  const noB = expectNoEvent(b, 'group_call_incoming', 600);
  a.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-noname', callType: 'video' });
  assert.deepEqual(await inD, {
    callerId: '1', conversationId: 'conv-noname', callType: 'video', callerInfo: ALICE, conversationInfo: NONAME,
  });
  assert.deepEqual(await stA, { conversationId: 'conv-noname', callerInfo: ALICE, conversationInfo: NONAME });
  await noB;

  // Absolute avatar URLs pass through unchanged (Bob, conv-pair).
  const inC = waitFor(c, 'group_call_incoming');
  b.emit('group_call_initiate', { callerId: '2', conversationId: 'conv-pair', callType: 'video' });
  assert.deepEqual(await inC, {
    callerId: '2',
    conversationId: 'conv-pair',
    callType: 'video',
    callerInfo: { id: 2, name: 'Bob', avatar: 'https://img.example/bob.jpg' },
    conversationInfo: { id: 'conv-pair', name: 'Pair', avatar: 'https://img.example/pair.png' },
  });
});

serverTest('callType defaults to "video" when omitted', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const inB = waitFor(b, 'group_call_incoming');
  a.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team' });
  const ev = await inB;
  assert.equal(ev.callType, 'video');
});

serverTest('join with a numeric user id works like the string form', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connect();
  b.emit('join', 2); // number
  const calls = await emitAck(b, 'get_active_calls', {});
  assert.deepEqual(calls, { calls: [] });
  const inB = waitFor(b, 'group_call_incoming');
  a.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'video' });
  assert.equal((await inB).callerId, '1');
  const created = await emitAck(b, 'createRoom', { roomId: 'conv-team' });
  assert.ok(created.rtpCapabilities, `createRoom after numeric join: ${JSON.stringify(created)}`);
  b.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

serverTest('two devices of one user: both get incoming / started / ended', async () => {
  const a1 = await srv.connectAs('1');
  const a2 = await srv.connectAs('1');
  const b1 = await srv.connectAs('2');
  const b2 = await srv.connectAs('2');
  const c = await srv.connectAs('3');

  const incoming = [b1, b2, c].map((s) => waitFor(s, 'group_call_incoming'));
  const started = [a1, a2, b1, b2, c].map((s) => waitFor(s, 'group_call_started'));
  const noIncomingCaller = [a1, a2].map((s) => expectNoEvent(s, 'group_call_incoming', 800));
  a1.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'video' });
  for (const p of incoming) {
    const ev = await p;
    assert.equal(ev.conversationId, 'conv-team');
    assert.deepEqual(ev.callerInfo, ALICE);
  }
  for (const p of started) assert.deepEqual(await p, { conversationId: 'conv-team', callerInfo: ALICE, conversationInfo: TEAM });
  await Promise.all(noIncomingCaller);

  // Only one device of user 2 joins the room; every device still sees the
  // room-level started/ended notifications.
  const started2 = [a1, a2, b1, b2, c].map((s) => waitFor(s, 'group_call_started'));
  await request(b2, 'createRoom', { roomId: 'conv-team' });
  for (const p of started2) assert.equal((await p).conversationId, 'conv-team');

  const ended = [a1, a2, b1, b2, c].map((s) => waitFor(s, 'group_call_ended'));
  b2.emit('leaveRoom');
  for (const p of ended) assert.deepEqual(await p, { conversationId: 'conv-team' });

  // A device that joins the room later is independent of the other device
  // of the same user: a1 in the room, a2 not.
  await request(a1, 'createRoom', { roomId: 'conv-team' });
  await request(b1, 'createRoom', { roomId: 'conv-team' });
  let st = await srv.stats();
  assert.equal(st.participants, 2);
  const left = waitFor(b1, 'participantLeft');
  const noLeftA2 = expectNoEvent(a2, 'participantLeft', 500);
  const a1Id = a1.id;
  a1.disconnect();
  assert.deepEqual(await left, { socketId: a1Id });
  await noLeftA2;
  st = await srv.stats();
  assert.equal(st.participants, 1);
  const ended2 = [a2, b1, b2, c].map((s) => waitFor(s, 'group_call_ended'));
  b1.emit('leaveRoom');
  for (const p of ended2) assert.deepEqual(await p, { conversationId: 'conv-team' });
  await expectNoMediaLeftovers(srv.server);
});

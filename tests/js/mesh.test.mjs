// Mesh (peer-to-peer) group calls (seed 003): join / leave / disconnect, SDP and ICE relay with
// senderId, track updates, invitations, membership check, size limit (server runs with
// --mesh-max-participants 3), isolation from sockets outside the room, malformed payloads.
//
// Fixture: conv-team = 1,2,3; conv-quad = 1,2,3,5; conv-pair = 2,3; user 4 is in none of those.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, AVATAR_BASE,
} from './lib/harness.mjs';

const srv = useServer({ extraArgs: ['--mesh-max-participants', '3'] });
const { serverTest } = srv;

const OFFER = { type: 'offer', sdp: 'v=0\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\n' };
const CAND = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0' };

async function meshJoin(s, roomId, extra = {}) {
  const res = await emitAck(s, 'groupcall:join', { roomId, ...extra });
  assert.ok(res && !res.error, `groupcall:join ${roomId} as ${s.userId}: ${JSON.stringify(res)}`);
  return res;
}

serverTest('full mesh call: join, participants with tracks, offer/answer/ICE, tracks, leave', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const c = await srv.connectAs('3');

  assert.deepEqual(await meshJoin(a, 'conv-quad'),
    { roomId: 'conv-quad', participants: [], maxParticipants: 3 });

  const joinedAtA = waitFor(a, 'groupcall:participant-joined');
  const view = await meshJoin(b, 'conv-quad', { tracks: { video: false } });
  const aPeer = {
    userId: '1', socketId: a.id,
    participantInfo: { userId: '1', name: 'Alice', avatar: `${AVATAR_BASE}/alice.png` },
    tracks: { audio: true, video: true },
  };
  assert.deepEqual(view.participants, [aPeer]);
  assert.deepEqual(await joinedAtA, {
    roomId: 'conv-quad', userId: '2', socketId: b.id,
    participantInfo: { userId: '2', name: 'Bob', avatar: 'https://img.example/bob.jpg' },
    tracks: { audio: true, video: false },
  });

  // Offer a → b, answer b → a, ICE both ways; senderId added, targetUserId as number works.
  const offerAtB = waitFor(b, 'groupcall:webrtc-offer');
  a.emit('groupcall:webrtc-offer', { roomId: 'conv-quad', offer: OFFER, targetUserId: 2 });
  assert.deepEqual(await offerAtB, { roomId: 'conv-quad', senderId: '1', senderSocketId: a.id, offer: OFFER });
  const answerAtA = waitFor(a, 'groupcall:webrtc-answer');
  b.emit('groupcall:webrtc-answer', { roomId: 'conv-quad', answer: ANSWER, targetUserId: '1' });
  assert.deepEqual(await answerAtA, { roomId: 'conv-quad', senderId: '2', senderSocketId: b.id, answer: ANSWER });
  const iceAtA = waitFor(a, 'groupcall:webrtc-ice-candidate');
  assert.deepEqual(await emitAck(b, 'groupcall:webrtc-ice-candidate',
    { roomId: 'conv-quad', candidate: CAND, targetUserId: '1' }), { success: true });
  const ice = await iceAtA;
  assert.equal(ice.senderId, '2');
  assert.deepEqual(ice.candidate, CAND);

  // Mute: the others learn the full track state.
  const tracksAtB = waitFor(b, 'groupcall:tracks-updated');
  a.emit('groupcall:update-tracks', { roomId: 'conv-quad', tracks: { audio: false } });
  assert.deepEqual(await tracksAtB,
    { roomId: 'conv-quad', userId: '1', socketId: a.id, tracks: { audio: false, video: true } });

  // A later joiner without callback gets the groupcall:joined event with the latest state.
  const joinedEvent = waitFor(c, 'groupcall:joined');
  c.emit('groupcall:join', { roomId: 'conv-quad' });
  const cView = await joinedEvent;
  assert.deepEqual(cView.participants.map((p) => [p.userId, p.tracks]),
    [['1', { audio: false, video: true }], ['2', { audio: true, video: false }]]);

  // Leave: the others are told.
  const leftAtA = waitFor(a, 'groupcall:participant-left');
  const leftAtC = waitFor(c, 'groupcall:participant-left');
  assert.deepEqual(await emitAck(b, 'groupcall:leave', { roomId: 'conv-quad' }), { success: true });
  const expectLeft = { roomId: 'conv-quad', userId: '2', socketId: b.id };
  assert.deepEqual(await leftAtA, expectLeft);
  assert.deepEqual(await leftAtC, expectLeft);
  // After leaving, b can no longer signal into the room.
  assert.deepEqual(await emitAck(b, 'groupcall:webrtc-offer', { roomId: 'conv-quad', offer: OFFER, targetUserId: 1 }),
    { error: 'Not in this mesh room' });

  // Disconnect counts as leaving.
  const gone = waitFor(a, 'groupcall:participant-left');
  const cId = c.id;
  c.disconnect();
  assert.deepEqual(await gone, { roomId: 'conv-quad', userId: '3', socketId: cId });
});

serverTest('membership is checked like createRoom; errors as ack or groupcall:error', async () => {
  const n = await srv.connect();
  assert.deepEqual(await emitAck(n, 'groupcall:join', { roomId: 'conv-quad' }), { error: 'Join first with your user ID' });
  const d = await srv.connectAs('4');
  assert.deepEqual(await emitAck(d, 'groupcall:join', { roomId: 'conv-quad' }), { error: 'You are not in this group' });
  assert.deepEqual(await emitAck(d, 'groupcall:join', { roomId: 'nope' }), { error: 'You are not in this group' });
  assert.deepEqual(await emitAck(d, 'groupcall:join', {}), { error: 'roomId required' });
  const err = waitFor(d, 'groupcall:error');
  d.emit('groupcall:join', { roomId: 'conv-quad' });
  assert.deepEqual(await err, { message: 'You are not in this group' });
  // Malformed payloads.
  for (const [event, payload, re] of [
    ['groupcall:join', { roomId: ['x'] }, /Invalid payload/],
    ['groupcall:join', 'conv-quad', /Invalid payload/],
    ['groupcall:update-tracks', { roomId: 'conv-quad' }, /Invalid payload/],
    ['groupcall:update-tracks', { tracks: { audio: 'off' } }, /Invalid payload/],
    ['groupcall:webrtc-offer', { roomId: 'conv-quad', targetUserId: 1 }, /offer required/],
    ['groupcall:webrtc-offer', { targetUserId: 1, offer: { sdp: 'x'.repeat(70 * 1024) } }, /too large/],
    ['groupcall:webrtc-ice-candidate', { targetUserId: 1, candidate: 5 }, /must be an object or a string/],
    ['groupcall:webrtc-answer', { answer: ANSWER }, /targetUserId required|Not in this mesh room/],
    ['groupcall:invitation', { roomId: 'conv-quad', callType: 'hologram' }, /Invalid payload/],
    ['groupcall:leave', {}, /Not in this mesh room/],
  ]) {
    const res = await emitAck(d, event, payload);
    assert.match(res?.error ?? '', re, `${event} ${JSON.stringify(payload).slice(0, 60)} → ${JSON.stringify(res)}`);
  }
  const st = await srv.stats();
  assert.equal(st.sockets, 2);
});

serverTest('size limit: the join above --mesh-max-participants points to the SFU flow', async () => {
  const [a, b, c] = [await srv.connectAs('1'), await srv.connectAs('2'), await srv.connectAs('3')];
  for (const s of [a, b, c]) await meshJoin(s, 'conv-quad');
  const e = await srv.connectAs('5');
  const res = await emitAck(e, 'groupcall:join', { roomId: 'conv-quad' });
  assert.match(res.error, /Mesh room is full \(at most 3 participants\)/);
  assert.match(res.error, /createRoom/);
  await expectNoEvent(a, 'groupcall:participant-joined', 300, (p) => p.userId === '5');
  // The SFU flow is the way in for the fourth participant.
  const created = await emitAck(e, 'createRoom', { roomId: 'conv-quad' });
  assert.ok(created.rtpCapabilities, JSON.stringify(created));
  // Once someone leaves, the mesh room has space again.
  a.emit('groupcall:leave', { roomId: 'conv-quad' });
  await waitFor(b, 'groupcall:participant-left');
  await emitAck(e, 'leaveRoom', {});
  await meshJoin(e, 'conv-quad');
});

serverTest('isolation: sockets outside the room can neither read nor inject offers / ICE', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const outsider = await srv.connectAs('4'); // not a member
  const other = await srv.connectAs('3'); // member, but in another mesh room
  await meshJoin(a, 'conv-quad');
  await meshJoin(b, 'conv-quad');
  await meshJoin(other, 'conv-pair');

  for (const [s, roomId, error] of [
    [outsider, 'conv-quad', 'Not in this mesh room'],
    [outsider, undefined, 'Not in this mesh room'],
    [other, 'conv-quad', 'Not in this mesh room'],
    [other, undefined, 'Target user is not in this mesh room'],
  ]) {
    for (const [event, body] of [
      ['groupcall:webrtc-offer', { offer: OFFER }],
      ['groupcall:webrtc-answer', { answer: ANSWER }],
      ['groupcall:webrtc-ice-candidate', { candidate: CAND }],
    ]) {
      assert.deepEqual(await emitAck(s, event, { roomId, targetUserId: '1', ...body }), { error },
        `${event} from ${s.userId} (room ${roomId})`);
    }
  }
  const err = waitFor(outsider, 'groupcall:error');
  outsider.emit('groupcall:webrtc-offer', { roomId: 'conv-quad', targetUserId: 2, offer: OFFER });
  assert.deepEqual(await err, { message: 'Not in this mesh room' });
  // Participants cannot address someone outside their room either.
  assert.deepEqual(await emitAck(a, 'groupcall:webrtc-offer', { targetUserId: 3, offer: OFFER }),
    { error: 'Target user is not in this mesh room' });
  await expectNoEvent(a, 'groupcall:webrtc-offer', 200);
  await expectNoEvent(b, 'groupcall:webrtc-offer', 200);

  // Traffic inside the room never reaches the others.
  const atB = waitFor(b, 'groupcall:webrtc-offer');
  a.emit('groupcall:webrtc-offer', { roomId: 'conv-quad', targetUserId: 2, offer: OFFER });
  await atB;
  a.emit('groupcall:update-tracks', { tracks: { video: false } });
  await waitFor(b, 'groupcall:tracks-updated');
  for (const s of [outsider, other]) {
    assert.ok(!s.received.some((r) => r.event.startsWith('groupcall:webrtc') || r.event === 'groupcall:tracks-updated'
      || r.event === 'groupcall:participant-joined'),
      `socket of ${s.userId} read nothing: ${JSON.stringify(s.received.map((r) => r.event))}`);
  }
});

serverTest('invitation rings members (not the inviter, not participants) on every socket', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const c1 = await srv.connectAs('3');
  const c2 = await srv.connectAs('3');
  const d = await srv.connectAs('4');
  await meshJoin(a, 'conv-team');
  await meshJoin(b, 'conv-team');
  const rings = [c1, c2].map((s) => waitFor(s, 'groupcall:invitation'));
  assert.deepEqual(await emitAck(a, 'groupcall:invitation', { roomId: 'conv-team', callType: 'audio' }),
    { success: true, invited: 1 });
  const expected = {
    roomId: 'conv-team', conversationId: 'conv-team', callerId: '1', callType: 'audio', mode: 'mesh',
    callerInfo: { id: 1, name: 'Alice', avatar: `${AVATAR_BASE}/alice.png` },
    conversationInfo: { id: 'conv-team', name: 'Team Alpha', avatar: `${AVATAR_BASE}/team.png` },
  };
  for (const got of await Promise.all(rings)) assert.deepEqual(got, expected);
  await expectNoEvent(a, 'groupcall:invitation', 200);
  await expectNoEvent(b, 'groupcall:invitation', 100);
  await expectNoEvent(d, 'groupcall:invitation', 100);
  // A non-member cannot invite.
  assert.deepEqual(await emitAck(d, 'groupcall:invitation', { roomId: 'conv-team' }), { error: 'You are not in this group' });
  // The invited user joins and is announced.
  const joined = waitFor(a, 'groupcall:participant-joined');
  await meshJoin(c1, 'conv-team');
  assert.equal((await joined).userId, '3');
  // Mesh participants are not available for 1:1 calls.
  assert.deepEqual(await emitAck(d, 'check-user-availability', { targetUserId: 1 }),
    { targetUserId: '1', isAvailable: false });
});

// 1:1 calls (seed 004): register-user, availability, initiate / accept / reject / end,
// ICE relay, busy, offline, ring timeout (server runs with --direct-call-timeout-secs 2),
// disconnects, multi-device answer, isolation from third sockets, malformed payloads.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, sleep,
} from './lib/harness.mjs';

const srv = useServer({ extraArgs: ['--direct-call-timeout-secs', '2'] });
const { serverTest } = srv;

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n' };
const CAND = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

/** Connects and registers (with a callback, so the ack is the barrier). */
async function user(userId, userName = `Name ${userId}`) {
  const s = await srv.connect();
  s.userId = userId;
  const res = await emitAck(s, 'register-user', { userId, userName, socketId: s.id });
  assert.deepEqual(res, { userId: String(userId), socketId: s.id, success: true });
  return s;
}

async function available(asker, targetUserId) {
  const res = await emitAck(asker, 'check-user-availability', { targetUserId });
  assert.equal(res.targetUserId, String(targetUserId));
  return res.isAvailable;
}

/** a (user 1) calls b (user 2) seed-style (no callback); resolves with b's incoming-call. */
async function ring(a, callees, payload = { targetUserId: 2, callerId: 1, callerName: 'Alice', offer: OFFER }) {
  const incoming = callees.map((b) => waitFor(b, 'incoming-call'));
  a.emit('initiate-call', payload);
  return Promise.all(incoming);
}

serverTest('register-user without callback answers with the user-registered event', async () => {
  const s = await srv.connect();
  const registered = waitFor(s, 'user-registered');
  s.emit('register-user', { userId: 7, userName: 'Seven', socketId: s.id });
  assert.deepEqual(await registered, { userId: '7', socketId: s.id, success: true });
  const answered = waitFor(s, 'user-availability-response');
  s.emit('check-user-availability', { targetUserId: '7' });
  assert.deepEqual(await answered, { targetUserId: '7', isAvailable: true });
});

serverTest('full call: offer, answer, ICE both ways, hang-up; availability follows', async () => {
  const a = await user(1, 'Alice');
  const b = await user(2, 'Bob');
  const c = await user(3);
  assert.equal(await available(a, 2), true);
  assert.equal(await available(c, 9), false, 'offline user');

  const [incoming] = await ring(a, [b]);
  assert.equal(incoming.callerId, '1');
  assert.equal(incoming.from, '1');
  assert.equal(incoming.callerName, 'Alice');
  assert.equal(incoming.callType, 'video');
  assert.deepEqual(incoming.offer, OFFER);
  assert.equal(typeof incoming.callId, 'string');
  assert.equal(await available(c, 1), false, 'caller busy while ringing');
  assert.equal(await available(c, 2), false, 'callee busy while ringing');

  const accepted = waitFor(a, 'call-accepted');
  b.emit('call-accepted', { targetUserId: 1, answer: ANSWER });
  assert.deepEqual(await accepted, { callId: incoming.callId, from: '2', answer: ANSWER });

  const atB = waitFor(b, 'ice-candidate');
  a.emit('ice-candidate', { targetUserId: 2, candidate: CAND });
  assert.deepEqual(await atB, { callId: incoming.callId, from: '1', candidate: CAND });
  const atA = waitFor(a, 'ice-candidate');
  b.emit('ice-candidate', { targetUserId: 1, candidate: CAND });
  assert.deepEqual(await atA, { callId: incoming.callId, from: '2', candidate: CAND });

  const ended = waitFor(b, 'call-ended');
  a.emit('call-ended', { targetUserId: 2 });
  assert.deepEqual(await ended, { callId: incoming.callId, from: '1', reason: 'hangup' });
  assert.equal(await available(c, 1), true);
  assert.equal(await available(c, 2), true);
  assert.ok(!c.received.some((r) => ['incoming-call', 'ice-candidate', 'call-accepted', 'call-ended'].includes(r.event)),
    `the third socket saw nothing: ${JSON.stringify(c.received.map((r) => r.event))}`);
});

serverTest('the {from, to} spelling works end to end; acks carry callId', async () => {
  const a = await user(1);
  const b = await user(2);
  const incoming = waitFor(b, 'incoming-call');
  const ack = await emitAck(a, 'initiate-call', { from: '1', to: '2', offer: OFFER });
  assert.equal(ack.success, true);
  assert.equal(typeof ack.callId, 'string');
  const inc = await incoming;
  assert.equal(inc.from, '1');
  assert.equal(inc.callerName, 'Name 1', 'registered name used when callerName is absent');
  const accepted = waitFor(a, 'call-accepted');
  assert.deepEqual(await emitAck(b, 'call-accepted', { to: 1, answer: ANSWER, callId: ack.callId }), { success: true });
  assert.equal((await accepted).callId, ack.callId);
  const cand = waitFor(b, 'ice-candidate');
  assert.deepEqual(await emitAck(a, 'ice-candidate', { to: 2, candidate: CAND }), { success: true });
  assert.deepEqual((await cand).candidate, CAND);
  const ended = waitFor(a, 'call-ended');
  assert.deepEqual(await emitAck(b, 'call-ended', { to: '1' }), { success: true });
  assert.equal((await ended).reason, 'hangup');
});

serverTest('busy: a ringing or in-call callee, or one in a mesh room, is reported at once', async () => {
  const a = await user(1);
  const b = await user(2);
  const c = await user(3);
  await ring(a, [b]);
  // Seed style (no callback): the call-rejected event with reason "busy".
  const rejected = waitFor(c, 'call-rejected');
  c.emit('initiate-call', { targetUserId: 2, callerId: 3, offer: OFFER });
  assert.deepEqual(await rejected, { from: '2', reason: 'busy' });
  // With a callback the ack says so too.
  const rejected2 = waitFor(c, 'call-rejected');
  assert.deepEqual(await emitAck(c, 'initiate-call', { targetUserId: 1, offer: OFFER }), { error: 'User is busy' });
  assert.equal((await rejected2).reason, 'busy');
  await expectNoEvent(b, 'incoming-call', 300);

  // A user in a mesh room is busy for 1:1 calls.
  const d = await user(5);
  assert.equal((await emitAck(d, 'groupcall:join', { roomId: 'conv-quad' })).roomId, 'conv-quad');
  const rejected3 = waitFor(c, 'call-rejected');
  assert.deepEqual(await emitAck(c, 'initiate-call', { targetUserId: 5, offer: OFFER }), { error: 'User is busy' });
  assert.equal((await rejected3).reason, 'busy');
  // The caller of a ringing call cannot start another.
  assert.deepEqual(await emitAck(a, 'initiate-call', { targetUserId: 3, offer: OFFER }), { error: 'You are already in a call' });
});

serverTest('offline callee: call-rejected {reason: "unavailable"}', async () => {
  const a = await user(1);
  const rejected = waitFor(a, 'call-rejected');
  assert.deepEqual(await emitAck(a, 'initiate-call', { targetUserId: 6, offer: OFFER }), { error: 'User is not available' });
  assert.deepEqual(await rejected, { from: '6', reason: 'unavailable' });
});

serverTest('reject: the caller is told, the callee\'s other device stops ringing', async () => {
  const a = await user(1);
  const b1 = await user(2);
  const b2 = await user(2);
  const [inc] = await ring(a, [b1, b2]);
  const rejected = waitFor(a, 'call-rejected');
  const elsewhere = waitFor(b2, 'call-ended');
  b1.emit('call-rejected', { targetUserId: 1 });
  assert.deepEqual(await rejected, { callId: inc.callId, from: '2', reason: 'rejected' });
  assert.deepEqual(await elsewhere, { callId: inc.callId, reason: 'rejected-elsewhere' });
  assert.equal(await available(a, 2), true);
});

serverTest('caller cancels a ringing call', async () => {
  const a = await user(1);
  const b = await user(2);
  const [inc] = await ring(a, [b]);
  const ended = waitFor(b, 'call-ended');
  a.emit('call-ended', { targetUserId: 2 });
  assert.deepEqual(await ended, { callId: inc.callId, from: '1', reason: 'cancelled' });
});

serverTest('timeout: an unanswered call ends for both after --direct-call-timeout-secs', async () => {
  const a = await user(1);
  const b = await user(2);
  const started = Date.now();
  const [inc] = await ring(a, [b]);
  const endedA = waitFor(a, 'call-ended', { timeout: 6000 });
  const endedB = waitFor(b, 'call-ended', { timeout: 6000 });
  assert.deepEqual(await endedA, { callId: inc.callId, reason: 'timeout' });
  assert.deepEqual(await endedB, { callId: inc.callId, reason: 'timeout' });
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 1500 && elapsed < 5000, `timed out after ${elapsed} ms`);
  // Too late to answer now.
  assert.deepEqual(await emitAck(b, 'call-accepted', { targetUserId: 1, answer: ANSWER }), { error: 'No such call' });
  assert.equal(await available(a, 2), true);
});

serverTest('an answered call does not time out', async () => {
  const a = await user(1);
  const b = await user(2);
  await ring(a, [b]);
  const accepted = waitFor(a, 'call-accepted');
  b.emit('call-accepted', { targetUserId: 1, answer: ANSWER });
  await accepted;
  await expectNoEvent(a, 'call-ended', 2800);
  assert.equal(await available(b, 1), false);
});

serverTest('disconnect mid-call ends it for the other party', async () => {
  const a = await user(1);
  const b = await user(2);
  const c = await user(3);
  const [inc] = await ring(a, [b]);
  const accepted = waitFor(a, 'call-accepted');
  b.emit('call-accepted', { targetUserId: 1, answer: ANSWER });
  await accepted;
  const ended = waitFor(b, 'call-ended');
  a.disconnect();
  assert.deepEqual(await ended, { callId: inc.callId, from: '1', reason: 'disconnect' });
  assert.equal(await available(c, 2), true);

  // While ringing: the callee disconnecting ends it for the caller.
  const a2 = await user(1);
  await ring(a2, [b]);
  const ended2 = waitFor(a2, 'call-ended');
  b.disconnect();
  assert.equal((await ended2).reason, 'disconnect');
  assert.equal(await available(c, 1), true);
});

serverTest('multi-device: one device answers, the other learns it was answered elsewhere', async () => {
  const a = await user(1);
  const b1 = await user(2);
  const b2 = await user(2);
  const [inc1, inc2] = await ring(a, [b1, b2]);
  assert.equal(inc1.callId, inc2.callId);
  const accepted = waitFor(a, 'call-accepted');
  const elsewhere = waitFor(b1, 'call-ended');
  b2.emit('call-accepted', { targetUserId: 1, answer: ANSWER });
  assert.deepEqual(await accepted, { callId: inc1.callId, from: '2', answer: ANSWER });
  assert.deepEqual(await elsewhere, { callId: inc1.callId, reason: 'answered-elsewhere' });
  await expectNoEvent(b2, 'call-ended', 200);
  // ICE now flows only between a and b2.
  const atB2 = waitFor(b2, 'ice-candidate');
  a.emit('ice-candidate', { targetUserId: 2, candidate: CAND });
  await atB2;
  await expectNoEvent(b1, 'ice-candidate', 300);
  // The other device can neither answer again nor inject candidates.
  assert.deepEqual(await emitAck(b1, 'call-accepted', { targetUserId: 1, answer: ANSWER }), { error: 'No such call' });
  assert.deepEqual(await emitAck(b1, 'ice-candidate', { targetUserId: 1, candidate: CAND }), { error: 'No such call' });
  await expectNoEvent(a, 'ice-candidate', 300);
});

serverTest('isolation: a third socket can neither read nor inject offers / ICE / control', async () => {
  const a = await user(1);
  const b = await user(2);
  const c = await user(3);
  await ring(a, [b]);
  const accepted = waitFor(a, 'call-accepted');
  b.emit('call-accepted', { targetUserId: 1, answer: ANSWER });
  await accepted;

  // Injection attempts, with and without callback.
  assert.deepEqual(await emitAck(c, 'ice-candidate', { targetUserId: 1, candidate: CAND }), { error: 'No such call' });
  assert.deepEqual(await emitAck(c, 'ice-candidate', { to: 2, candidate: CAND }), { error: 'No such call' });
  const err = waitFor(c, 'call-error');
  c.emit('call-accepted', { targetUserId: 1, answer: ANSWER });
  assert.deepEqual(await err, { message: 'No such call' });
  assert.deepEqual(await emitAck(c, 'call-ended', { targetUserId: 1 }), { error: 'No such call' });
  assert.deepEqual(await emitAck(c, 'call-rejected', { targetUserId: 2 }), { error: 'No such call' });
  // Spoofing the caller id is refused too.
  assert.deepEqual(await emitAck(c, 'initiate-call', { targetUserId: 4, callerId: 1, offer: OFFER }),
    { error: 'callerId does not match the joined user' });
  // A party addressing the wrong peer is refused.
  assert.deepEqual(await emitAck(a, 'ice-candidate', { targetUserId: 3, candidate: CAND }), { error: 'No such call' });

  await expectNoEvent(a, 'ice-candidate', 200);
  await expectNoEvent(b, 'ice-candidate', 200);
  await expectNoEvent(a, 'call-ended', 100);
  // The call survives.
  const atA = waitFor(a, 'ice-candidate');
  b.emit('ice-candidate', { targetUserId: 1, candidate: CAND });
  await atA;
  assert.ok(!c.received.some((r) => ['incoming-call', 'ice-candidate', 'call-accepted'].includes(r.event)),
    `the third socket read nothing: ${JSON.stringify(c.received.map((r) => r.event))}`);
});

serverTest('malformed payloads: {error} ack or call-error event, no state change, no crash', async () => {
  const a = await user(1);
  const b = await user(2);
  const bad = [
    ['initiate-call', { targetUserId: 2 }, /offer required/],
    ['initiate-call', { targetUserId: 2, offer: 42 }, /offer must be an object or a string/],
    ['initiate-call', { targetUserId: 2, to: 3, offer: OFFER }, /differ/],
    ['initiate-call', { targetUserId: 2, offer: { sdp: 'x'.repeat(70 * 1024) } }, /too large/],
    ['initiate-call', 'hello', /Invalid payload/],
    ['initiate-call', { targetUserId: [2], offer: OFFER }, /Invalid payload/],
    ['initiate-call', { offer: OFFER }, /targetUserId required/],
    ['initiate-call', { targetUserId: 1, offer: OFFER }, /cannot call yourself/],
    ['register-user', {}, /userId required/],
    ['register-user', { userId: { x: 1 } }, /Invalid payload/],
    ['check-user-availability', {}, /targetUserId required/],
    ['ice-candidate', { targetUserId: 2 }, /candidate required/],
    ['ice-candidate', { targetUserId: 2, candidate: { c: 'x'.repeat(5000) } }, /too large/],
    ['call-accepted', { targetUserId: 1 }, /answer required/],
    ['call-ended', { callId: '' }, /Invalid payload/],
  ];
  for (const [event, payload, re] of bad) {
    const res = await emitAck(a, event, payload);
    assert.match(res?.error ?? '', re, `${event} ${JSON.stringify(payload).slice(0, 80)} → ${JSON.stringify(res)}`);
  }
  const errEvent = waitFor(a, 'call-error');
  a.emit('initiate-call', { targetUserId: 2 });
  assert.match((await errEvent).message, /offer required/);
  // Not registered.
  const n = await srv.connect();
  assert.deepEqual(await emitAck(n, 'initiate-call', { targetUserId: 2, offer: OFFER }), { error: 'Join first with your user ID' });
  assert.deepEqual(await emitAck(n, 'check-user-availability', { targetUserId: 2 }), { error: 'Join first with your user ID' });
  await expectNoEvent(b, 'incoming-call', 200);
  // Still works.
  assert.equal(await available(a, 2), true);
  await ring(a, [b]);
  await sleep(10);
});

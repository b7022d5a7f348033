// Cluster mode over three nodes (127.0.0.1/2/3) on a throwaway redis-server: user-addressed
// events reach every device on every node exactly once, a room spans nodes (the concurrent
// first createRoom on two nodes makes one room), active calls are counted cluster-wide, and
// the cluster survives a node's kill -9 and a Redis restart.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { sleep } from '../shared/server.mjs';
import {
  MEDIASOUP_CLIENTS, closeCall, consume, emitAck, enterRoom, expectNoEvent, produce, request,
  waitFor,
} from './lib/harness.mjs';
import {
  connectAs, converged, eventually, startBalancer, startNode, startRedis,
} from './lib/cluster.mjs';

const client = MEDIASOUP_CLIENTS[0];
let redis;
let nodes = [];
const sockets = new Set();

before(async () => {
  redis = await startRedis();
  nodes = await Promise.all([1, 2, 3].map((i) => startNode(i, redis.url)));
  await converged(nodes);
});

after(async () => {
  for (const s of sockets) s.disconnect();
  await Promise.all(nodes.map((n) => n.stop()));
  if (process.env.HUDDLE_SHOW_LOGS) {
    for (const n of nodes) process.stderr.write(`\n===== ${n.id} =====\n${n.logs().slice(-20000)}\n`);
  }
  await redis?.stop();
});

/** A test that dumps the nodes' logs when it fails and disconnects its sockets after. */
function clusterTest(name, fn, { timeout = 60_000 } = {}) {
  test(name, { timeout }, async () => {
    const offsets = nodes.map((n) => n.logs().length);
    try {
      await fn();
    } catch (err) {
      nodes.forEach((n, i) => process.stderr.write(
        `\n----- ${n.id} during "${name}" -----\n${n.logs().slice(offsets[i]).slice(-8000)}\n`));
      throw err;
    } finally {
      for (const s of sockets) s.disconnect();
      sockets.clear();
      // Leave empty rooms everywhere for the next test.
      for (const n of nodes.filter((x) => x.proc.exitCode === null && x.proc.signalCode === null)) {
        await eventually(`${n.id} empty`, async () => {
          const s = await n.stats();
          return s.sockets === 0 && s.rooms === 0;
        }).catch(() => {});
      }
    }
  });
}

/** Counts `event` on `socket` from now on. */
function counter(socket, event) {
  const items = [];
  socket.on(event, (p) => items.push(p));
  return items;
}

clusterTest('user-addressed events reach every device on every node exactly once', async () => {
  const [n1, n2, n3] = nodes;
  const caller = await connectAs(n1, '1', sockets);
  const bobOn2 = await connectAs(n2, '2', sockets);
  const bobOn3 = await connectAs(n3, '2', sockets);
  const carolOn1 = await connectAs(n1, '3', sockets);
  const incoming = [bobOn2, bobOn3, carolOn1].map((s) => counter(s, 'group_call_incoming'));
  const started = [caller, bobOn2, bobOn3, carolOn1].map((s) => counter(s, 'group_call_started'));
  const callerIncoming = counter(caller, 'group_call_incoming');
  // The fan-out between nodes goes through socketioxide-redis: its request channel carries it.
  const monitor = spawn('redis-cli', ['-p', String(redis.port), 'MONITOR']);
  let monitored = '';
  monitor.stdout.on('data', (d) => { monitored += d.toString(); });
  await eventually('MONITOR attached', () => monitored.includes('OK'));
  caller.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'video' });
  await eventually('every device rang', () => incoming.every((l) => l.length >= 1));
  await eventually('every device heard started', () => started.every((l) => l.length >= 1));
  await sleep(500); // a duplicate would arrive by now
  monitor.kill();
  assert.match(monitored, /"PUBLISH" "socket\.io-request#\/#"/, 'relayed through the Socket.IO adapter');
  assert.doesNotMatch(monitored, /"PUBLISH" "huddle:broadcast"/, 'not through a relay of our own');
  for (const list of incoming) {
    assert.equal(list.length, 1, 'group_call_incoming exactly once per device');
    assert.equal(list[0].callerId, '1');
    assert.equal(list[0].conversationId, 'conv-team');
    assert.equal(list[0].callerInfo.name, 'Alice');
  }
  for (const list of started) assert.equal(list.length, 1, 'group_call_started exactly once');
  assert.equal(callerIncoming.length, 0, 'the caller does not ring itself');
});

clusterTest('join is memory-first cluster-wide: no query without calls, one with a call on another node', async () => {
  const [n1, n2] = nodes;
  const { connect, join } = await import('./lib/harness.mjs');
  const queries = async (n) => (await n.stats()).directoryQueries;
  // No call anywhere: join makes no directory query.
  let before = await queries(n2);
  const bob = await connect(n2.url);
  sockets.add(bob);
  await join(bob, '2', { barrier: false });
  await expectNoEvent(bob, 'active_group_calls', 300);
  assert.equal(await queries(n2), before, 'no query while nothing is active anywhere');
  // A call homed on node 1: a member joining on node 2 hears of it, with one query.
  const alice = await connectAs(n1, '1', sockets);
  await request(alice, 'createRoom', { roomId: 'conv-team' });
  await eventually('node2 replica has the room', async () => (await n2.stats()).cluster.clusterRooms === 1);
  before = await queries(n2);
  const carol = await connect(n2.url);
  sockets.add(carol);
  const active = waitFor(carol, 'active_group_calls');
  await join(carol, '3', { barrier: false });
  const calls = (await active).calls;
  assert.deepEqual(calls.map((c) => [c.conversationId, c.participantCount]), [['conv-team', 1]]);
  assert.deepEqual(calls[0].participants.map((p) => p.name), ['Alice']);
  assert.equal(await queries(n2), before + 1, 'exactly one directory query');
});

clusterTest('the concurrent first createRoom on two nodes makes one room that spans them', async () => {
  const [n1, n2, n3] = nodes;
  const alice = await connectAs(n1, '1', sockets);
  const bob = await connectAs(n2, '2', sockets);
  const started = counter(alice, 'group_call_started');
  // Both at the same instant: one home, one set of RTP capabilities.
  const [ca, cb] = await Promise.all([
    request(alice, 'createRoom', { roomId: 'conv-team' }),
    request(bob, 'createRoom', { roomId: 'conv-team' }),
  ]);
  assert.deepEqual(ca.rtpCapabilities, cb.rtpCapabilities, 'one router: one set of capabilities');
  const stats = await Promise.all(nodes.map((n) => n.stats()));
  assert.equal(stats.reduce((sum, s) => sum + s.rooms, 0), 1, 'exactly one room in the cluster');
  const home = stats.findIndex((s) => s.rooms === 1);
  assert.equal(stats[home].participants, 2, 'the home holds both participants');
  assert.equal(stats[home].cluster.remoteParticipants, 1, 'one of them is on another node');
  await eventually('one group_call_started', () => started.length === 1);

  // Media across nodes: Alice produces, Bob (other node) consumes; getProducers spans nodes.
  const callA = await enterRoom(alice, 'conv-team', client, { rtpCapabilities: ca.rtpCapabilities });
  const callB = await enterRoom(bob, 'conv-team', client, { rtpCapabilities: cb.rtpCapabilities });
  const announced = waitFor(bob, 'newProducer', { predicate: (p) => p.kind === 'video' });
  const [aAudio, aVideo] = await produce(callA, ['audio', 'video']);
  const np = await announced;
  assert.equal(np.producerId, aVideo.id);
  assert.equal(np.socketId, alice.id, 'newProducer names the producer socket (on the other node)');
  const listed = await request(bob, 'getProducers', {});
  const ids = (listed.producers ?? listed).map((p) => p.producerId ?? p.id).sort();
  assert.deepEqual(ids, [aAudio.id, aVideo.id].sort(), 'getProducers spans nodes');
  const got = await consume(callB, aVideo.id);
  assert.equal(got.ack.kind, 'video');

  // A member on the third node sees the call, counted over the cluster, on join.
  const carol = await connectAs(n3, '3', sockets);
  const calls = await request(carol, 'get_active_calls', {});
  const team = calls.calls.find((c) => c.conversationId === 'conv-team');
  assert.ok(team, `conv-team active for a member on node3: ${JSON.stringify(calls)}`);
  assert.equal(team.participantCount, 2);
  assert.deepEqual(team.participants.map((p) => p.userId).sort(), ['1', '2']);

  // Bob leaves: participantLeft and producerClosed cross nodes the other way.
  const left = waitFor(alice, 'participantLeft');
  closeCall(callB);
  assert.deepEqual(await request(bob, 'leaveRoom', {}), { success: true });
  assert.equal((await left).socketId, bob.id);
  const ended = waitFor(carol, 'group_call_ended');
  closeCall(callA);
  assert.deepEqual(await request(alice, 'leaveRoom', {}), { success: true });
  assert.equal((await ended).conversationId, 'conv-team', 'the end reaches node3');
  await eventually('the room is gone from every replica', async () => {
    const c = await request(carol, 'get_active_calls', {});
    return c.calls.length === 0;
  });
});

/** Sum of one per-worker media count of a node's /debug/stats. */
function mediaCount(stats, field) {
  return stats.perWorker.reduce((sum, w) => sum + w[field], 0);
}

clusterTest('media follows the socket: transports on its own node, one pipe per room and node pair', async () => {
  const [n1, n2, n3] = nodes;
  const alice = await connectAs(n1, '1', sockets);
  const bob = await connectAs(n2, '2', sockets);
  const carol = await connectAs(n3, '3', sockets);
  const callA = await enterRoom(alice, 'conv-team', client);
  const callB = await enterRoom(bob, 'conv-team', client);
  // Carol runs mediasoup-client 3.6, as Threads ships it.
  const callC = await enterRoom(carol, 'conv-team', MEDIASOUP_CLIENTS[1]);
  const homeStats = await n1.stats();
  assert.equal(homeStats.rooms, 1, 'the room is homed on node1');
  assert.equal(homeStats.participants, 3, 'the home holds every participant');

  // A forwarded socket's WebRTC transports are on its own node: their ICE candidates name it.
  for (const [socket, ip] of [[bob, '127.0.0.2'], [carol, '127.0.0.3']]) {
    const extra = await request(socket, 'createTransport', { type: 'recv' });
    assert.ok(extra.iceCandidates.every((c) => c.ip === ip || c.address === ip),
      `transport of a socket on ${ip}: ${JSON.stringify(extra.iceCandidates)}`);
  }

  // Everyone produces; producers of node2 and node3 are announced by the home to the others.
  const bobSeesCarol = waitFor(bob, 'newProducer', { predicate: (p) => p.socketId === carol.id && p.kind === 'video' });
  const aliceSeesBob = waitFor(alice, 'newProducer', { predicate: (p) => p.socketId === bob.id && p.kind === 'video' });
  const [, aVideo] = await produce(callA, ['audio', 'video']);
  const [, bVideo] = await produce(callB, ['audio', 'video']);
  const [cAudio, cVideo] = await produce(callC, ['audio', 'video']);
  assert.equal((await bobSeesCarol).producerId, cVideo.id);
  assert.equal((await aliceSeesBob).producerId, bVideo.id);
  const listed = await request(bob, 'getProducers', {});
  assert.equal(listed.producers.length, 6, 'getProducers lists the producers of all three nodes');

  // node3 → home → node2, node2 → home (consumed there), home → node3.
  const bobGetsCarol = await consume(callB, cVideo.id);
  assert.equal(bobGetsCarol.ack.kind, 'video');
  assert.equal(bobGetsCarol.ack.producerPaused, false);
  const aliceGetsBob = await consume(callA, bVideo.id);
  assert.equal(aliceGetsBob.ack.kind, 'video');
  await consume(callC, aVideo.id);
  // Errors of the local media path keep the protocol's strings.
  assert.deepEqual(await emitAck(bob, 'consume', { transportId: 'nope', producerId: cAudio.id, rtpCapabilities: callB.device.rtpCapabilities }),
    { error: 'Receive transport not found' });
  assert.deepEqual(await emitAck(bob, 'consume', { transportId: callB.recvTransport.id, producerId: bVideo.id, rtpCapabilities: callB.device.rtpCapabilities }),
    { error: 'Cannot consume own producer' });
  assert.deepEqual(await emitAck(bob, 'resumeConsumer', { consumerId: 'nope' }), { error: 'Consumer not found' });
  assert.deepEqual(await emitAck(bob, 'connectTransport', { transportId: 'nope', dtlsParameters: {} }), { error: 'Transport not found' });

  const [s1, s2, s3] = await Promise.all([n1, n2, n3].map((n) => n.stats()));
  assert.equal(s1.cluster.pipeTransports, 2, 'the home has a pipe to node2 and one to node3');
  assert.equal(s2.cluster.pipeTransports, 1);
  assert.equal(s3.cluster.pipeTransports, 1);
  assert.ok(mediaCount(s2, 'transports') >= 4, `node2 holds Bob's 3 transports and its pipe: ${JSON.stringify(s2.perWorker)}`);
  assert.ok(mediaCount(s2, 'consumers') >= 1, 'Bob\'s consumer is on node2');

  // Pause crosses nodes; the consume ack of a paused producer says so.
  const paused = waitFor(bob, 'producerPaused', { predicate: (p) => p.producerId === cAudio.id });
  assert.deepEqual(await request(carol, 'pauseProducer', { producerId: cAudio.id }), { success: true });
  assert.equal((await paused).socketId, carol.id);
  const pausedAudio = await consume(callB, cAudio.id);
  assert.equal(pausedAudio.ack.producerPaused, true, 'consume of a paused producer of another node');
  const resumed = waitFor(alice, 'producerResumed', { predicate: (p) => p.producerId === cAudio.id });
  assert.deepEqual(await request(carol, 'resumeProducer', { producerId: cAudio.id }), { success: true });
  await resumed;

  // A producer closed on node3 closes for Bob on node2.
  const closed = waitFor(bob, 'producerClosed', { predicate: (p) => p.producerId === cVideo.id });
  assert.deepEqual(await request(carol, 'closeProducer', { producerId: cVideo.id }), { success: true });
  await closed;

  // Bob leaves: node2's pipe closes, and the home's end of it.
  closeCall(callB);
  assert.deepEqual(await request(bob, 'leaveRoom', {}), { success: true });
  await eventually('node2 pipe closed on both ends', async () => {
    const [a, b] = await Promise.all([n1.stats(), n2.stats()]);
    return a.cluster.pipeTransports === 1 && b.cluster.pipeTransports === 0 && mediaCount(b, 'transports') === 0;
  });
  closeCall(callC);
  closeCall(callA);
  assert.deepEqual(await request(carol, 'leaveRoom', {}), { success: true });
  assert.deepEqual(await request(alice, 'leaveRoom', {}), { success: true });
  await eventually('every pipe closed', async () => {
    const all = await Promise.all([n1, n2, n3].map((n) => n.stats()));
    return all.every((s) => s.cluster.pipeTransports === 0);
  });
});

clusterTest('errors of forwarded requests keep their strings; bad input changes nothing', async () => {
  const [n1, n2] = nodes;
  const alice = await connectAs(n1, '1', sockets);
  const bob = await connectAs(n2, '2', sockets);
  await request(alice, 'createRoom', { roomId: 'conv-team' });
  await request(bob, 'createRoom', { roomId: 'conv-team' });
  const stats = await Promise.all([n1, n2].map((n) => n.stats()));
  const bobForwarded = stats[1].cluster.forwardedSockets === 1 || stats[0].cluster.forwardedSockets === 1;
  assert.ok(bobForwarded, 'one of the two is forwarded to the other node');
  for (const s of [alice, bob]) {
    assert.deepEqual(await emitAck(s, 'consume', { transportId: 'nope', producerId: 'nope', rtpCapabilities: {} }),
      { error: 'Producer not found' });
    assert.deepEqual(await emitAck(s, 'closeProducer', { producerId: 'nope' }), { error: 'Producer not found' });
    const bad = await emitAck(s, 'connectTransport', 42);
    assert.ok(bad.error, 'malformed payload answered with an error');
  }
  assert.equal((await Promise.all(nodes.map((n) => n.stats()))).reduce((a, s) => a + s.participants, 0), 2);
});

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n' };
const CAND = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

/** register-user on `node` (the ack is the barrier). */
async function registered(node, userId) {
  const { connect } = await import('./lib/harness.mjs');
  const s = await connect(node.url);
  sockets.add(s);
  s.userId = userId;
  const res = await emitAck(s, 'register-user', { userId, userName: `Name ${userId}`, socketId: s.id });
  assert.equal(res.success, true);
  return s;
}

async function available(asker, targetUserId) {
  return (await emitAck(asker, 'check-user-availability', { targetUserId })).isAvailable;
}

clusterTest('1:1 calls across nodes: every device rings, answers cross back, busy spans nodes', async () => {
  const [n1, n2, n3] = nodes;
  const alice = await registered(n1, '1');
  const bobOn2 = await registered(n2, '2');
  const bobOn3 = await registered(n3, '2');
  const carol = await registered(n2, '3');
  assert.equal(await available(alice, '2'), true, 'a user on other nodes is available');
  assert.equal(await available(alice, '9'), false, 'offline everywhere');

  const rings = [bobOn2, bobOn3].map((b) => waitFor(b, 'incoming-call'));
  const started = await emitAck(alice, 'initiate-call', { targetUserId: 2, callerId: 1, callerName: 'Alice', offer: OFFER });
  assert.equal(started.success, true, JSON.stringify(started));
  const [inc2, inc3] = await Promise.all(rings);
  assert.equal(inc2.callId, started.callId);
  assert.equal(inc3.callId, started.callId);
  assert.deepEqual(inc3.offer, OFFER);
  assert.equal(await available(carol, '2'), false, 'the callee is busy while ringing, seen from node2');
  assert.equal(await available(carol, '1'), false, 'the caller is busy, seen from node2');
  const busy = await emitAck(carol, 'initiate-call', { targetUserId: 1, offer: OFFER });
  assert.deepEqual(busy, { error: 'User is busy' }, 'busy spans nodes');

  // Bob answers on node3: Alice (node1) gets it; Bob's device on node2 hears it was answered elsewhere.
  const accepted = waitFor(alice, 'call-accepted');
  const elsewhere = waitFor(bobOn2, 'call-ended');
  assert.deepEqual(await emitAck(bobOn3, 'call-accepted', { targetUserId: 1, answer: ANSWER }), { success: true });
  assert.deepEqual(await accepted, { callId: started.callId, from: '2', answer: ANSWER });
  assert.deepEqual(await elsewhere, { callId: started.callId, reason: 'answered-elsewhere' });
  const atBob = waitFor(bobOn3, 'ice-candidate');
  alice.emit('ice-candidate', { targetUserId: 2, candidate: CAND });
  assert.deepEqual(await atBob, { callId: started.callId, from: '1', candidate: CAND });
  const atAlice = waitFor(alice, 'ice-candidate');
  bobOn3.emit('ice-candidate', { targetUserId: 1, candidate: CAND });
  assert.deepEqual(await atAlice, { callId: started.callId, from: '2', candidate: CAND });
  // Bob hangs up from node3.
  const ended = waitFor(alice, 'call-ended');
  assert.deepEqual(await emitAck(bobOn3, 'call-ended', { targetUserId: 1 }), { success: true });
  assert.deepEqual(await ended, { callId: started.callId, from: '2', reason: 'hangup' });
  assert.equal(await available(carol, '2'), true);
  assert.equal(await available(carol, '1'), true);
});

clusterTest('mesh calls across nodes: join, relays and leave reach the other node', async () => {
  const [n1, n2, n3] = nodes;
  const alice = await connectAs(n1, '1', sockets);
  const bob = await connectAs(n2, '2', sockets);
  const carol = await connectAs(n3, '3', sockets);
  const invited = waitFor(carol, 'groupcall:invitation');
  assert.deepEqual(await emitAck(alice, 'groupcall:join', { roomId: 'conv-quad' }),
    { roomId: 'conv-quad', participants: [], maxParticipants: 6 });
  const joinedAtA = waitFor(alice, 'groupcall:participant-joined');
  const view = await emitAck(bob, 'groupcall:join', { roomId: 'conv-quad' });
  assert.deepEqual(view.participants.map((p) => [p.userId, p.socketId]), [['1', alice.id]],
    `bob on node2 sees alice on node1: ${JSON.stringify(view)}`);
  assert.equal((await joinedAtA).socketId, bob.id);
  const offerAtB = waitFor(bob, 'groupcall:webrtc-offer');
  alice.emit('groupcall:webrtc-offer', { roomId: 'conv-quad', offer: OFFER, targetUserId: 2 });
  assert.deepEqual(await offerAtB, { roomId: 'conv-quad', senderId: '1', senderSocketId: alice.id, offer: OFFER });
  const answerAtA = waitFor(alice, 'groupcall:webrtc-answer');
  bob.emit('groupcall:webrtc-answer', { roomId: 'conv-quad', answer: ANSWER, targetUserId: '1' });
  assert.equal((await answerAtA).senderSocketId, bob.id);
  // An invitation from node2 reaches a member on node3.
  assert.deepEqual(await emitAck(bob, 'groupcall:invitation', { roomId: 'conv-quad', callType: 'video' }),
    { success: true, invited: 2 });
  assert.equal((await invited).callerId, '2');
  const leftAtA = waitFor(alice, 'groupcall:participant-left');
  assert.deepEqual(await emitAck(bob, 'groupcall:leave', { roomId: 'conv-quad' }), { success: true });
  assert.equal((await leftAtA).socketId, bob.id);
});

clusterTest('behind HAProxy: long-polling sessions stick to a node, two clients on two nodes talk', async () => {
  const { connect, join } = await import('./lib/harness.mjs');
  const balancer = await startBalancer(nodes);
  try {
    // Long-polling only, with a cookie jar (as a browser keeps cookies): every request of a
    // session must reach the node that holds it.
    const opts = { transports: ['polling'], withCredentials: true };
    const alice = await connect(balancer.url, opts);
    const bob = await connect(balancer.url, opts);
    sockets.add(alice);
    sockets.add(bob);
    await join(alice, '1');
    await join(bob, '2');
    const per = (await Promise.all(nodes.map((n) => n.stats()))).map((s) => s.sockets);
    assert.deepEqual(per.filter((n) => n > 0), [1, 1], `round robin: one client per node (${per})`);
    const rang = waitFor(bob, 'group_call_incoming');
    alice.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'video' });
    assert.equal((await rang).callerId, '1');
    // Many polling round trips later, both sessions are still on their nodes.
    for (let i = 0; i < 5; i++) {
      assert.ok(Array.isArray((await request(alice, 'get_active_calls', {})).calls));
      assert.ok(Array.isArray((await request(bob, 'get_active_calls', {})).calls));
    }
    assert.equal(alice.io.engine.transport.name, 'polling');
    assert.ok(alice.connected && bob.connected);
  } finally {
    await balancer.stop();
  }
});

clusterTest('kill -9 of a node: its participants leave the rooms homed elsewhere', async () => {
  // Node 3 carries only Bob; the room is homed on node 1.
  const [n1, , n3] = nodes;
  const alice = await connectAs(n1, '1', sockets);
  await request(alice, 'createRoom', { roomId: 'conv-team' });
  const bob = await connectAs(n3, '2', sockets);
  await request(bob, 'createRoom', { roomId: 'conv-team' });
  assert.equal((await n1.stats()).participants, 2);
  const bobId = bob.id;
  const left = waitFor(alice, 'participantLeft', { timeout: 10_000 });
  const t0 = Date.now();
  await n3.kill();
  sockets.delete(bob);
  const gone = await left;
  assert.equal(gone.socketId, bobId);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 10_000, `noticed within 10 s (${elapsed} ms)`);
  assert.equal((await n1.stats()).participants, 1);
  // Node 3 comes back (same id): the cluster has three nodes again.
  nodes[2] = await startNode(3, redis.url);
  await converged(nodes);
});

clusterTest('kill -9 of a room\'s home: the others are told and can start it again', async () => {
  const [, n2, n3] = nodes;
  const bob = await connectAs(n2, '2', sockets);
  await request(bob, 'createRoom', { roomId: 'conv-pair' });
  const carol = await connectAs(n3, '3', sockets);
  await request(carol, 'createRoom', { roomId: 'conv-pair' });
  assert.equal((await n3.stats()).cluster.forwardedSockets, 1, 'carol is forwarded to node2');
  // A 1:1 call homed on node2 too: Dave (node2) calls Eve (node3).
  const dave = await registered(n2, '4');
  const eve = await registered(n3, '5');
  const ringing = waitFor(eve, 'incoming-call');
  dave.emit('initiate-call', { targetUserId: 5, callerId: 4, offer: OFFER });
  const call = await ringing;
  const callEnded = waitFor(eve, 'call-ended', { timeout: 10_000 });
  const removed = waitFor(carol, 'removedFromRoom', { timeout: 10_000 });
  await n2.kill();
  sockets.delete(dave);
  sockets.delete(bob);
  const r = await removed;
  assert.deepEqual(r, { roomId: 'conv-pair', reason: 'home_node_lost' });
  assert.deepEqual(await callEnded, { callId: call.callId, reason: 'disconnect' });
  // The dead home's claim expires with its lease: Carol's createRoom makes a new home.
  await eventually('a new home for conv-pair', async () => {
    const ack = await emitAck(carol, 'createRoom', { roomId: 'conv-pair' });
    return ack && ack.rtpCapabilities;
  }, 15_000);
  assert.equal((await n3.stats()).rooms, 1, 'conv-pair now lives on node3');
  nodes[1] = await startNode(2, redis.url);
  await converged(nodes);
});

clusterTest('a home cut off past its lease: the room moves, the old copy goes without ending the call', async () => {
  const [n1, n2, n3] = nodes;
  const alice = await connectAs(n1, '1', sockets);
  await request(alice, 'createRoom', { roomId: 'conv-team' });
  const bob = await connectAs(n2, '2', sockets);
  await request(bob, 'createRoom', { roomId: 'conv-team' });
  const carol = await connectAs(n3, '3', sockets);
  const ended = [];
  carol.on('group_call_ended', (e) => ended.push(e));
  // Node 1 freezes (SIGSTOP): the others declare it dead and Bob's room is gone.
  const removed = waitFor(bob, 'removedFromRoom', { timeout: 10_000 });
  n1.proc.kill('SIGSTOP');
  try {
    assert.equal((await removed).reason, 'home_node_lost');
    // Bob starts the call again: node 2 becomes the home once node 1's claim expired.
    await eventually('conv-team homed on node2', async () => {
      const ack = await emitAck(bob, 'createRoom', { roomId: 'conv-team' });
      return ack && ack.rtpCapabilities && (await n2.stats()).rooms === 1;
    }, 15_000);
  } finally {
    n1.proc.kill('SIGCONT');
  }
  // Node 1 wakes up, finds its claim taken and drops its copy: Alice is told; the call on
  // node 2 goes on, and nobody hears it ended.
  const gone = await waitFor(alice, 'removedFromRoom', { timeout: 10_000 });
  assert.deepEqual(gone, { roomId: 'conv-team', reason: 'home_node_lost' });
  await eventually('node1 has no room', async () => (await n1.stats()).rooms === 0);
  await converged(nodes);
  assert.deepEqual(ended, [], 'no group_call_ended: the call lives on node 2');
  const calls = await request(carol, 'get_active_calls', {});
  assert.equal(calls.calls.find((c) => c.conversationId === 'conv-team')?.participantCount, 1);
  // Alice rejoins: she lands in the room on node 2.
  await request(alice, 'createRoom', { roomId: 'conv-team' });
  assert.equal((await n2.stats()).participants, 2);
});

clusterTest('SIGTERM of a node: its sockets hear server_shutdown, its participants leave at once', async () => {
  const [n1, , n3] = nodes;
  const alice = await connectAs(n1, '1', sockets);
  const carol = await connectAs(n1, '3', sockets);
  await request(alice, 'createRoom', { roomId: 'conv-team' });
  const bob = await connectAs(n3, '2', sockets);
  await request(bob, 'createRoom', { roomId: 'conv-team' });
  const bobId = bob.id;
  const shutdown = waitFor(bob, 'server_shutdown');
  const left = waitFor(alice, 'participantLeft', { timeout: 3000 });
  const t0 = Date.now();
  await n3.stop();
  sockets.delete(bob);
  await shutdown;
  assert.equal((await left).socketId, bobId);
  assert.ok(Date.now() - t0 < 3000, 'a graceful leave is seen at once, not after the lease');
  // The rest of the cluster keeps serving.
  const calls = await request(carol, 'get_active_calls', {});
  assert.equal(calls.calls.find((c) => c.conversationId === 'conv-team').participantCount, 1);
  await eventually('node1 sees 2 nodes', async () => (await n1.stats()).cluster.nodesAlive === 2);
  nodes[2] = await startNode(3, redis.url);
  await converged(nodes);
});

clusterTest('group_call_updated reaches members on every node', async () => {
  const [n1, n2, n3] = nodes;
  const alice = await connectAs(n1, '1', sockets);
  const bob = await connectAs(n2, '2', sockets);
  const carol = await connectAs(n3, '3', sockets);
  await request(alice, 'createRoom', { roomId: 'conv-team' });
  const updated = waitFor(carol, 'group_call_updated', { predicate: (u) => u.participantCount === 2 });
  await request(bob, 'createRoom', { roomId: 'conv-team' });
  const u = await updated;
  assert.equal(u.conversationId, 'conv-team');
  assert.deepEqual(u.participants.map((p) => p.userId), ['1', '2']);
});

clusterTest('a Redis restart: readyz reports it, then every node resubscribes and relays again', async () => {
  const [n1, n2] = nodes;
  const port = redis.port;
  await redis.stop();
  await eventually('readyz 503 without Redis', async () => (await n1.ready()) === 503);
  // Calls on one node keep working without Redis.
  const alice = await connectAs(n1, '1', sockets);
  const dave = await connectAs(n1, '4', sockets);
  const rang = waitFor(dave, 'group_call_incoming');
  alice.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-noname', callType: 'audio' });
  await rang;
  redis = await startRedis(port);
  await eventually('readyz 200 again', async () => (await n1.ready()) === 200 && (await n2.ready()) === 200, 15_000);
  await converged(nodes);
  const bob = await connectAs(n2, '2', sockets);
  const incoming = waitFor(bob, 'group_call_incoming');
  alice.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'video' });
  assert.equal((await incoming).callerId, '1', 'relays cross nodes again after the restart');
  await expectNoEvent(dave, 'group_call_incoming', 300);
});

// Every documented error string, group_call_error, and malformed payloads.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, request, expectNoMediaLeftovers,
  MEDIASOUP_CLIENTS, enterRoom, produce, consume, sleep,
} from './lib/harness.mjs';

const srv = useServer();
const { serverTest } = srv;
const [client] = MEDIASOUP_CLIENTS;

const DTLS = {
  role: 'client',
  fingerprints: [{
    algorithm: 'sha-256',
    value: '82:5A:68:3D:36:C3:0A:DE:AF:E7:32:43:D2:88:83:57:AC:2D:65:E5:80:C4:B6:FB:AF:1A:A0:21:9F:6D:0C:AD',
  }],
};

serverTest('createRoom errors: roomId required / Join first / not in group', async () => {
  const s = await srv.connect();
  assert.deepEqual(await emitAck(s, 'createRoom', { roomId: 'conv-team' }),
    { error: 'Join first with your user ID' });
  // roomId is checked before the join check.
  assert.deepEqual(await emitAck(s, 'createRoom', {}), { error: 'roomId required' });
  assert.deepEqual(await emitAck(s, 'createRoom', { roomId: '' }), { error: 'roomId required' });

  s.emit('join', '4');
  assert.deepEqual(await emitAck(s, 'createRoom', { roomId: 'conv-team' }),
    { error: 'You are not in this group' });
  assert.deepEqual(await emitAck(s, 'createRoom', { roomId: 'no-such-conversation' }),
    { error: 'You are not in this group' });
  assert.deepEqual(await emitAck(s, 'createRoom', {}), { error: 'roomId required' });
  assert.deepEqual(await emitAck(s, 'createRoom', { roomId: null }), { error: 'roomId required' });

  const st = await srv.stats();
  assert.equal(st.rooms, 0, 'failed createRoom does not create a room');
  assert.equal(st.participants, 0);
});

serverTest('"Participant not found" for every media event before createRoom', async () => {
  const s = await srv.connectAs('1');
  const PNF = { error: 'Participant not found' };
  assert.deepEqual(await emitAck(s, 'createTransport', { type: 'send' }), PNF, 'createTransport');
  assert.deepEqual(await emitAck(s, 'connectTransport', { transportId: 'x', dtlsParameters: DTLS }), PNF, 'connectTransport');
  assert.deepEqual(await emitAck(s, 'produce', { transportId: 'x', kind: 'audio', rtpParameters: { codecs: [], encodings: [] } }), PNF, 'produce');
  assert.deepEqual(await emitAck(s, 'consume', { transportId: 'x', producerId: 'y', rtpCapabilities: { codecs: [], headerExtensions: [] } }), PNF, 'consume');
  assert.deepEqual(await emitAck(s, 'getProducers'), PNF, 'getProducers (callback only)');
  assert.deepEqual(await emitAck(s, 'getProducers', {}), PNF, 'getProducers ({})');
  assert.deepEqual(await emitAck(s, 'resumeConsumer', { consumerId: 'z' }), PNF, 'resumeConsumer');

  // Same for a socket that never joined.
  const n = await srv.connect();
  assert.deepEqual(await emitAck(n, 'createTransport', { type: 'recv' }), PNF);
  assert.deepEqual(await emitAck(n, 'getProducers'), PNF);
});

serverTest('in-room errors: Transport / Producer / own producer / RTP caps / recv transport / Consumer', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const callA = await enterRoom(a, 'conv-team', client);
  const [aAudio] = await produce(callA, ['audio']);
  const callB = await enterRoom(b, 'conv-team', client);

  assert.deepEqual(await emitAck(a, 'connectTransport', { transportId: 'nope', dtlsParameters: DTLS }),
    { error: 'Transport not found' });
  assert.deepEqual(await emitAck(a, 'produce', { transportId: 'nope', kind: 'audio', rtpParameters: { codecs: [], encodings: [] } }),
    { error: 'Transport not found' });
  // Another participant's transport id is not "found" either.
  assert.deepEqual(await emitAck(a, 'connectTransport', { transportId: callB.sendTransport.id, dtlsParameters: DTLS }),
    { error: 'Transport not found' });

  const caps = callB.device.rtpCapabilities;
  assert.deepEqual(await emitAck(b, 'consume', { transportId: callB.recvTransport.id, producerId: 'nope', rtpCapabilities: caps }),
    { error: 'Producer not found' });
  assert.deepEqual(await emitAck(a, 'consume', { transportId: callA.recvTransport.id, producerId: aAudio.id, rtpCapabilities: callA.device.rtpCapabilities }),
    { error: 'Cannot consume own producer' });
  assert.deepEqual(await emitAck(b, 'consume', { transportId: callB.recvTransport.id, producerId: aAudio.id, rtpCapabilities: { codecs: [], headerExtensions: [] } }),
    { error: 'RTP capabilities mismatch' });
  assert.deepEqual(await emitAck(b, 'consume', { transportId: 'nope', producerId: aAudio.id, rtpCapabilities: caps }),
    { error: 'Receive transport not found' });
  assert.deepEqual(await emitAck(b, 'resumeConsumer', { consumerId: 'nope' }), { error: 'Consumer not found' });

  let st = await srv.stats();
  assert.equal(st.consumers, 0, 'no consumer was created by the failed attempts');

  // And the happy path still works afterwards.
  const { consumer } = await consume(callB, aAudio.id);
  // Another participant's consumer id is not found for A.
  assert.deepEqual(await emitAck(a, 'resumeConsumer', { consumerId: consumer.id }), { error: 'Consumer not found' });
  // Resuming twice is fine.
  assert.deepEqual(await emitAck(b, 'resumeConsumer', { consumerId: consumer.id }), { success: true });

  // A producer of a different room is "Producer not found"? (the original
  // looked producers up across all participants, so only check it is an error)
  const c = await srv.connectAs('4');
  const callC = await enterRoom(c, 'conv-noname', client);
  const cross = await emitAck(c, 'consume', { transportId: callC.recvTransport.id, producerId: aAudio.id, rtpCapabilities: callC.device.rtpCapabilities });
  assert.ok(cross && (typeof cross.error === 'string' || typeof cross.id === 'string'), `cross-room consume answers: ${JSON.stringify(cross)}`);

  // Rooms are isolated: C (conv-noname) neither lists nor hears conv-team producers.
  assert.deepEqual(await emitAck(c, 'getProducers'), { producers: [] });
  const noNew = expectNoEvent(c, 'newProducer', 500);
  const gotA = waitFor(a, 'newProducer');
  await produce(callB, ['audio']);
  await gotA;
  await noNew;

  for (const s of [a, b, c]) s.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

serverTest('get_active_calls before join: "Not joined"', async () => {
  const s = await srv.connect();
  assert.deepEqual(await emitAck(s, 'get_active_calls', {}), { error: 'Not joined' });
});

serverTest('group_call_error: non-member initiate, callerId != joined user', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const d = await srv.connectAs('4');

  // Non-member initiates in conv-team.
  const err = waitFor(d, 'group_call_error');
  const quiet = [a, b].flatMap((s) => [
    expectNoEvent(s, 'group_call_incoming', 700),
    expectNoEvent(s, 'group_call_started', 700),
    expectNoEvent(s, 'group_call_error', 700),
  ]);
  d.emit('group_call_initiate', { callerId: '4', conversationId: 'conv-team', callType: 'video' });
  assert.deepEqual(await err, { message: 'You are not in this group' });
  await Promise.all(quiet);

  // Unknown conversation.
  const err2 = waitFor(a, 'group_call_error');
  a.emit('group_call_initiate', { callerId: '1', conversationId: 'no-such-conversation', callType: 'video' });
  assert.deepEqual(await err2, { message: 'You are not in this group' });

  // Socket joined as user 1 claims to be user 2: rejected, nobody is rung.
  const err3 = waitFor(a, 'group_call_error');
  const quiet3 = [
    expectNoEvent(b, 'group_call_incoming', 800),
    expectNoEvent(b, 'group_call_started', 800),
    expectNoEvent(a, 'group_call_incoming', 800),
    expectNoEvent(a, 'group_call_started', 800),
  ];
  a.emit('group_call_initiate', { callerId: '2', conversationId: 'conv-team', callType: 'video' });
  const e3 = await err3;
  assert.equal(typeof e3.message, 'string');
  assert.ok(e3.message.length > 0);
  await Promise.all(quiet3);
  // The impersonated user's socket gets no error either.
  await expectNoEvent(b, 'group_call_error', 200);

  // Non-member user 4 impersonating member user 1 is rejected as well.
  const err4 = waitFor(d, 'group_call_error');
  const quiet4 = expectNoEvent(b, 'group_call_incoming', 800);
  d.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'video' });
  assert.equal(typeof (await err4).message, 'string');
  await quiet4;
});

serverTest('malformed payloads get {error: string} acks and the server keeps working', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const isErr = (res, what) =>
    assert.ok(res && typeof res === 'object' && typeof res.error === 'string' && res.error.length > 0,
      `${what}: expected {error: string}, got ${JSON.stringify(res)}`);

  isErr(await emitAck(a, 'createRoom', 42), 'createRoom(42)');
  isErr(await emitAck(a, 'createRoom', 'conv-team'), 'createRoom("conv-team")');
  isErr(await emitAck(a, 'createRoom', { roomId: 42 }), 'createRoom({roomId: 42})');
  isErr(await emitAck(a, 'createRoom', { roomId: { x: 1 } }), 'createRoom({roomId: {}})');
  isErr(await emitAck(a, 'createRoom', null), 'createRoom(null)');
  let st = await srv.stats();
  assert.equal(st.rooms, 0, 'no room from malformed createRoom');

  const callA = await enterRoom(a, 'conv-team', client);
  const [aVideo] = await produce(callA, ['video']);
  const callB = await enterRoom(b, 'conv-team', client);

  isErr(await emitAck(b, 'connectTransport', { transportId: callB.recvTransport.id }), 'connectTransport without dtlsParameters');
  isErr(await emitAck(b, 'connectTransport', { transportId: callB.sendTransport.id, dtlsParameters: 'garbage' }), 'connectTransport with string dtlsParameters');
  isErr(await emitAck(b, 'connectTransport', 17), 'connectTransport(17)');
  isErr(await emitAck(b, 'produce', { transportId: callB.sendTransport.id, kind: 'audio', rtpParameters: 'garbage' }), 'produce with garbage rtpParameters');
  isErr(await emitAck(b, 'produce', { transportId: callB.sendTransport.id, kind: 'smell', rtpParameters: { codecs: [], encodings: [] } }), 'produce with bad kind');
  isErr(await emitAck(b, 'produce', []), 'produce([])');
  isErr(await emitAck(b, 'consume', { transportId: 5, producerId: {}, rtpCapabilities: 'garbage' }), 'consume with garbage');
  isErr(await emitAck(b, 'consume', { transportId: callB.recvTransport.id, producerId: aVideo.id, rtpCapabilities: 'garbage' }), 'consume with string rtpCapabilities');
  isErr(await emitAck(b, 'consume', { transportId: callB.recvTransport.id, producerId: aVideo.id }), 'consume without rtpCapabilities');
  isErr(await emitAck(b, 'consume', 'x'), 'consume("x")');
  isErr(await emitAck(b, 'resumeConsumer', { consumerId: 12 }), 'resumeConsumer({consumerId: 12})');
  isErr(await emitAck(b, 'resumeConsumer', null), 'resumeConsumer(null)');

  // An event Huddle does not handle: an ack callback gets {error} instead of waiting forever.
  assert.deepEqual(await emitAck(b, 'unknown_event_xyz', { a: 1 }), { error: 'Unknown event' });

  // Events without the expected ack must not crash anything.
  b.emit('consume', { transportId: callB.recvTransport.id, producerId: aVideo.id, rtpCapabilities: callB.device.rtpCapabilities });
  b.emit('unknown_event_xyz', { a: 1 });
  b.emit('group_call_initiate', 'garbage');
  b.emit('group_call_initiate', { callerId: {}, conversationId: [] });
  b.emit('join', { weird: true });
  b.emit('join', null);
  await sleep(300);

  // Server still healthy and the normal flow still works for both.
  const health = await fetch(`${srv.url}/healthz`);
  assert.equal(health.status, 200);
  st = await srv.stats();
  assert.equal(st.producers, 1, `stats after garbage: ${JSON.stringify(st)}`);
  assert.equal(st.participants, 2);

  // b re-joins properly (the garbage join must not have broken it).
  b.emit('join', '2');
  const list = await request(b, 'getProducers', {});
  assert.deepEqual(list.producers.map((p) => p.id), [aVideo.id]);
  const { consumer } = await consume(callB, aVideo.id);
  assert.equal(consumer.kind, 'video');
  const got = waitFor(a, 'newProducer');
  const [bAudio] = await produce(callB, ['audio']);
  assert.equal((await got).producerId, bAudio.id);

  a.emit('leaveRoom');
  b.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

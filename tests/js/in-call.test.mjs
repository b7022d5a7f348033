// In-call controls (issue 13, signalling): pauseProducer / resumeProducer with
// producerPaused / producerResumed, pauseConsumer, setConsumerPreferredLayers,
// setConsumerPriority, requestKeyFrame, produce appData (source, size limit), the additions
// to newProducer / getProducers / consume / createRoom, every error path, with mediasoup-client
// current and 3.6 (which ignores the fields it does not know). Also: acks for the seed events
// that define none (group_call_initiate, mesh, 1:1) when the client passes a callback anyway.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, request, expectNoMediaLeftovers, waitForStats,
  MEDIASOUP_CLIENTS, enterRoom, produce, consume, closeCall, sleep,
} from './lib/harness.mjs';

const srv = useServer();
const { serverTest } = srv;

const ALICE_P = { userId: '1', name: 'Alice', avatar: 'https://cdn.test/avatars/alice.png' };
const BOB_P = { userId: '2', name: 'Bob', avatar: 'https://img.example/bob.jpg' };
const OK = { success: true };
const PNF = { error: 'Producer not found' };
const CNF = { error: 'Consumer not found' };
const PARTICIPANT_NF = { error: 'Participant not found' };
const SIMULCAST = [
  { scaleResolutionDownBy: 4, maxBitrate: 100000 },
  { scaleResolutionDownBy: 2, maxBitrate: 300000 },
  { scaleResolutionDownBy: 1, maxBitrate: 900000 },
];

/** A copy of `rtpParameters` with new SSRCs and MID, so the worker accepts it once more. */
function freshParameters(rtpParameters) {
  const p = structuredClone(rtpParameters);
  const rand = () => Math.floor(Math.random() * 1e9) + 1;
  p.mid = `fresh-${rand()}`;
  for (const e of p.encodings ?? []) {
    e.ssrc = rand();
    if (e.rtx) e.rtx.ssrc = rand();
  }
  return p;
}

/** Bad payloads shared by the events naming one consumer. */
async function assertConsumerPayloadErrors(s, event, extra = {}) {
  assert.deepEqual(await emitAck(s, event, { ...extra }),
    { error: 'Invalid payload: missing field `consumerId`' }, `${event} without consumerId`);
  assert.deepEqual(await emitAck(s, event, { consumerId: 5, ...extra }),
    { error: 'Invalid payload: consumerId: invalid type: integer `5`, expected a string' }, `${event} numeric id`);
  assert.deepEqual(await emitAck(s, event, { consumerId: '', ...extra }),
    { error: 'Invalid payload: consumerId must be a non-empty string of at most 128 printable characters' },
    `${event} empty id`);
  const garbage = await emitAck(s, event, 'garbage');
  assert.match(garbage.error, /^Invalid payload: /, `${event} with a string payload: ${JSON.stringify(garbage)}`);
}

for (const client of MEDIASOUP_CLIENTS) {
  serverTest(`pause / resume producers, snapshot, consume additions with ${client.label} (${client.version})`, async () => {
    const a = await srv.connectAs('1');
    const b = await srv.connectAs('2');
    const c = await srv.connectAs('3');

    // ---- A alone: the createRoom ack has an empty snapshot and no active speaker.
    const callA = await enterRoom(a, 'conv-team', client);
    assert.deepEqual(callA.created.participants, [], 'first participant sees nobody');
    assert.equal(callA.created.activeSpeaker, null, 'activeSpeaker is null');
    const [aAudio] = await produce(callA, ['audio']);
    const [aVideo] = await produce(callA, ['video'], { appData: { source: 'camera', label: 'front' } });

    // ---- B joins: A is in the snapshot with its producers (not paused).
    const callB = await enterRoom(b, 'conv-team', client);
    assert.deepEqual(callB.created.participants, [{
      socketId: a.id,
      participantInfo: ALICE_P,
      producers: [
        { id: aAudio.id, kind: 'audio', source: 'microphone', paused: false },
        { id: aVideo.id, kind: 'video', source: 'camera', paused: false },
      ],
    }]);
    const { ack: audioAck, consumer: bAudio } = await consume(callB, aAudio.id);
    assert.equal(audioAck.producerPaused, false);
    assert.deepEqual(audioAck.appData, {});
    assert.equal(audioAck.type, 'simple');
    assert.equal(bAudio.kind, 'audio', 'mediasoup-client accepted the extended consume ack');

    // ---- A pauses its audio: B is told, A is not.
    const pausedAtB = waitFor(b, 'producerPaused');
    const notToSelf = expectNoEvent(a, 'producerPaused', 500);
    assert.deepEqual(await emitAck(a, 'pauseProducer', { producerId: aAudio.id }), OK);
    assert.deepEqual(await pausedAtB, { producerId: aAudio.id, socketId: a.id, kind: 'audio' });
    await notToSelf;

    // Idempotent: a second pause succeeds and announces nothing.
    const noRepeat = expectNoEvent(b, 'producerPaused', 500);
    assert.deepEqual(await emitAck(a, 'pauseProducer', { producerId: aAudio.id }), OK);
    await noRepeat;

    // getProducers shows it; a video paused before B consumes it comes back paused in the ack.
    const videoPaused = waitFor(b, 'producerPaused', { predicate: (e) => e.producerId === aVideo.id });
    assert.deepEqual(await emitAck(a, 'pauseProducer', { producerId: aVideo.id }), OK);
    assert.deepEqual(await videoPaused, { producerId: aVideo.id, socketId: a.id, kind: 'video' });
    const list = await request(b, 'getProducers', {});
    const byId = Object.fromEntries(list.producers.map((p) => [p.id, p]));
    assert.deepEqual(byId[aAudio.id], {
      id: aAudio.id, kind: 'audio', socketId: a.id, participantInfo: ALICE_P,
      paused: true, source: 'microphone', appData: {},
    });
    assert.deepEqual(byId[aVideo.id], {
      id: aVideo.id, kind: 'video', socketId: a.id, participantInfo: ALICE_P,
      paused: true, source: 'camera', appData: { source: 'camera', label: 'front' },
    });
    const { ack: videoAck } = await consume(callB, aVideo.id);
    assert.equal(videoAck.producerPaused, true, 'consume ack of a paused producer');
    assert.deepEqual(videoAck.appData, { source: 'camera', label: 'front' });
    assert.equal(videoAck.type, 'simple', 'one encoding: a simple consumer');

    // ---- C joins late: it sees A (both paused) and B (no producers), in join order.
    const callC = await enterRoom(c, 'conv-team', client);
    assert.deepEqual(callC.created.participants, [
      {
        socketId: a.id,
        participantInfo: ALICE_P,
        producers: [
          { id: aAudio.id, kind: 'audio', source: 'microphone', paused: true },
          { id: aVideo.id, kind: 'video', source: 'camera', paused: true },
        ],
      },
      { socketId: b.id, participantInfo: BOB_P, producers: [] },
    ]);
    assert.equal(callC.created.activeSpeaker, null);

    // ---- Only the owner may pause or resume: others get "Producer not found", nobody is told.
    const quiet = [a, b, c].map((s) => expectNoEvent(s, 'producerResumed', 500));
    assert.deepEqual(await emitAck(b, 'resumeProducer', { producerId: aAudio.id }), PNF);
    assert.deepEqual(await emitAck(c, 'pauseProducer', { producerId: aVideo.id }), PNF);
    assert.deepEqual(await emitAck(a, 'pauseProducer', { producerId: 'no-such-producer' }), PNF);
    assert.deepEqual(await emitAck(a, 'resumeProducer', { producerId: '7f0e4a7c-0000-4000-8000-000000000000' }), PNF);
    await Promise.all(quiet);
    assert.equal((await request(c, 'getProducers', {})).producers.filter((p) => p.paused).length, 2,
      'refused requests changed nothing');

    // ---- A resumes: B and C are told, once.
    const resumed = [b, c].map((s) => waitFor(s, 'producerResumed'));
    const notToSelf2 = expectNoEvent(a, 'producerResumed', 500);
    assert.deepEqual(await emitAck(a, 'resumeProducer', { producerId: aAudio.id }), OK);
    for (const p of resumed) {
      assert.deepEqual(await p, { producerId: aAudio.id, socketId: a.id, kind: 'audio' });
    }
    await notToSelf2;
    const noRepeat2 = [b, c].map((s) => expectNoEvent(s, 'producerResumed', 500));
    assert.deepEqual(await emitAck(a, 'resumeProducer', { producerId: aAudio.id }), OK);
    await Promise.all(noRepeat2);
    const after = await request(c, 'getProducers', {});
    assert.deepEqual(after.producers.map((p) => [p.id, p.paused]).sort(),
      [[aAudio.id, false], [aVideo.id, true]].sort());

    // ---- Closing a paused producer: producerClosed as before, then it is gone for pause too.
    const closed = waitFor(b, 'producerClosed');
    assert.deepEqual(await emitAck(a, 'closeProducer', { producerId: aVideo.id }), OK);
    assert.deepEqual(await closed, { producerId: aVideo.id, socketId: a.id });
    assert.deepEqual(await emitAck(a, 'resumeProducer', { producerId: aVideo.id }), PNF);

    // ---- Leaving releases everything (paused state included).
    for (const [s, call] of [[a, callA], [b, callB], [c, callC]]) {
      assert.deepEqual(await emitAck(s, 'leaveRoom'), OK);
      closeCall(call);
    }
    await expectNoMediaLeftovers(srv.server);
    // Out of the room: "Participant not found".
    assert.deepEqual(await emitAck(a, 'pauseProducer', { producerId: aAudio.id }), PARTICIPANT_NF);
  });
}

serverTest('pauseProducer / resumeProducer: malformed payloads and before createRoom', async () => {
  const s = await srv.connectAs('1');
  for (const event of ['pauseProducer', 'resumeProducer']) {
    assert.deepEqual(await emitAck(s, event, { producerId: 'p' }), PARTICIPANT_NF, `${event} before createRoom`);
    assert.deepEqual(await emitAck(s, event, {}),
      { error: 'Invalid payload: missing field `producerId`' }, `${event} {}`);
    assert.deepEqual(await emitAck(s, event),
      { error: 'Invalid payload: missing field `producerId`' }, `${event} without payload`);
    assert.deepEqual(await emitAck(s, event, { producerId: ['x'] }),
      { error: 'Invalid payload: producerId: invalid type: sequence, expected a string' }, `${event} array id`);
    assert.deepEqual(await emitAck(s, event, { producerId: 'x'.repeat(129) }),
      { error: 'Invalid payload: producerId must be a non-empty string of at most 128 printable characters' });
    const garbage = await emitAck(s, event, 42);
    assert.match(garbage.error, /^Invalid payload: /);
  }
  // The server is still fine.
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
});

serverTest('consumer controls: pauseConsumer, layers, priority, key frames; simulcast type; errors', async () => {
  const [current, v36] = MEDIASOUP_CLIENTS;
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const callA = await enterRoom(a, 'conv-team', current);
  const [aAudio] = await produce(callA, ['audio']);
  const [aVideo] = await produce(callA, ['video'], { encodings: SIMULCAST });
  const callB = await enterRoom(b, 'conv-team', v36);
  const [bAudio] = await produce(callB, ['audio']);

  const { ack: vAck, consumer: video } = await consume(callB, aVideo.id);
  assert.equal(vAck.type, 'simulcast', 'three encodings: a simulcast consumer');
  assert.equal(vAck.producerPaused, false);
  const { ack: aAck, consumer: audio } = await consume(callB, aAudio.id);
  assert.equal(aAck.type, 'simple');
  const { consumer: aOfB } = await consume(callA, bAudio.id);

  // pauseConsumer, then the existing resumeConsumer.
  assert.deepEqual(await emitAck(b, 'pauseConsumer', { consumerId: video.id }), OK);
  assert.deepEqual(await emitAck(b, 'pauseConsumer', { consumerId: video.id }), OK, 'pause is idempotent');
  assert.deepEqual(await emitAck(b, 'resumeConsumer', { consumerId: video.id }), OK);
  assert.deepEqual(await emitAck(b, 'pauseConsumer', { consumerId: audio.id }), OK);
  assert.deepEqual(await emitAck(b, 'resumeConsumer', { consumerId: audio.id }), OK);

  // Preferred layers: simulcast video, and a no-op for audio.
  assert.deepEqual(await emitAck(b, 'setConsumerPreferredLayers', { consumerId: video.id, spatialLayer: 0 }), OK);
  assert.deepEqual(await emitAck(b, 'setConsumerPreferredLayers',
    { consumerId: video.id, spatialLayer: 2, temporalLayer: 0 }), OK);
  assert.deepEqual(await emitAck(b, 'setConsumerPreferredLayers',
    { consumerId: video.id, spatialLayer: 1, temporalLayer: null }), OK);
  assert.deepEqual(await emitAck(b, 'setConsumerPreferredLayers', { consumerId: audio.id, spatialLayer: 0 }), OK);
  assert.deepEqual(await emitAck(b, 'setConsumerPreferredLayers', { consumerId: video.id, spatialLayer: -1 }),
    { error: 'Invalid payload: spatialLayer must be an integer from 0 to 255' });
  assert.deepEqual(await emitAck(b, 'setConsumerPreferredLayers',
    { consumerId: video.id, spatialLayer: 0, temporalLayer: 300 }),
    { error: 'Invalid payload: temporalLayer must be an integer from 0 to 255' });
  assert.deepEqual(await emitAck(b, 'setConsumerPreferredLayers', { consumerId: video.id }),
    { error: 'Invalid payload: missing field `spatialLayer`' });
  assert.match((await emitAck(b, 'setConsumerPreferredLayers', { consumerId: video.id, spatialLayer: '1' })).error,
    /^Invalid payload: spatialLayer: invalid type: string "1"/);

  // Priority: 1–255.
  for (const priority of [1, 128, 255]) {
    assert.deepEqual(await emitAck(b, 'setConsumerPriority', { consumerId: video.id, priority }), OK, `priority ${priority}`);
  }
  assert.deepEqual(await emitAck(b, 'setConsumerPriority', { consumerId: audio.id, priority: 3 }), OK);
  for (const priority of [0, 256, -1, 1000]) {
    assert.deepEqual(await emitAck(b, 'setConsumerPriority', { consumerId: video.id, priority }),
      { error: 'Invalid payload: priority must be an integer from 1 to 255' }, `priority ${priority}`);
  }
  for (const priority of [2.5, '5', null, true]) {
    const res = await emitAck(b, 'setConsumerPriority', { consumerId: video.id, priority });
    assert.match(res.error, /^Invalid payload: priority: invalid type/, `priority ${JSON.stringify(priority)}: ${JSON.stringify(res)}`);
  }
  assert.deepEqual(await emitAck(b, 'setConsumerPriority', { consumerId: video.id }),
    { error: 'Invalid payload: missing field `priority`' });

  // Key frames.
  assert.deepEqual(await emitAck(b, 'requestKeyFrame', { consumerId: video.id }), OK);
  assert.deepEqual(await emitAck(b, 'requestKeyFrame', { consumerId: audio.id }), OK, 'audio: a no-op');

  // Someone else's consumer, or an unknown one: "Consumer not found", for every event.
  const byEvent = {
    pauseConsumer: {},
    resumeConsumer: {},
    requestKeyFrame: {},
    setConsumerPreferredLayers: { spatialLayer: 0 },
    setConsumerPriority: { priority: 2 },
  };
  for (const [event, extra] of Object.entries(byEvent)) {
    assert.deepEqual(await emitAck(a, event, { consumerId: video.id, ...extra }), CNF, `${event} of B's consumer by A`);
    assert.deepEqual(await emitAck(b, event, { consumerId: aOfB.id, ...extra }), CNF, `${event} of A's consumer by B`);
    assert.deepEqual(await emitAck(b, event, { consumerId: 'nope', ...extra }), CNF, `${event} unknown id`);
    if (event !== 'resumeConsumer') await assertConsumerPayloadErrors(b, event, extra);
  }

  // A consumer of a closed producer is gone.
  const closed = waitFor(b, 'producerClosed');
  await request(a, 'closeProducer', { producerId: aVideo.id });
  await closed;
  for (const [event, extra] of Object.entries(byEvent)) {
    assert.deepEqual(await emitAck(b, event, { consumerId: video.id, ...extra }), CNF, `${event} after producer closed`);
  }

  // Out of the room: "Participant not found".
  await request(b, 'leaveRoom');
  closeCall(callB);
  for (const [event, extra] of Object.entries(byEvent)) {
    assert.deepEqual(await emitAck(b, event, { consumerId: audio.id, ...extra }), PARTICIPANT_NF, `${event} after leaving`);
  }
  await request(a, 'leaveRoom');
  closeCall(callA);
  await expectNoMediaLeftovers(srv.server);
});

serverTest('produce appData: sources, defaults, 1 KiB limit, refusals change nothing', async () => {
  const [current, v36] = MEDIASOUP_CLIENTS;
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const callA = await enterRoom(a, 'conv-team', current);
  const callB = await enterRoom(b, 'conv-team', v36);

  // A screen share and its audio, announced with source and appData.
  const screenData = { source: 'screen', label: "Alice's screen" };
  const gotScreen = waitFor(b, 'newProducer', { predicate: (e) => e.kind === 'video' });
  const [screen] = await produce(callA, ['video'], { appData: screenData });
  assert.deepEqual(await gotScreen, {
    producerId: screen.id, kind: 'video', socketId: a.id, participantInfo: ALICE_P,
    paused: false, source: 'screen', appData: screenData,
  });
  const gotScreenAudio = waitFor(b, 'newProducer', { predicate: (e) => e.kind === 'audio' });
  const [screenAudio] = await produce(callA, ['audio'], { appData: { source: 'screen-audio' } });
  const ev = await gotScreenAudio;
  assert.equal(ev.producerId, screenAudio.id);
  assert.equal(ev.source, 'screen-audio');
  assert.deepEqual(ev.appData, { source: 'screen-audio' });
  const { ack } = await consume(callB, screen.id);
  assert.deepEqual(ack.appData, screenData, 'consume ack carries the appData');

  // Exactly 1024 bytes serialised is accepted; `appData: null` is the same as none.
  const fits = { label: 'x'.repeat(1024 - '{"label":""}'.length) };
  assert.equal(JSON.stringify(fits).length, 1024);
  const [big] = await produce(callA, ['video'], { appData: fits });
  const template = callA.produceAcks.at(-1).payload;
  const nullData = await request(a, 'produce',
    { ...template, rtpParameters: freshParameters(template.rtpParameters), appData: null });
  let list = await request(b, 'getProducers', {});
  const entry = (id) => list.producers.find((p) => p.id === id);
  assert.equal(entry(big.id).source, 'camera', 'default source for video');
  assert.deepEqual(entry(big.id).appData, fits);
  assert.equal(entry(nullData.id).source, 'camera');
  assert.deepEqual(entry(nullData.id).appData, {});

  // Refusals: each one leaves the producer count as it is and announces nothing.
  const before = (await srv.stats()).producers;
  const silent = expectNoEvent(b, 'newProducer', 600);
  const tooBig = { label: 'x'.repeat(1025 - '{"label":""}'.length) };
  const cases = [
    [tooBig, 'video', 'Invalid payload: appData is too large (1025 bytes, at most 1024)'],
    [{ source: 'webcam' }, 'video',
      'Invalid payload: appData.source must be one of "camera", "microphone", "screen", "screen-audio"'],
    [{ source: 7 }, 'video',
      'Invalid payload: appData.source must be one of "camera", "microphone", "screen", "screen-audio"'],
    [{ source: 'microphone' }, 'video', 'Invalid payload: appData.source "microphone" is for audio tracks, not video'],
    [{ source: 'screen' }, 'audio', 'Invalid payload: appData.source "screen" is for video tracks, not audio'],
    ['screen', 'video', 'Invalid payload: appData must be an object'],
    [[1, 2], 'video', 'Invalid payload: appData must be an object'],
  ];
  const audioTemplate = callA.produceAcks.find((p) => p.kind === 'audio').payload;
  for (const [appData, kind, error] of cases) {
    const base = kind === 'audio' ? audioTemplate : template;
    const res = await emitAck(a, 'produce',
      { transportId: base.transportId, kind, rtpParameters: freshParameters(base.rtpParameters), appData });
    assert.deepEqual(res, { error }, `appData ${JSON.stringify(appData).slice(0, 40)} (${kind})`);
  }
  // mediasoup-client's own produce() surfaces the refusal as a rejected promise.
  await assert.rejects(produce(callA, ['video'], { appData: { source: 'hologram' } }), /appData\.source must be one of/);
  await silent;
  assert.equal((await srv.stats()).producers, before, 'no producer was created by a refused produce');
  list = await request(b, 'getProducers', {});
  assert.equal(list.producers.length, before);

  await request(a, 'leaveRoom');
  await request(b, 'leaveRoom');
  closeCall(callA);
  closeCall(callB);
  await expectNoMediaLeftovers(srv.server);
});

serverTest('createRoom again in the same room is idempotent and returns the snapshot again', async () => {
  const [current] = MEDIASOUP_CLIENTS;
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const callA = await enterRoom(a, 'conv-team', current);
  const [aAudio] = await produce(callA, ['audio']);
  await request(a, 'pauseProducer', { producerId: aAudio.id });
  const first = await request(b, 'createRoom', { roomId: 'conv-team' });
  const again = await request(b, 'createRoom', { roomId: 'conv-team' });
  const want = [{
    socketId: a.id, participantInfo: ALICE_P,
    producers: [{ id: aAudio.id, kind: 'audio', source: 'microphone', paused: true }],
  }];
  assert.deepEqual(first.participants, want);
  assert.deepEqual(again.participants, want);
  assert.deepEqual(again.rtpCapabilities, first.rtpCapabilities);
  // A's view contains B (no producers), not A itself.
  const aAgain = await request(a, 'createRoom', { roomId: 'conv-team' });
  assert.deepEqual(aAgain.participants, [{ socketId: b.id, participantInfo: BOB_P, producers: [] }]);
  assert.equal((await srv.stats()).participants, 2);
  // Disconnecting a paused producer's owner leaves nothing behind.
  const left = waitFor(b, 'participantLeft');
  a.disconnect();
  closeCall(callA);
  await left;
  const view = await request(b, 'createRoom', { roomId: 'conv-team' });
  assert.deepEqual(view.participants, []);
  await request(b, 'leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

// ---------------------------------------------------------------------------------------------
// Seed events without an ack: a callback passed anyway gets an answer.
// ---------------------------------------------------------------------------------------------

serverTest('group_call_initiate with a callback: {success:true}, or {error} matching group_call_error', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const incoming = waitFor(b, 'group_call_incoming');
  const noError = expectNoEvent(a, 'group_call_error', 400);
  assert.deepEqual(
    await emitAck(a, 'group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'audio' }), OK);
  assert.equal((await incoming).conversationId, 'conv-team', 'the call still rings');
  await noError;

  const refusals = [
    [a, { callerId: '2', conversationId: 'conv-team' }, 'callerId does not match the joined user'],
    [a, { conversationId: 'conv-team' }, 'Invalid caller id'],
    [a, { callerId: '1' }, 'conversationId required'],
    [a, { callerId: '1', conversationId: 'conv-pair' }, 'You are not in this group'],
    [a, { callerId: '1', conversationId: 'no-such-conversation' }, 'You are not in this group'],
    [a, { callerId: '1', conversationId: 'conv-team', callType: 'hologram' },
      'Invalid payload: callType must be "video" or "audio"'],
    [a, 'garbage', null],
  ];
  const c = await srv.connect(); // not joined
  refusals.push([c, { callerId: '1', conversationId: 'conv-team' }, 'Join first with your user ID']);
  for (const [s, payload, message] of refusals) {
    const event = waitFor(s, 'group_call_error');
    const ack = await emitAck(s, 'group_call_initiate', payload);
    const { message: emitted } = await event;
    assert.ok(ack && typeof ack.error === 'string', `ack for ${JSON.stringify(payload)}: ${JSON.stringify(ack)}`);
    assert.equal(ack.error, emitted, 'the ack error is the group_call_error message');
    if (message) assert.equal(ack.error, message);
    else assert.match(ack.error, /^Invalid payload: /);
  }

  // Without a callback nothing changed: the event only.
  const event = waitFor(a, 'group_call_error');
  a.emit('group_call_initiate', { callerId: '2', conversationId: 'conv-team' });
  assert.deepEqual(await event, { message: 'callerId does not match the joined user' });
});

serverTest('every other seed event answers a callback passed anyway', async () => {
  // SFU / presence events of seeds 000-002 that the seeds call without a callback.
  const a = await srv.connect();
  assert.deepEqual(await emitAck(a, 'join', '1'), OK, 'join');
  assert.deepEqual(await emitAck(a, 'get_active_calls', {}), { calls: [] }, 'get_active_calls');
  assert.deepEqual(await emitAck(a, 'leaveRoom'), OK, 'leaveRoom outside a room');

  // Mesh (seed 003): join, relays, update-tracks, invitation, leave.
  const b = await srv.connectAs('2');
  const view = await emitAck(a, 'groupcall:join', { roomId: 'conv-team' });
  assert.equal(view.roomId, 'conv-team');
  assert.deepEqual(view.participants, []);
  assert.equal((await emitAck(b, 'groupcall:join', { roomId: 'conv-team' })).participants.length, 1);
  const offer = { type: 'offer', sdp: 'v=0\r\n' };
  const mesh = [
    ['groupcall:webrtc-offer', { roomId: 'conv-team', targetUserId: '2', offer }, OK],
    ['groupcall:webrtc-answer', { roomId: 'conv-team', targetUserId: '2', answer: { type: 'answer', sdp: 'v=0\r\n' } }, OK],
    ['groupcall:webrtc-ice-candidate', { roomId: 'conv-team', targetUserId: '2', candidate: { candidate: 'c' } }, OK],
    ['groupcall:update-tracks', { roomId: 'conv-team', tracks: { audio: false } }, OK],
    ['groupcall:invitation', { roomId: 'conv-team' }, { success: true, invited: 1 }],
    ['groupcall:webrtc-offer', { roomId: 'conv-team', targetUserId: '9', offer },
      { error: 'Target user is not in this mesh room' }],
    ['groupcall:leave', { roomId: 'conv-team' }, OK],
    ['groupcall:leave', { roomId: 'conv-team' }, { error: 'Not in this mesh room' }],
  ];
  for (const [event, payload, want] of mesh) {
    assert.deepEqual(await emitAck(a, event, payload), want, event);
  }
  await emitAck(b, 'groupcall:leave', {});

  // 1:1 (seed 004): register, availability, initiate, ICE, accept, end; reject; errors.
  const c = await srv.connect();
  const d = await srv.connect();
  assert.deepEqual(await emitAck(c, 'register-user', { userId: 5, userName: 'Eve' }),
    { userId: '5', socketId: c.id, success: true });
  assert.deepEqual(await emitAck(d, 'register-user', { userId: 6 }),
    { userId: '6', socketId: d.id, success: true });
  assert.deepEqual(await emitAck(c, 'check-user-availability', { targetUserId: 6 }),
    { targetUserId: '6', isAvailable: true });
  const incoming = waitFor(d, 'incoming-call');
  const started = await emitAck(c, 'initiate-call', { targetUserId: 6, offer });
  assert.equal(started.success, true);
  assert.equal(typeof started.callId, 'string');
  assert.equal((await incoming).callId, started.callId);
  const cand = { candidate: 'candidate:1 1 udp 1 127.0.0.1 5 typ host' };
  assert.deepEqual(await emitAck(c, 'ice-candidate', { targetUserId: 6, candidate: cand }), OK, 'ice-candidate');
  assert.deepEqual(await emitAck(d, 'call-accepted', { targetUserId: 5, answer: { type: 'answer', sdp: 'v=0' } }), OK);
  assert.deepEqual(await emitAck(d, 'ice-candidate', { targetUserId: 5, candidate: cand }), OK);
  assert.deepEqual(await emitAck(c, 'call-ended', { targetUserId: 6 }), OK, 'call-ended');
  assert.deepEqual(await emitAck(c, 'call-ended', { targetUserId: 6 }), { error: 'No such call' });
  const again = waitFor(d, 'incoming-call');
  await request(c, 'initiate-call', { targetUserId: 6, offer });
  await again;
  assert.deepEqual(await emitAck(d, 'call-rejected', { targetUserId: 5 }), OK, 'call-rejected');
  assert.deepEqual(await emitAck(c, 'initiate-call', { targetUserId: 5, offer }), { error: 'You cannot call yourself' });
  assert.deepEqual(await emitAck(c, 'initiate-call', { targetUserId: 77, offer }), { error: 'User is not available' });
  const e = await srv.connect();
  assert.deepEqual(await emitAck(e, 'check-user-availability', { targetUserId: 5 }),
    { error: 'Join first with your user ID' });

  // Names that are not Threads events are answered too (never a callback left waiting).
  for (const name of ['accept-call', 'reject-call', 'end-call', 'user-registered']) {
    assert.deepEqual(await emitAck(e, name, {}), { error: 'Unknown event' }, name);
  }
  await sleep(50);
  await waitForStats(srv.server, (s) => s.rooms === 0);
});

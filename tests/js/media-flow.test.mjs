// Full caller/receiver media signalling flow with real mediasoup-client
// (FakeHandler) in both the current 3.x and the 3.6.x line.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, request, expectNoMediaLeftovers, waitForStats,
  MEDIASOUP_CLIENTS, enterRoom, produce, consume, closeCall, collect, join,
} from './lib/harness.mjs';

const srv = useServer();
const { serverTest } = srv;

const ALICE_P = { userId: '1', name: 'Alice', avatar: 'https://cdn.test/avatars/alice.png' };
const BOB_P = { userId: '2', name: 'Bob', avatar: 'https://img.example/bob.jpg' };
const USER3_P = { userId: '3', name: 'User 3', avatar: null };

const byKind = (a, b) => a.kind.localeCompare(b.kind);
// Huddle's additions to getProducers items and newProducer, for producers made without appData.
const MIC = { paused: false, source: 'microphone', appData: {} };
const CAM = { paused: false, source: 'camera', appData: {} };

for (const client of MEDIASOUP_CLIENTS) {
  serverTest(`media flow caller -> receiver with ${client.label} (${client.version})`, async () => {
    const a = await srv.connectAs('1');
    const b = await srv.connectAs('2');

    // ---- caller A
    const callA = await enterRoom(a, 'conv-team', client);
    assert.equal(callA.device.loaded, true, 'device loaded');
    assert.equal(callA.device.canProduce('audio'), true, 'device can produce audio');
    assert.equal(callA.device.canProduce('video'), true, 'device can produce video');
    const [pAudio, pVideo] = await produce(callA, ['audio', 'video']);

    // The send transport's 'connect' fired exactly once and was acked with success.
    assert.deepEqual(callA.connectAcks.map((c) => [c.direction, c.ack]), [['send', { success: true }]]);
    assert.equal(callA.produceAcks.length, 2);
    for (const { ack } of callA.produceAcks) assert.deepEqual(Object.keys(ack), ['id']);
    assert.equal(pAudio.id, callA.produceAcks[0].ack.id);
    assert.equal(pVideo.id, callA.produceAcks[1].ack.id);
    assert.notEqual(pAudio.id, pVideo.id);

    // getProducers lists every producer of the room, own ones included.
    const ownList = await emitAck(a, 'getProducers');
    assert.deepEqual(ownList.producers.slice().sort(byKind), [
      { id: pAudio.id, kind: 'audio', socketId: a.id, participantInfo: ALICE_P, ...MIC },
      { id: pVideo.id, kind: 'video', socketId: a.id, participantInfo: ALICE_P, ...CAM },
    ]);

    // ---- receiver B (callback-only getProducers form)
    const callB = await enterRoom(b, 'conv-team', client);
    const list = await emitAck(b, 'getProducers');
    assert.ok(list && Array.isArray(list.producers), `getProducers ack: ${JSON.stringify(list)}`);
    assert.deepEqual(list.producers.slice().sort(byKind), [
      { id: pAudio.id, kind: 'audio', socketId: a.id, participantInfo: ALICE_P, ...MIC },
      { id: pVideo.id, kind: 'video', socketId: a.id, participantInfo: ALICE_P, ...CAM },
    ]);

    const remote = list.producers.filter((p) => p.socketId !== b.id);
    assert.equal(callB.connectAcks.length, 0, 'recv transport not connected before first consume');
    for (const p of remote) {
      const { ack, consumer } = await consume(callB, p.id);
      assert.equal(ack.kind, p.kind);
      assert.equal(consumer.kind, p.kind);
      assert.equal(consumer.track.kind, p.kind);
      assert.equal(consumer.producerId, p.id);
      const mime = ack.rtpParameters.codecs[0].mimeType.toLowerCase();
      assert.ok(mime.startsWith(`${p.kind}/`), `consumer codec ${mime} matches kind ${p.kind}`);
    }
    // The first consume made the recv transport connect: acked with success.
    assert.deepEqual(callB.connectAcks.map((c) => [c.direction, c.ack]), [['recv', { success: true }]]);

    let st = await srv.stats();
    assert.equal(st.rooms, 1, 'rooms');
    assert.equal(st.participants, 2, 'participants');
    assert.equal(st.transports, 4, 'transports');
    assert.equal(st.producers, 2, 'producers');
    assert.equal(st.consumers, 2, 'consumers');

    // ---- B produces: A gets newProducer with Bob's participantInfo; B does not.
    const newProd = collect(a, 'newProducer');
    const noSelf = expectNoEvent(b, 'newProducer', 600);
    const gotTwo = Promise.all([
      waitFor(a, 'newProducer', { predicate: (e) => e.kind === 'audio' }),
      waitFor(a, 'newProducer', { predicate: (e) => e.kind === 'video' }),
    ]);
    const [bAudio, bVideo] = await produce(callB, ['audio', 'video']);
    const [nAudio, nVideo] = await gotTwo;
    assert.deepEqual(nAudio, { producerId: bAudio.id, kind: 'audio', socketId: b.id, participantInfo: BOB_P, ...MIC });
    assert.deepEqual(nVideo, { producerId: bVideo.id, kind: 'video', socketId: b.id, participantInfo: BOB_P, ...CAM });
    await noSelf;
    newProd.stop();
    assert.equal(newProd.items.length, 2, 'exactly two newProducer events');
    assert.deepEqual(callB.connectAcks.map((c) => c.direction).sort(), ['recv', 'send']);

    // A consumes B's media (A's recv transport connects now).
    for (const ev of [nAudio, nVideo]) await consume(callA, ev.producerId);
    assert.deepEqual(callA.connectAcks.map((c) => [c.direction, c.ack]),
      [['send', { success: true }], ['recv', { success: true }]]);

    st = await srv.stats();
    assert.equal(st.producers, 4, 'producers');
    assert.equal(st.consumers, 4, 'consumers');

    // ---- teardown: A leaves -> B gets participantLeft; B leaves -> ended.
    const left = waitFor(b, 'participantLeft');
    const noEndYet = expectNoEvent(b, 'group_call_ended', 500);
    const aId = a.id;
    a.emit('leaveRoom');
    closeCall(callA);
    assert.deepEqual(await left, { socketId: aId });
    await noEndYet;
    st = await waitForStats(srv.server, (s) => s.participants === 1);
    assert.equal(st.producers, 2, 'A\'s producers are gone');
    assert.equal(st.transports, 2, 'A\'s transports are gone');
    assert.equal(st.consumers, 0, 'A\'s consumers and B\'s consumers of A\'s producers are gone');

    const ended = [a, b].map((s) => waitFor(s, 'group_call_ended'));
    b.emit('leaveRoom');
    closeCall(callB);
    for (const p of ended) assert.deepEqual(await p, { conversationId: 'conv-team' });
    await expectNoMediaLeftovers(srv.server);
  });
}

serverTest('late joiner uses getProducers with {} payload (mixed client versions)', async () => {
  const [current, v36] = MEDIASOUP_CLIENTS;
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const c = await srv.connect();
  await join(c, 3); // numeric join: participantInfo.userId must still be the string "3"

  const callA = await enterRoom(a, 'conv-team', current);
  const [aAudio, aVideo] = await produce(callA, ['audio', 'video']);
  const callB = await enterRoom(b, 'conv-team', v36);
  const gotB = waitFor(a, 'newProducer');
  const [bAudio] = await produce(callB, ['audio']);
  assert.deepEqual(await gotB, { producerId: bAudio.id, kind: 'audio', socketId: b.id, participantInfo: BOB_P, ...MIC });
  await consume(callB, aAudio.id);
  await consume(callB, aVideo.id);
  await consume(callA, bAudio.id);

  // C joins mid-call.
  const callC = await enterRoom(c, 'conv-team', current);
  const list = await emitAck(c, 'getProducers', {});
  assert.ok(list && Array.isArray(list.producers), `getProducers({}) ack: ${JSON.stringify(list)}`);
  const sortKey = (p) => `${p.socketId}/${p.kind}`;
  const got = list.producers.slice().sort((x, y) => sortKey(x).localeCompare(sortKey(y)));
  const want = [
    { id: aAudio.id, kind: 'audio', socketId: a.id, participantInfo: ALICE_P, ...MIC },
    { id: aVideo.id, kind: 'video', socketId: a.id, participantInfo: ALICE_P, ...CAM },
    { id: bAudio.id, kind: 'audio', socketId: b.id, participantInfo: BOB_P, ...MIC },
  ].sort((x, y) => sortKey(x).localeCompare(sortKey(y)));
  assert.deepEqual(got, want);
  for (const p of list.producers.filter((x) => x.socketId !== c.id)) await consume(callC, p.id);
  assert.equal(callC.consumers.length, 3);

  // C produces: both A and B are told, with user 3's default directory info.
  const evA = waitFor(a, 'newProducer');
  const evB = waitFor(b, 'newProducer');
  const [cVideo] = await produce(callC, ['video']);
  const expected = { producerId: cVideo.id, kind: 'video', socketId: c.id, participantInfo: USER3_P, ...CAM };
  assert.deepEqual(await evA, expected);
  assert.deepEqual(await evB, expected);

  // And C itself now sees its own producer in the list (server excludes nothing).
  const list2 = await request(c, 'getProducers', {});
  assert.equal(list2.producers.length, 4);
  assert.ok(list2.producers.some((p) => p.id === cVideo.id && p.socketId === c.id));

  const st = await srv.stats();
  assert.deepEqual(
    [st.rooms, st.participants, st.transports, st.producers, st.consumers],
    [1, 3, 6, 4, 6]);

  // C disconnects; A and B get participantLeft.
  const lA = waitFor(a, 'participantLeft');
  const lB = waitFor(b, 'participantLeft');
  const cId = c.id;
  c.disconnect();
  assert.deepEqual(await lA, { socketId: cId });
  assert.deepEqual(await lB, { socketId: cId });
  a.emit('leaveRoom');
  b.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

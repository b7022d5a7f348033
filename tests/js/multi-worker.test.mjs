// Two mediasoup workers, capacity 2 consumers per worker: a room that outgrows its worker
// continues on the other one (its WebRtcServer, its router), producers are piped across, and
// the signalling is exactly the same for the clients (mediasoup-client FakeHandler).
import assert from 'node:assert/strict';
import {
  useServer, enterRoom, produce, consume, closeCall, request, expectNoMediaLeftovers, waitForStats,
  MEDIASOUP_CLIENTS,
} from './lib/harness.mjs';

const srv = useServer({ extraArgs: ['--workers', '2', '--worker-consumer-capacity', '2'] });
const { serverTest } = srv;
const client = MEDIASOUP_CLIENTS[0];

serverTest('a room spreads to a second worker and producers are piped to it', async () => {
  const a = await srv.connectAs('1');
  const b = await srv.connectAs('2');
  const c = await srv.connectAs('3');

  const callA = await enterRoom(a, 'conv-team', client);
  const [aAudio, aVideo] = await produce(callA, ['audio', 'video']);
  const callB = await enterRoom(b, 'conv-team', client);
  await consume(callB, aAudio.id);
  await consume(callB, aVideo.id);

  let s = await srv.stats();
  assert.equal(s.workers, 2);
  assert.equal(s.routers, 1, 'one router while the home worker has capacity');
  const home = s.perWorker.findIndex((w) => w.routers === 1);
  assert.equal(s.perWorker[home].consumers, 2);

  // The home worker is at capacity: Carol's transports go to the other worker.
  const callC = await enterRoom(c, 'conv-team', client);
  s = await srv.stats();
  assert.equal(s.routers, 2, `the room continues on a second router: ${JSON.stringify(s)}`);
  assert.equal(s.mediaRooms, 1);
  const other = 1 - home;
  assert.equal(s.perWorker[other].transports, 2, JSON.stringify(s.perWorker));
  // Carol consumes Alice's producers (piped from the home worker) and produces audio that
  // Alice consumes (piped back).
  const ca = await consume(callC, aAudio.id);
  const cv = await consume(callC, aVideo.id);
  assert.equal(ca.ack.kind, 'audio');
  assert.equal(cv.ack.kind, 'video');
  const [cAudio] = await produce(callC, ['audio']);
  const back = await consume(callA, cAudio.id);
  assert.equal(back.ack.producerId, cAudio.id);
  s = await srv.stats();
  assert.deepEqual(s.perWorker.map((w) => w.consumers).sort(), [2, 3], JSON.stringify(s.perWorker));
  assert.deepEqual(s.perWorker.map((w) => w.producers).sort(), [1, 2], JSON.stringify(s.perWorker));
  assert.equal(s.consumers, 5);

  // Everything goes when they leave: both routers, every counted object on both workers.
  for (const [sock, call] of [[a, callA], [b, callB], [c, callC]]) {
    closeCall(call);
    assert.deepEqual(await request(sock, 'leaveRoom', {}), { success: true });
  }
  await expectNoMediaLeftovers(srv.server);
  s = await waitForStats(srv.server, (st) => st.routers === 0 && st.mediaRooms === 0);
  for (const w of s.perWorker) {
    assert.deepEqual([w.routers, w.transports, w.producers, w.consumers], [0, 0, 0, 0], JSON.stringify(w));
  }
});

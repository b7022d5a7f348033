// Shared helpers for the Huddle JS integration suite.
//
// Every test file starts its own server process (startServer) on a free
// loopback port, drives it with the real socket.io-client, and kills it in
// its `after` hook.  Use `serverTest()` instead of `test()` so that the
// server's captured stdout/stderr gets printed when a test fails.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { io } from 'socket.io-client';

import { HUDDLE_BIN, REPO_ROOT, freePort, sleep, startHuddle } from '../../shared/server.mjs';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));

export { HUDDLE_BIN, REPO_ROOT, freePort, sleep };
export const TESTS_DIR = path.resolve(HERE, '..');
export const FIXTURE = path.join(TESTS_DIR, 'fixtures', 'directory.json');
export const AVATAR_BASE = 'https://cdn.test/avatars';

export const DEFAULT_TIMEOUT = 5000;

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

/**
 * Spawns the server (tests/shared/server.mjs) and waits for /healthz.  Returns a handle:
 *   { url, port, proc, args, logs(), stats(), stop() }
 */
export async function startServer({ extraArgs = [], fixture = FIXTURE } = {}) {
  const handle = await startHuddle({
    args: [
      '--directory', fixture,
      '--avatar-base-url', AVATAR_BASE,
      '--rtc-listen-ip', '127.0.0.1',
      '--webrtc-port', '0', // random WebRtcServer ports: test servers may run side by side
      '--log-format', 'text',
      ...extraArgs,
    ],
  });
  handle.stats = () => getStats(handle.url);
  return handle;
}

export async function getStats(url) {
  const res = await fetch(`${url}/debug/stats`);
  assert.equal(res.status, 200, 'GET /debug/stats status');
  return res.json();
}

/**
 * Sets up before/after hooks for one test file and returns an accessor for
 * the running server plus a `serverTest` wrapper that dumps server logs on
 * failure and checks that every socket opened by the test is closed.
 */
export function useServer(opts = {}) {
  const ctx = { server: null, sockets: new Set(), failures: 0 };
  before(async () => {
    ctx.server = await startServer(opts);
  });
  after(async () => {
    for (const s of ctx.sockets) s.disconnect();
    ctx.sockets.clear();
    if (ctx.server) {
      await ctx.server.stop();
      if (ctx.failures > 0 || process.env.HUDDLE_SHOW_LOGS) {
        process.stderr.write(
          `\n===== huddle server output (${ctx.server.args.join(' ')}) =====\n` +
          `${tail(ctx.server.logs(), 20000)}\n===== end server output =====\n`);
      }
    }
  });

  const serverTest = (name, fn, { timeout = 30000 } = {}) =>
    test(name, { timeout }, async (t) => {
      const offset = ctx.server ? ctx.server.logs().length : 0;
      try {
        await fn(t);
      } catch (err) {
        ctx.failures++;
        if (ctx.server) {
          process.stderr.write(
            `\n----- server output during "${name}" -----\n` +
            `${tail(ctx.server.logs().slice(offset), 12000)}\n----- end -----\n`);
        }
        throw err;
      } finally {
        for (const s of ctx.sockets) s.disconnect();
        ctx.sockets.clear();
        // Leave a clean server for the next test.
        if (ctx.server) {
          await waitForStats(ctx.server, (s) => s.sockets === 0 && s.rooms === 0, 5000)
            .catch(() => {});
        }
      }
    });

  return {
    get server() { return ctx.server; },
    get url() { return ctx.server.url; },
    stats: () => ctx.server.stats(),
    /** Connects a socket.io client; it is disconnected after the test. */
    async connect(opts2 = {}) {
      const s = await connect(ctx.server.url, opts2);
      ctx.sockets.add(s);
      return s;
    },
    /** Connects and emits `join` with the given user id. */
    async connectAs(userId, opts2 = {}) {
      const s = await this.connect(opts2);
      await join(s, userId);
      return s;
    },
    serverTest,
  };
}

function tail(s, n) {
  return s.length > n ? `...(${s.length - n} chars cut)...\n${s.slice(-n)}` : s;
}

// ---------------------------------------------------------------------------
// socket.io helpers
// ---------------------------------------------------------------------------

export function connect(url, { timeout = DEFAULT_TIMEOUT, ...ioOpts } = {}) {
  const socket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    timeout,
    ...ioOpts,
  });
  // Record every server->client event so tests can assert on history.
  socket.received = [];
  socket.onAny((event, ...args) => socket.received.push({ event, args, at: Date.now() }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.disconnect();
      reject(new Error(`socket.io connect to ${url} timed out`));
    }, timeout);
    socket.once('connect', () => { clearTimeout(timer); resolve(socket); });
    socket.once('connect_error', (e) => {
      clearTimeout(timer);
      socket.disconnect();
      reject(new Error(`socket.io connect_error: ${e.message}`));
    });
  });
}

/**
 * Emits `join` and waits until the server has processed it.  `join` has no
 * ack, so we use a round trip on the same socket (`get_active_calls` with an
 * ack) as a barrier unless `barrier: false`.  Note that the barrier itself
 * may count as a directory query when calls are active; pass
 * `barrier: false` when counting queries.
 */
export async function join(socket, userId, { barrier = true } = {}) {
  socket.userId = userId;
  socket.emit('join', userId);
  if (barrier) {
    const res = await emitAck(socket, 'get_active_calls', {});
    assert.ok(res && Array.isArray(res.calls),
      `join barrier: get_active_calls after join(${JSON.stringify(userId)}) returned ${JSON.stringify(res)}`);
  }
}

/** socket.emit(event, ...args, ack) as a promise with a timeout. */
export function emitAck(socket, event, ...args) {
  let timeout = DEFAULT_TIMEOUT;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ack for "${event}" ${JSON.stringify(args)} within ${timeout} ms`)),
      timeout);
    socket.emit(event, ...args, (res) => {
      clearTimeout(timer);
      resolve(res);
    });
  });
}

/** Like emitAck but rejects if the ack carries an `error`. */
export async function request(socket, event, payload = {}) {
  const res = await emitAck(socket, event, payload);
  if (!res || typeof res !== 'object') {
    throw new Error(`"${event}" ack was not an object: ${JSON.stringify(res)}`);
  }
  if (res.error) {
    throw new Error(`"${event}" ${JSON.stringify(payload)} failed: ${res.error}`);
  }
  return res;
}

/**
 * Resolves with the payload of the next `event` on `socket` (that satisfies
 * `predicate`, if given).  Register it BEFORE triggering the event.
 */
export function waitFor(socket, event, { timeout = DEFAULT_TIMEOUT, predicate } = {}) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      if (predicate && !predicate(...args)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(args[0]);
    };
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(
        `socket ${socket.id} (user ${socket.userId ?? '?'}) did not receive "${event}" within ${timeout} ms; ` +
        `events seen: ${JSON.stringify(socket.received?.map((r) => r.event))}`));
    }, timeout);
    socket.on(event, handler);
  });
}

/** Asserts that `event` does not arrive on `socket` within `ms`. */
export async function expectNoEvent(socket, event, ms = 400, predicate) {
  const got = [];
  const handler = (...args) => { if (!predicate || predicate(...args)) got.push(args[0]); };
  socket.on(event, handler);
  await sleep(ms);
  socket.off(event, handler);
  assert.equal(got.length, 0,
    `socket ${socket.id} unexpectedly received "${event}": ${JSON.stringify(got)}`);
}

/** Collects all `event` payloads on `socket` until stop() is called. */
export function collect(socket, event) {
  const items = [];
  const handler = (data) => items.push(data);
  socket.on(event, handler);
  return { items, stop: () => socket.off(event, handler) };
}

/** Polls /debug/stats until predicate(stats) is true. */
export async function waitForStats(server, predicate, timeout = 5000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await server.stats();
    if (predicate(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`/debug/stats did not reach the expected state within ${timeout} ms; last: ${JSON.stringify(last)}`);
    }
    await sleep(50);
  }
}

export const ZERO_MEDIA = {
  rooms: 0, participants: 0, transports: 0, producers: 0, consumers: 0,
};

/** Waits until there are no rooms/participants/transports/producers/consumers. */
export async function expectNoMediaLeftovers(server, timeout = 5000) {
  const s = await waitForStats(
    server,
    (st) => Object.keys(ZERO_MEDIA).every((k) => st[k] === 0),
    timeout,
  ).catch(async (e) => { e.message += ' (expected all media counters 0)'; throw e; });
  for (const k of Object.keys(ZERO_MEDIA)) assert.equal(s[k], 0, `stats.${k}`);
  return s;
}

// ---------------------------------------------------------------------------
// mediasoup-client (FakeHandler) helpers
// ---------------------------------------------------------------------------

/**
 * The two mediasoup-client versions under test.  Both are CJS packages.
 *  - current 3.x exposes the FakeHandler and fake parameters through
 *    package.json "exports": `mediasoup-client/handlers/FakeHandler` and
 *    `mediasoup-client/fakeParameters`.
 *  - 3.6.x has no "exports" map: `lib/handlers/FakeHandler` and
 *    `lib/tests/fakeParameters`.
 */
export const MEDIASOUP_CLIENTS = [
  {
    label: 'mediasoup-client current',
    version: require('mediasoup-client').version,
    lib: require('mediasoup-client'),
    FakeHandler: require('mediasoup-client/handlers/FakeHandler').FakeHandler,
    fakeParameters: require('mediasoup-client/fakeParameters'),
  },
  {
    label: 'mediasoup-client 3.6',
    version: require('mediasoup-client-36').version,
    lib: require('mediasoup-client-36'),
    FakeHandler: require('mediasoup-client-36/lib/handlers/FakeHandler').FakeHandler,
    fakeParameters: require('mediasoup-client-36/lib/tests/fakeParameters'),
  },
];

const { FakeMediaStreamTrack } = require('fake-mediastreamtrack');

export function fakeTrack(kind) {
  return new FakeMediaStreamTrack({ kind, enabled: true, muted: false, label: `fake-${kind}` });
}

export function newDevice(client) {
  return new client.lib.Device({
    handlerFactory: client.FakeHandler.createFactory(client.fakeParameters),
  });
}

/**
 * Runs the documented client flow up to "transports created":
 * createRoom -> Device.load -> createTransport send/recv -> wire
 * connect/produce handlers to connectTransport/produce.
 *
 * Returns a `call` object with the device, both transports, and logs of
 * every connectTransport / produce ack the server returned.
 */
export async function enterRoom(socket, roomId, client, { rtpCapabilities } = {}) {
  // With `rtpCapabilities` given, the socket is assumed to be in the room
  // already (createRoom was sent by the caller) and createRoom is skipped.
  const created = rtpCapabilities
    ? { rtpCapabilities, participants: [], activeSpeaker: null, recording: null }
    : await request(socket, 'createRoom', { roomId });
  assert.ok(created.rtpCapabilities && Array.isArray(created.rtpCapabilities.codecs),
    `createRoom ack has rtpCapabilities.codecs: ${JSON.stringify(created)}`);
  // The seeds' `rtpCapabilities`, plus Huddle's room snapshot (additions only).
  assert.deepEqual(Object.keys(created).sort(), ['activeSpeaker', 'participants', 'recording', 'rtpCapabilities'],
    'createRoom ack keys');
  assert.ok(Array.isArray(created.participants), 'createRoom ack participants is an array');
  const device = newDevice(client);
  await device.load({ routerRtpCapabilities: created.rtpCapabilities });

  const call = {
    socket, roomId, client, device,
    rtpCapabilities: created.rtpCapabilities,
    created,
    connectAcks: [], // { direction, transportId, ack }
    produceAcks: [], // { kind, ack, payload }
    consumers: [],
    producers: [],
  };

  const sendInfo = await request(socket, 'createTransport', { type: 'send' });
  const recvInfo = await request(socket, 'createTransport', { type: 'recv' });
  for (const info of [sendInfo, recvInfo]) {
    assert.deepEqual(Object.keys(info).sort(),
      ['dtlsParameters', 'iceCandidates', 'iceParameters', 'id'], 'createTransport ack keys');
    assert.equal(typeof info.id, 'string', 'transport id is a string');
    assert.ok(info.iceParameters && typeof info.iceParameters.usernameFragment === 'string',
      'iceParameters.usernameFragment');
    assert.ok(Array.isArray(info.iceCandidates) && info.iceCandidates.length > 0, 'iceCandidates');
    assert.ok(info.dtlsParameters && Array.isArray(info.dtlsParameters.fingerprints),
      'dtlsParameters.fingerprints');
  }
  assert.notEqual(sendInfo.id, recvInfo.id, 'send and recv transports differ');

  const pick = ({ id, iceParameters, iceCandidates, dtlsParameters }) =>
    ({ id, iceParameters, iceCandidates, dtlsParameters });
  call.sendTransport = device.createSendTransport(pick(sendInfo));
  call.recvTransport = device.createRecvTransport(pick(recvInfo));

  for (const [direction, transport] of [['send', call.sendTransport], ['recv', call.recvTransport]]) {
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      emitAck(socket, 'connectTransport', { transportId: transport.id, dtlsParameters })
        .then((ack) => {
          call.connectAcks.push({ direction, transportId: transport.id, ack });
          if (ack && ack.success === true) callback();
          else errback(new Error(`connectTransport(${direction}) ack: ${JSON.stringify(ack)}`));
        }, errback);
    });
  }
  call.sendTransport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
    // mediasoup-client always passes an appData object ({} by default); forward it only when
    // the test set something, so the seeds' payload shape stays the common case.
    const payload = { transportId: call.sendTransport.id, kind, rtpParameters };
    if (appData && Object.keys(appData).length > 0) payload.appData = appData;
    emitAck(socket, 'produce', payload)
      .then((ack) => {
        call.produceAcks.push({ kind, ack, payload });
        if (ack && typeof ack.id === 'string' && !ack.error) callback({ id: ack.id });
        else errback(new Error(`produce(${kind}) ack: ${JSON.stringify(ack)}`));
      }, errback);
  });
  return call;
}

/**
 * Produces the given kinds ('audio', 'video') on the call's send transport.
 * `options` (e.g. `{ appData, encodings }`) go to `sendTransport.produce()`.
 */
export async function produce(call, kinds = ['audio', 'video'], options = {}) {
  const out = [];
  for (const kind of kinds) {
    const producer = await call.sendTransport.produce({ track: fakeTrack(kind), ...options });
    call.producers.push(producer);
    out.push(producer);
  }
  return out;
}

/**
 * consume -> recvTransport.consume -> resumeConsumer for one remote producer.
 * Returns { ack, consumer, resumeAck }.
 */
export async function consume(call, producerId) {
  const ack = await emitAck(call.socket, 'consume', {
    transportId: call.recvTransport.id,
    producerId,
    rtpCapabilities: call.device.rtpCapabilities,
  });
  assert.ok(ack && !ack.error, `consume(${producerId}) ack: ${JSON.stringify(ack)}`);
  // The seeds' four fields, plus Huddle's producerPaused / appData / type (additions only).
  assert.deepEqual(Object.keys(ack).sort(),
    ['appData', 'id', 'kind', 'producerId', 'producerPaused', 'rtpParameters', 'type'], 'consume ack keys');
  assert.equal(typeof ack.producerPaused, 'boolean', 'consume ack producerPaused');
  assert.ok(ack.appData && typeof ack.appData === 'object' && !Array.isArray(ack.appData), 'consume ack appData');
  assert.ok(['simple', 'simulcast', 'svc'].includes(ack.type), `consume ack type ${ack.type}`);
  assert.equal(typeof ack.id, 'string', 'consume ack id');
  assert.equal(ack.producerId, producerId, 'consume ack producerId');
  assert.ok(ack.kind === 'audio' || ack.kind === 'video', `consume ack kind ${ack.kind}`);
  assert.ok(ack.rtpParameters && Array.isArray(ack.rtpParameters.codecs) &&
    ack.rtpParameters.codecs.length > 0, 'consume ack rtpParameters.codecs');
  const consumer = await call.recvTransport.consume({
    id: ack.id, producerId: ack.producerId, kind: ack.kind, rtpParameters: ack.rtpParameters,
  });
  call.consumers.push(consumer);
  const resumeAck = await emitAck(call.socket, 'resumeConsumer', { consumerId: consumer.id });
  assert.deepEqual(resumeAck, { success: true }, 'resumeConsumer ack');
  return { ack, consumer, resumeAck };
}

export function closeCall(call) {
  try { call.sendTransport?.close(); } catch { /* ignore */ }
  try { call.recvTransport?.close(); } catch { /* ignore */ }
}

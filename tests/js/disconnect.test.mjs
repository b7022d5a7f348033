// Abrupt disconnects: clean socket.disconnect(), a transport destroyed
// without a close frame, and a connection that silently stops carrying
// traffic (server ping timeout; server runs with 1000/1000 ms ping settings).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after } from 'node:test';
import {
  useServer, waitFor, expectNoEvent, expectNoMediaLeftovers, waitForStats, connect, join,
  MEDIASOUP_CLIENTS, enterRoom, produce, consume,
} from './lib/harness.mjs';

const srv = useServer({ extraArgs: ['--ping-interval-ms', '1000', '--ping-timeout-ms', '1000'] });
const { serverTest } = srv;
const [client] = MEDIASOUP_CLIENTS;

// --- a loopback TCP proxy whose connections can be black-holed -------------
const proxies = [];
async function startProxy(targetPort) {
  const pairs = [];
  const server = net.createServer((down) => {
    const up = net.connect(targetPort, '127.0.0.1');
    down.on('error', () => {});
    up.on('error', () => {});
    down.pipe(up);
    up.pipe(down);
    pairs.push({ down, up });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const proxy = {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Stops forwarding in both directions without closing anything. */
    blackhole() {
      for (const { down, up } of pairs) {
        down.unpipe(up);
        up.unpipe(down);
        down.pause();
        up.pause();
      }
    },
    close() {
      for (const { down, up } of pairs) { down.destroy(); up.destroy(); }
      server.close();
    },
  };
  proxies.push(proxy);
  return proxy;
}
after(() => { for (const p of proxies) p.close(); });

const KILLERS = {
  'socket.disconnect()': async (s) => { s.disconnect(); },
  'transport destroyed without close frame (ws.terminate)': async (s) => {
    const ws = s.io.engine.transport.ws;
    assert.ok(ws && typeof ws.terminate === 'function', 'engine.io websocket transport exposes ws.terminate()');
    ws.terminate();
  },
  'silent connection loss (server ping timeout)': async (s) => { s.proxy.blackhole(); },
};

for (const [how, kill] of Object.entries(KILLERS)) {
  serverTest(`abrupt disconnect: ${how}`, async () => {
    const needsProxy = how.includes('ping timeout');
    const open = async (uid) => {
      if (!needsProxy) return srv.connectAs(uid);
      const proxy = await startProxy(srv.server.port);
      const s = await connect(proxy.url);
      s.proxy = proxy;
      await join(s, uid);
      return s;
    };
    const detectMs = needsProxy ? 10000 : 5000;

    const a = await open('1');
    const b = await open('2');
    const c = await srv.connectAs('3'); // member, not in the room
    const callA = await enterRoom(a, 'conv-team', client);
    const [aAudio, aVideo] = await produce(callA);
    const callB = await enterRoom(b, 'conv-team', client);
    const [bVideo] = await produce(callB, ['video']);
    await consume(callB, aAudio.id);
    await consume(callB, aVideo.id);
    await consume(callA, bVideo.id);

    // Kill A: B gets participantLeft, nobody gets group_call_ended.
    const aId = a.id;
    const left = waitFor(b, 'participantLeft', { timeout: detectMs });
    const noEnded = expectNoEvent(c, 'group_call_ended', 300);
    const t0 = Date.now();
    await kill(a);
    assert.deepEqual(await left, { socketId: aId });
    const took = Date.now() - t0;
    await noEnded;
    let st = await waitForStats(srv.server, (s) => s.participants === 1);
    assert.equal(st.rooms, 1);
    assert.equal(st.producers, 1, 'only B\'s producer is left');
    assert.equal(st.transports, 2, 'only B\'s transports are left');

    // Kill B (last participant): every member socket still online gets group_call_ended.
    const bId = b.id;
    const ended = waitFor(c, 'group_call_ended', { timeout: detectMs });
    await kill(b);
    assert.deepEqual(await ended, { conversationId: 'conv-team' });
    await expectNoMediaLeftovers(srv.server);
    st = await waitForStats(srv.server, (s) => s.sockets === 1, detectMs);
    assert.equal(st.sockets, 1, 'only C is still connected');
    assert.equal(st.joinedUsers, 1, 'only user 3 is still joined');
    assert.ok(bId);
    if (needsProxy) {
      assert.ok(took >= 500, `ping-timeout detection took ${took} ms (expected >= ~1 s, i.e. not a TCP close)`);
    }
  }, { timeout: 45000 });
}

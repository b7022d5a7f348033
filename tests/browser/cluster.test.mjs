// Cluster mode in real headless Chromium: the caller's page is served by node 1, the callee's
// by node 2 (two Huddle nodes on one throwaway redis-server). The ring crosses nodes, the room
// has one home, and real audio and video are decoded both ways (getStats()).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startRedis } from '../shared/redis.mjs';
import { dumpLogs, launchBrowser, openUser, sleep, startServer, waitForMedia } from './lib/env.mjs';

const TEAM = 'e2e-team'; // Alice (1), Bob (2), Carol (3)

let redis;
let nodes = [];
let browser;
const users = [];

before(async () => {
  redis = await startRedis();
  nodes = await Promise.all([1, 2].map((i) => startServer({
    host: `127.0.0.${i}`,
    extraArgs: ['--redis-url', redis.url, '--node-id', `node${i}`, '--cluster-renew-ms', '500'],
  })));
  // Both nodes see each other before the first call.
  for (const n of nodes) {
    for (let i = 0; ; i++) {
      const s = await (await fetch(`${n.url}/debug/stats`)).json();
      if (s.cluster?.nodesAlive === 2) break;
      if (i > 100) throw new Error(`cluster did not form: ${JSON.stringify(s.cluster)}`);
      await sleep(100);
    }
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await Promise.all(nodes.map((n) => n.stop()));
  await redis?.stop();
});

test('caller on node 1, callee on node 2: the ring crosses nodes, media flows both ways', { timeout: 90_000 }, async () => {
  const [n1, n2] = nodes;
  try {
    const alice = await openUser(browser, n1, 1, { name: 'alice-node1' });
    const bob = await openUser(browser, n2, 2, { name: 'bob-node2' });
    users.push(alice, bob);
    for (const u of [alice, bob]) await u.page.evaluate(() => window.__huddle.record('audioLevels'));
    await alice.conversation(TEAM).locator('[data-action="start-video"]').click();
    await bob.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
    assert.equal(await bob.page.locator('#ring-caller').textContent(), 'Alice is calling');
    await bob.page.locator('#ring-accept').click();

    const [aliceStats, bobStats] = await Promise.all([waitForMedia(alice, [2]), waitForMedia(bob, [1])]);
    const fromBob = aliceStats.remote.find((r) => r.userId === '2');
    const fromAlice = bobStats.remote.find((r) => r.userId === '1');
    assert.ok(fromBob.video.framesDecoded > 0 && fromBob.audio.packetsReceived > 0, JSON.stringify(fromBob));
    assert.ok(fromAlice.video.framesDecoded > 0 && fromAlice.audio.packetsReceived > 0, JSON.stringify(fromAlice));

    // One room in the cluster, homed on node 1; Bob's socket on node 2 is forwarded there.
    const [s1, s2] = await Promise.all(nodes.map(async (n) => (await fetch(`${n.url}/debug/stats`)).json()));
    assert.equal(s1.rooms + s2.rooms, 1, 'one room in the cluster');
    assert.equal(s1.participants, 2, 'the home holds both participants');
    assert.equal(s1.cluster.remoteParticipants, 1);
    assert.equal(s2.cluster.forwardedSockets, 1);
    // Bob's media is on node 2 (his transports there), and crosses to node 1 through one pipe.
    const transports = (s) => s.perWorker.reduce((sum, w) => sum + w.transports, 0);
    assert.equal(s1.cluster.pipeTransports, 1, 'one pipe on the home');
    assert.equal(s2.cluster.pipeTransports, 1, 'one pipe on node 2');
    assert.ok(transports(s2) >= 3, `Bob's transports and the pipe are on node 2: ${JSON.stringify(s2.perWorker)}`);
    // Speaker detection covers the whole room on its home: Bob's audio (node 2) reaches the
    // home's observer through the pipe, and the levels reach Bob's page through node 2.
    const bobSid = await bob.page.evaluate(() => window.__huddle.socketId);
    for (let i = 0; ; i++) {
      const levels = await bob.page.evaluate(() => window.__huddle.events('audioLevels'));
      if (levels.some((e) => e.levels.some((l) => l.socketId === bobSid && l.userId === '2'))) break;
      if (i > 100) throw new Error(`no audioLevels with Bob's audio: ${JSON.stringify(levels).slice(0, 2000)}`);
      await sleep(200);
    }
    await alice.screenshot('cluster-alice-node1.png');
    await bob.screenshot('cluster-bob-node2.png');

    // Bob leaves from node 2: his tile disappears on node 1's page.
    await bob.page.locator('#btn-leave').click();
    await alice.tile(2).waitFor({ state: 'detached', timeout: 10_000 });
    // Nothing of the room is left on node 2, and the pipe is closed on both ends.
    for (let i = 0; ; i++) {
      const [a, b] = await Promise.all(nodes.map(async (n) => (await fetch(`${n.url}/debug/stats`)).json()));
      if (a.cluster.pipeTransports === 0 && b.cluster.pipeTransports === 0 && transports(b) === 0) break;
      if (i > 100) throw new Error(`pipes left open: ${JSON.stringify([a.cluster, b.cluster, b.perWorker])}`);
      await sleep(100);
    }
  } catch (e) {
    process.stderr.write(`cluster browser logs: ${dumpLogs('FAILED-cluster-logs.txt', n1, users)}\n`);
    process.stderr.write(`node2:\n${n2.logs().slice(-6000)}\n`);
    throw e;
  }
});

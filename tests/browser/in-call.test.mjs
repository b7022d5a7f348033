// Issue 13 signalling with real media: a simulcast camera from Chromium (mediasoup-client in
// the demo page), consumed by another page. The consumer's owner gets consumerLayersChanged
// as mediasoup starts forwarding, after setConsumerPreferredLayers, and (nulls) when the
// producer is paused with pauseProducer; producerPaused / producerResumed reach the page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { dumpLogs, launchBrowser, openUser, sleep, startServer, waitForMedia } from './lib/env.mjs';

const TEAM = 'e2e-team'; // Alice (1), Bob (2), Carol (3)

let server;
let browser;
const users = [];
let failed = false;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (failed) {
    for (const u of users) await u.screenshot(`FAILED-in-call-${u.name}.png`).catch(() => {});
    process.stderr.write(`browser test logs: ${dumpLogs('FAILED-in-call-logs.txt', server, users)}\n`);
  }
  await browser?.close();
  await server?.stop();
});

/**
 * Polls `user`'s recorded `event` payloads until one satisfies `pred`; returns it. Only
 * payloads recorded at index `from` or later count, so a wait after an action cannot be
 * satisfied by an event from before it.
 */
async function waitForEvent(user, event, pred, what, timeout = 20_000, from = 0) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const got = (await user.page.evaluate((name) => window.__huddle.events(name), event)).slice(from);
    const hit = got.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) {
      throw new Error(`${user.name}: no ${event} ${what} within ${timeout} ms; got ${JSON.stringify(got)}`);
    }
    await sleep(200);
  }
}

test('simulcast consumer: consumerLayersChanged on start, preferred layers and producer pause', { timeout: 120_000 }, async () => {
  try {
    const alice = await openUser(browser, server, 1, { name: 'alice' });
    const bob = await openUser(browser, server, 2, { name: 'bob' });
    users.push(alice, bob);
    for (const u of [alice, bob]) {
      await u.page.evaluate(() => {
        for (const e of ['consumerLayersChanged', 'producerPaused', 'producerResumed', 'newProducer']) {
          window.__huddle.record(e);
        }
      });
    }

    await alice.conversation(TEAM).locator('[data-action="start-video"]').click();
    await bob.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
    await bob.page.locator('#ring-accept').click();
    await Promise.all([waitForMedia(alice, [2]), waitForMedia(bob, [1])]);

    // Alice adds a three-layer simulcast camera through the page's own send transport.
    const producerId = await alice.page.evaluate(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 } });
      const producer = await window.__huddle.call.send.produce({
        track: stream.getVideoTracks()[0],
        encodings: [
          { scaleResolutionDownBy: 4, maxBitrate: 150_000 },
          { scaleResolutionDownBy: 2, maxBitrate: 400_000 },
          { scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
        ],
      });
      return producer.id;
    });
    const announced = await waitForEvent(bob, 'newProducer', (e) => e.producerId === producerId, 'for the simulcast camera');
    assert.equal(announced.kind, 'video');
    assert.equal(announced.source, 'camera');
    assert.equal(announced.paused, false);

    // Bob's page consumes it (demo flow) and mediasoup starts forwarding a layer.
    let consumerId = null;
    for (const deadline = Date.now() + 20_000; !consumerId && Date.now() < deadline;) {
      consumerId = await bob.page.evaluate((id) => window.__huddle.call.consumers.get(id)?.consumer.id ?? null, producerId);
      if (!consumerId) await sleep(100);
    }
    assert.equal(typeof consumerId, 'string', 'Bob consumes the simulcast camera');
    const first = await waitForEvent(bob, 'consumerLayersChanged',
      (e) => e.consumerId === consumerId && Number.isInteger(e.spatialLayer), 'with a spatial layer');
    assert.ok(Number.isInteger(first.temporalLayer), `temporalLayer ${first.temporalLayer}`);
    // Only the consumer's owner is told.
    const aliceLayers = await alice.page.evaluate(() => window.__huddle.events('consumerLayersChanged'));
    assert.ok(!aliceLayers.some((e) => e.consumerId === consumerId), JSON.stringify(aliceLayers));

    // Bandwidth estimation lets it climb above the lowest layer; then Bob asks for the lowest.
    await waitForEvent(bob, 'consumerLayersChanged',
      (e) => e.consumerId === consumerId && e.spatialLayer >= 1, 'above spatial layer 0', 40_000);
    const before = await bob.page.evaluate(() => window.__huddle.events('consumerLayersChanged'));
    const mark = before.length;
    const current = before.filter((e) => e.consumerId === consumerId).at(-1);
    assert.deepEqual(await bob.page.evaluate((id) => window.__huddle.request('setConsumerPreferredLayers',
      { consumerId: id, spatialLayer: 0, temporalLayer: 0 }), consumerId), { success: true });
    // Bandwidth estimation may already have brought it down to 0/0; then nothing changes.
    if (current.spatialLayer !== 0 || current.temporalLayer !== 0) {
      await waitForEvent(bob, 'consumerLayersChanged',
        (e) => e.consumerId === consumerId && e.spatialLayer === 0 && e.temporalLayer === 0,
        'at 0/0 after the preference', 20_000, mark);
    }
    assert.deepEqual(await bob.page.evaluate((id) => window.__huddle.request('setConsumerPriority',
      { consumerId: id, priority: 200 }), consumerId), { success: true });
    assert.deepEqual(await bob.page.evaluate((id) => window.__huddle.request('requestKeyFrame',
      { consumerId: id }), consumerId), { success: true });

    // Alice mutes the camera: Bob gets producerPaused, and the consumer forwards nothing (nulls).
    const beforePause = (await bob.page.evaluate(() => window.__huddle.events('consumerLayersChanged'))).length;
    assert.deepEqual(await alice.page.evaluate((id) => window.__huddle.request('pauseProducer', { producerId: id }),
      producerId), { success: true });
    assert.deepEqual(await waitForEvent(bob, 'producerPaused', (e) => e.producerId === producerId, 'for the camera'),
      { producerId, socketId: await alice.page.evaluate(() => window.__huddle.socketId), kind: 'video' });
    await waitForEvent(bob, 'consumerLayersChanged',
      (e) => e.consumerId === consumerId && e.spatialLayer === null && e.temporalLayer === null, 'with nulls',
      20_000, beforePause);
    assert.deepEqual(await alice.page.evaluate(() => window.__huddle.events('producerPaused')), [], 'not to the owner');

    // Resumed: forwarding starts again.
    const count = (await bob.page.evaluate(() => window.__huddle.events('consumerLayersChanged'))).length;
    assert.deepEqual(await alice.page.evaluate((id) => window.__huddle.request('resumeProducer', { producerId: id }),
      producerId), { success: true });
    await waitForEvent(bob, 'producerResumed', (e) => e.producerId === producerId, 'for the camera');
    // The preferred layers (0/0) still apply after the resume.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const all = await bob.page.evaluate(() => window.__huddle.events('consumerLayersChanged'));
      if (all.slice(count).some((e) => e.consumerId === consumerId && e.spatialLayer === 0)) break;
      if (Date.now() > deadline) throw new Error(`no layers after resume: ${JSON.stringify(all.slice(count))}`);
      await sleep(200);
    }
  } catch (e) {
    failed = true;
    throw e;
  }
});

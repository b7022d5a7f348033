// Issue 13 on the demo page with real media from Chromium's fake devices: the speaking ring
// (`activeSpeaker`) and `audioLevels` from the fake microphone's tone, the far side's muted
// icon and camera-off avatar (pauseProducer / resumeProducer), a screen share arriving with
// `source: "screen"` on a tile of its own, a small tile receiving a lower simulcast layer than
// a large one, a hidden tile's consumer paused, and the late joiner's `createRoom` snapshot.
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
    for (const u of users) await u.screenshot(`FAILED-in-call-ui-${u.name}.png`).catch(() => {});
    process.stderr.write(`browser test logs: ${dumpLogs('FAILED-in-call-ui-logs.txt', server, users)}\n`);
  }
  await browser?.close();
  await server?.stop();
});

/** Polls `user`'s recorded `event` payloads until one satisfies `pred`; returns it. */
async function waitForEvent(user, event, pred, what, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const got = await user.page.evaluate((name) => window.__huddle.events(name), event);
    const hit = got.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) {
      throw new Error(`${user.name}: no ${event} ${what} within ${timeout} ms; got ${JSON.stringify(got).slice(0, 2000)}`);
    }
    await sleep(200);
  }
}

/** Polls `fn` (async) until it returns a truthy value. */
async function until(what, fn, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`${what} (not within ${timeout} ms; last ${JSON.stringify(last)})`);
    await sleep(250);
  }
}

/** The camera video `user` receives from `fromUserId` (getStats of the page's consumer). */
async function cameraFrom(user, fromUserId) {
  const stats = await user.stats();
  return stats?.remote.find((r) => r.userId === String(fromUserId))?.video ?? null;
}

const cameraTile = (user, uid) => user.tile(uid).and(user.page.locator(':not(.screen)'));

test('demo page: speaker, mute, camera off, screen share, per-tile layers, hidden tiles', { timeout: 240_000 }, async () => {
  try {
    const alice = await openUser(browser, server, 1, { name: 'alice' });
    const bob = await openUser(browser, server, 2, { name: 'bob' });
    users.push(alice, bob);
    for (const u of [alice, bob]) {
      await u.page.evaluate(() => {
        for (const e of ['activeSpeaker', 'audioLevels', 'newProducer', 'producerPaused', 'producerResumed']) {
          window.__huddle.record(e);
        }
      });
    }
    await alice.conversation(TEAM).locator('[data-action="start-video"]').click();
    await bob.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
    await bob.page.locator('#ring-accept').click();
    await Promise.all([waitForMedia(alice, [2]), waitForMedia(bob, [1])]);
    const aliceSid = await alice.page.evaluate(() => window.__huddle.socketId);
    const bobSid = await bob.page.evaluate(() => window.__huddle.socketId);

    // The fake microphones make a tone: a dominant speaker and audio levels reach the room.
    const speaker = await waitForEvent(bob, 'activeSpeaker', () => true, 'at all');
    assert.equal(speaker.roomId, TEAM);
    assert.ok([aliceSid, bobSid].includes(speaker.socketId), JSON.stringify(speaker));
    assert.equal(speaker.userId, speaker.socketId === aliceSid ? '1' : '2');
    assert.equal(typeof speaker.producerId, 'string');
    await bob.page.locator('#grid .tile.speaking').waitFor({ timeout: 10_000 });
    const levels = await waitForEvent(alice, 'audioLevels', (e) => e.levels.length > 0, 'with someone audible');
    assert.equal(levels.roomId, TEAM);
    for (const l of levels.levels) {
      assert.ok([aliceSid, bobSid].includes(l.socketId), JSON.stringify(l));
      assert.ok(l.volume <= 0 && l.volume >= -127, `volume ${l.volume}`);
    }

    // Mute: the far side shows the muted icon; unmute clears it.
    await alice.page.locator('#btn-mic').click();
    await cameraTile(bob, 1).and(bob.page.locator('.muted')).waitFor({ timeout: 10_000 });
    const paused = await waitForEvent(bob, 'producerPaused', (e) => e.kind === 'audio', 'for the microphone');
    assert.equal(paused.socketId, aliceSid);
    await alice.page.locator('#btn-mic').click();
    await cameraTile(bob, 1).and(bob.page.locator(':not(.muted)')).waitFor({ timeout: 10_000 });

    // Camera off pauses the camera: the far side shows the avatar, then the video again.
    await alice.page.locator('#btn-cam').click();
    await waitForEvent(bob, 'producerPaused', (e) => e.kind === 'video', 'for the camera');
    await cameraTile(bob, 1).and(bob.page.locator(':not(.has-video)')).waitFor({ timeout: 10_000 });
    await alice.page.locator('#btn-cam').click();
    await cameraTile(bob, 1).and(bob.page.locator('.has-video')).waitFor({ timeout: 10_000 });
    await waitForMedia(bob, [1]);

    // Screen share: a producer with source "screen", on a large tile of its own.
    await alice.page.locator('#btn-screen').click();
    const screen = await waitForEvent(bob, 'newProducer', (e) => e.source === 'screen', 'for the screen', 20_000);
    assert.equal(screen.kind, 'video');
    assert.equal(screen.socketId, aliceSid);
    const screenTile = bob.page.locator(`#grid .tile.screen[data-socket="${aliceSid}:screen"]`);
    await screenTile.and(bob.page.locator('.has-video')).waitFor({ timeout: 15_000 });
    assert.equal(await screenTile.locator('.name').textContent(), "Alice's screen");
    await until('screen frames decoded', async () => {
      const s = await bob.stats();
      return s.remote.find((r) => r.userId === '1')?.screen?.framesDecoded > 0;
    });
    await alice.page.locator('#btn-screen').click();
    await screenTile.waitFor({ state: 'detached', timeout: 10_000 });

    // A late joiner's createRoom ack draws the call as it is: participants and the speaker.
    const carol = await openUser(browser, server, 3, { name: 'carol' });
    users.push(carol);
    const snapshot = await carol.page.evaluate((room) => window.__huddle.request('createRoom', { roomId: room }), TEAM);
    const others = snapshot.participants.map((p) => p.socketId).sort();
    assert.deepEqual(others, [aliceSid, bobSid].sort());
    const aliceView = snapshot.participants.find((p) => p.socketId === aliceSid);
    assert.deepEqual(aliceView.producers.map((p) => p.source).sort(), ['camera', 'microphone']);
    assert.ok(snapshot.activeSpeaker && [aliceSid, bobSid].includes(snapshot.activeSpeaker.socketId),
      JSON.stringify(snapshot.activeSpeaker));
    await carol.page.evaluate((room) => window.__huddle.request('leaveRoom', { roomId: room }), TEAM);

    // Simulcast per tile: Bob's tile of Alice shrinks to 160 px and asks for the lowest
    // layer; Alice's tile of Bob stays large. Bob then receives a lower resolution.
    await cameraTile(bob, 1).evaluate((el) => { el.style.maxWidth = '160px'; el.style.maxHeight = '120px'; });
    const small = await until('a small frame for the small tile', async () => {
      const v = await cameraFrom(bob, 1);
      return v?.frameWidth && v.frameWidth <= 200 ? v : null;
    }, 40_000);
    const large = await until('a larger frame for the large tile', async () => {
      const v = await cameraFrom(alice, 2);
      return v?.frameWidth && v.frameWidth > small.frameWidth ? v : null;
    }, 60_000);
    assert.ok(large.frameWidth > small.frameWidth, `large ${large.frameWidth} vs small ${small.frameWidth}`);

    // A hidden tile pauses its consumer: no more video packets arrive for it.
    await cameraTile(bob, 1).evaluate((el) => { el.style.display = 'none'; });
    await sleep(1500);
    const before = (await cameraFrom(bob, 1)).packetsReceived;
    await sleep(2000);
    const later = (await cameraFrom(bob, 1)).packetsReceived;
    assert.ok(later - before < 10, `hidden tile still receives (${before} → ${later})`);
    await cameraTile(bob, 1).evaluate((el) => { el.style.display = ''; });
    await until('video again once visible', async () => (await cameraFrom(bob, 1)).packetsReceived > later + 20);

    // Every tile has a quality dot.
    assert.ok(await cameraTile(bob, 1).locator('.quality').count() === 1);
  } catch (e) {
    failed = true;
    throw e;
  }
});

// The demo page in real headless Chromium against a real huddle binary: real audio and video
// (Chromium's fake devices) flow through the SFU and getStats() proves it.
//
// One server and one browser for the whole file; every user is a separate browser context.
// The tests run in order and build on each other (a call is started, joined, left).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { dumpLogs, launchBrowser, openUser, startServer, waitForMedia } from './lib/env.mjs';

const TEAM = 'e2e-team'; // Alice (1), Bob (2), Carol (3)
const AUDIO = 'e2e-audio'; // Dave (4, no camera), Erin (5), Frank (6)
const BADGE = 'e2e-badge'; // Dave, Erin, Frank, Grace (7)

let server;
let browser;
const users = [];
let failed = false;

async function open(userId, name, opts) {
  const u = await openUser(browser, server, userId, { name, ...opts });
  users.push(u);
  return u;
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  if (failed) {
    for (const u of users) await u.screenshot(`FAILED-${u.name}.png`).catch(() => {});
    process.stderr.write(`browser test logs: ${dumpLogs('FAILED-logs.txt', server, users)}\n`);
  }
  await browser?.close();
  await server?.stop();
});

/** A test that records failures (for the logs dump) and is skipped after an earlier failure. */
function step(name, fn, timeout = 60_000) {
  test(name, { timeout }, async (t) => {
    if (failed) return t.skip('an earlier step failed');
    try {
      await fn();
    } catch (e) {
      failed = true;
      throw e;
    }
  });
}

const liveBadge = (user, conversation) => user.conversation(conversation).locator('.live-badge');

async function badgeText(user, conversation, expected, timeout = 12_000) {
  await user.page.waitForFunction(
    ([id, text]) => document.querySelector(`[data-conversation="${id}"] .live-badge`)?.textContent === text,
    [conversation, expected],
    { timeout, polling: 200 },
  );
}

let alice;
let bob;
let carol;

step('the server serves the bundled demo page and its assets', async () => {
  const html = await (await fetch(`${server.url}/`)).text();
  assert.match(html, /<script type="module" src="\/assets\/app\.js">/);
  const js = await fetch(`${server.url}/assets/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  const dir = await (await fetch(`${server.url}/api/demo/directory`)).json();
  assert.deepEqual(dir.users.map((u) => u.name), ['Alice', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Grace']);
});

step('caller starts, callee accepts: each sees and hears the other', async () => {
  [alice, bob, carol] = await Promise.all([open(1, 'alice'), open(2, 'bob'), open(3, 'carol')]);
  await alice.screenshot('01-alice-conversations.png');

  await alice.conversation(TEAM).locator('[data-action="start-video"]').click();
  await bob.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
  assert.equal(await bob.page.locator('#ring-caller').textContent(), 'Alice is calling');
  await bob.screenshot('02-bob-ringing.png');
  await bob.page.locator('#ring-accept').click();

  const [aliceStats, bobStats] = await Promise.all([
    waitForMedia(alice, [2]),
    waitForMedia(bob, [1]),
  ]);
  const fromBob = aliceStats.remote.find((r) => r.userId === '2');
  const fromAlice = bobStats.remote.find((r) => r.userId === '1');
  assert.ok(fromBob.video.framesDecoded > 0 && fromBob.audio.packetsReceived > 0, JSON.stringify(fromBob));
  assert.ok(fromAlice.video.framesDecoded > 0 && fromAlice.audio.packetsReceived > 0, JSON.stringify(fromAlice));
  assert.ok(fromAlice.video.frameWidth > 0, 'decoded frames have a size');

  // Tiles: a video tile per remote participant, labelled with the name.
  await alice.tile(2).and(alice.page.locator('.has-video')).waitFor();
  assert.equal(await alice.tile(2).locator('.name').textContent(), 'Bob');
  await bob.tile(1).and(bob.page.locator('.has-video')).waitFor();

  // Carol did not answer: the conversation shows as live with two people in the call.
  await badgeText(carol, TEAM, '● Live · 2');
  await carol.page.locator('#ring-decline').click();
  await carol.page.locator('#ring').waitFor({ state: 'hidden' });
  await alice.screenshot('03-alice-in-call.png');
  await bob.screenshot('04-bob-in-call.png');
  await carol.screenshot('05-carol-live-badge.png');
});

step('a late joiner receives both, and both receive it', async () => {
  await carol.conversation(TEAM).locator('[data-action="join"]').click();
  await waitForMedia(carol, [1, 2]);
  await Promise.all([waitForMedia(alice, [2, 3]), waitForMedia(bob, [1, 3])]);
  await carol.tile(1).and(carol.page.locator('.has-video')).waitFor();
  await carol.tile(2).and(carol.page.locator('.has-video')).waitFor();
  await badgeText(carol, TEAM, '● Live · 3');
  await carol.screenshot('06-carol-joined-late.png');
});

step('mute and camera toggles', async () => {
  await alice.page.locator('#btn-mic').click();
  await alice.page.locator('#grid .tile[data-local="true"].muted').waitFor();
  const s = await alice.stats();
  assert.equal(s.local.audio.paused, true, 'audio producer paused');
  await alice.page.locator('#btn-mic').click();
  await alice.page.locator('#grid .tile[data-local="true"]:not(.muted)').waitFor();

  // Camera off closes the producer (closeProducer): the others see Alice's avatar instead.
  await alice.page.locator('#btn-cam').click();
  await bob.tile(1).and(bob.page.locator(':not(.has-video)')).waitFor({ timeout: 10_000 });
  assert.equal(await bob.tile(1).locator('.tile-avatar').textContent(), 'A');
  await bob.screenshot('07-bob-sees-alice-camera-off.png');
  await alice.page.locator('#btn-cam').click();
  await bob.tile(1).and(bob.page.locator('.has-video')).waitFor({ timeout: 10_000 });
  await waitForMedia(bob, [1]);
});

step('the callee leaves: its tile disappears for the others', async () => {
  await bob.page.locator('#btn-leave').click();
  await alice.tile(2).waitFor({ state: 'detached', timeout: 10_000 });
  await carol.tile(2).waitFor({ state: 'detached', timeout: 10_000 });
  await bob.page.locator('#call').waitFor({ state: 'hidden' });
  assert.equal(await alice.page.locator('#grid .tile').count(), 2, 'Alice and Carol remain');
  await badgeText(bob, TEAM, '● Live · 2');
  await alice.screenshot('08-alice-after-bob-left.png');
});

step('the last one leaves: the live badge disappears', async () => {
  await carol.page.locator('#btn-leave').click();
  await carol.page.locator('#call').waitFor({ state: 'hidden' });
  await alice.page.locator('#btn-leave').click();
  for (const u of [alice, bob, carol]) {
    await liveBadge(u, TEAM).waitFor({ state: 'detached', timeout: 10_000 });
    await u.conversation(TEAM).locator('[data-action="start-video"]').waitFor();
  }
  await bob.screenshot('09-bob-call-over.png');
  await Promise.all([alice, bob, carol].map((u) => u.context.close()));
});

let dave;
let erin;
let frank;

step('audio-only device: produces audio only, receives video, shows initials', async () => {
  [dave, erin, frank] = await Promise.all([
    open(4, 'dave', { audioOnly: true }), open(5, 'erin'), open(6, 'frank'),
  ]);
  await dave.conversation(AUDIO).locator('[data-action="start-video"]').click();
  await erin.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
  await erin.page.locator('#ring-accept').click();
  await frank.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
  await frank.page.locator('#ring-decline').click();

  const erinStats = await waitForMedia(erin, [4], { audioOnlyFrom: [4] });
  assert.equal(erinStats.remote.find((r) => r.userId === '4').video, null, 'no video from Dave');
  const daveStats = await waitForMedia(dave, [5]);
  assert.deepEqual(Object.keys(daveStats.local), ['audio'], 'Dave produces audio only');

  // Dave's tile shows his initials; Dave sees Erin's video.
  await erin.tile(4).waitFor();
  assert.equal(await erin.tile(4).evaluate((el) => el.classList.contains('has-video')), false);
  assert.equal(await erin.tile(4).locator('.tile-avatar').textContent(), 'D');
  await dave.tile(5).and(dave.page.locator('.has-video')).waitFor();
  await badgeText(frank, AUDIO, '● Live · 2');
  await erin.screenshot('10-erin-with-audio-only-dave.png');
  await dave.screenshot('11-dave-audio-only.png');

  await dave.page.locator('#btn-leave').click();
  await erin.tile(4).waitFor({ state: 'detached', timeout: 10_000 });
  await erin.page.locator('#btn-leave').click();
  await liveBadge(frank, AUDIO).waitFor({ state: 'detached', timeout: 10_000 });
});

/** The initials of the avatars next to a conversation's live badge. */
const badgeAvatars = (user, conversation) =>
  user.conversation(conversation).locator('.live-avatars .avatar').allTextContents();

step('a member outside the call sees the live count and avatars change as people join and leave', async () => {
  const grace = await open(7, 'grace', { audioOnly: true });
  await dave.conversation(BADGE).locator('[data-action="start-video"]').click();
  await erin.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
  await erin.page.locator('#ring-accept').click();
  for (const u of [frank, grace]) {
    await u.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
    await u.page.locator('#ring-decline').click();
  }
  await waitForMedia(erin, [4], { audioOnlyFrom: [4] });
  await badgeText(frank, BADGE, '● Live · 2');
  assert.deepEqual(await badgeAvatars(frank, BADGE), ['D', 'E']);

  // Grace joins as the third participant. The page polls get_active_calls only once a
  // minute, so Frank's badge can only change this fast through group_call_updated.
  await grace.conversation(BADGE).locator('[data-action="join"]').click();
  await badgeText(frank, BADGE, '● Live · 3', 5_000);
  assert.deepEqual(await badgeAvatars(frank, BADGE), ['D', 'E', 'G']);
  await frank.screenshot('12-frank-live-badge-three.png');

  await grace.page.locator('#btn-leave').click();
  await badgeText(frank, BADGE, '● Live · 2', 5_000);
  assert.deepEqual(await badgeAvatars(frank, BADGE), ['D', 'E']);
  await dave.page.locator('#btn-leave').click();
  await erin.page.locator('#btn-leave').click();
  await liveBadge(frank, BADGE).waitFor({ state: 'detached', timeout: 10_000 });
});

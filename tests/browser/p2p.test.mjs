// The demo page's peer-to-peer modes: 1:1 calls (`initiate-call` …) and mesh group calls
// (`groupcall:*`). Huddle only relays the signalling; media flows browser to browser, and
// getStats() proves it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { dumpLogs, launchBrowser, openUser, startServer, waitForMedia } from './lib/env.mjs';

const TEAM = 'e2e-team'; // Alice (1), Bob (2), Carol (3)

let server;
let browser;
const users = [];
let failed = false;
let supported = true;
let alice;
let bob;
let carol;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  [alice, bob, carol] = await Promise.all([
    openUser(browser, server, 1, { name: 'alice' }),
    openUser(browser, server, 2, { name: 'bob' }),
    openUser(browser, server, 3, { name: 'carol' }),
  ]);
  users.push(alice, bob, carol);
  // A server without the 1:1 / mesh events never answers them: skip rather than fail.
  supported = await alice.page.evaluate(() => window.__huddle
    .request('check-user-availability', { targetUserId: '2' }, 3000)
    .then(() => true, (e) => !/no answer/.test(e.message)));
});

after(async () => {
  if (failed) {
    for (const u of users) await u.screenshot(`FAILED-p2p-${u.name}.png`).catch(() => {});
    process.stderr.write(`browser test logs: ${dumpLogs('FAILED-p2p-logs.txt', server, users)}\n`);
  }
  await browser?.close();
  await server?.stop();
});

function step(name, fn, timeout = 60_000) {
  test(name, { timeout }, async (t) => {
    if (!supported) return t.skip('this huddle has no 1:1 / mesh events');
    if (failed) return t.skip('an earlier step failed');
    try {
      await fn();
    } catch (e) {
      failed = true;
      throw e;
    }
  });
}

const mode = (u, m) => u.page.locator(`#modes [data-mode="${m}"]`).click();
const person = (u, id) => u.page.locator(`#conversations [data-person="${id}"]`);
const remoteTile = (u, uid) => u.page.locator(`#grid .tile[data-local="false"][data-user="${uid}"]`);

step('1:1: the callee accepts, each sees and hears the other, hanging up ends it for both', async () => {
  await Promise.all([alice, bob, carol].map((u) => mode(u, 'direct')));
  await person(alice, 2).locator('[data-action="call-video"]').click();
  await bob.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
  assert.equal(await bob.page.locator('#ring-caller').textContent(), 'Alice is calling');
  assert.equal(await bob.page.locator('#ring-what').textContent(), 'Video call · 1:1');
  await bob.page.locator('#ring-accept').click();

  await Promise.all([waitForMedia(alice, [2]), waitForMedia(bob, [1])]);
  assert.equal((await alice.stats()).mode, 'direct');
  await remoteTile(alice, 2).and(alice.page.locator('.has-video')).waitFor();
  await bob.screenshot('20-bob-1to1-call.png');

  await bob.page.locator('#btn-leave').click();
  await alice.page.locator('#call').waitFor({ state: 'hidden', timeout: 10_000 });
  await bob.page.locator('#call').waitFor({ state: 'hidden' });
});

step('1:1: a declined call ends on the caller side', async () => {
  await person(alice, 3).locator('[data-action="call-audio"]').click();
  await carol.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
  assert.equal(await carol.page.locator('#ring-what').textContent(), 'Audio call · 1:1');
  await carol.page.locator('#ring-decline').click();
  await alice.page.locator('.toast', { hasText: 'Carol declined' }).waitFor({ timeout: 10_000 });
  await alice.page.locator('#call').waitFor({ state: 'hidden', timeout: 10_000 });
});

step('mesh: three peers, everyone receives everyone; mute is signalled; leaving removes the tile', async () => {
  await Promise.all([alice, bob, carol].map((u) => mode(u, 'mesh')));
  await alice.conversation(TEAM).locator('[data-action="start-mesh"]').click();
  for (const u of [bob, carol]) {
    await u.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
    assert.equal(await u.page.locator('#ring-what').textContent(), 'Video call · E2E Team · mesh');
  }
  await bob.page.locator('#ring-accept').click();
  await Promise.all([waitForMedia(alice, [2]), waitForMedia(bob, [1])]);
  await carol.page.locator('#ring-accept').click();
  await Promise.all([waitForMedia(alice, [2, 3]), waitForMedia(bob, [1, 3]), waitForMedia(carol, [1, 2])]);
  assert.equal((await carol.stats()).mode, 'mesh');
  await carol.screenshot('21-carol-mesh-call.png');

  // Mute goes out as groupcall:update-tracks; the others mark the tile.
  await alice.page.locator('#btn-mic').click();
  await remoteTile(bob, 1).and(bob.page.locator('.muted')).waitFor({ timeout: 10_000 });
  await alice.page.locator('#btn-mic').click();
  await remoteTile(bob, 1).and(bob.page.locator(':not(.muted)')).waitFor({ timeout: 10_000 });

  await carol.page.locator('#btn-leave').click();
  await remoteTile(alice, 3).waitFor({ state: 'detached', timeout: 10_000 });
  await remoteTile(bob, 3).waitFor({ state: 'detached', timeout: 10_000 });
  await bob.page.locator('#btn-leave').click();
  await alice.page.locator('#btn-leave').click();
  await alice.page.locator('#call').waitFor({ state: 'hidden' });
});

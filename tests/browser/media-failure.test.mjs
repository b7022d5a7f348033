// A participant whose media path dies without leaving (its transports close; mediasoup sees
// DTLS closed) is removed after the grace period: the others get `participantLeft` (its tile
// goes), it gets `removedFromRoom` (its call view closes). Real Chromium, real mediasoup.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { dumpLogs, launchBrowser, openUser, sleep, startServer, waitForMedia } from './lib/env.mjs';

const AUDIO = 'e2e-audio'; // Dave (4, no camera), Erin (5), Frank (6)
const GRACE_MS = 3000;

let server;
let browser;
const users = [];

before(async () => {
  server = await startServer({ extraArgs: ['--transport-failure-grace-ms', String(GRACE_MS)] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const stats = async () => (await fetch(`${server.url}/debug/stats`)).json();

test('a participant whose transports fail is removed after the grace period', { timeout: 90_000 }, async (t) => {
  try {
    const erin = await openUser(browser, server, 5, { name: 'erin' });
    const frank = await openUser(browser, server, 6, { name: 'frank' });
    users.push(erin, frank);
    await erin.conversation(AUDIO).locator('[data-action="start-video"]').click();
    await frank.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
    await frank.page.locator('#ring-accept').click();
    await Promise.all([waitForMedia(erin, [6]), waitForMedia(frank, [5])]);
    assert.equal((await stats()).participants, 2);

    // Frank's media path dies; his socket stays connected and he never leaves.
    await frank.page.evaluate(() => window.__huddle.dropMedia());
    assert.equal(await frank.page.evaluate(() => window.__huddle.connected), true);
    await sleep(GRACE_MS / 3);
    assert.equal((await stats()).participants, 2, 'removed before the grace period ran out');

    // After the grace period: Erin sees Frank leave, Frank's call view closes.
    await erin.tile(6).waitFor({ state: 'detached', timeout: GRACE_MS + 10_000 });
    await frank.page.locator('#call').waitFor({ state: 'hidden', timeout: 10_000 });
    const s = await stats();
    assert.equal(s.participants, 1, JSON.stringify(s));
    assert.equal(await frank.page.evaluate(() => window.__huddle.inCall), null);
    assert.equal(await frank.page.evaluate(() => window.__huddle.connected), true, 'socket kept');
    assert.match(server.logs(), /participant removed from its room/);

    // Frank can rejoin the still-running call, and media flows again both ways.
    await frank.conversation(AUDIO).locator('[data-action="join"]').click();
    await Promise.all([waitForMedia(erin, [6]), waitForMedia(frank, [5])]);
    assert.equal((await stats()).participants, 2);
  } catch (e) {
    for (const u of users) await u.screenshot(`FAILED-media-failure-${u.name}.png`).catch(() => {});
    t.diagnostic(`logs: ${dumpLogs('FAILED-media-failure-logs.txt', server, users)}`);
    throw e;
  }
});

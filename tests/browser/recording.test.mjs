// Server-side recording of a real browser call (docs/recording.md): the admin API starts a
// recording of Alice and Bob, both pages hear `recordingStarted`; Bob leaves mid-recording
// (his tracks end there), the stop writes one file per track, manifest.json and mixed.mp4.
// ffprobe and ffmpeg check them: streams, durations close to the wall time, frames that
// decode cleanly, both participants' video in the mixed grid. A recorder killed mid-way stops
// its recording with a reason while the call goes on; a last recording stops by itself when
// the call ends.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { dumpLogs, launchBrowser, openUser, sleep, startServer, waitForMedia } from './lib/env.mjs';

const TEAM = 'e2e-team'; // Alice (1), Bob (2), Carol (3)
const TOKEN = 'recording-admin-token';

let server;
let browser;
let dir;
const users = [];
let failed = false;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huddle-recordings-'));
  server = await startServer({ extraArgs: ['--recording-dir', dir, '--admin-token', TOKEN] });
  browser = await launchBrowser();
});

after(async () => {
  if (failed) {
    for (const u of users) await u.screenshot(`FAILED-recording-${u.name}.png`).catch(() => {});
    process.stderr.write(`browser test logs: ${dumpLogs('FAILED-recording-logs.txt', server, users)}\n`);
  }
  await browser?.close();
  await server?.stop();
  if (!failed) fs.rmSync(dir, { recursive: true, force: true });
});

async function admin(method, pathname) {
  const res = await fetch(`${server.url}${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: await res.json() };
}

/** ffprobe's streams and format of `file`. */
function probe(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file]);
  return JSON.parse(out.toString());
}

/** A file's duration in seconds: the container's, else decoded to the end. */
function duration(file) {
  const p = probe(file);
  const d = Number(p.format?.duration);
  return Number.isFinite(d) ? d : NaN;
}

/** Decoding `file` to the end reports no error. */
function decodesCleanly(file) {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
  return { ok: r.status === 0 && r.stderr.toString().trim() === '', stderr: r.stderr.toString() };
}

test('a browser call recorded through the admin API: tracks, manifest, mixed file', { timeout: 180_000 }, async () => {
  try {
    const alice = await openUser(browser, server, 1, { name: 'alice' });
    const bob = await openUser(browser, server, 2, { name: 'bob' });
    users.push(alice, bob);
    for (const u of [alice, bob]) {
      await u.page.evaluate(() => { window.__huddle.record('recordingStarted'); window.__huddle.record('recordingStopped'); });
    }
    await alice.conversation(TEAM).locator('[data-action="start-video"]').click();
    await bob.page.locator('#ring:not([hidden])').waitFor({ timeout: 10_000 });
    await bob.page.locator('#ring-accept').click();
    await Promise.all([waitForMedia(alice, [2]), waitForMedia(bob, [1])]);

    const postStart = Date.now();
    const started = await admin('POST', `/api/v1/calls/${TEAM}/recording`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const { recordingId } = started.body;
    assert.match(recordingId, /^rec_[0-9a-f]{32}$/);
    const t0 = Date.now();
    // Idempotent: asking again answers the same recording.
    assert.equal((await admin('POST', `/api/v1/calls/${TEAM}/recording`)).body.recordingId, recordingId);
    for (const u of [alice, bob]) {
      for (let i = 0; ; i++) {
        const got = await u.page.evaluate(() => window.__huddle.events('recordingStarted'));
        if (got.length) {
          assert.deepEqual(got, [{ roomId: TEAM, recordingId }]);
          break;
        }
        if (i > 50) throw new Error(`${u.name}: no recordingStarted`);
        await sleep(100);
      }
    }
    const state = await admin('GET', `/api/v1/recordings/${recordingId}`);
    assert.equal(state.body.state, 'recording');

    // Bob leaves after 3 s: his tracks end there.
    await sleep(3000);
    await bob.page.locator('#btn-leave').click();
    const bobLeft = Date.now() - t0;
    await sleep(3500);
    const stopStart = Date.now();
    const stopped = await admin('DELETE', `/api/v1/calls/${TEAM}/recording`);
    const stopEnd = Date.now();
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.equal(stopped.body.recordingId, recordingId);
    const files = stopped.body.files;
    assert.ok(files.includes(`${recordingId}/manifest.json`), JSON.stringify(files));
    assert.ok(files.includes(`${recordingId}/mixed.mp4`), JSON.stringify(files));
    const stoppedEvents = await alice.page.evaluate(() => window.__huddle.events('recordingStopped'));
    assert.deepEqual(stoppedEvents, [{ roomId: TEAM, recordingId }]);

    const manifest = JSON.parse(fs.readFileSync(path.join(dir, recordingId, 'manifest.json'), 'utf8'));
    assert.equal(manifest.conversationId, TEAM);
    // The recording's own wall time: its clock starts while the POST runs (it sets up the
    // tracks) and stops while the DELETE runs, so it lies between the shortest and the
    // longest span the two requests allow (with half a second for clock granularity).
    const shortest = stopStart - t0 - 500;
    const longest = stopEnd - postStart + 500;
    assert.ok(manifest.durationMs >= shortest && manifest.durationMs <= longest,
      `durationMs ${manifest.durationMs}, requests allow ${shortest}..${longest} ms`);
    const recWall = manifest.durationMs / 1000;
    const tracksOf = (uid) => manifest.tracks.filter((t) => t.participantInfo.userId === uid);
    for (const uid of ['1', '2']) {
      const kinds = tracksOf(uid).map((t) => `${t.kind}/${t.source}`).sort();
      assert.deepEqual(kinds, ['audio/microphone', 'video/camera'], `tracks of user ${uid}`);
    }
    for (const t of tracksOf('2')) {
      assert.ok(t.endOffsetMs <= bobLeft + 1500 && t.endOffsetMs < manifest.durationMs - 1500,
        `Bob's ${t.kind} ended when he left: ${t.endOffsetMs} ms (left at ${bobLeft}, total ${manifest.durationMs})`);
    }
    // Every track file has its one stream and decodes cleanly; Alice's cover the wall time.
    for (const t of manifest.tracks) {
      const file = path.join(dir, recordingId, t.file);
      const p = probe(file);
      assert.equal(p.streams.length, 1, `${t.file}: ${JSON.stringify(p.streams)}`);
      assert.equal(p.streams[0].codec_type, t.kind);
      const clean = decodesCleanly(file);
      assert.ok(clean.ok, `${t.file} does not decode cleanly: ${clean.stderr}`);
    }
    // Alice's microphone covers the whole recording (her camera starts at its first key
    // frame, a little later; the mixed file below is checked against the wall time).
    for (const t of tracksOf('1').filter((x) => x.kind === 'audio')) {
      const d = duration(path.join(dir, recordingId, t.file));
      const expected = recWall - t.startOffsetMs / 1000;
      assert.ok(Math.abs(d - expected) <= expected * 0.1, `${t.file}: ${d} s, wall ${expected} s`);
    }
    for (const t of tracksOf('1').filter((x) => x.kind === 'video')) {
      const d = duration(path.join(dir, recordingId, t.file));
      assert.ok(d > 0.6 * recWall, `${t.file}: only ${d} s of ${recWall} s`);
    }
    // The mixed file: audio and video, as long as the call, both participants in the grid.
    const mixed = path.join(dir, recordingId, 'mixed.mp4');
    const m = probe(mixed);
    const types = m.streams.map((s) => s.codec_type).sort();
    assert.deepEqual(types, ['audio', 'video']);
    const d = Number(m.format.duration);
    assert.ok(Math.abs(d - recWall) <= recWall * 0.1, `mixed ${d} s, wall ${recWall} s`);
    const video = m.streams.find((s) => s.codec_type === 'video');
    assert.equal(video.width, 1280, 'two 640-pixel cells side by side');
    assert.equal(video.height, 360);
    const clean = decodesCleanly(mixed);
    assert.ok(clean.ok, `mixed.mp4 does not decode cleanly: ${clean.stderr}`);

    // The recording's state afterwards.
    const done = await admin('GET', `/api/v1/recordings/${recordingId}`);
    assert.equal(done.body.state, 'stopped');
    assert.deepEqual(done.body.files, files);

    // A recorder that dies stops its recording (never the call): recordingStopped with a reason.
    const crashing = await admin('POST', `/api/v1/calls/${TEAM}/recording`);
    const crashId = crashing.body.recordingId;
    await sleep(1500);
    const pids = execFileSync('pgrep', ['-f', crashId]).toString().trim().split('\n').filter(Boolean);
    assert.ok(pids.length >= 1, 'its recorders run');
    process.kill(Number(pids[0]), 'SIGKILL');
    for (let i = 0; ; i++) {
      const got = await alice.page.evaluate(() => window.__huddle.events('recordingStopped'));
      const hit = got.find((e) => e.recordingId === crashId);
      if (hit) {
        assert.deepEqual(hit, { roomId: TEAM, recordingId: crashId, reason: 'recorder_failed' });
        break;
      }
      if (i > 100) throw new Error(`no recordingStopped after the recorder died: ${JSON.stringify(got)}`);
      await sleep(100);
    }
    for (let i = 0; ; i++) {
      const s = (await admin('GET', `/api/v1/recordings/${crashId}`)).body;
      if (s.state === 'stopped') {
        assert.equal(s.reason, 'recorder_failed');
        break;
      }
      if (i > 100) throw new Error(`not stopped: ${JSON.stringify(s)}`);
      await sleep(100);
    }
    assert.equal(await alice.page.evaluate(() => window.__huddle.inCall), TEAM, 'the call goes on');

    // A second recording stops by itself when the call ends (Alice, the last one, leaves).
    const again = await admin('POST', `/api/v1/calls/${TEAM}/recording`);
    assert.notEqual(again.body.recordingId, recordingId);
    await sleep(1500);
    await alice.page.locator('#btn-leave').click();
    for (let i = 0; ; i++) {
      const s = await admin('GET', `/api/v1/recordings/${again.body.recordingId}`);
      if (s.body.state === 'stopped') {
        assert.equal(s.body.reason, 'call_ended');
        assert.ok(s.body.files.includes(`${again.body.recordingId}/manifest.json`));
        break;
      }
      if (i > 100) throw new Error(`not stopped with the call: ${JSON.stringify(s.body)}`);
      await sleep(200);
    }
    assert.equal((await admin('DELETE', `/api/v1/calls/${TEAM}/recording`)).status, 404);
  } catch (e) {
    failed = true;
    throw e;
  }
});

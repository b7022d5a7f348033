// Shared helpers of the browser end-to-end tests: the huddle server process, headless
// Chromium (Debian's package, driven by playwright-core) and the demo page's users.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { HUDDLE_BIN, REPO_ROOT, sleep, startHuddle } from '../../shared/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export { HUDDLE_BIN, REPO_ROOT, sleep };
export const TESTS_DIR = path.resolve(HERE, '..');
export const FIXTURE = path.join(TESTS_DIR, 'fixtures', 'directory.json');
export const WEB_DIR = process.env.HUDDLE_WEB_DIR || path.join(REPO_ROOT, 'web', 'dist');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.HUDDLE_ARTIFACTS || path.join(REPO_ROOT, 'target', 'test-artifacts', 'browser');

/**
 * Spawns `huddle` (tests/shared/server.mjs) on a free loopback port serving the built demo
 * page on `host` (HTTP and WebRTC); waits for /healthz. `extraArgs` are appended; `--auth none`
 * is added unless `trustClients` is false.
 */
export async function startServer({
  fixture = FIXTURE, extraArgs = [], trustClients = true, host = '127.0.0.1',
} = {}) {
  return startHuddle({
    host,
    args: [
      '--rtc-listen-ip', host,
      '--webrtc-port', '0', // random WebRtcServer ports: test servers may run side by side
      '--directory', fixture,
      '--web-dir', WEB_DIR,
      '--workers', '1',
      '--log-format', 'text',
      ...(trustClients ? ['--auth', 'none'] : []),
      ...extraArgs,
    ],
  });
}

/**
 * A WAV file of a steady 440 Hz tone (48 kHz, mono, 16-bit, 2 s), the fake microphone's
 * input: Chromium's default fake microphone only beeps briefly once a second, which averages
 * to near silence over an audio-level interval. Written once into the artifacts directory.
 */
function toneFile() {
  const file = path.join(ARTIFACTS, 'fake-microphone-440hz.wav');
  const rate = 48_000;
  const samples = rate * 2;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 12_000), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(file, Buffer.concat([header, data]));
  return file;
}

/** Debian's Chromium with a fake camera and microphone (no permission prompts). */
export async function launchBrowser() {
  const tone = toneFile();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: false, // --headless=new below
    args: [
      '--headless=new',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${tone}`,
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      '--disable-gpu',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/**
 * Makes this context look like a machine without a camera: getUserMedia fails with
 * NotFoundError whenever video is requested, and enumerateDevices lists no videoinput.
 */
function withoutCamera() {
  const md = navigator.mediaDevices;
  const gum = md.getUserMedia.bind(md);
  const enumerate = md.enumerateDevices.bind(md);
  md.getUserMedia = async (constraints = {}) => {
    if (constraints.video) throw new DOMException('Requested device not found', 'NotFoundError');
    return gum(constraints);
  };
  md.enumerateDevices = async () => (await enumerate()).filter((d) => d.kind !== 'videoinput');
}

/**
 * A browser context signed in as demo user `userId` on the page at `/`.
 * Returns `{ name, context, page, logs, screenshot(file), stats() }`.
 */
export async function openUser(browser, server, userId, { name = `user${userId}`, audioOnly = false, prepare } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  if (audioOnly) await context.addInitScript(withoutCamera);
  if (prepare) await prepare(context); // e.g. routes that rewrite the signalling
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.stack || e}`));
  await page.goto(`${server.url}/`);
  await page.locator(`#users [data-user="${userId}"]`).click();
  await page.locator('#conn[data-state="online"]').waitFor({ timeout: 10_000 });
  return {
    name,
    context,
    page,
    logs,
    conversation: (id) => page.locator(`#conversations [data-conversation="${id}"]`),
    tile: (uid) => page.locator(`#grid .tile[data-user="${uid}"][data-local="false"]`),
    stats: () => page.evaluate(() => window.__huddle.stats()),
    async screenshot(file) {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, file) });
    },
  };
}

/**
 * Waits until `user` receives media from each of `fromUserIds` (video framesDecoded > 0
 * unless listed in `audioOnlyFrom`, audio packetsReceived > 0), polling getStats() through
 * the page's test hook. Returns the last stats.
 */
export async function waitForMedia(user, fromUserIds, { audioOnlyFrom = [], timeout = 30_000 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await user.stats();
    const ok = last && fromUserIds.every((uid) => {
      const r = last.remote.find((x) => x.userId === String(uid));
      if (!r || !(r.audio?.packetsReceived > 0)) return false;
      return audioOnlyFrom.includes(uid) ? r.video === null : r.video?.framesDecoded > 0;
    });
    if (ok) return last;
    if (Date.now() > deadline) {
      throw new Error(`${user.name} did not receive media from ${fromUserIds.join(', ')} within ${timeout} ms; ` +
        `last stats: ${JSON.stringify(last)}`);
    }
    await sleep(250);
  }
}

/** Writes the server's and the pages' logs next to the screenshots (called on failure). */
export function dumpLogs(file, server, users) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const parts = [`===== server =====\n${server?.logs() ?? ''}`];
  for (const u of users) parts.push(`===== ${u.name} console =====\n${u.logs.join('\n')}`);
  writeFileSync(path.join(ARTIFACTS, file), parts.join('\n\n'));
  return path.join(ARTIFACTS, file);
}

// Shared helpers of the browser end-to-end tests: the huddle server process, headless
// Chromium (Debian's package, driven by playwright-core) and the demo page's users.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const TESTS_DIR = path.resolve(HERE, '..');
export const REPO_ROOT = path.resolve(TESTS_DIR, '..', '..');
export const FIXTURE = path.join(TESTS_DIR, 'fixtures', 'directory.json');
export const HUDDLE_BIN = process.env.HUDDLE_BIN || path.join(REPO_ROOT, 'target', 'debug', 'huddle');
export const WEB_DIR = process.env.HUDDLE_WEB_DIR || path.join(REPO_ROOT, 'web', 'dist');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.HUDDLE_ARTIFACTS || path.join(REPO_ROOT, 'target', 'test-artifacts', 'browser');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `huddle` on a free loopback port serving the built demo page; waits for /healthz.
 * `extraArgs` are appended; `--auth none` is added unless `trustClients` is false.
 */
export async function startServer({ fixture = FIXTURE, extraArgs = [], trustClients = true } = {}) {
  const port = await freePort();
  const args = [
    '--listen', `127.0.0.1:${port}`,
    '--rtc-listen-ip', '127.0.0.1',
    '--directory', fixture,
    '--web-dir', WEB_DIR,
    '--workers', '1',
    '--log-format', 'text',
    ...(trustClients ? ['--auth', 'none'] : []),
    ...extraArgs,
  ];
  const output = [];
  const proc = spawn(HUDDLE_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = null;
  let spawnError = null;
  proc.on('error', (e) => { spawnError = e; });
  proc.on('exit', (code, signal) => { exited = { code, signal }; });
  proc.stdout.on('data', (d) => output.push(d.toString()));
  proc.stderr.on('data', (d) => output.push(d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const server = {
    url,
    logs: () => output.join(''),
    async stop() {
      if (exited || spawnError) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => { if (!exited) proc.kill('SIGKILL'); }, 3000);
      await gone;
      clearTimeout(t);
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError) throw new Error(`cannot spawn ${HUDDLE_BIN}: ${spawnError.message}`);
    if (exited) throw new Error(`huddle exited early (${JSON.stringify(exited)}):\n${server.logs()}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`huddle did not answer /healthz within 20 s:\n${server.logs()}`);
    }
    await sleep(100);
  }
  return server;
}

/** Debian's Chromium with a fake camera and microphone (no permission prompts). */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: false, // --headless=new below
    args: [
      '--headless=new',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
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
export async function openUser(browser, server, userId, { name = `user${userId}`, audioOnly = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  if (audioOnly) await context.addInitScript(withoutCamera);
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

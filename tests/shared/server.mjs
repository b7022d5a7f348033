// The `huddle` server process for the Node integration tests (tests/js/lib/harness.mjs) and
// the browser end-to-end tests (tests/browser/lib/env.mjs): spawn the binary on a free
// loopback port, capture its output, wait until GET /healthz answers 200, stop it.
//
// Plain ESM on Node built-ins only: each suite installs its own node_modules, none here.
// Each suite keeps its own command line (fixture, flags) and passes it as `args`.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The repository root (this file is `tests/shared/server.mjs`). */
export const REPO_ROOT = path.resolve(HERE, '..', '..');

/** The server binary: `$HUDDLE_BIN`, else the debug build in `target/`. */
export const HUDDLE_BIN =
  process.env.HUDDLE_BIN || path.join(REPO_ROOT, 'target', 'debug', 'huddle');

/** How long a started server may take to answer /healthz. */
export const READY_TIMEOUT_MS = 20_000;

/** Grace period between SIGTERM and SIGKILL in `stop()`. */
export const STOP_GRACE_MS = 3000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `bin --listen <host, default 127.0.0.1>:<free port> ...args` (environment inherited
 * plus `env`, stdout and
 * stderr captured) and waits until GET /healthz answers 200. Returns
 * `{ url, port, proc, args, logs(), stop() }`; `args` is the full argument list, `logs()` the
 * output so far, `stop()` sends SIGTERM, then SIGKILL after `STOP_GRACE_MS`, and resolves once
 * the process has exited (at once if it already had).
 *
 * Throws, with the captured output, when the binary cannot be spawned, exits before it is
 * ready, or is not ready within `readyTimeoutMs` (then it is stopped first).
 */
export async function startHuddle({
  args = [], bin = HUDDLE_BIN, readyTimeoutMs = READY_TIMEOUT_MS, host = '127.0.0.1', env,
} = {}) {
  const port = await freePort(host);
  const fullArgs = ['--listen', `${host}:${port}`, ...args];
  const output = [];
  const proc = spawn(bin, fullArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  let exited = null;
  let spawnError = null;
  proc.on('error', (e) => { spawnError = e; });
  proc.on('exit', (code, signal) => { exited = { code, signal }; });
  proc.stdout.on('data', (d) => output.push(d.toString()));
  proc.stderr.on('data', (d) => output.push(d.toString()));

  const url = `http://${host}:${port}`;
  const server = {
    url,
    port,
    proc,
    args: fullArgs,
    logs: () => output.join(''),
    async stop() {
      if (exited || spawnError) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => { if (!exited) proc.kill('SIGKILL'); }, STOP_GRACE_MS);
      await gone;
      clearTimeout(t);
    },
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (spawnError) throw new Error(`cannot spawn ${bin}: ${spawnError.message}`);
    if (exited) {
      throw new Error(`huddle exited early (${JSON.stringify(exited)}); output:\n${server.logs()}`);
    }
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(
        `huddle did not answer /healthz within ${readyTimeoutMs / 1000} s; output:\n${server.logs()}`);
    }
    await sleep(100);
  }
  return server;
}

// A throwaway redis-server on loopback for the cluster tests (tests/js/cluster.test.mjs,
// tests/browser/cluster.test.mjs). Plain ESM on Node built-ins only.
import { spawn } from 'node:child_process';
import { freePort, sleep } from './server.mjs';

/** The redis-server binary (`cargo xtask setup` installs Debian's). */
export const REDIS_BIN = process.env.REDIS_SERVER || 'redis-server';

/** Starts `redis-server` on `port` (a free one by default); resolves once it accepts. */
export async function startRedis(port) {
  port = port ?? await freePort();
  const proc = spawn(REDIS_BIN, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  proc.stdout.on('data', (d) => output.push(d.toString()));
  proc.stderr.on('data', (d) => output.push(d.toString()));
  let exited = null;
  proc.on('exit', (code, signal) => { exited = { code, signal }; });
  const deadline = Date.now() + 10_000;
  while (!output.join('').includes('Ready to accept connections')) {
    if (exited) throw new Error(`redis-server exited: ${JSON.stringify(exited)}\n${output.join('')}`);
    if (Date.now() > deadline) throw new Error(`redis-server not ready:\n${output.join('')}`);
    await sleep(50);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    },
  };
}


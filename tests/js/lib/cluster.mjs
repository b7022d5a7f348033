// Cluster mode test bed: a throwaway redis-server on loopback and N Huddle nodes on
// 127.0.0.1 … 127.0.0.N sharing it (each its own HTTP port, WebRTC address and node id).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { REPO_ROOT, startHuddle, freePort, sleep } from '../../shared/server.mjs';
import { AVATAR_BASE, FIXTURE, connect, join } from './harness.mjs';

export { startRedis } from '../../shared/redis.mjs';

/** Renewal period of the test nodes: a dead node is noticed within about 3 of them. */
export const RENEW_MS = 500;

/** Starts node `index` (1-based: host 127.0.0.<index>) of a cluster on `redisUrl`. */
export async function startNode(index, redisUrl, extraArgs = []) {
  const host = `127.0.0.${index}`;
  const node = await startHuddle({
    host,
    args: [
      '--directory', FIXTURE,
      '--avatar-base-url', AVATAR_BASE,
      '--rtc-listen-ip', host,
      '--webrtc-port', '0',
      '--log-format', 'text',
      '--redis-url', redisUrl,
      '--node-id', `node${index}`,
      '--cluster-renew-ms', String(RENEW_MS),
      ...extraArgs,
    ],
  });
  node.index = index;
  node.id = `node${index}`;
  node.stats = async () => (await fetch(`${node.url}/debug/stats`)).json();
  node.ready = async () => (await fetch(`${node.url}/readyz`)).status;
  /** kill -9. */
  node.kill = async () => {
    const gone = new Promise((r) => node.proc.once('exit', r));
    node.proc.kill('SIGKILL');
    await gone;
  };
  return node;
}

/** Polls `predicate` (async) until true, or fails with `message`. */
export async function eventually(message, predicate, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await predicate();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`${message} (not within ${timeout} ms)`);
    await sleep(100);
  }
}

/** Waits until every node sees `count` nodes alive (itself included). */
export async function converged(nodes, count = nodes.length) {
  for (const n of nodes) {
    await eventually(`${n.id} sees ${count} nodes`, async () => {
      const s = await n.stats();
      return s.cluster && s.cluster.redisUp && s.cluster.nodesAlive === count;
    });
  }
}

/** A socket.io client on `node`, joined as `user`. */
export async function connectAs(node, user, sockets) {
  const s = await connect(node.url);
  sockets?.add(s);
  await join(s, user);
  return s;
}

/**
 * Starts HAProxy in front of `nodes` with the configuration `cargo xtask cluster` uses
 * (xtask/haproxy.cfg.in). Resolves once it forwards /healthz.
 */
export async function startBalancer(nodes) {
  const port = await freePort();
  const template = fs.readFileSync(path.join(REPO_ROOT, 'xtask', 'haproxy.cfg.in'), 'utf8');
  const servers = nodes.map((n, i) =>
    `    server node${i + 1} ${new URL(n.url).host} check cookie node${i + 1}\n`).join('');
  const config = template.replace('{{BIND}}', `127.0.0.1:${port}`).replace('{{SERVERS}}\n', servers);
  const file = path.join(os.tmpdir(), `huddle-haproxy-${process.pid}-${port}.cfg`);
  fs.writeFileSync(file, config);
  const proc = spawn(process.env.HAPROXY || 'haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  proc.stdout.on('data', (d) => output.push(d.toString()));
  proc.stderr.on('data', (d) => output.push(d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch { /* not up yet */ }
    if (proc.exitCode !== null || Date.now() > deadline) {
      throw new Error(`haproxy not ready:\n${output.join('')}`);
    }
    await sleep(100);
  }
  return {
    url,
    logs: () => output.join(''),
    async stop() {
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
      fs.rmSync(file, { force: true });
    },
  };
}

// Events emitted the instant a socket connects (socket.io-client flushes its buffer right after
// CONNECT) must all be handled: the server registers handlers before it sends CONNECT.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { io } from 'socket.io-client';
import { useServer } from './lib/harness.mjs';

describe('events emitted on connect', () => {
  const ctx = useServer();

  ctx.serverTest('200 sockets emitting join + get_active_calls before connect all get answers', async () => {
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => new Promise((resolve, reject) => {
        const s = io(ctx.url, { transports: ['websocket'], forceNew: true, reconnection: false });
        const timer = setTimeout(() => { s.disconnect(); reject(new Error(`socket ${batch}/${i}: no ack`)); }, 5000);
        // Buffered before the connection exists; flushed right after CONNECT.
        s.emit('join', String((i % 4) + 1));
        s.emit('get_active_calls', {}, (res) => {
          clearTimeout(timer);
          s.disconnect();
          resolve(res);
        });
      })));
      for (const res of answers) assert.deepEqual(res, { calls: [] });
    }
  }, { timeout: 60000 });
});

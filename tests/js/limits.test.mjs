// Configured limits: transports/producers per socket, participants per room, request rate,
// payload size. Each refusal is an ack {error} and changes nothing else.
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { emitAck, useServer } from './lib/harness.mjs';

describe('per-socket and per-room limits', () => {
  const ctx = useServer({
    extraArgs: [
      '--max-transports-per-socket', '2',
      '--max-participants-per-room', '2',
      '--max-payload-bytes', '65536',
    ],
  });

  ctx.serverTest('transport limit', async () => {
    const a = await ctx.connectAs('1');
    assert.ok((await emitAck(a, 'createRoom', { roomId: 'conv-team' })).rtpCapabilities);
    assert.ok((await emitAck(a, 'createTransport', { type: 'send' })).id);
    assert.ok((await emitAck(a, 'createTransport', { type: 'recv' })).id);
    const third = await emitAck(a, 'createTransport', { type: 'recv' });
    assert.deepEqual(third, { error: 'Too many transports (limit 2)' });
    assert.equal((await ctx.stats()).transports, 2);
  });

  ctx.serverTest('room size limit', async () => {
    const a = await ctx.connectAs('1');
    const b = await ctx.connectAs('2');
    const c = await ctx.connectAs('3');
    assert.ok((await emitAck(a, 'createRoom', { roomId: 'conv-team' })).rtpCapabilities);
    assert.ok((await emitAck(b, 'createRoom', { roomId: 'conv-team' })).rtpCapabilities);
    assert.deepEqual(await emitAck(c, 'createRoom', { roomId: 'conv-team' }),
      { error: 'Room is full (2 participants)' });
    const stats = await ctx.stats();
    assert.equal(stats.participants, 2);
    // The refused socket still works.
    assert.deepEqual(await emitAck(c, 'get_active_calls', {}), {
      calls: [{ conversationId: 'conv-team', participantCount: 2,
        conversationInfo: { id: 'conv-team', name: 'Team Alpha', avatar: 'https://cdn.test/avatars/team.png' },
        participants: [
          { userId: '1', name: 'Alice', avatar: 'https://cdn.test/avatars/alice.png' },
          { userId: '2', name: 'Bob', avatar: 'https://img.example/bob.jpg' },
        ] }],
    });
  });

  ctx.serverTest('an oversized message drops only that connection', async () => {
    const a = await ctx.connectAs('1');
    const b = await ctx.connectAs('2');
    const gone = new Promise((r) => a.once('disconnect', r));
    a.emit('createRoom', { roomId: 'conv-team', junk: 'x'.repeat(200_000) });
    await gone;
    assert.deepEqual(await emitAck(b, 'get_active_calls', {}), { calls: [] });
  });
});

describe('request rate limit', () => {
  const ctx = useServer({ extraArgs: ['--max-events-per-second', '4'] });

  ctx.serverTest('bursts over 5x the rate are refused, then the socket recovers', async () => {
    const a = await ctx.connectAs('1', {});
    const results = await Promise.all(
      Array.from({ length: 40 }, () => emitAck(a, 'get_active_calls', {})));
    const refused = results.filter((r) => r.error === 'Rate limit exceeded').length;
    assert.ok(refused >= 15, `only ${refused} of 40 refused`);
    assert.ok(results.some((r) => Array.isArray(r.calls)));
    await new Promise((r) => setTimeout(r, 1200));
    assert.deepEqual(await emitAck(a, 'get_active_calls', {}), { calls: [] });
  });
});

// Authentication: JWT on the Socket.IO handshake; identity = token's `sub`.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe } from 'node:test';
import { connect, emitAck, useServer, waitFor, expectNoEvent } from './lib/harness.mjs';

const SECRET = 'test-secret-for-huddle';

function b64url(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

function jwt(claims, secret = SECRET) {
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const body = b64url(claims);
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

const now = () => Math.floor(Date.now() / 1000);
const tokenFor = (sub, extra = {}) => jwt({ sub, exp: now() + 300, ...extra });

async function refused(url, opts) {
  await assert.rejects(connect(url, opts), (e) => {
    assert.match(e.message, /connect_error: Authentication/);
    return true;
  });
}

describe('JWT authentication', () => {
  const ctx = useServer({ extraArgs: ['--jwt-secret', SECRET] });

  ctx.serverTest('connections without a valid token are refused with a clear message', async () => {
    await refused(ctx.url, {});
    await refused(ctx.url, { auth: { token: 'not-a-jwt' } });
    await refused(ctx.url, { auth: { token: tokenFor('1', { exp: now() - 3600 }) } });
    await refused(ctx.url, { auth: { token: jwt({ sub: '1', exp: now() + 60 }, 'wrong') } });
    await assert.rejects(connect(ctx.url, { auth: { token: tokenFor('1', { exp: now() - 3600 }) } }),
      /token expired/);
    assert.equal((await ctx.stats()).sockets, 0);
  });

  ctx.serverTest('token in auth.token, Authorization header or query parameter', async () => {
    const a = await ctx.connect({ auth: { token: tokenFor('1') } });
    const b = await ctx.connect({ query: { token: tokenFor('2') } });
    const c = await ctx.connect({ extraHeaders: { Authorization: `Bearer ${tokenFor(3)}` },
      transports: ['polling', 'websocket'] });
    // An authenticated socket is bound to its user without `join`.
    for (const s of [a, b, c]) {
      const res = await emitAck(s, 'get_active_calls', {});
      assert.deepEqual(res, { calls: [] });
    }
    assert.equal((await ctx.stats()).joinedUsers, 3);
  });

  ctx.serverTest('join / group_call_initiate as someone else are refused', async () => {
    const alice = await ctx.connect({ auth: { token: tokenFor('1') } });
    const bob = await ctx.connect({ auth: { token: tokenFor('2') } });
    const res = await emitAck(alice, 'join', '2');
    assert.deepEqual(res, { error: 'User id does not match the authenticated user' });
    assert.deepEqual(await emitAck(alice, 'join', '1'), { success: true });
    alice.emit('group_call_initiate', { callerId: '2', conversationId: 'conv-team', callType: 'video' });
    const err = await waitFor(alice, 'group_call_error');
    assert.equal(err.message, 'callerId does not match the joined user');
    await expectNoEvent(bob, 'group_call_incoming', 300);
    // The real identity works.
    alice.emit('group_call_initiate', { callerId: '1', conversationId: 'conv-team', callType: 'audio' });
    const ring = await waitFor(bob, 'group_call_incoming');
    assert.equal(ring.callerId, '1');
    assert.equal(ring.callerInfo.id, 1);
  });
});

describe('explicit HUDDLE_AUTH=none', () => {
  const ctx = useServer({ extraArgs: ['--auth', 'none'] });
  ctx.serverTest('clients are trusted and no token is needed', async () => {
    const s = await ctx.connect();
    assert.deepEqual(await emitAck(s, 'join', '1'), { success: true });
    assert.ok(ctx.server.logs().includes('HUDDLE_AUTH=none'));
  });
});

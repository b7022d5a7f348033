// group_call_updated (Huddle addition): members outside a call learn its live count and first
// participants when they change, throttled to one update per second per conversation, with
// the last state of a burst always delivered; active calls list the same participants.
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, request, collect, sleep, expectNoMediaLeftovers,
} from './lib/harness.mjs';

const srv = useServer();
const { serverTest } = srv;

// conv-quad: users 1, 2, 3, 5. User 6 is in no conversation.
const P = {
  1: { userId: '1', name: 'Alice', avatar: 'https://cdn.test/avatars/alice.png' },
  2: { userId: '2', name: 'Bob', avatar: 'https://img.example/bob.jpg' },
  3: { userId: '3', name: 'User 3', avatar: null },
};

const state = (u) => ({ count: u.participantCount, users: u.participants.map((p) => p.userId) });

serverTest('first join and last leave send no update; a second participant is announced to every member socket', async () => {
  const watcher = await srv.connectAs('5');
  const watcher2 = await srv.connectAs('5'); // a second device of the same member
  const outsider = await srv.connectAs('6');
  const updates = collect(watcher, 'group_call_updated');
  const noOutsider = expectNoEvent(outsider, 'group_call_updated', 2500);

  const a = await srv.connectAs('1');
  const started = waitFor(watcher, 'group_call_started');
  await request(a, 'createRoom', { roomId: 'conv-quad' });
  await started;
  await sleep(400);
  assert.deepEqual(updates.items, [], 'the first join is group_call_started, not an update');

  const b = await srv.connectAs('2');
  const onSecondDevice = waitFor(watcher2, 'group_call_updated');
  const inCall = waitFor(a, 'group_call_updated'); // members in the call hear it too
  await request(b, 'createRoom', { roomId: 'conv-quad' });
  const expected = { conversationId: 'conv-quad', participantCount: 2, participants: [P[1], P[2]] };
  assert.deepEqual(await onSecondDevice, expected);
  assert.deepEqual(await inCall, expected);
  await sleep(100);
  assert.deepEqual(updates.items, [expected]);

  // get_active_calls lists the same participants.
  const { calls } = await emitAck(watcher, 'get_active_calls', {});
  assert.deepEqual(calls.map((c) => [c.participantCount, c.participants]), [[2, [P[1], P[2]]]]);

  // b leaves (announced after the window), then a leaves: the end is group_call_ended only.
  // The update is built from the room's cached roster: no directory query.
  const queries = (await srv.stats()).directoryQueries;
  b.emit('leaveRoom');
  const one = await waitFor(watcher, 'group_call_updated', { timeout: 3000, predicate: (u) => u.participantCount === 1 });
  assert.deepEqual(one.participants, [P[1]]);
  assert.equal((await srv.stats()).directoryQueries, queries, 'directory queries for a leave and its update');
  const n = updates.items.length;
  const ended = waitFor(watcher, 'group_call_ended');
  a.emit('leaveRoom');
  await ended;
  await sleep(1500);
  assert.equal(updates.items.length, n, 'no update for the last leave');
  await noOutsider;
  await expectNoMediaLeftovers(srv.server);
});

serverTest('joins and leaves in quick succession: at most one update per second, the last one is the final state', async () => {
  const watcher = await srv.connectAs('5');
  const updates = collect(watcher, 'group_call_updated');
  const at = [];
  watcher.on('group_call_updated', () => at.push(Date.now()));

  const [a, b, c] = await Promise.all(['1', '2', '3'].map((u) => srv.connectAs(u)));
  await request(a, 'createRoom', { roomId: 'conv-quad' });
  // A burst: b joins, c joins, b leaves, b joins again, c leaves, c joins again.
  await request(b, 'createRoom', { roomId: 'conv-quad' });
  await request(c, 'createRoom', { roomId: 'conv-quad' });
  assert.deepEqual(await emitAck(b, 'leaveRoom'), { success: true });
  await request(b, 'createRoom', { roomId: 'conv-quad' });
  assert.deepEqual(await emitAck(c, 'leaveRoom'), { success: true });
  await request(c, 'createRoom', { roomId: 'conv-quad' });

  // Everything settles within two windows.
  await sleep(2600);
  assert.ok(updates.items.length >= 1 && updates.items.length <= 3,
    `a burst of 6 changes gives 1 to 3 updates, got ${JSON.stringify(updates.items.map(state))}`);
  for (let i = 1; i < at.length; i++) {
    assert.ok(at[i] - at[i - 1] >= 900, `updates ${at[i] - at[i - 1]} ms apart`);
  }
  // Join order: a, then b (rejoined after c's first join), then c (rejoined last).
  assert.deepEqual(updates.items.at(-1), {
    conversationId: 'conv-quad', participantCount: 3, participants: [P[1], P[2], P[3]],
  });
  const { calls } = await emitAck(watcher, 'get_active_calls', {});
  assert.deepEqual(calls[0].participants, [P[1], P[2], P[3]]);

  // Disconnects count as leaves, throttled the same way.
  b.disconnect();
  c.disconnect();
  const last = await waitFor(watcher, 'group_call_updated', { timeout: 3000, predicate: (u) => u.participantCount === 1 });
  assert.deepEqual(last.participants, [P[1]]);
  a.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

serverTest('two devices of one user count twice but are listed once', async () => {
  const watcher = await srv.connectAs('5');
  const a = await srv.connectAs('1');
  const a2 = await srv.connectAs('1');
  await request(a, 'createRoom', { roomId: 'conv-quad' });
  const update = waitFor(watcher, 'group_call_updated');
  await request(a2, 'createRoom', { roomId: 'conv-quad' });
  assert.deepEqual(await update, { conversationId: 'conv-quad', participantCount: 2, participants: [P[1]] });
  for (const s of [a, a2]) s.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

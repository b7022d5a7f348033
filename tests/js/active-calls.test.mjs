// active_group_calls on join, get_active_calls (ack / no ack / not joined)
// and the directory-query guarantees (memory first, one query when needed).
import assert from 'node:assert/strict';
import {
  useServer, waitFor, expectNoEvent, emitAck, request, waitForStats, sleep, expectNoMediaLeftovers,
} from './lib/harness.mjs';

const srv = useServer();
const { serverTest } = srv;

const TEAM = { id: 'conv-team', name: 'Team Alpha', avatar: 'https://cdn.test/avatars/team.png' };
const NONAME = { id: 'conv-noname', name: 'Group Call', avatar: null };
// `participants` (Huddle addition): the first five distinct users in the call, in join order.
const ALICE = { userId: '1', name: 'Alice', avatar: 'https://cdn.test/avatars/alice.png' };
const BOB = { userId: '2', name: 'Bob', avatar: 'https://img.example/bob.jpg' };

async function queries() {
  return (await srv.stats()).directoryQueries;
}

/** Waits until directoryQueries == expected and checks it stays there for a moment. */
async function expectQueries(expected, what) {
  await waitForStats(srv.server, (s) => s.directoryQueries >= expected, 2000).catch(() => {});
  await sleep(200);
  assert.equal(await queries(), expected, `directoryQueries after ${what}`);
}

const byConv = (x, y) => x.conversationId.localeCompare(y.conversationId);

serverTest('join / get_active_calls while no call is active anywhere: no event, no directory query', async () => {
  const st0 = await srv.stats();
  assert.equal(st0.rooms, 0);
  assert.equal(typeof st0.directoryQueries, 'number');
  const q0 = st0.directoryQueries;

  const s = await srv.connect();
  const noEvent = expectNoEvent(s, 'active_group_calls', 700);
  s.emit('join', '2');
  const res = await emitAck(s, 'get_active_calls', {});
  assert.deepEqual(res, { calls: [] });
  await noEvent;
  await expectQueries(q0, 'join + get_active_calls with no active call');

  // A few more joins: still no query.
  for (const uid of ['1', '3', 4]) {
    const x = await srv.connect();
    const ne = expectNoEvent(x, 'active_group_calls', 300);
    x.emit('join', uid);
    assert.deepEqual(await emitAck(x, 'get_active_calls', {}), { calls: [] });
    await ne;
  }
  await expectQueries(q0, 'more joins with no active call');
});

serverTest('join while a call is active: active_group_calls to members only, answered from memory (no query)', async () => {
  const a = await srv.connectAs('1');
  const started = waitFor(a, 'group_call_started');
  await request(a, 'createRoom', { roomId: 'conv-team' });
  await started; // fan-out done
  await sleep(200);
  let q = await queries();

  // A member of conv-team joins on a new socket: event with the entry, from the room's
  // member list (the embedded directory never changes): no query.
  const b = await srv.connect();
  const ev = waitFor(b, 'active_group_calls');
  b.emit('join', '2');
  assert.deepEqual(await ev, {
    calls: [{ conversationId: 'conv-team', conversationInfo: TEAM, participantCount: 1, participants: [ALICE] }],
  });
  await expectQueries(q, 'member join with one active call');

  // The event goes only to the joining socket, not to the user's other sockets.
  const b2 = await srv.connect();
  const noOnB = expectNoEvent(b, 'active_group_calls', 500);
  const ev2 = waitFor(b2, 'active_group_calls');
  b2.emit('join', '2');
  assert.equal((await ev2).calls.length, 1);
  await noOnB;
  await expectQueries(q, 'second socket join');

  // Non-member of conv-team (user 4 is only in conv-noname): no event, no query.
  const d = await srv.connect();
  const noD = expectNoEvent(d, 'active_group_calls', 700);
  d.emit('join', '4');
  await noD;
  await expectQueries(q, 'non-member join with one active call');

  // A user in no conversation at all.
  const f = await srv.connect();
  const noF = expectNoEvent(f, 'active_group_calls', 500);
  f.emit('join', '6');
  await noF;
  await expectQueries(q, 'join of a user without conversations');

  // get_active_calls with ack.
  assert.deepEqual(await emitAck(b, 'get_active_calls', {}), {
    calls: [{ conversationId: 'conv-team', conversationInfo: TEAM, participantCount: 1, participants: [ALICE] }],
  });
  assert.deepEqual(await emitAck(d, 'get_active_calls', {}), { calls: [] });
  await expectQueries(q, 'two get_active_calls while a call is active');

  // get_active_calls without ack -> active_group_calls event to that socket only.
  const evNoAck = waitFor(b, 'active_group_calls');
  const noOnB2 = expectNoEvent(b2, 'active_group_calls', 500);
  b.emit('get_active_calls', {});
  assert.deepEqual(await evNoAck, {
    calls: [{ conversationId: 'conv-team', conversationInfo: TEAM, participantCount: 1, participants: [ALICE] }],
  });
  await noOnB2;

  // participantCount follows the room.
  await request(b2, 'createRoom', { roomId: 'conv-team' });
  const c = await srv.connectAs('3');
  assert.deepEqual(await emitAck(c, 'get_active_calls', {}), {
    calls: [{ conversationId: 'conv-team', conversationInfo: TEAM, participantCount: 2, participants: [ALICE, BOB] }],
  });

  // Two active calls that concern user 1: both entries, still from memory.
  const a2 = await srv.connectAs('1');
  await request(a2, 'createRoom', { roomId: 'conv-noname' });
  await sleep(200);
  q = await queries();
  const a3 = await srv.connect();
  const ev3 = waitFor(a3, 'active_group_calls');
  a3.emit('join', '1');
  const got = await ev3;
  assert.deepEqual(got.calls.slice().sort(byConv), [
    { conversationId: 'conv-noname', conversationInfo: NONAME, participantCount: 1, participants: [ALICE] },
    { conversationId: 'conv-team', conversationInfo: TEAM, participantCount: 2, participants: [ALICE, BOB] },
  ]);
  await expectQueries(q, 'join with two active calls (from memory)');

  // User 4 now sees conv-noname only.
  const d2 = await srv.connect();
  const ev4 = waitFor(d2, 'active_group_calls');
  d2.emit('join', '4');
  assert.deepEqual(await ev4, {
    calls: [{ conversationId: 'conv-noname', conversationInfo: NONAME, participantCount: 1, participants: [ALICE] }],
  });

  // Everyone leaves: back to no calls, no event on join, no query.
  for (const s of [a, b2, a2]) s.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
  await sleep(200);
  q = await queries();
  const g = await srv.connect();
  const noG = expectNoEvent(g, 'active_group_calls', 500);
  g.emit('join', '2');
  assert.deepEqual(await emitAck(g, 'get_active_calls', {}), { calls: [] });
  await noG;
  await expectQueries(q, 'join after every call ended');
});

serverTest('get_active_calls before join -> {error: "Not joined"}', async () => {
  const s = await srv.connect();
  assert.deepEqual(await emitAck(s, 'get_active_calls', {}), { error: 'Not joined' });
  // Also while a call is active somewhere.
  const a = await srv.connectAs('1');
  await request(a, 'createRoom', { roomId: 'conv-team' });
  assert.deepEqual(await emitAck(s, 'get_active_calls', {}), { error: 'Not joined' });
  // After joining it works.
  s.emit('join', '2');
  const res = await emitAck(s, 'get_active_calls', {});
  assert.equal(res.calls.length, 1);
  a.emit('leaveRoom');
  await expectNoMediaLeftovers(srv.server);
});

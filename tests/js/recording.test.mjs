// Recording control over the protocol (docs/recording.md), with socket.io-client and
// mediasoup-client's FakeHandler: refused without --recording-dir or without
// --allow-participant-recording; with both, startRecording / stopRecording, the room told
// (recordingStarted / recordingStopped), a late joiner's createRoom `recording`, the admin
// API's state, and every error. (Real media into files: tests/browser/recording.test.mjs.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { after } from 'node:test';
import os from 'node:os';
import path from 'node:path';
import {
  useServer, waitFor, expectNoEvent, emitAck, request, MEDIASOUP_CLIENTS, enterRoom, produce, closeCall,
} from './lib/harness.mjs';

const TOKEN = 'rec-token';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huddle-rec-js-'));
// Webhook receiver of the recording server (its URL is added before that server starts).
const hooks = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    hooks.push(JSON.parse(body));
    res.end('ok');
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const recorderArgs = [
  '--admin-token', TOKEN, '--recording-dir', dir, '--allow-participant-recording',
  '--webhook-url', `http://127.0.0.1:${receiver.address().port}/hook`,
];
after(() => receiver.close());
const plain = useServer({ extraArgs: ['--admin-token', TOKEN] });
const recorder = useServer({ extraArgs: recorderArgs });
const onlyAdmin = useServer({ extraArgs: ['--admin-token', TOKEN, '--recording-dir', dir] });
// Stopped (SIGTERM) in the middle of a recording.
const stopping = useServer({ extraArgs: ['--admin-token', TOKEN, '--recording-dir', dir] });
// Its recorders fail as FFmpeg does on a full disk (fixtures/ffmpeg-disk-full.py).
const diskFull = useServer({
  extraArgs: ['--admin-token', TOKEN, '--recording-dir', dir, '--ffmpeg',
    path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'ffmpeg-disk-full.py')],
});
const client = MEDIASOUP_CLIENTS[0];

async function admin(srv, method, pathname) {
  const res = await fetch(`${srv.url}${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: await res.json() };
}

plain.serverTest('without --recording-dir recording is refused, and createRoom says recording: null', async () => {
  const a = await plain.connectAs('1');
  const call = await enterRoom(a, 'conv-team', client);
  assert.equal(call.created.recording, null);
  assert.deepEqual(await emitAck(a, 'startRecording', { roomId: 'conv-team' }), { error: 'Recording not allowed' });
  assert.deepEqual(await emitAck(a, 'stopRecording', { roomId: 'conv-team' }), { error: 'Recording not allowed' });
  const r = await admin(plain, 'POST', '/api/v1/calls/conv-team/recording');
  assert.deepEqual(r, { status: 409, body: { error: 'Recording not configured' } });
  await expectNoEvent(a, 'recordingStarted', 200);
  closeCall(call);
});

onlyAdmin.serverTest('without --allow-participant-recording only the admin API records', async () => {
  const a = await onlyAdmin.connectAs('1');
  const call = await enterRoom(a, 'conv-team', client);
  assert.deepEqual(await emitAck(a, 'startRecording', { roomId: 'conv-team' }), { error: 'Recording not allowed' });
  const started = waitFor(a, 'recordingStarted');
  const r = await admin(onlyAdmin, 'POST', '/api/v1/calls/conv-team/recording');
  assert.equal(r.status, 200);
  assert.deepEqual(await started, { roomId: 'conv-team', recordingId: r.body.recordingId });
  // Participants cannot stop it either.
  assert.deepEqual(await emitAck(a, 'stopRecording', { roomId: 'conv-team' }), { error: 'Recording not allowed' });
  const stopped = waitFor(a, 'recordingStopped');
  const s = await admin(onlyAdmin, 'DELETE', '/api/v1/calls/conv-team/recording');
  assert.equal(s.status, 200);
  assert.deepEqual(await stopped, { roomId: 'conv-team', recordingId: r.body.recordingId });
  // No call: 404.
  assert.deepEqual(await admin(onlyAdmin, 'POST', '/api/v1/calls/conv-none/recording'),
    { status: 404, body: { error: 'Call not found' } });
  closeCall(call);
});

recorder.serverTest('participants start and stop recordings; the room always knows', async () => {
  const a = await recorder.connectAs('1');
  const b = await recorder.connectAs('2');
  const callA = await enterRoom(a, 'conv-team', client);
  const callB = await enterRoom(b, 'conv-team', client);
  await produce(callA, ['audio', 'video']);

  // Errors first: nothing changes.
  assert.match((await emitAck(a, 'startRecording', 'garbage')).error, /./);
  assert.deepEqual(await emitAck(a, 'startRecording', {}), { error: 'roomId required' });
  assert.deepEqual(await emitAck(a, 'startRecording', { roomId: 'conv-other' }), { error: 'Participant not found' });
  assert.deepEqual(await emitAck(a, 'stopRecording', { roomId: 'conv-team' }), { error: 'Not recording' });
  await expectNoEvent(b, 'recordingStarted', 200);

  const startedA = waitFor(a, 'recordingStarted');
  const startedB = waitFor(b, 'recordingStarted');
  const { recordingId } = await request(a, 'startRecording', { roomId: 'conv-team' });
  assert.match(recordingId, /^rec_[0-9a-f]{32}$/);
  assert.deepEqual(await startedA, { roomId: 'conv-team', recordingId });
  assert.deepEqual(await startedB, { roomId: 'conv-team', recordingId });
  // Starting again answers the running recording, without a second announcement.
  assert.deepEqual(await request(b, 'startRecording', { roomId: 'conv-team' }), { recordingId });
  await expectNoEvent(a, 'recordingStarted', 300);

  // A late joiner sees it in the createRoom ack.
  const c = await recorder.connectAs('3');
  const callC = await enterRoom(c, 'conv-team', client);
  assert.deepEqual(callC.created.recording, { recordingId });
  const state = await admin(recorder, 'GET', `/api/v1/recordings/${recordingId}`);
  assert.equal(state.status, 200);
  assert.equal(state.body.state, 'recording');
  assert.equal(state.body.conversationId, 'conv-team');

  const stoppedC = waitFor(c, 'recordingStopped');
  const stop = await request(b, 'stopRecording', { roomId: 'conv-team' });
  assert.equal(stop.recordingId, recordingId);
  assert.ok(stop.files.includes(`${recordingId}/manifest.json`), JSON.stringify(stop.files));
  assert.deepEqual(await stoppedC, { roomId: 'conv-team', recordingId });
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, recordingId, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifest.tracks.map((t) => `${t.participantInfo.userId}:${t.kind}/${t.source}`).sort(),
    ['1:audio/microphone', '1:video/camera']);
  const done = await admin(recorder, 'GET', `/api/v1/recordings/${recordingId}`);
  assert.equal(done.body.state, 'stopped');
  assert.equal(done.body.reason, 'stopped');
  assert.deepEqual(await admin(recorder, 'GET', '/api/v1/recordings/rec_unknown'),
    { status: 404, body: { error: 'Recording not found' } });
  assert.deepEqual(await emitAck(a, 'stopRecording', { roomId: 'conv-team' }), { error: 'Not recording' });
  // The webhook / lifecycle event says it is finished, with its files.
  for (let i = 0; ; i++) {
    const hook = hooks.find((h) => h.event === 'recording_finished' && h.recordingId === recordingId);
    if (hook) {
      assert.equal(hook.conversationId, 'conv-team');
      assert.deepEqual(hook.files, stop.files);
      assert.equal(hook.reason, 'stopped');
      break;
    }
    if (i > 50) throw new Error(`no recording_finished webhook: ${JSON.stringify(hooks)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const call of [callA, callB, callC]) closeCall(call);
});

diskFull.serverTest('a recorder failing on a full disk stops its recording, never the call', async () => {
  const a = await diskFull.connectAs('1');
  const call = await enterRoom(a, 'conv-team', client);
  await produce(call, ['audio']);
  const stopped = waitFor(a, 'recordingStopped', { timeout: 10_000 });
  const r = await admin(diskFull, 'POST', '/api/v1/calls/conv-team/recording');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(await stopped, { roomId: 'conv-team', recordingId: r.body.recordingId, reason: 'disk_full' });
  for (let i = 0; ; i++) {
    const s = (await admin(diskFull, 'GET', `/api/v1/recordings/${r.body.recordingId}`)).body;
    if (s.state === 'stopped') {
      assert.equal(s.reason, 'disk_full');
      break;
    }
    if (i > 50) throw new Error(`not stopped: ${JSON.stringify(s)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  // The call goes on: the socket still gets answers in its room.
  const producers = await request(a, 'getProducers', {});
  assert.equal(producers.producers.length, 1, 'the microphone is still there');
  assert.equal((await diskFull.stats()).participants, 1);
  closeCall(call);
});

stopping.serverTest('a graceful server stop finishes its recordings first', async () => {
  const a = await stopping.connectAs('1');
  const call = await enterRoom(a, 'conv-team', client);
  await produce(call, ['audio']);
  const r = await admin(stopping, 'POST', '/api/v1/calls/conv-team/recording');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await stopping.server.stop(); // SIGTERM
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, r.body.recordingId, 'manifest.json'), 'utf8'));
  assert.equal(manifest.reason, 'shutdown');
  assert.deepEqual(manifest.tracks.map((t) => `${t.kind}/${t.source}`), ['audio/microphone']);
  closeCall(call);
});

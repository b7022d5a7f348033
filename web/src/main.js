// Huddle demo page: pick a user, see the conversations with live calls, start / join / accept
// group calls through the SFU; mesh group calls and 1:1 calls (peer to peer) behind the mode
// switch. Test hook: `window.__huddle`.
import { Grid } from './grid.js';
import { DirectCall, MeshCall } from './p2p.js';
import { SfuCall } from './sfu-call.js';
import { connect, request, tokenSubject } from './signal.js';
import { $, avatar, h, toast } from './ui.js';

const RING_TIMEOUT_MS = 45_000;
// Live calls arrive as events (`group_call_started` / `group_call_updated` / `group_call_ended`);
// the poll only repairs a missed event, e.g. after a reconnect.
const ACTIVE_POLL_MS = 60_000;

const state = {
  directory: { users: [] },
  /** `{ id, name, avatar }` of the signed-in user. */
  me: null,
  token: null,
  socket: null,
  /** conversation id → `{ id, name, avatar }` */
  conversations: new Map(),
  /** conversation id → participant count (0: live, count not known yet) */
  live: new Map(),
  /** 'sfu' | 'mesh' | 'direct': what the sidebar's buttons start. */
  mode: 'sfu',
  /** @type {SfuCall|MeshCall|DirectCall|null} */
  call: null,
  ring: null,
  /** ICE candidates of a ringing 1:1 call, kept until it is accepted. */
  earlyIce: [],
  pollTimer: null,
};

const grid = new Grid($('grid'));

// ---------------------------------------------------------------------------------------------
// sign-in

async function loadDirectory() {
  try {
    const res = await fetch('/api/demo/directory');
    state.directory = await res.json();
  } catch (e) {
    toast(`Cannot load the demo users: ${e.message}`, 'error');
  }
  const users = state.directory.users || [];
  $('users').replaceChildren(...users.map((u) => h('button.user', {
    dataset: { user: String(u.id) },
    onclick: () => signIn({ userId: String(u.id) }),
  }, avatar(u), h('span.user-name', {}, u.name),
  h('span.muted.small', {}, u.conversations.map((c) => c.name).join(' · ') || 'no conversations'))));
  if (!users.length) {
    $('users').append(h('p.muted', {}, 'No demo users: this server uses a real user database. Connect with a JWT below.'));
  }
}

function signIn({ userId, token = null }) {
  const known = (state.directory.users || []).find((u) => String(u.id) === String(userId));
  state.me = {
    id: String(userId),
    name: known?.name || `User ${userId}`,
    avatar: known?.avatar ?? null,
  };
  state.token = token;
  state.conversations = new Map((known?.conversations || []).map((c) => [String(c.id), { ...c, id: String(c.id) }]));
  state.live.clear();
  sessionStorage.setItem('huddle.session', JSON.stringify({ userId: state.me.id, token }));

  $('login').hidden = true;
  $('home').hidden = false;
  $('btn-logout').hidden = false;
  $('modes').hidden = false;
  $('me').hidden = false;
  $('me').replaceChildren(avatar(state.me, 'sm'), h('span', {}, state.me.name));
  renderConversations();
  openSocket();
}

async function signOut() {
  await leaveCall();
  sessionStorage.removeItem('huddle.session');
  state.socket?.disconnect();
  state.socket = null;
  clearInterval(state.pollTimer);
  hideRing();
  state.me = null;
  $('login').hidden = false;
  $('home').hidden = true;
  $('btn-logout').hidden = true;
  $('modes').hidden = true;
  $('me').hidden = true;
  setConn('offline');
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token').value.trim();
  const userId = $('token-user').value.trim() || tokenSubject(token);
  if (!token || !userId) {
    toast('Paste a JWT (with a `sub` claim, or type the user id)', 'error');
    return;
  }
  signIn({ userId, token });
});
$('btn-logout').addEventListener('click', signOut);

// ---------------------------------------------------------------------------------------------
// signalling

function setConn(text) {
  $('conn').textContent = text;
  $('conn').dataset.state = text;
}

function openSocket() {
  const socket = connect(state.token);
  state.socket = socket;

  socket.on('connect', () => {
    setConn('online');
    socket.emit('join', state.me.id);
    // 1:1 calls (seed 004) register too; `userName` becomes the `callerName` of our calls.
    socket.emit('register-user', { userId: state.me.id, userName: state.me.name });
    refreshActiveCalls();
  });
  socket.on('disconnect', (reason) => {
    setConn('offline');
    if (state.call) {
      state.call.dispose();
      endCallView();
      toast(`Disconnected (${reason}): call ended`, 'error');
    }
  });
  socket.on('connect_error', (e) => {
    setConn('offline');
    toast(`Cannot connect: ${e.message}`, 'error');
  });
  socket.on('server_shutdown', ({ reason }) => toast(`Server: ${reason}`, 'error'));

  socket.on('active_group_calls', ({ calls }) => {
    for (const c of calls) markLive(c.conversationId, c.conversationInfo, c.participantCount, c.participants);
    renderConversations();
  });
  socket.on('group_call_started', ({ conversationId, conversationInfo, callerInfo }) => {
    // The first participant (or the caller) is the call: one person until an update says more.
    const known = state.live.get(conversationId);
    const first = callerInfo ? [{ userId: String(callerInfo.id), name: callerInfo.name, avatar: callerInfo.avatar }] : [];
    markLive(conversationId, conversationInfo, known?.count || (callerInfo ? 0 : 1), known?.participants || first);
    renderConversations();
    refreshActiveCalls();
  });
  // Huddle addition: the live count and the first participants, pushed on every change.
  socket.on('group_call_updated', ({ conversationId, participantCount, participants }) => {
    markLive(conversationId, null, participantCount, participants);
    renderConversations();
  });
  socket.on('group_call_ended', ({ conversationId }) => {
    state.live.delete(conversationId);
    renderConversations();
    if (state.ring?.conversationId === conversationId) hideRing();
    if (state.call?.mode === 'sfu' && state.call.roomId === conversationId) {
      state.call.dispose();
      endCallView();
      toast('The call ended');
    }
  });
  socket.on('group_call_incoming', (data) => {
    if (data.conversationInfo) addConversation(data.conversationInfo);
    if (state.call?.mode !== 'sfu' || state.call.roomId !== data.conversationId) showRing('sfu', data);
  });
  socket.on('group_call_error', ({ message }) => toast(message, 'error'));

  const sfu = () => (state.call?.mode === 'sfu' ? state.call : null);
  socket.on('newProducer', (p) => sfu()?.consume(p));
  socket.on('participantLeft', ({ socketId }) => sfu()?.participantLeft(socketId));
  socket.on('producerClosed', ({ producerId }) => sfu()?.producerClosed(producerId));
  socket.on('producerPaused', (p) => sfu()?.producerPausedChanged(p, true));
  socket.on('producerResumed', (p) => sfu()?.producerPausedChanged(p, false));
  socket.on('activeSpeaker', (s) => sfu()?.activeSpeaker(s));
  socket.on('connectionQuality', (q) => sfu()?.connectionQuality(q));
  // Huddle addition: our media connection failed for too long and the server took us out.
  socket.on('removedFromRoom', ({ roomId }) => {
    if (state.call?.mode === 'sfu' && state.call.roomId === roomId) {
      state.call.dispose();
      endCallView();
      toast('Your connection to the call was lost', 'error');
    }
  });

  // Mesh group calls (seed 003).
  for (const event of ['groupcall:participant-joined', 'groupcall:participant-left', 'groupcall:webrtc-offer',
    'groupcall:webrtc-answer', 'groupcall:webrtc-ice-candidate', 'groupcall:tracks-updated']) {
    socket.on(event, (data) => {
      if (state.call?.mode === 'mesh') state.call.handle(event, data).catch((e) => toast(e.message, 'error'));
    });
  }
  socket.on('groupcall:invitation', (data) => {
    if (data.conversationInfo) addConversation(data.conversationInfo);
    if (state.call?.mode !== 'mesh' || state.call.roomId !== data.roomId) showRing('mesh', data);
  });
  socket.on('groupcall:error', ({ message }) => toast(message, 'error'));

  // 1:1 calls (seed 004).
  socket.on('incoming-call', (data) => showRing('direct', data));
  for (const event of ['call-accepted', 'call-rejected', 'call-ended', 'ice-candidate']) {
    socket.on(event, (data) => {
      if (state.call?.mode === 'direct') {
        state.call.handle(event, data).catch((e) => toast(e.message, 'error'));
      } else if (state.ring?.kind === 'direct' && state.ring.data.callId === data.callId) {
        if (event === 'ice-candidate') state.earlyIce.push(data.candidate);
        else if (event === 'call-ended') hideRing(); // cancelled or timed out while ringing
      }
    });
  }
  socket.on('call-error', ({ message }) => toast(message, 'error'));

  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(() => {
    if (state.live.size || state.call) refreshActiveCalls();
  }, ACTIVE_POLL_MS);
}

/** `get_active_calls` with an ack: the authoritative list of live calls and their sizes. */
async function refreshActiveCalls() {
  const socket = state.socket;
  if (!socket?.connected) return;
  try {
    const { calls } = await request(socket, 'get_active_calls', {});
    if (socket !== state.socket) return;
    state.live.clear();
    for (const c of calls) markLive(c.conversationId, c.conversationInfo, c.participantCount, c.participants);
    renderConversations();
  } catch {
    // "Not joined" right after a reconnect: the next poll catches up.
  }
}

function addConversation(info) {
  const id = String(info.id);
  const known = state.conversations.get(id);
  state.conversations.set(id, { ...known, ...info, id, name: info.name || known?.name || 'Group call' });
}

function markLive(conversationId, info, count, participants = []) {
  if (info) addConversation(info);
  else if (!state.conversations.has(conversationId)) addConversation({ id: conversationId });
  state.live.set(conversationId, { count, participants: participants || [] });
}

// ---------------------------------------------------------------------------------------------
// conversations

function renderConversations() {
  for (const b of $('modes').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.mode === state.mode));
  if (state.mode === 'direct') return renderPeople();
  $('sidebar-title').textContent = 'Conversations';
  const items = [...state.conversations.values()].map((c) => {
    const live = state.live.has(c.id);
    const { count, participants } = state.live.get(c.id) || {};
    const inCall = state.call?.roomId === c.id && state.call.mode === state.mode;
    let actions;
    if (inCall) {
      actions = [h('span.in-call', {}, 'In call')];
    } else if (state.mode === 'mesh') {
      actions = [h('button', { dataset: { action: 'start-mesh' }, title: 'Start or join a mesh (peer-to-peer) call', onclick: () => startMesh(c.id, 'video') }, 'Mesh call')];
    } else if (live) {
      actions = [h('button.join', { dataset: { action: 'join' }, onclick: () => joinCall(c.id, 'video') }, 'Join')];
    } else {
      actions = [
        h('button', { dataset: { action: 'start-video' }, title: 'Start a video call', onclick: () => startCall(c.id, 'video') }, 'Video'),
        h('button.ghost', { dataset: { action: 'start-audio' }, title: 'Start an audio call', onclick: () => startCall(c.id, 'audio') }, 'Audio'),
      ];
    }
    return h('li.conversation', { dataset: { conversation: c.id }, className: `conversation${live ? ' live' : ''}` },
      avatar(c),
      h('div.conv-text', {}, h('span.conv-name', {}, c.name || 'Group call'),
        live ? h('span.live-line', {}, h('span.live-badge', {}, count ? `● Live · ${count}` : '● Live'),
          h('span.live-avatars', { title: participants.map((p) => p.name).join(', ') },
            ...participants.slice(0, 3).map((p) => avatar({ id: p.userId, name: p.name, avatar: p.avatar }, 'xs'))))
          : h('span.muted.small', {}, 'No call')),
      h('div.conv-actions', {}, actions));
  });
  if (!items.length) items.push(h('li.muted', {}, 'No conversations'));
  $('conversations').replaceChildren(...items);
}

/** 1:1 mode: the people who share a conversation with me. */
function renderPeople() {
  $('sidebar-title').textContent = 'People';
  const mine = new Set(state.conversations.keys());
  const people = (state.directory.users || []).filter((u) => String(u.id) !== state.me.id &&
    u.conversations.some((c) => mine.has(String(c.id))));
  const items = people.map((u) => {
    const user = { id: String(u.id), name: u.name, avatar: u.avatar };
    const inCall = state.call?.mode === 'direct' && state.call.peerUser.id === user.id;
    return h('li.conversation', { dataset: { person: user.id } },
      avatar(user),
      h('div.conv-text', {}, h('span.conv-name', {}, user.name), h('span.muted.small', {}, 'Direct call')),
      h('div.conv-actions', {}, inCall ? h('span.in-call', {}, 'In call') : [
        h('button', { dataset: { action: 'call-video' }, onclick: () => callUser(user, 'video') }, 'Video'),
        h('button.ghost', { dataset: { action: 'call-audio' }, onclick: () => callUser(user, 'audio') }, 'Audio'),
      ]));
  });
  if (!items.length) items.push(h('li.muted', {}, 'Nobody shares a conversation with you'));
  $('conversations').replaceChildren(...items);
}

function setMode(mode) {
  state.mode = ['sfu', 'mesh', 'direct'].includes(mode) ? mode : 'sfu';
  sessionStorage.setItem('huddle.mode', state.mode);
  renderConversations();
}

for (const b of $('modes').querySelectorAll('button')) b.addEventListener('click', () => setMode(b.dataset.mode));

// ---------------------------------------------------------------------------------------------
// calls

async function startCall(conversationId, callType) {
  state.socket.emit('group_call_initiate', { callerId: state.me.id, conversationId, callType });
  await joinCall(conversationId, callType);
}

async function joinCall(conversationId, callType = 'video') {
  if (state.call?.mode === 'sfu' && state.call.roomId === conversationId) return hideRing();
  const call = new SfuCall({
    socket: state.socket, roomId: conversationId, callType, me: state.me, grid, notify: toast,
  });
  await enterCall(call, conversationTitle(conversationId), () => call.join());
  refreshActiveCalls();
}

async function startMesh(conversationId, callType) {
  const call = new MeshCall({ socket: state.socket, roomId: conversationId, callType, me: state.me, grid, notify: toast });
  await enterCall(call, `${conversationTitle(conversationId)} · mesh`, () => call.join({ invite: true }));
}

async function joinMesh(conversationId, callType) {
  const call = new MeshCall({ socket: state.socket, roomId: conversationId, callType, me: state.me, grid, notify: toast });
  await enterCall(call, `${conversationTitle(conversationId)} · mesh`, () => call.join());
}

function directCall(peer, callType) {
  return new DirectCall({
    socket: state.socket, peer, callType, me: state.me, grid, notify: toast,
    onEnded: (c) => { if (state.call === c) endCallView(); },
  });
}

async function callUser(peer, callType) {
  const call = directCall(peer, callType);
  await enterCall(call, `Call with ${peer.name}`, () => call.call());
}

async function acceptDirect(data) {
  const peer = { id: String(data.callerId ?? data.from), name: data.callerName || `User ${data.callerId}`, avatar: null };
  const known = (state.directory.users || []).find((u) => String(u.id) === peer.id);
  if (known) peer.avatar = known.avatar;
  const early = state.earlyIce.splice(0);
  const call = directCall(peer, data.callType === 'audio' ? 'audio' : 'video');
  await enterCall(call, `Call with ${peer.name}`, () => call.accept(data, early));
}

function conversationTitle(id) {
  return state.conversations.get(id)?.name || 'Group call';
}

/** Leaves the current call, shows `call`'s view and runs `start` (its join / call / accept). */
async function enterCall(call, title, start) {
  hideRing();
  await leaveCall();
  state.call = call;
  $('idle').hidden = true;
  $('call').hidden = false;
  $('call-title').textContent = title;
  renderConversations();
  updateControls();
  try {
    await start();
  } catch (e) {
    toast(`Cannot join the call: ${e.message}`, 'error');
    if (state.call === call) await leaveCall();
    return;
  }
  updateControls();
  updateCallStatus();
}

async function leaveCall() {
  const call = state.call;
  if (!call) return;
  state.call = null;
  await call.leave();
  endCallView();
  if (call.mode === 'sfu') refreshActiveCalls();
}

function endCallView() {
  state.call = null;
  grid.clear();
  $('call').hidden = true;
  $('idle').hidden = false;
  renderConversations();
}

function updateCallStatus() {
  if (!state.call) return;
  const n = grid.size;
  $('call-status').textContent = n === 1 ? 'Only you so far' : `${n} in call`;
}

function updateControls() {
  const call = state.call;
  const mic = $('btn-mic');
  const cam = $('btn-cam');
  mic.dataset.on = String(Boolean(call?.micOn));
  mic.textContent = call?.micOn ? 'Mute' : 'Unmute';
  cam.dataset.on = String(Boolean(call?.cameraOn));
  cam.textContent = call?.cameraOn ? 'Camera off' : 'Camera on';
  const screen = $('btn-screen');
  screen.hidden = call?.mode !== 'sfu';
  screen.dataset.on = String(Boolean(call?.sharing));
  screen.textContent = call?.sharing ? 'Stop sharing' : 'Share screen';
}

new MutationObserver(updateCallStatus).observe($('grid'), { childList: true });

$('btn-mic').addEventListener('click', async () => {
  const call = state.call;
  const pending = call?.setMic(!call.micOn);
  updateControls();
  await pending;
  updateControls();
});
$('btn-screen').addEventListener('click', async () => {
  const button = $('btn-screen');
  button.disabled = true;
  try {
    await state.call?.setScreen?.(!state.call.sharing);
  } finally {
    button.disabled = false;
    updateControls();
  }
});
$('btn-cam').addEventListener('click', async () => {
  const button = $('btn-cam');
  button.disabled = true;
  try {
    await state.call?.setCamera(!state.call.cameraOn);
  } finally {
    button.disabled = false;
    updateControls();
  }
});
$('btn-leave').addEventListener('click', leaveCall);

// ---------------------------------------------------------------------------------------------
// incoming ring

/**
 * The incoming-call card. `kind`: 'sfu' (`group_call_incoming`), 'mesh'
 * (`groupcall:invitation`) or 'direct' (`incoming-call`).
 */
function showRing(kind, data) {
  hideRing();
  state.ring = { kind, data, conversationId: data.conversationId ?? data.roomId ?? null };
  if (kind === 'direct') state.earlyIce = [];
  const callerId = data.callerId ?? data.from;
  const known = (state.directory.users || []).find((u) => String(u.id) === String(callerId));
  const caller = data.callerInfo || { id: callerId, name: data.callerName || known?.name || `User ${callerId}`, avatar: known?.avatar };
  const type = data.callType === 'audio' ? 'Audio' : 'Video';
  const where = kind === 'direct' ? '1:1' : `${data.conversationInfo?.name || 'Group call'}${kind === 'mesh' ? ' · mesh' : ''}`;
  $('ring-avatar').replaceChildren(avatar(caller, 'lg'));
  $('ring-caller').textContent = `${caller.name} is calling`;
  $('ring-what').textContent = `${type} call · ${where}`;
  $('ring').hidden = false;
  $('ring').dataset.kind = kind;
  state.ring.timer = setTimeout(hideRing, RING_TIMEOUT_MS);
}

function hideRing() {
  if (state.ring) clearTimeout(state.ring.timer);
  state.ring = null;
  $('ring').hidden = true;
}

$('ring-accept').addEventListener('click', () => {
  const ring = state.ring;
  if (!ring) return;
  const callType = ring.data.callType === 'audio' ? 'audio' : 'video';
  if (ring.kind === 'sfu') joinCall(ring.conversationId, callType);
  else if (ring.kind === 'mesh') joinMesh(ring.conversationId, callType);
  else acceptDirect(ring.data);
});
$('ring-decline').addEventListener('click', () => {
  const ring = state.ring;
  // Group calls have no decline event (just dismiss); a 1:1 call tells the caller.
  if (ring?.kind === 'direct') {
    state.socket.emit('call-rejected', { targetUserId: String(ring.data.callerId ?? ring.data.from), callId: ring.data.callId });
  }
  hideRing();
});

// ---------------------------------------------------------------------------------------------
// test hook and start-up

/** Server events recorded for tests (`__huddle.record`). */
const recorded = new Map();

window.__huddle = {
  get me() { return state.me; },
  get socketId() { return state.socket?.id ?? null; },
  get connected() { return Boolean(state.socket?.connected); },
  get inCall() { return state.call?.roomId ?? null; },
  get callMode() { return state.call?.mode ?? null; },
  live: () => Object.fromEntries([...state.live].map(([id, l]) => [id, l.count])),
  liveParticipants: () => Object.fromEntries([...state.live].map(([id, l]) => [id, l.participants.map((p) => p.userId)])),
  stats: () => (state.call ? state.call.stats() : Promise.resolve(null)),
  /** Close the SFU call's transports without leaving (simulates a dead media path). */
  dropMedia: () => { state.call?.send?.close(); state.call?.recv?.close(); },
  /** A request with an ack on the page's socket (rejects on `{error}` or no answer). */
  request: (event, data, timeoutMs) => request(state.socket, event, data, timeoutMs),
  /** The current call object (for an SFU call: `send` / `recv` transports), or null. */
  get call() { return state.call ?? null; },
  /** Starts recording the server event `name` on the page's socket; see `events(name)`. */
  record: (name) => {
    if (recorded.has(name)) return;
    recorded.set(name, []);
    state.socket?.on(name, (payload) => recorded.get(name).push(payload));
  },
  /** The payloads of `name` received since `record(name)`. */
  events: (name) => recorded.get(name) ?? [],
};

await loadDirectory();
const params = new URLSearchParams(location.search);
const mode = params.get('mode') || sessionStorage.getItem('huddle.mode');
state.mode = ['sfu', 'mesh', 'direct'].includes(mode) ? mode : 'sfu';
const saved = JSON.parse(sessionStorage.getItem('huddle.session') || 'null');
if (params.get('user')) signIn({ userId: params.get('user'), token: params.get('token') });
else if (saved?.userId) signIn(saved);

// Huddle demo page: pick a user, see the conversations with live calls, start / join / accept
// group calls through the SFU. Test hook: `window.__huddle`.
import { Grid } from './grid.js';
import { SfuCall } from './sfu-call.js';
import { connect, request, tokenSubject } from './signal.js';
import { $, avatar, h, toast } from './ui.js';

const RING_TIMEOUT_MS = 45_000;
const ACTIVE_POLL_MS = 5_000;

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
  /** @type {SfuCall|null} */
  call: null,
  ring: null,
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
    for (const c of calls) markLive(c.conversationId, c.conversationInfo, c.participantCount);
    renderConversations();
  });
  socket.on('group_call_started', ({ conversationId, conversationInfo }) => {
    markLive(conversationId, conversationInfo, state.live.get(conversationId) || 0);
    renderConversations();
    refreshActiveCalls();
  });
  socket.on('group_call_ended', ({ conversationId }) => {
    state.live.delete(conversationId);
    renderConversations();
    if (state.ring?.conversationId === conversationId) hideRing();
    if (state.call?.roomId === conversationId) {
      state.call.dispose();
      endCallView();
      toast('The call ended');
    }
  });
  socket.on('group_call_incoming', (data) => {
    if (data.conversationInfo) addConversation(data.conversationInfo);
    if (state.call?.roomId !== data.conversationId) showRing(data);
  });
  socket.on('group_call_error', ({ message }) => toast(message, 'error'));

  socket.on('newProducer', (p) => state.call?.consume(p));
  socket.on('participantLeft', ({ socketId }) => {
    state.call?.participantLeft(socketId);
    updateCallStatus();
  });
  socket.on('producerClosed', ({ producerId }) => state.call?.producerClosed(producerId));

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
    for (const c of calls) markLive(c.conversationId, c.conversationInfo, c.participantCount);
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

function markLive(conversationId, info, count) {
  if (info) addConversation(info);
  else if (!state.conversations.has(conversationId)) addConversation({ id: conversationId });
  state.live.set(conversationId, count);
}

// ---------------------------------------------------------------------------------------------
// conversations

function renderConversations() {
  const items = [...state.conversations.values()].map((c) => {
    const live = state.live.has(c.id);
    const count = state.live.get(c.id);
    const inCall = state.call?.roomId === c.id;
    let actions;
    if (inCall) {
      actions = [h('span.in-call', {}, 'In call')];
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
        live ? h('span.live-badge', {}, count ? `● Live · ${count}` : '● Live') : h('span.muted.small', {}, 'No call')),
      h('div.conv-actions', {}, actions));
  });
  if (!items.length) items.push(h('li.muted', {}, 'No conversations'));
  $('conversations').replaceChildren(...items);
}

// ---------------------------------------------------------------------------------------------
// calls

async function startCall(conversationId, callType) {
  state.socket.emit('group_call_initiate', { callerId: state.me.id, conversationId, callType });
  await joinCall(conversationId, callType);
}

async function joinCall(conversationId, callType = 'video') {
  hideRing();
  if (state.call?.roomId === conversationId) return;
  await leaveCall();
  const call = new SfuCall({
    socket: state.socket, roomId: conversationId, callType, me: state.me, grid, notify: toast,
  });
  state.call = call;
  $('idle').hidden = true;
  $('call').hidden = false;
  $('call-title').textContent = state.conversations.get(conversationId)?.name || 'Group call';
  renderConversations();
  updateControls();
  try {
    await call.join();
  } catch (e) {
    toast(`Cannot join the call: ${e.message}`, 'error');
    if (state.call === call) await leaveCall();
    return;
  }
  updateControls();
  updateCallStatus();
  refreshActiveCalls();
}

async function leaveCall() {
  const call = state.call;
  if (!call) return;
  state.call = null;
  await call.leave();
  endCallView();
  refreshActiveCalls();
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
}

new MutationObserver(updateCallStatus).observe($('grid'), { childList: true });

$('btn-mic').addEventListener('click', () => {
  state.call?.setMic(!state.call.micOn);
  updateControls();
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

function showRing(data) {
  hideRing();
  state.ring = data;
  const caller = data.callerInfo || { id: data.callerId, name: `User ${data.callerId}` };
  $('ring-avatar').replaceChildren(avatar(caller, 'lg'));
  $('ring-caller').textContent = `${caller.name} is calling`;
  $('ring-what').textContent = `${data.callType === 'audio' ? 'Audio' : 'Video'} call · ${data.conversationInfo?.name || 'Group call'}`;
  $('ring').hidden = false;
  $('ring').dataset.conversation = data.conversationId;
  state.ring.timer = setTimeout(hideRing, RING_TIMEOUT_MS);
}

function hideRing() {
  if (state.ring) clearTimeout(state.ring.timer);
  state.ring = null;
  $('ring').hidden = true;
}

$('ring-accept').addEventListener('click', () => {
  const ring = state.ring;
  if (ring) joinCall(ring.conversationId, ring.callType === 'audio' ? 'audio' : 'video');
});
// Declining a group call needs no socket event: just dismiss.
$('ring-decline').addEventListener('click', hideRing);

// ---------------------------------------------------------------------------------------------
// test hook and start-up

window.__huddle = {
  get me() { return state.me; },
  get socketId() { return state.socket?.id ?? null; },
  get connected() { return Boolean(state.socket?.connected); },
  get inCall() { return state.call?.roomId ?? null; },
  live: () => Object.fromEntries(state.live),
  stats: () => (state.call ? state.call.stats() : Promise.resolve(null)),
};

await loadDirectory();
const params = new URLSearchParams(location.search);
const saved = JSON.parse(sessionStorage.getItem('huddle.session') || 'null');
if (params.get('user')) signIn({ userId: params.get('user'), token: params.get('token') });
else if (saved?.userId) signIn(saved);

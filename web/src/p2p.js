// Peer-to-peer calls, signalled through Huddle but with media flowing browser to browser:
// mesh group calls (seed 003: `groupcall:*`) and 1:1 calls (seed 004: `initiate-call`, …).
import { localMedia } from './sfu-call.js';
import { request } from './signal.js';

/** No STUN/TURN: the demo works on one machine or a LAN (add iceServers for more). */
const RTC_CONFIG = { iceServers: [] };

/**
 * One RTCPeerConnection to one remote party: sends the local tracks, shows the remote ones
 * on the grid tile `key`, and queues remote ICE candidates until the remote description is set.
 */
class Peer {
  constructor({ key, info, grid, stream, sendCandidate }) {
    Object.assign(this, { key, info, grid });
    this.pc = new RTCPeerConnection(RTC_CONFIG);
    this.pending = [];
    for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
    // Receive both kinds even when sending only one (audio-only devices).
    for (const kind of ['audio', 'video']) {
      if (!stream.getTracks().some((t) => t.kind === kind)) this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    this.pc.onicecandidate = ({ candidate }) => { if (candidate) sendCandidate(candidate.toJSON()); };
    this.pc.ontrack = ({ track }) => {
      this.grid.setTrack(this.key, track.kind, track);
      track.addEventListener('ended', () => this.grid.setTrack(this.key, track.kind, null));
    };
    grid.upsert(key, info);
  }

  async offer() {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return { type: offer.type, sdp: offer.sdp };
  }

  async answer(offer) {
    await this.#remote(offer);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return { type: answer.type, sdp: answer.sdp };
  }

  async accepted(answer) {
    await this.#remote(answer);
  }

  async candidate(candidate) {
    if (!candidate) return;
    if (this.pc.remoteDescription) await this.pc.addIceCandidate(candidate).catch(() => {});
    else this.pending.push(candidate);
  }

  /** Remote video off (per `tracks-updated`): show the avatar even if frames still arrive. */
  showVideo(on) {
    const receiver = this.pc.getReceivers().find((r) => r.track?.kind === 'video');
    this.grid.setTrack(this.key, 'video', on && receiver ? receiver.track : null);
  }

  async stats() {
    const entry = { userId: String(this.info.userId), name: this.info.name, audio: null, video: null };
    (await this.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp' || !(s.packetsReceived > 0)) return;
      entry[s.kind] = {
        packetsReceived: s.packetsReceived, bytesReceived: s.bytesReceived,
        framesDecoded: s.framesDecoded, frameWidth: s.frameWidth, frameHeight: s.frameHeight,
      };
    });
    return entry;
  }

  close() {
    this.pc.close();
    this.grid.remove(this.key);
  }

  async #remote(description) {
    await this.pc.setRemoteDescription(description);
    for (const c of this.pending.splice(0)) await this.pc.addIceCandidate(c).catch(() => {});
  }
}

/** What the local user sends; shared by both modes. */
class LocalMedia {
  constructor(grid, me) {
    this.grid = grid;
    this.me = me;
    this.stream = new MediaStream();
  }

  async start(callType, notify) {
    const { stream, problem } = await localMedia(callType === 'video');
    if (problem && !stream.getTracks().length) notify(`No camera or microphone (${problem}): receive only`);
    this.stream = stream;
    this.grid.upsert('local', { userId: this.me.id, name: this.me.name, avatar: this.me.avatar }, { local: true });
    this.grid.setTrack('local', 'video', stream.getVideoTracks()[0] || null);
    return stream;
  }

  get micOn() {
    return this.stream.getAudioTracks().some((t) => t.enabled);
  }

  get cameraOn() {
    return this.stream.getVideoTracks().some((t) => t.enabled);
  }

  /** track.enabled: the peer connection keeps the sender, it sends silence / black. */
  setEnabled(kind, on) {
    const tracks = kind === 'audio' ? this.stream.getAudioTracks() : this.stream.getVideoTracks();
    tracks.forEach((t) => { t.enabled = on; });
    if (kind === 'audio') this.grid.setMuted('local', !on);
    else this.grid.setTrack('local', 'video', on ? tracks[0] || null : null);
    return tracks.length > 0;
  }

  stop() {
    this.stream.getTracks().forEach((t) => t.stop());
  }
}

/**
 * A mesh group call in a conversation: `groupcall:join` returns the participants already
 * there; the joiner offers to each of them (so offers never cross); everyone relays ICE via
 * `groupcall:webrtc-ice-candidate`; mute / camera go out as `groupcall:update-tracks`.
 */
export class MeshCall {
  constructor({ socket, roomId, callType, me, grid, notify }) {
    Object.assign(this, { socket, roomId, callType, me, grid, notify });
    this.mode = 'mesh';
    this.local = new LocalMedia(grid, me);
    /** socketId → Peer */
    this.peers = new Map();
    this.closed = false;
  }

  async join({ invite = false } = {}) {
    const stream = await this.local.start(this.callType, this.notify);
    const tracks = { audio: stream.getAudioTracks().length > 0, video: stream.getVideoTracks().length > 0 };
    const joined = await request(this.socket, 'groupcall:join', { roomId: this.roomId, tracks });
    for (const p of joined.participants) {
      const peer = this.#peer(p);
      const offer = await peer.offer();
      await this.#send('groupcall:webrtc-offer', p, { offer });
    }
    if (invite) {
      await request(this.socket, 'groupcall:invitation', { roomId: this.roomId, callType: this.callType })
        .catch((e) => this.notify(e.message, 'error'));
    }
  }

  /** Socket events of the mesh protocol (the page routes `groupcall:*` here). */
  async handle(event, data) {
    if (this.closed || (data.roomId && data.roomId !== this.roomId)) return;
    const key = data.senderSocketId || data.socketId;
    switch (event) {
      case 'groupcall:participant-joined':
        // The newcomer sends the offer; show the tile right away.
        this.grid.upsert(data.socketId, data.participantInfo || { userId: data.userId, name: `User ${data.userId}` });
        break;
      case 'groupcall:webrtc-offer': {
        const peer = this.peers.get(key) || this.#peer({
          userId: data.senderId, socketId: key,
          participantInfo: this.grid.tiles.get(key)?.info || { userId: data.senderId, name: `User ${data.senderId}` },
        });
        const answer = await peer.answer(data.offer);
        await this.#send('groupcall:webrtc-answer', { userId: data.senderId, socketId: key }, { answer });
        break;
      }
      case 'groupcall:webrtc-answer':
        await this.peers.get(key)?.accepted(data.answer);
        break;
      case 'groupcall:webrtc-ice-candidate':
        await this.peers.get(key)?.candidate(data.candidate);
        break;
      case 'groupcall:tracks-updated':
        this.grid.setMuted(key, data.tracks.audio === false);
        this.peers.get(key)?.showVideo(data.tracks.video !== false);
        break;
      case 'groupcall:participant-left':
        this.peers.get(key)?.close();
        this.peers.delete(key);
        this.grid.remove(key);
        break;
      default:
    }
  }

  get micOn() { return this.local.micOn; }
  get cameraOn() { return this.local.cameraOn; }

  setMic(on) { this.#setTrack('audio', on); }

  async setCamera(on) { this.#setTrack('video', on); }

  async leave() {
    if (this.closed) return;
    await request(this.socket, 'groupcall:leave', { roomId: this.roomId }).catch(() => {});
    this.dispose();
  }

  dispose() {
    this.closed = true;
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    this.local.stop();
    this.grid.clear();
  }

  async stats() {
    const remote = [];
    for (const [socketId, peer] of this.peers) remote.push({ socketId, ...(await peer.stats()) });
    return { mode: 'mesh', roomId: this.roomId, socketId: this.socket.id, local: trackState(this.local), remote };
  }

  #setTrack(kind, on) {
    if (!this.local.setEnabled(kind, on)) {
      this.notify(kind === 'audio' ? 'No microphone' : 'No camera');
      return;
    }
    this.socket.emit('groupcall:update-tracks', { roomId: this.roomId, tracks: { [kind]: on } });
  }

  #peer(p) {
    const peer = new Peer({
      key: p.socketId,
      info: p.participantInfo || { userId: p.userId, name: `User ${p.userId}` },
      grid: this.grid,
      stream: this.local.stream,
      sendCandidate: (candidate) => this.#send('groupcall:webrtc-ice-candidate', p, { candidate }).catch(() => {}),
    });
    this.peers.set(p.socketId, peer);
    return peer;
  }

  #send(event, to, payload) {
    return request(this.socket, event, {
      roomId: this.roomId, targetUserId: to.userId, targetSocketId: to.socketId, ...payload,
    });
  }
}

/** `call-rejected` / `call-ended` reasons, for the toast. */
const REJECTED = { rejected: 'declined', busy: 'is busy', unavailable: 'is not available' };
const ENDED = { hangup: 'ended', cancelled: 'was cancelled', timeout: 'was not answered', disconnect: 'ended: connection lost' };

/**
 * A 1:1 call: the caller sends its offer with `initiate-call`, the callee answers with
 * `call-accepted`; ICE goes through `ice-candidate`; either side ends with `call-ended`.
 */
export class DirectCall {
  constructor({ socket, peer, callType, me, grid, notify, onEnded }) {
    Object.assign(this, { socket, peerUser: peer, callType, me, grid, notify, onEnded });
    this.mode = 'direct';
    this.roomId = null;
    this.callId = null;
    this.local = new LocalMedia(grid, me);
    this.peer = null;
    this.closed = false;
  }

  /** Caller: ring `peer` (`{id, name, avatar}`); resolves once the call rings. */
  async call() {
    const stream = await this.local.start(this.callType, this.notify);
    this.#connect(stream);
    const offer = await this.peer.offer();
    const res = await request(this.socket, 'initiate-call', {
      targetUserId: this.peerUser.id, callerId: this.me.id, callerName: this.me.name, offer, callType: this.callType,
    });
    this.callId = res.callId;
  }

  /**
   * Callee: accept the `incoming-call` payload. `early`: the caller's ICE candidates that
   * arrived while it was ringing.
   */
  async accept(incoming, early = []) {
    this.callId = incoming.callId;
    const stream = await this.local.start(this.callType, this.notify);
    this.#connect(stream);
    const answer = await this.peer.answer(incoming.offer);
    for (const candidate of early) await this.peer.candidate(candidate);
    await request(this.socket, 'call-accepted', { targetUserId: this.peerUser.id, callId: this.callId, answer });
  }

  /** Socket events of the 1:1 protocol (the page routes them here). */
  async handle(event, data) {
    if (this.closed || (this.callId && data.callId && data.callId !== this.callId)) return;
    switch (event) {
      case 'call-accepted':
        await this.peer?.accepted(data.answer);
        break;
      case 'ice-candidate':
        await this.peer?.candidate(data.candidate);
        break;
      case 'call-rejected':
        this.notify(`${this.peerUser.name} ${REJECTED[data.reason] || 'declined'}`);
        this.dispose();
        break;
      case 'call-ended':
        this.notify(`Call with ${this.peerUser.name} ${ENDED[data.reason] || 'ended'}`);
        this.dispose();
        break;
      default:
    }
  }

  get micOn() { return this.local.micOn; }
  get cameraOn() { return this.local.cameraOn; }

  setMic(on) {
    if (!this.local.setEnabled('audio', on)) this.notify('No microphone');
  }

  async setCamera(on) {
    if (!this.local.setEnabled('video', on)) this.notify('No camera');
  }

  async leave() {
    if (this.closed) return;
    this.socket.emit('call-ended', { targetUserId: this.peerUser.id, callId: this.callId });
    this.dispose();
  }

  dispose() {
    if (this.closed) return;
    this.closed = true;
    this.peer?.close();
    this.local.stop();
    this.grid.clear();
    this.onEnded?.(this);
  }

  async stats() {
    const remote = this.peer ? [{ socketId: null, ...(await this.peer.stats()) }] : [];
    return { mode: 'direct', callId: this.callId, socketId: this.socket.id, local: trackState(this.local), remote };
  }

  #connect(stream) {
    this.peer = new Peer({
      key: 'peer',
      info: { userId: this.peerUser.id, name: this.peerUser.name, avatar: this.peerUser.avatar },
      grid: this.grid,
      stream,
      sendCandidate: (candidate) => this.socket.emit('ice-candidate', {
        targetUserId: this.peerUser.id, callId: this.callId, candidate,
      }),
    });
  }
}

function trackState(local) {
  const out = {};
  for (const t of local.stream.getTracks()) out[t.kind] = { enabled: t.enabled };
  return out;
}

// A group call through Huddle's SFU, following the protocol guide: createRoom → Device.load →
// createTransport ×2 → produce the local tracks → getProducers → consume (+ newProducer).
import { Device } from 'mediasoup-client';
import { request } from './signal.js';

const VIDEO_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 20 } };

/**
 * The local camera and microphone, or whatever of them exists: audio-only and video-only
 * devices produce one track, a device with neither (or a refused permission) joins
 * receive-only with an empty stream.
 */
export async function localMedia(wantVideo) {
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream: new MediaStream(), problem: 'camera and microphone need https (or localhost)' };
  }
  const attempts = wantVideo
    ? [{ audio: true, video: VIDEO_CONSTRAINTS }, { audio: true }, { video: VIDEO_CONSTRAINTS }]
    : [{ audio: true }];
  let problem = null;
  for (const constraints of attempts) {
    try {
      return { stream: await navigator.mediaDevices.getUserMedia(constraints), problem };
    } catch (e) {
      problem = `${e.name}: ${e.message}`;
      if (e.name === 'NotAllowedError') break;
    }
  }
  return { stream: new MediaStream(), problem };
}

export class SfuCall {
  /**
   * @param {object} o
   * @param {import('socket.io-client').Socket} o.socket
   * @param {string} o.roomId conversation id
   * @param {'video'|'audio'} o.callType
   * @param {{id: string, name: string, avatar: string|null}} o.me
   * @param {import('./grid.js').Grid} o.grid
   * @param {(message: string, kind?: string) => void} o.notify
   */
  constructor({ socket, roomId, callType, me, grid, notify }) {
    Object.assign(this, { socket, roomId, callType, me, grid, notify });
    this.mode = 'sfu';
    this.device = null;
    this.send = null;
    this.recv = null;
    /** 'audio' | 'video' | 'screen' → Producer */
    this.producers = new Map();
    /** producerId → { consumer, socketId, key (its tile), source, paused (by the server) } */
    this.consumers = new Map();
    /** producerId → paused, for producers announced paused before they are consumed */
    this.pausedProducers = new Map();
    /** socketId of the dominant speaker */
    this.speaker = null;
    this.resizeObserver = typeof ResizeObserver === 'function'
      ? new ResizeObserver((entries) => entries.forEach((e) => this.#tileResized(e.target)))
      : null;
    this.visibilityObserver = typeof IntersectionObserver === 'function'
      ? new IntersectionObserver((entries) => entries.forEach((e) => this.#tileVisible(e.target, e.isIntersecting)))
      : null;
    /** socketId → participantInfo */
    this.participants = new Map();
    this.requested = new Set();
    this.closed = false;
    this.localKey = 'local';
    this.ready = new Promise((resolve, reject) => { this.markReady = resolve; this.markFailed = reject; });
    this.ready.catch(() => {});
  }

  /** Enters the room and starts sending and receiving. */
  async join() {
    this.grid.upsert(this.localKey, { userId: this.me.id, name: this.me.name, avatar: this.me.avatar }, { local: true });
    try {
      const { rtpCapabilities, participants, activeSpeaker } = await this.#req('createRoom', { roomId: this.roomId });
      // The room as it is (Huddle addition): tiles, muted and camera-off states, the speaker.
      for (const p of participants || []) {
        this.participants.set(p.socketId, p.participantInfo);
        this.grid.upsert(p.socketId, p.participantInfo);
        for (const producer of p.producers || []) this.pausedProducers.set(producer.id, producer.paused);
        const mic = (p.producers || []).find((x) => x.kind === 'audio');
        if (mic) this.grid.setMuted(p.socketId, mic.paused);
      }
      if (activeSpeaker) this.activeSpeaker(activeSpeaker);
      this.device = new Device();
      await this.device.load({ routerRtpCapabilities: rtpCapabilities });
      this.send = await this.#transport('send');
      this.recv = await this.#transport('recv');
      this.markReady();
    } catch (e) {
      this.markFailed(e);
      throw e;
    }
    const { stream, problem } = await localMedia(this.callType === 'video');
    if (problem && stream.getTracks().length < (this.callType === 'video' ? 2 : 1)) {
      this.notify(`Using ${describe(stream)} (${problem})`);
    }
    for (const track of stream.getTracks()) await this.#produce(track, track.kind === 'video' ? 'camera' : 'microphone');
    const { producers } = await this.#req('getProducers', {});
    await Promise.all(producers.map((p) => this.consume({
      producerId: p.id, kind: p.kind, socketId: p.socketId, participantInfo: p.participantInfo,
      paused: p.paused, source: p.source,
    })));
  }

  /** `newProducer` / an entry of `getProducers`: consume it and show it on its tile. */
  async consume({ producerId, socketId, participantInfo, paused, source }) {
    if (socketId === this.socket.id || this.requested.has(producerId)) return;
    this.requested.add(producerId);
    await this.ready;
    if (this.closed) return;
    const info = participantInfo || { userId: '', name: 'Guest', avatar: null };
    this.participants.set(socketId, info);
    this.grid.upsert(socketId, info);
    try {
      const res = await this.#req('consume', {
        transportId: this.recv.id, producerId, rtpCapabilities: this.device.rtpCapabilities,
      });
      const consumer = await this.recv.consume({
        id: res.id, producerId: res.producerId, kind: res.kind, rtpParameters: res.rtpParameters,
      });
      if (this.closed) return consumer.close();
      const kind = consumer.kind;
      const src = res.appData?.source || source || (kind === 'video' ? 'camera' : 'microphone');
      const screen = src === 'screen' || src === 'screen-audio';
      const key = screen ? `${socketId}:screen` : socketId;
      if (screen) this.grid.upsert(key, { ...info, name: `${info.name}'s screen` }, { screen: true });
      const producerPaused = res.producerPaused ?? paused ?? this.pausedProducers.get(producerId) ?? false;
      const entry = { consumer, socketId, key, source: src, type: res.type, hidden: false, layer: null };
      this.consumers.set(producerId, entry);
      this.grid.setTrack(key, kind, consumer.track);
      this.#showPaused(entry, producerPaused);
      await this.#req('resumeConsumer', { consumerId: consumer.id });
      if (kind === 'video') this.#watch(key);
    } catch (e) {
      if (!this.closed) this.notify(`Cannot receive ${info.name}'s media: ${e.message}`, 'error');
    }
  }

  /** `producerPaused` / `producerResumed` (Huddle additions): muted icon, or the avatar. */
  producerPausedChanged({ producerId }, paused) {
    this.pausedProducers.set(producerId, paused);
    const entry = this.consumers.get(producerId);
    if (entry) this.#showPaused(entry, paused);
  }

  /** `activeSpeaker` (Huddle addition): the speaking ring moves to that tile. */
  activeSpeaker({ socketId }) {
    this.speaker = socketId;
    this.grid.setSpeaking(socketId === this.socket.id ? this.localKey : socketId);
  }

  /** `connectionQuality` (Huddle addition): the tile's quality dot. */
  connectionQuality({ socketId, quality }) {
    this.grid.setQuality(socketId === this.socket.id ? this.localKey : socketId, quality);
  }

  #showPaused(entry, paused) {
    if (entry.consumer.kind === 'audio') this.grid.setMuted(entry.key, paused);
    else this.grid.setVideoPaused(entry.key, paused);
  }

  /** Follows a video tile's size (preferred layer) and visibility (pause when hidden). */
  #watch(key) {
    const el = this.grid.element(key);
    if (!el) return;
    this.resizeObserver?.observe(el);
    this.visibilityObserver?.observe(el);
  }

  #entriesOf(el) {
    return [...this.consumers.values()].filter((c) => c.key === el.dataset.socket && c.consumer.kind === 'video');
  }

  /** The spatial layer a tile of this width needs (simulcast: ¼, ½, full resolution). */
  static layerFor(width) {
    if (width < 240) return 0;
    if (width < 480) return 1;
    return 2;
  }

  #tileResized(el) {
    const width = el.getBoundingClientRect().width;
    for (const entry of this.#entriesOf(el)) {
      if (entry.type !== 'simulcast' && entry.type !== 'svc') continue;
      const layer = SfuCall.layerFor(width);
      if (entry.layer === layer) continue;
      entry.layer = layer;
      this.#req('setConsumerPreferredLayers', { consumerId: entry.consumer.id, spatialLayer: layer })
        .catch(() => {});
    }
  }

  #tileVisible(el, visible) {
    for (const entry of this.#entriesOf(el)) {
      if (entry.hidden === !visible) continue;
      entry.hidden = !visible;
      const event = visible ? 'resumeConsumer' : 'pauseConsumer';
      this.#req(event, { consumerId: entry.consumer.id }).catch(() => {});
    }
  }

  /** `participantLeft`: drop the tile and its consumers. */
  participantLeft(socketId) {
    for (const [producerId, c] of this.consumers) {
      if (c.socketId === socketId) {
        c.consumer.close();
        this.consumers.delete(producerId);
      }
    }
    this.participants.delete(socketId);
    this.grid.remove(socketId);
    this.grid.remove(`${socketId}:screen`);
  }

  /** `producerClosed` (Huddle addition): e.g. a camera turned off; the avatar shows again. */
  producerClosed(producerId) {
    const c = this.consumers.get(producerId);
    if (!c) return;
    c.consumer.close();
    this.consumers.delete(producerId);
    if (c.key !== c.socketId) this.grid.remove(c.key);
    else this.grid.setTrack(c.key, c.consumer.kind, null);
  }

  get micOn() {
    const p = this.producers.get('audio');
    return Boolean(p && !p.paused);
  }

  get cameraOn() {
    const p = this.producers.get('video');
    return Boolean(p && !p.paused);
  }

  get sharing() {
    return this.producers.has('screen');
  }

  /** Mute / unmute: pauses the audio producer here and on the server (`pauseProducer`), so
   * the others see the muted icon. */
  async setMic(on) {
    const p = this.producers.get('audio');
    if (!p) {
      this.notify('No microphone');
      return;
    }
    await this.#setPaused(p, !on);
    this.grid.setMuted(this.localKey, !on);
  }

  /** Camera off / on: pauses the camera producer (the others see the avatar, not a frozen
   * frame); without one yet, on produces it. */
  async setCamera(on) {
    const current = this.producers.get('video');
    if (current) {
      await this.#setPaused(current, !on);
      this.grid.setVideoPaused(this.localKey, !on);
    } else if (on) {
      let track;
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: VIDEO_CONSTRAINTS });
        track = stream.getVideoTracks()[0];
      } catch (e) {
        this.notify(`No camera (${e.name}: ${e.message})`);
        return;
      }
      await this.#produce(track, 'camera');
    }
  }

  /** Screen share on (`getDisplayMedia`, produced with `appData.source: "screen"`) or off
   * (`closeProducer`). */
  async setScreen(on) {
    const current = this.producers.get('screen');
    if (!on && current) {
      this.producers.delete('screen');
      current.close();
      this.grid.remove(`${this.localKey}:screen`);
      await this.#req('closeProducer', { producerId: current.id }).catch(() => {});
    } else if (on && !current) {
      let track;
      try {
        const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        track = stream.getVideoTracks()[0];
      } catch (e) {
        this.notify(`No screen share (${e.name}: ${e.message})`);
        return;
      }
      await this.#produce(track, 'screen');
    }
  }

  async #setPaused(producer, paused) {
    if (paused) producer.pause();
    else producer.resume();
    await this.#req(paused ? 'pauseProducer' : 'resumeProducer', { producerId: producer.id })
      .catch((e) => this.notify(e.message, 'error'));
  }

  /** Leaves the room (`leaveRoom`) and releases everything. */
  async leave() {
    if (this.closed) return;
    this.closed = true;
    await this.#req('leaveRoom', {}).catch(() => {});
    this.dispose();
  }

  /** Releases everything without telling the server (it already knows: socket gone, call ended). */
  dispose() {
    this.closed = true;
    this.resizeObserver?.disconnect();
    this.visibilityObserver?.disconnect();
    for (const p of this.producers.values()) p.close();
    for (const { consumer } of this.consumers.values()) consumer.close();
    this.send?.close();
    this.recv?.close();
    this.producers.clear();
    this.consumers.clear();
    this.participants.clear();
    this.grid.clear();
  }

  /** getStats() summary per remote participant (and what we send): the test hook. */
  async stats() {
    const remote = new Map();
    for (const [socketId, info] of this.participants) {
      remote.set(socketId, { socketId, userId: String(info.userId), name: info.name, audio: null, video: null });
    }
    for (const { consumer, socketId, source } of this.consumers.values()) {
      const report = await consumer.getStats();
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const entry = remote.get(socketId);
        if (entry) {
          entry[source === 'screen' ? 'screen' : consumer.kind] = {
            packetsReceived: s.packetsReceived ?? 0,
            bytesReceived: s.bytesReceived ?? 0,
            framesDecoded: s.framesDecoded,
            frameWidth: s.frameWidth,
            frameHeight: s.frameHeight,
          };
        }
      });
    }
    const local = {};
    for (const [kind, producer] of this.producers) {
      const report = await producer.getStats();
      report.forEach((s) => {
        if (s.type === 'outbound-rtp') local[kind] = { packetsSent: s.packetsSent ?? 0, paused: producer.paused };
      });
    }
    return { roomId: this.roomId, socketId: this.socket.id, local, remote: [...remote.values()] };
  }

  async #produce(track, source) {
    // The camera goes out as three simulcast layers (¼, ½ and full resolution), so each
    // viewer's tile asks for the layer its size needs.
    const encodings = source === 'camera'
      ? [
        { scaleResolutionDownBy: 4, maxBitrate: 150_000 },
        { scaleResolutionDownBy: 2, maxBitrate: 400_000 },
        { scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
      ]
      : undefined;
    const producer = await this.send.produce({ track, encodings, appData: { source } });
    const slot = source === 'screen' ? 'screen' : track.kind;
    this.producers.set(slot, producer);
    producer.on('trackended', () => {
      if (source === 'screen') {
        this.setScreen(false);
        return;
      }
      this.notify(`Your ${track.kind === 'video' ? 'camera' : 'microphone'} stopped`);
      if (track.kind === 'video') this.setCamera(false);
    });
    if (source === 'screen') {
      const key = `${this.localKey}:screen`;
      this.grid.upsert(key, { userId: this.me.id, name: `${this.me.name}'s screen`, avatar: this.me.avatar }, { local: true, screen: true });
      this.grid.setTrack(key, 'video', track);
    } else if (track.kind === 'video') {
      this.grid.setTrack(this.localKey, 'video', track);
      this.grid.setVideoPaused(this.localKey, false);
    } else this.grid.setMuted(this.localKey, false);
  }

  async #transport(direction) {
    const info = await this.#req('createTransport', { type: direction });
    const params = {
      id: info.id, iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates, dtlsParameters: info.dtlsParameters,
    };
    const transport = direction === 'send'
      ? this.device.createSendTransport(params)
      : this.device.createRecvTransport(params);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.#req('connectTransport', { transportId: transport.id, dtlsParameters }).then(() => callback(), errback);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        this.#req('produce', { transportId: transport.id, kind, rtpParameters, appData })
          .then(({ id }) => callback({ id }), errback);
      });
    }
    transport.on('connectionstatechange', (state) => {
      if (state === 'failed' && !this.closed) this.#restartIce(transport);
    });
    return transport;
  }

  /** `restartIce` (Huddle addition) after an ICE failure. */
  async #restartIce(transport) {
    try {
      const { iceParameters } = await this.#req('restartIce', { transportId: transport.id });
      await transport.restartIce({ iceParameters });
    } catch (e) {
      this.notify(`Media connection lost: ${e.message}`, 'error');
    }
  }

  #req(event, data) {
    return request(this.socket, event, data);
  }
}

function describe(stream) {
  const kinds = stream.getTracks().map((t) => (t.kind === 'video' ? 'camera' : 'microphone'));
  return kinds.length ? `${kinds.join(' and ')} only` : 'no camera or microphone (receive only)';
}

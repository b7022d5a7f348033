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
    /** kind → Producer */
    this.producers = new Map();
    /** producerId → { consumer, socketId } */
    this.consumers = new Map();
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
      const { rtpCapabilities } = await this.#req('createRoom', { roomId: this.roomId });
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
    for (const track of stream.getTracks()) await this.#produce(track);
    const { producers } = await this.#req('getProducers', {});
    await Promise.all(producers.map((p) => this.consume({
      producerId: p.id, kind: p.kind, socketId: p.socketId, participantInfo: p.participantInfo,
    })));
  }

  /** `newProducer` / an entry of `getProducers`: consume it and show it on its tile. */
  async consume({ producerId, socketId, participantInfo }) {
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
      this.consumers.set(producerId, { consumer, socketId });
      this.grid.setTrack(socketId, consumer.kind, consumer.track);
      await this.#req('resumeConsumer', { consumerId: consumer.id });
    } catch (e) {
      if (!this.closed) this.notify(`Cannot receive ${info.name}'s media: ${e.message}`, 'error');
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
  }

  /** `producerClosed` (Huddle addition): e.g. a camera turned off; the avatar shows again. */
  producerClosed(producerId) {
    const c = this.consumers.get(producerId);
    if (!c) return;
    c.consumer.close();
    this.consumers.delete(producerId);
    this.grid.setTrack(c.socketId, c.consumer.kind, null);
  }

  get micOn() {
    const p = this.producers.get('audio');
    return Boolean(p && !p.paused);
  }

  get cameraOn() {
    return this.producers.has('video');
  }

  /** Mute / unmute: pauses the audio producer (its track sends silence). */
  setMic(on) {
    const p = this.producers.get('audio');
    if (!p) {
      this.notify('No microphone');
      return;
    }
    if (on) p.resume();
    else p.pause();
    this.grid.setMuted(this.localKey, !on);
  }

  /** Camera off closes the video producer (`closeProducer`); on produces a new one. */
  async setCamera(on) {
    const current = this.producers.get('video');
    if (!on && current) {
      this.producers.delete('video');
      current.close();
      this.grid.setTrack(this.localKey, 'video', null);
      await this.#req('closeProducer', { producerId: current.id }).catch(() => {});
    } else if (on && !current) {
      let track;
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: VIDEO_CONSTRAINTS });
        track = stream.getVideoTracks()[0];
      } catch (e) {
        this.notify(`No camera (${e.name}: ${e.message})`);
        return;
      }
      await this.#produce(track);
    }
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
    for (const { consumer, socketId } of this.consumers.values()) {
      const report = await consumer.getStats();
      report.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const entry = remote.get(socketId);
        if (entry) {
          entry[consumer.kind] = {
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

  async #produce(track) {
    const producer = await this.send.produce({ track });
    this.producers.set(track.kind, producer);
    producer.on('trackended', () => {
      this.notify(`Your ${track.kind === 'video' ? 'camera' : 'microphone'} stopped`);
      if (track.kind === 'video') this.setCamera(false);
    });
    if (track.kind === 'video') this.grid.setTrack(this.localKey, 'video', track);
    else this.grid.setMuted(this.localKey, false);
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
      transport.on('produce', ({ kind, rtpParameters }, callback, errback) => {
        this.#req('produce', { transportId: transport.id, kind, rtpParameters }).then(({ id }) => callback({ id }), errback);
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

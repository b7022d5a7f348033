// The video grid: one tile per participant (keyed by socket id), showing the video track when
// there is one and the avatar (or initials) otherwise. Remote audio plays from a hidden
// <audio> element inside the tile.
import { avatar, h } from './ui.js';

export class Grid {
  constructor(root) {
    this.root = root;
    /** @type {Map<string, {el: HTMLElement, video: HTMLVideoElement, audio: HTMLAudioElement, info: object}>} */
    this.tiles = new Map();
  }

  /** Creates (or relabels) the tile of `key`. `info`: `{ userId, name, avatar }`. */
  upsert(key, info, { local = false, screen = false } = {}) {
    let tile = this.tiles.get(key);
    if (!tile) {
      const video = h('video', { autoplay: true, playsInline: true, muted: true });
      const audio = h('audio', { autoplay: true });
      const el = h('div.tile', { dataset: { socket: key, user: String(info.userId ?? ''), local: String(local) } },
        video, audio, h('div.tile-avatar'),
        h('div.label', {}, h('span.quality', { title: 'connection quality' }), h('span.name'),
          h('span.mic-off', { title: 'muted' }, 'muted')));
      el.classList.toggle('screen', screen);
      tile = { el, video, audio, info, videoPaused: false };
      this.tiles.set(key, tile);
      this.root.append(el);
      this.#refresh(tile);
    }
    tile.info = { ...tile.info, ...info };
    const isLocal = tile.el.dataset.local === 'true';
    tile.el.querySelector('.name').textContent = isLocal && !tile.el.classList.contains('screen')
      ? `${tile.info.name} (you)` : tile.info.name;
    tile.el.querySelector('.tile-avatar').replaceChildren(
      avatar({ id: tile.info.userId, name: tile.info.name, avatar: tile.info.avatar }, 'lg'));
    this.#layout();
    return tile;
  }

  /** Shows `track` (or nothing, when null) as the tile's `kind` media. */
  setTrack(key, kind, track) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    const el = kind === 'video' ? tile.video : tile.audio;
    el.srcObject = track ? new MediaStream([track]) : null;
    if (track) el.play().catch(() => { /* autoplay policy: plays after the next click */ });
    this.#refresh(tile);
  }

  /** Marks the tile's microphone as muted or not. */
  setMuted(key, muted) {
    this.tiles.get(key)?.el.classList.toggle('muted', muted);
  }

  /** A paused camera shows the avatar instead of a frozen frame. */
  setVideoPaused(key, paused) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    tile.videoPaused = paused;
    this.#refresh(tile);
  }

  /** The speaking ring goes to `key`'s tile (and leaves the others). */
  setSpeaking(key) {
    for (const [k, tile] of this.tiles) tile.el.classList.toggle('speaking', k === key);
  }

  /** The quality dot of `key`'s tile: 'excellent' | 'good' | 'poor' | 'lost'. */
  setQuality(key, quality) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    tile.el.dataset.quality = quality;
    tile.el.querySelector('.quality').title = `connection: ${quality}`;
  }

  /** The tile element of `key` (or undefined). */
  element(key) {
    return this.tiles.get(key)?.el;
  }

  remove(key) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.audio.srcObject = null;
    tile.el.remove();
    this.tiles.delete(key);
    this.#layout();
  }

  clear() {
    for (const key of [...this.tiles.keys()]) this.remove(key);
  }

  get size() {
    return this.tiles.size;
  }

  #refresh(tile) {
    tile.el.classList.toggle('has-video', Boolean(tile.video.srcObject) && !tile.videoPaused);
  }

  #layout() {
    const n = Math.max(1, this.tiles.size);
    this.root.style.setProperty('--cols', String(Math.ceil(Math.sqrt(n))));
  }
}

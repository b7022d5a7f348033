//! One recorded track: a [`RecordingTap`] of one producer sending plain RTP to an FFmpeg
//! process that writes the track's file (`-c copy`: no transcoding).

use super::ports::PortPair;
use media_sfu::{RecordingTap, RoomRouter};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::sync::watch;

/// Where recorders receive RTP.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// How long FFmpeg may take to open its RTP input.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a killed FFmpeg may take to be gone.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long FFmpeg has to end by itself after SIGINT (it needs a packet to notice).
const SIGINT_GRACE: Duration = Duration::from_millis(700);
/// Key frames are requested this often until the recorder has some.
const KEY_FRAME_INTERVAL: Duration = Duration::from_millis(500);
/// ... for this long.
const KEY_FRAME_PERIOD: Duration = Duration::from_secs(4);

/// A track of a recording, as `manifest.json` lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackEntry {
    /// The recorded producer.
    pub producer_id: String,
    /// Its owner's socket.
    pub socket_id: String,
    /// Its owner.
    pub participant_info: signal_proto::ParticipantInfo,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// `"camera"`, `"microphone"`, `"screen"`, `"screen-audio"`.
    pub source: String,
    /// The codec (`opus`, `VP8`, `H264` …).
    pub codec: String,
    /// The file, relative to the recording's directory.
    pub file: String,
    /// When the track started, in ms from the recording's start.
    pub start_offset_ms: u64,
    /// When it ended (its producer closed, or the recording stopped).
    pub end_offset_ms: Option<u64>,
}

/// How a track's recorder ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It finished its file after being asked to.
    Stopped,
    /// It exited by itself (crash, full disk): the reason for `recordingStopped`.
    Failed(&'static str),
}

/// A running track.
pub struct Track {
    /// What the manifest says about it.
    pub entry: TrackEntry,
    dir: PathBuf,
    /// The file FFmpeg writes while recording (remuxed into `entry.file` at the stop).
    raw: String,
    ffmpeg: PathBuf,
    tap: Option<std::sync::Arc<RecordingTap>>,
    pid: Option<u32>,
    exited: watch::Receiver<Option<Exit>>,
    stopping: watch::Sender<bool>,
    _ports: PortPair,
}

/// The file extension of a codec: WebM for Opus / VP8 / VP9, Matroska for the rest (H264).
fn extension(codec: &str) -> &'static str {
    match codec.to_ascii_lowercase().as_str() {
        "opus" | "vp8" | "vp9" => "webm",
        _ => "mkv",
    }
}

/// Whether something listens on UDP `port` of the loopback address (the bind fails).
fn udp_listening(port: u16) -> bool {
    std::net::UdpSocket::bind((LOOPBACK, port)).is_err()
}

/// What start-up needs besides the tap.
pub struct TrackSpec<'a> {
    /// The recording's directory.
    pub dir: &'a Path,
    /// The track's index (file names).
    pub index: usize,
    /// The FFmpeg binary.
    pub ffmpeg: &'a Path,
    /// Its manifest entry so far (file and codec are filled in here).
    pub entry: TrackEntry,
}

impl Track {
    /// Tap `producer_id` on `router`, start FFmpeg on `ports`, wait until it listens, then
    /// let the media flow (and ask for key frames until the recorder has had time for one).
    pub async fn start(
        router: &RoomRouter,
        ports: PortPair,
        spec: TrackSpec<'_>,
    ) -> Result<Self, String> {
        let tap = router
            .record(&spec.entry.producer_id, LOOPBACK, ports.rtp, ports.rtcp)
            .await
            .map_err(|e| e.to_string())?;
        let codec = tap.codec().clone();
        let stem = format!(
            "track-{:02}-{}-{}",
            spec.index, spec.entry.participant_info.user_id, spec.entry.source
        );
        let stem: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let sdp_path = spec.dir.join(format!("{stem}.sdp"));
        let ext = extension(&codec.name);
        let file = format!("{stem}.{ext}");
        // FFmpeg writes a live (streamable) file packet by packet, so nothing is lost
        // however it ends; the stop remuxes it into the final file (duration, cues).
        let raw = format!("{stem}.live.{ext}");
        tokio::fs::write(&sdp_path, tap.sdp(LOOPBACK, ports.rtp, ports.rtcp))
            .await
            .map_err(|e| format!("writing {}: {e}", sdp_path.display()))?;
        let log = std::fs::File::create(spec.dir.join(format!("{stem}.log")))
            .map_err(|e| format!("creating the recorder log: {e}"))?;
        let mut child = tokio::process::Command::new(spec.ffmpeg)
            .args(["-nostdin", "-hide_banner", "-loglevel", "info"])
            .args(["-protocol_whitelist", "file,udp,rtp"])
            .args(["-fflags", "+genpts", "-reorder_queue_size", "256"])
            // A paused producer sends nothing for as long as it is paused.
            .args(["-listen_timeout", "86400"])
            .arg("-i")
            .arg(&sdp_path)
            .args([
                "-map",
                "0",
                "-c",
                "copy",
                "-live",
                "1",
                "-flush_packets",
                "1",
            ])
            .args(["-f", "matroska", "-y"])
            .arg(spec.dir.join(&raw))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", spec.ffmpeg.display()))?;
        let pid = child.id();
        let (exit_tx, exited) = watch::channel(None);
        let (stopping, mut stop_rx) = watch::channel(false);
        let log_path: PathBuf = spec.dir.join(format!("{stem}.log"));
        tokio::spawn(async move {
            let status = child.wait().await;
            let asked = *stop_rx.borrow_and_update();
            let exit = if asked {
                Exit::Stopped
            } else {
                let log = tokio::fs::read_to_string(&log_path)
                    .await
                    .unwrap_or_default();
                tracing::warn!(?status, log = %log.trim(), "recorder exited by itself");
                if log.contains("No space left on device") {
                    Exit::Failed("disk_full")
                } else {
                    Exit::Failed("recorder_failed")
                }
            };
            let _ = exit_tx.send(Some(exit));
        });
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        while !udp_listening(ports.rtp) {
            if exited.borrow().is_some() {
                return Err("the recorder exited at start".into());
            }
            if tokio::time::Instant::now() > deadline {
                return Err("the recorder did not open its RTP port".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tap.start().await.map_err(|e| e.to_string())?;
        if codec.kind == "video" {
            let _ = tap.request_key_frame().await;
        }
        let mut entry = spec.entry;
        entry.codec = codec.name.clone();
        entry.file = file;
        let track = Self {
            entry,
            dir: spec.dir.to_owned(),
            raw,
            ffmpeg: spec.ffmpeg.to_owned(),
            tap: Some(std::sync::Arc::new(tap)),
            pid,
            exited,
            stopping,
            _ports: ports,
        };
        Ok(track)
    }

    /// Ask for key frames a few times (video), in the background: the recorder cannot
    /// start a file without one. Ends early when the track stops.
    pub fn request_key_frames_in_background(&self) {
        if self.entry.kind != "video" {
            return;
        }
        let Some(tap) = self.tap.as_ref().map(std::sync::Arc::downgrade) else {
            return;
        };
        tokio::spawn(async move {
            let mut left = KEY_FRAME_PERIOD;
            while !left.is_zero() {
                let Some(tap) = tap.upgrade() else { return };
                if let Err(e) = tap.request_key_frame().await {
                    tracing::debug!(error = %e, "key frame request failed");
                    return;
                }
                drop(tap);
                tokio::time::sleep(KEY_FRAME_INTERVAL).await;
                left = left.saturating_sub(KEY_FRAME_INTERVAL);
            }
        });
    }

    /// Call `callback` once when the recorded producer closes.
    pub fn on_producer_close<F: FnOnce() + Send + 'static>(&self, callback: F) {
        if let Some(tap) = &self.tap {
            tap.on_producer_close(callback);
        }
    }

    /// A receiver that resolves when the recorder exits.
    pub fn exited(&self) -> watch::Receiver<Option<Exit>> {
        self.exited.clone()
    }

    /// Stop the track: FFmpeg gets SIGINT while media still flows (it ends at the next
    /// packet); one that waits for packets that no longer come (a closed or paused producer)
    /// is killed after 700 ms, which loses nothing (it wrote every packet). Then
    /// media stops (the ports are free) and the file is remuxed into its final form.
    pub async fn stop(mut self, end_offset_ms: u64) -> TrackEntry {
        let _ = self.stopping.send(true);
        let pid = self
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .map(nix::unistd::Pid::from_raw);
        let signal = |sig| {
            if let Some(pid) = pid {
                let _ = nix::sys::signal::kill(pid, sig);
            }
        };
        let mut exited = self.exited.clone();
        if exited.borrow().is_none() {
            signal(nix::sys::signal::Signal::SIGINT);
            let finished = tokio::time::timeout(SIGINT_GRACE, exited.wait_for(Option::is_some))
                .await
                .is_ok();
            if !finished {
                signal(nix::sys::signal::Signal::SIGKILL);
                let _ = tokio::time::timeout(STOP_TIMEOUT, exited.wait_for(Option::is_some)).await;
            }
        }
        self.tap = None;
        self.finish_file().await;
        let mut entry = self.entry.clone();
        entry.end_offset_ms = Some(end_offset_ms);
        entry
    }
}

impl Track {
    /// Remux the live file into the final one (`-c copy`: adds the duration and cues); the
    /// live file is removed when that worked, else kept under the final name.
    async fn finish_file(&self) {
        let raw = self.dir.join(&self.raw);
        let file = self.dir.join(&self.entry.file);
        if !std::fs::metadata(&raw).is_ok_and(|m| m.len() > 0) {
            let _ = tokio::fs::remove_file(&raw).await;
            return;
        }
        let status = tokio::process::Command::new(&self.ffmpeg)
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&raw)
            .args(["-map", "0", "-c", "copy"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if status.is_ok_and(|s| s.success()) {
            let _ = tokio::fs::remove_file(&raw).await;
        } else {
            tracing::warn!(file = %file.display(), "remuxing the track failed: keeping the live file");
            let _ = tokio::fs::rename(&raw, &file).await;
        }
    }
}

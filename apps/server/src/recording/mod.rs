//! Server-side recording (`docs/recording.md`): each producer of a recorded room goes to its
//! own FFmpeg through a plain RTP tap (one file per track), `manifest.json` lists the tracks
//! on one clock, and after the stop FFmpeg mixes them into `mixed.mp4`. The room always knows
//! (`recordingStarted` / `recordingStopped`, `recording` in the `createRoom` ack: the domain's
//! part); a recorder that fails stops its recording, never the call.

pub mod mix;
pub mod ports;
pub mod track;

use crate::app::App;
use crate::events::{HuddleEvent, rfc3339};
use call_domain::{RecordableProducer, RecordingStart};
use media_sfu::RoomRouter;
use parking_lot::Mutex;
use serde::Serialize;
use signal_proto::errors;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};
use tokio::sync::mpsc;
use track::{Exit, Track, TrackEntry, TrackSpec};

/// Why a recording request failed (the `Display` is the error string clients get).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordingError {
    /// No `--recording-dir`.
    #[error("{}", errors::RECORDING_NOT_CONFIGURED)]
    NotConfigured,
    /// Participants may not record (no `--allow-participant-recording`).
    #[error("{}", errors::RECORDING_NOT_ALLOWED)]
    NotAllowed,
    /// No call in that room.
    #[error("{}", errors::CALL_NOT_FOUND)]
    CallNotFound,
    /// The room is not being recorded.
    #[error("{}", errors::NOT_RECORDING)]
    NotRecording,
    /// Unknown recording id.
    #[error("{}", errors::RECORDING_NOT_FOUND)]
    NotFound,
    /// The recording could not be set up (directory, ports, recorder).
    #[error("Recording failed: {0}")]
    Failed(String),
}

/// A recording's state, as the admin API and the handle report it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingInfo {
    /// The recording.
    pub recording_id: String,
    /// The recorded call.
    pub conversation_id: String,
    /// `"recording"` or `"stopped"`.
    pub state: &'static str,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it stopped.
    pub stopped_at: Option<String>,
    /// Why it stopped: `"stopped"` (asked), `"call_ended"`, `"recorder_failed"`, `"disk_full"`.
    pub reason: Option<String>,
    /// Its files, relative to the recording directory (`<recordingId>/…`), once stopped.
    pub files: Vec<String>,
}

/// One recording in progress.
struct Recording {
    id: String,
    room: String,
    dir: PathBuf,
    router: RoomRouter,
    started: Instant,
    started_at: SystemTime,
    /// Producer id → its running track.
    tracks: tokio::sync::Mutex<HashMap<String, Track>>,
    /// Tracks whose producer closed.
    ended: Mutex<Vec<TrackEntry>>,
    next_index: AtomicUsize,
    stopping: AtomicBool,
}

impl Recording {
    fn offset_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The recordings of this server.
pub struct Recordings {
    dir: Option<PathBuf>,
    ffmpeg: PathBuf,
    ports: ports::Ports,
    allow_participants: bool,
    /// Room → its recording in progress.
    active: Mutex<HashMap<String, Arc<Recording>>>,
    /// Recording id → what is known of it (in progress or stopped).
    known: Mutex<HashMap<String, RecordingInfo>>,
    /// Producers that closed while recorded: `(recording id, producer id)`.
    closed_tx: mpsc::UnboundedSender<(String, String)>,
    closed_rx: Mutex<Option<mpsc::UnboundedReceiver<(String, String)>>>,
}

/// Recording settings (from the configuration).
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    /// `--recording-dir` (recording off without it).
    pub dir: Option<PathBuf>,
    /// The FFmpeg binary.
    pub ffmpeg: PathBuf,
    /// Recorder UDP ports.
    pub min_port: u16,
    /// Recorder UDP ports.
    pub max_port: u16,
    /// `--allow-participant-recording`.
    pub allow_participants: bool,
}

impl Recordings {
    /// Recordings with these settings.
    pub fn new(config: RecordingConfig) -> Self {
        let (closed_tx, closed_rx) = mpsc::unbounded_channel();
        Self {
            dir: config.dir,
            ffmpeg: config.ffmpeg,
            ports: ports::Ports::new(config.min_port, config.max_port),
            allow_participants: config.allow_participants,
            active: Mutex::default(),
            known: Mutex::default(),
            closed_tx,
            closed_rx: Mutex::new(Some(closed_rx)),
        }
    }

    /// Whether participants may start and stop recordings themselves.
    pub fn participants_may_record(&self) -> bool {
        self.allow_participants && self.dir.is_some()
    }

    /// What is known of recording `id`.
    pub fn info(&self, id: &str) -> Result<RecordingInfo, RecordingError> {
        self.known
            .lock()
            .get(id)
            .cloned()
            .ok_or(RecordingError::NotFound)
    }
}

/// Start the tasks of the recordings (once, after the [`App`] exists): closed producers end
/// their tracks; a call that ends stops its recording.
pub fn run(app: &Arc<App>) {
    if let Some(mut closed) = app.recordings.closed_rx.lock().take() {
        let weak = Arc::downgrade(app);
        tokio::spawn(async move {
            while let Some((recording, producer)) = closed.recv().await {
                let Some(app) = weak.upgrade() else { break };
                // Tracks end independently (each waits for its recorder).
                tokio::spawn(async move { end_track(&app, &recording, &producer).await });
            }
        });
    }
    let mut events = app.events.subscribe();
    let weak: Weak<App> = Arc::downgrade(app);
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(HuddleEvent::CallEnded {
                    conversation_id, ..
                }) => {
                    let Some(app) = weak.upgrade() else { break };
                    let recorded = app.recordings.active.lock().contains_key(&conversation_id);
                    if recorded {
                        let _ = stop(&app, &conversation_id, Some("call_ended")).await;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "recordings: lifecycle events lagged");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// A new recording id.
fn new_id() -> String {
    format!("rec_{}", uuid::Uuid::new_v4().simple())
}

/// Start recording room `room` (or return the recording already running there).
pub async fn start(app: &Arc<App>, room: &str) -> Result<String, RecordingError> {
    let recordings = &app.recordings;
    let base = recordings
        .dir
        .clone()
        .ok_or(RecordingError::NotConfigured)?;
    let id = new_id();
    let router = app
        .state
        .lock()
        .room(room)
        .map(|r| r.router.clone())
        .ok_or(RecordingError::CallNotFound)?;
    let dir = base.join(&id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| RecordingError::Failed(format!("creating {}: {e}", dir.display())))?;
    let started = app
        .state
        .lock()
        .start_recording(room, &id)
        .map_err(|_| RecordingError::CallNotFound)?;
    let effects = match started {
        RecordingStart::Running(current) => {
            let _ = tokio::fs::remove_dir(&dir).await;
            return Ok(current);
        }
        RecordingStart::Started(effects) => effects,
    };
    let recording = Arc::new(Recording {
        id: id.clone(),
        room: room.to_owned(),
        dir,
        router,
        started: Instant::now(),
        started_at: SystemTime::now(),
        tracks: tokio::sync::Mutex::default(),
        ended: Mutex::default(),
        next_index: AtomicUsize::new(0),
        stopping: AtomicBool::new(false),
    });
    recordings
        .active
        .lock()
        .insert(room.to_owned(), recording.clone());
    recordings.known.lock().insert(
        id.clone(),
        RecordingInfo {
            recording_id: id.clone(),
            conversation_id: room.to_owned(),
            state: "recording",
            started_at: rfc3339(recording.started_at),
            stopped_at: None,
            reason: None,
            files: Vec::new(),
        },
    );
    tracing::info!(room, recording = %id, "recording started");
    app.apply(effects);
    let producers = app.state.lock().room_producers(room);
    for producer in producers {
        add_track(app, &recording, producer).await;
    }
    Ok(id)
}

/// A producer appeared in room `room`: record it when the room is being recorded.
pub async fn producer_added(app: &Arc<App>, room: &str, producer_id: &str) {
    let recording = app.recordings.active.lock().get(room).cloned();
    let Some(recording) = recording else { return };
    let producer = app.state.lock().room_producer(room, producer_id);
    if let Some(producer) = producer {
        add_track(app, &recording, producer).await;
    }
}

async fn add_track(app: &Arc<App>, recording: &Arc<Recording>, producer: RecordableProducer) {
    if recording.stopping.load(Ordering::Acquire) {
        return;
    }
    let Some(ports) = app.recordings.ports.take() else {
        tracing::error!(recording = %recording.id, "no free recording port: track not recorded");
        return;
    };
    let index = recording.next_index.fetch_add(1, Ordering::AcqRel);
    let entry = TrackEntry {
        producer_id: producer.producer_id.clone(),
        socket_id: producer.socket.clone(),
        participant_info: producer.info.clone(),
        kind: producer.kind.clone(),
        source: producer.source.as_str().to_owned(),
        codec: String::new(),
        file: String::new(),
        start_offset_ms: recording.offset_ms(),
        end_offset_ms: None,
    };
    let spec = TrackSpec {
        dir: &recording.dir,
        index,
        ffmpeg: &app.recordings.ffmpeg,
        entry,
    };
    let track = match Track::start(&recording.router, ports, spec).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(recording = %recording.id, producer = %producer.producer_id, error = %e,
                "track not recorded");
            return;
        }
    };
    tracing::info!(recording = %recording.id, producer = %producer.producer_id,
        file = %track.entry.file, "recording track");
    // Failures of the recorder stop the recording (never the call).
    let mut exited = track.exited();
    let weak = Arc::downgrade(app);
    let room = recording.room.clone();
    let rec_id = recording.id.clone();
    tokio::spawn(async move {
        let exit = exited
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|e| e.clone());
        if let (Some(Exit::Failed(reason)), Some(app)) = (exit, weak.upgrade()) {
            let current = app
                .recordings
                .active
                .lock()
                .get(&room)
                .map(|r| r.id.clone());
            if current.as_deref() == Some(rec_id.as_str()) {
                tracing::error!(recording = %rec_id, reason, "recorder failed: recording stopped");
                let _ = stop(&app, &room, Some(reason)).await;
            }
        }
    });
    // The producer closing ends the track.
    let closed = app.recordings.closed_tx.clone();
    let (rec, pid) = (recording.id.clone(), producer.producer_id.clone());
    track.on_producer_close(move || {
        let _ = closed.send((rec, pid));
    });
    let mut tracks = recording.tracks.lock().await;
    if recording.stopping.load(Ordering::Acquire) {
        drop(tracks);
        let entry = track.stop(recording.offset_ms()).await;
        recording.ended.lock().push(entry);
        return;
    }
    let key_frames = tracks.entry(producer.producer_id).or_insert(track);
    key_frames.request_key_frames_in_background();
}

async fn end_track(app: &Arc<App>, recording_id: &str, producer_id: &str) {
    let recording = app
        .recordings
        .active
        .lock()
        .values()
        .find(|r| r.id == recording_id)
        .cloned();
    let Some(recording) = recording else { return };
    let track = recording.tracks.lock().await.remove(producer_id);
    if let Some(track) = track {
        let entry = track.stop(recording.offset_ms()).await;
        tracing::info!(recording = %recording.id, file = %entry.file, "track ended (producer closed)");
        recording.ended.lock().push(entry);
    }
}

/// Stop the recording of room `room` (`reason` when nobody asked): the room is told, every
/// recorder finishes its file, `manifest.json` and `mixed.mp4` are written, and
/// `recording_finished` is published.
pub async fn stop(
    app: &Arc<App>,
    room: &str,
    reason: Option<&str>,
) -> Result<RecordingInfo, RecordingError> {
    let recording = app
        .recordings
        .active
        .lock()
        .remove(room)
        .ok_or(RecordingError::NotRecording)?;
    recording.stopping.store(true, Ordering::Release);
    let effects = app.state.lock().stop_recording(room, &recording.id, reason);
    app.apply(effects);
    let end = recording.offset_ms();
    let tracks: Vec<Track> = recording
        .tracks
        .lock()
        .await
        .drain()
        .map(|(_, t)| t)
        .collect();
    let stopped = futures::future::join_all(tracks.into_iter().map(|t| t.stop(end))).await;
    let mut entries = std::mem::take(&mut *recording.ended.lock());
    entries.extend(stopped);
    entries.sort_by_key(|e| (e.start_offset_ms, e.file.clone()));
    let stopped_at = SystemTime::now();
    let mixed = mix(&app.recordings.ffmpeg, &recording.dir, &entries).await;
    let manifest = serde_json::json!({
        "recordingId": recording.id,
        "conversationId": recording.room,
        "startedAt": rfc3339(recording.started_at),
        "stoppedAt": rfc3339(stopped_at),
        "durationMs": end,
        "reason": reason.unwrap_or("stopped"),
        "tracks": entries,
        "mixed": mixed.then_some(mix::MIXED),
    });
    let manifest_path = recording.dir.join("manifest.json");
    if let Err(e) = tokio::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .await
    {
        tracing::error!(path = %manifest_path.display(), error = %e, "manifest not written");
    }
    let mut files: Vec<String> = entries
        .iter()
        .filter(|e| recording.dir.join(&e.file).is_file())
        .map(|e| format!("{}/{}", recording.id, e.file))
        .collect();
    files.push(format!("{}/manifest.json", recording.id));
    if mixed {
        files.push(format!("{}/{}", recording.id, mix::MIXED));
    }
    let reason = reason.unwrap_or("stopped").to_owned();
    let info = RecordingInfo {
        recording_id: recording.id.clone(),
        conversation_id: recording.room.clone(),
        state: "stopped",
        started_at: rfc3339(recording.started_at),
        stopped_at: Some(rfc3339(stopped_at)),
        reason: Some(reason.clone()),
        files: files.clone(),
    };
    app.recordings
        .known
        .lock()
        .insert(recording.id.clone(), info.clone());
    tracing::info!(room, recording = %recording.id, reason = %reason, files = files.len(), "recording finished");
    app.publish(vec![HuddleEvent::RecordingFinished {
        recording_id: recording.id.clone(),
        conversation_id: recording.room.clone(),
        files,
        reason,
        at: stopped_at,
    }]);
    Ok(info)
}

/// Stop every recording in progress (graceful shutdown), each with `reason`.
pub async fn stop_all(app: &Arc<App>, reason: &str) {
    let rooms: Vec<String> = app.recordings.active.lock().keys().cloned().collect();
    for room in rooms {
        let _ = stop(app, &room, Some(reason)).await;
    }
}

/// Mix the tracks into `mixed.mp4`; whether it was written.
async fn mix(ffmpeg: &Path, dir: &Path, entries: &[TrackEntry]) -> bool {
    let Some(args) = mix::arguments(dir, entries) else {
        return false;
    };
    let output = tokio::process::Command::new(ffmpeg)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    match output {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            tracing::error!(status = ?o.status, stderr = %String::from_utf8_lossy(&o.stderr).trim(),
                "mixing the recording failed");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "mixing the recording failed");
            false
        }
    }
}

//! The mixed file of a recording, made with FFmpeg after it stopped: every video track in a
//! grid (`xstack`, 640×360 cells, black until a track starts) and every audio track mixed
//! (`amix`), each shifted by its start offset, so the file plays the call as it happened.

use super::track::TrackEntry;
use std::fmt::Write as _;
use std::path::Path;

/// Width of one grid cell.
const CELL_W: u32 = 640;
/// Height of one grid cell.
const CELL_H: u32 = 360;
/// The mixed file's name.
pub const MIXED: &str = "mixed.mp4";

/// The FFmpeg arguments that mix `tracks` (files in `dir`) into `dir/mixed.mp4`; `None`
/// when there is nothing to mix.
pub fn arguments(dir: &Path, tracks: &[TrackEntry]) -> Option<Vec<String>> {
    let present: Vec<&TrackEntry> = tracks
        .iter()
        .filter(|t| std::fs::metadata(dir.join(&t.file)).is_ok_and(|m| m.len() > 0))
        .collect();
    let video: Vec<&TrackEntry> = present
        .iter()
        .copied()
        .filter(|t| t.kind == "video")
        .collect();
    let audio: Vec<&TrackEntry> = present
        .iter()
        .copied()
        .filter(|t| t.kind == "audio")
        .collect();
    if video.is_empty() && audio.is_empty() {
        return None;
    }
    let mut args: Vec<String> = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for t in video.iter().chain(audio.iter()) {
        args.push("-i".into());
        args.push(dir.join(&t.file).display().to_string());
    }
    let mut graph = String::new();
    for (i, t) in video.iter().enumerate() {
        let _ = write!(
            graph,
            "[{i}:v]setpts=PTS-STARTPTS,scale={CELL_W}:{CELL_H}:force_original_aspect_ratio=decrease,\
             pad={CELL_W}:{CELL_H}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,\
             tpad=start_duration={:.3}:start_mode=add:color=black[v{i}];",
            t.start_offset_ms as f64 / 1000.0
        );
    }
    if video.len() == 1 {
        graph.push_str("[v0]null[vout];");
    } else if !video.is_empty() {
        let cols = (video.len() as f64).sqrt().ceil() as usize;
        let layout: Vec<String> = (0..video.len())
            .map(|i| {
                let (col, row) = (i % cols, i / cols);
                format!("{}_{}", col as u32 * CELL_W, row as u32 * CELL_H)
            })
            .collect();
        for i in 0..video.len() {
            let _ = write!(graph, "[v{i}]");
        }
        let _ = write!(
            graph,
            "xstack=inputs={}:layout={}:fill=black[vout];",
            video.len(),
            layout.join("|")
        );
    }
    let base = video.len();
    for (j, t) in audio.iter().enumerate() {
        let _ = write!(
            graph,
            "[{}:a]asetpts=PTS-STARTPTS,aresample=48000,adelay={}:all=1[a{j}];",
            base + j,
            t.start_offset_ms
        );
    }
    if audio.len() == 1 {
        graph.push_str("[a0]anull[aout];");
    } else if !audio.is_empty() {
        for j in 0..audio.len() {
            let _ = write!(graph, "[a{j}]");
        }
        let _ = write!(
            graph,
            "amix=inputs={}:duration=longest:normalize=0[aout];",
            audio.len()
        );
    }
    let graph = graph.trim_end_matches(';').to_owned();
    args.push("-filter_complex".into());
    args.push(graph);
    if !video.is_empty() {
        args.extend(["-map", "[vout]", "-c:v", "libx264", "-preset", "veryfast"].map(String::from));
        args.extend(["-pix_fmt", "yuv420p"].map(String::from));
    }
    if !audio.is_empty() {
        args.extend(["-map", "[aout]", "-c:a", "aac", "-b:a", "128k"].map(String::from));
    }
    args.extend(["-movflags", "+faststart"].map(String::from));
    args.push(dir.join(MIXED).display().to_string());
    Some(args)
}

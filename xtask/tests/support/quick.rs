//! Runs a `cargo xtask <task> --quick` end to end from the workspace root and returns what it
//! wrote: shared by the quick bench and soak tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What one quick run left behind.
pub struct QuickRun {
    /// The xtask's standard output.
    #[allow(dead_code)] // read by the soak test, not by the bench test
    pub stdout: String,
    /// The report file it wrote.
    pub report: String,
    /// How long it took (builds included).
    pub elapsed: Duration,
}

impl QuickRun {
    /// Asserts that the report contains every one of `needles`.
    pub fn assert_report_contains(&self, needles: &[&str]) {
        for needle in needles {
            assert!(
                self.report.contains(needle),
                "report lacks {needle:?}:\n{}",
                self.report
            );
        }
    }
}

fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `cargo xtask <task> --quick`, which must succeed and write `target/<report>` afresh.
pub fn run(task: &str, report: &str) -> Result<QuickRun, Box<dyn std::error::Error>> {
    let ws = workspace();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => ws.join(dir),
        _ => ws.join("target"),
    };
    let report = target.join(report);
    let _ = std::fs::remove_file(&report);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([task, "--quick"])
        .current_dir(&ws)
        .output()?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo xtask {task} --quick failed ({}) after {elapsed:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    Ok(QuickRun {
        stdout,
        report: std::fs::read_to_string(&report)?,
        elapsed,
    })
}

//! `cargo xtask soak --quick` end to end: builds the debug binaries (reused when already
//! built), runs a small soak (500 random call cycles) against a real Huddle and checks that
//! nothing failed or leaked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

#[test]
fn soak_quick_leaves_nothing_behind() -> Result<(), Box<dyn std::error::Error>> {
    let ws = workspace();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => ws.join(dir),
        _ => ws.join("target"),
    };
    let report = target.join("soak-quick.md");
    let _ = std::fs::remove_file(&report);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["soak", "--quick"])
        .current_dir(&ws)
        .output()?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo xtask soak --quick failed ({}) after {elapsed:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains("soak: PASS"), "no PASS:\n{stdout}");
    let text = std::fs::read_to_string(&report)?;
    for needle in [
        "# Huddle soak (quick run)",
        "| cycles | 500 ",
        "| failures (timeouts, lost connections, unexpected errors) | 0 |",
        "| left after the run (must be 0) | none |",
        "| verdict | **pass** |",
        "Final `/debug/stats`",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    // The cycles really exercised the SFU: the server announced producers, and consumes
    // succeeded (more `consume` requests than refusals). Counted, not sampled: a quick run can
    // end between two samples of the live-object peaks.
    let count = |name: &str| -> u64 {
        let row = format!("| {name} | ");
        text.lines()
            .find_map(|l| l.strip_prefix(&row))
            .and_then(|rest| rest.trim_end_matches(['|', ' ']).parse().ok())
            .unwrap_or(0)
    };
    assert!(count("newProducer") > 0, "no newProducer events:\n{text}");
    assert!(count("produce audio") > 0, "no produce:\n{text}");
    assert!(
        count("consume") > count("consume: Producer not found"),
        "no consume succeeded:\n{text}"
    );
    // No time limit: a fresh checkout first builds the binaries inside this test; the soak
    // itself takes well under a minute.
    eprintln!("soak --quick took {elapsed:?}");
    Ok(())
}

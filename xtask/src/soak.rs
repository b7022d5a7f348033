//! `cargo xtask soak [--cycles N] [--quick] [--seed S] [--no-build]`: random call cycles
//! against a real Huddle, then a leak check.
//!
//! 1. setup if needed; build `huddle` and `loadgen` (release; debug with `--quick`);
//! 2. write the soak directory (`loadgen soak-fixture`), start Huddle on a free port
//!    (`--auth none`, that directory, two mediasoup workers by default on 2 cores);
//! 3. run `loadgen soak` against it (10,000 cycles, `--quick`: 500): random connect / join /
//!    initiate / createRoom / transports / produce / consume / leave / disconnect cycles, then
//!    every client disconnects and `/debug/stats` must return to zero live objects, the final
//!    RSS must be within 10 % of the baseline taken after the warm-up cycles, and no request may
//!    time out or lose its connection;
//! 4. stop Huddle (it must still be running: a crash fails the soak) and write the figures to
//!    `target/soak.md` (`--quick`: `target/soak-quick.md`); the server log is
//!    `target/soak/huddle.log`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::bench::{Server, build_binaries, free_port, locked_version, machine, version_of};
use crate::{cmd, setup};

/// Groups of 10 users in the soak directory (plus a second device for 2 users per group).
const GROUPS: usize = 4;
/// Cycles in flight.
const CONCURRENCY: usize = 8;

/// Options of `cargo xtask soak`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Cycles (default 10,000; 500 with `quick`).
    pub cycles: Option<usize>,
    /// Debug build and 500 cycles; report in `target/soak-quick.md`.
    pub quick: bool,
    /// Seed of the action sequences (default: from the clock, printed).
    pub seed: Option<u64>,
    /// Use the binaries already in `target/`.
    pub no_build: bool,
}

/// Counts of `WARN` and `ERROR` lines in a server log.
fn log_levels(text: &str) -> (usize, usize) {
    text.lines().fold((0, 0), |(w, e), l| {
        (
            w + usize::from(l.contains(" WARN ")),
            e + usize::from(l.contains(" ERROR ")),
        )
    })
}

/// `cargo xtask soak`.
pub fn soak(ws: &Path, opts: &Options) -> Result<ExitCode> {
    let started = Instant::now();
    let cycles = opts.cycles.unwrap_or(if opts.quick { 500 } else { 10_000 });
    setup::ensure(ws)?;

    let (profile, bin_dir) = build_binaries(
        ws,
        "soak",
        opts.quick,
        opts.no_build,
        &["huddle", "loadgen"],
    )?;
    let work = cmd::target_dir(ws).join("soak");
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let fixture = work.join("directory.json");
    cmd::run(
        Command::new(bin_dir.join("loadgen"))
            .args(["soak-fixture", "--groups", &GROUPS.to_string()])
            .arg("--out")
            .arg(&fixture),
    )?;

    let port = free_port()?;
    let log = work.join("huddle.log");
    let mut huddle = Command::new(bin_dir.join("huddle"));
    huddle
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--directory")
        .arg(&fixture)
        .args([
            "--auth",
            "none",
            "--rtc-listen-ip",
            "127.0.0.1",
            "--webrtc-port",
            "0",
        ])
        .args(["--log", "warn"]);
    let mut server = Server::start("huddle", huddle, port, &log)?;
    println!(
        "==> soak: {cycles} cycles against huddle (pid {}, port {port})",
        server.pid()
    );
    let figures = work.join("figures.md");
    let _ = fs::remove_file(&figures);
    let mut loadgen = Command::new(bin_dir.join("loadgen"));
    loadgen
        .arg("soak")
        .arg("--url")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--pid")
        .arg(server.pid().to_string())
        .args(["--cycles", &cycles.to_string()])
        .args(["--concurrency", &CONCURRENCY.to_string()])
        .args(["--groups", &GROUPS.to_string()])
        .arg("--markdown")
        .arg(&figures);
    if let Some(seed) = opts.seed {
        loadgen.args(["--seed", &seed.to_string()]);
    }
    let out = loadgen
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start `{}`", cmd::display(&loadgen)));
    let crashed = server.exited();
    server.stop();
    let out = out?;
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{summary}");
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    let (warnings, errors) = log_levels(&log_text);

    let mut problems = Vec::new();
    if let Some(status) = crashed {
        problems.push(format!(
            "huddle exited during the soak ({status}); log tail:\n{}",
            server.log_tail()
        ));
    }
    if !out.status.success() {
        problems.push(format!("the soak failed (loadgen: {})", out.status));
    }

    let (model, cpus, mem) = machine();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Huddle soak{}\n",
        if opts.quick { " (quick run)" } else { "" }
    );
    let _ = writeln!(
        report,
        "Written by `cargo xtask soak{}{}` on {} ({profile} build, {:.0} s in all). Server log: \
         `target/soak/huddle.log` ({warnings} WARN, {errors} ERROR lines at `--log warn`).\n",
        if opts.quick { " --quick" } else { "" },
        opts.cycles
            .map(|c| format!(" --cycles {c}"))
            .unwrap_or_default(),
        version_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(
        report,
        "Machine: {model}, {cpus} cores, {mem}; {}; socketioxide {}, mediasoup {}.\n",
        version_of("rustc", &["-V"]),
        locked_version(ws, "socketioxide"),
        locked_version(ws, "mediasoup")
    );
    match fs::read_to_string(&figures) {
        Ok(text) => report.push_str(&text),
        Err(_) => {
            let _ = writeln!(report, "No figures (the load generator stopped early).\n");
            let _ = writeln!(report, "```\n{}```", summary);
        }
    }
    for p in &problems {
        let _ = writeln!(report, "\n**Problem:** {p}");
    }
    let path = cmd::target_dir(ws).join(if opts.quick {
        "soak-quick.md"
    } else {
        "soak.md"
    });
    fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "soak: report written to {} ({:.0} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    if problems.is_empty() {
        println!("soak: PASS");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            eprintln!("soak: FAIL: {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_log_levels() {
        let log = "2026-01-01T00:00:00Z  WARN huddle: a\n2026 ERROR x: b\n INFO c\n WARN d\n";
        assert_eq!(log_levels(log), (2, 1));
    }
}

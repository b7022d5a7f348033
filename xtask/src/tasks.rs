//! `cargo xtask run` and `cargo xtask test`.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::{cmd, setup};

/// Address `cargo xtask run` listens on.
const LISTEN: &str = "0.0.0.0:8000";

/// `cargo build -p huddle --bin huddle --example chat_host` (debug profile; the example chat
/// host is driven by `tests/js/embedding.test.mjs`).
fn build_huddle(ws: &Path) -> Command {
    let mut cmd = cmd::cargo(ws);
    cmd.args([
        "build",
        "-p",
        "huddle",
        "--bin",
        "huddle",
        "--example",
        "chat_host",
    ]);
    cmd
}

/// Absolute path of the debug `huddle` binary.
fn huddle_bin(ws: &Path) -> PathBuf {
    cmd::target_dir(ws).join("debug").join("huddle")
}

/// `npm run build` in `web/`: bundles the demo page into `web/dist` (esbuild). Its npm
/// packages are installed by [`setup::ensure`].
fn build_web(ws: &Path) -> Command {
    let mut cmd = Command::new("npm");
    cmd.args(["run", "build"]).current_dir(ws.join("web"));
    cmd
}

/// The built demo page that `huddle` serves at `/` (`--web-dir` / `HUDDLE_WEB_DIR`).
fn web_dist(ws: &Path) -> PathBuf {
    ws.join("web").join("dist")
}

/// Whether the workspace has the demo page's sources.
fn has_web(ws: &Path) -> bool {
    ws.join("web/package.json").is_file()
}

/// `cargo xtask run`: setup if needed, build the demo page and `huddle`, then replace this
/// process with `huddle --listen 0.0.0.0:8000 ARGS...` (so Ctrl-C and the exit code go
/// straight through). The page is served from `web/dist` unless `HUDDLE_WEB_DIR` or
/// `--web-dir` says otherwise.
pub fn run(ws: &Path, args: Vec<OsString>) -> Result<ExitCode> {
    setup::ensure(ws)?;
    build_for_run(ws)?;
    let mut huddle = huddle_command(ws);
    huddle.arg("--listen").arg(LISTEN).args(args);
    eprintln!("run: {}", cmd::display(&huddle));
    exec(huddle)
}

/// Build the demo page (when there is one) and `huddle`.
pub fn build_for_run(ws: &Path) -> Result<()> {
    if has_web(ws) {
        cmd::run(&mut build_web(ws))?;
    }
    cmd::run(&mut build_huddle(ws))
}

/// `huddle` as `cargo xtask run` starts it: in the workspace, serving the built demo page
/// (unless `HUDDLE_WEB_DIR` says otherwise).
pub fn huddle_command(ws: &Path) -> Command {
    let mut huddle = Command::new(huddle_bin(ws));
    huddle.current_dir(ws);
    if has_web(ws) && std::env::var_os("HUDDLE_WEB_DIR").is_none() {
        huddle.env("HUDDLE_WEB_DIR", web_dist(ws));
    }
    huddle
}

/// Replaces the current process with `cmd`; only returns on failure to start it.
#[cfg(unix)]
fn exec(mut cmd: Command) -> Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    Err(err).with_context(|| format!("cannot start `{}`", cmd::display(&cmd)))
}

/// Runs `cmd` to completion and returns its exit code (no `exec` outside Unix).
#[cfg(not(unix))]
fn exec(mut cmd: Command) -> Result<ExitCode> {
    let status = cmd::status(&mut cmd)?;
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1);
    Ok(ExitCode::from(code))
}

/// What a step of `cargo xtask test` does.
enum Action {
    /// [`setup::ensure`].
    Setup,
    /// Run these commands in order; the first failure fails the step.
    Commands(Vec<Command>),
    /// Not run, for the given reason.
    Skip(&'static str),
}

/// One step of `cargo xtask test`.
struct Step {
    /// Short name for the summary.
    name: &'static str,
    /// What to do.
    action: Action,
}

/// How a step ended.
enum Outcome {
    /// Ran and passed, in this time.
    Passed(Duration),
    /// Skipped, for this reason.
    Skipped(&'static str),
    /// Failed after this time.
    Failed(Duration),
    /// Not reached because an earlier step failed.
    NotRun,
}

/// The steps of `cargo xtask test`.
fn test_steps(ws: &Path, quick: bool) -> Vec<Step> {
    let cargo = |args: &[&str]| {
        let mut cmd = cmd::cargo(ws);
        cmd.args(args);
        cmd
    };
    let clippy = if quick {
        Action::Skip("--quick")
    } else {
        Action::Commands(vec![cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])])
    };
    // The public library's documentation (and every crate's) must build without a warning.
    let rustdoc = if quick {
        Action::Skip("--quick")
    } else {
        let mut doc = cargo(&["doc", "--workspace", "--no-deps"]);
        doc.env("RUSTDOCFLAGS", "-D warnings");
        Action::Commands(vec![doc])
    };
    let js = if ws.join("tests/js/package.json").is_file() {
        let mut node = Command::new("node");
        node.arg("--test")
            .arg("--test-concurrency=1")
            .arg(format!("--test-reporter={}", test_reporter()))
            .arg("tests/js/")
            .env("HUDDLE_BIN", huddle_bin(ws))
            .current_dir(ws);
        Action::Commands(vec![build_huddle(ws), node])
    } else {
        Action::Skip("no tests/js/package.json")
    };
    let (web, browser) = if has_web(ws) {
        let browser = if ws.join("tests/browser/package.json").is_file() {
            let mut node = Command::new("node");
            node.arg("--test")
                .arg("--test-concurrency=1")
                .arg(format!("--test-reporter={}", test_reporter()))
                .arg("tests/browser/")
                .env("HUDDLE_BIN", huddle_bin(ws))
                .env("HUDDLE_WEB_DIR", web_dist(ws))
                .current_dir(ws);
            Action::Commands(vec![build_huddle(ws), node])
        } else {
            Action::Skip("no tests/browser/package.json")
        };
        (Action::Commands(vec![build_web(ws)]), browser)
    } else {
        (
            Action::Skip("no web/package.json"),
            Action::Skip("no web/package.json"),
        )
    };
    vec![
        Step {
            name: "setup",
            action: Action::Setup,
        },
        Step {
            name: "fmt",
            action: Action::Commands(vec![cargo(&["fmt", "--all", "--", "--check"])]),
        },
        Step {
            name: "clippy",
            action: clippy,
        },
        Step {
            name: "rustdoc",
            action: rustdoc,
        },
        Step {
            name: "cargo test",
            action: Action::Commands(vec![
                cargo(&["test", "--workspace"]),
                vendored_engineioxide_tests(ws),
            ]),
        },
        Step {
            name: "js integration",
            action: js,
        },
        Step {
            name: "web bundle",
            action: web,
        },
        Step {
            name: "browser e2e",
            action: browser,
        },
    ]
}

/// The patched engineioxide (`vendor/engineioxide`, HUDDLE_PATCH.md) is not a workspace
/// member: its own tests, with its own lock file and target directory.
fn vendored_engineioxide_tests(ws: &Path) -> Command {
    let mut cmd = cmd::cargo(ws);
    cmd.args([
        "test",
        "--manifest-path",
        "vendor/engineioxide/Cargo.toml",
        "--features",
        "__test_harness,v3",
        "--lib",
        "--tests",
    ])
    .env(
        "CARGO_TARGET_DIR",
        cmd::target_dir(ws).join("vendor-engineioxide"),
    );
    cmd
}

/// node's test reporter: TAP ("# pass N" / "# fail N") unless a human is watching.
fn test_reporter() -> &'static str {
    if std::io::stdout().is_terminal() {
        "spec"
    } else {
        "tap"
    }
}

/// `cargo xtask test`: runs [`test_steps`] in order, failing fast, then prints per-step times.
pub fn test(ws: &Path, quick: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let steps = test_steps(ws, quick);
    let count = steps.len();
    let mut outcomes: Vec<(&'static str, Outcome)> = Vec::with_capacity(count);
    let mut failure: Option<String> = None;
    for (index, step) in steps.into_iter().enumerate() {
        let number = index + 1;
        if failure.is_some() {
            outcomes.push((step.name, Outcome::NotRun));
            continue;
        }
        let step_started = Instant::now();
        let result = match step.action {
            Action::Skip(reason) => {
                println!("==> [{number}/{count}] {}: skipped ({reason})", step.name);
                outcomes.push((step.name, Outcome::Skipped(reason)));
                continue;
            }
            Action::Setup => {
                println!("==> [{number}/{count}] {}", step.name);
                setup::ensure(ws)
            }
            Action::Commands(commands) => commands.into_iter().try_for_each(|mut command| {
                println!(
                    "==> [{number}/{count}] {}: {}",
                    step.name,
                    cmd::display(&command)
                );
                cmd::run(&mut command)
            }),
        };
        let elapsed = step_started.elapsed();
        match result {
            Ok(()) => {
                println!("    {} ok ({})", step.name, secs(elapsed));
                outcomes.push((step.name, Outcome::Passed(elapsed)));
            }
            Err(err) => {
                failure = Some(format!(
                    "step {number}/{count} ({}) failed: {err:#}",
                    step.name
                ));
                outcomes.push((step.name, Outcome::Failed(elapsed)));
            }
        }
    }

    println!();
    println!("test: summary");
    for (name, outcome) in &outcomes {
        let (time, what) = match outcome {
            Outcome::Passed(t) => (secs(*t), "ok".to_owned()),
            Outcome::Failed(t) => (secs(*t), "FAILED".to_owned()),
            Outcome::Skipped(reason) => ("-".to_owned(), format!("skipped ({reason})")),
            Outcome::NotRun => ("-".to_owned(), "not run".to_owned()),
        };
        println!("    {name:<16}{time:>9}  {what}");
    }
    println!("    {:<16}{:>9}", "total", secs(started.elapsed()));
    match failure {
        Some(message) => {
            println!("test: FAILED: {message}");
            Ok(ExitCode::FAILURE)
        }
        None => {
            println!("test: all steps passed");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `12.3s`.
fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

//! `cargo xtask`: Huddle's developer tasks.
//!
//! * `cargo xtask setup [--with-browser]` installs what the machine lacks (apt packages,
//!   Node.js, Debian's libsrtp source tarball, npm packages of the JS tests).
//! * `cargo xtask run [-- ARGS...]` sets up if needed, builds the demo page (`web/`) and
//!   `huddle`, and starts it.
//! * `cargo xtask test [--quick]` sets up if needed, then fmt check, clippy, Rust tests, the
//!   JS integration tests, the demo page bundle and the browser end-to-end tests.
//! * `cargo xtask bench [--quick] [--no-build]` runs the benchmarks and writes the report.
//! * `cargo xtask cluster [--nodes N]` starts a local cluster: redis-server, N nodes on
//!   127.0.0.1 … 127.0.0.N and HAProxy on :8000.
//! * `cargo xtask soak [--cycles N] [--quick] [--seed S] [--no-build]` runs random call cycles
//!   against Huddle and checks that nothing leaked.
//!
//! Only `std`, `anyhow` and `rlimit`, so that the first `cargo xtask` compiles in seconds.

mod bench;
mod cluster;
mod cmd;
mod setup;
mod soak;
mod tasks;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <COMMAND>

commands:
  setup [--with-browser]   install what is missing (apt packages, Node.js, the libsrtp
                           source tarball in .deps/, npm packages); quiet when all is there.
                           --with-browser also installs chromium (implied when
                           tests/browser/package.json exists)
  run [-- ARGS...]         setup if needed, build the demo page (web/dist) and huddle, start
                           huddle with --listen 0.0.0.0:8000 ARGS...
  test [--quick]           setup if needed, then cargo fmt --check, cargo clippy -D warnings
                           (skipped by --quick), cargo test --workspace, the JS
                           integration tests in tests/js (node --test), the demo page
                           bundle and the browser tests in tests/browser (headless chromium)
  bench [--quick] [--no-build]
                           setup if needed, build (release; debug with --quick), run the
                           signalling load generator against huddle and the Node reference
                           (bench/reference-node) and the media bench; write
                           docs/benchmarks.md (--quick: small sizes, target/bench-quick.md).
                           --no-build uses the binaries already in target/
  soak [--cycles N] [--quick] [--seed S] [--no-build]
                           setup if needed, build (release; debug with --quick) huddle and
                           the load generator, start huddle and run N random connect / join /
                           initiate / createRoom / produce / consume / leave / disconnect
                           cycles (default 10000; --quick: 500); then every count in
                           /debug/stats must be back to zero and RSS within 10 % of its
                           post-warm-up baseline. Figures in target/soak.md
                           (--quick: target/soak-quick.md)
  cluster [--nodes N]      setup if needed, build, start a throwaway redis-server
                           (127.0.0.1:6390), N huddle nodes (default 3; node i on
                           127.0.0.i:8001) and HAProxy on 127.0.0.1:8000 with sticky
                           sessions; open the demo page through the balancer. Ctrl-C stops
  help                     print this message
";

/// A parsed `cargo xtask` command line.
#[derive(Debug, PartialEq)]
enum Task {
    /// `setup`: install whatever is missing.
    Setup {
        /// Also install the browser used by browser tests.
        with_browser: bool,
    },
    /// `run`: build and start the server, passing `args` through.
    Run {
        /// Extra arguments for `huddle`.
        args: Vec<OsString>,
    },
    /// `test`: the full check suite run by CI.
    Test {
        /// Skip clippy.
        quick: bool,
    },
    /// `bench`: benchmarks and the report.
    Bench {
        /// Small sizes, debug build, report in `target/`.
        quick: bool,
        /// Use the binaries already built.
        no_build: bool,
    },
    /// `soak`: random call cycles, then the leak check.
    Soak(soak::Options),
    /// `cluster`: a local cluster behind HAProxy.
    Cluster {
        /// Number of nodes.
        nodes: usize,
    },
    /// `help`, `-h`, `--help` or no command at all.
    Help,
}

/// Parses the arguments after the program name.
fn parse(args: Vec<OsString>) -> Result<Task> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Task::Help);
    };
    let rest: Vec<OsString> = args.collect();
    let flags = || -> Result<Vec<String>> {
        rest.iter()
            .map(|a| match a.to_str() {
                Some(s) => Ok(s.to_owned()),
                None => bail!("invalid argument {a:?}"),
            })
            .collect()
    };
    match command.to_str() {
        Some("setup") => {
            let mut with_browser = false;
            for flag in flags()? {
                match flag.as_str() {
                    "--with-browser" => with_browser = true,
                    "-h" | "--help" => return Ok(Task::Help),
                    other => bail!("setup: unknown argument `{other}`\n\n{USAGE}"),
                }
            }
            Ok(Task::Setup { with_browser })
        }
        Some("run") => {
            // Everything after `run` goes to huddle; a leading `--` is optional.
            let mut args = rest;
            if args.first().is_some_and(|a| a == "--") {
                args.remove(0);
            }
            Ok(Task::Run { args })
        }
        Some("test") => {
            let mut quick = false;
            for flag in flags()? {
                match flag.as_str() {
                    "--quick" => quick = true,
                    "-h" | "--help" => return Ok(Task::Help),
                    other => bail!("test: unknown argument `{other}`\n\n{USAGE}"),
                }
            }
            Ok(Task::Test { quick })
        }
        Some("bench") => {
            let mut quick = false;
            let mut no_build = false;
            for flag in flags()? {
                match flag.as_str() {
                    "--quick" => quick = true,
                    "--no-build" => no_build = true,
                    "-h" | "--help" => return Ok(Task::Help),
                    other => bail!("bench: unknown argument `{other}`\n\n{USAGE}"),
                }
            }
            Ok(Task::Bench { quick, no_build })
        }
        Some("soak") => {
            let mut opts = soak::Options::default();
            let mut flags = flags()?.into_iter();
            while let Some(flag) = flags.next() {
                let (name, inline) = match flag.split_once('=') {
                    Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                    _ => (flag.clone(), None),
                };
                let mut value = |what: &str| -> Result<String> {
                    match inline.clone().or_else(|| flags.next()) {
                        Some(v) => Ok(v),
                        None => bail!("soak: {name} needs {what}\n\n{USAGE}"),
                    }
                };
                match name.as_str() {
                    "--quick" => opts.quick = true,
                    "--no-build" => opts.no_build = true,
                    "--cycles" => {
                        let v = value("a number of cycles")?;
                        match v.parse::<usize>() {
                            Ok(n) if n > 0 => opts.cycles = Some(n),
                            _ => bail!("soak: --cycles `{v}` is not a positive number"),
                        }
                    }
                    "--seed" => {
                        let v = value("a number")?;
                        match v.parse::<u64>() {
                            Ok(n) => opts.seed = Some(n),
                            Err(_) => bail!("soak: --seed `{v}` is not a number"),
                        }
                    }
                    "-h" | "--help" => return Ok(Task::Help),
                    other => bail!("soak: unknown argument `{other}`\n\n{USAGE}"),
                }
            }
            Ok(Task::Soak(opts))
        }
        Some("cluster") => {
            let mut nodes = 3;
            let mut flags = flags()?.into_iter();
            while let Some(flag) = flags.next() {
                let (name, inline) = match flag.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => (flag.clone(), None),
                };
                match name.as_str() {
                    "--nodes" => {
                        let v = inline.or_else(|| flags.next()).unwrap_or_default();
                        match v.parse::<usize>() {
                            Ok(n) if (1..=9).contains(&n) => nodes = n,
                            _ => bail!("cluster: --nodes `{v}` is not a number from 1 to 9"),
                        }
                    }
                    "-h" | "--help" => return Ok(Task::Help),
                    other => bail!("cluster: unknown argument `{other}`\n\n{USAGE}"),
                }
            }
            Ok(Task::Cluster { nodes })
        }
        Some("help" | "-h" | "--help") => Ok(Task::Help),
        _ => bail!("unknown command {command:?}\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

fn main() -> ExitCode {
    let result = parse(std::env::args_os().skip(1).collect()).and_then(|task| {
        let ws = workspace_root();
        match task {
            Task::Setup { with_browser } => {
                setup::setup(&ws, with_browser)?;
                Ok(ExitCode::SUCCESS)
            }
            Task::Run { args } => tasks::run(&ws, args),
            Task::Test { quick } => tasks::test(&ws, quick),
            Task::Bench { quick, no_build } => bench::bench(&ws, quick, no_build),
            Task::Soak(opts) => soak::soak(&ws, &opts),
            Task::Cluster { nodes } => cluster::cluster(&ws, nodes),
            Task::Help => {
                print!("{USAGE}");
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_commands() -> Result<()> {
        assert_eq!(parse(args(&[]))?, Task::Help);
        assert_eq!(
            parse(args(&["setup"]))?,
            Task::Setup {
                with_browser: false
            }
        );
        assert_eq!(
            parse(args(&["setup", "--with-browser"]))?,
            Task::Setup { with_browser: true }
        );
        assert_eq!(parse(args(&["test"]))?, Task::Test { quick: false });
        assert_eq!(
            parse(args(&["test", "--quick"]))?,
            Task::Test { quick: true }
        );
        assert_eq!(
            parse(args(&["run", "--", "--config", "x.toml"]))?,
            Task::Run {
                args: args(&["--config", "x.toml"])
            }
        );
        assert_eq!(
            parse(args(&["run", "-v"]))?,
            Task::Run {
                args: args(&["-v"])
            }
        );
        assert_eq!(
            parse(args(&["bench", "--quick"]))?,
            Task::Bench {
                quick: true,
                no_build: false
            }
        );
        assert_eq!(
            parse(args(&["bench", "--no-build"]))?,
            Task::Bench {
                quick: false,
                no_build: true
            }
        );
        assert!(parse(args(&["bench", "--slow"])).is_err());
        assert_eq!(
            parse(args(&["soak"]))?,
            Task::Soak(soak::Options::default())
        );
        assert_eq!(
            parse(args(&["soak", "--quick", "--cycles", "300", "--seed=7"]))?,
            Task::Soak(soak::Options {
                cycles: Some(300),
                quick: true,
                seed: Some(7),
                no_build: false
            })
        );
        assert_eq!(
            parse(args(&["soak", "--cycles=20", "--no-build"]))?,
            Task::Soak(soak::Options {
                cycles: Some(20),
                quick: false,
                seed: None,
                no_build: true
            })
        );
        assert_eq!(parse(args(&["soak", "--help"]))?, Task::Help);
        assert!(parse(args(&["soak", "--cycles"])).is_err());
        assert!(parse(args(&["soak", "--cycles", "0"])).is_err());
        assert!(parse(args(&["soak", "--cycles", "many"])).is_err());
        assert!(parse(args(&["soak", "--seed", "-1"])).is_err());
        assert!(parse(args(&["soak", "--slow"])).is_err());
        assert!(parse(args(&["test", "--slow"])).is_err());
        assert!(parse(args(&["deploy"])).is_err());
        Ok(())
    }
}

//! `loadgen`: the signalling load generator CLI (see the library docs).
//!
//! * `loadgen fixture --out FILE --max-sockets N --hosts A --probes P` writes the directory JSON.
//! * `loadgen run --url URL --label L [--pid PID] --sizes 1000,5000 ...` runs the benchmark and
//!   prints `result` lines on stdout (progress on stderr).
//! * `loadgen soak-fixture --out FILE --groups G` writes the soak directory JSON.
//! * `loadgen updates-fixture --out FILE --members M` and `loadgen updates --url URL --pid PID
//!   --members M --cycles C`: the `group_call_updated` fan-out bench (`loadgen::call_updates`).
//! * `loadgen soak --url URL --pid PID --cycles N --seed S --concurrency C --groups G` runs the
//!   soak (see `loadgen::soak`), prints the summary on stdout (progress on stderr), optionally
//!   writes the figures as Markdown (`--markdown FILE`), and exits with 1 when it failed.
//! * `loadgen pg-fixture --out FILE.sql --users N` and `loadgen storm --url URL --label L --pid
//!   PID --users N --bursts 1000x20,3000x10`: the PostgreSQL reconnect-storm bench
//!   (`loadgen::storm`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use loadgen::layout::Layout;
use loadgen::scenario::{self, RunConfig};
use loadgen::soak::{self, SoakConfig, SoakLayout};

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Huddle signalling load generator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args, Clone, Copy)]
struct LayoutArgs {
    /// Idle users in the directory (at least the largest size).
    #[arg(long, default_value_t = 10_000)]
    max_sockets: usize,
    /// Active conversations (one host socket each keeps its SFU room open).
    #[arg(long, default_value_t = 20)]
    hosts: usize,
    /// Probe users (members of one active conversation each).
    #[arg(long, default_value_t = 64)]
    probes: usize,
}

impl LayoutArgs {
    fn layout(self) -> Layout {
        Layout::new(self.max_sockets, self.hosts, self.probes)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the directory JSON both servers read.
    Fixture {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        layout: LayoutArgs,
    },
    /// Run the benchmark against one server.
    Run {
        /// Server base URL.
        #[arg(long)]
        url: String,
        /// Label for the results.
        #[arg(long)]
        label: String,
        /// Server pid (RSS and CPU from /proc).
        #[arg(long)]
        pid: Option<u32>,
        /// Idle socket counts, comma separated, ascending.
        #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
        sizes: Vec<usize>,
        #[command(flatten)]
        layout: LayoutArgs,
        /// join -> active_group_calls samples per size.
        #[arg(long, default_value_t = 2000)]
        join_samples: usize,
        /// Concurrent joins in the latency phase.
        #[arg(long, default_value_t = 4)]
        join_concurrency: usize,
        /// get_active_calls phase length (ms).
        #[arg(long, default_value_t = 3000)]
        throughput_ms: u64,
        /// Unmeasured get_active_calls warm-up before the throughput phase (ms).
        #[arg(long, default_value_t = 1000)]
        warmup_ms: u64,
        /// group_call_initiate calls per size.
        #[arg(long, default_value_t = 300)]
        fanout_calls: usize,
        /// Initiates in flight.
        #[arg(long, default_value_t = 4)]
        fanout_concurrency: usize,
        /// Connection attempts in flight.
        #[arg(long, default_value_t = 128)]
        connect_concurrency: usize,
        /// Per-request timeout (ms).
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// Write the `group_call_updated` bench directory JSON.
    UpdatesFixture {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Members of the big conversation.
        #[arg(long, default_value_t = 200)]
        members: usize,
    },
    /// The `group_call_updated` fan-out bench (server with `--call-update-interval-ms 0`).
    Updates {
        /// Server base URL.
        #[arg(long)]
        url: String,
        /// Server pid (CPU from /proc).
        #[arg(long)]
        pid: Option<u32>,
        /// Members of the big conversation (as written by `updates-fixture`).
        #[arg(long, default_value_t = 200)]
        members: usize,
        /// Join + leave cycles per conversation.
        #[arg(long, default_value_t = 200)]
        cycles: usize,
        /// Per-request timeout (ms).
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// The cluster bench against two nodes of one cluster (directory of `updates-fixture
    /// --members 2`).
    Cluster {
        /// Node 1's base URL.
        #[arg(long)]
        node1: String,
        /// Node 2's base URL.
        #[arg(long)]
        node2: String,
        /// Samples per path.
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Per-request timeout (ms).
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// Write the storm bench's rows as SQL (`psql -f`, after `huddle migrate`).
    PgFixture {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Storm users (at least the largest burst's sockets).
        #[arg(long, default_value_t = 3000)]
        users: usize,
    },
    /// The reconnect storm: K `get_active_calls` per socket at once, with two calls active.
    Storm {
        /// Server base URL.
        #[arg(long)]
        url: String,
        /// Label for the results.
        #[arg(long)]
        label: String,
        /// Server pid (CPU from /proc).
        #[arg(long)]
        pid: Option<u32>,
        /// Storm users in the database (as written by `pg-fixture`).
        #[arg(long, default_value_t = 3000)]
        users: usize,
        /// Bursts, SOCKETSxREQUESTS_PER_SOCKET, comma separated.
        #[arg(long, default_value = "1000x20,3000x10")]
        bursts: String,
        /// join -> active_group_calls samples per burst.
        #[arg(long, default_value_t = 1000)]
        join_samples: usize,
        /// Joins in flight in that phase.
        #[arg(long, default_value_t = 8)]
        join_concurrency: usize,
        /// Connection attempts in flight.
        #[arg(long, default_value_t = 128)]
        connect_concurrency: usize,
        /// Per-request timeout (ms; a burst's acks from the burst start).
        #[arg(long, default_value_t = 30_000)]
        timeout_ms: u64,
    },
    /// Write the soak directory JSON (`--groups` must match the soak's).
    SoakFixture {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Groups of 10 users.
        #[arg(long, default_value_t = 4)]
        groups: usize,
    },
    /// Random call cycles, then check that nothing leaked (live objects, RSS).
    Soak {
        /// Server base URL.
        #[arg(long)]
        url: String,
        /// Server pid (RSS from /proc); without it RSS is not checked.
        #[arg(long)]
        pid: Option<u32>,
        /// Cycles to run.
        #[arg(long, default_value_t = 10_000)]
        cycles: usize,
        /// Seed of the random action sequences (default: from the clock).
        #[arg(long)]
        seed: Option<u64>,
        /// Cycles in flight.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Groups of 10 users (as written by `soak-fixture`).
        #[arg(long, default_value_t = 4)]
        groups: usize,
        /// Per-request timeout (ms).
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        /// Cycles run before the RSS baseline is taken (default: 10 %, at least 1000 or half
        /// the run).
        #[arg(long)]
        warmup_cycles: Option<usize>,
        /// Longest wait for /debug/stats to return to zero at the end (ms).
        #[arg(long, default_value_t = 10_000)]
        settle_ms: u64,
        /// Allowed growth of the final RSS over the baseline (percent).
        #[arg(long, default_value_t = 10.0)]
        rss_tolerance_percent: f64,
        /// Also write the figures as Markdown tables to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
}

/// Writes `text` to `path`, creating its directory.
fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

/// Run one bench to completion and print its result lines.
fn print_measurements(
    bench: impl std::future::Future<Output = Result<Vec<loadgen::stats::Measurement>>>,
) -> Result<ExitCode> {
    let runtime = runtime()?;
    let measurements = runtime.block_on(bench)?;
    runtime.shutdown_timeout(Duration::from_millis(500));
    for m in measurements {
        println!("{}", m.line());
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Fixture { out, layout } => {
            write_file(&out, &layout.layout().directory_json())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::UpdatesFixture { out, members } => {
            write_file(&out, &loadgen::call_updates::directory_json(members))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Updates {
            url,
            pid,
            members,
            cycles,
            timeout_ms,
        } => {
            let cfg = loadgen::call_updates::UpdatesConfig {
                url,
                pid,
                members,
                cycles,
                timeout: Duration::from_millis(timeout_ms),
            };
            print_measurements(loadgen::call_updates::run(&cfg))
        }
        Command::Cluster {
            node1,
            node2,
            samples,
            timeout_ms,
        } => {
            let cfg = loadgen::cluster::ClusterConfig {
                node1,
                node2,
                samples,
                timeout: Duration::from_millis(timeout_ms),
            };
            print_measurements(loadgen::cluster::run(&cfg))
        }
        Command::PgFixture { out, users } => {
            write_file(&out, &loadgen::storm::StormLayout { users }.fixture_sql())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Storm {
            url,
            label,
            pid,
            users,
            bursts,
            join_samples,
            join_concurrency,
            connect_concurrency,
            timeout_ms,
        } => {
            let bursts = loadgen::storm::parse_bursts(&bursts)?;
            let limit = loadgen::raise_fd_limit().context("raising RLIMIT_NOFILE")?;
            let needed = bursts.iter().map(|b| b.0).max().unwrap_or(0) as u64 + 256;
            if limit < needed {
                bail!("open-file limit {limit} < {needed} needed");
            }
            let cfg = loadgen::storm::StormConfig {
                url,
                label,
                pid,
                layout: loadgen::storm::StormLayout { users },
                bursts,
                join_samples,
                join_concurrency,
                connect_concurrency,
                timeout: Duration::from_millis(timeout_ms),
            };
            let runtime = runtime()?;
            runtime.block_on(loadgen::storm::run(&cfg))?;
            runtime.shutdown_timeout(Duration::from_millis(500));
            Ok(ExitCode::SUCCESS)
        }
        Command::SoakFixture { out, groups } => {
            write_file(&out, &SoakLayout::new(groups).directory_json())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Soak {
            url,
            pid,
            cycles,
            seed,
            concurrency,
            groups,
            timeout_ms,
            warmup_cycles,
            settle_ms,
            rss_tolerance_percent,
            markdown,
        } => {
            let seed = seed.unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
            let cfg = SoakConfig {
                url,
                pid,
                cycles,
                seed,
                concurrency,
                layout: SoakLayout::new(groups),
                timeout: Duration::from_millis(timeout_ms),
                warmup_cycles: warmup_cycles
                    .unwrap_or_else(|| SoakConfig::default_warmup(cycles))
                    .min(cycles),
                settle: Duration::from_millis(settle_ms),
                rss_tolerance: rss_tolerance_percent / 100.0,
            };
            eprintln!(
                "loadgen soak: {cycles} cycles against {} (seed {seed}, {concurrency} in flight)",
                cfg.url
            );
            let runtime = runtime()?;
            let report = runtime.block_on(soak::run(&cfg, &|line| {
                eprintln!("loadgen soak: {line}");
            }))?;
            runtime.shutdown_timeout(Duration::from_millis(500));
            print!("{}", report.summary());
            if let Some(path) = markdown {
                write_file(&path, &report.markdown())?;
            }
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Run {
            url,
            label,
            pid,
            sizes,
            layout,
            join_samples,
            join_concurrency,
            throughput_ms,
            warmup_ms,
            fanout_calls,
            fanout_concurrency,
            connect_concurrency,
            timeout_ms,
        } => {
            let mut sizes = sizes;
            sizes.sort_unstable();
            if sizes.is_empty() {
                bail!("--sizes is empty");
            }
            let limit = loadgen::raise_fd_limit().context("raising RLIMIT_NOFILE")?;
            let needed = sizes.iter().max().copied().unwrap_or(0) as u64 + 512;
            if limit < needed {
                eprintln!("loadgen: warning: open-file limit {limit} < {needed} needed");
            }
            let cfg = RunConfig {
                url,
                label,
                pid,
                sizes,
                layout: layout.layout(),
                join_samples,
                join_concurrency,
                throughput: Duration::from_millis(throughput_ms),
                warmup: Duration::from_millis(warmup_ms),
                fanout_calls,
                fanout_concurrency,
                connect_concurrency,
                timeout: Duration::from_millis(timeout_ms),
            };
            let runtime = runtime()?;
            runtime.block_on(scenario::run(&cfg))?;
            // Connection tasks may still be closing: don't wait for them.
            runtime.shutdown_timeout(Duration::from_millis(500));
            Ok(ExitCode::SUCCESS)
        }
    }
}

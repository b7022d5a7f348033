//! `loadgen`: the signalling load generator CLI (see the library docs).
//!
//! * `loadgen fixture --out FILE --max-sockets N --hosts A --probes P` writes the directory JSON.
//! * `loadgen run --url URL --label L [--pid PID] --sizes 1000,5000 ...` runs the benchmark and
//!   prints `result` lines on stdout (progress on stderr).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use loadgen::layout::Layout;
use loadgen::scenario::{self, RunConfig};

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
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Fixture { out, layout } => {
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&out, layout.layout().directory_json())
                .with_context(|| format!("writing {}", out.display()))?;
            Ok(())
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
                fanout_calls,
                fanout_concurrency,
                connect_concurrency,
                timeout: Duration::from_millis(timeout_ms),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            runtime.block_on(scenario::run(&cfg))?;
            // Connection tasks may still be closing: don't wait for them.
            runtime.shutdown_timeout(Duration::from_millis(500));
            Ok(())
        }
    }
}

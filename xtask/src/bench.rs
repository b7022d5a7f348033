//! `cargo xtask bench [--quick]`: signalling load against Huddle and the Node reference, the
//! media bench, and the report.
//!
//! 1. setup if needed (npm packages of `bench/reference-node` included), raise the open-file
//!    limit to the hard limit (the servers and the load generator inherit it);
//! 2. build `huddle`, `loadgen` and `media-bench` (release; debug with `--quick`);
//! 3. write the bench directory (`loadgen fixture`), start Huddle on a free port, run
//!    `loadgen run` against it, stop it; the same for `bench/reference-node/server.mjs`;
//! 4. run the `group_call_updated` fan-out bench against Huddle (`loadgen updates`, a
//!    200-member conversation, Huddle only: the Node reference has no such event);
//! 5. run the cluster bench (`loadgen cluster`: a redis-server and two Huddle nodes; ring and
//!    join latency within one node and across nodes);
//! 6. the PostgreSQL reconnect storm (see [`pg`]; not in quick mode): Huddle memory-first,
//!    Huddle `--no-member-listener` and the Node reference on one throwaway PostgreSQL cluster;
//! 7. run `media-bench`;
//! 8. write `docs/benchmarks.md` (`--quick`: `target/bench-quick.md`).
//!
//! `HUDDLE_BENCH_ONLY=pg` runs only step 6 and replaces its section in `docs/benchmarks.md`
//! (with `--quick`: a tiny smoke run written to `target/bench-pg-quick.md`; sizes can be set
//! with `HUDDLE_BENCH_PG_BURSTS=1000x20,3000x10` and `HUDDLE_BENCH_PG_ROUNDS`).
//!
//! The bench binaries print `result<TAB>label<TAB>size<TAB>metric<TAB>value` lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cmd, setup};

mod pg;

/// Sizes and durations of one bench run.
#[derive(Debug, Clone)]
struct Plan {
    quick: bool,
    sizes: Vec<usize>,
    hosts: usize,
    probes: usize,
    join_samples: usize,
    throughput_ms: u64,
    warmup_ms: u64,
    /// Signalling rounds per server, alternating the order (Huddle, Node, Node, Huddle, …).
    rounds: usize,
    fanout_calls: usize,
    /// Members of the `group_call_updated` bench's big conversation.
    update_members: usize,
    /// Join + leave cycles of that bench.
    update_cycles: usize,
    /// Samples per path of the cluster bench.
    cluster_samples: usize,
    consumers: Vec<usize>,
    media_window_ms: u64,
    /// The PostgreSQL section (`None`: skipped, as in quick mode).
    pg: Option<pg::PgPlan>,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                quick,
                sizes: vec![200],
                hosts: 4,
                probes: 16,
                join_samples: 200,
                throughput_ms: 500,
                warmup_ms: 200,
                rounds: 1,
                fanout_calls: 30,
                update_members: 200,
                update_cycles: 10,
                cluster_samples: 50,
                consumers: vec![50, 100],
                media_window_ms: 500,
                pg: pg::PgPlan::new(true),
            }
        } else {
            Self {
                quick,
                sizes: vec![1000, 5000, 10_000],
                hosts: 20,
                probes: 64,
                join_samples: 3000,
                throughput_ms: 3000,
                warmup_ms: 1000,
                rounds: 2,
                fanout_calls: 300,
                update_members: 200,
                update_cycles: 200,
                cluster_samples: 1000,
                consumers: vec![100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500],
                media_window_ms: 3000,
                pg: pg::PgPlan::new(false),
            }
        }
    }

    fn max_size(&self) -> usize {
        self.sizes.iter().copied().max().unwrap_or(0)
    }

    fn layout_args(&self) -> Vec<String> {
        vec![
            "--max-sockets".into(),
            self.max_size().to_string(),
            "--hosts".into(),
            self.hosts.to_string(),
            "--probes".into(),
            self.probes.to_string(),
        ]
    }
}

/// Builds a server's command line for a port.
type ServerCommand<'a> = Box<dyn Fn(u16) -> Command + 'a>;

/// `(label, size, metric)` → value.
type Results = BTreeMap<(String, usize, String), f64>;

/// Starts one server, runs `loadgen run` against it, stops it; the load generator's stdout.
fn loadgen_against(
    label: &str,
    command: &ServerCommand,
    plan: &Plan,
    bin_dir: &Path,
    work: &Path,
) -> Result<String> {
    let port = free_port()?;
    let log = work.join(format!("{label}.log"));
    let mut server = Server::start(label, command(port), port, &log)?;
    println!("==> bench: loadgen against {label} (pid {})", server.pid());
    let mut loadgen = Command::new(bin_dir.join("loadgen"));
    loadgen
        .arg("run")
        .arg("--url")
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--label", label])
        .arg("--pid")
        .arg(server.pid().to_string())
        .arg("--sizes")
        .arg(comma_list(&plan.sizes))
        .args(plan.layout_args())
        .arg("--join-samples")
        .arg(plan.join_samples.to_string())
        .arg("--throughput-ms")
        .arg(plan.throughput_ms.to_string())
        .arg("--warmup-ms")
        .arg(plan.warmup_ms.to_string())
        .arg("--fanout-calls")
        .arg(plan.fanout_calls.to_string());
    let out = cmd::stdout(&mut loadgen);
    server.stop();
    out.with_context(|| format!("load generator against {label}; log: {}", log.display()))
}

/// The `group_call_updated` fan-out bench: Huddle with the throttle off, so that every
/// participant change fans out to all members.
fn updates_bench(plan: &Plan, bin_dir: &Path, work: &Path, results: &mut Results) -> Result<()> {
    let fixture = updates_fixture(bin_dir, work, "updates-directory.json", plan.update_members)?;
    let port = free_port()?;
    let log = work.join("huddle-updates.log");
    let mut c = bench_huddle(bin_dir, port, &fixture);
    c.args(["--call-update-interval-ms", "0"]);
    let mut server = Server::start("huddle", c, port, &log)?;
    println!(
        "==> bench: group_call_updated fan-out against huddle (pid {})",
        server.pid()
    );
    let mut loadgen = Command::new(bin_dir.join("loadgen"));
    loadgen
        .arg("updates")
        .arg("--url")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--pid")
        .arg(server.pid().to_string())
        .arg("--members")
        .arg(plan.update_members.to_string())
        .arg("--cycles")
        .arg(plan.update_cycles.to_string());
    let out = cmd::stdout(&mut loadgen);
    server.stop();
    let out = out.with_context(|| format!("updates bench; log: {}", log.display()))?;
    parse_results(&out, results);
    Ok(())
}

/// Huddle on 127.0.0.1:`port` with `fixture` as directory, one worker, no rate limit, warnings
/// only: the command line of the Huddle-only benches.
fn bench_huddle(bin_dir: &Path, port: u16, fixture: &Path) -> Command {
    let mut c = Command::new(bin_dir.join("huddle"));
    c.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--directory")
        .arg(fixture)
        .args(["--rtc-listen-ip", "127.0.0.1", "--workers", "1"])
        .args(["--webrtc-port", "0", "--max-events-per-second", "0"])
        .args(["--log", "warn"]);
    c
}

/// Writes `loadgen updates-fixture --members N` to `work/name`.
fn updates_fixture(bin_dir: &Path, work: &Path, name: &str, members: usize) -> Result<PathBuf> {
    let fixture = work.join(name);
    cmd::run(
        Command::new(bin_dir.join("loadgen"))
            .arg("updates-fixture")
            .arg("--out")
            .arg(&fixture)
            .arg("--members")
            .arg(members.to_string()),
    )?;
    Ok(fixture)
}

/// The cluster bench: a throwaway redis-server and two Huddle nodes on it (both on
/// 127.0.0.1, different ports), `loadgen cluster` against them.
fn cluster_bench(plan: &Plan, bin_dir: &Path, work: &Path, results: &mut Results) -> Result<()> {
    let fixture = updates_fixture(bin_dir, work, "cluster-directory.json", 2)?;
    let redis_port = free_port()?;
    let redis_log = fs::File::create(work.join("redis.log"))?;
    let mut redis = Command::new("redis-server")
        .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(work)
        .stdout(Stdio::from(redis_log.try_clone()?))
        .stderr(Stdio::from(redis_log))
        .spawn()
        .context("starting redis-server (run `cargo xtask setup`)")?;
    let result = (|| -> Result<String> {
        let mut nodes = Vec::new();
        let mut urls = Vec::new();
        for i in 1..=2 {
            let port = free_port()?;
            let log = work.join(format!("huddle-cluster-{i}.log"));
            let mut c = bench_huddle(bin_dir, port, &fixture);
            c.arg("--redis-url")
                .arg(format!("redis://127.0.0.1:{redis_port}"))
                .args(["--node-id", &format!("bench{i}")]);
            nodes.push(Server::start("huddle", c, port, &log)?);
            urls.push(format!("http://127.0.0.1:{port}"));
        }
        // The nodes find each other within a renewal.
        std::thread::sleep(Duration::from_secs(3));
        println!("==> bench: cluster (two nodes on one redis-server)");
        let mut loadgen = Command::new(bin_dir.join("loadgen"));
        loadgen
            .arg("cluster")
            .arg("--node1")
            .arg(&urls[0])
            .arg("--node2")
            .arg(&urls[1])
            .arg("--samples")
            .arg(plan.cluster_samples.to_string());
        let out = cmd::stdout(&mut loadgen);
        for mut n in nodes {
            n.stop();
        }
        out
    })();
    let _ = redis.kill();
    let _ = redis.wait();
    parse_results(&result.context("cluster bench")?, results);
    Ok(())
}

/// Rows of the cluster table: metric, description.
const CLUSTER_ROWS: &[(&str, &str)] = &[
    (
        "cluster_ring_p50_us",
        "group_call_initiate → callee's group_call_incoming, p50",
    ),
    ("cluster_ring_p99_us", "the same, p99"),
    (
        "cluster_join_p50_us",
        "join → active_group_calls (a call active, homed on node 1), p50",
    ),
    ("cluster_join_p99_us", "the same, p99"),
];

/// Rows of the `group_call_updated` table: metric, description.
const UPDATE_ROWS: &[(&str, &str)] = &[
    (
        "updates_big_cpu_us",
        "server CPU per join or leave, with the update to every member",
    ),
    ("updates_pair_cpu_us", "the same in a 2-member conversation"),
    (
        "updates_recipient_cpu_us",
        "difference per additional member socket",
    ),
    (
        "updates_big_last_p50_us",
        "change → last member socket received it, p50",
    ),
    (
        "updates_big_last_p99_us",
        "change → last member socket received it, p99",
    ),
    (
        "updates_pair_last_p50_us",
        "the same in a 2-member conversation, p50",
    ),
    ("updates_missing", "updates not delivered"),
];

/// `1000,5000,10000`: a list argument of the bench binaries.
fn comma_list(values: &[usize]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One result per key from several rounds: the mean, except error and missing counts, which
/// are summed (a failure in any round shows).
fn merge_rounds(rounds: Vec<Results>) -> Results {
    let mut all: BTreeMap<(String, usize, String), Vec<f64>> = BTreeMap::new();
    for round in rounds {
        for (key, value) in round {
            all.entry(key).or_default().push(value);
        }
    }
    all.into_iter()
        .map(|(key, values)| {
            let sum: f64 = values.iter().sum();
            let counted = ["errors", "missing", "refused", "unanswered", "wrong"]
                .iter()
                .any(|w| key.2.contains(w));
            let value = if counted {
                sum
            } else {
                sum / values.len() as f64
            };
            (key, value)
        })
        .collect()
}

/// Parses the `result` lines of a bench binary's stdout into `results`.
fn parse_results(stdout: &str, results: &mut Results) {
    for line in stdout.lines() {
        let mut parts = line.split('\t');
        if parts.next() != Some("result") {
            continue;
        }
        let (Some(label), Some(size), Some(metric), Some(value)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if let (Ok(size), Ok(value)) = (size.parse(), value.parse()) {
            results.insert((label.to_owned(), size, metric.to_owned()), value);
        }
    }
}

/// `cargo xtask bench [--quick] [--no-build]`.
pub fn bench(ws: &Path, quick: bool, no_build: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let plan = Plan::new(quick);
    setup::ensure(ws)?;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => println!("bench: open-file limit {limit}"),
        Err(e) => println!("bench: cannot raise the open-file limit: {e}"),
    }
    let node = cmd::which("node").context("`node` is not on PATH (run `cargo xtask setup`)")?;
    if !ws
        .join("bench/reference-node/node_modules/socket.io")
        .is_dir()
    {
        bail!("bench/reference-node/node_modules is missing (run `cargo xtask setup`)");
    }
    if std::env::var("HUDDLE_BENCH_ONLY").is_ok_and(|v| v == "pg") {
        return pg_only(ws, &plan, no_build, &node, started);
    }

    let (profile, bin_dir) = build_binaries(
        ws,
        "bench",
        quick,
        no_build,
        &["huddle", "loadgen", "media-bench"],
    )?;
    let work = cmd::target_dir(ws).join("bench");
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    let fixture = work.join("directory.json");
    cmd::run(
        Command::new(bin_dir.join("loadgen"))
            .arg("fixture")
            .arg("--out")
            .arg(&fixture)
            .args(plan.layout_args()),
    )?;

    let servers: [(&str, ServerCommand); 2] = [
        (
            "huddle",
            Box::new(|port| {
                let mut c = Command::new(bin_dir.join("huddle"));
                c.arg("--listen")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--directory")
                    .arg(&fixture)
                    .args([
                        "--rtc-listen-ip",
                        "127.0.0.1",
                        "--workers",
                        "1",
                        "--webrtc-port",
                        "0",
                    ])
                    // The per-socket rate limit (default 100/s) protects production servers;
                    // the closed-loop probes exceed it by design, and the Node reference has none.
                    .args(["--max-events-per-second", "0"])
                    .args(["--log", "warn"]);
                c
            }),
        ),
        (
            "node",
            Box::new(|port| {
                let mut c = Command::new(&node);
                c.arg(ws.join("bench/reference-node/server.mjs"))
                    .arg("--port")
                    .arg(port.to_string())
                    .arg("--directory")
                    .arg(&fixture);
                c
            }),
        ),
    ];
    let mut rounds = Vec::new();
    for round in 0..plan.rounds {
        // ABBA order: a drift of the machine's speed during the run hits both servers alike.
        let mut order: Vec<&(&str, ServerCommand)> = servers.iter().collect();
        if round % 2 == 1 {
            order.reverse();
        }
        let mut this = Results::new();
        for (label, command) in order {
            let out = loadgen_against(label, command, &plan, &bin_dir, &work)?;
            parse_results(&out, &mut this);
        }
        rounds.push(this);
    }
    let mut results = merge_rounds(rounds);

    updates_bench(&plan, &bin_dir, &work, &mut results)?;
    cluster_bench(&plan, &bin_dir, &work, &mut results)?;
    if let Some(pg_plan) = &plan.pg {
        results.extend(pg::run(ws, pg_plan, &bin_dir, &node, &work)?);
    }

    println!("==> bench: media-bench");
    let mut media = Command::new(bin_dir.join("media-bench"));
    media
        .arg("--consumers")
        .arg(comma_list(&plan.consumers))
        .arg("--window-ms")
        .arg(plan.media_window_ms.to_string());
    parse_results(&cmd::stdout(&mut media)?, &mut results);

    let mut report = render(ws, &plan, &results, profile, started.elapsed());
    let path = if quick {
        cmd::target_dir(ws).join("bench-quick.md")
    } else {
        ws.join("docs/benchmarks.md")
    };
    // Keep the sections maintained by hand (`## Run-to-run spread`, and `## Soak` from
    // `cargo xtask soak`).
    if !quick && let Ok(old) = fs::read_to_string(&path) {
        report.push_str(&kept_sections(&old));
    }
    fs::write(&path, report).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "bench: report written to {} ({:.0} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `HUDDLE_BENCH_ONLY=pg`: the PostgreSQL section alone, replaced in `docs/benchmarks.md`.
fn pg_only(
    ws: &Path,
    plan: &Plan,
    no_build: bool,
    node: &Path,
    started: Instant,
) -> Result<ExitCode> {
    let pg_plan = &pg::PgPlan::only(plan.quick)?;
    let (profile, bin_dir) =
        build_binaries(ws, "bench", plan.quick, no_build, &["huddle", "loadgen"])?;
    let work = cmd::target_dir(ws).join("bench");
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let results = pg::run(ws, pg_plan, &bin_dir, node, &work)?;
    let header = format!(
        "Written by `HUDDLE_BENCH_ONLY=pg cargo xtask bench` on {} ({profile} build, {:.0} s), \
         on the machine above.",
        version_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        started.elapsed().as_secs_f64()
    );
    let section = pg::render(pg_plan, &results, &header);
    // Quick: a smoke run, not for the docs.
    let path = if plan.quick {
        cmd::target_dir(ws).join("bench-pg-quick.md")
    } else {
        ws.join("docs/benchmarks.md")
    };
    let old = fs::read_to_string(&path).unwrap_or_default();
    fs::write(&path, pg::splice(&old, &section))
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "bench: PostgreSQL section written to {} ({:.0} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds the binaries of `packages` (debug when `quick`, else release) unless `no_build`;
/// the profile's name and binary directory.
pub(crate) fn build_binaries(
    ws: &Path,
    task: &str,
    quick: bool,
    no_build: bool,
    packages: &[&str],
) -> Result<(&'static str, PathBuf)> {
    let profile = if quick { "debug" } else { "release" };
    let mut build = cmd::cargo(ws);
    build.args(["build", "--quiet"]);
    if !quick {
        build.arg("--release");
    }
    for package in packages {
        build.args(["-p", package]);
    }
    // `--bins`, not `--bin huddle`: a `--bin` filter would apply to every package.
    build.arg("--bins");
    if no_build {
        println!("==> {task}: --no-build: using the {profile} binaries in target/");
    } else {
        println!("==> {task}: {}", cmd::display(&build));
        cmd::run(&mut build)?;
    }
    Ok((profile, cmd::target_dir(ws).join(profile)))
}

/// A free loopback TCP port.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A server process under test; killed when stopped or dropped.
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Spawns `command` with output to `log` and waits for `GET /healthz` on `port`.
    pub(crate) fn start(label: &str, mut command: Command, port: u16, log: &Path) -> Result<Self> {
        let file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = file.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err));
        let child = command
            .spawn()
            .with_context(|| format!("starting {label}: `{}`", cmd::display(&command)))?;
        let mut server = Self {
            child,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{label} exited early ({status}); log:\n{}",
                    server.log_tail()
                );
            }
            if healthz(port) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                server.stop();
                bail!(
                    "{label} did not answer /healthz within 30 s; log:\n{}",
                    server.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended (e.g. crashed) by itself.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last 4000 bytes of the log.
    pub(crate) fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// Kills the process (if still running) and reaps it.
    pub(crate) fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `GET /healthz` on `127.0.0.1:port` answers 200.
fn healthz(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
}

// ---------------------------------------------------------------------------------------------
// report

/// Level-2 sections of docs/benchmarks.md that `bench` does not write and keeps on rewrite.
const KEPT_SECTIONS: &[&str] = &[
    "## Run-to-run spread",
    "## Soak",
    "## Memory per idle socket",
    "## mediasoup 0.21 re-run",
];

/// The [`KEPT_SECTIONS`] of an old report, each up to the next level-2 heading.
fn kept_sections(old: &str) -> String {
    let mut out = String::new();
    let mut keeping = false;
    for line in old.lines() {
        if line.starts_with("## ") {
            keeping = KEPT_SECTIONS
                .iter()
                .any(|h| line == *h || line.starts_with(&format!("{h} ")));
        }
        if keeping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// First line of a command's output, or `?`.
pub(crate) fn version_of(program: &str, args: &[&str]) -> String {
    cmd::stdout(Command::new(program).args(args).stderr(Stdio::null()))
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
        .unwrap_or_else(|| "?".to_owned())
}

/// `version = "..."` of package `name` in Cargo.lock.
pub(crate) fn locked_version(ws: &Path, name: &str) -> String {
    let lock = fs::read_to_string(ws.join("Cargo.lock")).unwrap_or_default();
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| {
            let rest = &lock[i + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// `"version": "..."` of an npm package.json.
fn npm_version(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.find("\"version\"")
        .and_then(|i| {
            let rest = &text[i + 9..];
            let start = rest.find('"')? + 1;
            let end = rest[start..].find('"')?;
            Some(rest[start..start + end].to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// Model name, CPU count and memory of this machine.
pub(crate) fn machine() -> (String, usize, String) {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "?".to_owned());
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(
            || "?".to_owned(),
            |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0),
        );
    (model, cpus, mem)
}

/// Formats a metric value for the tables.
fn fmt_value(metric: &str, v: f64) -> String {
    if metric.ends_with("_us") {
        if v >= 1000.0 {
            format!("{:.2} ms", v / 1000.0)
        } else {
            format!("{v:.0} µs")
        }
    } else if metric.ends_with("_bytes") {
        format!("{:.1} KiB", v / 1024.0)
    } else if metric.ends_with("_kib") {
        format!("{:.1} MiB", v / 1024.0)
    } else if metric.ends_with("per_sec") {
        format!("{v:.0}/s")
    } else if metric.contains("cpu_share") {
        format!("{:.0}% of a core", v * 100.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Rows of the signalling table: metric, description, whether lower is better.
const SIGNALLING_ROWS: &[(&str, &str, bool)] = &[
    ("join_p50_us", "join → active_group_calls p50", true),
    ("join_p99_us", "join → active_group_calls p99", true),
    ("gac_per_sec", "get_active_calls (ack) throughput", false),
    (
        "gac_p50_us",
        "get_active_calls ack latency p50 (closed loop)",
        true,
    ),
    (
        "gac_p99_us",
        "get_active_calls ack latency p99 (closed loop)",
        true,
    ),
    (
        "gac_server_cpu_per_req_us",
        "server CPU per get_active_calls",
        true,
    ),
    (
        "gac_server_cpu_share",
        "server CPU during the throughput phase",
        false,
    ),
    (
        "fanout_p50_us",
        "group_call_initiate → group_call_incoming p50 (per recipient)",
        true,
    ),
    (
        "fanout_p99_us",
        "group_call_initiate → group_call_incoming p99 (per recipient)",
        true,
    ),
    (
        "fanout_all_p99_us",
        "initiate → last of 9 recipients p99",
        true,
    ),
    ("rss_kib", "server RSS", true),
    ("rss_per_socket_bytes", "RSS per idle joined socket", true),
    ("connect_errors", "connect/join failures", true),
    (
        "join_errors",
        "join probes without active_group_calls",
        true,
    ),
    ("gac_errors", "get_active_calls failures", true),
    ("fanout_missing", "group_call_incoming not delivered", true),
];

/// Met / not met text.
fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "**met**",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

fn render(ws: &Path, plan: &Plan, r: &Results, profile: &str, elapsed: Duration) -> String {
    let get = |label: &str, size: usize, metric: &str| {
        r.get(&(label.to_owned(), size, metric.to_owned())).copied()
    };
    let (model, cpus, mem) = machine();
    let mut out = String::new();
    let title = if plan.quick {
        "Huddle benchmarks (quick run)"
    } else {
        "Huddle benchmarks"
    };
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench{}` on {} ({profile} build, {:.0} s). Re-run it to \
         reproduce; the raw server logs are in `target/bench/`.\n",
        if plan.quick { " --quick" } else { "" },
        version_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        elapsed.as_secs_f64()
    );
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| CPU | {model} |");
    let _ = writeln!(out, "| cores (`nproc`) | {cpus} |");
    let _ = writeln!(out, "| memory | {mem} |");
    let _ = writeln!(out, "| kernel | {} |", version_of("uname", &["-sr"]));
    let _ = writeln!(out, "| rustc | {} |", version_of("rustc", &["-V"]));
    let _ = writeln!(out, "| node | {} |", version_of("node", &["--version"]));
    if plan.pg.is_some() {
        let _ = writeln!(out, "| PostgreSQL | {} |", pg::pg_version());
    }
    let _ = writeln!(
        out,
        "| socket.io (reference) | {} |",
        npm_version(&ws.join("bench/reference-node/node_modules/socket.io/package.json"))
    );
    let _ = writeln!(
        out,
        "| socketioxide / mediasoup (Huddle) | {} / {} |",
        locked_version(ws, "socketioxide"),
        locked_version(ws, "mediasoup")
    );
    let _ = writeln!(out);

    let _ = writeln!(out, "## Method\n");
    let _ = writeln!(
        out,
        "Everything runs on this machine over loopback: the server under test, the load \
         generator (`bench/loadgen`, Rust, speaking Engine.IO v4 / Socket.IO v4 over \
         WebSocket) and, for the media bench, the RTP sender and receivers. They share the \
         {cpus} cores, so absolute numbers are lower bounds; the Huddle / Node ratios compare \
         both servers under the same conditions, one after the other in the same run: {} \
         round(s) per server in alternating order (Huddle, Node, Node, Huddle), each value the \
         mean of the rounds (error counts summed), so that a drift of the shared machine's speed \
         during the run affects both alike.\n",
        plan.rounds
    );
    let _ = writeln!(
        out,
        "* Servers: `huddle --workers 1 --max-events-per-second 0 --log warn` (the per-socket rate limit off: the closed-loop probes exceed it by design) with the embedded directory, and \
         `bench/reference-node/server.mjs` (socket.io 4, the seeds' non-media events and \
         room bookkeeping, no logging), both reading the same generated directory \
         (`loadgen fixture`: {} idle users in groups of 10, {} active conversations, {} probe \
         users).",
        plan.max_size(),
        plan.hosts,
        plan.probes
    );
    let _ = writeln!(
        out,
        "* Setup: {} host sockets `createRoom` one conversation each, so calls are active and \
         lookups are not short-circuited; {} probe sockets are members of one active call each.",
        plan.hosts, plan.probes
    );
    let _ = writeln!(
        out,
        "* Per size, idle sockets are connected and `join`ed (cumulatively), then: RSS \
         (`VmRSS`, growth over the pre-connection baseline / idle sockets); {} `join` → \
         `active_group_calls` samples with 4 probes in parallel; `get_active_calls` with an ack \
         from all {} probes in a closed loop for {} ms after an unmeasured {} ms warm-up \
         (requests/s; server CPU from `/proc/<pid>/stat`); {} `group_call_initiate` calls \
         (4 in flight) from one member of a 10-member group, timed to each of the 9 other \
         members' `group_call_incoming`.",
        plan.join_samples, plan.probes, plan.throughput_ms, plan.warmup_ms, plan.fanout_calls
    );
    if plan.pg.is_some() {
        let _ = writeln!(out, "{}", pg::METHOD_BULLET);
    }
    let _ = writeln!(
        out,
        "* Media (`bench/media`): one mediasoup worker, one producer on a PlainTransport fed \
         by a UDP sender in the bench process with Opus-typed RTP at a video-like rate \
         (150 packets/s × 1000 B ≈ 1.2 Mbit/s), consumers added in steps, each on its own \
         PlainTransport sending to one of 8 receiving UDP sockets; {} ms per step. Worker CPU \
         is the `mediasoup-worker` thread's utime+stime; loss is packets received vs. sent × \
         consumers (the worker's own counters are reported too).\n",
        plan.media_window_ms
    );

    let _ = writeln!(out, "## Signalling results\n");
    for &size in &plan.sizes {
        let _ = writeln!(out, "### {size} connected idle sockets\n");
        let _ = writeln!(out, "| metric | Huddle | Node | Huddle / Node |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for (metric, what, lower_better) in SIGNALLING_ROWS {
            let h = get("huddle", size, metric);
            let n = get("node", size, metric);
            if h.is_none() && n.is_none() {
                continue;
            }
            let cell = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| fmt_value(metric, v));
            let ratio = match (h, n) {
                (Some(h), Some(n))
                    if h > 0.0
                        && n > 0.0
                        && !metric.ends_with("errors")
                        && !metric.ends_with("missing") =>
                {
                    let ratio = h / n;
                    let better = if *lower_better {
                        ratio < 1.0
                    } else {
                        ratio > 1.0
                    };
                    format!("{ratio:.2}×{}", if better { " ✓" } else { "" })
                }
                _ => "–".to_owned(),
            };
            let _ = writeln!(out, "| {what} | {} | {} | {ratio} |", cell(h), cell(n));
        }
        let _ = writeln!(out);
    }
    for label in ["huddle", "node"] {
        if let Some(base) = get(label, 0, "rss_base_kib") {
            let _ = writeln!(
                out,
                "Baseline RSS of {label} before the idle sockets (with hosts and probes \
                 connected): {}.",
                fmt_value("rss_base_kib", base)
            );
        }
    }
    let _ = writeln!(out);

    let members = plan.update_members;
    let _ = writeln!(
        out,
        "## group_call_updated fan-out ({members}-member conversation, Huddle only)\n"
    );
    let _ = writeln!(
        out,
        "All {members} members connected and joined, one host in the call; another member \
         joins and leaves the room {} times (ack, then wait until every member socket has the \
         update). The server runs with `--call-update-interval-ms 0`, so every change fans \
         out; with the default one-second throttle a conversation costs at most one fan-out \
         per second however fast people come and go. The 2-member conversation is the same \
         cycle with almost no fan-out, so the difference is the fan-out itself. The update is \
         built from the room's cached roster: no directory query.\n",
        plan.update_cycles
    );
    let _ = writeln!(out, "| metric | Huddle |\n|---|---:|");
    for (metric, what) in UPDATE_ROWS {
        if let Some(v) = get("huddle", members, metric) {
            let _ = writeln!(out, "| {what} | {} |", fmt_value(metric, v));
        }
    }
    let _ = writeln!(out);

    let samples = plan.cluster_samples;
    let _ = writeln!(
        out,
        "## Cluster mode (two nodes on one Redis, {samples} samples per path)\n"
    );
    let _ = writeln!(
        out,
        "Both nodes and Redis on this machine's loopback. *Same node*: the callee (or the \
         joining member) is connected to node 1, where the caller is and the call is homed; \
         *other node*: to node 2, so the ring is relayed through Redis and the active call is \
         read from node 2's in-memory replica (one directory query either way, no Redis round \
         trip on join).\n"
    );
    let _ = writeln!(out, "| path | same node | other node |\n|---|---:|---:|");
    for (metric, what) in CLUSTER_ROWS {
        let cell = |label: &str| {
            get(label, samples, metric).map_or_else(|| "–".to_owned(), |v| fmt_value(metric, v))
        };
        let _ = writeln!(
            out,
            "| {what} | {} | {} |",
            cell("local"),
            cell("cross-node")
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## Media results (one worker)\n");
    let _ = writeln!(
        out,
        "| consumers | worker CPU | CPU per 100 consumers | delivered loss | SFU-counted loss | egress packets/s |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    let mut media_steps: Vec<usize> = r
        .keys()
        .filter(|(l, _, m)| l == "media" && m == "worker_cpu_share")
        .map(|(_, s, _)| *s)
        .collect();
    media_steps.sort_unstable();
    for n in &media_steps {
        let g = |m: &str| get("media", *n, m).unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "| {n} | {:.1}% | {:.1}% | {:.3}% | {:.3}% | {:.0} |",
            g("worker_cpu_share") * 100.0,
            g("worker_cpu_per_100") * 100.0,
            g("loss") * 100.0,
            g("sfu_forward_loss") * 100.0,
            g("out_pps")
        );
    }
    let media_max = plan.consumers.iter().copied().max().unwrap_or(0);
    let lossless = get("media", media_max, "max_lossless_consumers");
    let onset = get("media", media_max, "loss_onset_consumers").filter(|v| *v >= 0.0);
    let _ = writeln!(
        out,
        "\nLargest step without loss (> 0.1%): {}; loss starts at: {}.",
        lossless.map_or_else(|| "–".to_owned(), |v| format!("{v:.0} consumers")),
        onset.map_or_else(
            || format!("not reached up to {media_max} consumers"),
            |v| format!("{v:.0} consumers")
        )
    );
    // CPU-bound estimate from the largest lossless step.
    let cpu_per_100 = lossless
        .filter(|v| *v > 0.0)
        .and_then(|n| get("media", n as usize, "worker_cpu_per_100"));
    if let Some(c) = cpu_per_100.filter(|c| *c > 0.0) {
        let _ = writeln!(
            out,
            "At {:.1}% of a core per 100 consumers, one fully busy worker core would carry about \
             {:.0} consumers of this stream.",
            c * 100.0,
            100.0 / c
        );
    }
    let _ = writeln!(out);

    if let Some(pg_plan) = &plan.pg {
        out.push_str(&pg::render(pg_plan, r, ""));
    }

    // Targets.
    let _ = writeln!(out, "## Targets (issue 8)\n");
    let _ = writeln!(out, "| target | measured | verdict |\n|---|---|---|");
    let ratios: Vec<(usize, f64)> = plan
        .sizes
        .iter()
        .filter_map(|&s| {
            let h = get("huddle", s, "gac_per_sec")?;
            let n = get("node", s, "gac_per_sec")?;
            (n > 0.0).then_some((s, h / n))
        })
        .collect();
    let min_ratio = ratios.iter().map(|(_, r)| *r).fold(f64::INFINITY, f64::min);
    let ratio_text = ratios
        .iter()
        // Rounded down, so that a ratio shown as 3.00× is at least 3.
        .map(|(s, r)| format!("{:.2}× at {s}", (r * 100.0).floor() / 100.0))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "| ≥ 3× the Node reference in throughput (`get_active_calls`/s) | {} | {} |",
        if ratio_text.is_empty() {
            "–".to_owned()
        } else {
            ratio_text
        },
        verdict((!ratios.is_empty()).then_some(min_ratio >= 3.0))
    );
    let join_size = if plan.sizes.contains(&5000) {
        5000
    } else {
        plan.max_size()
    };
    let join = get("huddle", join_size, "join_p99_us");
    let _ = writeln!(
        out,
        "| p99 join latency < 2 ms at 5k sockets | {} | {} |",
        join.map_or_else(
            || "–".to_owned(),
            |v| format!("{} at {join_size} sockets", fmt_value("join_p99_us", v))
        ),
        if join_size == 5000 {
            verdict(join.map(|v| v < 2000.0))
        } else {
            "not measured (no 5k run)"
        }
    );
    let rss_size = plan.max_size();
    let rss = get("huddle", rss_size, "rss_per_socket_bytes");
    let _ = writeln!(
        out,
        "| ≤ 40 KB RSS per idle socket | {} | {} |",
        rss.map_or_else(
            || "–".to_owned(),
            |v| format!("{:.1} KB at {rss_size} sockets", v / 1000.0)
        ),
        verdict(rss.map(|v| v <= 40_000.0))
    );
    let consumers_ok = match (lossless, onset) {
        (Some(l), _) if l >= 500.0 => Some(true),
        (_, Some(o)) if o <= 500.0 => Some(false),
        _ if media_max < 500 => None,
        (Some(_), None) => Some(false),
        _ => None,
    };
    let _ = writeln!(
        out,
        "| ≥ 500 consumers per worker (no loss) | {} | {} |",
        lossless.map_or_else(
            || "–".to_owned(),
            |v| format!("{v:.0} consumers without loss")
        ),
        if media_max < 500 && consumers_ok.is_none() {
            "not measured (quick sizes)"
        } else {
            verdict(consumers_ok)
        }
    );
    let _ = writeln!(out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_lines() {
        let mut r = Results::new();
        parse_results(
            "noise\nresult\thuddle\t200\tjoin_p99_us\t812.500\nresult\tbad\tx\ty\t1\n",
            &mut r,
        );
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.get(&("huddle".to_owned(), 200, "join_p99_us".to_owned())),
            Some(&812.5)
        );
    }

    #[test]
    fn merges_rounds_by_mean_and_sums_failures() {
        let key = |m: &str| ("huddle".to_owned(), 1000, m.to_owned());
        let round = |rate: f64, errors: f64| {
            Results::from([(key("gac_per_sec"), rate), (key("gac_errors"), errors)])
        };
        let merged = merge_rounds(vec![
            round(100.0, 0.0),
            round(300.0, 2.0),
            round(200.0, 1.0),
        ]);
        assert_eq!(merged.get(&key("gac_per_sec")), Some(&200.0));
        assert_eq!(merged.get(&key("gac_errors")), Some(&3.0));
    }

    #[test]
    fn formats_values() {
        assert_eq!(fmt_value("join_p99_us", 812.4), "812 µs");
        assert_eq!(fmt_value("join_p99_us", 2500.0), "2.50 ms");
        assert_eq!(fmt_value("rss_per_socket_bytes", 2048.0), "2.0 KiB");
        assert_eq!(fmt_value("gac_per_sec", 1234.4), "1234/s");
    }

    #[test]
    fn keeps_the_soak_section() {
        let old =
            "# B\n\n## Machine\nx\n\n## Soak\n\nfigures\n### Last run\n| a |\n\n## Targets\nt\n";
        assert_eq!(
            kept_sections(old),
            "## Soak\n\nfigures\n### Last run\n| a |\n\n"
        );
        assert_eq!(kept_sections("# B\n## Machine\n"), "");
    }

    #[test]
    fn quick_plan_is_small() {
        let plan = Plan::new(true);
        assert!(plan.max_size() <= 500);
        assert!(plan.consumers.iter().all(|c| *c <= 100));
        assert_eq!(plan.layout_args()[1], "200");
    }
}

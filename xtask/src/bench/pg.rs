//! The PostgreSQL section of `cargo xtask bench` (issue 15): a reconnect storm against Huddle
//! on PostgreSQL (memory-first active calls, the default, and `--no-member-listener`, where
//! every lookup queries the database) and the Node reference on the same database (`pg`).
//!
//! 1. start a throwaway PostgreSQL cluster (`initdb`, trust authentication, a free port on
//!    127.0.0.1, the unix socket inside its directory; as root every PostgreSQL program runs
//!    as the `postgres` user), pinned to the second core with the load generator;
//! 2. create a database, `huddle migrate` it, load `loadgen pg-fixture` with `psql -f`;
//! 3. per round and server (ABBA order), start the server pinned to the first core
//!    (`taskset -c 0`), run `loadgen storm` against it, stop it;
//! 4. stop the cluster and remove its directory (on drop, so also on failure; a watchdog
//!    process does it if xtask itself is killed).
//!
//! `HUDDLE_BENCH_ONLY=pg cargo xtask bench` runs only this section and replaces it in
//! `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::{Results, Server, fmt_value, free_port, merge_rounds, parse_results, verdict};
use crate::cmd;

/// Heading of the generated section (`HUDDLE_BENCH_ONLY=pg` replaces it in place).
pub(super) const HEADING: &str = "## PostgreSQL directory: reconnect storm";

/// The bullet of the report's method list.
pub(super) const METHOD_BULLET: &str = "* PostgreSQL (issue 15): Huddle on PostgreSQL, as shipped \
     (memory-first active calls) and with `--no-member-listener`, and the Node reference with \
     `--database-url` (`pg`), on one throwaway PostgreSQL cluster, the server pinned to one core: \
     a reconnect storm of `get_active_calls` bursts and a `join` phase; the workload and how each \
     value is measured are in [its section](#postgresql-directory-reconnect-storm). \
     `HUDDLE_BENCH_ONLY=pg cargo xtask bench` re-runs that section alone and replaces it here.";

/// The servers of the section: label, column title.
const SERVERS: &[(&str, &str)] = &[
    ("huddle-pg", "Huddle (memory-first)"),
    ("huddle-pg-nolisten", "Huddle `--no-member-listener`"),
    ("node-pg", "Node (`pg`)"),
];

/// Sizes of the PostgreSQL section.
#[derive(Debug, Clone)]
pub(super) struct PgPlan {
    /// Users in the database (the largest burst's sockets).
    pub users: usize,
    /// Bursts `(sockets, get_active_calls per socket)`, ascending.
    pub bursts: Vec<(usize, usize)>,
    /// `join` → `active_group_calls` samples per burst size.
    pub join_samples: usize,
    /// Rounds per server (ABBA).
    pub rounds: usize,
}

impl PgPlan {
    /// The full plan; `None` in quick mode (the section is skipped there).
    pub(super) fn new(quick: bool) -> Option<Self> {
        (!quick).then(|| Self {
            users: 3000,
            bursts: vec![(1000, 20), (3000, 10)],
            // One join per socket (CPU per join from 10 ms clock ticks needs many).
            join_samples: 3000,
            rounds: 2,
        })
    }

    /// The plan of `HUDDLE_BENCH_ONLY=pg` (quick: a tiny smoke run), with the overrides
    /// `HUDDLE_BENCH_PG_BURSTS` (`1000x20,3000x10`) and `HUDDLE_BENCH_PG_ROUNDS`.
    pub(super) fn only(quick: bool) -> Result<Self> {
        let mut plan = Self::new(quick).unwrap_or(Self {
            users: 200,
            bursts: vec![(200, 5)],
            join_samples: 100,
            rounds: 1,
        });
        if let Ok(text) = std::env::var("HUDDLE_BENCH_PG_BURSTS") {
            let mut bursts = Vec::new();
            for part in text.split(',').filter(|p| !p.trim().is_empty()) {
                let parsed = part
                    .trim()
                    .split_once('x')
                    .and_then(|(n, k)| Some((n.parse().ok()?, k.parse().ok()?)))
                    .filter(|&(n, k): &(usize, usize)| n > 0 && k > 0);
                let Some(burst) = parsed else {
                    bail!("HUDDLE_BENCH_PG_BURSTS: {part:?} is not SOCKETSxREQUESTS");
                };
                bursts.push(burst);
            }
            bursts.sort_unstable();
            plan.users = bursts.last().map_or(plan.users, |b| b.0);
            plan.join_samples = plan.join_samples.min(plan.users);
            plan.bursts = bursts;
        }
        if let Ok(text) = std::env::var("HUDDLE_BENCH_PG_ROUNDS") {
            plan.rounds = text
                .parse()
                .context("HUDDLE_BENCH_PG_ROUNDS is not a number")?;
        }
        Ok(plan)
    }

    fn bursts_arg(&self) -> String {
        self.bursts
            .iter()
            .map(|(n, k)| format!("{n}x{k}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A throwaway PostgreSQL cluster, stopped and removed on drop.
struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The PostgreSQL binaries: `HUDDLE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`,
/// else the directory of `pg_ctl` on `PATH`.
fn pg_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("HUDDLE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    cmd::which("pg_ctl")
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .context("no PostgreSQL binaries (run `cargo xtask setup`, or set HUDDLE_PG_BIN)")
}

/// `taskset -c <cpu>` in front of `program` when `cpu` is set.
fn pinned(cpu: Option<&str>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

impl PgCluster {
    /// `initdb` and `pg_ctl start`, the server pinned to `cpu`.
    fn start(cpu: Option<&str>) -> Result<Self> {
        let bin = pg_bin_dir()?;
        let as_postgres = cmd::is_root();
        let dir = std::env::temp_dir().join(format!("huddle-bench-pg-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if as_postgres {
            cmd::run(Command::new("chown").arg("postgres:").arg(&dir))?;
        }
        let cluster = Self {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
        };
        cluster.spawn_watchdog();
        let data = cluster.dir.join("data");
        cmd::run(
            cluster
                .pg_command(None, "initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
                .stdout(Stdio::null()),
        )?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            cluster.port,
            cluster.dir.display()
        );
        cmd::run(
            cluster
                .pg_command(cpu, "pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.dir.join("server.log"))
                .args(["-o", &options, "-w", "-t", "60", "start"])
                .stdout(Stdio::null()),
        )?;
        Ok(cluster)
    }

    /// `bin/<program>` (as the `postgres` user when root), pinned to `cpu`.
    fn pg_command(&self, cpu: Option<&str>, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = pinned(cpu, "runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            pinned(cpu, path)
        };
        c.current_dir(&self.dir);
        c
    }

    /// URL of database `db`.
    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// `psql` on database `db` over TCP, stopping at the first error.
    fn psql(&self, db: &str) -> Command {
        let mut c = Command::new(self.bin.join("psql"));
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", db])
            .stdout(Stdio::null());
        c
    }

    /// Stops the cluster and removes its directory once this process is gone.
    fn spawn_watchdog(&self) {
        let runas = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {runas}'{pg_ctl}' -D '{dir}/data' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            dir = self.dir.display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .pg_command(None, "pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The PostgreSQL version (`postgres --version`).
pub(super) fn pg_version() -> String {
    pg_bin_dir()
        .ok()
        .map(|bin| super::version_of(&bin.join("postgres").to_string_lossy(), &["--version"]))
        // `postgres (PostgreSQL) 15.14 (Debian …)` → `PostgreSQL 15.14 (Debian …)`.
        .map(|v| {
            v.strip_prefix("postgres (PostgreSQL) ")
                .map_or(v.clone(), |rest| format!("PostgreSQL {rest}"))
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// Runs the section: the cluster, the fixture, `loadgen storm` against the three servers.
pub(super) fn run(
    ws: &Path,
    plan: &PgPlan,
    bin_dir: &Path,
    node: &Path,
    work: &Path,
) -> Result<Results> {
    if !ws.join("bench/reference-node/node_modules/pg").is_dir() {
        bail!("bench/reference-node/node_modules/pg is missing (run `cargo xtask setup`)");
    }
    // Two cores or more: the server on the first, the load generator and PostgreSQL on the
    // second.
    let two = std::thread::available_parallelism().map_or(1, usize::from) >= 2
        && cmd::which("taskset").is_some();
    let (server_cpu, other_cpu) = if two {
        (Some("0"), Some("1"))
    } else {
        println!("==> bench: PostgreSQL: fewer than 2 cores or no taskset: nothing is pinned");
        (None, None)
    };
    println!("==> bench: PostgreSQL: starting a throwaway cluster");
    let cluster = PgCluster::start(other_cpu)?;
    cmd::run(
        cluster
            .psql("postgres")
            .args(["-c", "CREATE DATABASE huddle_bench"]),
    )?;
    let url = cluster.url("huddle_bench");
    cmd::run(
        Command::new(bin_dir.join("huddle"))
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .env_remove("HUDDLE_DATABASE_URL"),
    )
    .context("huddle migrate")?;
    let fixture = work.join("pg-fixture.sql");
    cmd::run(
        Command::new(bin_dir.join("loadgen"))
            .arg("pg-fixture")
            .arg("--out")
            .arg(&fixture)
            .arg("--users")
            .arg(plan.users.to_string()),
    )?;
    cmd::run(cluster.psql("huddle_bench").arg("-f").arg(&fixture))
        .context("loading the fixture")?;

    let server = |label: &str, port: u16| -> Command {
        if label == "node-pg" {
            let mut c = pinned(server_cpu, node);
            c.arg(ws.join("bench/reference-node/server.mjs"))
                .arg("--port")
                .arg(port.to_string())
                .arg("--database-url")
                .arg(&url);
            return c;
        }
        let mut c = pinned(server_cpu, bin_dir.join("huddle"));
        c.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database-url")
            .arg(&url)
            .args([
                "--auth",
                "none",
                "--no-migrate",
                "--rtc-listen-ip",
                "127.0.0.1",
            ])
            .args(["--workers", "1", "--webrtc-port", "0"])
            .args(["--max-events-per-second", "0", "--log", "warn"])
            .env_remove("DATABASE_URL")
            .env_remove("HUDDLE_DATABASE_URL");
        if label == "huddle-pg-nolisten" {
            c.arg("--no-member-listener");
        }
        c
    };
    let mut rounds = Vec::new();
    for round in 0..plan.rounds {
        let mut order: Vec<&str> = SERVERS.iter().map(|(l, _)| *l).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        let mut this = Results::new();
        for label in order {
            let port = free_port()?;
            let log = work.join(format!("{label}.log"));
            let mut s = Server::start(label, server(label, port), port, &log)?;
            println!(
                "==> bench: PostgreSQL storm against {label} (pid {})",
                s.pid()
            );
            let mut loadgen = pinned(other_cpu, bin_dir.join("loadgen"));
            loadgen
                .arg("storm")
                .arg("--url")
                .arg(format!("http://127.0.0.1:{port}"))
                .args(["--label", label])
                .arg("--pid")
                .arg(s.pid().to_string())
                .arg("--users")
                .arg(plan.users.to_string())
                .arg("--bursts")
                .arg(plan.bursts_arg())
                .arg("--join-samples")
                .arg(plan.join_samples.to_string());
            let out = cmd::stdout(&mut loadgen);
            let crashed = s.exited();
            s.stop();
            if let Some(status) = crashed {
                bail!(
                    "{label} exited during the storm ({status}); log: {}",
                    log.display()
                );
            }
            let out =
                out.with_context(|| format!("storm against {label}; log: {}", log.display()))?;
            parse_results(&out, &mut this);
        }
        rounds.push(this);
    }
    drop(cluster);
    Ok(merge_rounds(rounds))
}

/// Rows of a burst table: metric, description, whether a Huddle / Node ratio is shown.
const ROWS: &[(&str, &str, bool)] = &[
    (
        "burst_cpu_per_req_us",
        "server CPU per get_active_calls",
        true,
    ),
    (
        "burst_p50_us",
        "ack latency p50 (from the burst start)",
        true,
    ),
    (
        "burst_p99_us",
        "ack latency p99 (from the burst start)",
        true,
    ),
    ("burst_max_us", "last ack (from the burst start)", true),
    ("burst_refused", "refused (error acks)", false),
    ("burst_unanswered", "unanswered (no ack within 30 s)", false),
    ("burst_wrong", "answered without the user's call", false),
    ("burst_queries", "directory queries during the burst", false),
    (
        "join_cpu_us",
        "server CPU per join → active_group_calls",
        true,
    ),
    ("join_p50_us", "join → active_group_calls p50", true),
    ("join_p99_us", "join → active_group_calls p99", true),
    ("join_errors", "joins without active_group_calls", false),
    ("join_queries", "directory queries during the joins", false),
];

/// The section of `docs/benchmarks.md`.
pub(super) fn render(plan: &PgPlan, r: &Results, header: &str) -> String {
    let get = |label: &str, size: usize, metric: &str| {
        r.get(&(label.to_owned(), size, metric.to_owned())).copied()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{HEADING}\n");
    if !header.is_empty() {
        let _ = writeln!(out, "{header}\n");
    }
    let bursts = plan
        .bursts
        .iter()
        .map(|(n, k)| format!("{n} sockets × {k} (= {} requests)", n * k))
        .collect::<Vec<_>>()
        .join(", then ");
    let _ = writeln!(
        out,
        "The issue-15 workload on the PostgreSQL directory, as a new user would deploy it. A \
         throwaway PostgreSQL cluster ({}, `fsync=off`) migrated with `huddle migrate`, then \
         loaded with `loadgen pg-fixture --users {}`: user *i* is a member of two conversations, \
         `act0` or `act1` (alternating) and a 10-member idle group; two host users, members of \
         `act0` and `act1`, open the two calls with `createRoom`, so every user's lookup finds \
         exactly one active call. The server under test is pinned to the first core \
         (`taskset -c 0`); the load generator and PostgreSQL share the second one. Servers: \
         `huddle --database-url … --auth none --workers 1 --max-events-per-second 0 --log warn` \
         with the default pool (`--db-max-connections 16`), once as shipped (active-call lookups \
         answered from memory while the membership LISTEN feed is up) and once with \
         `--no-member-listener` (every lookup queries the database, coalesced); and \
         `bench/reference-node/server.mjs --database-url …` (socket.io 4, `pg` Pool of the \
         default size 10, named statements equivalent to the seeds' Prisma queries, the same \
         memory-first short-circuit when no room is active). {} round(s) per server in ABBA \
         order, values the mean of the rounds (failure counts summed).\n",
        pg_version(),
        plan.users,
        plan.rounds,
    );
    let _ = writeln!(
        out,
        "`loadgen storm`: connect and `join` (ack) the sockets, 128 connections in flight, while \
         no call is active (the directory queries those joins made are reported); the hosts open \
         the calls; an unmeasured warm-up (one `join` and two `get_active_calls` per socket of \
         the first wave: the Node reference's JIT, pooled connections, prepared statements); \
         then per burst size: {} sockets each `join` again (8 in flight), timed to \
         `active_group_calls`, with the server's CPU (utime + stime from `/proc/<pid>/stat`) over \
         the phase divided by the joins; then the burst: every socket sends its \
         `get_active_calls` (with an ack) at once, and every ack is timed from the burst start \
         (30 s timeout). CPU per request is the server's CPU from the burst start to the last ack \
         divided by the requests. Directory queries are the delta of `directoryQueries` in \
         `/debug/stats` (the Node reference counts its SQL statements the same way). Bursts: \
         {bursts}; the sockets are added cumulatively.\n",
        plan.join_samples,
    );
    for label in ["huddle-pg", "huddle-pg-nolisten", "node-pg"] {
        if let Some((_, size)) = plan.bursts.first().map(|b| (b, b.0))
            && let Some(q) = get(label, size, "idle_join_queries")
        {
            let title = SERVERS
                .iter()
                .find(|(l, _)| *l == label)
                .map_or(label, |(_, t)| t);
            let _ = writeln!(
                out,
                "* {title}: {q:.0} directory queries for {size} joins while no call was active."
            );
        }
    }
    let _ = writeln!(out);
    for &(n, k) in &plan.bursts {
        let _ = writeln!(
            out,
            "### {n} sockets × {k} get_active_calls ({} requests at once)\n",
            n * k
        );
        let _ = writeln!(
            out,
            "| metric | {} | {} | {} | memory-first / Node | no-listener / Node |",
            SERVERS[0].1, SERVERS[1].1, SERVERS[2].1
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for (metric, what, ratio) in ROWS {
            let v: Vec<Option<f64>> = SERVERS.iter().map(|(l, _)| get(l, n, metric)).collect();
            if v.iter().all(Option::is_none) {
                continue;
            }
            let cell = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| fmt_value(metric, v));
            let ratio_cell = |h: Option<f64>| match (h, v[2]) {
                (Some(h), Some(n)) if *ratio && n > 0.0 => format!("{:.3}×", h / n),
                _ => "–".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {what} | {} | {} | {} | {} | {} |",
                cell(v[0]),
                cell(v[1]),
                cell(v[2]),
                ratio_cell(v[0]),
                ratio_cell(v[1])
            );
        }
        let _ = writeln!(out);
    }

    // Targets (Huddle as shipped against Node).
    let _ = writeln!(out, "### Targets (issue 15, PostgreSQL path)\n");
    let _ = writeln!(out, "| target | measured | verdict |\n|---|---|---|");
    let ratio = |metric: &str, size: usize| -> Option<f64> {
        let h = get("huddle-pg", size, metric)?;
        let n = get("node-pg", size, metric)?;
        (n > 0.0).then_some(h / n)
    };
    let ratio_target = |out: &mut String, what: &str, metric: &str, limit: f64, sizes: &[usize]| {
        let ratios: Vec<(usize, f64)> = sizes
            .iter()
            .filter_map(|&s| Some((s, ratio(metric, s)?)))
            .collect();
        let text = ratios
            .iter()
            .map(|(s, r)| {
                let k = plan.bursts.iter().find(|b| b.0 == *s).map_or(0, |b| b.1);
                format!("{r:.3}× ({s} × {k})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let ok = (!ratios.is_empty()).then(|| ratios.iter().all(|(_, r)| *r <= limit));
        let _ = writeln!(
            out,
            "| {what} | {} | {} |",
            if text.is_empty() { "–" } else { &text },
            verdict(ok)
        );
    };
    let all: Vec<usize> = plan.bursts.iter().map(|b| b.0).collect();
    // The 20,000-request burst (1000 × 20), else the largest.
    let main = plan
        .bursts
        .iter()
        .find(|(n, k)| n * k == 20_000)
        .or(plan.bursts.last())
        .map_or(0, |b| b.0);
    ratio_target(
        &mut out,
        "server CPU per get_active_calls ≤ 0.1× Node's",
        "burst_cpu_per_req_us",
        0.1,
        &all,
    );
    ratio_target(
        &mut out,
        "server CPU per join → active_group_calls ≤ 0.1× Node's",
        "join_cpu_us",
        0.1,
        &all,
    );
    ratio_target(
        &mut out,
        "burst p99 ≤ 0.25× Node's (the 20,000-request burst)",
        "burst_p99_us",
        0.25,
        &[main],
    );
    let failures: Vec<(usize, f64, f64)> = plan
        .bursts
        .iter()
        .filter_map(|&(n, _)| {
            Some((
                n,
                get("huddle-pg", n, "burst_refused")?,
                get("huddle-pg", n, "burst_unanswered")?,
            ))
        })
        .collect();
    let text = failures
        .iter()
        .map(|(n, r, u)| {
            let k = plan.bursts.iter().find(|b| b.0 == *n).map_or(0, |b| b.1);
            format!("{r:.0} refused, {u:.0} unanswered ({n} × {k})")
        })
        .collect::<Vec<_>>()
        .join("; ");
    let _ = writeln!(
        out,
        "| zero refused requests in both bursts | {} | {} |",
        if text.is_empty() { "–" } else { &text },
        verdict(
            (!failures.is_empty()).then(|| failures.iter().all(|(_, r, u)| *r == 0.0 && *u == 0.0))
        )
    );
    let idle = plan
        .bursts
        .first()
        .and_then(|b| Some((b.0, get("huddle-pg", b.0, "idle_join_queries")?)));
    let _ = writeln!(
        out,
        "| `join` while nothing is active makes zero queries | {} | {} |",
        idle.map_or_else(
            || "–".to_owned(),
            |(n, q)| format!("{q:.0} queries for {n} joins")
        ),
        verdict(idle.map(|(_, q)| q == 0.0))
    );
    let _ = writeln!(out);
    out
}

/// `doc` with its PostgreSQL section replaced by `section` (inserted before the first
/// `## Targets` heading, else appended, when it has none).
pub(super) fn splice(doc: &str, section: &str) -> String {
    let mut before = String::new();
    let mut after = String::new();
    let mut state = 0; // 0: before the section, 1: in it, 2: after it
    for line in doc.lines() {
        if line.starts_with("## ") {
            if state == 0 && line.starts_with(HEADING) {
                state = 1;
            } else if state == 1 {
                state = 2;
            }
        }
        match state {
            0 => {
                before.push_str(line);
                before.push('\n');
            }
            1 => {}
            _ => {
                after.push_str(line);
                after.push('\n');
            }
        }
    }
    if state == 0 {
        // No section yet: before the first `## Targets`, else at the end.
        if let Some(i) = doc.find("\n## Targets") {
            return format!("{}{section}{}", &doc[..i + 1], &doc[i + 1..]);
        }
        let sep = if doc.ends_with("\n\n") || doc.is_empty() {
            ""
        } else {
            "\n"
        };
        return format!("{doc}{sep}{section}");
    }
    format!("{before}{section}{after}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_the_section() {
        let section = format!("{HEADING}\n\nnew\n\n");
        let doc = "# B\n\n## Media\nm\n\n## Targets (issue 8)\nt\n";
        let once = splice(doc, &section);
        assert_eq!(
            once,
            format!("# B\n\n## Media\nm\n\n{HEADING}\n\nnew\n\n## Targets (issue 8)\nt\n")
        );
        let again = splice(&once, &format!("{HEADING}\n\nnewer\n\n"));
        assert_eq!(
            again,
            format!("# B\n\n## Media\nm\n\n{HEADING}\n\nnewer\n\n## Targets (issue 8)\nt\n")
        );
        assert_eq!(splice("# B\n", &section), format!("# B\n\n{section}"));
    }

    #[test]
    fn renders_targets() {
        let plan = PgPlan {
            users: 3000,
            bursts: vec![(1000, 20), (3000, 10)],
            join_samples: 1000,
            rounds: 1,
        };
        let mut r = Results::new();
        for (label, cpu, p99) in [("huddle-pg", 5.0, 100.0), ("node-pg", 200.0, 1000.0)] {
            for n in [1000, 3000] {
                let mut put = |m: &str, v: f64| {
                    r.insert((label.to_owned(), n, m.to_owned()), v);
                };
                put("burst_cpu_per_req_us", cpu);
                put("join_cpu_us", cpu);
                put("burst_p99_us", p99);
                put("burst_refused", 0.0);
                put("burst_unanswered", 0.0);
                put("idle_join_queries", 0.0);
            }
        }
        let text = render(&plan, &r, "");
        assert!(text.starts_with(HEADING));
        assert!(text.contains("| server CPU per get_active_calls ≤ 0.1× Node's | 0.025× (1000 × 20), 0.025× (3000 × 10) | **met** |"));
        assert!(text.contains("0.100× (1000 × 20) | **met**"));
        assert!(text.contains("| `join` while nothing is active makes zero queries | 0 queries for 1000 joins | **met** |"));
    }
}

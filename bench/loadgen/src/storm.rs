//! The PostgreSQL reconnect-storm bench (`loadgen pg-fixture`, `loadgen storm`): thousands of
//! sockets of users in two conversations each, two calls active, then every socket sends K
//! `get_active_calls` at once, as after a deploy.
//!
//! * [`StormLayout`]: storm users `1..=users`, user `i` a member of the active conversation
//!   `act<(i-1) % 2>` and of the idle group `sg<(i-1) / 10>`; host users `users + 1` and
//!   `users + 2` are members of `act0` and `act1` and open their calls with `createRoom`. So
//!   every storm user's lookup finds exactly one active call.
//! * [`StormLayout::fixture_sql`]: those rows as SQL for `psql -f` (COPY into the Threads
//!   tables "User", "Conversation", "ConversationMember", which `huddle migrate` creates).
//! * [`run`]: per burst `(sockets, per_socket)`, ascending: connect and `join` sockets up to
//!   `sockets` (the first wave while no call is active: the directory queries it made are
//!   reported), the hosts open their calls, an unmeasured warm-up (one join and two
//!   `get_active_calls` per socket of the first wave), a `join` → `active_group_calls` phase
//!   (server CPU per join, latency), then the burst: `sockets × per_socket` `get_active_calls` with an ack
//!   sent at once; latency of every ack from the burst start, refused (error acks), unanswered
//!   (no ack within the timeout), server CPU per request and directory queries from
//!   `/debug/stats`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;

use crate::scenario::ack;
use crate::sio::{Client, ClientOptions, json_str, ws_url};
use crate::soak::debug_stats;
use crate::stats::{Measurement, Summary, cpu_time};

/// Members per idle storm group.
const GROUP: usize = 10;

/// Active conversations (one host each).
pub const ACTIVE: usize = 2;

/// Users and conversations of the storm bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormLayout {
    /// Storm users (1-based ids `1..=users`).
    pub users: usize,
}

impl StormLayout {
    /// User id of storm socket `i` (0-based).
    pub fn user(&self, i: usize) -> usize {
        i + 1
    }

    /// User id of host `j` (`0..ACTIVE`).
    pub fn host(&self, j: usize) -> usize {
        self.users + 1 + j
    }

    /// Active conversation `j`.
    pub fn active(j: usize) -> String {
        format!("act{j}")
    }

    /// The two conversations of storm user `id` (1-based): one active, one idle group.
    pub fn conversations_of(id: usize) -> [String; 2] {
        [
            Self::active((id - 1) % ACTIVE),
            format!("sg{}", (id - 1) / GROUP),
        ]
    }

    /// The fixture as SQL (COPY blocks in one transaction, then ANALYZE) for `psql -f`.
    pub fn fixture_sql(&self) -> String {
        let total = self.users + ACTIVE;
        let mut out = String::with_capacity(total * 80);
        out.push_str("BEGIN;\n");
        out.push_str("COPY \"User\" (\"id\", \"name\", \"avatar\") FROM stdin;\n");
        for id in 1..=total {
            // Every fifth user has an avatar file, the others none.
            let avatar = if id % 5 == 0 {
                format!("u{id}.png")
            } else {
                "\\N".to_owned()
            };
            let _ = writeln!(out, "{id}\tUser Number {id}\t{avatar}");
        }
        out.push_str("\\.\n");
        out.push_str("COPY \"Conversation\" (\"id\", \"name\", \"avatar\") FROM stdin;\n");
        for j in 0..ACTIVE {
            let _ = writeln!(out, "{}\tActive {j}\tact{j}.png", Self::active(j));
        }
        for k in 0..self.users.div_ceil(GROUP) {
            let _ = writeln!(out, "sg{k}\tGroup {k}\t\\N");
        }
        out.push_str("\\.\n");
        out.push_str(
            "COPY \"ConversationMember\" (\"conversationId\", \"userId\", \"isDeleted\") FROM stdin;\n",
        );
        for j in 0..ACTIVE {
            let _ = writeln!(out, "{}\t{}\tf", Self::active(j), self.host(j));
        }
        for id in 1..=self.users {
            for c in Self::conversations_of(id) {
                let _ = writeln!(out, "{c}\t{id}\tf");
            }
        }
        out.push_str("\\.\n");
        out.push_str("COMMIT;\n");
        out.push_str(
            "SELECT setval(pg_get_serial_sequence('\"User\"', 'id'), (SELECT max(\"id\") FROM \"User\"));\n",
        );
        out.push_str("ANALYZE;\n");
        out
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct StormConfig {
    /// Server base URL.
    pub url: String,
    /// Label of the server in the results.
    pub label: String,
    /// Server process id (CPU from `/proc/<pid>/stat`).
    pub pid: Option<u32>,
    /// Users in the database (at least the largest burst's sockets).
    pub layout: StormLayout,
    /// Bursts `(sockets, get_active_calls per socket)`, ascending in sockets.
    pub bursts: Vec<(usize, usize)>,
    /// `join` → `active_group_calls` samples per burst (one join per socket, the first ones).
    pub join_samples: usize,
    /// Joins in flight in that phase.
    pub join_concurrency: usize,
    /// Connection attempts in flight.
    pub connect_concurrency: usize,
    /// Per-request timeout (the burst's acks: from the burst start).
    pub timeout: Duration,
}

/// Parses `1000x20,3000x10`.
pub fn parse_bursts(text: &str) -> Result<Vec<(usize, usize)>> {
    let mut bursts = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (n, k) = part
            .split_once('x')
            .with_context(|| format!("burst {part:?} is not SOCKETSxREQUESTS"))?;
        let n: usize = n
            .trim()
            .parse()
            .with_context(|| format!("burst {part:?}"))?;
        let k: usize = k
            .trim()
            .parse()
            .with_context(|| format!("burst {part:?}"))?;
        if n == 0 || k == 0 {
            bail!("burst {part:?} is empty");
        }
        bursts.push((n, k));
    }
    bursts.sort_unstable();
    Ok(bursts)
}

/// Collected measurements, printed as they come.
struct Out<'a> {
    label: &'a str,
    all: Vec<Measurement>,
}

impl Out<'_> {
    fn push(&mut self, size: usize, metric: &'static str, value: f64) {
        let m = Measurement {
            label: self.label.to_owned(),
            size,
            metric,
            value,
        };
        println!("{}", m.line());
        self.all.push(m);
    }
}

/// `directoryQueries` of `/debug/stats`, when the server reports it.
async fn queries(url: &str) -> Option<f64> {
    debug_stats(url, Duration::from_secs(5))
        .await
        .ok()?
        .get("directoryQueries")?
        .as_f64()
}

/// Server CPU seconds (utime + stime).
fn cpu(pid: Option<u32>) -> Option<f64> {
    pid.and_then(cpu_time).map(|d| d.as_secs_f64())
}

/// Runs the storm bench against one server.
pub async fn run(cfg: &StormConfig) -> Result<Vec<Measurement>> {
    let mut out = Out {
        label: &cfg.label,
        all: Vec::new(),
    };
    let label = cfg.label.as_str();
    let ws = ws_url(&cfg.url);
    let t = cfg.timeout;
    let layout = cfg.layout;
    let Some(&(first, _)) = cfg.bursts.first() else {
        bail!("no bursts");
    };
    if let Some(&(max, _)) = cfg.bursts.last()
        && max > layout.users
    {
        bail!("{max} sockets exceed the {} users", layout.users);
    }

    // First wave: nothing is active, so join must not query the directory.
    let mut fleet: Vec<Client> = Vec::new();
    let q0 = queries(&cfg.url).await;
    let started = Instant::now();
    connect(&mut fleet, &ws, layout, first, cfg).await?;
    // Let the (not acked) post-join lookups finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    eprintln!(
        "loadgen storm[{label}]: {first} sockets joined in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let (Some(a), Some(b)) = (q0, queries(&cfg.url).await) {
        out.push(first, "idle_join_queries", b - a);
    }

    // The calls.
    let mut hosts = Vec::with_capacity(ACTIVE);
    for j in 0..ACTIVE {
        let host = Client::connect(&ws, ClientOptions::default(), t)
            .await
            .with_context(|| format!("{label}: host {j} connect"))?;
        ack(&host, "join", &json_str(&layout.host(j).to_string()), t).await?;
        let room = format!("{{\"roomId\":{}}}", json_str(&StormLayout::active(j)));
        ack(&host, "createRoom", &room, t)
            .await
            .with_context(|| format!("{label}: host {j} createRoom"))?;
        hosts.push(host);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Ok(stats) = debug_stats(&cfg.url, Duration::from_secs(5)).await
        && let Some(feed) = stats.get("membershipFeed").and_then(|v| v.as_bool())
    {
        out.push(first, "membership_feed", f64::from(u8::from(feed)));
    }

    // Unmeasured warm-up with the calls active (the JIT of the Node reference, pooled
    // connections and prepared statements, allocator): one join and two get_active_calls per
    // socket of the first wave.
    let _ = join_phase(&mut fleet, layout, cfg).await;
    let _ = burst(&fleet, 2, t).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    for &(n, k) in &cfg.bursts {
        if fleet.len() < n {
            let from = fleet.len();
            connect(&mut fleet, &ws, layout, n, cfg).await?;
            eprintln!("loadgen storm[{label}]: {} more sockets joined", n - from);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        for c in &mut fleet {
            c.drain_events();
        }

        // join -> active_group_calls with calls active.
        let joins = cfg.join_samples.min(n);
        let q0 = queries(&cfg.url).await;
        let c0 = cpu(cfg.pid);
        let (mut lat, errors) = join_phase(&mut fleet[..joins], layout, cfg).await;
        let c1 = cpu(cfg.pid);
        let q1 = queries(&cfg.url).await;
        let s = Summary::of(&mut lat);
        out.push(n, "join_samples", s.count as f64);
        out.push(n, "join_p50_us", s.p50_us);
        out.push(n, "join_p99_us", s.p99_us);
        out.push(n, "join_errors", errors as f64);
        if let (Some(a), Some(b)) = (c0, c1)
            && joins > 0
        {
            out.push(n, "join_cpu_us", (b - a) * 1e6 / joins as f64);
        }
        if let (Some(a), Some(b)) = (q0, q1) {
            out.push(n, "join_queries", b - a);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for c in &mut fleet {
            c.drain_events();
        }

        // The burst.
        let requests = n * k;
        let q0 = queries(&cfg.url).await;
        let c0 = cpu(cfg.pid);
        let r = burst(&fleet[..n], k, t).await;
        let c1 = cpu(cfg.pid);
        let q1 = queries(&cfg.url).await;
        eprintln!(
            "loadgen storm[{label}]: burst {n}x{k}: {} ok, {} refused, {} unanswered, {} wrong, \
             last ack after {:.0} ms",
            r.latencies.len(),
            r.refused,
            r.unanswered,
            r.wrong,
            r.last.as_secs_f64() * 1e3
        );
        if let Some(e) = &r.first_error {
            eprintln!("loadgen storm[{label}]: first refusal: {e}");
        }
        let mut lat = r.latencies;
        let s = Summary::of(&mut lat);
        out.push(n, "burst_per_socket", k as f64);
        out.push(n, "burst_requests", requests as f64);
        out.push(n, "burst_answered", s.count as f64);
        out.push(n, "burst_refused", r.refused as f64);
        out.push(n, "burst_unanswered", r.unanswered as f64);
        out.push(n, "burst_wrong", r.wrong as f64);
        out.push(n, "burst_p50_us", s.p50_us);
        out.push(n, "burst_p99_us", s.p99_us);
        out.push(n, "burst_max_us", s.max_us);
        if let (Some(a), Some(b)) = (c0, c1) {
            out.push(n, "burst_cpu_per_req_us", (b - a) * 1e6 / requests as f64);
        }
        if let (Some(a), Some(b)) = (q0, q1) {
            out.push(n, "burst_queries", b - a);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(fleet);
    drop(hosts);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(out.all)
}

/// Connects and joins (with an ack) sockets until `fleet` has `n`.
async fn connect(
    fleet: &mut Vec<Client>,
    ws: &str,
    layout: StormLayout,
    n: usize,
    cfg: &StormConfig,
) -> Result<()> {
    let t = cfg.timeout;
    let mut stream = futures::stream::iter(fleet.len()..n)
        .map(|i| async move {
            let options = ClientOptions {
                record_events: true,
                fanout: None,
            };
            let c = Client::connect(ws, options, t).await?;
            ack(&c, "join", &json_str(&layout.user(i).to_string()), t).await?;
            anyhow::Ok((i, c))
        })
        .buffered(cfg.connect_concurrency.max(1));
    while let Some(c) = stream.next().await {
        let (i, c) = c.with_context(|| format!("{}: storm socket connect/join", cfg.label))?;
        debug_assert_eq!(i, fleet.len());
        fleet.push(c);
    }
    Ok(())
}

/// One `join` per socket of `sockets` (`join_concurrency` in flight), timed to its
/// `active_group_calls`; the latencies and the failures.
async fn join_phase(
    sockets: &mut [Client],
    layout: StormLayout,
    cfg: &StormConfig,
) -> (Vec<Duration>, usize) {
    if sockets.is_empty() {
        return (Vec::new(), 0);
    }
    let concurrency = cfg.join_concurrency.clamp(1, sockets.len());
    let chunk = sockets.len().div_ceil(concurrency);
    let t = cfg.timeout;
    let tasks = sockets
        .chunks_mut(chunk)
        .enumerate()
        .map(|(c, part)| async move {
            let mut lat = Vec::with_capacity(part.len());
            let mut errors = 0;
            for (j, client) in part.iter_mut().enumerate() {
                let user = json_str(&layout.user(c * chunk + j).to_string());
                client.drain_events();
                let started = Instant::now();
                if client.emit("join", &user).is_err() {
                    errors += 1;
                    continue;
                }
                match client.wait_event("active_group_calls", started + t).await {
                    Ok(ev) => lat.push(ev.at.saturating_duration_since(started)),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        });
    let mut all = Vec::new();
    let mut errors = 0;
    for (lat, e) in futures::future::join_all(tasks).await {
        all.extend(lat);
        errors += e;
    }
    (all, errors)
}

/// Outcome of one burst.
#[derive(Debug, Default)]
struct Burst {
    /// Ack latencies (from the burst start) of the requests answered with the call.
    latencies: Vec<Duration>,
    /// Answered with an error.
    refused: usize,
    /// No ack within the timeout (or the connection closed).
    unanswered: usize,
    /// Answered without an error but without the user's active call.
    wrong: usize,
    /// The last ack's arrival after the burst start.
    last: Duration,
    /// The first error ack.
    first_error: Option<String>,
}

/// `k` `get_active_calls` per socket, all sent at once.
async fn burst(sockets: &[Client], k: usize, timeout: Duration) -> Burst {
    let mut result = Burst::default();
    let mut pending = Vec::with_capacity(sockets.len() * k);
    let started = Instant::now();
    // Round-robin over the sockets, so every socket has its first request on the wire early.
    for _ in 0..k {
        for c in sockets {
            match c.emit_with_ack("get_active_calls", "{}") {
                Ok(rx) => pending.push(rx),
                Err(_) => result.unanswered += 1,
            }
        }
    }
    let deadline = tokio::time::Instant::from_std(started + timeout);
    let answers = futures::future::join_all(
        pending
            .into_iter()
            .map(|rx| async move { tokio::time::timeout_at(deadline, rx).await }),
    )
    .await;
    for answer in answers {
        let Ok(Ok((at, raw))) = answer else {
            result.unanswered += 1;
            continue;
        };
        let elapsed = at.saturating_duration_since(started);
        result.last = result.last.max(elapsed);
        if raw.contains("\"error\"") {
            result.refused += 1;
            result.first_error.get_or_insert(raw);
        } else if raw.contains("\"calls\":[{") {
            result.latencies.push(elapsed);
        } else {
            result.wrong += 1;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bursts() -> Result<()> {
        assert_eq!(
            parse_bursts("3000x10, 1000x20")?,
            vec![(1000, 20), (3000, 10)]
        );
        assert!(parse_bursts("1000").is_err());
        assert!(parse_bursts("0x3").is_err());
        Ok(())
    }

    #[test]
    fn fixture_has_two_memberships_per_user() {
        let l = StormLayout { users: 25 };
        assert_eq!(StormLayout::conversations_of(1), ["act0", "sg0"]);
        assert_eq!(StormLayout::conversations_of(12), ["act1", "sg1"]);
        assert_eq!(l.host(1), 27);
        let sql = l.fixture_sql();
        let members = sql
            .split("COPY \"ConversationMember\"")
            .nth(1)
            .and_then(|s| s.split("\\.\n").next())
            .unwrap_or_default();
        // The COPY line itself, 2 host rows, 2 rows per user.
        assert_eq!(members.lines().count(), 1 + ACTIVE + 2 * 25);
        assert!(sql.contains("act1\t27\tf\n"));
        assert!(sql.contains("sg2\tGroup 2\t\\N\n"));
        assert!(sql.trim_end().ends_with("ANALYZE;"));
    }
}

//! The soak test: thousands of random connect / join / initiate / createRoom / produce /
//! consume / leave / disconnect cycles against a running server, then a leak check.
//!
//! A pool of virtual devices (one Socket.IO connection each, several per user for some users)
//! keeps its state between cycles: a device may stay connected and in its room with its
//! transports, producers and consumers while others come and go. Each cycle takes an idle
//! device and plays a random action sequence on it ([`run`] keeps `concurrency` cycles in
//! flight): connect and `join` (or `register-user`), `get_active_calls`,
//! `group_call_initiate`, `createRoom` (own room, the same room again, switching to the
//! user's other conversation, or a conversation the user is not a member of), transports,
//! `connectTransport`, `produce` (Opus, VP8 with or without simulcast), `getProducers` and
//! `consume` of other participants' producers, `resumeConsumer`, `closeProducer`,
//! `restartIce`, and an ending: stay, `leaveRoom`, or leave by a Socket.IO disconnect, a bare
//! WebSocket close or a dropped TCP connection, in or out of a room.
//!
//! Requests are answered or they fail: a timeout, a lost connection or an `{error}` the
//! request site did not list as a legitimate answer (e.g. `Producer not found` when consuming
//! a producer whose owner just left) is a *failure*; a listed `{error}` is a *refusal*,
//! counted by message. At the end every device disconnects, `/debug/stats` must come back to
//! zero for every count of live objects ([`leftovers`]) and the server's RSS must be within
//! the tolerance of the baseline taken after the warm-up cycles.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sio::{Client, ClientOptions, json_str, ws_url};
use crate::stats::rss_kib;

/// Members per soak group conversation.
pub const GROUP_SIZE: usize = 10;

// ---------------------------------------------------------------------------------------------
// random numbers

/// A small seeded pseudo-random generator (SplitMix64): reproducible action sequences
/// without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64) < p
    }

    /// One of `choices`, with probability proportional to its weight; `None` when all
    /// weights are 0.
    pub fn weighted<T: Copy>(&mut self, choices: &[(u32, T)]) -> Option<T> {
        let total: u64 = choices.iter().map(|(w, _)| u64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        let mut x = self.next_u64() % total;
        for (w, t) in choices {
            let w = u64::from(*w);
            if x < w {
                return Some(*t);
            }
            x -= w;
        }
        None
    }

    /// A random non-zero 32-bit number (SSRCs).
    fn ssrc(&mut self) -> u32 {
        ((self.next_u64() >> 32) as u32).max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// the directory

/// Users and conversations of a soak run.
///
/// `groups` groups of [`GROUP_SIZE`] users (`1..=groups*10`). Group `k` has the conversation
/// `soak<k>` (its 10 users) and the cross conversation `cross<k>` (the last 5 users of group
/// `k` and the first 5 of group `k+1`, wrapping): every user is a member of exactly two
/// conversations, and of no other group's `soak<j>`. The first and the sixth user of every
/// group have a second device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoakLayout {
    /// Number of groups (at least 2).
    pub groups: usize,
}

impl SoakLayout {
    /// A layout of `groups` groups (at least 2).
    pub fn new(groups: usize) -> Self {
        Self {
            groups: groups.max(2),
        }
    }

    /// Number of users.
    pub fn users(&self) -> usize {
        self.groups * GROUP_SIZE
    }

    /// The user of every virtual device (users with two devices appear twice).
    pub fn devices(&self) -> Vec<usize> {
        let mut devices: Vec<usize> = (1..=self.users()).collect();
        for k in 0..self.groups {
            devices.push(k * GROUP_SIZE + 1);
            devices.push(k * GROUP_SIZE + 6);
        }
        devices
    }

    /// The two conversations user `user` (1-based) is a member of.
    pub fn conversations_of(&self, user: usize) -> [String; 2] {
        let k = (user - 1) / GROUP_SIZE;
        let m = (user - 1) % GROUP_SIZE;
        let cross = if m >= GROUP_SIZE / 2 {
            k
        } else {
            (k + self.groups - 1) % self.groups
        };
        [format!("soak{k}"), format!("cross{cross}")]
    }

    /// A group conversation `user` is not a member of.
    pub fn foreign_conversation(&self, user: usize) -> String {
        let k = (user - 1) / GROUP_SIZE;
        format!("soak{}", (k + 1) % self.groups)
    }

    /// The directory JSON (`{users, conversations}`) Huddle reads with `--directory`.
    pub fn directory_json(&self) -> String {
        let users: Vec<Value> = (1..=self.users())
            .map(|id| json!({"id": id, "name": format!("Soak User {id}"), "avatar": null}))
            .collect();
        let mut conversations = Vec::new();
        for k in 0..self.groups {
            let base = k * GROUP_SIZE;
            let next = ((k + 1) % self.groups) * GROUP_SIZE;
            let own: Vec<usize> = (1..=GROUP_SIZE).map(|m| base + m).collect();
            let half = GROUP_SIZE / 2;
            let cross: Vec<usize> = (half + 1..=GROUP_SIZE)
                .map(|m| base + m)
                .chain((1..=half).map(|m| next + m))
                .collect();
            conversations.push(json!({
                "id": format!("soak{k}"), "name": format!("Soak {k}"), "avatar": null,
                "members": own,
            }));
            conversations.push(json!({
                "id": format!("cross{k}"), "name": format!("Cross {k}"), "avatar": null,
                "members": cross,
            }));
        }
        let mut out = json!({"users": users, "conversations": conversations}).to_string();
        out.push('\n');
        out
    }
}

// ---------------------------------------------------------------------------------------------
// configuration and report

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Server base URL (`http://127.0.0.1:PORT`); `/debug/stats` is read from it.
    pub url: String,
    /// Server process id, for RSS (`/proc/<pid>/status`); RSS is not checked when `None`.
    pub pid: Option<u32>,
    /// Cycles to run.
    pub cycles: usize,
    /// Seed of the action sequences.
    pub seed: u64,
    /// Cycles in flight at once (at most the number of devices).
    pub concurrency: usize,
    /// Users and conversations (must match the directory the server reads).
    pub layout: SoakLayout,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Cycles before the RSS baseline is taken.
    pub warmup_cycles: usize,
    /// How long to wait for `/debug/stats` to come back to zero at the end.
    pub settle: Duration,
    /// Allowed RSS growth of the final RSS over the baseline (0.10 = 10 %).
    pub rss_tolerance: f64,
}

impl SoakConfig {
    /// The default warm-up: 10 % of the cycles, but at least 1000 cycles (or half of a shorter
    /// run). A fresh server's RSS climbs during its first few hundred cycles while the
    /// allocator arenas and the mediasoup workers reach their working set; a baseline taken
    /// earlier measures that warm-up, not a leak.
    pub fn default_warmup(cycles: usize) -> usize {
        (cycles / 10).max(1000.min(cycles / 2))
    }
}

/// Counts of what happened during the run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Requests and events sent.
    pub ops: u64,
    /// What the cycles did (`connect`, `produce video`, `end: abort in room`, …).
    pub actions: BTreeMap<String, u64>,
    /// Legitimate `{error}` answers, by `event: message`.
    pub refused: BTreeMap<String, u64>,
    /// Failures (timeouts, lost connections, unexpected errors), by kind.
    pub failures: BTreeMap<String, u64>,
    /// The first few failures in full.
    pub failure_examples: Vec<String>,
    /// Server events received, by name.
    pub events: BTreeMap<String, u64>,
}

impl Tally {
    /// Total failures.
    pub fn failure_count(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Total refusals.
    pub fn refused_count(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// The outcome of a soak run.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// The configuration it ran with.
    pub config: SoakConfig,
    /// Cycles completed.
    pub cycles: usize,
    /// Wall time of the cycles (without the final settle).
    pub duration: Duration,
    /// What happened.
    pub tally: Tally,
    /// `/debug/stats` before the first cycle.
    pub start_stats: Value,
    /// Largest value of every numeric `/debug/stats` field seen during the run (sampled).
    pub peak_stats: BTreeMap<String, f64>,
    /// `/debug/stats` after everything disconnected and settled.
    pub final_stats: Value,
    /// Must-be-zero fields that were not zero at the end: `(path, value)`.
    pub leftovers: Vec<(String, String)>,
    /// Time from the last disconnect until `/debug/stats` was all zero (`None`: never).
    pub settled_in: Option<Duration>,
    /// RSS before the first cycle, KiB.
    pub rss_start_kib: Option<u64>,
    /// RSS after the warm-up cycles (the baseline), KiB.
    pub rss_baseline_kib: Option<u64>,
    /// Largest RSS sampled during the run, KiB.
    pub rss_peak_kib: Option<u64>,
    /// RSS after the end and the settle, KiB.
    pub rss_final_kib: Option<u64>,
}

/// At most 300 characters of `s`, for messages.
fn short(s: &str) -> String {
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "–".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

impl SoakReport {
    /// Final RSS / baseline RSS.
    pub fn rss_ratio(&self) -> Option<f64> {
        match (self.rss_baseline_kib, self.rss_final_kib) {
            (Some(b), Some(f)) if b > 0 => Some(f as f64 / b as f64),
            _ => None,
        }
    }

    /// RSS growth from the baseline to the end, KiB per 1000 cycles after the warm-up (a slow
    /// leak shows here long before it crosses the tolerance).
    pub fn rss_growth_per_1000(&self) -> Option<f64> {
        let (b, f) = (self.rss_baseline_kib?, self.rss_final_kib?);
        let cycles = self.cycles.saturating_sub(self.config.warmup_cycles);
        (cycles > 0).then(|| (f as f64 - b as f64) * 1000.0 / cycles as f64)
    }

    /// Requests and events sent per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.tally.ops as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    /// The live objects left after the run, `routers=1, transports=2`.
    fn leftover_list(&self) -> String {
        self.leftovers
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Why the run failed; empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.cycles < self.config.cycles {
            problems.push(format!(
                "only {} of {} cycles ran",
                self.cycles, self.config.cycles
            ));
        }
        let failures = self.tally.failure_count();
        if failures > 0 {
            problems.push(format!(
                "{failures} failed requests (timeouts, lost connections, unexpected errors)"
            ));
        }
        if !self.leftovers.is_empty() {
            problems.push(format!(
                "live objects left after all clients disconnected: {}",
                self.leftover_list()
            ));
        }
        if let Some(ratio) = self.rss_ratio()
            && ratio > 1.0 + self.config.rss_tolerance
        {
            problems.push(format!(
                "final RSS {} is {:.1} % above the baseline {} (limit {:.0} %)",
                mib(self.rss_final_kib),
                (ratio - 1.0) * 100.0,
                mib(self.rss_baseline_kib),
                self.config.rss_tolerance * 100.0
            ));
        }
        problems
    }

    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.problems().is_empty()
    }

    /// A human-readable summary (plain text).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let c = &self.config;
        let _ = writeln!(
            out,
            "soak: {} cycles (seed {}, {} in flight, {} devices of {} users) in {:.1} s",
            self.cycles,
            c.seed,
            c.concurrency,
            c.layout.devices().len(),
            c.layout.users(),
            self.duration.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "soak: {} requests/events sent, {:.0}/s; {:.1} cycles/s",
            self.tally.ops,
            self.ops_per_sec(),
            self.cycles as f64 / self.duration.as_secs_f64().max(1e-9)
        );
        let _ = writeln!(
            out,
            "soak: failures: {}; legitimate refusals: {}",
            self.tally.failure_count(),
            self.tally.refused_count()
        );
        for (kind, n) in &self.tally.failures {
            let _ = writeln!(out, "  failure  {n:>7}  {kind}");
        }
        for example in &self.tally.failure_examples {
            let _ = writeln!(out, "  example: {example}");
        }
        for (kind, n) in &self.tally.refused {
            let _ = writeln!(out, "  refused  {n:>7}  {kind}");
        }
        let _ = writeln!(out, "soak: actions:");
        for (action, n) in &self.tally.actions {
            let _ = writeln!(out, "  {n:>7}  {action}");
        }
        let _ = writeln!(out, "soak: server events received:");
        for (event, n) in &self.tally.events {
            let _ = writeln!(out, "  {n:>7}  {event}");
        }
        let peaks: Vec<String> = self
            .peak_stats
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "soak: peak /debug/stats: {}", peaks.join(" "));
        let _ = writeln!(out, "soak: final /debug/stats: {}", self.final_stats);
        let _ = writeln!(
            out,
            "soak: settled: {}",
            self.settled_in.map_or_else(
                || format!("NO (after {:.0} s)", c.settle.as_secs_f64()),
                |d| format!("in {:.2} s", d.as_secs_f64())
            )
        );
        let _ = writeln!(
            out,
            "soak: RSS start {}, baseline (after {} cycles) {}, peak {}, final {}{}",
            mib(self.rss_start_kib),
            c.warmup_cycles,
            mib(self.rss_baseline_kib),
            mib(self.rss_peak_kib),
            mib(self.rss_final_kib),
            self.rss_ratio()
                .map(|r| format!(" (final/baseline {r:.3})"))
                .unwrap_or_default()
        );
        if let Some(g) = self.rss_growth_per_1000() {
            let _ = writeln!(
                out,
                "soak: RSS growth after the baseline: {g:+.0} KiB per 1000 cycles"
            );
        }
        let problems = self.problems();
        if problems.is_empty() {
            let _ = writeln!(out, "soak: PASS");
        } else {
            for p in &problems {
                let _ = writeln!(out, "soak: FAIL: {p}");
            }
        }
        out
    }

    /// The figures as Markdown (tables, no heading), for `cargo xtask soak`'s report.
    pub fn markdown(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(
            out,
            "| cycles | {} (seed {}, {} in flight, {} devices of {} users in {} groups) |",
            self.cycles,
            c.seed,
            c.concurrency,
            c.layout.devices().len(),
            c.layout.users(),
            c.layout.groups
        );
        let _ = writeln!(
            out,
            "| duration | {:.1} s ({:.1} cycles/s) |",
            self.duration.as_secs_f64(),
            self.cycles as f64 / self.duration.as_secs_f64().max(1e-9)
        );
        let _ = writeln!(
            out,
            "| requests and events sent | {} ({:.0}/s) |",
            self.tally.ops,
            self.ops_per_sec()
        );
        let _ = writeln!(
            out,
            "| failures (timeouts, lost connections, unexpected errors) | {} |",
            self.tally.failure_count()
        );
        let _ = writeln!(
            out,
            "| legitimate refusals (`{{error}}` answers) | {} |",
            self.tally.refused_count()
        );
        let peaks = |keys: &[&str]| -> String {
            keys.iter()
                .filter_map(|k| self.peak_stats.get(*k).map(|v| format!("{k} {v}")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| peak live objects (sampled every 100 ms) | {} |",
            peaks(&[
                "sockets",
                "rooms",
                "participants",
                "transports",
                "producers",
                "consumers",
                "routers"
            ])
        );
        let _ = writeln!(
            out,
            "| left after the run (must be 0) | {} |",
            if self.leftovers.is_empty() {
                "none".to_owned()
            } else {
                self.leftover_list()
            }
        );
        let _ = writeln!(
            out,
            "| back to zero | {} |",
            self.settled_in.map_or_else(
                || format!("no, not within {:.0} s", c.settle.as_secs_f64()),
                |d| format!("{:.2} s after the last disconnect", d.as_secs_f64())
            )
        );
        let _ = writeln!(
            out,
            "| RSS start / baseline (after {} cycles) / peak / final | {} / {} / {} / {} |",
            c.warmup_cycles,
            mib(self.rss_start_kib),
            mib(self.rss_baseline_kib),
            mib(self.rss_peak_kib),
            mib(self.rss_final_kib)
        );
        let _ = writeln!(
            out,
            "| final RSS / baseline | {} (limit {:.2}) |",
            self.rss_ratio()
                .map_or_else(|| "–".to_owned(), |r| format!("{r:.3}")),
            1.0 + c.rss_tolerance
        );
        let _ = writeln!(
            out,
            "| RSS growth after the baseline | {} |",
            self.rss_growth_per_1000().map_or_else(
                || "–".to_owned(),
                |g| format!("{g:+.0} KiB per 1000 cycles")
            )
        );
        let problems = self.problems();
        let _ = writeln!(
            out,
            "| verdict | {} |",
            if problems.is_empty() {
                "**pass**".to_owned()
            } else {
                format!("**FAIL**: {}", problems.join("; "))
            }
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "Final `/debug/stats`: `{}`\n", self.final_stats);
        let table = |out: &mut String, title: &str, map: &BTreeMap<String, u64>| {
            if map.is_empty() {
                return;
            }
            let _ = writeln!(out, "| {title} | count |\n|---|---:|");
            for (k, v) in map {
                let _ = writeln!(out, "| {} | {v} |", k.replace('|', "\\|"));
            }
            let _ = writeln!(out);
        };
        table(&mut out, "failure", &self.tally.failures);
        table(&mut out, "refusal (legitimate)", &self.tally.refused);
        table(&mut out, "action", &self.tally.actions);
        table(&mut out, "server event received", &self.tally.events);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// /debug/stats

/// `GET path` on the server of base URL `url` (`http://host:port`), over HTTP/1.0; the body.
pub async fn http_get(url: &str, path: &str, timeout: Duration) -> Result<String> {
    let authority = url
        .trim_end_matches('/')
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// URLs are supported, not {url}"))?;
    let authority = authority.split('/').next().unwrap_or(authority);
    let fetch = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let response = String::from_utf8(response).context("response is not UTF-8")?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| anyhow!("malformed HTTP response"))?;
        let status = head.lines().next().unwrap_or_default();
        if !status.contains(" 200") {
            bail!("GET {path}: {status}");
        }
        anyhow::Ok(body.to_owned())
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| anyhow!("GET {path} timed out after {timeout:?}"))?
}

/// `GET /debug/stats` as JSON.
pub async fn debug_stats(url: &str, timeout: Duration) -> Result<Value> {
    let body = http_get(url, "/debug/stats", timeout).await?;
    serde_json::from_str(&body).context("/debug/stats is not JSON")
}

/// Names (lower case) of `/debug/stats` fields counting live objects: they must all be zero
/// once every client has disconnected.
const MUST_BE_ZERO: &[&str] = &[
    "sockets",
    "joinedusers",
    "rooms",
    "participants",
    "transports",
    "producers",
    "consumers",
    "routers",
];

/// Whether field `key` counts live objects (e.g. `transports`, `webRtcTransports`,
/// `joinedUsers`), not totals or limits.
fn counts_live_objects(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    MUST_BE_ZERO.iter().any(|name| key.ends_with(name))
        && !["total", "max", "limit", "created", "closed", "peak"]
            .iter()
            .any(|w| key.contains(w))
}

/// Every must-be-zero field of a `/debug/stats` document that is not zero, as
/// `(path, value)`. Fields are found by name at any depth (per-worker objects included): a
/// number must be 0, an array empty, and everything inside an object under such a name zero.
pub fn leftovers(stats: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, path: &str, live: bool, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(child, &p, live || counts_live_objects(k), out);
                }
            }
            Value::Array(items) if live && !items.is_empty() => {
                out.push((path.to_owned(), format!("{} entries", items.len())));
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}[{i}]"), false, out);
                }
            }
            Value::Number(n) if live && n.as_f64().is_some_and(|x| x != 0.0) => {
                out.push((path.to_owned(), n.to_string()));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(stats, "", false, &mut out);
    out
}

/// Every numeric field of a `/debug/stats` document by path (`a.b[0].c`).
pub fn flatten_numbers(stats: &Value) -> BTreeMap<String, f64> {
    fn walk(v: &Value, path: String, out: &mut BTreeMap<String, f64>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(child, p, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, format!("{path}[{i}]"), out);
                }
            }
            Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    out.insert(path, x);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(stats, String::new(), &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// payloads

/// Opus producer RTP parameters as mediasoup-client's FakeHandler sends them.
fn audio_rtp_parameters(mid: &str, ssrc: u32, cname: &str) -> Value {
    json!({
        "mid": mid,
        "codecs": [{
            "mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2,
            "parameters": {"useinbandfec": 1, "usedtx": 1},
            "rtcpFeedback": [{"type": "transport-cc", "parameter": ""}],
        }],
        "headerExtensions": [
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1, "encrypt": false, "parameters": {}},
            {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 4, "encrypt": false, "parameters": {}},
            {"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 10, "encrypt": false, "parameters": {}},
        ],
        "encodings": [{"ssrc": ssrc, "dtx": false}],
        "rtcp": {"cname": cname, "reducedSize": true, "mux": true},
    })
}

/// VP8 (+ RTX) producer RTP parameters; three simulcast encodings when `simulcast`.
fn video_rtp_parameters(mid: &str, rng: &mut Rng, simulcast: bool, cname: &str) -> Value {
    let layers = if simulcast { 3 } else { 1 };
    let encodings: Vec<Value> = (0..layers)
        .map(|i| {
            let mut e = json!({"ssrc": rng.ssrc(), "rtx": {"ssrc": rng.ssrc()}});
            if simulcast {
                e["scaleResolutionDownBy"] = json!(f64::from(1_u32 << (2 - i)));
                e["maxBitrate"] = json!(100_000 * (1 << i));
            }
            e
        })
        .collect();
    json!({
        "mid": mid,
        "codecs": [
            {
                "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000, "parameters": {},
                "rtcpFeedback": [
                    {"type": "goog-remb", "parameter": ""},
                    {"type": "transport-cc", "parameter": ""},
                    {"type": "ccm", "parameter": "fir"},
                    {"type": "nack", "parameter": ""},
                    {"type": "nack", "parameter": "pli"},
                ],
            },
            {
                "mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000,
                "parameters": {"apt": 101}, "rtcpFeedback": [],
            },
        ],
        "headerExtensions": [
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1, "encrypt": false, "parameters": {}},
            {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 4, "encrypt": false, "parameters": {}},
            {"uri": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01", "id": 5, "encrypt": false, "parameters": {}},
            {"uri": "urn:3gpp:video-orientation", "id": 11, "encrypt": false, "parameters": {}},
        ],
        "encodings": encodings,
        "rtcp": {"cname": cname, "reducedSize": true, "mux": true},
    })
}

/// Client DTLS parameters with a made-up fingerprint (no DTLS ever happens: no ICE).
fn dtls_parameters(rng: &mut Rng) -> Value {
    let fingerprint: Vec<String> = (0..32)
        .map(|_| format!("{:02X}", rng.next_u64() & 0xff))
        .collect();
    json!({
        "role": "client",
        "fingerprints": [{"algorithm": "sha-256", "value": fingerprint.join(":")}],
    })
}

// ---------------------------------------------------------------------------------------------
// devices and cycles

/// A transport of a device's room.
#[derive(Debug)]
struct Transport {
    id: String,
    send: bool,
    connected: bool,
}

/// What a device holds in its SFU room.
#[derive(Debug)]
struct Room {
    id: String,
    /// The router's `rtpCapabilities` (JSON), used as the client's capabilities.
    caps: String,
    transports: Vec<Transport>,
    producers: Vec<String>,
    /// `(consumer, its producer)`.
    consumers: Vec<(String, String)>,
    /// Producers consumed already.
    consumed: HashSet<String>,
    next_mid: u32,
}

impl Room {
    fn new(id: String, caps: String) -> Self {
        Self {
            id,
            caps,
            transports: Vec::new(),
            producers: Vec::new(),
            consumers: Vec::new(),
            consumed: HashSet::new(),
            next_mid: 0,
        }
    }

    fn send(&self) -> Option<&Transport> {
        self.transports.iter().find(|t| t.send)
    }

    fn recv(&self) -> Option<&Transport> {
        self.transports.iter().find(|t| !t.send)
    }
}

/// One virtual device: a user, its connection (if connected) and its room (if in one).
#[derive(Debug)]
struct Device {
    user: usize,
    index: usize,
    client: Option<Client>,
    room: Option<Room>,
}

impl Device {
    fn cname(&self) -> String {
        format!("soak-{}", self.index)
    }
}

/// A request that failed (already counted); the cycle stops and the device is dropped.
#[derive(Debug)]
struct Failed;

/// An answered request: the ack payload, or a legitimate `{error}` message.
#[derive(Debug)]
enum Reply {
    Ok(Value),
    Refused,
}

/// State shared by the cycle runners.
struct Shared<'a> {
    cfg: &'a SoakConfig,
    ws: String,
    ops: AtomicU64,
    tally: Mutex<Tally>,
}

impl Shared<'_> {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn action(&self, name: &str) {
        *self.tally().actions.entry(name.to_owned()).or_default() += 1;
    }

    fn fail(&self, kind: String, detail: String) {
        let mut t = self.tally();
        *t.failures.entry(kind.clone()).or_default() += 1;
        if t.failure_examples.len() < 10 {
            t.failure_examples.push(format!("{kind}: {detail}"));
        }
    }

    /// Emits `event` without an ack.
    fn emit(&self, client: &Client, event: &str, payload: &str) -> Result<(), Failed> {
        self.ops.fetch_add(1, Ordering::Relaxed);
        client.emit(event, payload).map_err(|e| {
            self.fail(format!("connection lost ({event})"), e.to_string());
            Failed
        })
    }

    /// Emits `event` with an ack and waits for it. An `{error}` containing one of `expected`
    /// is a refusal; any other `{error}` is counted as a failure but the cycle goes on (a
    /// refused request changes nothing); timeouts and lost connections stop the cycle.
    async fn request(
        &self,
        client: &Client,
        event: &str,
        payload: &str,
        expected: &[&str],
    ) -> Result<Reply, Failed> {
        match self.request_raw(client, event, payload).await? {
            Ok(value) => Ok(Reply::Ok(value)),
            Err(message) => {
                if expected.iter().any(|e| message.contains(e)) {
                    self.refused(event, &message);
                } else {
                    self.unexpected(event, &message, payload);
                }
                Ok(Reply::Refused)
            }
        }
    }

    /// A legitimate `{error}` answer.
    fn refused(&self, event: &str, message: &str) {
        *self
            .tally()
            .refused
            .entry(format!("{event}: {message:.120}"))
            .or_default() += 1;
    }

    /// An `{error}` answer that should not have happened.
    fn unexpected(&self, event: &str, message: &str, payload: &str) {
        self.fail(
            format!("unexpected error ({event}): {message:.120}"),
            format!("payload {payload:.300}"),
        );
    }

    /// Emits `event` with an ack and waits for it: the ack payload, or the `{error}` message
    /// (not counted). Timeouts and lost connections are failures and stop the cycle.
    async fn request_raw(
        &self,
        client: &Client,
        event: &str,
        payload: &str,
    ) -> Result<Result<Value, String>, Failed> {
        self.ops.fetch_add(1, Ordering::Relaxed);
        let rx = client.emit_with_ack(event, payload).map_err(|e| {
            self.fail(format!("connection lost ({event})"), e.to_string());
            Failed
        })?;
        let raw = match tokio::time::timeout(self.cfg.timeout, rx).await {
            Err(_) => {
                self.fail(
                    format!("timeout ({event})"),
                    format!(
                        "no ack within {:?}; payload {payload:.200}",
                        self.cfg.timeout
                    ),
                );
                return Err(Failed);
            }
            Ok(Err(_)) => {
                self.fail(
                    format!("connection lost ({event})"),
                    "closed before the ack".to_owned(),
                );
                return Err(Failed);
            }
            Ok(Ok((_, raw))) => raw,
        };
        let value = serde_json::from_str::<Value>(&raw)
            .ok()
            .and_then(|v| v.get(0).cloned())
            .unwrap_or(Value::Null);
        Ok(match value.get("error") {
            None => Ok(value),
            Some(Value::String(message)) => Err(message.clone()),
            Some(other) => Err(other.to_string()),
        })
    }

    /// A reply without the expected field is a failure.
    fn field(&self, event: &str, value: &Value, field: &str) -> Result<Value, Failed> {
        match value.get(field) {
            Some(v) if !v.is_null() => Ok(v.clone()),
            _ => {
                self.fail(
                    format!("bad ack ({event}): no {field}"),
                    short(&value.to_string()),
                );
                Err(Failed)
            }
        }
    }
}

/// Media operations inside a room.
#[derive(Debug, Clone, Copy)]
enum MediaOp {
    CreateSend,
    CreateRecv,
    CreateExtra,
    Connect,
    ProduceAudio,
    ProduceVideo,
    Consume,
    Resume,
    CloseProducer,
    RestartIce,
    GetProducers,
}

/// How a cycle ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Stay,
    Leave,
    LeaveNoAck,
    LeaveThenDisconnect,
    Disconnect,
    WsClose,
    Abort,
}

/// Counts the events a device received since its last cycle. Error events (the answers to
/// requests without an ack, e.g. a refused `group_call_initiate`) and `server_shutdown` are
/// failures: the soak only sends requests that should succeed without an ack.
fn drain_events(sh: &Shared<'_>, client: &mut Client) {
    let Some(rx) = client.events.as_mut() else {
        return;
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while let Ok(ev) = rx.try_recv() {
        if ev.name.ends_with("error") || ev.name == "server_shutdown" {
            sh.fail(format!("event {}", ev.name), short(&ev.raw));
        }
        *counts.entry(ev.name).or_default() += 1;
    }
    if !counts.is_empty() {
        let mut t = sh.tally();
        for (name, n) in counts {
            *t.events.entry(name).or_default() += n;
        }
    }
}

/// One cycle on `dev`.
async fn cycle(sh: &Shared<'_>, dev: &mut Device, rng: &mut Rng) -> Result<(), Failed> {
    if let Some(client) = dev.client.as_mut() {
        drain_events(sh, client);
        if client.is_closed() {
            sh.fail(
                "connection lost (idle)".to_owned(),
                format!("device {} (user {})", dev.index, dev.user),
            );
            dev.client = None;
            dev.room = None;
        }
    }
    if dev.client.is_none() {
        connect(sh, dev, rng).await?;
    }
    let Some(client) = dev.client.as_ref() else {
        return Err(Failed);
    };
    let user = dev.user.to_string();
    let [own, other] = sh.cfg.layout.conversations_of(dev.user);

    if rng.chance(0.25) {
        sh.action("get_active_calls");
        if let Reply::Ok(v) = sh.request(client, "get_active_calls", "{}", &[]).await? {
            sh.field("get_active_calls", &v, "calls")?;
        }
    }
    if rng.chance(0.15) {
        sh.action("group_call_initiate");
        let conversation = if rng.chance(0.7) { &own } else { &other };
        let call_type = if rng.chance(0.5) { "video" } else { "audio" };
        let payload =
            json!({"callerId": user, "conversationId": conversation, "callType": call_type});
        sh.emit(client, "group_call_initiate", &payload.to_string())?;
    }

    // Enter, re-enter or switch rooms.
    if dev.room.is_none() || rng.chance(0.1) {
        if rng.chance(0.05) {
            sh.action("createRoom (not a member)");
            let foreign = sh.cfg.layout.foreign_conversation(dev.user);
            let payload = json!({"roomId": foreign}).to_string();
            if let Reply::Ok(v) = sh
                .request(
                    client,
                    "createRoom",
                    &payload,
                    &["You are not in this group"],
                )
                .await?
            {
                sh.fail(
                    "bad ack (createRoom): a non-member entered".to_owned(),
                    format!("user {user} room {foreign}: {}", short(&v.to_string())),
                );
            }
        }
        if rng.chance(0.8) {
            let target = if rng.chance(0.75) { own } else { other };
            let action = match &dev.room {
                None => "createRoom",
                Some(r) if r.id == target => "createRoom (same room again)",
                Some(_) => "createRoom (switch rooms)",
            };
            sh.action(action);
            let payload = json!({"roomId": target}).to_string();
            if let Reply::Ok(v) = sh.request(client, "createRoom", &payload, &[]).await? {
                let caps = sh.field("createRoom", &v, "rtpCapabilities")?;
                let same = dev.room.as_ref().is_some_and(|r| r.id == target);
                if !same {
                    dev.room = Some(Room::new(target, caps.to_string()));
                }
            }
        }
    }

    if dev.room.is_some() {
        let steps = 1 + rng.below(6);
        for _ in 0..steps {
            media_op(sh, dev, rng).await?;
        }
    }
    end_cycle(sh, dev, rng).await
}

/// Connects `dev` and binds it to its user.
async fn connect(sh: &Shared<'_>, dev: &mut Device, rng: &mut Rng) -> Result<(), Failed> {
    sh.action("connect");
    sh.ops.fetch_add(1, Ordering::Relaxed);
    let options = ClientOptions {
        record_events: true,
        fanout: None,
    };
    let client = match Client::connect(&sh.ws, options, sh.cfg.timeout).await {
        Ok(c) => c,
        Err(e) => {
            sh.fail("connect".to_owned(), format!("{e:#}"));
            return Err(Failed);
        }
    };
    let user = dev.user.to_string();
    if rng.chance(0.05) {
        sh.action("get_active_calls before join");
        if let Reply::Ok(v) = sh
            .request(&client, "get_active_calls", "{}", &["Not joined"])
            .await?
        {
            sh.fail(
                "bad ack (get_active_calls): answered before join".to_owned(),
                short(&v.to_string()),
            );
        }
    }
    match rng.below(10) {
        0..=5 => {
            sh.action("join");
            sh.request(&client, "join", &json_str(&user), &[]).await?;
        }
        6 | 7 => {
            // No ack: the next request of this socket is handled after it anyway.
            sh.action("join (no ack, numeric id)");
            sh.emit(&client, "join", &user)?;
        }
        _ => {
            sh.action("register-user");
            let payload = json!({"userId": user, "userName": format!("Soak {user}")});
            sh.request(&client, "register-user", &payload.to_string(), &[])
                .await?;
        }
    }
    dev.client = Some(client);
    dev.room = None;
    Ok(())
}

/// One random media operation in the device's room.
async fn media_op(sh: &Shared<'_>, dev: &mut Device, rng: &mut Rng) -> Result<(), Failed> {
    let cname = dev.cname();
    let (Some(client), Some(room)) = (dev.client.as_ref(), dev.room.as_mut()) else {
        return Ok(());
    };
    let has_send = room.send().is_some();
    let has_recv = room.recv().is_some();
    let n_transports = room.transports.len();
    let w = |cond: bool, weight: u32| if cond { weight } else { 0 };
    let choice = rng.weighted(&[
        (w(!has_send, 6), MediaOp::CreateSend),
        (w(!has_recv, 5), MediaOp::CreateRecv),
        (w(n_transports < 3, 1), MediaOp::CreateExtra),
        (
            w(room.transports.iter().any(|t| !t.connected), 1),
            MediaOp::Connect,
        ),
        (
            w(has_send && room.producers.len() < 4, 3),
            MediaOp::ProduceAudio,
        ),
        (
            w(has_send && room.producers.len() < 4, 3),
            MediaOp::ProduceVideo,
        ),
        (w(n_transports > 0, 6), MediaOp::Consume),
        (w(!room.consumers.is_empty(), 2), MediaOp::Resume),
        (w(!room.producers.is_empty(), 1), MediaOp::CloseProducer),
        (w(n_transports > 0, 1), MediaOp::RestartIce),
        (1, MediaOp::GetProducers),
    ]);
    let Some(op) = choice else { return Ok(()) };
    match op {
        MediaOp::CreateSend | MediaOp::CreateRecv | MediaOp::CreateExtra => {
            let send = match op {
                MediaOp::CreateSend => true,
                MediaOp::CreateRecv => false,
                _ => rng.chance(0.5),
            };
            let kind = if send { "send" } else { "recv" };
            sh.action(&format!("createTransport {kind}"));
            let payload = json!({"type": kind}).to_string();
            if let Reply::Ok(v) = sh.request(client, "createTransport", &payload, &[]).await? {
                for field in ["iceParameters", "iceCandidates", "dtlsParameters"] {
                    sh.field("createTransport", &v, field)?;
                }
                match sh.field("createTransport", &v, "id")?.as_str() {
                    Some(id) => room.transports.push(Transport {
                        id: id.to_owned(),
                        send,
                        connected: false,
                    }),
                    None => {
                        sh.fail(
                            "bad ack (createTransport): id".to_owned(),
                            short(&v.to_string()),
                        );
                        return Err(Failed);
                    }
                }
            }
        }
        MediaOp::Connect => {
            sh.action("connectTransport");
            let candidates: Vec<usize> = (0..room.transports.len())
                .filter(|&i| !room.transports[i].connected)
                .collect();
            let i = candidates[rng.below(candidates.len())];
            let payload = json!({
                "transportId": room.transports[i].id,
                "dtlsParameters": dtls_parameters(rng),
            })
            .to_string();
            if let Reply::Ok(_) = sh
                .request(client, "connectTransport", &payload, &[])
                .await?
            {
                room.transports[i].connected = true;
            }
        }
        MediaOp::ProduceAudio | MediaOp::ProduceVideo => {
            let Some(transport) = room.send().map(|t| t.id.clone()) else {
                return Ok(());
            };
            room.next_mid += 1;
            let mid = room.next_mid.to_string();
            let (kind, params) = if matches!(op, MediaOp::ProduceAudio) {
                sh.action("produce audio");
                ("audio", audio_rtp_parameters(&mid, rng.ssrc(), &cname))
            } else {
                let simulcast = rng.chance(0.5);
                sh.action(if simulcast {
                    "produce video (simulcast)"
                } else {
                    "produce video"
                });
                ("video", video_rtp_parameters(&mid, rng, simulcast, &cname))
            };
            let payload = json!({
                "transportId": transport, "kind": kind, "rtpParameters": params,
                "appData": {"soak": true},
            })
            .to_string();
            if let Reply::Ok(v) = sh.request(client, "produce", &payload, &[]).await? {
                match sh.field("produce", &v, "id")?.as_str() {
                    Some(id) => room.producers.push(id.to_owned()),
                    None => {
                        sh.fail("bad ack (produce): id".to_owned(), short(&v.to_string()));
                        return Err(Failed);
                    }
                }
            }
        }
        MediaOp::Consume => consume(sh, client, room, rng).await?,
        MediaOp::Resume => {
            sh.action("resumeConsumer (earlier consumer)");
            let (consumer, producer) = room.consumers[rng.below(room.consumers.len())].clone();
            resume(sh, client, &consumer, &producer).await?;
        }
        MediaOp::CloseProducer => {
            sh.action("closeProducer");
            let id = room.producers.swap_remove(rng.below(room.producers.len()));
            let payload = json!({"producerId": id}).to_string();
            sh.request(client, "closeProducer", &payload, &[]).await?;
        }
        MediaOp::RestartIce => {
            sh.action("restartIce");
            let id = room.transports[rng.below(room.transports.len())].id.clone();
            let payload = json!({"transportId": id}).to_string();
            if let Reply::Ok(v) = sh.request(client, "restartIce", &payload, &[]).await? {
                sh.field("restartIce", &v, "iceParameters")?;
            }
        }
        MediaOp::GetProducers => {
            sh.action("getProducers");
            if let Reply::Ok(v) = sh.request(client, "getProducers", "{}", &[]).await? {
                sh.field("getProducers", &v, "producers")?;
            }
        }
    }
    Ok(())
}

/// `getProducers`, then `consume` (and mostly `resumeConsumer`) up to 4 producers of others.
async fn consume(
    sh: &Shared<'_>,
    client: &Client,
    room: &mut Room,
    rng: &mut Rng,
) -> Result<(), Failed> {
    sh.action("getProducers + consume");
    let Reply::Ok(v) = sh.request(client, "getProducers", "{}", &[]).await? else {
        return Ok(());
    };
    let list = sh.field("getProducers", &v, "producers")?;
    let mut candidates: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("id")?.as_str().map(str::to_owned))
                .filter(|id| !room.producers.contains(id) && !room.consumed.contains(id))
                .collect()
        })
        .unwrap_or_default();
    let take = 1 + rng.below(4);
    for _ in 0..take {
        if candidates.is_empty() {
            break;
        }
        let producer = candidates.swap_remove(rng.below(candidates.len()));
        // Mostly the receive transport; any transport of the socket is accepted.
        let transport = match room.recv() {
            Some(t) if rng.chance(0.9) => t.id.clone(),
            _ => room.transports[rng.below(room.transports.len())].id.clone(),
        };
        sh.action("consume");
        let payload = format!(
            "{{\"transportId\":{},\"producerId\":{},\"rtpCapabilities\":{}}}",
            json_str(&transport),
            json_str(&producer),
            room.caps
        );
        let v = match sh.request_raw(client, "consume", &payload).await? {
            Ok(v) => v,
            Err(message) => {
                // The producer may have closed (or its owner left) since getProducers.
                after_close(sh, client, "consume", &message, &payload, &producer).await?;
                continue;
            }
        };
        for field in ["producerId", "kind", "rtpParameters"] {
            sh.field("consume", &v, field)?;
        }
        let Some(id) = sh.field("consume", &v, "id")?.as_str().map(str::to_owned) else {
            sh.fail("bad ack (consume): id".to_owned(), short(&v.to_string()));
            return Err(Failed);
        };
        room.consumed.insert(producer.clone());
        room.consumers.push((id.clone(), producer.clone()));
        if rng.chance(0.7) {
            sh.action("resumeConsumer");
            resume(sh, client, &id, &producer).await?;
        }
    }
    Ok(())
}

/// `resumeConsumer`; the consumer is gone when its producer closed meanwhile.
async fn resume(
    sh: &Shared<'_>,
    client: &Client,
    consumer: &str,
    producer: &str,
) -> Result<(), Failed> {
    let payload = json!({"consumerId": consumer}).to_string();
    if let Err(message) = sh.request_raw(client, "resumeConsumer", &payload).await? {
        after_close(sh, client, "resumeConsumer", &message, &payload, producer).await?;
    }
    Ok(())
}

/// Judges the `{error}` answer to a request about `producer` (`consume`) or a consumer of it
/// (`resumeConsumer`): legitimate when it is the documented `Producer not found` /
/// `Consumer not found`, or when the producer is no longer listed by `getProducers` (it
/// closed, or its owner left, while the request was on its way: the server may then answer
/// with another message); a failure otherwise.
async fn after_close(
    sh: &Shared<'_>,
    client: &Client,
    event: &str,
    message: &str,
    payload: &str,
    producer: &str,
) -> Result<(), Failed> {
    if message == "Producer not found" || message == "Consumer not found" {
        sh.refused(event, message);
    } else if still_listed(sh, client, producer).await? {
        sh.unexpected(event, message, payload);
    } else {
        sh.refused(
            event,
            &format!("{} (its producer had just closed)", without_ids(message)),
        );
    }
    Ok(())
}

/// `message` with every quoted part replaced by `"…"` (ids in media-layer errors), so that
/// equal errors are counted together.
fn without_ids(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut parts = message.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        if i % 2 == 0 {
            out.push_str("\"…\"");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Whether `getProducers` still lists `producer`.
async fn still_listed(sh: &Shared<'_>, client: &Client, producer: &str) -> Result<bool, Failed> {
    let Reply::Ok(v) = sh.request(client, "getProducers", "{}", &[]).await? else {
        return Ok(false);
    };
    Ok(v.get("producers")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter()
                .any(|p| p.get("id").and_then(Value::as_str) == Some(producer))
        }))
}

/// Ends a cycle: stay, leave the room, or go away in one of three ways.
async fn end_cycle(sh: &Shared<'_>, dev: &mut Device, rng: &mut Rng) -> Result<(), Failed> {
    let in_room = dev.room.is_some();
    let ending = if in_room {
        rng.weighted(&[
            (30, Ending::Stay),
            (15, Ending::Leave),
            (5, Ending::LeaveNoAck),
            (10, Ending::LeaveThenDisconnect),
            (15, Ending::Disconnect),
            (12, Ending::WsClose),
            (13, Ending::Abort),
        ])
    } else {
        rng.weighted(&[
            (50, Ending::Stay),
            (20, Ending::Disconnect),
            (15, Ending::WsClose),
            (15, Ending::Abort),
        ])
    }
    .unwrap_or(Ending::Stay);
    let where_ = if in_room {
        "in a room"
    } else {
        "not in a room"
    };
    match ending {
        Ending::Stay => sh.action(&format!("end: stay connected {where_}")),
        Ending::Leave | Ending::LeaveThenDisconnect => {
            sh.action(if matches!(ending, Ending::Leave) {
                "end: leaveRoom"
            } else {
                "end: leaveRoom, then disconnect"
            });
            if let Some(client) = dev.client.as_ref() {
                sh.request(client, "leaveRoom", "{}", &[]).await?;
            }
            dev.room = None;
            if matches!(ending, Ending::LeaveThenDisconnect)
                && let Some(client) = dev.client.take()
            {
                client.disconnect();
            }
        }
        Ending::LeaveNoAck => {
            sh.action("end: leaveRoom (no ack)");
            if let Some(client) = dev.client.as_ref() {
                sh.emit(client, "leaveRoom", "{}")?;
            }
            dev.room = None;
        }
        Ending::Disconnect | Ending::WsClose | Ending::Abort => {
            let how = match ending {
                Ending::Disconnect => "Socket.IO disconnect",
                Ending::WsClose => "WebSocket close",
                _ => "TCP drop",
            };
            sh.action(&format!("end: {how} {where_}"));
            go_away(dev, ending);
        }
    }
    Ok(())
}

/// Disconnects `dev` the way `ending` says (any other ending: a WebSocket close).
fn go_away(dev: &mut Device, ending: Ending) {
    dev.room = None;
    if let Some(client) = dev.client.take() {
        match ending {
            Ending::Disconnect => client.disconnect(),
            Ending::Abort => client.abort(),
            _ => drop(client),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the run

/// Samples RSS and `/debug/stats` until `done`; keeps the peaks.
async fn monitor(
    cfg: &SoakConfig,
    done: &AtomicBool,
    rss_peak: &AtomicU64,
    peaks: &Mutex<BTreeMap<String, f64>>,
    progress: &(dyn Fn(&str) + Sync),
    completed: &AtomicUsize,
    sh: &Shared<'_>,
) {
    let started = Instant::now();
    let mut last_stats: Option<Instant> = None;
    let mut last_progress = Instant::now();
    while !done.load(Ordering::Relaxed) {
        if let Some(kib) = cfg.pid.and_then(rss_kib) {
            rss_peak.fetch_max(kib, Ordering::Relaxed);
        }
        if last_stats.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
            last_stats = Some(Instant::now());
            if let Ok(stats) = debug_stats(&cfg.url, cfg.timeout).await {
                let mut peaks = peaks.lock().unwrap_or_else(PoisonError::into_inner);
                for (k, v) in flatten_numbers(&stats) {
                    let e = peaks.entry(k).or_insert(v);
                    *e = e.max(v);
                }
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            let failures = sh.tally().failure_count();
            progress(&format!(
                "{} / {} cycles, {} ops, {failures} failures, RSS {} ({:.0} s)",
                completed.load(Ordering::Relaxed),
                cfg.cycles,
                sh.ops.load(Ordering::Relaxed),
                mib(cfg.pid.and_then(rss_kib)),
                started.elapsed().as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the soak against the server at `cfg.url`; `progress` gets a line every few seconds.
///
/// Fails only when the server cannot be reached at the start; everything else ends up in the
/// report ([`SoakReport::passed`]).
pub async fn run(cfg: &SoakConfig, progress: &(dyn Fn(&str) + Sync)) -> Result<SoakReport> {
    let start_stats = debug_stats(&cfg.url, cfg.timeout)
        .await
        .with_context(|| format!("reading {}/debug/stats", cfg.url))?;
    let busy = leftovers(&start_stats);
    if !busy.is_empty() {
        progress(&format!(
            "warning: the server is not idle at the start ({busy:?}); the final check expects zero"
        ));
    }
    let rss_start_kib = cfg.pid.and_then(rss_kib);
    let devices: Vec<Device> = cfg
        .layout
        .devices()
        .into_iter()
        .enumerate()
        .map(|(index, user)| Device {
            user,
            index,
            client: None,
            room: None,
        })
        .collect();
    let concurrency = cfg.concurrency.clamp(1, devices.len());
    let idle = Mutex::new(devices);
    let sh = Shared {
        cfg,
        ws: ws_url(&cfg.url),
        ops: AtomicU64::new(0),
        tally: Mutex::new(Tally::default()),
    };
    let next = AtomicUsize::new(0);
    let completed = AtomicUsize::new(0);
    let baseline = Mutex::new(None::<u64>);
    let done = AtomicBool::new(false);
    let rss_peak = AtomicU64::new(rss_start_kib.unwrap_or(0));
    let peaks = Mutex::new(BTreeMap::new());
    let warmup = cfg.warmup_cycles.min(cfg.cycles);
    if warmup == 0 {
        *baseline.lock().unwrap_or_else(PoisonError::into_inner) = rss_start_kib;
    }

    let started = Instant::now();
    let runner = |worker: usize| {
        let (sh, idle, next, completed, baseline) = (&sh, &idle, &next, &completed, &baseline);
        async move {
            let mut pick = Rng::new(cfg.seed ^ (worker as u64).wrapping_mul(0xA24B_AED4_963E_E407));
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= cfg.cycles {
                    break;
                }
                let mut dev = {
                    let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
                    let i = pick.below(idle.len());
                    idle.swap_remove(i)
                };
                let mut rng = Rng::new(cfg.seed.wrapping_add((n as u64).wrapping_mul(0x9E37_79B9)));
                if cycle(sh, &mut dev, &mut rng).await.is_err() {
                    // Unknown state after a failure: drop the connection and start afresh.
                    go_away(&mut dev, Ending::Abort);
                }
                idle.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(dev);
                if completed.fetch_add(1, Ordering::Relaxed) + 1 == warmup {
                    *baseline.lock().unwrap_or_else(PoisonError::into_inner) =
                        cfg.pid.and_then(rss_kib);
                }
            }
        }
    };
    let workers = futures::future::join_all((0..concurrency).map(runner));
    let watch = monitor(cfg, &done, &rss_peak, &peaks, progress, &completed, &sh);
    let workers = async {
        workers.await;
        done.store(true, Ordering::Relaxed);
    };
    futures::future::join(workers, watch).await;
    let duration = started.elapsed();

    // Everyone goes away, in all three ways.
    let mut rng = Rng::new(cfg.seed ^ 0xD1B5_4A32_D192_ED03);
    let mut devices = idle.into_inner().unwrap_or_else(PoisonError::into_inner);
    for dev in &mut devices {
        if let Some(client) = dev.client.as_mut() {
            drain_events(&sh, client);
        }
        let ending = [Ending::Disconnect, Ending::WsClose, Ending::Abort][rng.below(3)];
        go_away(dev, ending);
    }
    let gone = Instant::now();
    let mut settled_in = None;
    let mut final_stats = Value::Null;
    while gone.elapsed() < cfg.settle {
        tokio::time::sleep(Duration::from_millis(200)).await;
        match debug_stats(&cfg.url, cfg.timeout).await {
            Ok(stats) => {
                let clean = leftovers(&stats).is_empty();
                final_stats = stats;
                if clean {
                    settled_in = Some(gone.elapsed());
                    break;
                }
            }
            Err(e) => progress(&format!("reading /debug/stats: {e:#}")),
        }
    }
    // Let the allocator and the workers finish releasing, then the final figures.
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Ok(stats) = debug_stats(&cfg.url, cfg.timeout).await {
        final_stats = stats;
    }
    let remaining = if final_stats.is_null() {
        vec![("/debug/stats".to_owned(), "unreadable".to_owned())]
    } else {
        leftovers(&final_stats)
    };
    let rss_final_kib = cfg.pid.and_then(rss_kib);
    let mut tally = sh.tally().clone();
    tally.ops = sh.ops.load(Ordering::Relaxed);
    let peak = rss_peak.load(Ordering::Relaxed);
    Ok(SoakReport {
        config: cfg.clone(),
        cycles: completed.load(Ordering::Relaxed),
        duration,
        tally,
        start_stats,
        peak_stats: peaks.into_inner().unwrap_or_else(PoisonError::into_inner),
        final_stats,
        leftovers: remaining,
        settled_in,
        rss_start_kib,
        rss_baseline_kib: *baseline.lock().unwrap_or_else(PoisonError::into_inner),
        rss_peak_kib: (peak > 0).then_some(peak),
        rss_final_kib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut counts = [0_usize; 4];
        for _ in 0..4000 {
            counts[a.below(4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        assert_eq!(a.weighted(&[(0, 1), (5, 2), (0, 3)]), Some(2));
        assert_eq!(a.weighted::<u8>(&[(0, 1)]), None);
        assert_eq!(a.below(0), 0);
    }

    #[test]
    fn layout_memberships() -> Result<(), serde_json::Error> {
        let l = SoakLayout::new(3);
        assert_eq!(l.users(), 30);
        assert_eq!(l.devices().len(), 36);
        assert_eq!(
            l.conversations_of(1),
            ["soak0".to_owned(), "cross2".to_owned()]
        );
        assert_eq!(
            l.conversations_of(7),
            ["soak0".to_owned(), "cross0".to_owned()]
        );
        assert_eq!(
            l.conversations_of(30),
            ["soak2".to_owned(), "cross2".to_owned()]
        );
        assert_eq!(l.foreign_conversation(30), "soak0");
        let dir: Value = serde_json::from_str(&l.directory_json())?;
        let convs = dir["conversations"].as_array().cloned().unwrap_or_default();
        assert_eq!(convs.len(), 6);
        for user in 1..=30_usize {
            let member_of: Vec<String> = convs
                .iter()
                .filter(|c| {
                    c["members"]
                        .as_array()
                        .is_some_and(|m| m.contains(&json!(user)))
                })
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect();
            let mut want = l.conversations_of(user).to_vec();
            want.sort();
            let mut got = member_of.clone();
            got.sort();
            assert_eq!(got, want, "user {user}");
            assert!(!member_of.contains(&l.foreign_conversation(user)));
        }
        Ok(())
    }

    #[test]
    fn finds_leftovers_at_any_depth() {
        let clean = json!({
            "sockets": 0, "joinedUsers": 0, "rooms": 0, "participants": 0, "transports": 0,
            "producers": 0, "consumers": 0, "routers": 0, "workers": 2, "directoryQueries": 812,
            "workersDetail": [{"pid": 1, "routers": 0, "webRtcTransports": 0}],
            "roomsCreatedTotal": 5, "maxParticipants": 100,
        });
        assert!(leftovers(&clean).is_empty(), "{:?}", leftovers(&clean));
        let dirty = json!({
            "rooms": 1, "consumers": 0,
            "perWorker": [{"pid": 1, "transports": 3}, {"pid": 2, "transports": 0}],
            "producers": {"audio": 0, "video": 2},
            "participants": ["x"],
        });
        let mut found = leftovers(&dirty);
        found.sort();
        assert_eq!(
            found,
            vec![
                ("participants".to_owned(), "1 entries".to_owned()),
                ("perWorker[0].transports".to_owned(), "3".to_owned()),
                ("producers.video".to_owned(), "2".to_owned()),
                ("rooms".to_owned(), "1".to_owned()),
            ]
        );
        let flat = flatten_numbers(&dirty);
        assert_eq!(flat.get("perWorker[0].transports"), Some(&3.0));
        assert_eq!(flat.get("rooms"), Some(&1.0));
    }

    #[test]
    fn ids_are_cut_out_of_messages() {
        assert_eq!(
            without_ids(r#"Producer with id "0415f724" not found"#),
            r#"Producer with id "…" not found"#
        );
        assert_eq!(
            without_ids("Channel already closed"),
            "Channel already closed"
        );
    }

    #[test]
    fn rtp_parameters_have_the_fields_mediasoup_needs() {
        let mut rng = Rng::new(1);
        let a = audio_rtp_parameters("1", 1234, "c");
        assert_eq!(a["codecs"][0]["mimeType"], "audio/opus");
        assert_eq!(a["encodings"][0]["ssrc"], 1234);
        let v = video_rtp_parameters("2", &mut rng, true, "c");
        assert_eq!(v["encodings"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["codecs"][1]["parameters"]["apt"], 101);
        let d = dtls_parameters(&mut rng);
        assert_eq!(
            d["fingerprints"][0]["value"].as_str().map(str::len),
            Some(95)
        );
    }

    fn report(baseline: u64, last: u64) -> SoakReport {
        SoakReport {
            config: SoakConfig {
                url: "http://127.0.0.1:1".to_owned(),
                pid: Some(1),
                cycles: 10,
                seed: 1,
                concurrency: 2,
                layout: SoakLayout::new(2),
                timeout: Duration::from_secs(1),
                warmup_cycles: 1,
                settle: Duration::from_secs(1),
                rss_tolerance: 0.10,
            },
            cycles: 10,
            duration: Duration::from_secs(2),
            tally: Tally::default(),
            start_stats: Value::Null,
            peak_stats: BTreeMap::new(),
            final_stats: json!({"rooms": 0}),
            leftovers: Vec::new(),
            settled_in: Some(Duration::from_millis(200)),
            rss_start_kib: Some(1000),
            rss_baseline_kib: Some(baseline),
            rss_peak_kib: Some(3000),
            rss_final_kib: Some(last),
        }
    }

    #[test]
    fn verdicts() {
        assert!(report(2000, 2100).passed());
        let r = report(2000, 2300);
        assert!(!r.passed());
        assert!(
            r.problems()[0].contains("above the baseline"),
            "{:?}",
            r.problems()
        );
        let mut r = report(2000, 1500);
        r.tally.failures.insert("timeout (produce)".to_owned(), 1);
        r.leftovers.push(("rooms".to_owned(), "1".to_owned()));
        assert_eq!(r.problems().len(), 2);
        assert!(r.summary().contains("FAIL"));
        assert!(r.markdown().contains("**FAIL**"));
        assert!(report(2000, 2000).markdown().contains("**pass**"));
        // 9 cycles after a 1-cycle warm-up, +90 KiB: 10 MiB per 1000 cycles.
        assert_eq!(report(2000, 2090).rss_growth_per_1000(), Some(10_000.0));
        assert_eq!(SoakConfig::default_warmup(10_000), 1000);
        assert_eq!(SoakConfig::default_warmup(400), 200);
        assert_eq!(SoakConfig::default_warmup(50_000), 5000);
    }
}

//! One benchmark run against one server: active rooms, probes, then for each size the idle
//! sockets, RSS, join latency, `get_active_calls` throughput and the initiate fan-out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::layout::{GROUP_SIZE, Layout};
use crate::sio::{Client, ClientOptions, json_str, ws_url};
use crate::stats::{Measurement, Summary, cpu_time, rss_kib};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Server base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Label of the server in the results.
    pub label: String,
    /// Server process id, for RSS and CPU (`/proc/<pid>`); skipped when `None`.
    pub pid: Option<u32>,
    /// Idle socket counts to measure at, ascending (sockets are added between sizes).
    pub sizes: Vec<usize>,
    /// Users and conversations (must match the directory the server reads).
    pub layout: Layout,
    /// `join` → `active_group_calls` samples per size.
    pub join_samples: usize,
    /// Probes joining concurrently in the latency phase.
    pub join_concurrency: usize,
    /// Duration of the `get_active_calls` throughput phase (all probes, closed loop).
    pub throughput: Duration,
    /// Unmeasured closed-loop `get_active_calls` before the throughput phase (warm caches,
    /// allocator and — for the Node reference — the JIT).
    pub warmup: Duration,
    /// `group_call_initiate` calls per size.
    pub fanout_calls: usize,
    /// Initiates in flight at once.
    pub fanout_concurrency: usize,
    /// Connection attempts in flight at once.
    pub connect_concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Connected clients and the channel all `group_call_incoming` events arrive on.
struct Fleet {
    ws: String,
    idle: Vec<Option<Client>>,
    fanout_tx: mpsc::UnboundedSender<(String, Instant)>,
    fanout_rx: mpsc::UnboundedReceiver<(String, Instant)>,
}

/// Results of one run, in order.
#[derive(Debug, Default)]
pub struct Results {
    /// Every measured value.
    pub measurements: Vec<Measurement>,
}

impl Results {
    fn push(&mut self, label: &str, size: usize, metric: &'static str, value: f64) {
        let m = Measurement {
            label: label.to_owned(),
            size,
            metric,
            value,
        };
        println!("{}", m.line());
        self.measurements.push(m);
    }
}

/// Whether a raw ack array (`[{...}]`) carries an `error`.
fn ack_error(raw: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    v.get(0)?.get("error").map(ToString::to_string)
}

pub(crate) async fn ack(
    client: &Client,
    event: &str,
    payload: &str,
    timeout: Duration,
) -> Result<String> {
    let rx = client.emit_with_ack(event, payload)?;
    let (_, raw) = tokio::time::timeout(timeout, rx)
        .await
        .map_err(|_| anyhow!("no ack for {event} within {timeout:?}"))?
        .map_err(|_| anyhow!("connection closed before the {event} ack"))?;
    if let Some(err) = ack_error(&raw) {
        bail!("{event} failed: {err}");
    }
    Ok(raw)
}

/// Runs the whole benchmark against one server; prints result lines as it goes.
pub async fn run(cfg: &RunConfig) -> Result<Results> {
    let mut results = Results::default();
    let label = cfg.label.as_str();
    let ws = ws_url(&cfg.url);
    let t = cfg.timeout;
    let layout = cfg.layout;
    let max = cfg.sizes.iter().copied().max().unwrap_or(0);
    if max > layout.idle {
        bail!("size {max} exceeds the layout's {} idle users", layout.idle);
    }

    // Active rooms.
    let mut hosts = Vec::with_capacity(layout.hosts);
    for j in 0..layout.hosts {
        let host = Client::connect(&ws, ClientOptions::default(), t)
            .await
            .with_context(|| format!("{label}: host {j} connect"))?;
        ack(
            &host,
            "join",
            &json_str(&layout.host_user(j).to_string()),
            t,
        )
        .await?;
        let room = format!(
            "{{\"roomId\":{}}}",
            json_str(&Layout::active_conversation(j))
        );
        ack(&host, "createRoom", &room, t)
            .await
            .with_context(|| format!("{label}: host {j} createRoom"))?;
        hosts.push(host);
    }

    // Probes: members of one active conversation each; their join answers active_group_calls.
    let mut probes = Vec::with_capacity(layout.probes);
    for p in 0..layout.probes {
        let mut probe = Client::connect(
            &ws,
            ClientOptions {
                record_events: true,
                fanout: None,
            },
            t,
        )
        .await
        .with_context(|| format!("{label}: probe {p} connect"))?;
        let started = Instant::now();
        probe.emit("join", &json_str(&layout.probe_user(p).to_string()))?;
        probe
            .wait_event("active_group_calls", started + t)
            .await
            .with_context(|| format!("{label}: probe {p}: join did not report the active call"))?;
        probes.push((layout.probe_user(p), probe));
    }
    // Warm-up.
    for _ in 0..10 {
        for (_, probe) in &probes {
            ack(probe, "get_active_calls", "{}", t).await?;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_base = cfg.pid.and_then(rss_kib);
    if let Some(kib) = rss_base {
        results.push(label, 0, "rss_base_kib", kib as f64);
    }

    let (fanout_tx, fanout_rx) = mpsc::unbounded_channel();
    let mut fleet = Fleet {
        ws,
        idle: Vec::new(),
        fanout_tx,
        fanout_rx,
    };
    for &size in &cfg.sizes {
        // Idle sockets up to `size`.
        let started = Instant::now();
        let errors = connect_idle(&mut fleet, cfg, size).await;
        let connected = fleet.idle.iter().filter(|c| c.is_some()).count();
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "loadgen[{label}]: {connected} idle sockets joined ({errors} failed) in {secs:.1} s"
        );
        results.push(label, size, "connected", connected as f64);
        results.push(label, size, "connect_errors", errors as f64);
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let (Some(base), Some(kib)) = (rss_base, cfg.pid.and_then(rss_kib)) {
            results.push(label, size, "rss_kib", kib as f64);
            let per = (kib.saturating_sub(base) as f64 * 1024.0) / connected.max(1) as f64;
            results.push(label, size, "rss_per_socket_bytes", per);
        }

        // join -> active_group_calls latency.
        let (mut lat, join_errors) = join_latency(&mut probes, cfg).await;
        let s = Summary::of(&mut lat);
        results.push(label, size, "join_p50_us", s.p50_us);
        results.push(label, size, "join_p99_us", s.p99_us);
        results.push(label, size, "join_samples", s.count as f64);
        results.push(label, size, "join_errors", join_errors as f64);

        // get_active_calls (ack) throughput, after an unmeasured warm-up.
        throughput(&probes, cfg, cfg.warmup).await;
        let cpu_before = cfg.pid.and_then(cpu_time);
        let (count, mut lat, elapsed, gac_errors) = throughput(&probes, cfg, cfg.throughput).await;
        let cpu_after = cfg.pid.and_then(cpu_time);
        let s = Summary::of(&mut lat);
        results.push(
            label,
            size,
            "gac_per_sec",
            count as f64 / elapsed.as_secs_f64(),
        );
        results.push(label, size, "gac_p50_us", s.p50_us);
        results.push(label, size, "gac_p99_us", s.p99_us);
        results.push(label, size, "gac_errors", gac_errors as f64);
        if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
            let cpu = b.saturating_sub(a).as_secs_f64();
            results.push(
                label,
                size,
                "gac_server_cpu_share",
                cpu / elapsed.as_secs_f64(),
            );
            if count > 0 {
                results.push(
                    label,
                    size,
                    "gac_server_cpu_per_req_us",
                    cpu * 1e6 / count as f64,
                );
            }
        }

        // group_call_initiate -> group_call_incoming fan-out.
        let (mut lat, mut complete, calls, missing) = fanout(&mut fleet, cfg).await?;
        let s = Summary::of(&mut lat);
        let c = Summary::of(&mut complete);
        results.push(label, size, "fanout_calls", calls as f64);
        results.push(label, size, "fanout_p50_us", s.p50_us);
        results.push(label, size, "fanout_p99_us", s.p99_us);
        results.push(label, size, "fanout_all_p99_us", c.p99_us);
        results.push(label, size, "fanout_missing", missing as f64);
    }
    drop(fleet);
    drop(probes);
    drop(hosts);
    // Let the connection tasks send their close frames.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(results)
}

/// Connects and joins idle sockets until `size` are connected; returns the failures.
async fn connect_idle(fleet: &mut Fleet, cfg: &RunConfig, size: usize) -> usize {
    let from = fleet.idle.len();
    if size <= from {
        return 0;
    }
    let ws = fleet.ws.clone();
    let layout = cfg.layout;
    let t = cfg.timeout;
    let tx = fleet.fanout_tx.clone();
    let mut stream = futures::stream::iter(from..size)
        .map(|i| {
            let ws = ws.clone();
            let tx = tx.clone();
            async move {
                let options = ClientOptions {
                    record_events: false,
                    fanout: Some(tx),
                };
                let client = async {
                    let c = Client::connect(&ws, options, t).await?;
                    ack(&c, "join", &json_str(&layout.idle_user(i).to_string()), t).await?;
                    anyhow::Ok(c)
                }
                .await;
                (i, client)
            }
        })
        .buffer_unordered(cfg.connect_concurrency.max(1));
    fleet.idle.resize_with(size, || None);
    let mut errors = 0;
    let mut first_error = None;
    while let Some((i, client)) = stream.next().await {
        match client {
            Ok(c) => fleet.idle[i] = Some(c),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("loadgen[{}]: first connect error: {e:#}", cfg.label);
    }
    errors
}

/// `join` → `active_group_calls` latencies with `join_concurrency` probes in parallel.
async fn join_latency(probes: &mut [(usize, Client)], cfg: &RunConfig) -> (Vec<Duration>, usize) {
    let concurrency = cfg.join_concurrency.clamp(1, probes.len().max(1));
    let per_probe = cfg.join_samples.div_ceil(concurrency);
    let t = cfg.timeout;
    let tasks = probes.iter_mut().take(concurrency).map(|(user, probe)| {
        let user = json_str(&user.to_string());
        async move {
            let mut lat = Vec::with_capacity(per_probe);
            let mut errors = 0;
            for _ in 0..per_probe {
                probe.drain_events();
                let started = Instant::now();
                if probe.emit("join", &user).is_err() {
                    errors += 1;
                    continue;
                }
                match probe.wait_event("active_group_calls", started + t).await {
                    Ok(ev) => lat.push(ev.at.saturating_duration_since(started)),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }
    });
    let mut all = Vec::new();
    let mut errors = 0;
    for (lat, e) in futures::future::join_all(tasks).await {
        all.extend(lat);
        errors += e;
    }
    (all, errors)
}

/// Closed-loop `get_active_calls` with an ack on every probe for `length`.
async fn throughput(
    probes: &[(usize, Client)],
    cfg: &RunConfig,
    length: Duration,
) -> (usize, Vec<Duration>, Duration, usize) {
    let started = Instant::now();
    let deadline = started + length;
    let t = cfg.timeout;
    let tasks = probes.iter().map(|(_, probe)| async move {
        let mut lat = Vec::new();
        let mut errors = 0;
        while Instant::now() < deadline {
            let sent = Instant::now();
            let Ok(rx) = probe.emit_with_ack("get_active_calls", "{}") else {
                errors += 1;
                break;
            };
            match tokio::time::timeout(t, rx).await {
                Ok(Ok((at, raw))) if raw.contains("\"calls\":[{") => {
                    lat.push(at.saturating_duration_since(sent));
                }
                _ => errors += 1,
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
    let elapsed = started.elapsed();
    (all.len(), all, elapsed, errors)
}

/// `group_call_initiate` from the first member of fully connected idle groups; latency to
/// every other member's `group_call_incoming`. Returns (per-recipient latencies, per-call
/// completion latencies, calls, missing deliveries).
async fn fanout(
    fleet: &mut Fleet,
    cfg: &RunConfig,
) -> Result<(Vec<Duration>, Vec<Duration>, usize, usize)> {
    let groups: Vec<usize> = (0..fleet.idle.len() / GROUP_SIZE)
        .filter(|k| {
            (k * GROUP_SIZE..(k + 1) * GROUP_SIZE)
                .all(|i| fleet.idle.get(i).is_some_and(Option::is_some))
        })
        .collect();
    if groups.is_empty() || cfg.fanout_calls == 0 {
        return Ok((Vec::new(), Vec::new(), 0, 0));
    }
    while fleet.fanout_rx.try_recv().is_ok() {}
    let recipients = GROUP_SIZE - 1;
    let concurrency = cfg.fanout_concurrency.clamp(1, groups.len());
    let mut lat = Vec::with_capacity(cfg.fanout_calls * recipients);
    let mut complete = Vec::with_capacity(cfg.fanout_calls);
    let mut missing = 0;
    let mut inflight: HashMap<String, (Instant, usize)> = HashMap::new();
    let (mut started, mut done, mut cursor) = (0usize, 0usize, 0usize);
    // Spread calls over the groups (a stride coprime with nothing in particular is fine).
    let stride = (groups.len() / concurrency).max(1);
    while done < cfg.fanout_calls {
        while inflight.len() < concurrency && started < cfg.fanout_calls {
            let k = groups[(cursor * stride + cursor / groups.len()) % groups.len()];
            cursor += 1;
            let conversation = Layout::group_conversation(k);
            if inflight.contains_key(&conversation) {
                continue;
            }
            let caller = k * GROUP_SIZE;
            let Some(Some(client)) = fleet.idle.get(caller) else {
                continue;
            };
            let payload = format!(
                "{{\"callerId\":{},\"conversationId\":{},\"callType\":\"video\"}}",
                json_str(&cfg.layout.idle_user(caller).to_string()),
                json_str(&conversation)
            );
            let sent = Instant::now();
            client.emit("group_call_initiate", &payload)?;
            inflight.insert(conversation, (sent, recipients));
            started += 1;
        }
        let oldest = inflight.values().map(|(s, _)| *s).min();
        let deadline = oldest.map_or_else(Instant::now, |s| s + cfg.timeout);
        tokio::select! {
            got = fleet.fanout_rx.recv() => {
                let Some((conversation, at)) = got else { bail!("fan-out channel closed") };
                if let Some(entry) = inflight.get_mut(&conversation) {
                    let elapsed = at.saturating_duration_since(entry.0);
                    lat.push(elapsed);
                    entry.1 -= 1;
                    if entry.1 == 0 {
                        complete.push(elapsed);
                        inflight.remove(&conversation);
                        done += 1;
                    }
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                inflight.retain(|_, (s, left)| {
                    if now.duration_since(*s) >= cfg.timeout {
                        missing += *left;
                        done += 1;
                        false
                    } else {
                        true
                    }
                });
            }
        }
    }
    Ok((lat, complete, cfg.fanout_calls, missing))
}

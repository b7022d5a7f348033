//! The cluster bench: latency of the two cross-node paths users notice, next to the same path
//! within one node of the same cluster (one run, side by side).
//!
//! Two nodes on one Redis, directory of `call_updates::directory_json(2)` (users 1, 2 in `big`;
//! 3, 4 in `pair`):
//! * **ring**: user 1 sends `group_call_initiate` for `big`; time until user 2's socket gets
//!   `group_call_incoming`, with user 2 on the caller's node ("local") and on the other node
//!   ("cross-node", a relay through Redis);
//! * **join**: a call is active in `pair`, homed on node 1 (user 3 in it); user 4 connects,
//!   emits `join`; time until `active_group_calls` arrives, on node 1 (the home: the room is
//!   in its state) and on node 2 (from its replica). Both make one directory query.

use crate::scenario::ack;
use crate::sio::{Client, ClientOptions, json_str, ws_url};
use crate::stats::{Measurement, Summary};
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Node 1's base URL.
    pub node1: String,
    /// Node 2's base URL.
    pub node2: String,
    /// Samples per path.
    pub samples: usize,
    /// Per-request and per-event timeout.
    pub timeout: Duration,
}

async fn connect(url: &str, t: Duration) -> Result<Client> {
    let options = ClientOptions {
        record_events: true,
        fanout: None,
    };
    Client::connect(&ws_url(url), options, t).await
}

async fn joined(url: &str, user: &str, t: Duration) -> Result<Client> {
    let client = connect(url, t)
        .await
        .with_context(|| format!("user {user} connect"))?;
    ack(&client, "join", &json_str(user), t).await?;
    Ok(client)
}

/// `group_call_initiate` → `group_call_incoming` at the callee, `samples` times.
async fn ring(cfg: &ClusterConfig, callee_url: &str) -> Result<Summary> {
    let t = cfg.timeout;
    let caller = joined(&cfg.node1, "1", t).await?;
    let mut callee = joined(callee_url, "2", t).await?;
    let payload = r#"{"callerId":"1","conversationId":"big","callType":"audio"}"#;
    let mut samples = Vec::with_capacity(cfg.samples);
    for _ in 0..cfg.samples {
        callee.drain_events();
        let sent = Instant::now();
        caller.emit("group_call_initiate", payload)?;
        let ev = callee
            .wait_event("group_call_incoming", Instant::now() + t)
            .await
            .context("group_call_incoming")?;
        samples.push(ev.at - sent);
    }
    Ok(Summary::of(&mut samples))
}

/// `join` → `active_group_calls` for a member connecting to `url` while `pair` is active.
async fn join(cfg: &ClusterConfig, url: &str) -> Result<Summary> {
    let t = cfg.timeout;
    let mut samples = Vec::with_capacity(cfg.samples);
    for _ in 0..cfg.samples {
        let mut member = connect(url, t).await?;
        let sent = Instant::now();
        member.emit("join", &json_str("4"))?;
        let ev = member
            .wait_event("active_group_calls", Instant::now() + t)
            .await
            .context("active_group_calls")?;
        samples.push(ev.at - sent);
    }
    Ok(Summary::of(&mut samples))
}

/// Runs every path; measurements labelled `local` / `cross-node` (size = samples).
pub async fn run(cfg: &ClusterConfig) -> Result<Vec<Measurement>> {
    let t = cfg.timeout;
    let local_ring = ring(cfg, &cfg.node1).await?;
    let cross_ring = ring(cfg, &cfg.node2).await?;
    // An active call in `pair`, homed on node 1; node 2 learns it from the replica.
    let host = joined(&cfg.node1, "3", t).await?;
    ack(&host, "createRoom", r#"{"roomId":"pair"}"#, t).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let local_join = join(cfg, &cfg.node1).await?;
    let cross_join = join(cfg, &cfg.node2).await?;
    let _ = ack(&host, "leaveRoom", "{}", t).await;
    let m = |label: &str, metric: &'static str, value: f64| Measurement {
        label: label.to_owned(),
        size: cfg.samples,
        metric,
        value,
    };
    Ok(vec![
        m("local", "cluster_ring_p50_us", local_ring.p50_us),
        m("local", "cluster_ring_p99_us", local_ring.p99_us),
        m("cross-node", "cluster_ring_p50_us", cross_ring.p50_us),
        m("cross-node", "cluster_ring_p99_us", cross_ring.p99_us),
        m("local", "cluster_join_p50_us", local_join.p50_us),
        m("local", "cluster_join_p99_us", local_join.p99_us),
        m("cross-node", "cluster_join_p50_us", cross_join.p50_us),
        m("cross-node", "cluster_join_p99_us", cross_join.p99_us),
    ])
}

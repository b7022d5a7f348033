//! The `group_call_updated` fan-out bench: what one participant change costs the server when
//! the conversation has many members, all connected.
//!
//! A conversation `big` of `members` users, every one connected and joined, one host in its
//! SFU room; a mover joins and leaves the room `cycles` times, and after each change every
//! member socket must receive the update. The same runs in a two-member conversation `pair`,
//! so the difference is the cost of the fan-out itself. The server runs with
//! `--call-update-interval-ms 0`, so every change is announced (with the default one-second
//! throttle a conversation costs at most one such fan-out per second).

use crate::scenario::ack;
use crate::sio::{Client, ClientOptions, json_str, ws_url};
use crate::stats::{Measurement, Summary, cpu_time};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct UpdatesConfig {
    /// Server base URL.
    pub url: String,
    /// Server pid (CPU from /proc).
    pub pid: Option<u32>,
    /// Members of the big conversation.
    pub members: usize,
    /// Join + leave cycles per conversation.
    pub cycles: usize,
    /// Per-request and per-event timeout.
    pub timeout: Duration,
}

/// The two users of the `pair` conversation come after the big one's members.
fn pair_users(members: usize) -> [usize; 2] {
    [members + 1, members + 2]
}

/// The directory: users `1..=members` in `big`, two more in `pair`.
pub fn directory_json(members: usize) -> String {
    let mut out = String::from("{\"users\":[");
    for u in 1..=members + 2 {
        if u > 1 {
            out.push(',');
        }
        let _ = write!(out, "{{\"id\":{u},\"name\":\"U{u}\",\"avatar\":null}}");
    }
    let big: Vec<String> = (1..=members).map(|u| u.to_string()).collect();
    let [p1, p2] = pair_users(members);
    let _ = write!(
        out,
        "],\"conversations\":[{{\"id\":\"big\",\"name\":\"Big\",\"avatar\":null,\"members\":[{}]}},\
         {{\"id\":\"pair\",\"name\":\"Pair\",\"avatar\":null,\"members\":[{p1},{p2}]}}]}}",
        big.join(",")
    );
    out
}

async fn joined(ws: &str, user: usize, t: Duration) -> Result<Client> {
    let options = ClientOptions {
        record_events: true,
        fanout: None,
    };
    let client = Client::connect(ws, options, t)
        .await
        .with_context(|| format!("user {user} connect"))?;
    ack(&client, "join", &json_str(&user.to_string()), t).await?;
    Ok(client)
}

/// One conversation's cycles: server CPU per change, time until the last member socket got
/// the update, and updates that never came.
struct Outcome {
    cpu_per_change_us: f64,
    last: Summary,
    missing: usize,
}

async fn cycles(cfg: &UpdatesConfig, room: &str, mut clients: Vec<Client>) -> Result<Outcome> {
    let t = cfg.timeout;
    let payload = format!("{{\"roomId\":{}}}", json_str(room));
    ack(&clients[0], "createRoom", &payload, t).await?;
    for c in &mut clients {
        c.drain_events();
    }
    let cpu0 = cfg.pid.and_then(cpu_time);
    let mut last = Vec::with_capacity(cfg.cycles * 2);
    let mut missing = 0;
    for _ in 0..cfg.cycles {
        for event in ["createRoom", "leaveRoom"] {
            let sent = Instant::now();
            ack(&clients[1], event, &payload, t).await?;
            let deadline = Instant::now() + t;
            let mut latest = sent;
            for c in &mut clients {
                match c.wait_event("group_call_updated", deadline).await {
                    Ok(ev) => latest = latest.max(ev.at),
                    Err(_) => missing += 1,
                }
            }
            last.push(latest - sent);
        }
    }
    let cpu1 = cfg.pid.and_then(cpu_time);
    let changes = (cfg.cycles * 2).max(1) as f64;
    let cpu_per_change_us = match (cpu0, cpu1) {
        (Some(a), Some(b)) => (b.saturating_sub(a)).as_secs_f64() * 1e6 / changes,
        _ => f64::NAN,
    };
    let _ = ack(&clients[0], "leaveRoom", &payload, t).await;
    Ok(Outcome {
        cpu_per_change_us,
        last: Summary::of(&mut last),
        missing,
    })
}

/// Runs both conversations; the measurements (size = members of the big conversation).
pub async fn run(cfg: &UpdatesConfig) -> Result<Vec<Measurement>> {
    let ws = ws_url(&cfg.url);
    let t = cfg.timeout;
    let mut big = Vec::with_capacity(cfg.members);
    for u in 1..=cfg.members {
        big.push(joined(&ws, u, t).await?);
    }
    let mut pair = Vec::with_capacity(2);
    for u in pair_users(cfg.members) {
        pair.push(joined(&ws, u, t).await?);
    }
    let small = cycles(cfg, "pair", pair).await?;
    let large = cycles(cfg, "big", big).await?;
    let m = |metric, value| Measurement {
        label: "huddle".to_owned(),
        size: cfg.members,
        metric,
        value,
    };
    let fanout = cfg.members.saturating_sub(2).max(1) as f64;
    Ok(vec![
        m("updates_big_cpu_us", large.cpu_per_change_us),
        m("updates_pair_cpu_us", small.cpu_per_change_us),
        m(
            "updates_recipient_cpu_us",
            (large.cpu_per_change_us - small.cpu_per_change_us) / fanout,
        ),
        m("updates_big_last_p50_us", large.last.p50_us),
        m("updates_big_last_p99_us", large.last.p99_us),
        m("updates_pair_last_p50_us", small.last.p50_us),
        m("updates_missing", (large.missing + small.missing) as f64),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_has_both_conversations() {
        let v: serde_json::Value =
            serde_json::from_str(&directory_json(3)).unwrap_or(serde_json::Value::Null);
        assert_eq!(v["users"].as_array().map(Vec::len), Some(5));
        assert_eq!(
            v["conversations"][0]["members"],
            serde_json::json!([1, 2, 3])
        );
        assert_eq!(v["conversations"][1]["members"], serde_json::json!([4, 5]));
    }
}

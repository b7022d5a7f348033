//! `cargo xtask cluster [--nodes N]`: a local cluster to try cluster mode by hand.
//!
//! Starts a throwaway `redis-server` (127.0.0.1:6390, no persistence), N Huddle nodes (node i
//! listens on 127.0.0.i:8001 and announces WebRTC on 127.0.0.i) and HAProxy on :8000 in
//! front, with cookie-based sticky sessions so Socket.IO's HTTP long-polling stays on one
//! node. Open <http://127.0.0.1:8000/> in two tabs: they land on different nodes and talk.
//! Ctrl-C stops everything.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cmd, setup, tasks};

/// Redis port of the local cluster.
pub const REDIS_PORT: u16 = 6390;
/// HTTP port of every node (each on its own loopback address).
pub const NODE_PORT: u16 = 8001;
/// The balancer's port.
pub const BALANCER_PORT: u16 = 8000;

/// The HAProxy configuration template (shared with the JS cluster test).
const HAPROXY_TEMPLATE: &str = include_str!("../haproxy.cfg.in");

/// The HAProxy configuration for nodes at `servers` (`host:port`), listening on `bind`:
/// round robin for new clients, the `HUDDLE` cookie pins a client to its node, WebSocket
/// upgrades pass through as tunnels.
pub fn haproxy_config(bind: &str, servers: &[String]) -> String {
    let mut lines = String::new();
    for (i, server) in servers.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(lines, "    server node{n} {server} check cookie node{n}");
    }
    HAPROXY_TEMPLATE
        .replace("{{BIND}}", bind)
        .replace("{{SERVERS}}\n", &lines)
}

/// Children that are killed when this value is dropped (Ctrl-C ends the whole process
/// group anyway; this covers errors).
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (name, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("cluster: stopped {name}");
        }
    }
}

/// `cargo xtask cluster`.
pub fn cluster(ws: &Path, nodes: usize) -> Result<ExitCode> {
    if !(1..=9).contains(&nodes) {
        bail!("cluster: --nodes must be 1 to 9");
    }
    setup::ensure(ws)?;
    for tool in ["redis-server", "haproxy"] {
        if cmd::which(tool).is_none() {
            bail!("cluster: `{tool}` not found; run `cargo xtask setup`");
        }
    }
    tasks::build_for_run(ws)?;
    let dir = ws.join("target/cluster");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut children = Children(Vec::new());

    let redis = Command::new("redis-server")
        .args(["--port", &REDIS_PORT.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(&dir)
        .spawn()
        .context("starting redis-server")?;
    children.0.push(("redis-server".into(), redis));
    let redis_url = format!("redis://127.0.0.1:{REDIS_PORT}");

    for i in 1..=nodes {
        let host = format!("127.0.0.{i}");
        let mut node = tasks::huddle_command(ws);
        node.arg("--listen")
            .arg(format!("{host}:{NODE_PORT}"))
            .args(["--rtc-listen-ip", &host])
            .args(["--redis-url", &redis_url])
            .args(["--node-id", &format!("node{i}")]);
        eprintln!("cluster: {}", cmd::display(&node));
        let child = node.spawn().with_context(|| format!("starting node {i}"))?;
        children.0.push((format!("node{i}"), child));
    }
    for i in 1..=nodes {
        wait_healthy(&format!("127.0.0.{i}:{NODE_PORT}"), Duration::from_secs(60))?;
    }

    let config = dir.join("haproxy.cfg");
    let servers: Vec<String> = (1..=nodes)
        .map(|i| format!("127.0.0.{i}:{NODE_PORT}"))
        .collect();
    let bind = format!("127.0.0.1:{BALANCER_PORT}");
    fs::write(&config, haproxy_config(&bind, &servers))
        .with_context(|| format!("writing {}", config.display()))?;
    let haproxy = Command::new("haproxy")
        .arg("-f")
        .arg(&config)
        .arg("-db")
        .spawn()
        .context("starting haproxy")?;
    children.0.push(("haproxy".into(), haproxy));
    eprintln!(
        "cluster: {nodes} nodes on redis {redis_url}; open http://127.0.0.1:{BALANCER_PORT}/ \
         (each tab lands on a node; /debug/stats of a node shows its cluster view). Ctrl-C stops."
    );
    // Wait for any child to exit; then everything stops.
    loop {
        for (name, child) in &mut children.0 {
            if let Some(status) = child.try_wait()? {
                eprintln!("cluster: {name} exited ({status}); stopping");
                return Ok(ExitCode::FAILURE);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Polls `GET /healthz` on `addr` until it answers 200.
fn wait_healthy(addr: &str, timeout: Duration) -> Result<()> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            let _ = write!(
                stream,
                "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("cluster: {addr} not healthy within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_config_pins_sessions_and_lists_every_node() -> Result<()> {
        let servers: Vec<String> = (1..=3).map(|i| format!("127.0.0.{i}:8001")).collect();
        let cfg = haproxy_config("127.0.0.1:8000", &servers);
        assert!(cfg.contains("bind 127.0.0.1:8000"));
        assert!(cfg.contains("cookie HUDDLE insert indirect nocache"));
        assert!(cfg.contains("timeout tunnel 1h"));
        for i in 1..=3 {
            assert!(cfg.contains(&format!(
                "server node{i} 127.0.0.{i}:8001 check cookie node{i}"
            )));
        }
        assert!(!cfg.contains("node4") && !cfg.contains("{{"));
        // HAProxy itself accepts it (installed by `cargo xtask setup`).
        let file = std::env::temp_dir().join(format!("huddle-haproxy-{}.cfg", std::process::id()));
        fs::write(&file, &cfg)?;
        let checked = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&file)
            .output();
        let _ = fs::remove_file(&file);
        let out = checked.context("haproxy not installed: run `cargo xtask setup`")?;
        assert!(
            out.status.success(),
            "haproxy -c: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

//! Cluster mode, transport health on a socket's own node: Bob's socket is on node 2, the room
//! is homed on node 1. Bob's transport lives on node 2; when its ICE drops and does not
//! recover within the grace period, node 2 tells the home (`transport_failed`), which removes
//! Bob: he gets `removedFromRoom {reason: "transport_failed"}`, Alice `participantLeft`, and
//! node 2's media of the room is gone.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/demo_server.rs"]
mod demo_server;
#[path = "support/ice.rs"]
mod ice;
#[path = "support/sio.rs"]
mod sio;

use ice::IceConnection;
use serde_json::{Value, json};
use sio::Client;
use std::time::{Duration, Instant};

const GRACE: Duration = Duration::from_millis(1500);

async fn event(client: &mut Client, name: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(15), client.event(name))
        .await
        .unwrap_or_else(|_| panic!("no {name}"))
}

/// A throwaway `redis-server` on 127.0.0.1 (no persistence), killed on drop.
struct Redis {
    port: u16,
    child: std::process::Child,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (cargo xtask setup installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server does not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `field` of the `cluster` object of `base`'s `/debug/stats`.
async fn cluster_stat(base: &str, field: &str) -> u64 {
    let stats: Value = reqwest::get(format!("{base}/debug/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["cluster"][field].as_u64().unwrap_or(0)
}

async fn alive(base: &str) -> u64 {
    cluster_stat(base, "nodesAlive").await
}

#[tokio::test]
async fn a_failed_transport_on_the_sockets_own_node_removes_the_participant_at_the_home() {
    let redis = Redis::start();
    let mut nodes = Vec::new();
    for id in ["th1", "th2"] {
        let url = redis.url();
        nodes.push(
            demo_server::start_with(huddle::DEMO_DIRECTORY, false, move |c| {
                c.transport_failure_grace_ms = u64::try_from(GRACE.as_millis()).unwrap();
                c.redis_url = Some(url);
                c.node_id = Some(id.to_owned());
                c.cluster_renew_ms = 300;
            })
            .await,
        );
    }
    let (base1, home) = &nodes[0];
    let (base2, _) = &nodes[1];
    // Both nodes see each other before the room is claimed.
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(base1).await != 2 || alive(base2).await != 2 {
        assert!(Instant::now() < deadline, "nodes do not see each other");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut alice = Client::connect(base1).await;
    let mut bob = Client::connect(base2).await;
    alice.call("join", json!("1")).await;
    bob.call("join", json!("2")).await;
    let room = alice
        .call("createRoom", json!({"roomId": "demo-team"}))
        .await;
    assert!(room["rtpCapabilities"].is_object(), "{room}");
    let room = bob.call("createRoom", json!({"roomId": "demo-team"})).await;
    assert!(room["rtpCapabilities"].is_object(), "{room}");
    assert_eq!(home.stats().participants, 2, "one room, homed on node 1");

    let transport = bob.call("createTransport", json!({"type": "recv"})).await;
    assert!(transport["id"].is_string(), "{transport}");
    assert_eq!(
        cluster_stat(base2, "localTransports").await,
        1,
        "Bob's transport is on node 2"
    );
    assert_eq!(home.stats().transports, 0, "and not on the home");

    // ICE completes with node 2, then the connection drops and nobody restarts it.
    IceConnection::connect(&transport).await.close().await;
    let dropped = Instant::now();
    let removed = event(&mut bob, "removedFromRoom").await;
    assert_eq!(
        removed,
        json!({"roomId": "demo-team", "reason": "transport_failed"})
    );
    let after = dropped.elapsed();
    assert!(
        after >= GRACE - Duration::from_millis(100),
        "removed after {after:?}"
    );
    let left = event(&mut alice, "participantLeft").await;
    assert_eq!(left["socketId"], bob.sid(), "{left}");
    assert_eq!(home.stats().participants, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster_stat(base2, "localTransports").await != 0 {
        assert!(Instant::now() < deadline, "Bob's transport stays on node 2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bob's socket still works: he can enter the room again.
    let again = bob.call("createRoom", json!({"roomId": "demo-team"})).await;
    assert!(again["rtpCapabilities"].is_object(), "{again}");
    assert_eq!(home.stats().participants, 2);
    for c in [alice, bob] {
        c.close().await;
    }
    for (_, handle) in &nodes {
        handle.shutdown().await;
    }
}

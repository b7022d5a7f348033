//! A dead mediasoup worker: its rooms are closed (participantLeft / group_call_ended), a fresh
//! worker takes its slot, and new calls work.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/demo_server.rs"]
mod demo_server;
#[path = "support/sio.rs"]
mod sio;

use serde_json::{Value, json};
use sio::Client;
use std::time::{Duration, Instant};

/// A port free for both UDP and TCP on loopback right now.
fn free_port() -> u16 {
    loop {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn candidate_ports(transport: &Value) -> Vec<u64> {
    transport["iceCandidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["port"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn rooms_of_a_dead_worker_close_and_new_calls_work() {
    let port = free_port();
    let (base, handle) =
        demo_server::start_with(huddle::DEMO_DIRECTORY, false, |c| c.webrtc_port = port).await;

    let mut alice = Client::connect(&base).await;
    let mut bob = Client::connect(&base).await;
    let mut carol = Client::connect(&base).await;
    alice.call("join", json!("1")).await;
    bob.call("join", json!("2")).await;
    carol.call("join", json!("3")).await;
    let a = alice
        .call("createRoom", json!({"roomId": "demo-team"}))
        .await;
    assert!(a["rtpCapabilities"].is_object(), "{a}");
    let b = bob.call("createRoom", json!({"roomId": "demo-team"})).await;
    assert!(b["rtpCapabilities"].is_object(), "{b}");
    let t = alice.call("createTransport", json!({"type": "send"})).await;
    assert!(t["id"].is_string());
    assert_eq!(candidate_ports(&t), [u64::from(port); 2], "{t}");
    assert_eq!(handle.stats().participants, 2);

    handle.simulate_worker_death(0);
    let ended = carol.event("group_call_ended").await;
    assert_eq!(ended["conversationId"], "demo-team");
    let left = bob.event("participantLeft").await;
    assert!(left["socketId"].is_string());
    let s = handle.stats();
    assert_eq!((s.rooms, s.participants, s.transports), (0, 0, 0));

    // The replacement worker serves new calls (its only worker: until it is up, createRoom
    // answers an error, and the client retries), on the same WebRtcServer port.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = carol
            .call("createRoom", json!({"roomId": "demo-team"}))
            .await;
        if again["rtpCapabilities"].is_object() {
            break;
        }
        assert!(Instant::now() < deadline, "no replacement worker: {again}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = carol.call("createTransport", json!({"type": "recv"})).await;
    assert_eq!(candidate_ports(&t), [u64::from(port); 2], "{t}");
    assert_eq!(handle.stats().participants, 1);
    for c in [alice, bob, carol] {
        c.close().await;
    }
}

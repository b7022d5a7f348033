//! Transport health against real mediasoup ICE: a transport whose ICE goes `disconnected` and
//! recovers through `restartIce` within the grace period keeps its participant; one that does
//! not recover is removed (`removedFromRoom`, `participantLeft`) once the grace period ran out.
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

const GRACE: Duration = Duration::from_millis(2000);

async fn event(client: &mut Client, name: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(15), client.event(name))
        .await
        .unwrap_or_else(|_| panic!("no {name}"))
}

#[tokio::test]
async fn ice_restart_within_the_grace_period_keeps_the_participant_and_no_restart_removes_it() {
    let (base, handle) = demo_server::start_with(huddle::DEMO_DIRECTORY, false, |c| {
        c.transport_failure_grace_ms = u64::try_from(GRACE.as_millis()).unwrap();
    })
    .await;
    let mut events = handle.events();
    let mut alice = Client::connect(&base).await;
    let mut bob = Client::connect(&base).await;
    alice.call("join", json!("1")).await;
    bob.call("join", json!("2")).await;
    for c in [&mut alice, &mut bob] {
        let room = c.call("createRoom", json!({"roomId": "demo-team"})).await;
        assert!(room["rtpCapabilities"].is_object(), "{room}");
    }
    let mut transport = alice.call("createTransport", json!({"type": "send"})).await;
    let id = transport["id"].clone();
    assert!(id.is_string(), "{transport}");

    // ICE completes, then the connection drops: mediasoup reports `disconnected`.
    IceConnection::connect(&transport).await.close().await;
    let dropped = Instant::now();
    tokio::time::sleep(GRACE / 4).await;

    // The client restarts ICE and reconnects with the new credentials, within the grace period.
    let restarted = alice.call("restartIce", json!({"transportId": id})).await;
    let fresh = restarted["iceParameters"].clone();
    assert!(fresh["usernameFragment"].is_string(), "{restarted}");
    assert_ne!(
        fresh, transport["iceParameters"],
        "ICE credentials not renewed"
    );
    transport["iceParameters"] = fresh;
    let recovered = IceConnection::connect(&transport).await;

    // Past the end of the first grace period: still in the room.
    tokio::time::sleep((GRACE + GRACE / 2).saturating_sub(dropped.elapsed())).await;
    assert!(dropped.elapsed() > GRACE + GRACE / 4);
    assert_eq!(handle.stats().participants, 2, "removed despite recovering");

    // The connection drops again, and this time nobody restarts ICE.
    recovered.close().await;
    let dropped = Instant::now();
    let removed = event(&mut alice, "removedFromRoom").await;
    let after = dropped.elapsed();
    assert_eq!(
        removed,
        json!({"roomId": "demo-team", "reason": "transport_failed"})
    );
    assert!(
        after >= GRACE - Duration::from_millis(100),
        "removed after {after:?}"
    );
    let left = event(&mut bob, "participantLeft").await;
    assert!(left["socketId"].is_string(), "{left}");
    // The lifecycle stream says why Alice left.
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(huddle::HuddleEvent::ParticipantLeft {
                user_id, reason, ..
            })) if user_id == "1" => break reason,
            Ok(Ok(_)) => continue,
            other => panic!("no ParticipantLeft for user 1: {other:?}"),
        }
    };
    assert_eq!(reason.as_str(), "transport_failed");
    assert_eq!(handle.stats().participants, 1);
    assert_eq!(
        handle.stats().transports,
        0,
        "the removed participant's transport stays"
    );

    // Alice's socket still works: she can rejoin.
    let again = alice
        .call("createRoom", json!({"roomId": "demo-team"}))
        .await;
    assert!(again["rtpCapabilities"].is_object(), "{again}");
    assert_eq!(handle.stats().participants, 2);
    for c in [alice, bob] {
        c.close().await;
    }
}

/// A participant whose transport loses ICE is announced `lost` to the room (before the grace
/// period removes it), and back to `excellent` once ICE is restarted.
#[tokio::test]
async fn a_transport_that_loses_ice_makes_the_participant_lost_then_excellent_again() {
    let (base, _handle) = demo_server::start_with(huddle::DEMO_DIRECTORY, false, |c| {
        c.transport_failure_grace_ms = 20_000;
    })
    .await;
    let mut alice = Client::connect(&base).await;
    let mut bob = Client::connect(&base).await;
    alice.call("join", json!("1")).await;
    bob.call("join", json!("2")).await;
    for c in [&mut alice, &mut bob] {
        let room = c.call("createRoom", json!({"roomId": "demo-team"})).await;
        assert_eq!(room["activeSpeaker"], Value::Null, "nobody spoke yet");
    }
    let mut transport = alice.call("createTransport", json!({"type": "send"})).await;
    let id = transport["id"].clone();
    let connection = IceConnection::connect(&transport).await;
    connection.close().await;
    let lost = event(&mut bob, "connectionQuality").await;
    assert_eq!(
        lost,
        json!({"roomId": "demo-team", "socketId": alice.sid(), "userId": "1", "quality": "lost"})
    );
    // Alice hears about herself too.
    assert_eq!(
        event(&mut alice, "connectionQuality").await["quality"],
        "lost"
    );

    let restarted = alice.call("restartIce", json!({"transportId": id})).await;
    transport["iceParameters"] = restarted["iceParameters"].clone();
    let _recovered = IceConnection::connect(&transport).await;
    let back = event(&mut bob, "connectionQuality").await;
    assert_eq!(back["socketId"], alice.sid());
    assert_eq!(back["quality"], "excellent");
    for c in [alice, bob] {
        c.close().await;
    }
}

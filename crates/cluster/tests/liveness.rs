//! Node registry against a real redis-server: peers up, a node that dies without leaving is
//! reported dead once its lease expired (and its claims and rooms go with it), a graceful
//! leave is reported at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use cluster::NodeEvent;
use redis::AsyncCommands;
use support::{RedisServer, SOON, eventually, id, node};
use tokio::sync::broadcast;

/// Waits for `event` on `events`, skipping others, at most `within`.
async fn wait_event(
    events: &mut broadcast::Receiver<NodeEvent>,
    event: NodeEvent,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(e)) if e == event => return,
            Ok(Ok(_)) => continue,
            Ok(Err(error)) => panic!("event stream failed: {error}"),
            Err(_) => panic!("no {event:?} within {within:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_see_each_other_and_the_lease_keys_exist() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let mut a_events = a.node_events();
    let b = node(&redis, "b").await;
    let c = node(&redis, "c").await;
    wait_event(&mut a_events, NodeEvent::Up(id("b")), SOON).await;
    wait_event(&mut a_events, NodeEvent::Up(id("c")), SOON).await;
    let all = vec![id("a"), id("b"), id("c")];
    for n in [&a, &b, &c] {
        eventually(&format!("{} sees all nodes", n.id()), || {
            n.registry().alive_nodes() == all
        })
        .await;
    }
    let mut raw = redis.raw().await;
    for name in ["a", "b", "c"] {
        let ttl: i64 = raw.pttl(format!("huddle:node:{name}")).await.unwrap();
        assert!(ttl > 0 && ttl <= 6000, "lease of {name} has PTTL {ttl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_dropped_without_leave_is_dead_within_the_lease_and_its_state_goes_with_it() {
    support::init_tracing();
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let mut b_events = b.node_events();
    eventually("b sees a", || b.registry().is_alive(&id("a"))).await;

    let home = a.authority().claim("room").await.unwrap().home().clone();
    a.replica().set_local("room", a.id(), 2).await.unwrap();
    b.replica().set_local("room", a.id(), 1).await.unwrap();
    eventually("b's replica has a's participants", || {
        b.replica().participant_count("room") == 3
    })
    .await;

    // Alive and renewing: a stays alive and keeps its claim past a full lease.
    let lease = a.config().lease_ttl;
    tokio::time::sleep(lease + Duration::from_secs(1)).await;
    assert!(b.registry().is_alive(&id("a")));
    while let Ok(event) = b_events.try_recv() {
        assert_ne!(
            event,
            NodeEvent::Dead(id("a")),
            "a reported dead while alive"
        );
    }
    assert_eq!(
        b.authority().lookup("room").await.unwrap(),
        Some(home.clone())
    );

    // "kill -9": the tasks stop, nothing is deleted, no leave is published.
    drop(a);
    let killed = Instant::now();
    wait_event(
        &mut b_events,
        NodeEvent::Dead(id("a")),
        Duration::from_secs(10),
    )
    .await;
    let detected = killed.elapsed();
    assert!(!b.registry().is_alive(&id("a")));
    assert_eq!(b.registry().alive_nodes(), vec![id("b")]);
    tracing::info!(?detected, "dead node detected");

    // Its entries vanish from the replica; b's own stay.
    eventually("a's rooms leave b's replica", || {
        b.replica().participant_count("room") == 1
    })
    .await;
    assert_eq!(b.replica().room_nodes("room"), vec![(id("b"), 1)]);
    // Its claim expired with its lease: b can claim the room, with a newer epoch.
    let mut raw = redis.raw().await;
    let lease_left: i64 = raw.exists("huddle:node:a").await.unwrap();
    assert_eq!(lease_left, 0, "a's lease key expired");
    let claim = b.authority().claim("room").await.unwrap();
    assert!(claim.is_won(), "{claim:?}");
    assert!(claim.home().epoch > home.epoch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_leave_is_reported_at_once_and_deletes_the_nodes_state() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let mut b_events = b.node_events();
    eventually("b sees a", || b.registry().is_alive(&id("a"))).await;
    a.authority().claim("room").await.unwrap();
    a.replica().set_local("room", a.id(), 1).await.unwrap();
    eventually("b sees a's room", || !b.replica().is_empty()).await;

    a.leave().await.unwrap();
    // Well before a's 6 s lease could expire.
    wait_event(
        &mut b_events,
        NodeEvent::Dead(id("a")),
        Duration::from_secs(3),
    )
    .await;
    assert!(b.replica().is_empty());
    let mut raw = redis.raw().await;
    for key in [
        "huddle:node:a",
        "huddle:node:a:rooms",
        "huddle:room:room:home",
    ] {
        let exists: i64 = raw.exists(key).await.unwrap();
        assert_eq!(exists, 0, "{key} deleted by the leave");
    }
    assert!(b.authority().claim("room").await.unwrap().is_won());
}

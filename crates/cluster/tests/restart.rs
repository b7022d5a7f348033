//! Redis going away mid-test: calls fail fast with `Unavailable` instead of hanging, and after
//! Redis returns (empty, on the same port) every node resubscribes, resynchronises and
//! republishes its state without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use cluster::{ClusterError, Connectivity, Node, NodeEvent};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use support::{RedisServer, SOON, eventually, id, node, wait_connectivity};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Ping(u32);

/// Answers every request with its body plus one.
fn serve(node: &Node) {
    let mut requests = node.rpc().requests().unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let Ping(n) = request.decode().unwrap();
            // Fails while Redis is away; the requester then gets `Unavailable`.
            let _ = request.respond(&Ping(n + 1)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_restart_nodes_resubscribe_resync_and_republish() {
    support::init_tracing();
    let mut redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    serve(&b);
    let mut b_events = b.node_events();
    eventually("a and b see each other", || {
        a.registry().is_alive(&id("b")) && b.registry().is_alive(&id("a"))
    })
    .await;

    let home = a.authority().claim("room").await.unwrap().home().clone();
    a.replica().set_local("room", a.id(), 2).await.unwrap();
    b.replica().set_local("room", a.id(), 1).await.unwrap();
    eventually("replicas converge", || {
        a.replica().participant_count("room") == 3 && b.replica().participant_count("room") == 3
    })
    .await;
    let pong: Ping = a.rpc().request(&id("b"), &Ping(1)).await.unwrap();
    assert_eq!(pong, Ping(2));

    // Redis dies.
    redis.kill();
    wait_connectivity(&a, Connectivity::Down).await;
    wait_connectivity(&b, Connectivity::Down).await;
    assert!(!a.is_up());

    // Cross-node calls fail with the protocol error, within the timeout.
    let started = Instant::now();
    let err = a
        .rpc()
        .request::<_, Ping>(&id("b"), &Ping(1))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(err.to_string(), "Cluster unavailable, try again");
    assert!(started.elapsed() <= a.config().rpc_timeout + Duration::from_secs(1));
    assert!(
        a.authority()
            .claim("other")
            .await
            .unwrap_err()
            .is_unavailable()
    );
    assert!(
        a.authority()
            .lookup("room")
            .await
            .unwrap_err()
            .is_unavailable()
    );
    assert!(
        a.messaging()
            .broadcast(&1)
            .await
            .unwrap_err()
            .is_unavailable()
    );

    // Local state keeps working; a change made now is published once Redis is back.
    let err = a.replica().set_local("room", a.id(), 5).await.unwrap_err();
    assert!(matches!(err, ClusterError::Unavailable));
    assert_eq!(a.replica().participant_count("room"), 6);
    assert_eq!(b.replica().participant_count("room"), 3);
    // A subscription made while Redis is down is established when it returns.
    let mut late = a.connection().subscribe("test:late", 16).await.unwrap();

    // Redis returns, empty, on the same port.
    redis.spawn();
    wait_connectivity(&a, Connectivity::Up).await;
    wait_connectivity(&b, Connectivity::Up).await;

    // Subscriptions are back: requests and replies flow again, at once.
    let pong: Ping = a.rpc().request(&id("b"), &Ping(10)).await.unwrap();
    assert_eq!(pong, Ping(11));
    let receivers = b.connection().publish("test:late", b"hello").await.unwrap();
    assert_eq!(receivers, 1);
    let (channel, payload) = tokio::time::timeout(SOON, late.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (channel.as_str(), payload.as_slice()),
        ("test:late", &b"hello"[..])
    );

    // a republished its state (including the change made while down); b resynchronised.
    eventually("b sees a's change made during the outage", || {
        b.replica().participant_count("room") == 6
    })
    .await;
    // The leases, the claim (same epoch) and the room hashes are back in the empty Redis.
    let mut raw = redis.raw().await;
    let keys = [
        "huddle:node:a",
        "huddle:node:b",
        "huddle:node:a:rooms",
        "huddle:node:b:rooms",
    ];
    let deadline = Instant::now() + SOON;
    loop {
        let mut present = 0;
        for key in keys {
            let exists: i64 = raw.exists(key).await.unwrap();
            present += exists;
        }
        if present == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {present} of {keys:?} re-created"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        b.authority().lookup("room").await.unwrap(),
        Some(home.clone())
    );
    let epoch: u64 = raw.get("huddle:room:room:epoch").await.unwrap();
    assert_eq!(
        epoch, home.epoch,
        "the epoch counter was raised to the re-asserted claim"
    );
    // A node that starts now reads the republished state from the hashes.
    let c = node(&redis, "c").await;
    eventually("c's snapshot has both nodes", || {
        c.replica().participant_count("room") == 6
    })
    .await;

    // Nobody was reported dead for the outage.
    while let Ok(event) = b_events.try_recv() {
        assert_ne!(
            event,
            NodeEvent::Dead(id("a")),
            "a reported dead after the restart"
        );
    }
    assert!(b.registry().is_alive(&id("a")));

    // Fencing still works: after a release the next claim gets a newer epoch.
    assert!(a.authority().release("room", home.epoch).await.unwrap());
    let next = b.authority().claim("room").await.unwrap();
    assert!(next.is_won());
    assert!(next.home().epoch > home.epoch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_makes_calls_time_out_instead_of_hanging() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    serve(&b);
    let pong: Ping = a.rpc().request(&id("b"), &Ping(0)).await.unwrap();
    assert_eq!(pong, Ping(1));

    // SIGSTOP: the TCP connections stay open, Redis answers nothing.
    redis.pause();
    let started = Instant::now();
    let err = a
        .rpc()
        .request::<_, Ping>(&id("b"), &Ping(1))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(started.elapsed() <= a.config().rpc_timeout + Duration::from_secs(2));
    let started = Instant::now();
    let err = a.authority().claim("room").await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(started.elapsed() <= a.config().command_timeout + Duration::from_secs(2));
    // The probe notices.
    wait_connectivity(&a, Connectivity::Down).await;

    redis.resume();
    wait_connectivity(&a, Connectivity::Up).await;
    wait_connectivity(&b, Connectivity::Up).await;
    let pong: Ping = a.rpc().request(&id("b"), &Ping(5)).await.unwrap();
    assert_eq!(pong, Ping(6));
    assert!(a.authority().claim("room").await.unwrap().is_won());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_while_redis_is_down_joins_when_it_comes_up() {
    let mut redis = RedisServer::start();
    let a = node(&redis, "a").await;
    serve(&a);
    redis.kill();
    wait_connectivity(&a, Connectivity::Down).await;

    // Starting does not fail (or hang) without Redis; the node is just down.
    let b = Node::start(support::config(&redis, "b")).await.unwrap();
    assert!(!b.is_up());
    assert!(
        b.rpc()
            .request::<_, Ping>(&id("a"), &Ping(1))
            .await
            .unwrap_err()
            .is_unavailable()
    );
    b.replica().set_local("room", b.id(), 1).await.unwrap_err();

    redis.spawn();
    wait_connectivity(&b, Connectivity::Up).await;
    wait_connectivity(&a, Connectivity::Up).await;
    let pong: Ping = b.rpc().request(&id("a"), &Ping(1)).await.unwrap();
    assert_eq!(pong, Ping(2));
    eventually("a sees b and its room", || {
        a.registry().is_alive(&id("b")) && a.replica().participant_count("room") == 1
    })
    .await;
}

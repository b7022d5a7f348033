//! Active-room replica against a real redis-server: three nodes converge, a late node gets the
//! snapshot, removals propagate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use cluster::{ActiveRoom, Node};
use support::{RedisServer, eventually, id, node};

fn rooms_of(n: &Node) -> Vec<ActiveRoom> {
    n.replica().active_rooms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replica_converges_across_three_nodes() {
    support::init_tracing();
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let c = node(&redis, "c").await;
    let nodes = [&a, &b, &c];
    for n in nodes {
        assert!(n.replica().is_empty());
    }

    // Room c1 homed on a with participants on all three nodes; c2 homed on c, only on c.
    a.replica().set_local("c1", a.id(), 2).await.unwrap();
    b.replica().set_local("c1", a.id(), 1).await.unwrap();
    c.replica().set_local("c1", a.id(), 3).await.unwrap();
    c.replica()
        .set_local_with("c2", c.id(), 1, Some(serde_json::json!([{"userId": "7"}])))
        .await
        .unwrap();
    let expected = vec![
        ActiveRoom {
            conversation_id: "c1".into(),
            home_node: Some(id("a")),
            participant_count: 6,
            detail: None,
        },
        ActiveRoom {
            conversation_id: "c2".into(),
            home_node: Some(id("c")),
            participant_count: 1,
            detail: Some(serde_json::json!([{"userId": "7"}])),
        },
    ];
    for n in nodes {
        eventually(&format!("{} converges", n.id()), || rooms_of(n) == expected).await;
        assert_eq!(n.replica().participant_count("c1"), 6);
        assert_eq!(
            n.replica().room_nodes("c1"),
            vec![(id("a"), 2), (id("b"), 1), (id("c"), 3)]
        );
        assert!(!n.replica().is_empty());
    }
    assert_eq!(
        c.replica().local_rooms(),
        vec![("c1".into(), 3), ("c2".into(), 1)]
    );

    // Updates replace, zero removes.
    b.replica().set_local("c1", a.id(), 4).await.unwrap();
    c.replica().set_local("c2", c.id(), 0).await.unwrap();
    for n in nodes {
        eventually(&format!("{} sees the update", n.id()), || {
            n.replica().participant_count("c1") == 9 && n.replica().room("c2").is_none()
        })
        .await;
    }

    // A node started later gets everything from the snapshot.
    let d = node(&redis, "d").await;
    eventually("d gets the snapshot", || {
        d.replica().participant_count("c1") == 9
    })
    .await;
    assert_eq!(
        d.replica().room("c1").and_then(|r| r.home_node),
        Some(id("a"))
    );

    for n in nodes {
        n.replica().set_local("c1", a.id(), 0).await.unwrap();
    }
    for n in [&a, &b, &c, &d] {
        eventually(&format!("{} is empty", n.id()), || n.replica().is_empty()).await;
        assert!(n.replica().active_rooms().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_quick_updates_end_in_the_last_value_everywhere() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    // Concurrent writers on one node: the per-node sequence keeps the last write.
    let mut writes = Vec::new();
    for round in 0..50u32 {
        let a = a.clone();
        writes.push(tokio::spawn(async move {
            a.replica()
                .set_local(&format!("r{}", round % 5), a.id(), round + 1)
                .await
        }));
    }
    for w in writes {
        w.await.unwrap().unwrap();
    }
    let local: Vec<(String, u32)> = a.replica().local_rooms();
    assert_eq!(local.len(), 5);
    eventually("b matches a", || {
        local
            .iter()
            .all(|(room, count)| b.replica().participant_count(room) == *count)
    })
    .await;
    // And the hash agrees: a node started now reads the same.
    let c = node(&redis, "c").await;
    eventually("c matches a", || {
        local
            .iter()
            .all(|(room, count)| c.replica().participant_count(room) == *count)
    })
    .await;
}

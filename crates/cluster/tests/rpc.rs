//! Node-to-node requests and cluster messages against a real redis-server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use cluster::{Address, ClusterError, Node};
use serde::{Deserialize, Serialize};
use support::{RedisServer, SOON, id, node};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Ask {
    op: String,
    n: u32,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Answer {
    by: String,
    n: u32,
}

/// Serves `node`'s requests: `double` answers `n * 2`, anything else an error.
fn serve(node: &Node) {
    let mut requests = node.rpc().requests().unwrap();
    let me = node.id().to_string();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let ask: Ask = request.decode().unwrap();
            let me = me.clone();
            tokio::spawn(async move {
                if ask.op == "double" {
                    let answer = Answer {
                        by: me,
                        n: ask.n * 2,
                    };
                    request.respond(&answer).await.unwrap();
                } else if ask.op == "ignore" {
                    drop(request);
                } else {
                    request
                        .respond_error(format!("unknown op {}", ask.op))
                        .await
                        .unwrap();
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_get_typed_answers_and_errors() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    serve(&b);
    assert!(b.rpc().requests().is_none(), "the stream is taken once");

    let answers = futures::future::join_all((0..20).map(|n| {
        let a = a.clone();
        async move {
            a.rpc()
                .request::<_, Answer>(
                    &id("b"),
                    &Ask {
                        op: "double".into(),
                        n,
                    },
                )
                .await
        }
    }))
    .await;
    for (n, answer) in answers.into_iter().enumerate() {
        let n = u32::try_from(n).unwrap();
        assert_eq!(
            answer.unwrap(),
            Answer {
                by: "b".into(),
                n: n * 2
            }
        );
    }

    let err = a
        .rpc()
        .request::<_, Answer>(
            &id("b"),
            &Ask {
                op: "nope".into(),
                n: 0,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClusterError::Remote(m) if m == "unknown op nope"),
        "{err:?}"
    );

    // A handler that drops the request: the requester gets an error, not the timeout.
    let started = Instant::now();
    let err = a
        .rpc()
        .request::<_, Answer>(
            &id("b"),
            &Ask {
                op: "ignore".into(),
                n: 0,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Remote(_)), "{err:?}");
    assert!(started.elapsed() < a.config().rpc_timeout);

    // Nobody serves a's requests.
    let err = b
        .rpc()
        .request::<_, Answer>(
            &id("a"),
            &Ask {
                op: "double".into(),
                n: 1,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClusterError::Remote(m) if m.contains("no request handler")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_a_missing_node_is_unavailable_at_once() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let started = Instant::now();
    let err = a
        .rpc()
        .request::<_, Answer>(
            &id("ghost"),
            &Ask {
                op: "double".into(),
                n: 1,
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert_eq!(err.to_string(), "Cluster unavailable, try again");
    // Nobody listens on the channel: no need to wait for the timeout.
    assert!(started.elapsed() < a.config().rpc_timeout);
    assert!(
        a.rpc()
            .notify(&id("ghost"), &1)
            .await
            .unwrap_err()
            .is_unavailable()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_broadcasts_reach_the_other_nodes() {
    let redis = RedisServer::start();
    let a = node(&redis, "a").await;
    let b = node(&redis, "b").await;
    let c = node(&redis, "c").await;
    let mut b_requests = b.rpc().requests().unwrap();
    let mut a_messages = a.messaging().subscribe();
    let mut b_messages = b.messaging().subscribe();
    let mut c_messages = c.messaging().subscribe();

    a.rpc()
        .notify(&id("b"), &serde_json::json!({"hi": 1}))
        .await
        .unwrap();
    let request = tokio::time::timeout(SOON, b_requests.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.from(), &id("a"));
    assert!(!request.expects_reply());
    assert_eq!(request.body(), &serde_json::json!({"hi": 1}));

    a.messaging().broadcast(&"everyone").await.unwrap();
    a.messaging().send_to_user("u7", &"ring").await.unwrap();
    for rx in [&mut b_messages, &mut c_messages] {
        let all = tokio::time::timeout(SOON, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((all.from.clone(), all.to.clone()), (id("a"), Address::All));
        assert_eq!(all.decode::<String>().unwrap(), "everyone");
        let user = tokio::time::timeout(SOON, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.to, Address::User("u7".into()));
        assert_eq!(user.decode::<String>().unwrap(), "ring");
    }
    // The sender does not get its own messages: after b's broadcast, a's first message is b's.
    b.messaging().broadcast(&"from b").await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), a_messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.from, id("b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_is_never_answered_is_unavailable_after_the_timeout() {
    let redis = RedisServer::start();
    let timeout = Duration::from_secs(1);
    let a = support::start(support::config(&redis, "a").with_rpc_timeout(timeout)).await;
    let b = node(&redis, "b").await;
    // b takes requests and sits on them.
    let mut requests = b.rpc().requests().unwrap();
    let (held_tx, mut held_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let _ = held_tx.send(request);
        }
    });
    let started = Instant::now();
    let err = a
        .rpc()
        .request::<_, Answer>(
            &id("b"),
            &Ask {
                op: "double".into(),
                n: 1,
            },
        )
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        waited >= timeout,
        "gave up after {waited:?}, before the timeout"
    );
    assert!(
        waited < timeout + Duration::from_secs(3),
        "hung for {waited:?}"
    );
    // b did get it: the time-out is the missing answer, not a lost request.
    let held = held_rx.try_recv().unwrap();
    assert_eq!(held.from(), &id("a"));
    // A late answer is dropped quietly; a's next request works as usual.
    held.respond(&Answer {
        by: "b".into(),
        n: 2,
    })
    .await
    .unwrap();
}

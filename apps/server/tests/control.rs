//! Embedding and control end to end: the lifecycle event stream for every way a participant
//! leaves, the admin HTTP API with its errors, and webhooks against a real HTTP receiver
//! (signature checked, a 500 retried, nothing lost on a slow receiver up to the queue bound,
//! overflow beyond it dropped without slowing the call).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/demo_server.rs"]
mod demo_server;
#[path = "support/sio.rs"]
mod sio;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use server::{HuddleEvent, HuddleHandle};
use sio::Client;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DIRECTORY: &str = r#"{
  "users": [
    {"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}, {"id": 3, "name": "Carol"}
  ],
  "conversations": [{"id": "c1", "name": "Team", "members": [1, 2, 3]}]
}"#;

const TOKEN: &str = "admin-secret";
const HOOK_SECRET: &str = "hook-secret";

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
struct Hook {
    event: String,
    delivery: String,
    signature: String,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Hook>>>,
    /// Answer 500 to the first this many requests.
    fail_first: Arc<Mutex<usize>>,
    /// Time taken per request.
    delay: Duration,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    tokio::time::sleep(r.delay).await;
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    r.got.lock().unwrap().push(Hook {
        event: h("x-huddle-event"),
        delivery: h("x-huddle-delivery"),
        signature: h("x-huddle-signature"),
        body: body.to_vec(),
    });
    let mut fail = r.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

async fn start_receiver(receiver: Receiver) -> String {
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn start(hook: &str, queue: usize) -> (String, HuddleHandle) {
    let hook = hook.to_owned();
    demo_server::start_with(DIRECTORY, false, move |c| {
        c.admin_token = Some(TOKEN.into());
        c.webhook_urls = vec![hook];
        c.webhook_secret = Some(HOOK_SECRET.into());
        c.webhook_queue = queue;
    })
    .await
}

async fn joined(base: &str, user: &str) -> Client {
    let mut c = Client::connect(base).await;
    c.call("join", json!(user)).await;
    c
}

async fn enter(c: &mut Client) {
    let ack = c.call("createRoom", json!({"roomId": "c1"})).await;
    assert!(ack.get("rtpCapabilities").is_some(), "{ack}");
}

/// The next lifecycle event, skipping none.
async fn next(events: &mut server::Events) -> HuddleEvent {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("a lifecycle event within 5 s")
        .expect("no lag")
}

fn left_reason(e: &HuddleEvent) -> (&str, &str) {
    match e {
        HuddleEvent::ParticipantLeft {
            user_id, reason, ..
        } => (user_id.as_str(), reason.as_str()),
        other => panic!("expected ParticipantLeft, got {other:?}"),
    }
}

async fn admin(method: reqwest::Method, url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn wait_hooks(r: &Receiver, n: usize, within: Duration) -> Vec<Hook> {
    let deadline = Instant::now() + within;
    loop {
        let got = r.got.lock().unwrap().clone();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_admin_api_and_signed_webhooks() {
    let receiver = Receiver {
        fail_first: Arc::new(Mutex::new(1)),
        ..Receiver::default()
    };
    let hook = start_receiver(receiver.clone()).await;
    let (base, handle) = start(&hook, 1024).await;
    let mut events = handle.events();

    // Start: Alice, then Bob.
    let mut alice = joined(&base, "1").await;
    let mut bob = joined(&base, "2").await;
    enter(&mut alice).await;
    match next(&mut events).await {
        HuddleEvent::CallStarted {
            conversation_id,
            started_by,
            ..
        } => assert_eq!((conversation_id.as_str(), started_by.as_str()), ("c1", "1")),
        other => panic!("expected CallStarted, got {other:?}"),
    }
    assert!(
        matches!(next(&mut events).await, HuddleEvent::ParticipantJoined { user_id, .. } if user_id == "1")
    );
    enter(&mut bob).await;
    assert!(
        matches!(next(&mut events).await, HuddleEvent::ParticipantJoined { user_id, .. } if user_id == "2")
    );

    // The admin API refuses without or with a wrong token.
    let calls = format!("{base}/api/v1/calls");
    assert_eq!(
        admin(reqwest::Method::GET, calls.clone(), None).await,
        (401, json!({"error": "Unauthorized"}))
    );
    assert_eq!(
        admin(reqwest::Method::GET, calls.clone(), Some("wrong"))
            .await
            .0,
        401
    );
    let (status, body) = admin(reqwest::Method::GET, calls.clone(), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(body["calls"][0]["conversationId"], "c1");
    assert!(
        body["calls"][0]["startedAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let users: Vec<&str> = body["calls"][0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["1", "2"]);
    assert_eq!(handle.active_calls()[0].participants.len(), 2);

    // Remove Bob: he is told, Alice sees him leave, the stream says why.
    let del = |path: &str| format!("{base}/api/v1/calls/{path}");
    let (status, _) = admin(
        reqwest::Method::DELETE,
        del("c1/participants/2"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        bob.event("removedFromRoom").await,
        json!({"roomId": "c1", "reason": "removed_by_admin"})
    );
    assert_eq!(alice.event("participantLeft").await["socketId"], bob.sid());
    assert_eq!(
        left_reason(&next(&mut events).await),
        ("2", "removed_by_admin")
    );
    assert_eq!(
        admin(
            reqwest::Method::DELETE,
            del("c1/participants/2"),
            Some(TOKEN)
        )
        .await,
        (404, json!({"error": "User not in call"}))
    );
    assert_eq!(
        admin(reqwest::Method::DELETE, del("nope"), Some(TOKEN)).await,
        (404, json!({"error": "Call not found"}))
    );

    // Leave and disconnect carry their reasons.
    enter(&mut bob).await;
    next(&mut events).await;
    bob.call("leaveRoom", json!({})).await;
    assert_eq!(left_reason(&next(&mut events).await), ("2", "left"));
    let mut carol = joined(&base, "3").await;
    enter(&mut carol).await;
    next(&mut events).await;
    carol.close().await;
    assert_eq!(left_reason(&next(&mut events).await), ("3", "disconnect"));

    // End the call: Alice is told, every member hears group_call_ended.
    let (status, _) = admin(reqwest::Method::DELETE, del("c1"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        alice.event("removedFromRoom").await["reason"],
        "ended_by_admin"
    );
    assert_eq!(bob.event("group_call_ended").await["conversationId"], "c1");
    assert_eq!(
        left_reason(&next(&mut events).await),
        ("1", "ended_by_admin")
    );
    match next(&mut events).await {
        HuddleEvent::CallEnded {
            participants,
            started_at,
            ended_at,
            ..
        } => {
            assert_eq!(participants, ["1", "2", "3"]);
            assert!(ended_at >= started_at);
        }
        other => panic!("expected CallEnded, got {other:?}"),
    }
    assert!(handle.active_calls().is_empty());
    assert_eq!(
        admin(
            reqwest::Method::GET,
            format!("{base}/api/v1/conversations/c1/calls?limit=5"),
            Some(TOKEN)
        )
        .await,
        (404, json!({"error": "Call history needs a database"}))
    );

    // A 1:1 call: answered, then hung up.
    alice
        .call("register-user", json!({"userId": "1", "userName": "Alice"}))
        .await;
    bob.call("register-user", json!({"userId": "2", "userName": "Bob"}))
        .await;
    alice
        .emit(
            "initiate-call",
            json!({"to": "2", "offer": {"type": "offer", "sdp": "v=0"}}),
        )
        .await;
    bob.event("incoming-call").await;
    bob.emit(
        "call-accepted",
        json!({"targetUserId": "1", "answer": {"type": "answer", "sdp": "v=0"}}),
    )
    .await;
    alice.event("call-accepted").await;
    alice.emit("call-ended", json!({"targetUserId": "2"})).await;
    match next(&mut events).await {
        HuddleEvent::DirectCallEnded {
            caller,
            callee,
            answered,
            answered_at,
            reason,
            ..
        } => {
            assert_eq!((caller.as_str(), callee.as_str()), ("1", "2"));
            assert!(answered && answered_at.is_some());
            assert_eq!(reason, "hangup");
        }
        other => panic!("expected DirectCallEnded, got {other:?}"),
    }

    // Webhooks: every event in order, signed, the first one retried after its 500.
    let expected = [
        "call_started",
        "participant_joined",
        "participant_joined",
        "participant_left",
        "participant_joined",
        "participant_left",
        "participant_joined",
        "participant_left",
        "participant_left",
        "call_ended",
        "direct_call_ended",
    ];
    let got = wait_hooks(&receiver, expected.len() + 1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), expected.len() + 1, "{got:#?}");
    assert_eq!(
        got[0].delivery, got[1].delivery,
        "the retry keeps its delivery id"
    );
    let delivered: Vec<&Hook> = got[1..].iter().collect();
    let names: Vec<&str> = delivered.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(names, expected);
    let mut ids: Vec<&str> = delivered.iter().map(|h| h.delivery.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), expected.len(), "delivery ids are unique");
    for h in &delivered {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
        mac.update(&h.body);
        let want: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(h.signature, format!("sha256={want}"));
        let body: Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(body["event"], h.event);
    }
    let ended: Value = serde_json::from_slice(&delivered[9].body).unwrap();
    assert_eq!(ended["conversationId"], "c1");
    assert_eq!(ended["participants"], json!(["1", "2", "3"]));
    alice.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_loses_nothing_up_to_the_queue_bound_and_never_slows_calls() {
    // 80 ms per request, a queue of 64: 20 join/leave rounds (40 events) all arrive, in order.
    let slow = Receiver {
        delay: Duration::from_millis(80),
        ..Receiver::default()
    };
    let hook = start_receiver(slow.clone()).await;
    let (base, _handle) = start(&hook, 64).await;
    let mut alice = joined(&base, "1").await;
    let mut bob = joined(&base, "2").await;
    enter(&mut alice).await;
    let started = Instant::now();
    for _ in 0..19 {
        enter(&mut bob).await;
        bob.call("leaveRoom", json!({})).await;
    }
    let calls_took = started.elapsed();
    alice.call("leaveRoom", json!({})).await;
    // call_started + joined + 19 × (joined + left) + left + call_ended = 42.
    let got = wait_hooks(&slow, 42, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 42);
    assert_eq!(got[0].event, "call_started");
    assert_eq!(got[41].event, "call_ended");
    // The calls did not wait for the receiver (42 deliveries take 3.4 s).
    assert!(
        calls_took < Duration::from_millis(42 * 80),
        "calls took {calls_took:?}"
    );

    // A queue of 2 with a receiver that takes 2 s per request: most events are dropped.
    let stuck = Receiver {
        delay: Duration::from_secs(2),
        ..Receiver::default()
    };
    let hook = start_receiver(stuck.clone()).await;
    let (base, _handle) = start(&hook, 2).await;
    let mut carol = joined(&base, "3").await;
    enter(&mut carol).await;
    for _ in 0..5 {
        carol.call("leaveRoom", json!({})).await;
        enter(&mut carol).await;
    }
    // 1 in flight + 2 queued at most, of 13 events.
    let got = wait_hooks(&stuck, 13, Duration::from_secs(8)).await;
    assert!((1..=3).contains(&got.len()), "{} deliveries", got.len());
}

//! Lifecycle facts (for the host's event stream, webhooks and call history) and the operator
//! commands: every path a participant leaves by carries its reason, a call's end lists who
//! took part, 1:1 calls say whether they were answered and why they ended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::{CallError, Initiated, LeaveReason, Lifecycle};
use common::{State, Tracker, join_req, names, online, only, socks};
use serde_json::json;

const MEMBERS: &[&str] = &["1", "2", "3"];

fn world() -> State {
    let mut st = State::new();
    online(&mut st, "s1", "1");
    online(&mut st, "s2", "2");
    online(&mut st, "s2b", "2");
    online(&mut st, "s3", "3");
    st
}

fn join(st: &mut State, t: &Tracker, socket: &str, user: &str, room: &str) {
    st.join_room(socket, join_req(t, room, user, MEMBERS))
        .unwrap();
}

fn left(conversation: &str, user: &str, socket: &str, reason: LeaveReason) -> Lifecycle {
    Lifecycle::ParticipantLeft {
        conversation_id: conversation.into(),
        user_id: user.into(),
        socket_id: socket.into(),
        reason,
    }
}

fn joined(conversation: &str, user: &str, socket: &str) -> Lifecycle {
    Lifecycle::ParticipantJoined {
        conversation_id: conversation.into(),
        user_id: user.into(),
        socket_id: socket.into(),
    }
}

#[test]
fn a_call_from_start_to_end() {
    let t = Tracker::new();
    let mut st = world();
    assert!(!st.lifecycle_pending());
    join(&mut st, &t, "s1", "1", "r");
    join(&mut st, &t, "s2", "2", "r");
    assert!(st.lifecycle_pending());
    assert_eq!(
        st.take_lifecycle(),
        [
            Lifecycle::CallStarted {
                conversation_id: "r".into(),
                started_by: "1".into()
            },
            joined("r", "1", "s1"),
            joined("r", "2", "s2"),
        ]
    );
    assert!(!st.lifecycle_pending(), "drained");
    // Rejoining the same room is not a new join.
    join(&mut st, &t, "s2", "2", "r");
    assert!(st.take_lifecycle().is_empty());

    st.leave_room("s2");
    st.disconnect("s1");
    assert_eq!(
        st.take_lifecycle(),
        [
            left("r", "2", "s2", LeaveReason::Left),
            left("r", "1", "s1", LeaveReason::Disconnected),
            Lifecycle::CallEnded {
                conversation_id: "r".into(),
                participants: vec!["1".into(), "2".into()],
            },
        ]
    );
}

#[test]
fn moving_to_another_room_and_failed_transports_carry_their_reasons() {
    let t = Tracker::new();
    let mut st = world();
    join(&mut st, &t, "s1", "1", "r");
    join(&mut st, &t, "s2", "2", "r");
    st.take_lifecycle();
    join(&mut st, &t, "s2", "2", "q");
    let facts = st.take_lifecycle();
    assert_eq!(facts[0], left("r", "2", "s2", LeaveReason::Moved));
    assert!(facts.contains(&joined("q", "2", "s2")));

    let epoch = st.room("q").unwrap().participants().next().unwrap().epoch;
    let transport = t.transport();
    st.add_transport(
        "s2",
        epoch,
        "tq".into(),
        signal_proto::requests::TransportDirection::Send,
        transport,
    )
    .unwrap();
    st.remove_failed_participant("s2", epoch, "tq");
    let facts = st.take_lifecycle();
    assert_eq!(facts[0], left("q", "2", "s2", LeaveReason::TransportFailed));
    assert!(matches!(facts[1], Lifecycle::CallEnded { .. }));
}

#[test]
fn an_operator_removes_every_socket_of_a_user() {
    let t = Tracker::new();
    let mut st = world();
    join(&mut st, &t, "s1", "1", "r");
    join(&mut st, &t, "s2", "2", "r");
    join(&mut st, &t, "s2b", "2", "r");
    st.take_lifecycle();
    let fx = st.remove_user("r", "2").unwrap();
    let (to, payload) = only(&fx, "removedFromRoom");
    assert_eq!(to, socks(&["s2", "s2b"]));
    assert_eq!(
        payload,
        json!({"roomId": "r", "reason": "removed_by_admin"})
    );
    assert!(names(&fx).contains(&"participantLeft"));
    assert_eq!(st.participant_count("r"), 1);
    assert_eq!(
        st.take_lifecycle(),
        [
            left("r", "2", "s2", LeaveReason::RemovedByAdmin),
            left("r", "2", "s2b", LeaveReason::RemovedByAdmin),
        ]
    );
    assert_eq!(st.remove_user("r", "2"), Err(CallError::UserNotInCall));
    assert_eq!(
        st.remove_user("nope", "1").unwrap_err().to_string(),
        "Call not found"
    );
    assert_eq!(
        st.remove_user("r", "2").unwrap_err().to_string(),
        "User not in call"
    );
}

#[test]
fn an_operator_ends_a_call() {
    let t = Tracker::new();
    let mut st = world();
    join(&mut st, &t, "s1", "1", "r");
    join(&mut st, &t, "s3", "3", "r");
    st.take_lifecycle();
    let fx = st.end_room("r").unwrap();
    let (to, payload) = only(&fx, "removedFromRoom");
    assert_eq!(to, socks(&["s1", "s3"]));
    assert_eq!(payload["reason"], "ended_by_admin");
    let (to, _) = only(&fx, "group_call_ended");
    assert_eq!(to, socks(&["s1", "s2", "s2b", "s3"]));
    assert_eq!(st.participant_count("r"), 0);
    let facts = st.take_lifecycle();
    assert_eq!(facts.len(), 3);
    assert_eq!(facts[0], left("r", "1", "s1", LeaveReason::EndedByAdmin));
    assert_eq!(st.end_room("r"), Err(CallError::CallNotFound));
    assert!(st.room_participants("r").is_empty());
}

#[test]
fn shutdown_and_worker_death_close_rooms_with_their_reason() {
    let t = Tracker::new();
    let mut st = world();
    join(&mut st, &t, "s1", "1", "r");
    join(&mut st, &t, "s3", "3", "q");
    st.take_lifecycle();
    st.close_room_because("r", LeaveReason::WorkerDied);
    st.close_room("q");
    let facts = st.take_lifecycle();
    assert_eq!(facts[0], left("r", "1", "s1", LeaveReason::WorkerDied));
    assert_eq!(facts[2], left("q", "3", "s3", LeaveReason::Shutdown));
    assert_eq!(LeaveReason::WorkerDied.as_str(), "worker_died");
    assert_eq!(LeaveReason::Disconnected.as_str(), "disconnect");
}

fn ring(st: &mut State) -> u64 {
    match st.initiate_call(
        "s1",
        Some("1"),
        Some("2"),
        None,
        "video",
        json!({"sdp": "o"}),
    ) {
        Ok(Initiated::Ringing { call_id, .. }) => call_id,
        other => panic!("expected ringing, got {other:?}"),
    }
}

fn direct_ended(st: &mut State) -> (bool, &'static str) {
    let facts = st.take_lifecycle();
    let Some(Lifecycle::DirectCallEnded {
        answered,
        reason,
        caller,
        callee,
        ..
    }) = facts.last().cloned()
    else {
        panic!("no DirectCallEnded in {facts:?}");
    };
    assert_eq!((caller.as_str(), callee.as_str()), ("1", "2"));
    (answered, reason)
}

#[test]
fn direct_calls_say_whether_they_were_answered_and_why_they_ended() {
    let mut st = world();
    let id = ring(&mut st);
    assert_eq!(
        st.take_lifecycle(),
        [Lifecycle::DirectCallStarted {
            call_id: id,
            caller: "1".into(),
            callee: "2".into()
        }]
    );
    st.accept_call("s2", Some("1"), None, json!({"sdp": "a"}))
        .unwrap();
    assert_eq!(
        st.take_lifecycle(),
        [Lifecycle::DirectCallAnswered { call_id: id }]
    );
    st.end_call("s1", Some("2"), None).unwrap();
    assert_eq!(direct_ended(&mut st), (true, "hangup"));

    ring(&mut st);
    st.reject_call("s2b", Some("1"), None).unwrap();
    assert_eq!(direct_ended(&mut st), (false, "rejected"));

    ring(&mut st);
    st.end_call("s1", Some("2"), None).unwrap();
    assert_eq!(direct_ended(&mut st), (false, "cancelled"));

    let id = ring(&mut st);
    st.expire_direct_call(id);
    assert_eq!(direct_ended(&mut st), (false, "timeout"));

    ring(&mut st);
    st.accept_call("s2", Some("1"), None, json!({"sdp": "a"}))
        .unwrap();
    st.disconnect("s2");
    assert_eq!(direct_ended(&mut st), (true, "disconnect"));
}

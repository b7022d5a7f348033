//! 1:1 calls: every transition of idle → calling → in progress → ended, and every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::{CallError, DirectPhase, Effect, Initiated, PeerLimits};
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

fn offer() -> Value {
    json!({"type": "offer", "sdp": "v=0 offer"})
}

fn answer() -> Value {
    json!({"type": "answer", "sdp": "v=0 answer"})
}

/// Alice (1) on `a`, Bob (2) on `b1` and `b2`, Carol (3) on `c`.
fn world() -> State {
    let mut st = State::new().with_peer_limits(PeerLimits {
        direct_call_timeout: Duration::from_secs(7),
        ..PeerLimits::default()
    });
    online(&mut st, "a", "1");
    online(&mut st, "b1", "2");
    online(&mut st, "b2", "2");
    online(&mut st, "c", "3");
    st
}

/// Alice calls Bob; returns the call id and the effects.
fn ring(st: &mut State) -> (u64, Vec<Effect>) {
    match st.initiate_call("a", Some("1"), Some("2"), Some("Alice"), "video", offer()) {
        Ok(Initiated::Ringing {
            call_id,
            effects,
            timeout,
        }) => {
            assert_eq!(timeout.call_id, call_id);
            assert_eq!(timeout.after, Duration::from_secs(7));
            (call_id, effects)
        }
        other => panic!("expected ringing, got {other:?}"),
    }
}

fn assert_idle(st: &State) {
    assert!(st.direct_calls().is_empty(), "{:?}", st.direct_calls());
    assert!(st.is_available("1"));
    assert!(st.is_available("2"));
}

// ----- idle → calling ------------------------------------------------------------------------

#[test]
fn initiate_rings_every_callee_socket() {
    let mut st = world();
    let (id, fx) = ring(&mut st);
    let (to, payload) = only(&fx, "incoming-call");
    assert_eq!(to, socks(&["b1", "b2"]));
    assert_eq!(
        payload,
        json!({"callId": id.to_string(), "callerId": "1", "from": "1", "callerName": "Alice",
               "callType": "video", "offer": offer()})
    );
    assert_eq!(fx.len(), 1);
    let call = st.direct_call(id).unwrap();
    assert_eq!(call.phase, DirectPhase::Calling);
    assert_eq!(call.caller_socket, "a");
    assert_eq!(call.ringing, vec!["b1".to_owned(), "b2".to_owned()]);
    assert_eq!(st.direct_call_of("1").map(|c| c.id), Some(id));
    assert_eq!(st.direct_call_of("2").map(|c| c.id), Some(id));
    assert!(st.in_call("1") && st.in_call("2"));
    assert!(!st.is_available("2"));
    assert!(st.is_available("3"));
}

#[test]
fn caller_name_defaults_to_registered_name_then_user_id() {
    let mut st = world();
    let reg = st.register_user("a", "1", Some("Alice R."));
    assert_eq!(reg.name(), "user-registered");
    assert_eq!(
        reg.payload(),
        json!({"userId": "1", "socketId": "a", "success": true})
    );
    let Ok(Initiated::Ringing { effects, .. }) =
        st.initiate_call("a", None, Some("2"), None, "audio", offer())
    else {
        panic!("expected ringing")
    };
    let (_, p) = only(&effects, "incoming-call");
    assert_eq!(p["callerName"], "Alice R.");
    assert_eq!(p["callType"], "audio");

    let mut st = world();
    let Ok(Initiated::Ringing { effects, .. }) =
        st.initiate_call("c", None, Some("1"), Some("  "), "video", offer())
    else {
        panic!("expected ringing")
    };
    assert_eq!(only(&effects, "incoming-call").1["callerName"], "User 3");
}

#[test]
fn register_user_binds_the_socket() {
    let mut st = State::new();
    st.connect("x");
    st.register_user("x", "9", None);
    assert_eq!(st.user_of("x"), Some("9"));
    assert!(st.is_online("9"));
}

#[test]
fn initiate_refusals_change_nothing() {
    let mut st = world();
    st.connect("anon");
    let cases: Vec<(&str, Option<&str>, Option<&str>, CallError)> = vec![
        ("anon", None, Some("2"), CallError::JoinFirst),
        ("a", Some("2"), Some("3"), CallError::CallerMismatch),
        ("a", None, None, CallError::TargetRequired),
        ("a", Some("1"), Some("1"), CallError::CallSelf),
    ];
    for (socket, caller, target, err) in cases {
        let got = st.initiate_call(socket, caller, target, None, "video", offer());
        assert_eq!(got, Err(err));
    }
    assert_idle(&st);
}

#[test]
fn caller_already_in_a_call_is_refused() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    let got = st.initiate_call("a", None, Some("3"), None, "video", offer());
    assert_eq!(got, Err(CallError::AlreadyInCall));
    // The callee (ringing) cannot start another call either.
    let got = st.initiate_call("b2", None, Some("3"), None, "video", offer());
    assert_eq!(got, Err(CallError::AlreadyInCall));
    assert_eq!(st.direct_calls().len(), 1);
    assert_eq!(
        st.direct_call(id).map(|c| c.phase),
        Some(DirectPhase::Calling)
    );
}

#[test]
fn busy_callee_is_reported_at_once() {
    let mut st = world();
    ring(&mut st);
    // Carol calls Bob, who is ringing: refused as busy.
    let got = st.initiate_call("c", None, Some("2"), None, "video", offer());
    let Ok(Initiated::Refused { error, effects }) = got else {
        panic!("expected refused, got {got:?}")
    };
    assert_eq!(error, CallError::UserBusy);
    assert_eq!(error.to_string(), "User is busy");
    assert_eq!(
        emits(&effects),
        vec![(
            "call-rejected",
            socks(&["c"]),
            json!({"from": "2", "reason": "busy"})
        )]
    );
    assert_eq!(st.direct_calls().len(), 1);
    assert!(st.direct_call_of("3").is_none());
}

#[test]
fn callee_in_mesh_or_sfu_room_is_busy() {
    let mut st = world();
    st.mesh_join("b1", "conv", pinfo("2"), Default::default())
        .unwrap();
    let got = st.initiate_call("a", None, Some("2"), None, "video", offer());
    assert!(matches!(
        got,
        Ok(Initiated::Refused {
            error: CallError::UserBusy,
            ..
        })
    ));
    let t = Tracker::new();
    st.join_room("c", join_req(&t, "r", "3", &["3"])).unwrap();
    assert!(!st.is_available("3"));
    let got = st.initiate_call("a", None, Some("3"), None, "video", offer());
    assert!(matches!(
        got,
        Ok(Initiated::Refused {
            error: CallError::UserBusy,
            ..
        })
    ));
    assert!(st.direct_calls().is_empty());
}

#[test]
fn offline_callee_is_unavailable() {
    let mut st = world();
    let got = st.initiate_call("a", None, Some("42"), None, "video", offer());
    let Ok(Initiated::Refused { error, effects }) = got else {
        panic!("expected refused")
    };
    assert_eq!(error, CallError::UserUnavailable);
    assert_eq!(
        only(&effects, "call-rejected").1,
        json!({"from": "42", "reason": "unavailable"})
    );
    assert_idle(&st);
}

// ----- calling → in progress -----------------------------------------------------------------

#[test]
fn accept_tells_the_caller_and_the_other_devices() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    let fx = st
        .accept_call("b2", Some("1"), Some(&id.to_string()), answer())
        .unwrap();
    assert_eq!(
        emits(&fx),
        vec![
            (
                "call-accepted",
                socks(&["a"]),
                json!({"callId": id.to_string(), "from": "2", "answer": answer()})
            ),
            (
                "call-ended",
                socks(&["b1"]),
                json!({"callId": id.to_string(), "reason": "answered-elsewhere"})
            ),
        ]
    );
    let call = st.direct_call(id).unwrap();
    assert_eq!(call.phase, DirectPhase::InProgress);
    assert_eq!(call.callee_socket.as_deref(), Some("b2"));
    assert!(call.ringing.is_empty());
    assert!(!st.is_available("1") && !st.is_available("2"));
}

#[test]
fn accept_refusals_change_nothing() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    let before = st.direct_call(id).cloned();
    for (socket, target, call_id) in [
        ("a", None, None),         // the caller cannot accept
        ("c", Some("1"), None),    // a third user
        ("b1", Some("3"), None),   // wrong peer
        ("b1", None, Some("999")), // wrong call id
    ] {
        assert_eq!(
            st.accept_call(socket, target, call_id, answer()),
            Err(CallError::NoSuchCall),
            "{socket} {target:?} {call_id:?}"
        );
    }
    st.connect("anon");
    assert_eq!(
        st.accept_call("anon", None, None, answer()),
        Err(CallError::JoinFirst)
    );
    assert_eq!(st.direct_call(id).cloned(), before);
}

#[test]
fn accept_twice_or_from_the_other_device_is_refused() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    st.accept_call("b1", None, None, answer()).unwrap();
    assert_eq!(
        st.accept_call("b1", None, None, answer()),
        Err(CallError::NoSuchCall)
    );
    assert_eq!(
        st.accept_call("b2", None, None, answer()),
        Err(CallError::NoSuchCall)
    );
    assert_eq!(
        st.direct_call(id).and_then(|c| c.callee_socket.clone()),
        Some("b1".into())
    );
}

#[test]
fn a_device_connected_after_the_ring_is_not_part_of_the_call() {
    let mut st = world();
    ring(&mut st);
    online(&mut st, "b3", "2");
    assert_eq!(
        st.accept_call("b3", None, None, answer()),
        Err(CallError::NoSuchCall)
    );
}

// ----- calling → ended -----------------------------------------------------------------------

#[test]
fn reject_tells_the_caller_and_the_other_devices() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    let fx = st.reject_call("b1", Some("1"), None).unwrap();
    assert_eq!(
        emits(&fx),
        vec![
            (
                "call-rejected",
                socks(&["a"]),
                json!({"callId": id.to_string(), "from": "2", "reason": "rejected"})
            ),
            (
                "call-ended",
                socks(&["b2"]),
                json!({"callId": id.to_string(), "reason": "rejected-elsewhere"})
            ),
        ]
    );
    assert_idle(&st);
}

#[test]
fn reject_refusals() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    assert_eq!(st.reject_call("a", None, None), Err(CallError::NoSuchCall));
    assert_eq!(st.reject_call("c", None, None), Err(CallError::NoSuchCall));
    st.accept_call("b1", None, None, answer()).unwrap();
    // Rejecting an answered call is not a thing (hang up instead).
    assert_eq!(st.reject_call("b1", None, None), Err(CallError::NoSuchCall));
    assert_eq!(
        st.direct_call(id).map(|c| c.phase),
        Some(DirectPhase::InProgress)
    );
}

#[test]
fn callee_ending_a_ringing_call_declines_it() {
    let mut st = world();
    let (_, _) = ring(&mut st);
    let fx = st.end_call("b2", None, None).unwrap();
    assert_eq!(only(&fx, "call-rejected").0, socks(&["a"]));
    assert_eq!(only(&fx, "call-ended").0, socks(&["b1"]));
    assert_idle(&st);
}

#[test]
fn caller_cancels_a_ringing_call() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    let fx = st.end_call("a", Some("2"), None).unwrap();
    assert_eq!(
        emits(&fx),
        vec![(
            "call-ended",
            socks(&["b1", "b2"]),
            json!({"callId": id.to_string(), "from": "1", "reason": "cancelled"})
        )]
    );
    assert_idle(&st);
}

#[test]
fn timeout_ends_a_ringing_call_for_both() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    let fx = st.expire_direct_call(id);
    assert_eq!(
        emits(&fx),
        vec![(
            "call-ended",
            socks(&["a", "b1", "b2"]),
            json!({"callId": id.to_string(), "reason": "timeout"})
        )]
    );
    assert_idle(&st);
    // Firing again, or for an unknown call, does nothing.
    assert!(st.expire_direct_call(id).is_empty());
    assert!(st.expire_direct_call(12345).is_empty());
}

#[test]
fn timeout_after_answer_is_a_no_op() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    st.accept_call("b1", None, None, answer()).unwrap();
    assert!(st.expire_direct_call(id).is_empty());
    assert_eq!(
        st.direct_call(id).map(|c| c.phase),
        Some(DirectPhase::InProgress)
    );
}

#[test]
fn timeout_of_an_old_call_does_not_end_a_new_one() {
    let mut st = world();
    let (old, _) = ring(&mut st);
    st.end_call("a", None, None).unwrap();
    let (new, _) = ring(&mut st);
    assert_ne!(old, new);
    assert!(st.expire_direct_call(old).is_empty());
    assert!(st.direct_call(new).is_some());
}

#[test]
fn caller_disconnect_while_ringing_stops_the_ringing() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    let fx = st.disconnect("a");
    assert_eq!(
        emits(&fx),
        vec![(
            "call-ended",
            socks(&["b1", "b2"]),
            json!({"callId": id.to_string(), "from": "1", "reason": "disconnect"})
        )]
    );
    assert!(st.direct_calls().is_empty());
    assert!(st.is_available("2"));
}

#[test]
fn ringing_devices_going_away_one_by_one() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    assert!(
        st.disconnect("b1").is_empty(),
        "one device left: still rings"
    );
    assert_eq!(
        st.direct_call(id).map(|c| c.ringing.clone()),
        Some(vec!["b2".to_owned()])
    );
    let fx = st.disconnect("b2");
    assert_eq!(
        emits(&fx),
        vec![(
            "call-ended",
            socks(&["a"]),
            json!({"callId": id.to_string(), "from": "2", "reason": "disconnect"})
        )]
    );
    assert!(st.direct_calls().is_empty());
    assert!(st.is_available("1"));
}

// ----- in progress → ended -------------------------------------------------------------------

#[test]
fn hangup_by_either_party() {
    for (who, other, from) in [("a", "b1", "1"), ("b1", "a", "2")] {
        let mut st = world();
        let (id, _) = ring(&mut st);
        st.accept_call("b1", None, None, answer()).unwrap();
        let fx = st.end_call(who, None, Some(&id.to_string())).unwrap();
        assert_eq!(
            emits(&fx),
            vec![(
                "call-ended",
                socks(&[other]),
                json!({"callId": id.to_string(), "from": from, "reason": "hangup"})
            )],
            "{who} hangs up"
        );
        assert_idle(&st);
    }
}

#[test]
fn end_refusals() {
    let mut st = world();
    assert_eq!(st.end_call("a", None, None), Err(CallError::NoSuchCall));
    let (id, _) = ring(&mut st);
    st.accept_call("b1", None, None, answer()).unwrap();
    // The callee's other device and a third user cannot end the call.
    assert_eq!(st.end_call("b2", None, None), Err(CallError::NoSuchCall));
    assert_eq!(
        st.end_call("c", Some("1"), None),
        Err(CallError::NoSuchCall)
    );
    assert_eq!(
        st.end_call("a", Some("3"), None),
        Err(CallError::NoSuchCall)
    );
    assert!(st.direct_call(id).is_some());
}

#[test]
fn disconnect_mid_call_ends_it_for_the_other_party() {
    let mut st = world();
    let (id, _) = ring(&mut st);
    st.accept_call("b2", None, None, answer()).unwrap();
    // The callee's idle device going away changes nothing.
    assert!(st.disconnect("b1").is_empty());
    assert!(st.direct_call(id).is_some());
    let fx = st.disconnect("b2");
    assert_eq!(
        emits(&fx),
        vec![(
            "call-ended",
            socks(&["a"]),
            json!({"callId": id.to_string(), "from": "2", "reason": "disconnect"})
        )]
    );
    assert!(st.direct_calls().is_empty());

    let mut st = world();
    let (id, _) = ring(&mut st);
    st.accept_call("b2", None, None, answer()).unwrap();
    let fx = st.disconnect("a");
    assert_eq!(
        emits(&fx),
        vec![(
            "call-ended",
            socks(&["b2"]),
            json!({"callId": id.to_string(), "from": "1", "reason": "disconnect"})
        )]
    );
}

// ----- ICE relay -----------------------------------------------------------------------------

#[test]
fn ice_is_relayed_only_within_the_call() {
    let mut st = world();
    let cand = json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"});
    let (id, _) = ring(&mut st);
    // While ringing: caller → every ringing device, a ringing device → caller.
    let fx = st
        .relay_call_candidate("a", Some("2"), None, cand.clone())
        .unwrap();
    assert_eq!(
        emits(&fx),
        vec![(
            "ice-candidate",
            socks(&["b1", "b2"]),
            json!({"callId": id.to_string(), "from": "1", "candidate": cand})
        )]
    );
    let fx = st
        .relay_call_candidate("b2", Some("1"), None, cand.clone())
        .unwrap();
    assert_eq!(only(&fx, "ice-candidate").0, socks(&["a"]));

    st.accept_call("b1", None, None, answer()).unwrap();
    let fx = st
        .relay_call_candidate("a", None, None, cand.clone())
        .unwrap();
    assert_eq!(only(&fx, "ice-candidate").0, socks(&["b1"]));
    let fx = st
        .relay_call_candidate("b1", Some("1"), Some(&id.to_string()), cand.clone())
        .unwrap();
    assert_eq!(only(&fx, "ice-candidate").0, socks(&["a"]));

    // Outsiders: a third user, the callee's other device, a wrong peer or call id.
    for (socket, target, call_id) in [
        ("c", Some("1"), None),
        ("c", Some("2"), None),
        ("b2", Some("1"), None),
        ("a", Some("3"), None),
        ("a", None, Some("77")),
    ] {
        assert_eq!(
            st.relay_call_candidate(socket, target, call_id, cand.clone()),
            Err(CallError::NoSuchCall),
            "{socket} {target:?} {call_id:?}"
        );
    }
}

// ----- availability --------------------------------------------------------------------------

#[test]
fn availability_answers() {
    let mut st = world();
    st.connect("anon");
    let ask = |st: &State, target: &str| st.availability("c", Some(target)).unwrap().payload();
    assert_eq!(
        ask(&st, "1"),
        json!({"targetUserId": "1", "isAvailable": true})
    );
    assert_eq!(ask(&st, "77")["isAvailable"], false);
    ring(&mut st);
    assert_eq!(ask(&st, "1")["isAvailable"], false);
    assert_eq!(ask(&st, "2")["isAvailable"], false);
    assert_eq!(
        st.availability("anon", Some("1")).map(|e| e.name()),
        Err(CallError::JoinFirst)
    );
    assert_eq!(
        st.availability("c", None).map(|e| e.name()),
        Err(CallError::TargetRequired)
    );
    assert_eq!(
        st.availability("c", Some("1")).map(|e| e.name()),
        Ok("user-availability-response")
    );
}

#[test]
fn error_strings() {
    assert_eq!(CallError::NoSuchCall.to_string(), "No such call");
    assert_eq!(
        CallError::UserUnavailable.to_string(),
        "User is not available"
    );
    assert_eq!(
        CallError::AlreadyInCall.to_string(),
        "You are already in a call"
    );
    assert_eq!(CallError::CallSelf.to_string(), "You cannot call yourself");
    assert_eq!(
        CallError::TargetRequired.to_string(),
        "targetUserId required"
    );
}

//! Per-socket and per-room limits refuse with `CallError::Limit` and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::{CallError, Limits};
use common::*;
use signal_proto::requests::TransportDirection;

fn limited() -> State {
    State::with_limits(Limits {
        transports_per_socket: 1,
        producers_per_socket: 1,
        consumers_per_socket: 1,
        participants_per_room: 2,
    })
}

#[test]
fn every_limit_refuses_and_changes_nothing() {
    let t = Tracker::new();
    let mut st = limited();
    for (s, u) in [("a", "1"), ("b", "2"), ("c", "3")] {
        online(&mut st, s, u);
    }
    st.join_room("a", join_req(&t, "r", "1", &["1", "2", "3"]))
        .unwrap();
    st.join_room("b", join_req(&t, "r", "2", &["1", "2", "3"]))
        .unwrap();
    let full = st.join_room("c", join_req(&t, "r", "3", &["1", "2", "3"]));
    assert_eq!(
        full.err(),
        Some(CallError::Limit("Room is full (2 participants)".into()))
    );
    assert_eq!(st.stats().participants, 2);
    assert_eq!(st.room_of("c"), None);

    let (_, epoch) = st.transport_target("a").unwrap();
    st.add_transport(
        "a",
        epoch,
        "ta".into(),
        TransportDirection::Send,
        t.transport(),
    )
    .unwrap();
    assert!(
        matches!(st.transport_target("a"), Err(CallError::Limit(m)) if m.contains("transports"))
    );

    let (_, e) = st.produce_target("a", "ta").unwrap();
    st.add_producer("a", e, "pa1".into(), "audio".into(), t.producer())
        .unwrap();
    assert!(
        matches!(st.produce_target("a", "ta"), Err(CallError::Limit(m)) if m.contains("producers"))
    );
    assert_eq!(
        st.produce_target("a", "nope").err(),
        Some(CallError::TransportNotFound)
    );

    let (_, eb) = st.transport_target("b").unwrap();
    st.add_transport(
        "b",
        eb,
        "tb".into(),
        TransportDirection::Recv,
        t.transport(),
    )
    .unwrap();
    let target = st.consume_target("b", "tb", "pa1").unwrap();
    st.add_consumer("b", target.epoch, "cb1".into(), "pa1".into(), t.consumer())
        .unwrap();
    assert!(
        matches!(st.consume_target("b", "tb", "pa1"), Err(CallError::Limit(m)) if m.contains("consumers"))
    );

    let s = st.stats();
    assert_eq!((s.transports, s.producers, s.consumers), (2, 1, 1));
    // Re-joining the room one is in is not refused by the room limit.
    assert!(
        st.join_room("a", join_req(&t, "r", "1", &["1", "2", "3"]))
            .is_ok()
    );
}

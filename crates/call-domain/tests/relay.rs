//! Cluster mode: events addressed to users also relay to the other nodes, and proxy sockets
//! (another node's sockets taking part in a room homed here) act in the room without being
//! part of this node's presence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::{Effect, OutEvent};
use common::{State, Tracker, join_req, names, online, only, socks};

const MEMBERS: &[&str] = &["1", "2", "3"];

/// The users and event names of the relays.
fn relays(effects: &[Effect]) -> Vec<(Vec<String>, &'static str)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Relay { users, event } => Some((users.clone(), event.name())),
            _ => None,
        })
        .collect()
}

#[test]
fn single_node_state_never_relays() {
    let t = Tracker::new();
    let mut st = State::new();
    online(&mut st, "s1", "1");
    let fx = st
        .join_room("s1", join_req(&t, "r", "1", MEMBERS))
        .unwrap()
        .1;
    assert_eq!(names(&fx), ["group_call_started"]);
    assert!(relays(&fx).is_empty());
}

#[test]
fn call_start_and_end_relay_to_every_member_once() {
    let t = Tracker::new();
    let mut st = State::new().with_relay(true);
    online(&mut st, "s1", "1");
    let fx = st
        .join_room("s1", join_req(&t, "r", "1", MEMBERS))
        .unwrap()
        .1;
    // Local sockets get the emit; every member (sorted, once) gets the relay.
    assert_eq!(only(&fx, "group_call_started").0, socks(&["s1"]));
    assert_eq!(
        relays(&fx),
        [(
            vec!["1".into(), "2".into(), "3".into()],
            "group_call_started"
        )]
    );
    let fx = st.leave_room("s1");
    assert_eq!(
        relays(&fx),
        [(vec!["1".into(), "2".into(), "3".into()], "group_call_ended")]
    );
}

#[test]
fn a_proxy_socket_joins_rooms_but_gets_no_user_addressed_emit() {
    let t = Tracker::new();
    let mut st = State::new().with_relay(true);
    online(&mut st, "s1", "1");
    st.connect_proxy("remote-2", "2");
    assert_eq!(st.user_of("remote-2"), Some("2"));
    assert!(!st.is_online("2"), "a proxy is not presence");
    st.join_room("s1", join_req(&t, "r", "1", MEMBERS)).unwrap();
    let (_, fx) = st
        .join_room("remote-2", join_req(&t, "r", "2", MEMBERS))
        .unwrap();
    assert!(fx.iter().all(|e| !matches!(
        e,
        Effect::Emit { to, event: OutEvent::GroupCallStarted(_) } if to.contains(&"remote-2".to_owned())
    )));
    assert_eq!(st.participant_count("r"), 2);
    // The proxy leaves like any socket: the room ends when the last one goes.
    st.disconnect("remote-2");
    assert_eq!(st.participant_count("r"), 1);
    let fx = st.leave_room("s1");
    assert_eq!(relays(&fx).len(), 1);
    assert_eq!(st.participant_count("r"), 0);
}

#[test]
fn a_dropped_room_copy_tells_its_participants_and_announces_no_end() {
    let t = Tracker::new();
    let mut st = State::new().with_relay(true);
    online(&mut st, "s1", "1");
    online(&mut st, "s2", "2");
    st.join_room("s1", join_req(&t, "r", "1", MEMBERS)).unwrap();
    st.join_room("s2", join_req(&t, "r", "2", MEMBERS)).unwrap();
    let _ = st.take_lifecycle();
    let fx = st.drop_room_copy("r");
    assert_eq!(names(&fx), ["removedFromRoom"]);
    let (to, payload) = only(&fx, "removedFromRoom");
    assert_eq!(to, socks(&["s1", "s2"]));
    assert_eq!(payload["reason"], "home_node_lost");
    assert!(
        relays(&fx).is_empty(),
        "no group_call_ended to the members: the call goes on"
    );
    assert_eq!(st.participant_count("r"), 0);
    assert!(st.room("r").is_none());
    // Its router is released like any room's (the handles returned by the joins included).
    assert_eq!(t.live().routers, 0);
}

#[test]
fn a_proxy_whose_transport_failed_on_its_node_is_removed_like_a_local_one() {
    let t = Tracker::new();
    let mut st = State::new().with_relay(true);
    online(&mut st, "s1", "1");
    st.connect_proxy("remote-2", "2");
    st.join_room("s1", join_req(&t, "r", "1", MEMBERS)).unwrap();
    st.join_room("remote-2", join_req(&t, "r", "2", MEMBERS))
        .unwrap();
    // Its producer lives on its own node: the home holds the pipe's copy.
    let epoch = st.remote_produce_target("remote-2").unwrap();
    st.add_producer("remote-2", epoch, "p2".into(), "audio".into(), t.producer())
        .unwrap();
    assert_eq!(st.producer_owner("r", "p2").as_deref(), Some("remote-2"));
    let fx = st.remove_failed_remote_participant("remote-2");
    assert_eq!(only(&fx, "removedFromRoom").0, socks(&["remote-2"]));
    assert_eq!(only(&fx, "participantLeft").0, socks(&["s1"]));
    assert_eq!(st.participant_count("r"), 1);
    assert_eq!(st.producer_owner("r", "p2"), None);
    // Again, or for a socket in no room: nothing changes.
    assert!(st.remove_failed_remote_participant("remote-2").is_empty());
    assert!(st.remove_failed_remote_participant("nobody").is_empty());
    assert_eq!(st.participant_count("r"), 1);
}

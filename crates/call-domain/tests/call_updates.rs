//! `group_call_updated`: who hears it, when (the one-per-second throttle with time as an
//! input), what it lists, and when it is not sent at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::CallUpdatePoll;
use common::{State, Tracker, emits, join_req, online, socks};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const MEMBERS: &[&str] = &["1", "2", "3", "4", "5", "6", "7"];

/// Sockets s1…s7 for users 1…7, plus s1b: a second device of user 1.
fn everyone_online() -> State {
    let mut st = State::new();
    for u in MEMBERS {
        online(&mut st, &format!("s{u}"), u);
    }
    online(&mut st, "s1b", "1");
    st
}

fn join(st: &mut State, t: &Tracker, socket: &str, user: &str) {
    st.join_room(socket, join_req(t, "r", user, MEMBERS))
        .unwrap();
}

/// The `group_call_updated` payloads of a poll, with their recipients.
fn updates(poll: &CallUpdatePoll) -> Vec<(Vec<String>, Value)> {
    emits(&poll.effects)
        .into_iter()
        .filter(|(name, _, _)| *name == "group_call_updated")
        .map(|(_, to, payload)| (to, payload))
        .collect()
}

fn listed(payload: &Value) -> Vec<String> {
    payload["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn first_join_and_last_leave_send_no_update() {
    let t = Tracker::new();
    let mut st = everyone_online();
    join(&mut st, &t, "s1", "1");
    assert!(
        !st.call_updates_pending(),
        "the first join is group_call_started"
    );
    assert!(updates(&st.poll_call_updates(Instant::now())).is_empty());
    st.leave_room("s1");
    assert!(
        !st.call_updates_pending(),
        "the last leave is group_call_ended"
    );
}

#[test]
fn a_join_goes_to_every_member_socket_with_count_and_participants() {
    let t = Tracker::new();
    let mut st = everyone_online();
    join(&mut st, &t, "s1", "1");
    join(&mut st, &t, "s2", "2");
    assert!(st.call_updates_pending());
    let poll = st.poll_call_updates(Instant::now());
    let got = updates(&poll);
    assert_eq!(got.len(), 1);
    let (to, payload) = &got[0];
    assert_eq!(
        *to,
        socks(&["s1", "s1b", "s2", "s3", "s4", "s5", "s6", "s7"])
    );
    assert_eq!(
        *payload,
        json!({
            "conversationId": "r",
            "participantCount": 2,
            "participants": [
                {"userId": "1", "name": "User 1", "avatar": null},
                {"userId": "2", "name": "User 2", "avatar": null},
            ],
        })
    );
    assert!(poll.next.is_none());
    assert!(!st.call_updates_pending());
}

#[test]
fn updates_are_throttled_and_the_last_state_of_a_burst_arrives() {
    let t = Tracker::new();
    let mut st = everyone_online();
    let t0 = Instant::now();
    join(&mut st, &t, "s1", "1");
    join(&mut st, &t, "s2", "2");
    assert_eq!(updates(&st.poll_call_updates(t0)).len(), 1);

    // A burst inside the window: held back, the deadline is one second after the last send.
    join(&mut st, &t, "s3", "3");
    let held = st.poll_call_updates(t0 + Duration::from_millis(100));
    assert!(updates(&held).is_empty());
    assert_eq!(held.next, Some(t0 + Duration::from_secs(1)));
    join(&mut st, &t, "s4", "4");
    st.leave_room("s2");
    assert!(updates(&st.poll_call_updates(t0 + Duration::from_millis(900))).is_empty());

    // The window closes: one update with the state of that moment.
    let due = st.poll_call_updates(t0 + Duration::from_secs(1));
    let got = updates(&due);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["participantCount"], 3);
    assert_eq!(listed(&got[0].1), ["1", "3", "4"]);
    assert!(due.next.is_none());
    assert!(!st.call_updates_pending());
}

#[test]
fn a_join_and_leave_within_one_window_send_nothing_new() {
    let t = Tracker::new();
    let mut st = everyone_online();
    let t0 = Instant::now();
    join(&mut st, &t, "s1", "1");
    join(&mut st, &t, "s2", "2");
    assert_eq!(updates(&st.poll_call_updates(t0)).len(), 1);
    join(&mut st, &t, "s3", "3");
    st.leave_room("s3");
    let poll = st.poll_call_updates(t0 + Duration::from_secs(2));
    assert!(
        updates(&poll).is_empty(),
        "the members already know this state"
    );
    assert!(!st.call_updates_pending());
}

#[test]
fn two_devices_count_twice_but_are_listed_once_and_at_most_five_users() {
    let t = Tracker::new();
    let mut st = everyone_online();
    for u in MEMBERS {
        join(&mut st, &t, &format!("s{u}"), u);
    }
    join(&mut st, &t, "s1b", "1");
    let got = updates(&st.poll_call_updates(Instant::now()));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["participantCount"], 8);
    assert_eq!(listed(&got[0].1), ["1", "2", "3", "4", "5"]);
}

#[test]
fn a_second_device_joining_changes_the_count_and_is_announced() {
    let t = Tracker::new();
    let mut st = everyone_online();
    let t0 = Instant::now();
    join(&mut st, &t, "s1", "1");
    join(&mut st, &t, "s1b", "1");
    let got = updates(&st.poll_call_updates(t0));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["participantCount"], 2);
    assert_eq!(listed(&got[0].1), ["1"]);
}

#[test]
fn a_disconnect_is_a_leave_and_the_ended_room_is_forgotten() {
    let t = Tracker::new();
    let mut st = everyone_online();
    let t0 = Instant::now();
    join(&mut st, &t, "s1", "1");
    join(&mut st, &t, "s2", "2");
    st.poll_call_updates(t0);
    st.disconnect("s2");
    let got = updates(&st.poll_call_updates(t0 + Duration::from_secs(1)));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["participantCount"], 1);
    assert!(
        !got[0].0.contains(&"s2".to_owned()),
        "not sent to a closed socket"
    );

    // A change held back when the room ends is dropped with the room.
    join(&mut st, &t, "s3", "3");
    st.leave_room("s3");
    st.leave_room("s1");
    assert!(!st.call_updates_pending());
    assert!(updates(&st.poll_call_updates(t0 + Duration::from_secs(5))).is_empty());
}

#[test]
fn joining_moves_out_of_the_other_room_and_both_rooms_are_announced() {
    let t = Tracker::new();
    let mut st = everyone_online();
    let t0 = Instant::now();
    join(&mut st, &t, "s1", "1");
    join(&mut st, &t, "s2", "2");
    st.join_room("s3", join_req(&t, "q", "3", MEMBERS)).unwrap();
    st.join_room("s4", join_req(&t, "q", "4", MEMBERS)).unwrap();
    st.poll_call_updates(t0);
    // s2 moves from r to q.
    st.join_room("s2", join_req(&t, "q", "2", MEMBERS)).unwrap();
    let got = updates(&st.poll_call_updates(t0 + Duration::from_secs(1)));
    let mut rooms: Vec<(String, u64)> = got
        .iter()
        .map(|(_, p)| {
            (
                p["conversationId"].as_str().unwrap().to_owned(),
                p["participantCount"].as_u64().unwrap(),
            )
        })
        .collect();
    rooms.sort();
    assert_eq!(rooms, [("q".to_owned(), 3), ("r".to_owned(), 1)]);
}

//! Active calls from memory: when a room's roster is trusted, and what a membership change,
//! a feed outage or a read racing a change does (see `call_domain`'s `rosters` module).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::RosterRead;
use common::{State, Tracker, cinfo, join_req, online};

/// Room `r1` created by user 1 (socket s1) from a roster read of members 1 and 2, the ticket
/// taken `before` the read as the server does.
fn with_room(t: &Tracker, st: &mut State, ticket: Option<call_domain::RosterTicket>) {
    online(st, "s1", "1");
    let mut join = join_req(t, "r1", "1", &["1", "2"]);
    join.roster = ticket;
    st.join_room("s1", join).unwrap();
}

fn calls_of(st: &State, user: &str) -> (Vec<String>, Vec<String>) {
    let a = st.active_calls_from_memory(user);
    (
        a.calls.into_iter().map(|c| c.conversation_id).collect(),
        a.unknown,
    )
}

fn read(members: &[&str]) -> Option<RosterRead> {
    Some(RosterRead {
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        conversation: cinfo("r1"),
    })
}

#[test]
fn without_a_feed_every_active_room_is_looked_up() {
    let t = Tracker::default();
    let mut st = State::new();
    let ticket = st.roster_ticket();
    with_room(&t, &mut st, Some(ticket));
    assert_eq!(calls_of(&st, "2"), (vec![], vec!["r1".to_owned()]));
    assert!(
        st.take_roster_reads().is_empty(),
        "nothing to keep it true with"
    );
}

#[test]
fn a_room_read_while_the_feed_is_up_answers_from_memory() {
    let t = Tracker::default();
    let mut st = State::new();
    st.membership_feed_up();
    let ticket = st.roster_ticket();
    with_room(&t, &mut st, Some(ticket));
    assert!(st.take_roster_reads().is_empty());
    assert_eq!(calls_of(&st, "2"), (vec!["r1".to_owned()], vec![]));
    assert_eq!(calls_of(&st, "3"), (vec![], vec![]), "not a member");
    let answer = st.active_calls_from_memory("2");
    assert_eq!(answer.calls[0].participant_count, 1);
    assert_eq!(answer.calls[0].conversation_info, cinfo("r1"));
    // No user is in no room with no rooms at all.
    assert_eq!(
        State::new().active_calls_from_memory("2"),
        Default::default()
    );
}

#[test]
fn a_change_untrusts_the_roster_at_once_until_it_is_read_again() {
    let t = Tracker::default();
    let mut st = State::new();
    st.membership_feed_up();
    let ticket = st.roster_ticket();
    with_room(&t, &mut st, Some(ticket));

    st.members_changed(Some("other"));
    assert!(st.take_roster_reads().is_empty(), "another conversation");
    assert_eq!(calls_of(&st, "2").0, ["r1"]);

    st.members_changed(Some("r1"));
    assert_eq!(calls_of(&st, "2"), (vec![], vec!["r1".to_owned()]));
    assert_eq!(st.take_roster_reads(), ["r1"]);
    let ticket = st.roster_ticket();
    // User 2 was removed, 3 added.
    assert!(!st.roster_read("r1", ticket, read(&["1", "3"])));
    assert_eq!(calls_of(&st, "2"), (vec![], vec![]));
    assert_eq!(calls_of(&st, "3"), (vec!["r1".to_owned()], vec![]));
}

#[test]
fn untrusted_rosters_are_counted_and_a_failed_read_is_worth_retrying_while_the_room_lives() {
    let t = Tracker::default();
    let mut st = State::new();
    st.membership_feed_up();
    let ticket = st.roster_ticket();
    with_room(&t, &mut st, Some(ticket));
    assert_eq!(st.untrusted_rosters(), 0);
    st.members_changed(Some("r1"));
    assert_eq!(st.untrusted_rosters(), 1);
    assert!(st.roster_retry_wanted("r1"));
    assert!(!st.roster_retry_wanted("r9"), "no such room");
    assert_eq!(st.take_roster_reads(), ["r1"]);
    let ticket = st.roster_ticket();
    assert!(!st.roster_read("r1", ticket, read(&["1", "2"])));
    assert_eq!(st.untrusted_rosters(), 0);
    st.membership_feed_down();
    assert_eq!(
        st.untrusted_rosters(),
        1,
        "nothing is trusted without the feed"
    );
    assert!(
        !st.roster_retry_wanted("r1"),
        "the next generation reads it"
    );
}

#[test]
fn a_change_during_a_read_reads_again() {
    let t = Tracker::default();
    let mut st = State::new();
    st.membership_feed_up();
    let ticket = st.roster_ticket();
    with_room(&t, &mut st, Some(ticket));
    st.members_changed(Some("r1"));
    assert_eq!(st.take_roster_reads(), ["r1"]);
    let ticket = st.roster_ticket();
    st.members_changed(Some("r1"));
    assert!(st.take_roster_reads().is_empty(), "one read at a time");
    // The read may predate the second change: read again, still untrusted.
    assert!(st.roster_read("r1", ticket, read(&["1", "2"])));
    assert_eq!(calls_of(&st, "2").1, ["r1"]);
    let ticket = st.roster_ticket();
    assert!(!st.roster_read("r1", ticket, read(&["1"])));
    assert_eq!(calls_of(&st, "2"), (vec![], vec![]));
}

#[test]
fn a_feed_outage_untrusts_everything_and_a_new_feed_reads_every_room() {
    let t = Tracker::default();
    let mut st = State::new();
    st.membership_feed_up();
    let ticket = st.roster_ticket();
    with_room(&t, &mut st, Some(ticket));
    st.membership_feed_down();
    assert_eq!(calls_of(&st, "2").1, ["r1"]);
    // A read finishing in the outage is not trusted.
    let stale = st.roster_ticket();
    st.membership_feed_up();
    assert_eq!(st.take_roster_reads(), ["r1"]);
    assert_eq!(calls_of(&st, "2").1, ["r1"], "changes may have been missed");
    assert!(
        st.roster_read("r1", stale, read(&["1", "2"])),
        "a read from before the new feed is done again"
    );
    assert_eq!(calls_of(&st, "2").1, ["r1"]);
    let ticket = st.roster_ticket();
    assert!(!st.roster_read("r1", ticket, read(&["1", "2"])));
    assert_eq!(calls_of(&st, "2").0, ["r1"]);
}

#[test]
fn a_room_created_while_a_change_arrived_is_read_again() {
    let t = Tracker::default();
    let mut st = State::new();
    st.membership_feed_up();
    let ticket = st.roster_ticket();
    // A change of (possibly) this conversation while its roster was being read.
    st.members_changed(Some("r1"));
    with_room(&t, &mut st, Some(ticket));
    assert_eq!(calls_of(&st, "2").1, ["r1"]);
    assert_eq!(st.take_roster_reads(), ["r1"]);
    // A room made without a full roster read (None) is never trusted as is.
    let mut st2 = State::new();
    st2.membership_feed_up();
    with_room(&t, &mut st2, None);
    assert_eq!(calls_of(&st2, "2").1, ["r1"]);
    assert_eq!(st2.take_roster_reads(), ["r1"]);
}

#[test]
fn truncation_untrusts_every_room_and_failed_reads_stay_untrusted() {
    let t = Tracker::default();
    let mut st = State::new();
    st.membership_feed_up();
    let ticket = st.roster_ticket();
    with_room(&t, &mut st, Some(ticket));
    st.members_changed(None);
    assert_eq!(st.take_roster_reads(), ["r1"]);
    let ticket = st.roster_ticket();
    assert!(!st.roster_read("r1", ticket, None));
    assert_eq!(calls_of(&st, "2").1, ["r1"]);
    // A read of a room that ended meanwhile changes nothing.
    assert!(!st.roster_read("gone", ticket, read(&["1"])));
    // The room ends: nothing listed.
    st.disconnect("s1");
    assert_eq!(calls_of(&st, "2"), (vec![], vec![]));
}

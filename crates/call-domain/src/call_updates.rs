//! The `group_call_updated` throttle: which active calls changed, and when their members may
//! hear about it again.
//!
//! Pure bookkeeping with time as an input (Sans-IO): the state machine marks a room as
//! changed when its participants change, and the I/O layer polls with the current instant,
//! sleeping until the returned deadline. A room is announced at most once per `interval`;
//! a change inside the window is held back and sent when the window closes, with the state
//! of that moment, so the last state of a burst always arrives. A burst that ends where it
//! began (a join and a leave within one window) sends nothing.

use crate::{RoomId, UserId};
use indexmap::{IndexMap, IndexSet};
use std::time::{Duration, Instant};

/// Default minimum time between two `group_call_updated` of one conversation.
pub const DEFAULT_CALL_UPDATE_INTERVAL: Duration = Duration::from_secs(1);

/// What the members last heard about a room: participant count and listed users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Announced {
    pub(crate) count: usize,
    pub(crate) users: Vec<UserId>,
}

#[derive(Debug, Default)]
struct Slot {
    last_sent: Option<Instant>,
    announced: Announced,
}

/// Per-room throttle state; only rooms of active calls have a slot.
#[derive(Debug)]
pub(crate) struct CallUpdates {
    interval: Duration,
    slots: IndexMap<RoomId, Slot>,
    dirty: IndexSet<RoomId>,
}

impl Default for CallUpdates {
    fn default() -> Self {
        Self::new(DEFAULT_CALL_UPDATE_INTERVAL)
    }
}

/// The decision for one changed room at a poll.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Announce now (the window is open and the state differs from the last announcement).
    Send,
    /// Nothing new to tell.
    Unchanged,
    /// Wait until this instant.
    Later(Instant),
}

impl CallUpdates {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            slots: IndexMap::new(),
            dirty: IndexSet::new(),
        }
    }

    /// A call started: its members heard `group_call_started`, which stands for `initial`.
    pub(crate) fn started(&mut self, room: &str, initial: Announced) {
        self.slots.insert(
            room.to_owned(),
            Slot {
                last_sent: None,
                announced: initial,
            },
        );
    }

    /// A call ended (`group_call_ended` says it all): forget the room.
    pub(crate) fn ended(&mut self, room: &str) {
        self.slots.shift_remove(room);
        self.dirty.shift_remove(room);
    }

    /// The room's participants changed.
    pub(crate) fn changed(&mut self, room: &str) {
        if self.slots.contains_key(room) && !self.dirty.contains(room) {
            self.dirty.insert(room.to_owned());
        }
    }

    /// Whether any room waits to be announced.
    pub(crate) fn is_idle(&self) -> bool {
        self.dirty.is_empty()
    }

    /// Changed rooms, in the order they changed.
    pub(crate) fn dirty(&self) -> Vec<RoomId> {
        self.dirty.iter().cloned().collect()
    }

    /// Decide for a changed room whose current state is `now_state`.
    pub(crate) fn decide(&mut self, room: &str, now_state: &Announced, now: Instant) -> Due {
        let Some(slot) = self.slots.get_mut(room) else {
            self.dirty.shift_remove(room);
            return Due::Unchanged;
        };
        if let Some(last) = slot.last_sent {
            let open_at = last + self.interval;
            if now < open_at {
                return Due::Later(open_at);
            }
        }
        self.dirty.shift_remove(room);
        if slot.announced == *now_state {
            return Due::Unchanged;
        }
        slot.announced = now_state.clone();
        slot.last_sent = Some(now);
        Due::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(count: usize, users: &[&str]) -> Announced {
        Announced {
            count,
            users: users.iter().map(|u| (*u).to_owned()).collect(),
        }
    }

    #[test]
    fn first_change_goes_out_at_once_then_the_window_holds_the_next() {
        let t0 = Instant::now();
        let mut u = CallUpdates::default();
        u.started("r", state(1, &["a"]));
        u.changed("r");
        assert_eq!(u.decide("r", &state(2, &["a", "b"]), t0), Due::Send);
        assert!(u.is_idle());
        u.changed("r");
        let held = u.decide(
            "r",
            &state(3, &["a", "b", "c"]),
            t0 + Duration::from_millis(10),
        );
        assert_eq!(held, Due::Later(t0 + Duration::from_secs(1)));
        assert!(!u.is_idle());
        let at = t0 + Duration::from_secs(1);
        assert_eq!(u.decide("r", &state(3, &["a", "b", "c"]), at), Due::Send);
        assert!(u.is_idle());
    }

    #[test]
    fn a_burst_that_returns_to_the_announced_state_sends_nothing() {
        let t0 = Instant::now();
        let mut u = CallUpdates::default();
        u.started("r", state(1, &["a"]));
        u.changed("r");
        assert_eq!(u.decide("r", &state(1, &["a"]), t0), Due::Unchanged);
        assert!(u.is_idle());
    }

    #[test]
    fn an_ended_room_is_forgotten() {
        let mut u = CallUpdates::default();
        u.started("r", state(1, &["a"]));
        u.changed("r");
        u.ended("r");
        assert!(u.is_idle());
        u.changed("r");
        assert!(
            u.is_idle(),
            "no slot, no update for a room that is not active"
        );
    }
}

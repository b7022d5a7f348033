//! Which active SFU rooms list a user among their members: an index over every room's
//! `members`, kept in step by the few places that change them, so an active-call lookup from
//! memory costs a hash lookup for the user instead of a scan of every room's member list
//! (under the state lock, on every `join` and `get_active_calls`).

use crate::{RoomId, UserId};
use std::collections::HashMap;

/// `user -> rooms` over the active rooms' member lists.
#[derive(Debug, Default)]
pub(crate) struct MemberIndex {
    by_user: HashMap<UserId, Vec<RoomId>>,
}

impl MemberIndex {
    /// `user` is a member of `room`.
    pub(crate) fn add(&mut self, room: &str, user: &str) {
        let rooms = self.by_user.entry(user.to_owned()).or_default();
        if !rooms.iter().any(|r| r == room) {
            rooms.push(room.to_owned());
        }
    }

    /// `user` is no longer a member of `room`.
    pub(crate) fn remove(&mut self, room: &str, user: &str) {
        if let Some(rooms) = self.by_user.get_mut(user) {
            rooms.retain(|r| r != room);
            if rooms.is_empty() {
                self.by_user.remove(user);
            }
        }
    }

    /// `room`'s member list changed from `old` to `new`.
    pub(crate) fn replace<'a>(
        &mut self,
        room: &str,
        old: impl IntoIterator<Item = &'a UserId>,
        new: impl IntoIterator<Item = &'a UserId>,
    ) {
        for user in old {
            self.remove(room, user);
        }
        for user in new {
            self.add(room, user);
        }
    }

    /// The rooms that list `user` (in no particular order).
    pub(crate) fn rooms_of(&self, user: &str) -> &[RoomId] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    /// Users indexed (for tests: an index that only grows would leak).
    #[cfg(test)]
    pub(crate) fn users(&self) -> usize {
        self.by_user.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<UserId> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn add_remove_and_replace_keep_the_index_exact() {
        let mut index = MemberIndex::default();
        index.replace("r1", &[], &ids(&["1", "2"]));
        index.add("r2", "2");
        index.add("r2", "2");
        assert_eq!(index.rooms_of("2"), ["r1", "r2"]);
        assert_eq!(index.rooms_of("1"), ["r1"]);
        index.replace("r1", &ids(&["1", "2"]), &ids(&["2", "3"]));
        assert!(index.rooms_of("1").is_empty());
        assert_eq!(index.rooms_of("3"), ["r1"]);
        index.remove("r2", "2");
        index.replace("r1", &ids(&["2", "3"]), &[]);
        assert!(index.rooms_of("2").is_empty());
        assert_eq!(index.users(), 0);
    }
}

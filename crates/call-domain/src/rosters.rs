//! Trusted rosters: "which active calls may this user see?" answered from memory.
//!
//! An active room holds its conversation's member list, read from the directory when the
//! room was created. It answers active-call lookups only while a *membership feed* keeps it
//! true: the server's listener for the directory's change notifications (PostgreSQL
//! `LISTEN`), or a directory that never changes (the embedded one). The rules:
//!
//! * While the feed is down, no roster is trusted: lookups go to the directory.
//! * [`CallState::membership_feed_up`] starts a new feed *generation*. Rosters read before it
//!   are not trusted (changes may have been missed meanwhile); every active room's roster is
//!   read again, and each is trusted once its new read returns.
//! * [`CallState::members_changed`] (a notification) makes the conversation's roster
//!   untrusted at once and asks for a new read; a change that arrives while that read runs
//!   asks for another one, because the read may predate it.
//! * A room created from a roster read trusts it only if the feed was up when the read
//!   started and no change of any conversation arrived while it ran (the room did not exist
//!   yet, so a change of its conversation cannot be told apart); else it is read again.
//!
//! The server drains the reads to start with [`CallState::take_roster_reads`].

use crate::media::Media;
use crate::state::CallState;
use crate::{RoomId, UserId};
use signal_proto::ConversationInfo;
use signal_proto::responses::ActiveCall;

/// The membership feed, as the state machine sees it.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    /// The current generation while the feed is up.
    up: Option<u64>,
    /// Generations started so far.
    generations: u64,
    /// Change notifications seen so far.
    changes: u64,
    /// Rooms whose roster should be read (drained by the server).
    reads: Vec<RoomId>,
}

/// A room's roster: whether it is trusted, and whether a read of it runs.
#[derive(Debug, Default, Clone)]
pub(crate) struct RosterStatus {
    /// The feed generation the roster is kept true by (trusted while that one is up).
    trusted: Option<u64>,
    /// A read runs.
    reading: bool,
    /// A change arrived while the read ran: read again when it returns.
    stale_read: bool,
}

/// Taken before reading a roster, given back with the result ([`CallState::roster_read`],
/// [`crate::JoinRoom::roster`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterTicket {
    generation: Option<u64>,
    changes: u64,
}

/// A roster as read: the member ids and the conversation's display info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRead {
    /// Member user ids (empty when the conversation has no members any more).
    pub members: Vec<UserId>,
    /// The conversation's display info.
    pub conversation: ConversationInfo,
}

/// Active calls answered from memory, and the rooms memory could not answer for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryAnswer {
    /// Calls of rooms whose trusted roster lists the user.
    pub calls: Vec<ActiveCall>,
    /// Active rooms without a trusted roster: ask the directory.
    pub unknown: Vec<RoomId>,
}

impl<M: Media> CallState<M> {
    /// The membership feed is up (again): a new generation. Every active room's roster is
    /// read again ([`CallState::take_roster_reads`]) before it is trusted.
    pub fn membership_feed_up(&mut self) {
        self.feed.generations += 1;
        self.feed.up = Some(self.feed.generations);
        let ids: Vec<RoomId> = self.rooms.keys().cloned().collect();
        for id in ids {
            self.schedule_roster_read(&id);
        }
    }

    /// The membership feed is down: no roster is trusted until it is up again.
    pub fn membership_feed_down(&mut self) {
        self.feed.up = None;
    }

    /// Whether the membership feed is up.
    pub fn membership_feed_is_up(&self) -> bool {
        self.feed.up.is_some()
    }

    /// Membership change notifications seen so far.
    pub fn membership_changes(&self) -> u64 {
        self.feed.changes
    }

    /// Active rooms whose roster is not trusted now (their lookups go to the directory).
    pub fn untrusted_rosters(&self) -> usize {
        self.rooms
            .values()
            .filter(|room| !self.roster_trusted(room))
            .count()
    }

    /// Whether `room`'s roster answers lookups now: kept true by the current feed generation.
    fn roster_trusted(&self, room: &crate::room::Room<M>) -> bool {
        self.feed.up.is_some() && room.roster.trusted == self.feed.up
    }

    /// Whether a failed read of room `id`'s roster is worth retrying: the room is still
    /// active and the feed is up (else the next generation reads it anyway).
    pub fn roster_retry_wanted(&self, id: &str) -> bool {
        self.feed.up.is_some() && self.rooms.contains_key(id)
    }

    /// A change notification: the members of `conversation` (every conversation when
    /// `None`) may have changed. Its roster is untrusted at once and read again.
    pub fn members_changed(&mut self, conversation: Option<&str>) {
        self.feed.changes += 1;
        let ids: Vec<RoomId> = match conversation {
            Some(id) if self.rooms.contains_key(id) => vec![id.to_owned()],
            Some(_) => Vec::new(),
            None => self.rooms.keys().cloned().collect(),
        };
        for id in ids {
            self.schedule_roster_read(&id);
        }
    }

    /// Untrust room `id`'s roster and schedule a read (or a second one after the running one).
    fn schedule_roster_read(&mut self, id: &str) {
        let Some(room) = self.rooms.get_mut(id) else {
            return;
        };
        room.roster.trusted = None;
        if room.roster.reading {
            room.roster.stale_read = true;
        } else if self.feed.up.is_some() {
            room.roster.reading = true;
            self.feed.reads.push(id.to_owned());
        }
    }

    /// Rooms whose roster the server should read now (each with
    /// [`CallState::roster_ticket`] before the read and [`CallState::roster_read`] after).
    pub fn take_roster_reads(&mut self) -> Vec<RoomId> {
        std::mem::take(&mut self.feed.reads)
    }

    /// The ticket to take before reading a roster.
    pub fn roster_ticket(&self) -> RosterTicket {
        RosterTicket {
            generation: self.feed.up,
            changes: self.feed.changes,
        }
    }

    /// A roster read of room `id` returned (`None`: the read failed). Returns whether to read
    /// it again now (a change arrived meanwhile); a failed read leaves the roster untrusted
    /// until the next change or feed generation.
    pub fn roster_read(
        &mut self,
        id: &str,
        ticket: RosterTicket,
        read: Option<RosterRead>,
    ) -> bool {
        let up = self.feed.up;
        let Some(room) = self.rooms.get_mut(id) else {
            return false;
        };
        room.roster.reading = false;
        if std::mem::take(&mut room.roster.stale_read) && up.is_some() {
            room.roster.reading = true;
            return true;
        }
        let Some(read) = read else {
            return false;
        };
        if up.is_none() {
            return false;
        }
        if ticket.generation != up {
            // Read under an older feed: changes since may be missing from it.
            room.roster.reading = true;
            return true;
        }
        self.member_index.replace(id, &room.members, &read.members);
        room.members = read.members;
        room.conversation = read.conversation;
        room.roster.trusted = up;
        false
    }

    /// The roster status of a room created from a read taken with `ticket` (`None`: its
    /// member list is not a full roster read).
    pub(crate) fn new_room_roster(
        &mut self,
        id: &str,
        ticket: Option<RosterTicket>,
    ) -> RosterStatus {
        let trusted = ticket.filter(|t| {
            t.generation.is_some() && t.generation == self.feed.up && t.changes == self.feed.changes
        });
        match (trusted, self.feed.up) {
            (Some(t), _) => RosterStatus {
                trusted: t.generation,
                ..RosterStatus::default()
            },
            (None, Some(_)) => {
                self.feed.reads.push(id.to_owned());
                RosterStatus {
                    reading: true,
                    ..RosterStatus::default()
                }
            }
            (None, None) => RosterStatus::default(),
        }
    }

    /// `user`'s active calls from the trusted rosters, and the active rooms without one.
    /// Costs one pass over the rooms' trust (no member lists) and an index lookup for the
    /// user; the calls come in room-creation order.
    pub fn active_calls_from_memory(&self, user: &str) -> MemoryAnswer {
        let mut answer = MemoryAnswer::default();
        for (id, room) in &self.rooms {
            if !self.roster_trusted(room) {
                answer.unknown.push(id.clone());
            }
        }
        let mut found: Vec<(usize, &crate::room::Room<M>)> = self
            .member_index
            .rooms_of(user)
            .iter()
            .filter_map(|id| self.rooms.get_full(id))
            .filter(|(_, _, room)| self.roster_trusted(room))
            .map(|(index, _, room)| (index, room))
            .collect();
        found.sort_unstable_by_key(|&(index, _)| index);
        answer.calls = found
            .into_iter()
            .map(|(_, room)| room.active_call(room.conversation.clone()))
            .collect();
        answer
    }
}

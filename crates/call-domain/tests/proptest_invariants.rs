//! Property test of [`call_domain::CallState`]: random command sequences over 6 sockets,
//! 4 users and 3 rooms, with media operations that may race with leaves (a result attached
//! with the epoch read before the leave). After every step the state's invariants are
//! checked, including that the live media handles are exactly the ones the state holds; at
//! the end, after every socket disconnected, nothing is left.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use call_domain::{CallError, Effect, OutEvent, Stats};
use common::{Live, State, Tracker, join_req, online};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use signal_proto::requests::TransportDirection;
use std::cell::Cell;
use std::collections::BTreeSet;

const SOCKETS: usize = 6;
const USERS: usize = 4;
const ROOMS: usize = 3;

fn sid(i: usize) -> String {
    format!("s{i}")
}

fn uid(i: usize) -> String {
    format!("{i}")
}

fn rid(i: usize) -> String {
    format!("r{i}")
}

/// Member lists a roster read may return.
fn read_members(pick: usize) -> Vec<String> {
    let lists: [&[&str]; 4] = [&["0", "1"], &["2"], &[], &["0", "1", "2", "3"]];
    lists[pick % lists.len()]
        .iter()
        .map(|m| (*m).to_owned())
        .collect()
}

/// Cached member lists: r2 has none, so every joiner is added to it.
fn members(room: usize) -> &'static [&'static str] {
    match room {
        0 => &["0", "1"],
        1 => &["1", "2", "3"],
        _ => &[],
    }
}

#[derive(Debug, Clone)]
enum Cmd {
    Connect(usize),
    Join(usize, usize),
    JoinRoom(usize, usize),
    /// `createTransport` start to end.
    CreateTransport(usize, bool),
    /// `produce` start to end, on the n-th known transport of the socket.
    Produce(usize, usize, bool),
    /// `consume` start to end: the n-th producer of the room, the m-th known transport.
    Consume(usize, usize, usize),
    /// The lookup half of `createTransport`; the result is attached by `Finish`.
    BeginTransport(usize),
    /// The lookup half of `produce`.
    BeginProduce(usize, usize),
    /// The lookup half of `consume`.
    BeginConsume(usize, usize, usize),
    /// Attach the result of the n-th pending operation (possibly stale by now).
    Finish(usize),
    CloseProducer(usize, usize),
    LeaveRoom(usize),
    Disconnect(usize),
    CloseRoom(usize),
    /// A membership change of room r's conversation, then its roster read with the n-th
    /// member list (or a failed read), as the server's listener and reader do.
    Roster(usize, Option<usize>),
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let s = 0..SOCKETS;
    prop_oneof![
        2 => s.clone().prop_map(Cmd::Connect),
        2 => (s.clone(), 0..USERS).prop_map(|(s, u)| Cmd::Join(s, u)),
        3 => (s.clone(), 0..ROOMS).prop_map(|(s, r)| Cmd::JoinRoom(s, r)),
        3 => (s.clone(), any::<bool>()).prop_map(|(s, r)| Cmd::CreateTransport(s, r)),
        3 => (s.clone(), 0..4usize, any::<bool>()).prop_map(|(s, t, v)| Cmd::Produce(s, t, v)),
        6 => (s.clone(), 0..8usize, 0..4usize).prop_map(|(s, p, t)| Cmd::Consume(s, p, t)),
        1 => s.clone().prop_map(Cmd::BeginTransport),
        1 => (s.clone(), 0..4usize).prop_map(|(s, t)| Cmd::BeginProduce(s, t)),
        3 => (s.clone(), 0..8usize, 0..4usize).prop_map(|(s, p, t)| Cmd::BeginConsume(s, p, t)),
        3 => (0..8usize).prop_map(Cmd::Finish),
        2 => (s.clone(), 0..8usize).prop_map(|(s, p)| Cmd::CloseProducer(s, p)),
        2 => s.clone().prop_map(Cmd::LeaveRoom),
        1 => s.prop_map(Cmd::Disconnect),
        1 => (0..ROOMS).prop_map(Cmd::CloseRoom),
        2 => (0..ROOMS, prop::option::weighted(0.8, 0..4usize)).prop_map(|(r, m)| Cmd::Roster(r, m)),
    ]
}

/// A program: an optional warm-up per socket (join as user `s % 4`, enter the given room,
/// create a send and a receive transport, produce once) followed by random commands.
fn program() -> impl Strategy<Value = Vec<Cmd>> {
    let setup = prop::collection::vec(
        prop::option::weighted(0.7, (0..ROOMS, any::<bool>())),
        SOCKETS,
    );
    let tail = prop::collection::vec(cmd(), 1..120);
    (setup, tail).prop_map(|(setup, tail)| {
        let mut cmds = Vec::new();
        for (s, room) in setup.into_iter().enumerate() {
            if let Some((r, video)) = room {
                cmds.extend([
                    Cmd::Join(s, s % USERS),
                    Cmd::JoinRoom(s, r),
                    Cmd::CreateTransport(s, false),
                    Cmd::CreateTransport(s, true),
                    Cmd::Produce(s, 0, video),
                ]);
            }
        }
        cmds.extend(tail);
        cmds
    })
}

#[derive(Debug, Clone)]
enum Op {
    Transport(TransportDirection),
    Producer(String),
    Consumer(String),
}

#[derive(Debug, Clone)]
struct Pending {
    socket: String,
    epoch: u64,
    op: Op,
}

/// How much of the state space the runs reached (checked at the end).
#[derive(Debug, Default)]
struct Coverage {
    transports: Cell<usize>,
    producers: Cell<usize>,
    consumers: Cell<usize>,
    stale_rejected: Cell<usize>,
    producer_gone_rejected: Cell<usize>,
    producers_closed: Cell<usize>,
    consumers_cascaded: Cell<usize>,
    rooms_ended: Cell<usize>,
    room_moves: Cell<usize>,
    own_consume_refused: Cell<usize>,
}

fn bump(c: &Cell<usize>) {
    c.set(c.get() + 1);
}

struct Harness<'a> {
    st: State,
    t: Tracker,
    cov: &'a Coverage,
    /// Sockets that exist in the state (connected or implicitly registered by `join`).
    connected: BTreeSet<String>,
    /// Transports ever attached: (socket, id). May be stale.
    transports: Vec<(String, String)>,
    /// Consumers attached and still alive: (socket, consumer id, producer id).
    consumers: Vec<(String, String, String)>,
    pending: Vec<Pending>,
    next_id: u64,
    /// Active rooms whose member list came from a roster read since they were created: a
    /// read may drop a participant's user (removed from the conversation mid-call).
    reread: BTreeSet<String>,
}

impl<'a> Harness<'a> {
    fn new(cov: &'a Coverage) -> Self {
        let mut harness = Self::empty(cov);
        // The membership feed is up: rooms created from a roster read are trusted.
        harness.st.membership_feed_up();
        harness
    }

    fn empty(cov: &'a Coverage) -> Self {
        Self {
            // Limits high enough never to trigger: this test is about interleavings.
            st: State::with_limits(call_domain::Limits {
                transports_per_socket: usize::MAX,
                producers_per_socket: usize::MAX,
                consumers_per_socket: usize::MAX,
                participants_per_room: usize::MAX,
            }),
            t: Tracker::new(),
            cov,
            connected: BTreeSet::new(),
            transports: Vec::new(),
            consumers: Vec::new(),
            pending: Vec::new(),
            next_id: 0,
            reread: BTreeSet::new(),
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    fn room_sockets(&self, room: &str) -> Vec<String> {
        self.st
            .room(room)
            .map(|r| r.participants().map(|p| p.socket.clone()).collect())
            .unwrap_or_default()
    }

    fn transport_of(&self, socket: &str, pick: usize) -> String {
        let mine: Vec<_> = self
            .transports
            .iter()
            .filter(|(s, _)| s == socket)
            .map(|(_, id)| id.clone())
            .collect();
        if mine.is_empty() {
            "no-transport".into()
        } else {
            mine[pick % mine.len()].clone()
        }
    }

    fn step(&mut self, cmd: &Cmd) {
        let fx = match *cmd {
            Cmd::Connect(s) => {
                self.st.connect(&sid(s));
                self.connected.insert(sid(s));
                Vec::new()
            }
            Cmd::Join(s, u) => {
                online(&mut self.st, &sid(s), &uid(u));
                self.connected.insert(sid(s));
                assert_eq!(self.st.user_of(&sid(s)), Some(uid(u).as_str()));
                assert!(self.st.sockets_of(&uid(u)).contains(&sid(s)));
                Vec::new()
            }
            Cmd::JoinRoom(s, r) => self.join_room(&sid(s), r),
            Cmd::Roster(r, pick) => {
                self.st.members_changed(Some(&rid(r)));
                let reads = self.st.take_roster_reads();
                let ticket = self.st.roster_ticket();
                for id in reads {
                    let read = pick.map(|m| call_domain::RosterRead {
                        members: read_members(m),
                        conversation: common::cinfo(&id),
                    });
                    assert!(!self.st.roster_read(&id, ticket, read));
                    self.reread.insert(id);
                }
                Vec::new()
            }
            Cmd::CreateTransport(s, recv) => {
                if self.begin_transport(&sid(s), recv) {
                    self.finish_last()
                } else {
                    Vec::new()
                }
            }
            Cmd::Produce(s, t, video) => {
                if self.begin_produce(&sid(s), t, video) {
                    self.finish_last()
                } else {
                    Vec::new()
                }
            }
            Cmd::Consume(s, p, t) => {
                if self.begin_consume(&sid(s), p, t) {
                    self.finish_last()
                } else {
                    Vec::new()
                }
            }
            Cmd::BeginTransport(s) => {
                self.begin_transport(&sid(s), false);
                Vec::new()
            }
            Cmd::BeginProduce(s, t) => {
                self.begin_produce(&sid(s), t, false);
                Vec::new()
            }
            Cmd::BeginConsume(s, p, t) => {
                self.begin_consume(&sid(s), p, t);
                Vec::new()
            }
            Cmd::Finish(i) => {
                if self.pending.is_empty() {
                    Vec::new()
                } else {
                    let p = self.pending.remove(i % self.pending.len());
                    self.finish(p)
                }
            }
            Cmd::CloseProducer(s, p) => self.close_producer(&sid(s), p),
            Cmd::LeaveRoom(s) => self.leave(&sid(s), false),
            Cmd::Disconnect(s) => self.leave(&sid(s), true),
            Cmd::CloseRoom(r) => {
                let room = rid(r);
                let inside = self.room_sockets(&room);
                let fx = self.st.close_room(&room);
                assert!(self.st.room(&room).is_none());
                for s in &inside {
                    assert_eq!(self.st.room_of(s), None);
                    assert!(self.st.user_of(s).is_some());
                }
                let ended = count(&fx, "group_call_ended");
                assert!(ended <= 1);
                assert_eq!(
                    count(&fx, "participantLeft"),
                    inside.len().saturating_sub(1)
                );
                if !inside.is_empty() {
                    bump(&self.cov.rooms_ended);
                }
                fx
            }
        };
        self.check_effects(&fx, cmd);
        self.check();
    }

    fn join_room(&mut self, socket: &str, r: usize) -> Vec<Effect> {
        let room = rid(r);
        let before = self.st.room_of(socket).map(str::to_owned);
        let mut req = match self.st.user_of(socket) {
            Some(u) => join_req(&self.t, &room, u, members(r)),
            None => join_req(&self.t, &room, "nobody", members(r)),
        };
        // Created from a roster read taken now (the feed is up): trusted at once.
        req.roster = Some(self.st.roster_ticket());
        match self.st.check_join_room(socket, Some(&room)) {
            Err(e) => {
                assert_eq!(e, CallError::JoinFirst);
                assert_eq!(
                    self.st.join_room(socket, req).err(),
                    Some(CallError::JoinFirst)
                );
                Vec::new()
            }
            Ok((user, active)) => {
                assert_eq!(self.st.user_of(socket), Some(user.as_str()));
                assert_eq!(active, self.st.room(&room).is_some());
                let (router, fx) = self.st.join_room(socket, req).unwrap();
                assert!(router.same(&self.st.room(&room).unwrap().router));
                drop(router);
                assert_eq!(self.st.room_of(socket), Some(room.as_str()));
                if before.as_deref() == Some(room.as_str()) {
                    // Idempotent: nothing changes (not even the member list when the socket
                    // was re-bound to another user meanwhile).
                    assert!(fx.is_empty(), "same-room re-join must be silent: {fx:?}");
                } else {
                    assert!(self.st.room_members(&room).unwrap().contains(&user));
                    assert_eq!(count(&fx, "group_call_started"), usize::from(!active));
                    if before.is_some() {
                        bump(&self.cov.room_moves);
                    }
                }
                fx
            }
        }
    }

    /// Look up the router and epoch; `true` when an operation was queued.
    fn begin_transport(&mut self, socket: &str, recv: bool) -> bool {
        match self.st.transport_target(socket) {
            Ok((_router, epoch)) => {
                let dir = if recv {
                    TransportDirection::Recv
                } else {
                    TransportDirection::Send
                };
                self.pending.push(Pending {
                    socket: socket.to_owned(),
                    epoch,
                    op: Op::Transport(dir),
                });
                true
            }
            Err(e) => {
                assert_eq!(e, CallError::ParticipantNotFound);
                assert_eq!(self.st.room_of(socket), None);
                false
            }
        }
    }

    fn begin_produce(&mut self, socket: &str, pick: usize, video: bool) -> bool {
        let transport = self.transport_of(socket, pick);
        match self.st.transport(socket, &transport) {
            Ok((_handle, epoch)) => {
                let kind = if video { "video" } else { "audio" };
                self.pending.push(Pending {
                    socket: socket.to_owned(),
                    epoch,
                    op: Op::Producer(kind.into()),
                });
                true
            }
            Err(CallError::ParticipantNotFound) => {
                assert_eq!(self.st.room_of(socket), None);
                false
            }
            Err(e) => {
                assert_eq!(e, CallError::TransportNotFound);
                assert!(self.st.room_of(socket).is_some());
                false
            }
        }
    }

    fn begin_consume(&mut self, socket: &str, pick: usize, tpick: usize) -> bool {
        let transport = self.transport_of(socket, tpick);
        let producers = match self.st.producers(socket) {
            Ok(p) => p,
            Err(e) => {
                assert_eq!(e, CallError::ParticipantNotFound);
                assert_eq!(self.st.room_of(socket), None);
                assert_eq!(
                    self.st.consume_target(socket, &transport, "p-any").err(),
                    Some(CallError::ParticipantNotFound)
                );
                return false;
            }
        };
        if producers.is_empty() {
            assert_eq!(
                self.st.consume_target(socket, &transport, "p-any").err(),
                Some(CallError::ProducerNotFound)
            );
            return false;
        }
        let producer = &producers[pick % producers.len()];
        let result = self.st.consume_target(socket, &transport, &producer.id);
        if producer.socket_id == socket {
            assert_eq!(result.err(), Some(CallError::CannotConsumeOwn));
            bump(&self.cov.own_consume_refused);
            return false;
        }
        let target = result.unwrap();
        assert!(
            target.router.same(
                &self
                    .st
                    .room(self.st.room_of(socket).unwrap())
                    .unwrap()
                    .router
            )
        );
        let own = self.st.transport(socket, &transport);
        match (&target.transport, own) {
            (Some(h), Ok((mine, epoch))) => {
                assert!(h.same(&mine));
                assert_eq!(epoch, target.epoch);
            }
            (None, Err(e)) => {
                // The app answers "Receive transport not found".
                assert_eq!(e, CallError::TransportNotFound);
                return false;
            }
            (t, o) => panic!("consume_target transport {t:?} disagrees with transport() {o:?}"),
        }
        self.pending.push(Pending {
            socket: socket.to_owned(),
            epoch: target.epoch,
            op: Op::Consumer(producer.id.clone()),
        });
        true
    }

    fn finish_last(&mut self) -> Vec<Effect> {
        let p = self.pending.pop().unwrap();
        self.finish(p)
    }

    /// Attach a pending result, checking the outcome against what the state says now.
    fn finish(&mut self, p: Pending) -> Vec<Effect> {
        let current = self.st.transport_target(&p.socket).ok().map(|(_, e)| e);
        let expected = if current != Some(p.epoch) {
            Err(CallError::ParticipantNotFound)
        } else if let Op::Consumer(pid) = &p.op {
            let exists = self
                .st
                .producers(&p.socket)
                .unwrap()
                .iter()
                .any(|e| &e.id == pid);
            if exists {
                Ok(())
            } else {
                Err(CallError::ProducerNotFound)
            }
        } else {
            Ok(())
        };
        let before = self.t.live();
        let (result, fx) = match &p.op {
            Op::Transport(dir) => {
                let id = self.fresh("t");
                let r =
                    self.st
                        .add_transport(&p.socket, p.epoch, id.clone(), *dir, self.t.transport());
                if r.is_ok() {
                    self.transports.push((p.socket.clone(), id));
                    bump(&self.cov.transports);
                }
                (r, Vec::new())
            }
            Op::Producer(kind) => {
                let id = self.fresh("p");
                match self.st.add_producer(
                    &p.socket,
                    p.epoch,
                    id.clone(),
                    kind.clone(),
                    self.t.producer(),
                ) {
                    Ok(fx) => {
                        bump(&self.cov.producers);
                        let room = self.st.room_of(&p.socket).unwrap().to_owned();
                        let mut rest = self.room_sockets(&room);
                        rest.retain(|s| *s != p.socket);
                        rest.sort();
                        let got = recipients(&fx, "newProducer");
                        assert_eq!(got, if rest.is_empty() { vec![] } else { vec![rest] });
                        (Ok(()), fx)
                    }
                    Err(e) => (Err(e), Vec::new()),
                }
            }
            Op::Consumer(pid) => {
                let id = self.fresh("c");
                let r = self.st.add_consumer(
                    &p.socket,
                    p.epoch,
                    id.clone(),
                    pid.clone(),
                    self.t.consumer(),
                );
                if r.is_ok() {
                    self.consumers.push((p.socket.clone(), id, pid.clone()));
                    bump(&self.cov.consumers);
                }
                (r, Vec::new())
            }
        };
        assert_eq!(result, expected, "attaching {p:?}");
        match result {
            Err(CallError::ParticipantNotFound) => bump(&self.cov.stale_rejected),
            Err(_) => bump(&self.cov.producer_gone_rejected),
            Ok(()) => {}
        }
        if result.is_err() {
            // A refused handle is dropped at once.
            assert_eq!(self.t.live(), before);
        }
        fx
    }

    fn close_producer(&mut self, socket: &str, pick: usize) -> Vec<Effect> {
        let producers = match self.st.producers(socket) {
            Ok(p) => p,
            Err(e) => {
                assert_eq!(e, CallError::ParticipantNotFound);
                assert_eq!(
                    self.st.close_producer(socket, "p-any").err(),
                    Some(CallError::ParticipantNotFound)
                );
                return Vec::new();
            }
        };
        if producers.is_empty() {
            assert_eq!(
                self.st.close_producer(socket, "p-any").err(),
                Some(CallError::ProducerNotFound)
            );
            return Vec::new();
        }
        let producer = &producers[pick % producers.len()];
        let result = self.st.close_producer(socket, &producer.id);
        if producer.socket_id != socket {
            assert_eq!(result.err(), Some(CallError::ProducerNotFound));
            return Vec::new();
        }
        let fx = result.unwrap();
        bump(&self.cov.producers_closed);
        let room = self.st.room_of(socket).unwrap().to_owned();
        let mut rest = self.room_sockets(&room);
        rest.retain(|s| s != socket);
        rest.sort();
        assert_eq!(
            recipients(&fx, "producerClosed"),
            if rest.is_empty() { vec![] } else { vec![rest] }
        );
        assert_eq!(
            self.st.producer(socket, &producer.id).err(),
            Some(CallError::ProducerNotFound)
        );
        for (s, c, pid) in &self.consumers {
            if *pid == producer.id {
                assert_eq!(
                    self.st.consumer(s, c).err(),
                    Some(CallError::ConsumerNotFound)
                );
                bump(&self.cov.consumers_cascaded);
            }
        }
        fx
    }

    fn leave(&mut self, socket: &str, disconnect: bool) -> Vec<Effect> {
        let room = self.st.room_of(socket).map(str::to_owned);
        let inside = room
            .as_deref()
            .map(|r| self.room_sockets(r))
            .unwrap_or_default();
        let fx = if disconnect {
            let fx = self.st.disconnect(socket);
            self.connected.remove(socket);
            assert_eq!(self.st.user_of(socket), None);
            fx
        } else {
            self.st.leave_room(socket)
        };
        assert_eq!(self.st.room_of(socket), None);
        match room {
            None => assert!(fx.is_empty(), "{fx:?}"),
            Some(room) => {
                let mut rest = inside;
                rest.retain(|s| s != socket);
                rest.sort();
                if rest.is_empty() {
                    assert!(self.st.room(&room).is_none());
                    assert_eq!(count(&fx, "participantLeft"), 0);
                    bump(&self.cov.rooms_ended);
                } else {
                    assert_eq!(recipients(&fx, "participantLeft"), vec![rest]);
                    assert_eq!(count(&fx, "group_call_ended"), 0);
                }
            }
        }
        fx
    }

    /// Sanity of any step's effects.
    fn check_effects(&self, fx: &[Effect], cmd: &Cmd) {
        let disconnected = match cmd {
            Cmd::Disconnect(s) => Some(sid(*s)),
            _ => None,
        };
        for e in fx {
            let Effect::Emit { to, event } = e else {
                panic!("no push outside initiate: {e:?}");
            };
            assert!(!to.is_empty());
            let unique: BTreeSet<_> = to.iter().collect();
            assert_eq!(unique.len(), to.len(), "duplicate recipients in {e:?}");
            for s in to {
                assert!(
                    self.connected.contains(s) || disconnected.as_ref() == Some(s),
                    "{s} is not connected: {e:?}"
                );
            }
            let subject = match event {
                OutEvent::NewProducer(p) => Some(&p.socket_id),
                OutEvent::ParticipantLeft(p) => Some(&p.socket_id),
                OutEvent::ProducerClosed(p) => Some(&p.socket_id),
                _ => None,
            };
            if let Some(subject) = subject {
                assert!(!to.contains(subject), "{subject} told about itself: {e:?}");
            }
            if let OutEvent::GroupCallEnded(end) = event {
                assert!(self.st.room(&end.conversation_id).is_none());
            }
        }
    }

    /// The state's invariants.
    fn check(&mut self) {
        let st = &self.st;
        let stats = st.stats();
        let rooms = st.active_room_ids();
        self.reread.retain(|id| rooms.contains(id));
        assert_eq!(stats.rooms, rooms.len());
        let mut sum = Stats {
            sockets: stats.sockets,
            joined_users: stats.joined_users,
            rooms: rooms.len(),
            ..Stats::default()
        };
        for id in &rooms {
            let room = st.room(id).unwrap();
            assert_eq!(&room.id, id);
            assert!(room.participant_count() >= 1, "empty active room {id}");
            assert_eq!(st.participant_count(id), room.participant_count());
            for p in room.participants() {
                assert!(self.connected.contains(&p.socket), "{} gone", p.socket);
                assert!(st.user_of(&p.socket).is_some());
                assert_eq!(st.room_of(&p.socket), Some(id.as_str()));
                assert!(self.reread.contains(id) || room.members.contains(&p.user));
                sum.participants += 1;
                sum.transports += p.transport_count();
                sum.producers += p.producer_count();
                sum.consumers += p.consumer_count();
            }
        }
        assert_eq!(stats, sum);

        // Active calls from memory (the member index) agree with the rooms' member lists:
        // every room that lists the user is answered or left to the directory, no other
        // room is answered, and the answer keeps the rooms' order.
        for u in (0..=USERS).map(uid) {
            let answer = st.active_calls_from_memory(&u);
            let answered: Vec<String> = answer
                .calls
                .iter()
                .map(|c| c.conversation_id.clone())
                .collect();
            let listing: Vec<&String> = rooms
                .iter()
                .filter(|id| st.room_members(id).unwrap().contains(&u))
                .collect();
            for id in &answered {
                assert!(
                    listing.contains(&id),
                    "{u} answered {id}, which does not list it"
                );
                assert!(
                    !answer.unknown.contains(id),
                    "{id} both answered and unknown"
                );
            }
            for id in &listing {
                assert!(
                    answered.contains(id) || answer.unknown.contains(id),
                    "{id} lists {u} but is neither answered nor unknown"
                );
            }
            let order: Vec<&String> = listing
                .iter()
                .copied()
                .filter(|id| answered.contains(id))
                .collect();
            assert_eq!(order, answered.iter().collect::<Vec<_>>(), "room order");
        }

        assert_eq!(stats.sockets, self.connected.len());
        let mut users = BTreeSet::new();
        for i in 0..SOCKETS {
            let s = sid(i);
            if !self.connected.contains(&s) {
                assert_eq!(st.user_of(&s), None);
                assert_eq!(st.room_of(&s), None);
                continue;
            }
            if let Some(u) = st.user_of(&s) {
                assert!(st.sockets_of(u).contains(&s));
                assert!(st.is_online(u));
                users.insert(u.to_owned());
            }
            if let Some(r) = st.room_of(&s) {
                assert!(st.room(r).unwrap().participants().any(|p| p.socket == s));
            }
        }
        assert_eq!(stats.joined_users, users.len());
        for i in 0..USERS {
            for s in st.sockets_of(&uid(i)) {
                assert_eq!(st.user_of(&s), Some(uid(i).as_str()));
            }
        }

        // Every consumer the state holds was attached here; the ones still there consume a
        // producer that exists in their room, and not their own.
        self.consumers.retain(|(s, c, _)| st.consumer(s, c).is_ok());
        assert_eq!(self.consumers.len(), stats.consumers);
        for (s, _, pid) in &self.consumers {
            let owner = st.producers(s).unwrap().into_iter().find(|p| &p.id == pid);
            let owner = owner.unwrap_or_else(|| panic!("consumer of {pid} outlived it"));
            assert_ne!(&owner.socket_id, s);
        }

        // RAII: the live handles are exactly those the state holds.
        assert_eq!(
            self.t.live(),
            Live {
                routers: stats.rooms,
                transports: stats.transports,
                producers: stats.producers,
                consumers: stats.consumers,
            }
        );
    }

    fn teardown(mut self) {
        for i in 0..SOCKETS {
            let fx = self.leave(&sid(i), true);
            self.check_effects(&fx, &Cmd::Disconnect(i));
            self.check();
        }
        assert_eq!(self.st.stats(), Stats::default());
        assert!(self.st.active_room_ids().is_empty());
        // Stale results attached after everyone left are refused and dropped.
        for p in std::mem::take(&mut self.pending) {
            self.finish(p);
        }
        assert_eq!(self.st.stats(), Stats::default());
        assert_eq!(self.t.live(), Live::default());
    }
}

fn count(fx: &[Effect], name: &str) -> usize {
    fx.iter()
        .filter(|e| matches!(e, Effect::Emit { event, .. } if event.name() == name))
        .count()
}

/// Sorted recipients of each emit named `name`.
fn recipients(fx: &[Effect], name: &str) -> Vec<Vec<String>> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Emit { to, event } if event.name() == name => {
                let mut to = to.clone();
                to.sort();
                Some(to)
            }
            _ => None,
        })
        .collect()
}

fn run(cmds: &[Cmd], cov: &Coverage) {
    let mut h = Harness::new(cov);
    h.check();
    for c in cmds {
        h.step(c);
    }
    h.teardown();
}

#[test]
fn invariants_hold_over_random_command_sequences() {
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let cov = Coverage::default();
    let result = runner.run(&program(), |cmds| {
        run(&cmds, &cov);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator reaches the interesting paths.
    for (name, n) in [
        ("transports", &cov.transports),
        ("producers", &cov.producers),
        ("consumers", &cov.consumers),
        ("stale_rejected", &cov.stale_rejected),
        ("producer_gone_rejected", &cov.producer_gone_rejected),
        ("producers_closed", &cov.producers_closed),
        ("consumers_cascaded", &cov.consumers_cascaded),
        ("rooms_ended", &cov.rooms_ended),
        ("room_moves", &cov.room_moves),
        ("own_consume_refused", &cov.own_consume_refused),
    ] {
        assert!(n.get() > 0, "never reached: {name} ({cov:?})");
    }
}

/// A fixed scenario through the same harness: a full call with racing results.
#[test]
fn scripted_race_scenario() {
    use Cmd::*;
    let cov = Coverage::default();
    run(
        &[
            Join(0, 0),
            Join(1, 1),
            Join(2, 1),
            JoinRoom(0, 0),
            JoinRoom(1, 0),
            CreateTransport(0, false),
            CreateTransport(1, true),
            Produce(0, 0, false),
            Produce(0, 0, true),
            BeginConsume(1, 0, 0),
            BeginTransport(1),
            Consume(1, 1, 0),
            CloseProducer(0, 0),
            Finish(0),
            LeaveRoom(1),
            Finish(0),
            JoinRoom(1, 0),
            JoinRoom(2, 2),
            JoinRoom(0, 2),
            CloseRoom(2),
        ],
        &cov,
    );
    assert_eq!(cov.producer_gone_rejected.get(), 1);
    assert_eq!(cov.stale_rejected.get(), 1);
    assert_eq!(cov.consumers_cascaded.get(), 0);
    assert_eq!(cov.consumers.get(), 1);
}

//! [`CallState`]: presence and SFU rooms as one state machine.

use crate::call_updates::{CallUpdates, Due};
use crate::direct::{CallId, DirectCall, DirectCalls, Initiated, NewCall};
use crate::directory::{ConversationRecord, Roster};
use crate::display::DisplayPolicy;
use crate::effects::{Effect, OutEvent, PushRequest};
use crate::error::CallError;
use crate::lifecycle::{LeaveReason, Lifecycle};
use crate::media::Media;
use crate::mesh::MeshRooms;
use crate::room::{
    ConsumeTarget, ConsumerSlot, Participant, ProducerMeta, ProducerSlot, ProducerView, Room,
    TransportSlot,
};
use crate::{RoomId, SocketId, UserId};
use indexmap::{IndexMap, IndexSet};
use signal_proto::direct::{CallRejected, RejectReason, UserAvailability, UserRegistered};
use signal_proto::mesh::{MeshInvitation, SignalKind, TrackUpdate};
use signal_proto::requests::{CallType, TransportDirection};
use signal_proto::responses::{ActiveCall, ActiveCallsResponse, ProducerEntry, RoomParticipant};
use signal_proto::server_events::{
    ConsumerLayersChanged, GroupCallEnded, GroupCallIncoming, GroupCallStarted, GroupCallUpdated,
    NewProducer, ParticipantLeft, ProducerClosed, ProducerPauseChange, RemovedFromRoom,
};
use signal_proto::{ConversationInfo, ParticipantInfo};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The result of [`CallState::poll_call_updates`].
#[derive(Debug, Default)]
pub struct CallUpdatePoll {
    /// `group_call_updated` effects due now.
    pub effects: Vec<Effect>,
    /// When to poll again (a change is held back until then); `None` when nothing waits.
    pub next: Option<Instant>,
}

/// What the other nodes of a cluster know of one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePresence {
    /// Joined on some other node.
    pub online: bool,
    /// In a call on some other node.
    pub busy: bool,
    /// Its sockets on other nodes that a 1:1 call should ring (connected here as proxies).
    pub sockets: Vec<SocketId>,
}

/// An `initiate-call` request's fields.
#[derive(Debug, Clone)]
pub struct DirectInvite<'a> {
    /// The caller id the client claims (must be the joined user).
    pub claimed_caller: Option<&'a str>,
    /// The callee.
    pub target: Option<&'a str>,
    /// Display name of the caller.
    pub caller_name: Option<&'a str>,
    /// `audio` / `video`.
    pub call_type: &'a str,
    /// The SDP offer.
    pub offer: serde_json::Value,
}

/// Configurable limits of the peer-to-peer modes (mesh and 1:1 calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLimits {
    /// Most sockets in one mesh room (default 6); larger calls belong on the SFU.
    pub mesh_max_participants: usize,
    /// How long a 1:1 call may ring unanswered (default 45 s).
    pub direct_call_timeout: Duration,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            mesh_max_participants: crate::mesh::DEFAULT_MESH_MAX_PARTICIPANTS,
            direct_call_timeout: crate::direct::DEFAULT_DIRECT_CALL_TIMEOUT,
        }
    }
}

/// Object counts, for metrics and leak checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connected sockets.
    pub sockets: usize,
    /// Users with at least one joined socket.
    pub joined_users: usize,
    /// Active rooms.
    pub rooms: usize,
    /// Participants over all rooms.
    pub participants: usize,
    /// Transports.
    pub transports: usize,
    /// Producers.
    pub producers: usize,
    /// Consumers.
    pub consumers: usize,
}

#[derive(Debug, Default)]
struct SocketEntry {
    user: Option<UserId>,
    room: Option<RoomId>,
    /// Display name given with `register-user`.
    name: Option<String>,
}

/// Per-socket and per-room limits (see `docs/configuration.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Transports one participant may hold.
    pub transports_per_socket: usize,
    /// Producers one participant may hold.
    pub producers_per_socket: usize,
    /// Consumers one participant may hold.
    pub consumers_per_socket: usize,
    /// Participants in one room.
    pub participants_per_room: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            transports_per_socket: 8,
            producers_per_socket: 16,
            consumers_per_socket: 512,
            participants_per_room: 100,
        }
    }
}

/// Everything `join_room` needs once the directory and the media layer have answered.
#[derive(Debug)]
pub struct JoinRoom<M: Media> {
    /// Room (conversation) id.
    pub room_id: RoomId,
    /// The joining participant's display info.
    pub info: ParticipantInfo,
    /// The router obtained for this room (used when the room is created by this join).
    pub router: M::Router,
    /// Conversation display info.
    pub conversation: ConversationInfo,
    /// Member ids of the conversation (used when the room is created by this join).
    pub members: Vec<UserId>,
    /// The ticket taken before `members` was read as the full roster
    /// ([`CallState::roster_ticket`]); `None` when it is not one.
    pub roster: Option<crate::RosterTicket>,
}

/// Presence and group-call rooms. Pure: every method is synchronous and does no I/O.
#[derive(Debug)]
pub struct CallState<M: Media> {
    mesh: MeshRooms,
    pub(crate) direct: DirectCalls,
    sockets: HashMap<SocketId, SocketEntry>,
    pub(crate) users: HashMap<UserId, IndexSet<SocketId>>,
    pub(crate) rooms: IndexMap<RoomId, Room<M>>,
    next_epoch: u64,
    limits: Limits,
    updates: CallUpdates,
    /// Lifecycle facts of the SFU rooms not drained yet.
    pub(crate) lifecycle: Vec<Lifecycle>,
    /// Cluster mode: user-addressed events also produce [`Effect::Relay`].
    relay: bool,
    /// Cluster mode: proxy sockets (other nodes' sockets in calls homed here) per user.
    proxy_users: HashMap<UserId, IndexSet<SocketId>>,
    /// The membership feed that keeps the rooms' rosters true (see `rosters`).
    pub(crate) feed: crate::rosters::Feed,
    /// Which rooms list which user among their `members`.
    pub(crate) member_index: crate::member_index::MemberIndex,
}

impl<M: Media> Default for CallState<M> {
    fn default() -> Self {
        Self {
            mesh: MeshRooms::default(),
            direct: DirectCalls::default(),
            sockets: HashMap::new(),
            users: HashMap::new(),
            rooms: IndexMap::new(),
            next_epoch: 1,
            limits: Limits::default(),
            updates: CallUpdates::default(),
            lifecycle: Vec::new(),
            relay: false,
            proxy_users: HashMap::new(),
            feed: crate::rosters::Feed::default(),
            member_index: crate::member_index::MemberIndex::default(),
        }
    }
}

impl<M: Media> CallState<M> {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty state with these limits.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Set the minimum time between two `group_call_updated` of one conversation (builder
    /// style; call on a new state).
    pub fn with_call_update_interval(mut self, interval: Duration) -> Self {
        self.updates = CallUpdates::new(interval);
        self
    }

    /// Cluster mode (builder style): every event addressed to users (`group_call_*`, mesh
    /// invitations) also yields an [`Effect::Relay`] for their sockets on other nodes.
    pub fn with_relay(mut self, relay: bool) -> Self {
        self.relay = relay;
        self
    }

    /// `event` to every socket of `users`: this node's sockets now, the other nodes' through
    /// a relay in cluster mode.
    pub(crate) fn emit_to_users<'a>(
        &self,
        users: impl IntoIterator<Item = &'a UserId> + Clone,
        event: OutEvent,
    ) -> Vec<Effect> {
        let to = self.sockets_of_all(users.clone());
        if !self.relay {
            return Effect::emit(to, event).into_iter().collect();
        }
        let mut users: Vec<UserId> = users.into_iter().cloned().collect();
        users.sort();
        users.dedup();
        let mut effects: Vec<Effect> = Effect::emit(to, event.clone()).into_iter().collect();
        if !users.is_empty() {
            effects.push(Effect::Relay { users, event });
        }
        effects
    }

    /// Cluster mode, on a room's home node: a socket of another node that takes part in a room
    /// of this node. It acts as `user` but is not part of this node's presence (events to
    /// users reach it through its own node's relay, never twice).
    pub fn connect_proxy(&mut self, socket: &str, user: &str) {
        let entry = self.sockets.entry(socket.to_owned()).or_default();
        entry.user = Some(user.to_owned());
        self.proxy_users
            .entry(user.to_owned())
            .or_default()
            .insert(socket.to_owned());
    }

    /// Whether `socket` takes part in an SFU room, a mesh room or a 1:1 call.
    pub fn socket_engaged(&self, socket: &str) -> bool {
        self.room_of(socket).is_some()
            || self.mesh.room_of(socket).is_some()
            || self
                .user_of(socket)
                .and_then(|u| self.direct.call_of(u))
                .is_some_and(|c| c.involves_socket(socket))
    }

    // ----- presence -------------------------------------------------------------------------

    /// A socket connected.
    pub fn connect(&mut self, socket: &str) {
        self.sockets.entry(socket.to_owned()).or_default();
    }

    /// `join(userId)`: bind the socket to a user (re-binding moves it).
    pub fn join(&mut self, socket: &str, user: &str) {
        let entry = self.sockets.entry(socket.to_owned()).or_default();
        if entry.user.as_deref() == Some(user) {
            return;
        }
        let previous = entry.user.replace(user.to_owned());
        if let Some(prev) = previous {
            self.unbind_user(socket, &prev);
        }
        self.users
            .entry(user.to_owned())
            .or_default()
            .insert(socket.to_owned());
    }

    fn unbind_user(&mut self, socket: &str, user: &str) {
        if let Some(set) = self.users.get_mut(user) {
            set.shift_remove(socket);
            if set.is_empty() {
                self.users.remove(user);
            }
        }
    }

    /// The user joined on `socket`.
    pub fn user_of(&self, socket: &str) -> Option<&str> {
        self.sockets.get(socket)?.user.as_deref()
    }

    /// All sockets of `user`.
    pub fn sockets_of(&self, user: &str) -> Vec<SocketId> {
        self.users
            .get(user)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `user` has a connected, joined socket.
    pub fn is_online(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    pub(crate) fn sockets_of_all<'a>(
        &self,
        users: impl IntoIterator<Item = &'a UserId>,
    ) -> Vec<SocketId> {
        users
            .into_iter()
            .flat_map(|u| self.users.get(u).into_iter().flatten().cloned())
            .collect()
    }

    /// A socket disconnected: end its 1:1 call, leave its mesh and SFU rooms, forget it.
    pub fn disconnect(&mut self, socket: &str) -> Vec<Effect> {
        // Forget the user binding first so that the closed socket is not addressed.
        let mut effects = Vec::new();
        if let Some(user) = self.sockets.get_mut(socket).and_then(|e| e.user.take()) {
            self.unbind_user(socket, &user);
            if let Some(set) = self.proxy_users.get_mut(&user) {
                set.shift_remove(socket);
                if set.is_empty() {
                    self.proxy_users.remove(&user);
                }
            }
            effects.extend(self.direct.disconnect(socket, &user));
        }
        effects.extend(self.mesh.leave_any(socket));
        effects.extend(self.leave_room_because(socket, LeaveReason::Disconnected));
        self.sockets.remove(socket);
        effects
    }

    /// Set the peer-to-peer limits (builder style; call on a new state).
    pub fn with_peer_limits(mut self, limits: PeerLimits) -> Self {
        self.mesh = MeshRooms::new(limits.mesh_max_participants);
        self.direct = DirectCalls::new(limits.direct_call_timeout);
        self
    }

    /// `register-user {userId, userName}` (1:1 flow): bind the socket like `join`, remember the
    /// display name; the `user-registered` response.
    pub fn register_user(&mut self, socket: &str, user: &str, name: Option<&str>) -> OutEvent {
        self.join(socket, user);
        if let Some(entry) = self.sockets.get_mut(socket) {
            entry.name = name
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
        }
        OutEvent::UserRegistered(UserRegistered {
            user_id: user.to_owned(),
            socket_id: socket.to_owned(),
            success: true,
        })
    }

    /// Whether `user` takes part in any call: a 1:1 call (ringing or answered), a mesh room or
    /// an SFU room (from any of its sockets).
    pub fn in_call(&self, user: &str) -> bool {
        if self.direct.call_of(user).is_some() {
            return true;
        }
        let engaged = |sockets: &IndexSet<SocketId>| {
            sockets.iter().any(|s| {
                self.mesh.room_of(s).is_some()
                    || self.sockets.get(s).is_some_and(|e| e.room.is_some())
            })
        };
        self.users.get(user).is_some_and(engaged) || self.proxy_users.get(user).is_some_and(engaged)
    }

    /// Online (a joined socket) and not in any call.
    pub fn is_available(&self, user: &str) -> bool {
        self.is_online(user) && !self.in_call(user)
    }

    /// `check-user-availability`: the `user-availability-response` for a joined socket.
    pub fn availability(&self, socket: &str, target: Option<&str>) -> Result<OutEvent, CallError> {
        self.availability_with(socket, target, &RemotePresence::default())
    }

    /// [`CallState::availability`] with what the other nodes know of the target (cluster
    /// mode): available when online on some node and busy on none.
    pub fn availability_with(
        &self,
        socket: &str,
        target: Option<&str>,
        remote: &RemotePresence,
    ) -> Result<OutEvent, CallError> {
        let target = target.ok_or(CallError::TargetRequired)?;
        self.user_of(socket).ok_or(CallError::JoinFirst)?;
        let online = self.is_online(target) || remote.online;
        let busy = self.in_call(target) || remote.busy;
        Ok(OutEvent::UserAvailability(UserAvailability {
            target_user_id: target.to_owned(),
            is_available: online && !busy,
        }))
    }

    // ----- 1:1 calls ------------------------------------------------------------------------

    /// `initiate-call`: idle → calling. Errors for a socket that is not registered, a claimed
    /// caller that is not the registered user, no target, calling oneself, or a caller already
    /// in a call; [`Initiated::Refused`] (with `call-rejected` to the caller) for a busy or
    /// offline callee.
    pub fn initiate_call(
        &mut self,
        socket: &str,
        claimed_caller: Option<&str>,
        target: Option<&str>,
        caller_name: Option<&str>,
        call_type: &str,
        offer: serde_json::Value,
    ) -> Result<Initiated, CallError> {
        let call = DirectInvite {
            claimed_caller,
            target,
            caller_name,
            call_type,
            offer,
        };
        self.initiate_call_with(socket, call, &RemotePresence::default(), false)
    }

    /// [`CallState::initiate_call`] in cluster mode: `callee` is what the other nodes know of
    /// the callee (its sockets there, connected here as proxies with
    /// [`CallState::connect_proxy`], ring too), `caller_busy` whether the caller is in a call
    /// on another node.
    pub fn initiate_call_with(
        &mut self,
        socket: &str,
        call: DirectInvite<'_>,
        callee_remote: &RemotePresence,
        caller_busy: bool,
    ) -> Result<Initiated, CallError> {
        let DirectInvite {
            claimed_caller,
            target,
            caller_name,
            call_type,
            offer,
        } = call;
        let caller = self.user_of(socket).ok_or(CallError::JoinFirst)?.to_owned();
        if claimed_caller.is_some_and(|c| c != caller) {
            return Err(CallError::CallerMismatch);
        }
        let callee = target.ok_or(CallError::TargetRequired)?.to_owned();
        if callee == caller {
            return Err(CallError::CallSelf);
        }
        if self.in_call(&caller) || caller_busy {
            return Err(CallError::AlreadyInCall);
        }
        let refused = if !self.is_online(&callee) && callee_remote.sockets.is_empty() {
            Some((CallError::UserUnavailable, RejectReason::Unavailable))
        } else if self.in_call(&callee) || callee_remote.busy {
            Some((CallError::UserBusy, RejectReason::Busy))
        } else {
            None
        };
        if let Some((error, reason)) = refused {
            let effects = Effect::emit(
                vec![socket.to_owned()],
                OutEvent::CallRejected(CallRejected {
                    call_id: None,
                    from: callee,
                    reason,
                }),
            )
            .into_iter()
            .collect();
            return Ok(Initiated::Refused { error, effects });
        }
        let caller_name = caller_name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .or_else(|| self.sockets.get(socket).and_then(|e| e.name.clone()))
            .unwrap_or_else(|| format!("User {caller}"));
        let mut callee_sockets = self.sockets_of(&callee);
        callee_sockets.extend(callee_remote.sockets.iter().cloned());
        let (call_id, effects, timeout) = self.direct.start(NewCall {
            caller,
            caller_socket: socket.to_owned(),
            caller_name,
            callee,
            callee_sockets,
            call_type: call_type.to_owned(),
            offer,
        });
        Ok(Initiated::Ringing {
            call_id,
            effects,
            timeout,
        })
    }

    fn registered(&self, socket: &str) -> Result<UserId, CallError> {
        self.user_of(socket)
            .map(str::to_owned)
            .ok_or(CallError::JoinFirst)
    }

    /// `call-accepted` from one of the callee's ringing sockets: calling → in progress.
    pub fn accept_call(
        &mut self,
        socket: &str,
        target: Option<&str>,
        call_id: Option<&str>,
        answer: serde_json::Value,
    ) -> Result<Vec<Effect>, CallError> {
        let user = self.registered(socket)?;
        self.direct.accept(socket, &user, target, call_id, answer)
    }

    /// `call-rejected` from one of the callee's ringing sockets: calling → ended.
    pub fn reject_call(
        &mut self,
        socket: &str,
        target: Option<&str>,
        call_id: Option<&str>,
    ) -> Result<Vec<Effect>, CallError> {
        let user = self.registered(socket)?;
        self.direct.reject(socket, &user, target, call_id)
    }

    /// `call-ended` from a party socket: cancel, decline or hang up → ended.
    pub fn end_call(
        &mut self,
        socket: &str,
        target: Option<&str>,
        call_id: Option<&str>,
    ) -> Result<Vec<Effect>, CallError> {
        let user = self.registered(socket)?;
        self.direct.hang_up(socket, &user, target, call_id)
    }

    /// `ice-candidate` from a party socket, to the other party of that call only.
    pub fn relay_call_candidate(
        &self,
        socket: &str,
        target: Option<&str>,
        call_id: Option<&str>,
        candidate: serde_json::Value,
    ) -> Result<Vec<Effect>, CallError> {
        let user = self.registered(socket)?;
        self.direct
            .relay_candidate(socket, &user, target, call_id, candidate)
    }

    /// The ring timeout of call `id` fired: `call-ended {timeout}` to both parties if it still
    /// rings, nothing otherwise.
    pub fn expire_direct_call(&mut self, id: CallId) -> Vec<Effect> {
        self.direct.expire(id)
    }

    /// The 1:1 call `id`, if it exists.
    pub fn direct_call(&self, id: CallId) -> Option<&DirectCall> {
        self.direct.call(id)
    }

    /// The 1:1 call `user` is in, if any.
    pub fn direct_call_of(&self, user: &str) -> Option<&DirectCall> {
        self.direct.call_of(user)
    }

    /// All 1:1 calls.
    pub fn direct_calls(&self) -> &DirectCalls {
        &self.direct
    }

    // ----- mesh rooms -----------------------------------------------------------------------

    /// All mesh rooms.
    pub fn mesh(&self) -> &MeshRooms {
        &self.mesh
    }

    /// Check a `groupcall:join` before touching the directory: room id given, socket joined,
    /// room not full (unless the socket is in it already). Returns the user.
    pub fn check_mesh_join(
        &self,
        socket: &str,
        room_id: Option<&str>,
    ) -> Result<UserId, CallError> {
        let room_id = room_id
            .filter(|r| !r.is_empty())
            .ok_or(CallError::RoomIdRequired)?;
        let user = self.registered(socket)?;
        let count = self
            .mesh
            .room(room_id)
            .map_or(0, crate::mesh::MeshRoom::participant_count);
        if self.mesh.room_of(socket) != Some(room_id) && count >= self.mesh.max_participants() {
            return Err(CallError::MeshRoomFull(self.mesh.max_participants()));
        }
        Ok(user)
    }

    /// `groupcall:join` once membership is confirmed: the joiner's view (`groupcall:joined`)
    /// and `groupcall:participant-joined` to the others.
    pub fn mesh_join(
        &mut self,
        socket: &str,
        room_id: &str,
        info: ParticipantInfo,
        tracks: TrackUpdate,
    ) -> Result<(OutEvent, Vec<Effect>), CallError> {
        let user = self.registered(socket)?;
        self.mesh.join(socket, &user, room_id, info, tracks)
    }

    /// `groupcall:leave`.
    pub fn mesh_leave(
        &mut self,
        socket: &str,
        room_id: Option<&str>,
    ) -> Result<Vec<Effect>, CallError> {
        self.mesh.leave(socket, room_id)
    }

    /// `groupcall:webrtc-*`: relay between participants of the same mesh room only.
    pub fn mesh_relay(
        &self,
        socket: &str,
        room_id: Option<&str>,
        target_user: Option<&str>,
        target_socket: Option<&str>,
        kind: SignalKind,
        blob: serde_json::Value,
    ) -> Result<Vec<Effect>, CallError> {
        let target = target_user.ok_or(CallError::TargetRequired)?;
        self.mesh
            .relay(socket, room_id, target, target_socket, kind, blob)
    }

    /// `groupcall:update-tracks`.
    pub fn mesh_update_tracks(
        &mut self,
        socket: &str,
        room_id: Option<&str>,
        update: TrackUpdate,
    ) -> Result<Vec<Effect>, CallError> {
        self.mesh.update_tracks(socket, room_id, update)
    }

    /// `groupcall:invitation`: ring members of the conversation (only `targets` when given)
    /// except the inviter and users already in the mesh room, on all their sockets. The inviter
    /// must be a member. Returns the number of users rung and the effects.
    pub fn mesh_invite(
        &self,
        socket: &str,
        roster: &Roster,
        call_type: &str,
        targets: Option<&[String]>,
        display: &DisplayPolicy,
    ) -> Result<(usize, Vec<Effect>), CallError> {
        let inviter = self.registered(socket)?;
        let record = roster.member(&inviter).ok_or(CallError::NotInGroup)?;
        let room_id = roster.conversation.id.clone();
        let room = self.mesh.room(&room_id);
        let invited: Vec<&UserId> = roster
            .members
            .iter()
            .map(|m| &m.id)
            .filter(|id| **id != inviter)
            .filter(|id| targets.is_none_or(|t| t.contains(id)))
            .filter(|id| !room.is_some_and(|r| r.has_user(id)))
            .collect();
        let count = invited.len();
        let effects = self.emit_to_users(
            invited.iter().copied(),
            OutEvent::MeshInvitation(MeshInvitation {
                room_id: room_id.clone(),
                conversation_id: room_id,
                caller_id: inviter.clone(),
                call_type: call_type.to_owned(),
                mode: "mesh".to_owned(),
                caller_info: display.caller_info(record),
                conversation_info: display.conversation_info(&roster.conversation),
            }),
        );
        Ok((count, effects))
    }

    // ----- active calls ---------------------------------------------------------------------

    /// Ids of rooms with participants (memory only).
    pub fn active_room_ids(&self) -> Vec<RoomId> {
        self.rooms.keys().cloned().collect()
    }

    /// Participants in room `id` (0 when not active).
    pub fn participant_count(&self, id: &str) -> usize {
        self.rooms.get(id).map_or(0, Room::participant_count)
    }

    /// Build active-call entries from the directory's answer, with counts from memory. Rooms
    /// that ended meanwhile are left out.
    pub fn active_calls(
        &self,
        records: &[ConversationRecord],
        display: &DisplayPolicy,
    ) -> Vec<ActiveCall> {
        records
            .iter()
            .filter_map(|c| {
                let room = self.rooms.get(&c.id)?;
                Some(room.active_call(display.conversation_info(c)))
            })
            .collect()
    }

    /// The `active_group_calls` effect for `socket`, or nothing when `calls` is empty.
    pub fn active_calls_event(&self, socket: &str, calls: Vec<ActiveCall>) -> Option<Effect> {
        if calls.is_empty() {
            return None;
        }
        Effect::emit(
            vec![socket.to_owned()],
            OutEvent::ActiveGroupCalls(ActiveCallsResponse { calls }),
        )
    }

    // ----- group_call_initiate --------------------------------------------------------------

    /// Check a `group_call_initiate` before touching the directory; returns the caller id.
    pub fn check_initiate(
        &self,
        socket: &str,
        caller_id: Option<&str>,
    ) -> Result<UserId, CallError> {
        let caller = caller_id
            .filter(|c| !c.is_empty())
            .ok_or(CallError::InvalidCallerId)?;
        let joined = self.user_of(socket).ok_or(CallError::JoinFirst)?;
        if joined != caller {
            return Err(CallError::CallerMismatch);
        }
        Ok(caller.to_owned())
    }

    /// Ring a conversation: `group_call_incoming` to other online members, a push request for
    /// the other members, `group_call_started` (with `callerInfo`) to every member's sockets.
    pub fn initiate(
        &self,
        caller: &str,
        call_type: CallType,
        roster: &Roster,
        display: &DisplayPolicy,
    ) -> Result<Vec<Effect>, CallError> {
        let caller_record = roster.member(caller).ok_or(CallError::NotInGroup)?;
        let caller_info = display.caller_info(caller_record);
        let conversation_info = display.conversation_info(&roster.conversation);
        let conversation_id = roster.conversation.id.clone();
        let others: Vec<_> = roster.members.iter().filter(|m| m.id != caller).collect();
        let mut effects = Vec::new();
        effects.extend(self.emit_to_users(
            others.iter().map(|m| &m.id),
            OutEvent::GroupCallIncoming(GroupCallIncoming {
                caller_id: caller.to_owned(),
                conversation_id: conversation_id.clone(),
                call_type: call_type.as_str().to_owned(),
                caller_info: caller_info.clone(),
                conversation_info: conversation_info.clone(),
            }),
        ));
        let recipients: Vec<_> = others
            .iter()
            .filter(|m| !m.fcm_tokens.is_empty())
            .map(|m| (*m).clone())
            .collect();
        if !recipients.is_empty() {
            effects.push(Effect::Push(PushRequest {
                recipients,
                caller_id: caller.to_owned(),
                call_type: call_type.as_str().to_owned(),
                conversation_id: conversation_id.clone(),
                caller_info: caller_info.clone(),
                conversation_info: conversation_info.clone(),
            }));
        }
        effects.extend(self.emit_to_users(
            roster.members.iter().map(|m| &m.id),
            OutEvent::GroupCallStarted(GroupCallStarted {
                conversation_id,
                conversation_info,
                caller_info: Some(caller_info),
            }),
        ));
        Ok(effects)
    }

    // ----- createRoom / leaveRoom -----------------------------------------------------------

    /// Check a `createRoom` before touching the directory; returns `(user, room active?)`.
    pub fn check_join_room(
        &self,
        socket: &str,
        room_id: Option<&str>,
    ) -> Result<(UserId, bool), CallError> {
        let room_id = room_id
            .filter(|r| !r.is_empty())
            .ok_or(CallError::RoomIdRequired)?;
        let user = self.user_of(socket).ok_or(CallError::JoinFirst)?;
        Ok((user.to_owned(), self.rooms.contains_key(room_id)))
    }

    /// Members of an active room (cached when it was created).
    pub fn room_members(&self, room_id: &str) -> Option<&[UserId]> {
        self.rooms.get(room_id).map(|r| r.members.as_slice())
    }

    /// Put the socket into a room (creating it, which announces `group_call_started` to all
    /// members). A socket in another room leaves that one first; a socket already in this
    /// room stays as it is. Returns the room's router and the effects.
    pub fn join_room(
        &mut self,
        socket: &str,
        join: JoinRoom<M>,
    ) -> Result<(M::Router, Vec<Effect>), CallError> {
        let user = self.user_of(socket).ok_or(CallError::JoinFirst)?.to_owned();
        let mut effects = Vec::new();
        let current = self.sockets.get(socket).and_then(|e| e.room.clone());
        if current.as_deref() != Some(join.room_id.as_str())
            && let Some(room) = self.rooms.get(&join.room_id)
            && room.participants.len() >= self.limits.participants_per_room
        {
            return Err(CallError::Limit(format!(
                "Room is full ({} participants)",
                self.limits.participants_per_room
            )));
        }
        if let Some(current) = current {
            if current == join.room_id
                && let Some(room) = self.rooms.get(&current)
            {
                return Ok((room.router.clone(), effects));
            }
            effects.extend(self.leave_room_because(socket, LeaveReason::Moved));
        }
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        let participant = Participant::new(socket.to_owned(), user.clone(), join.info, epoch);
        let room = match self.rooms.get_mut(&join.room_id) {
            Some(room) => {
                if !room.members.contains(&user) {
                    room.members.push(user.clone());
                    self.member_index.add(&join.room_id, &user);
                }
                room
            }
            None => {
                let mut members = join.members;
                if !members.contains(&user) {
                    members.push(user.clone());
                }
                effects.extend(self.emit_to_users(
                    members.iter(),
                    OutEvent::GroupCallStarted(GroupCallStarted {
                        conversation_id: join.room_id.clone(),
                        conversation_info: join.conversation.clone(),
                        caller_info: None,
                    }),
                ));
                self.lifecycle.push(Lifecycle::CallStarted {
                    conversation_id: join.room_id.clone(),
                    started_by: user.clone(),
                });
                let roster = self.new_room_roster(&join.room_id, join.roster);
                self.member_index.replace(&join.room_id, &[], &members);
                self.rooms.entry(join.room_id.clone()).or_insert(Room {
                    roster,
                    id: join.room_id.clone(),
                    router: join.router,
                    conversation: join.conversation,
                    members,
                    participants: IndexMap::new(),
                    took_part: IndexSet::new(),
                    active_speaker: None,
                    recording: None,
                })
            }
        };
        let created = room.participants.is_empty();
        room.took_part.insert(user.clone());
        room.participants.insert(socket.to_owned(), participant);
        self.lifecycle.push(Lifecycle::ParticipantJoined {
            conversation_id: join.room_id.clone(),
            user_id: user,
            socket_id: socket.to_owned(),
        });
        let router = room.router.clone();
        if created {
            let announced = room.announced();
            self.updates.started(&join.room_id, announced);
        } else {
            self.updates.changed(&join.room_id);
        }
        if let Some(entry) = self.sockets.get_mut(socket) {
            entry.room = Some(join.room_id);
        }
        Ok((router, effects))
    }

    /// A participant's media transport failed and did not recover: if `transport` still
    /// belongs to the participant that joined as `epoch`, remove it as `leaveRoom` would and
    /// tell the socket (`removedFromRoom`). Otherwise (it left, rejoined, or the transport is
    /// gone) nothing changes.
    pub fn remove_failed_participant(
        &mut self,
        socket: &str,
        epoch: u64,
        transport: &str,
    ) -> Vec<Effect> {
        let Ok((room, _)) = self.participant_mut(socket, epoch) else {
            return Vec::new();
        };
        let room_id = room.id.clone();
        let owns = room
            .participants
            .get(socket)
            .is_some_and(|p| p.transports.contains_key(transport));
        if !owns {
            return Vec::new();
        }
        self.remove_for_failed_transport(socket, room_id)
    }

    /// A participant whose media lives on another node (a proxy of a room spanning nodes)
    /// lost its transport there: remove it as [`CallState::remove_failed_participant`] does.
    /// Nothing changes when the socket is in no room.
    pub fn remove_failed_remote_participant(&mut self, socket: &str) -> Vec<Effect> {
        let Some(room_id) = self.room_of(socket).map(str::to_owned) else {
            return Vec::new();
        };
        self.remove_for_failed_transport(socket, room_id)
    }

    fn remove_for_failed_transport(&mut self, socket: &str, room_id: RoomId) -> Vec<Effect> {
        let mut effects: Vec<Effect> = Effect::emit(
            vec![socket.to_owned()],
            OutEvent::RemovedFromRoom(RemovedFromRoom {
                room_id,
                reason: RemovedFromRoom::TRANSPORT_FAILED.to_owned(),
            }),
        )
        .into_iter()
        .collect();
        effects.extend(self.leave_room_because(socket, LeaveReason::TransportFailed));
        effects
    }

    /// `leaveRoom`: remove the participant (dropping its media), `participantLeft` to the
    /// rest of the room, and when the room empties `group_call_ended` to all members.
    pub fn leave_room(&mut self, socket: &str) -> Vec<Effect> {
        self.leave_room_because(socket, LeaveReason::Left)
    }

    /// [`CallState::leave_room`] for a given reason (recorded in the lifecycle facts).
    pub fn leave_room_because(&mut self, socket: &str, reason: LeaveReason) -> Vec<Effect> {
        let Some(room_id) = self.sockets.get_mut(socket).and_then(|e| e.room.take()) else {
            return Vec::new();
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return Vec::new();
        };
        let Some(gone) = room.participants.shift_remove(socket) else {
            return Vec::new();
        };
        for other in room.participants.values_mut() {
            other
                .consumers
                .retain(|_, c| !gone.producers.contains_key(&c.producer_id));
        }
        self.lifecycle.push(Lifecycle::ParticipantLeft {
            conversation_id: room_id.clone(),
            user_id: gone.user.clone(),
            socket_id: socket.to_owned(),
            reason,
        });
        drop(gone);
        let mut effects = Vec::new();
        let rest: Vec<_> = room.participants.keys().cloned().collect();
        effects.extend(Effect::emit(
            rest,
            OutEvent::ParticipantLeft(ParticipantLeft {
                socket_id: socket.to_owned(),
            }),
        ));
        if !room.participants.is_empty() {
            self.updates.changed(&room_id);
        } else if let Some(room) = self.rooms.shift_remove(&room_id) {
            self.member_index.replace(&room_id, &room.members, &[]);
            self.updates.ended(&room_id);
            self.lifecycle.push(Lifecycle::CallEnded {
                conversation_id: room_id.clone(),
                participants: room.took_part.iter().cloned().collect(),
            });
            effects.extend(self.emit_to_users(
                room.members.iter(),
                OutEvent::GroupCallEnded(GroupCallEnded {
                    conversation_id: room_id,
                }),
            ));
        }
        effects
    }

    /// Close one room at shutdown: `participantLeft` and `group_call_ended` as if every
    /// participant had left.
    pub fn close_room(&mut self, room_id: &str) -> Vec<Effect> {
        self.close_room_because(room_id, LeaveReason::Shutdown)
    }

    /// [`CallState::close_room`] for a given reason (worker death, an operator ending it).
    pub fn close_room_because(&mut self, room_id: &str, reason: LeaveReason) -> Vec<Effect> {
        let sockets: Vec<_> = self
            .rooms
            .get(room_id)
            .map(|r| r.participants.keys().cloned().collect())
            .unwrap_or_default();
        sockets
            .iter()
            .flat_map(|s| self.leave_room_because(s, reason))
            .collect()
    }

    /// Cluster mode: this node is no longer the room's home (its claim was taken over while it
    /// was cut off). Its copy goes without announcing an end, because the call goes on at the
    /// new home: each participant here gets `removedFromRoom {reason: "home_node_lost"}` (and
    /// may `createRoom` again), nobody gets `participantLeft` or `group_call_ended`.
    pub fn drop_room_copy(&mut self, room_id: &str) -> Vec<Effect> {
        let sockets: Vec<SocketId> = self
            .rooms
            .get(room_id)
            .map(|r| r.participants.keys().cloned().collect())
            .unwrap_or_default();
        let mut effects = self.close_room_because(room_id, LeaveReason::HomeLost);
        effects.retain(|e| {
            let event = match e {
                Effect::Emit { event, .. } | Effect::Relay { event, .. } => event,
                Effect::Push(_) => return true,
            };
            !matches!(
                event,
                OutEvent::GroupCallEnded(_)
                    | OutEvent::ParticipantLeft(_)
                    | OutEvent::GroupCallUpdated(_)
            )
        });
        effects.extend(Effect::emit(
            sockets,
            OutEvent::RemovedFromRoom(RemovedFromRoom {
                room_id: room_id.to_owned(),
                reason: RemovedFromRoom::HOME_NODE_LOST.to_owned(),
            }),
        ));
        effects
    }

    // ----- group_call_updated ---------------------------------------------------------------

    /// Whether a `group_call_updated` waits (cheap: the I/O layer checks it after each event).
    pub fn call_updates_pending(&self) -> bool {
        !self.updates.is_idle()
    }

    /// The `group_call_updated` events due at `now` (to every member's sockets, from the
    /// room's cached member list: no directory query), and when to poll again.
    pub fn poll_call_updates(&mut self, now: Instant) -> CallUpdatePoll {
        let mut poll = CallUpdatePoll::default();
        for room_id in self.updates.dirty() {
            let Some(room) = self.rooms.get(&room_id) else {
                self.updates.ended(&room_id);
                continue;
            };
            match self.updates.decide(&room_id, &room.announced(), now) {
                Due::Send => {
                    poll.effects.extend(self.emit_to_users(
                        room.members.iter(),
                        OutEvent::GroupCallUpdated(GroupCallUpdated {
                            conversation_id: room_id,
                            participant_count: room.participant_count(),
                            participants: room.listed_participants(),
                        }),
                    ));
                }
                Due::Unchanged => {}
                Due::Later(at) => poll.next = Some(poll.next.map_or(at, |n| n.min(at))),
            }
        }
        poll
    }

    // ----- media ----------------------------------------------------------------------------

    pub(crate) fn participant(
        &self,
        socket: &str,
    ) -> Result<(&Room<M>, &Participant<M>), CallError> {
        let room_id = self
            .sockets
            .get(socket)
            .and_then(|e| e.room.as_ref())
            .ok_or(CallError::ParticipantNotFound)?;
        let room = self
            .rooms
            .get(room_id)
            .ok_or(CallError::ParticipantNotFound)?;
        let p = room
            .participants
            .get(socket)
            .ok_or(CallError::ParticipantNotFound)?;
        Ok((room, p))
    }

    pub(crate) fn participant_mut(
        &mut self,
        socket: &str,
        epoch: u64,
    ) -> Result<(&mut Room<M>, SocketId), CallError> {
        let room_id = self
            .sockets
            .get(socket)
            .and_then(|e| e.room.as_ref())
            .ok_or(CallError::ParticipantNotFound)?;
        let room = self
            .rooms
            .get_mut(room_id)
            .ok_or(CallError::ParticipantNotFound)?;
        match room.participants.get(socket) {
            Some(p) if p.epoch == epoch => Ok((room, socket.to_owned())),
            _ => Err(CallError::ParticipantNotFound),
        }
    }

    /// The router and epoch for a new transport (`createTransport`).
    pub fn transport_target(&self, socket: &str) -> Result<(M::Router, u64), CallError> {
        let (room, p) = self.participant(socket)?;
        if p.transports.len() >= self.limits.transports_per_socket {
            return Err(CallError::Limit(format!(
                "Too many transports (limit {})",
                self.limits.transports_per_socket
            )));
        }
        Ok((room.router.clone(), p.epoch))
    }

    /// Attach a created transport. Fails (dropping it) if the participant left meanwhile.
    pub fn add_transport(
        &mut self,
        socket: &str,
        epoch: u64,
        id: String,
        direction: TransportDirection,
        handle: M::Transport,
    ) -> Result<(), CallError> {
        let (room, socket) = self.participant_mut(socket, epoch)?;
        if let Some(p) = room.participants.get_mut(&socket) {
            p.transports.insert(id, TransportSlot { direction, handle });
        }
        Ok(())
    }

    /// The transport and epoch for a new producer (`produce`), within the producer limit.
    pub fn produce_target(&self, socket: &str, id: &str) -> Result<(M::Transport, u64), CallError> {
        let (_, p) = self.participant(socket)?;
        let t = p.transports.get(id).ok_or(CallError::TransportNotFound)?;
        if p.producers.len() >= self.limits.producers_per_socket {
            return Err(CallError::Limit(format!(
                "Too many producers (limit {})",
                self.limits.producers_per_socket
            )));
        }
        Ok((t.handle.clone(), p.epoch))
    }

    /// The epoch for a producer whose media lives on another node (a proxy participant of a
    /// room spanning nodes: its transports are on its own node, its producer here is the
    /// pipe's copy), within the producer limit.
    pub fn remote_produce_target(&self, socket: &str) -> Result<u64, CallError> {
        let (_, p) = self.participant(socket)?;
        if p.producers.len() >= self.limits.producers_per_socket {
            return Err(CallError::Limit(format!(
                "Too many producers (limit {})",
                self.limits.producers_per_socket
            )));
        }
        Ok(p.epoch)
    }

    /// The per-socket and per-room limits (also applied to media kept outside this state,
    /// on the socket's own node of a room spanning nodes).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The socket owning producer `producer_id` in room `room_id`.
    pub fn producer_owner(&self, room_id: &str, producer_id: &str) -> Option<SocketId> {
        let room = self.rooms.get(room_id)?;
        room.producer_owner(producer_id)
            .map(|(socket, _)| socket.to_owned())
    }

    /// A transport of the socket (`connectTransport`, `restartIce`) and the epoch.
    pub fn transport(&self, socket: &str, id: &str) -> Result<(M::Transport, u64), CallError> {
        let (_, p) = self.participant(socket)?;
        let t = p.transports.get(id).ok_or(CallError::TransportNotFound)?;
        Ok((t.handle.clone(), p.epoch))
    }

    /// Attach a created producer with the default source for its kind and no application
    /// data, and announce it (`newProducer`) to the rest of the room.
    pub fn add_producer(
        &mut self,
        socket: &str,
        epoch: u64,
        id: String,
        kind: String,
        handle: M::Producer,
    ) -> Result<Vec<Effect>, CallError> {
        let meta = ProducerMeta::default_for(&kind);
        self.add_producer_with(socket, epoch, id, kind, meta, handle)
    }

    /// Attach a created producer described by `meta` (from `produce`'s `appData`) and
    /// announce it (`newProducer`, not paused) to the rest of the room.
    pub fn add_producer_with(
        &mut self,
        socket: &str,
        epoch: u64,
        id: String,
        kind: String,
        meta: ProducerMeta,
        handle: M::Producer,
    ) -> Result<Vec<Effect>, CallError> {
        let (room, socket) = self.participant_mut(socket, epoch)?;
        let Some(p) = room.participants.get_mut(&socket) else {
            return Err(CallError::ParticipantNotFound);
        };
        let (source, app_data) = (meta.source, meta.app_data.clone());
        p.producers.insert(
            id.clone(),
            ProducerSlot {
                kind: kind.clone(),
                handle,
                paused: false,
                meta,
            },
        );
        let info = p.info.clone();
        let rest: Vec<_> = room
            .participants
            .keys()
            .filter(|s| **s != socket)
            .cloned()
            .collect();
        Ok(Effect::emit(
            rest,
            OutEvent::NewProducer(NewProducer {
                producer_id: id,
                kind,
                socket_id: socket,
                participant_info: info,
                paused: false,
                source,
                app_data,
            }),
        )
        .into_iter()
        .collect())
    }

    /// Close one of the socket's producers: consumers of it go, `producerClosed` to the room.
    pub fn close_producer(&mut self, socket: &str, id: &str) -> Result<Vec<Effect>, CallError> {
        let epoch = self.participant(socket)?.1.epoch;
        let (room, socket) = self.participant_mut(socket, epoch)?;
        let removed = room
            .participants
            .get_mut(&socket)
            .and_then(|p| p.producers.shift_remove(id));
        if removed.is_none() {
            return Err(CallError::ProducerNotFound);
        }
        for other in room.participants.values_mut() {
            other.consumers.retain(|_, c| c.producer_id != id);
        }
        let rest: Vec<_> = room
            .participants
            .keys()
            .filter(|s| **s != socket)
            .cloned()
            .collect();
        Ok(Effect::emit(
            rest,
            OutEvent::ProducerClosed(ProducerClosed {
                producer_id: id.to_owned(),
                socket_id: socket,
            }),
        )
        .into_iter()
        .collect())
    }

    /// Check a `consume` in the seed's order: participant, producer, own producer; returns
    /// the router (for the capability check), and the named transport if it exists.
    pub fn consume_target(
        &self,
        socket: &str,
        transport_id: &str,
        producer_id: &str,
    ) -> Result<ConsumeTarget<M>, CallError> {
        let (room, p) = self.participant(socket)?;
        let owner = room
            .participants
            .values()
            .find(|o| o.producers.contains_key(producer_id))
            .ok_or(CallError::ProducerNotFound)?;
        if owner.socket == socket {
            return Err(CallError::CannotConsumeOwn);
        }
        if p.consumers.len() >= self.limits.consumers_per_socket {
            return Err(CallError::Limit(format!(
                "Too many consumers (limit {})",
                self.limits.consumers_per_socket
            )));
        }
        Ok(ConsumeTarget {
            router: room.router.clone(),
            transport: p.transports.get(transport_id).map(|t| t.handle.clone()),
            epoch: p.epoch,
        })
    }

    /// Attach a created consumer. Fails (dropping it) if the participant left or the producer
    /// closed meanwhile.
    pub fn add_consumer(
        &mut self,
        socket: &str,
        epoch: u64,
        id: String,
        producer_id: String,
        handle: M::Consumer,
    ) -> Result<(), CallError> {
        let (room, socket) = self.participant_mut(socket, epoch)?;
        if !room
            .participants
            .values()
            .any(|o| o.producers.contains_key(&producer_id))
        {
            return Err(CallError::ProducerNotFound);
        }
        if let Some(p) = room.participants.get_mut(&socket) {
            p.consumers.insert(
                id,
                ConsumerSlot {
                    producer_id,
                    handle,
                },
            );
        }
        Ok(())
    }

    /// One of the socket's own producers (`pauseProducer` / `resumeProducer`) and the
    /// participant's epoch. A producer of another participant is "not found".
    pub fn own_producer(&self, socket: &str, id: &str) -> Result<(M::Producer, u64), CallError> {
        let (_, p) = self.participant(socket)?;
        p.producers
            .get(id)
            .map(|c| (c.handle.clone(), p.epoch))
            .ok_or(CallError::ProducerNotFound)
    }

    /// Record that the socket's producer `id` was paused (`paused = true`) or resumed in the
    /// media layer: `producerPaused` / `producerResumed {producerId, socketId, kind}` to the
    /// rest of the room when the state changed, nothing when it already was so (idempotent).
    /// Fails if the participant left (`epoch`) or the producer closed meanwhile.
    pub fn set_producer_paused(
        &mut self,
        socket: &str,
        epoch: u64,
        id: &str,
        paused: bool,
    ) -> Result<Vec<Effect>, CallError> {
        let (room, socket) = self.participant_mut(socket, epoch)?;
        let slot = room
            .participants
            .get_mut(&socket)
            .and_then(|p| p.producers.get_mut(id))
            .ok_or(CallError::ProducerNotFound)?;
        if slot.paused == paused {
            return Ok(Vec::new());
        }
        slot.paused = paused;
        let change = ProducerPauseChange {
            producer_id: id.to_owned(),
            socket_id: socket.clone(),
            kind: slot.kind.clone(),
            by: None,
        };
        let rest: Vec<_> = room
            .participants
            .keys()
            .filter(|s| **s != socket)
            .cloned()
            .collect();
        let event = if paused {
            OutEvent::ProducerPaused(change)
        } else {
            OutEvent::ProducerResumed(change)
        };
        Ok(Effect::emit(rest, event).into_iter().collect())
    }

    /// A producer of the socket's room (any participant's) as the others see it: owner,
    /// kind, paused flag, source and application data (`consume` ack).
    pub fn producer_view(&self, socket: &str, producer_id: &str) -> Option<ProducerView> {
        let (room, _) = self.participant(socket).ok()?;
        room.participants.values().find_map(|o| {
            o.producers.get(producer_id).map(|p| ProducerView {
                socket: o.socket.clone(),
                kind: p.kind.clone(),
                paused: p.paused,
                meta: p.meta.clone(),
            })
        })
    }

    /// Every other participant of the socket's room with its producers, in join order (the
    /// `createRoom` ack's `participants`).
    pub fn room_snapshot_for(&self, socket: &str) -> Result<Vec<RoomParticipant>, CallError> {
        let (room, _) = self.participant(socket)?;
        Ok(room
            .participants
            .values()
            .filter(|p| p.socket != socket)
            .map(Participant::snapshot)
            .collect())
    }

    /// The media layer reports that consumer `consumer_id` of the participant joined as
    /// `epoch` now forwards `layers` (`(spatial, temporal)`, `None` when nothing):
    /// `consumerLayersChanged` to that socket, or nothing once the consumer (or the
    /// participant) is gone.
    pub fn consumer_layers_changed(
        &self,
        socket: &str,
        epoch: u64,
        consumer_id: &str,
        layers: Option<(u8, Option<u8>)>,
    ) -> Vec<Effect> {
        let Ok((_, p)) = self.participant(socket) else {
            return Vec::new();
        };
        if p.epoch != epoch || !p.consumers.contains_key(consumer_id) {
            return Vec::new();
        }
        Effect::emit(
            vec![socket.to_owned()],
            OutEvent::ConsumerLayersChanged(ConsumerLayersChanged {
                consumer_id: consumer_id.to_owned(),
                spatial_layer: layers.map(|l| l.0),
                temporal_layer: layers.and_then(|l| l.1),
            }),
        )
        .into_iter()
        .collect()
    }

    /// A producer of the socket (pause/resume).
    pub fn producer(&self, socket: &str, id: &str) -> Result<M::Producer, CallError> {
        let (_, p) = self.participant(socket)?;
        p.producers
            .get(id)
            .map(|c| c.handle.clone())
            .ok_or(CallError::ProducerNotFound)
    }

    /// A consumer of the socket (`resumeConsumer`).
    pub fn consumer(&self, socket: &str, id: &str) -> Result<M::Consumer, CallError> {
        let (_, p) = self.participant(socket)?;
        p.consumers
            .get(id)
            .map(|c| c.handle.clone())
            .ok_or(CallError::ConsumerNotFound)
    }

    /// Every producer of the socket's room (`getProducers`), own ones included as the seed
    /// server does (clients filter by `socketId`).
    pub fn producers(&self, socket: &str) -> Result<Vec<ProducerEntry>, CallError> {
        let (room, _) = self.participant(socket)?;
        Ok(room
            .participants
            .values()
            .flat_map(Participant::producer_entries)
            .collect())
    }

    // ----- introspection --------------------------------------------------------------------

    /// The room `id`, if active.
    pub fn room(&self, id: &str) -> Option<&Room<M>> {
        self.rooms.get(id)
    }

    /// The room the socket is in.
    pub fn room_of(&self, socket: &str) -> Option<&str> {
        self.sockets.get(socket)?.room.as_deref()
    }

    /// Object counts.
    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            sockets: self.sockets.len(),
            joined_users: self.users.len(),
            rooms: self.rooms.len(),
            ..Stats::default()
        };
        for p in self.rooms.values().flat_map(|r| r.participants.values()) {
            s.participants += 1;
            s.transports += p.transports.len();
            s.producers += p.producers.len();
            s.consumers += p.consumers.len();
        }
        s
    }
}

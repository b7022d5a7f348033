//! Rooms (one per conversation with an active SFU call) and their participants.

use crate::call_updates::Announced;
use crate::media::Media;
use crate::{RoomId, SocketId, UserId};
use indexmap::{IndexMap, IndexSet};
use serde_json::Value;
use signal_proto::requests::TransportDirection;
use signal_proto::responses::{ActiveCall, ParticipantProducer, ProducerEntry, RoomParticipant};
use signal_proto::server_events::GroupCallUpdated;
use signal_proto::{ConversationInfo, ParticipantInfo, ProducerSource};

/// A transport and its direction.
#[derive(Debug, Clone)]
pub struct TransportSlot<M: Media> {
    /// Send or receive.
    pub direction: TransportDirection,
    /// Media handle.
    pub handle: M::Transport,
}

/// What a producer is, as its owner described it in `produce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerMeta {
    /// What the track carries (`appData.source`, defaulted by kind).
    pub source: ProducerSource,
    /// The client's application data (`{}` when none).
    pub app_data: Value,
}

impl ProducerMeta {
    /// The defaults for a track of `kind`: camera or microphone, empty application data.
    pub fn default_for(kind: &str) -> Self {
        Self {
            source: ProducerSource::default_for(kind),
            app_data: Value::Object(Default::default()),
        }
    }
}

/// A producer as other participants see it (`consume` ack, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerView {
    /// The owning socket.
    pub socket: SocketId,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// Whether the owner paused it.
    pub paused: bool,
    /// Source and application data.
    pub meta: ProducerMeta,
}

#[derive(Debug, Clone)]
pub(crate) struct ProducerSlot<M: Media> {
    pub(crate) kind: String,
    pub(crate) handle: M::Producer,
    pub(crate) paused: bool,
    pub(crate) meta: ProducerMeta,
}

#[derive(Debug, Clone)]
pub(crate) struct ConsumerSlot<M: Media> {
    pub(crate) producer_id: String,
    pub(crate) handle: M::Consumer,
}

/// One socket in a room, owning its media objects. Dropping it drops them all.
#[derive(Debug)]
pub struct Participant<M: Media> {
    /// The socket.
    pub socket: SocketId,
    /// Its user.
    pub user: UserId,
    /// Display info sent with its producers.
    pub info: ParticipantInfo,
    /// Identifies this incarnation (a re-join gets a new epoch), so results of media
    /// operations started before a leave are not attached to a later participant.
    pub epoch: u64,
    pub(crate) transports: IndexMap<String, TransportSlot<M>>,
    pub(crate) producers: IndexMap<String, ProducerSlot<M>>,
    pub(crate) consumers: IndexMap<String, ConsumerSlot<M>>,
    /// The connection quality last announced (`None` before the first).
    pub(crate) quality: Option<signal_proto::server_events::Quality>,
}

impl<M: Media> Participant<M> {
    pub(crate) fn new(socket: SocketId, user: UserId, info: ParticipantInfo, epoch: u64) -> Self {
        Self {
            socket,
            user,
            info,
            epoch,
            transports: IndexMap::new(),
            producers: IndexMap::new(),
            consumers: IndexMap::new(),
            quality: None,
        }
    }

    /// Number of transports.
    pub fn transport_count(&self) -> usize {
        self.transports.len()
    }

    /// Number of producers.
    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Number of consumers.
    pub fn consumer_count(&self) -> usize {
        self.consumers.len()
    }

    /// Number of producers its owner has paused.
    pub fn paused_producer_count(&self) -> usize {
        self.producers.values().filter(|p| p.paused).count()
    }

    pub(crate) fn producer_entries(&self) -> impl Iterator<Item = ProducerEntry> + '_ {
        self.producers.iter().map(|(id, p)| ProducerEntry {
            id: id.clone(),
            kind: p.kind.clone(),
            socket_id: self.socket.clone(),
            participant_info: self.info.clone(),
            paused: p.paused,
            source: p.meta.source,
            app_data: p.meta.app_data.clone(),
        })
    }

    /// This participant as the `createRoom` ack shows it to the others.
    pub(crate) fn snapshot(&self) -> RoomParticipant {
        RoomParticipant {
            socket_id: self.socket.clone(),
            participant_info: self.info.clone(),
            producers: self
                .producers
                .iter()
                .map(|(id, p)| ParticipantProducer {
                    id: id.clone(),
                    kind: p.kind.clone(),
                    source: p.meta.source,
                    paused: p.paused,
                })
                .collect(),
        }
    }
}

/// An active SFU call.
#[derive(Debug)]
pub struct Room<M: Media> {
    /// Room id (= conversation id).
    pub id: RoomId,
    /// The room's router (one per room).
    pub router: M::Router,
    /// Conversation display info, fetched when the room was created.
    pub conversation: ConversationInfo,
    /// Member user ids (who hears `group_call_started` / `group_call_ended`).
    pub members: Vec<UserId>,
    pub(crate) participants: IndexMap<SocketId, Participant<M>>,
    /// Every distinct user who took part, in first-join order (for `CallEnded`).
    pub(crate) took_part: IndexSet<UserId>,
    /// The audio producer last reported as the dominant speaker.
    pub(crate) active_speaker: Option<String>,
    /// The recording in progress.
    pub(crate) recording: Option<String>,
    /// Whether `members` is trusted for active-call lookups (see `rosters`).
    pub(crate) roster: crate::rosters::RosterStatus,
}

impl<M: Media> Room<M> {
    /// Participants in join order.
    pub fn participants(&self) -> impl Iterator<Item = &Participant<M>> {
        self.participants.values()
    }

    /// Number of participants.
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// This room's entry in an active-calls answer, with `conversation_info` as given.
    pub fn active_call(&self, conversation_info: ConversationInfo) -> ActiveCall {
        ActiveCall {
            conversation_id: self.id.clone(),
            conversation_info,
            participant_count: self.participant_count(),
            participants: self.listed_participants(),
        }
    }

    /// The first `GroupCallUpdated::MAX_PARTICIPANTS` distinct users, in join order.
    pub fn listed_participants(&self) -> Vec<ParticipantInfo> {
        let mut listed: Vec<ParticipantInfo> = Vec::new();
        for p in self.participants.values() {
            if listed.len() == GroupCallUpdated::MAX_PARTICIPANTS {
                break;
            }
            if !listed.iter().any(|l| l.user_id == p.info.user_id) {
                listed.push(p.info.clone());
            }
        }
        listed
    }

    /// What `group_call_updated` would announce now (count and listed user ids).
    pub(crate) fn announced(&self) -> Announced {
        Announced {
            count: self.participants.len(),
            users: self
                .listed_participants()
                .into_iter()
                .map(|p| p.user_id)
                .collect(),
        }
    }
}

/// What `consume` needs: the router (capability check), the transport (if found), and the
/// participant epoch to attach the result to.
#[derive(Debug, Clone)]
pub struct ConsumeTarget<M: Media> {
    /// The room's router.
    pub router: M::Router,
    /// The socket's transport named in the request, if it exists.
    pub transport: Option<M::Transport>,
    /// Participant epoch.
    pub epoch: u64,
}

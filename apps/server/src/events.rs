//! The lifecycle event stream of a Huddle service: the domain's facts
//! ([`call_domain::Lifecycle`]) stamped with the wall clock and published to the host
//! ([`crate::HuddleHandle::events`]), the webhooks and the call history.
//!
//! Publishing never waits: the broadcast channel is bounded and a slow subscriber is told
//! how many events it missed ([`EventsError::Lagged`]); the webhook queue has its own bound.

use call_domain::{CallId, LeaveReason, Lifecycle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Events a subscriber may fall behind by before it is told it lagged.
pub const EVENTS_CAPACITY: usize = 1024;

/// One participation of a user in a group call (for `CallEnded` and the call history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participation {
    /// The user.
    pub user_id: String,
    /// The socket it joined on.
    pub socket_id: String,
    /// When it joined.
    pub joined_at: SystemTime,
    /// When it left (`None` while in the call).
    pub left_at: Option<SystemTime>,
}

/// A lifecycle event, as the host, the webhooks and the history see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HuddleEvent {
    /// A group call started (the first participant entered the room).
    CallStarted {
        /// The conversation.
        conversation_id: String,
        /// The user whose `createRoom` started it.
        started_by: String,
        /// When.
        at: SystemTime,
    },
    /// A socket joined a group call.
    ParticipantJoined {
        /// The conversation.
        conversation_id: String,
        /// The user.
        user_id: String,
        /// The socket.
        socket_id: String,
        /// When.
        at: SystemTime,
    },
    /// A socket left a group call.
    ParticipantLeft {
        /// The conversation.
        conversation_id: String,
        /// The user.
        user_id: String,
        /// The socket.
        socket_id: String,
        /// Why.
        reason: LeaveReason,
        /// When.
        at: SystemTime,
    },
    /// A group call ended (the last participant left).
    CallEnded {
        /// The conversation.
        conversation_id: String,
        /// The user who started it.
        started_by: String,
        /// When it started.
        started_at: SystemTime,
        /// When it ended.
        ended_at: SystemTime,
        /// Every distinct user who took part, in first-join order.
        participants: Vec<String>,
        /// Every participation with its times (the call history's rows).
        participations: Vec<Participation>,
    },
    /// A 1:1 call ended (answered or not).
    DirectCallEnded {
        /// The call id (as sent to clients).
        call_id: String,
        /// Caller user.
        caller: String,
        /// Callee user.
        callee: String,
        /// Whether it was answered.
        answered: bool,
        /// When it started ringing.
        started_at: SystemTime,
        /// When it was answered.
        answered_at: Option<SystemTime>,
        /// When it ended.
        ended_at: SystemTime,
        /// `"rejected"`, `"cancelled"`, `"hangup"`, `"timeout"` or `"disconnect"`.
        reason: String,
    },
    /// A recording finished: its files are written (`docs/recording.md`).
    RecordingFinished {
        /// The recording.
        recording_id: String,
        /// The recorded call.
        conversation_id: String,
        /// The files, relative to the recording directory (`<recordingId>/…`).
        files: Vec<String>,
        /// Why it stopped (`"stopped"`, `"call_ended"`, `"recorder_failed"`, `"disk_full"`).
        reason: String,
        /// When it finished.
        at: SystemTime,
    },
}

/// RFC 3339 UTC with milliseconds (`2026-12-01T22:21:23.456Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let nanos = i128::from(d.as_secs()) * 1_000_000_000 + i128::from(d.subsec_nanos());
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

impl HuddleEvent {
    /// The webhook event name (`X-Huddle-Event` and the body's `event`).
    pub fn name(&self) -> &'static str {
        match self {
            HuddleEvent::CallStarted { .. } => "call_started",
            HuddleEvent::ParticipantJoined { .. } => "participant_joined",
            HuddleEvent::ParticipantLeft { .. } => "participant_left",
            HuddleEvent::CallEnded { .. } => "call_ended",
            HuddleEvent::DirectCallEnded { .. } => "direct_call_ended",
            HuddleEvent::RecordingFinished { .. } => "recording_finished",
        }
    }

    /// The SFU room whose participants this event changes, if any.
    pub fn room_change(&self) -> Option<&str> {
        match self {
            HuddleEvent::CallStarted {
                conversation_id, ..
            }
            | HuddleEvent::ParticipantJoined {
                conversation_id, ..
            }
            | HuddleEvent::ParticipantLeft {
                conversation_id, ..
            }
            | HuddleEvent::CallEnded {
                conversation_id, ..
            } => Some(conversation_id),
            HuddleEvent::DirectCallEnded { .. } | HuddleEvent::RecordingFinished { .. } => None,
        }
    }

    /// Whether this event finishes a call (group or 1:1): what the call history records.
    pub fn finishes_call(&self) -> bool {
        matches!(
            self,
            HuddleEvent::CallEnded { .. } | HuddleEvent::DirectCallEnded { .. }
        )
    }

    /// The webhook JSON body: `{event, …}` with camelCase fields and RFC 3339 times.
    pub fn to_json(&self) -> Value {
        let event = self.name();
        match self {
            HuddleEvent::RecordingFinished {
                recording_id,
                conversation_id,
                files,
                reason,
                at,
            } => json!({"event": event, "recordingId": recording_id,
                        "conversationId": conversation_id, "files": files, "reason": reason,
                        "at": rfc3339(*at)}),
            HuddleEvent::CallStarted {
                conversation_id,
                started_by,
                at,
            } => json!({"event": event, "conversationId": conversation_id,
                        "startedBy": started_by, "at": rfc3339(*at)}),
            HuddleEvent::ParticipantJoined {
                conversation_id,
                user_id,
                socket_id,
                at,
            } => json!({"event": event, "conversationId": conversation_id, "userId": user_id,
                        "socketId": socket_id, "at": rfc3339(*at)}),
            HuddleEvent::ParticipantLeft {
                conversation_id,
                user_id,
                socket_id,
                reason,
                at,
            } => json!({"event": event, "conversationId": conversation_id, "userId": user_id,
                        "socketId": socket_id, "reason": reason.as_str(), "at": rfc3339(*at)}),
            HuddleEvent::CallEnded {
                conversation_id,
                started_by,
                started_at,
                ended_at,
                participants,
                ..
            } => json!({"event": event, "conversationId": conversation_id,
                        "startedBy": started_by, "startedAt": rfc3339(*started_at),
                        "endedAt": rfc3339(*ended_at), "participants": participants}),
            HuddleEvent::DirectCallEnded {
                call_id,
                caller,
                callee,
                answered,
                started_at,
                answered_at,
                ended_at,
                reason,
            } => json!({"event": event, "callId": call_id, "caller": caller, "callee": callee,
                        "answered": answered, "startedAt": rfc3339(*started_at),
                        "answeredAt": answered_at.map(rfc3339),
                        "endedAt": rfc3339(*ended_at), "reason": reason}),
        }
    }
}

/// Why [`Events::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    /// This subscriber fell behind and missed that many events; the next `recv` continues
    /// with the oldest event still kept.
    #[error("lagged behind by {0} events")]
    Lagged(u64),
    /// The service is gone.
    #[error("the Huddle service was dropped")]
    Closed,
}

/// A subscription to the lifecycle events ([`crate::HuddleHandle::events`]).
#[derive(Debug)]
pub struct Events {
    rx: broadcast::Receiver<HuddleEvent>,
}

impl Events {
    pub(crate) fn new(rx: broadcast::Receiver<HuddleEvent>) -> Self {
        Self { rx }
    }

    /// The next event.
    pub async fn recv(&mut self) -> Result<HuddleEvent, EventsError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => EventsError::Lagged(n),
            broadcast::error::RecvError::Closed => EventsError::Closed,
        })
    }
}

#[derive(Debug)]
struct OpenCall {
    started_by: String,
    started_at: SystemTime,
    participations: Vec<Participation>,
}

#[derive(Debug)]
struct OpenDirect {
    started_at: SystemTime,
    answered_at: Option<SystemTime>,
}

/// Turns facts into stamped events: remembers when calls started and who was in them.
#[derive(Debug, Default)]
pub struct Stamper {
    calls: HashMap<String, OpenCall>,
    direct: HashMap<CallId, OpenDirect>,
}

impl Stamper {
    /// Stamp `facts` that happened at `now`; the events to publish, in order.
    pub fn stamp(&mut self, facts: Vec<Lifecycle>, now: SystemTime) -> Vec<HuddleEvent> {
        facts
            .into_iter()
            .filter_map(|f| self.stamp_one(f, now))
            .collect()
    }

    fn stamp_one(&mut self, fact: Lifecycle, now: SystemTime) -> Option<HuddleEvent> {
        match fact {
            Lifecycle::CallStarted {
                conversation_id,
                started_by,
            } => {
                self.calls.insert(
                    conversation_id.clone(),
                    OpenCall {
                        started_by: started_by.clone(),
                        started_at: now,
                        participations: Vec::new(),
                    },
                );
                Some(HuddleEvent::CallStarted {
                    conversation_id,
                    started_by,
                    at: now,
                })
            }
            Lifecycle::ParticipantJoined {
                conversation_id,
                user_id,
                socket_id,
            } => {
                if let Some(call) = self.calls.get_mut(&conversation_id) {
                    call.participations.push(Participation {
                        user_id: user_id.clone(),
                        socket_id: socket_id.clone(),
                        joined_at: now,
                        left_at: None,
                    });
                }
                Some(HuddleEvent::ParticipantJoined {
                    conversation_id,
                    user_id,
                    socket_id,
                    at: now,
                })
            }
            Lifecycle::ParticipantLeft {
                conversation_id,
                user_id,
                socket_id,
                reason,
            } => {
                if let Some(p) = self.calls.get_mut(&conversation_id).and_then(|c| {
                    c.participations
                        .iter_mut()
                        .rev()
                        .find(|p| p.socket_id == socket_id && p.left_at.is_none())
                }) {
                    p.left_at = Some(now);
                }
                Some(HuddleEvent::ParticipantLeft {
                    conversation_id,
                    user_id,
                    socket_id,
                    reason,
                    at: now,
                })
            }
            Lifecycle::CallEnded {
                conversation_id,
                participants,
            } => {
                let call = self.calls.remove(&conversation_id);
                let (started_by, started_at, participations) = match call {
                    Some(c) => (c.started_by, c.started_at, c.participations),
                    None => (String::new(), now, Vec::new()),
                };
                Some(HuddleEvent::CallEnded {
                    conversation_id,
                    started_by,
                    started_at,
                    ended_at: now,
                    participants,
                    participations,
                })
            }
            Lifecycle::DirectCallStarted { call_id, .. } => {
                self.direct.insert(
                    call_id,
                    OpenDirect {
                        started_at: now,
                        answered_at: None,
                    },
                );
                None
            }
            Lifecycle::DirectCallAnswered { call_id } => {
                if let Some(d) = self.direct.get_mut(&call_id) {
                    d.answered_at = Some(now);
                }
                None
            }
            Lifecycle::DirectCallEnded {
                call_id,
                caller,
                callee,
                answered,
                reason,
            } => {
                let open = self.direct.remove(&call_id);
                Some(HuddleEvent::DirectCallEnded {
                    call_id: call_id.to_string(),
                    caller,
                    callee,
                    answered,
                    started_at: open.as_ref().map_or(now, |d| d.started_at),
                    answered_at: open.and_then(|d| d.answered_at),
                    ended_at: now,
                    reason: reason.to_owned(),
                })
            }
        }
    }

    /// When the group call of `conversation_id` started, if it runs.
    pub fn started_at(&self, conversation_id: &str) -> Option<SystemTime> {
        self.calls.get(conversation_id).map(|c| c.started_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_call_is_stamped_with_its_start_and_participations() {
        let mut s = Stamper::default();
        let t0 = UNIX_EPOCH + Duration::from_millis(1_764_627_683_456);
        let t1 = t0 + Duration::from_secs(60);
        let started = s.stamp(
            vec![
                Lifecycle::CallStarted {
                    conversation_id: "c".into(),
                    started_by: "1".into(),
                },
                Lifecycle::ParticipantJoined {
                    conversation_id: "c".into(),
                    user_id: "1".into(),
                    socket_id: "s".into(),
                },
            ],
            t0,
        );
        assert_eq!(started.len(), 2);
        assert_eq!(
            started[0].to_json(),
            json!({"event": "call_started", "conversationId": "c", "startedBy": "1",
                   "at": "2025-12-01T22:21:23.456Z"})
        );
        assert_eq!(s.started_at("c"), Some(t0));
        let ended = s.stamp(
            vec![
                Lifecycle::ParticipantLeft {
                    conversation_id: "c".into(),
                    user_id: "1".into(),
                    socket_id: "s".into(),
                    reason: LeaveReason::Left,
                },
                Lifecycle::CallEnded {
                    conversation_id: "c".into(),
                    participants: vec!["1".into()],
                },
            ],
            t1,
        );
        let HuddleEvent::CallEnded {
            started_at,
            ended_at,
            participations,
            ..
        } = &ended[1]
        else {
            panic!("expected CallEnded, got {ended:?}");
        };
        assert_eq!((*started_at, *ended_at), (t0, t1));
        assert_eq!(participations[0].left_at, Some(t1));
        assert_eq!(ended[0].to_json()["reason"], "left");
        assert_eq!(s.started_at("c"), None);
    }

    #[test]
    fn direct_calls_carry_their_ring_and_answer_times() {
        let mut s = Stamper::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1000);
        let none = s.stamp(
            vec![Lifecycle::DirectCallStarted {
                call_id: 7,
                caller: "1".into(),
                callee: "2".into(),
            }],
            t0,
        );
        assert!(none.is_empty(), "only the end is published");
        s.stamp(vec![Lifecycle::DirectCallAnswered { call_id: 7 }], t0);
        let ended = s.stamp(
            vec![Lifecycle::DirectCallEnded {
                call_id: 7,
                caller: "1".into(),
                callee: "2".into(),
                answered: true,
                reason: "hangup",
            }],
            t0 + Duration::from_secs(5),
        );
        let body = ended[0].to_json();
        assert_eq!(body["event"], "direct_call_ended");
        assert_eq!(body["callId"], "7");
        assert_eq!(body["answered"], true);
        assert_eq!(body["startedAt"], "1970-01-01T00:16:40.000Z");
        assert_eq!(body["endedAt"], "1970-01-01T00:16:45.000Z");
    }
}

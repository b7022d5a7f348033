//! Control of running calls from Rust ([`crate::HuddleHandle`]): the same operations the
//! admin HTTP API offers, and the lifecycle event stream.

use crate::HuddleHandle;
use crate::events::Events;
use call_domain::CallError;
use std::time::SystemTime;

/// A running group call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCallInfo {
    /// The conversation.
    pub conversation_id: String,
    /// When it started.
    pub started_at: Option<SystemTime>,
    /// Its participants in join order.
    pub participants: Vec<ParticipantInfo>,
}

/// A participant of a running call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// The user.
    pub user_id: String,
    /// The socket (a user on two devices is two participants).
    pub socket_id: String,
    /// Its producers.
    pub producers: Vec<ProducerInfo>,
}

/// A producer of a participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerInfo {
    /// Producer id.
    pub id: String,
    /// `"audio"` / `"video"`.
    pub kind: String,
    /// `"camera"`, `"microphone"`, `"screen"` or `"screen-audio"`.
    pub source: String,
    /// Whether it is paused.
    pub paused: bool,
}

/// A control operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No call runs in that conversation.
    #[error("{}", signal_proto::errors::CALL_NOT_FOUND)]
    CallNotFound,
    /// The user is not in that call.
    #[error("{}", signal_proto::errors::USER_NOT_IN_CALL)]
    UserNotInCall,
    /// A mute named a kind other than `"audio"` / `"video"`.
    #[error("kind must be \"audio\" or \"video\"")]
    InvalidKind,
}

impl From<CallError> for ControlError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::UserNotInCall => ControlError::UserNotInCall,
            _ => ControlError::CallNotFound,
        }
    }
}

impl HuddleHandle {
    /// Start recording the call in `conversation_id` (`docs/recording.md`); the id of the
    /// recording already running there, if any.
    pub async fn start_recording(
        &self,
        conversation_id: &str,
    ) -> Result<String, crate::recording::RecordingError> {
        crate::recording::start(&self.app, conversation_id).await
    }

    /// Stop the recording of the call in `conversation_id`: its files are written when this
    /// returns.
    pub async fn stop_recording(
        &self,
        conversation_id: &str,
    ) -> Result<crate::recording::RecordingInfo, crate::recording::RecordingError> {
        crate::recording::stop(&self.app, conversation_id, None).await
    }

    /// The state and files of recording `recording_id`.
    pub fn recording(
        &self,
        recording_id: &str,
    ) -> Result<crate::recording::RecordingInfo, crate::recording::RecordingError> {
        self.app.recordings.info(recording_id)
    }

    /// Subscribe to the lifecycle events (bounded: a subscriber that falls more than
    /// [`crate::events::EVENTS_CAPACITY`] events behind is told so with
    /// [`crate::EventsError::Lagged`]).
    ///
    /// ```no_run
    /// # async fn f(handle: huddle::HuddleHandle) {
    /// let mut events = handle.events();
    /// while let Ok(event) = events.recv().await {
    ///     if let huddle::HuddleEvent::CallEnded { conversation_id, .. } = event {
    ///         println!("the call in {conversation_id} ended");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn events(&self) -> Events {
        Events::new(self.app.events.subscribe())
    }

    /// The running group calls, with participants and producers.
    pub fn active_calls(&self) -> Vec<ActiveCallInfo> {
        let snapshots: Vec<_> = {
            let st = self.app.state.lock();
            st.active_room_ids()
                .into_iter()
                .filter_map(|id| st.room_snapshot(&id).map(|s| (id, s)))
                .collect()
        };
        let stamper = self.app.stamper.lock();
        snapshots
            .into_iter()
            .map(|(conversation_id, participants)| ActiveCallInfo {
                started_at: stamper.started_at(&conversation_id),
                conversation_id,
                participants: participants
                    .into_iter()
                    .map(|p| ParticipantInfo {
                        user_id: p.user_id,
                        socket_id: p.socket_id,
                        producers: p
                            .producers
                            .into_iter()
                            .map(|pr| ProducerInfo {
                                id: pr.id,
                                kind: pr.kind,
                                source: pr.source,
                                paused: pr.paused,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// End the call of `conversation_id`: its participants get `removedFromRoom {reason:
    /// "ended_by_admin"}`, the members `group_call_ended`.
    pub fn end_call(&self, conversation_id: &str) -> Result<(), ControlError> {
        let effects = self.app.state.lock().end_room(conversation_id)?;
        tracing::info!(room = %conversation_id, "call ended by an operator");
        self.app.apply(effects);
        Ok(())
    }

    /// Mute `user_id` in the call of `conversation_id`: pause the user's producers of `kind`
    /// (`"audio"` or `"video"`) in the worker; every participant, the user too, gets
    /// `producerPaused {producerId, socketId, kind, by: "admin"}`. Returns how many producers
    /// were paused (0 when all were paused already). The user may resume them
    /// (`resumeProducer`), as with a mute request in any call app.
    pub async fn mute(
        &self,
        conversation_id: &str,
        user_id: &str,
        kind: &str,
    ) -> Result<usize, ControlError> {
        if kind != "audio" && kind != "video" {
            return Err(ControlError::InvalidKind);
        }
        let targets = self
            .app
            .state
            .lock()
            .mute_targets(conversation_id, user_id, kind)?;
        let mut paused = 0;
        for target in targets {
            if let Err(e) = target.producer.pause().await {
                tracing::warn!(producer = %target.producer_id, error = %e, "mute: pause failed");
                continue;
            }
            let effects = self.app.state.lock().admin_paused(&target);
            if !effects.is_empty() {
                paused += 1;
            }
            self.app.apply(effects);
        }
        tracing::info!(room = %conversation_id, user = %user_id, kind, paused, "muted by an operator");
        Ok(paused)
    }

    /// Remove `user_id` from the call of `conversation_id`: the user's sockets get
    /// `removedFromRoom {reason: "removed_by_admin"}`, the others `participantLeft`.
    pub fn remove_participant(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<(), ControlError> {
        let effects = self
            .app
            .state
            .lock()
            .remove_user(conversation_id, user_id)?;
        tracing::info!(room = %conversation_id, user = %user_id, "participant removed by an operator");
        self.app.apply(effects);
        Ok(())
    }
}

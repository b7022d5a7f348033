//! Call history: finished calls from the lifecycle stream written to the [`CallHistory`]
//! repository (PostgreSQL when a database is configured), off the call path.

use crate::events::HuddleEvent;
use call_domain::{CallHistory, CallRecord, DirectCallRecord, DirectoryError, ParticipationRecord};

/// Record `event` when it finishes a call (`CallEnded`, `DirectCallEnded`); other events are
/// ignored.
pub async fn record(history: &dyn CallHistory, event: &HuddleEvent) -> Result<(), DirectoryError> {
    match event {
        HuddleEvent::CallEnded {
            conversation_id,
            started_by,
            started_at,
            ended_at,
            participations,
            ..
        } => {
            let call = CallRecord {
                id: uuid::Uuid::new_v4().to_string(),
                conversation_id: conversation_id.clone(),
                started_by: started_by.clone(),
                started_at: *started_at,
                ended_at: *ended_at,
                participants: participations
                    .iter()
                    .map(|p| ParticipationRecord {
                        user_id: p.user_id.clone(),
                        joined_at: p.joined_at,
                        left_at: p.left_at.unwrap_or(*ended_at),
                    })
                    .collect(),
            };
            history.record_call(&call).await
        }
        HuddleEvent::DirectCallEnded {
            caller,
            callee,
            answered,
            started_at,
            answered_at,
            ended_at,
            reason,
            ..
        } => {
            let call = DirectCallRecord {
                id: uuid::Uuid::new_v4().to_string(),
                caller: caller.clone(),
                callee: callee.clone(),
                answered: *answered,
                started_at: *started_at,
                answered_at: *answered_at,
                ended_at: *ended_at,
                reason: reason.clone(),
            };
            history.record_direct_call(&call).await
        }
        _ => Ok(()),
    }
}

//! The call history in PostgreSQL: [`CallHistory`] for [`PgDirectory`] over Huddle's own
//! tables `"HuddleCall"`, `"HuddleCallParticipant"` and `"HuddleDirectCall"` (migration
//! `call_history`, `docs/storage.md`).
//!
//! * Writing a group call is one transaction: the call row, then its participations in
//!   multi-row inserts. Recording an id that is already stored is a no-op, so a write retried
//!   after a lost answer neither fails nor duplicates.
//! * Reading a conversation's history is two statements whatever the page size: the newest
//!   calls, then the participations of all of them (`"callId" = ANY($1)`).
//! * Times are stored as `timestamptz` with PostgreSQL's microsecond precision; finer parts of
//!   a [`SystemTime`] are truncated.

use crate::pg_time::PgTime;
use crate::schema::{
    huddle_call_participants as hp, huddle_calls as hc, huddle_direct_calls as hd,
};
use crate::{PgDirectory, StoreError};
use async_trait::async_trait;
use call_domain::{CallHistory, CallRecord, DirectCallRecord, DirectoryError, ParticipationRecord};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use std::collections::HashMap;

/// The most calls one [`CallHistory::calls`] or [`PgDirectory::direct_calls`] page returns;
/// a larger `limit` is lowered to it, and a `limit` of 0 is raised to 1.
pub const MAX_CALLS_PAGE: usize = 100;

/// Participations per `INSERT` statement (5 bind parameters each, far below PostgreSQL's
/// limit of 65 535 per statement).
const PARTICIPANT_BATCH: usize = 1000;

/// A `"HuddleCall"` row to insert.
#[derive(Insertable)]
#[diesel(table_name = hc)]
struct NewCall<'a> {
    id: &'a str,
    conversation_id: &'a str,
    started_by: &'a str,
    started_at: PgTime,
    ended_at: PgTime,
}

/// A `"HuddleCallParticipant"` row to insert.
#[derive(Insertable)]
#[diesel(table_name = hp)]
struct NewParticipation<'a> {
    call_id: &'a str,
    seq: i32,
    user_id: &'a str,
    joined_at: PgTime,
    left_at: PgTime,
}

/// A `"HuddleDirectCall"` row to insert.
#[derive(Insertable)]
#[diesel(table_name = hd)]
struct NewDirectCall<'a> {
    id: &'a str,
    caller_id: &'a str,
    callee_id: &'a str,
    answered: bool,
    started_at: PgTime,
    answered_at: Option<PgTime>,
    ended_at: PgTime,
    reason: &'a str,
}

/// `"HuddleCall"` columns: id, conversation, started by, started at, ended at.
type CallRow = (String, String, String, PgTime, PgTime);
/// `"HuddleCallParticipant"` columns: call id, user, joined at, left at.
type ParticipationRow = (String, String, PgTime, PgTime);
/// `"HuddleDirectCall"` columns, in table order.
type DirectCallRow = (
    String,
    String,
    String,
    bool,
    PgTime,
    Option<PgTime>,
    PgTime,
    String,
);

/// `limit` clamped to `1..=MAX_CALLS_PAGE`, as SQL's `LIMIT` wants it.
fn page_size(limit: usize) -> i64 {
    // At most MAX_CALLS_PAGE, so the conversion cannot fail.
    i64::try_from(limit.clamp(1, MAX_CALLS_PAGE)).unwrap_or(1)
}

impl PgDirectory {
    /// Inserts `call` and its participations in one transaction; a call whose id is already
    /// stored is left as it is.
    async fn insert_call(&self, call: &CallRecord) -> Result<(), StoreError> {
        let participations = call
            .participants
            .iter()
            .enumerate()
            .map(|(seq, p)| {
                Ok(NewParticipation {
                    call_id: &call.id,
                    seq: i32::try_from(seq).map_err(|_| {
                        StoreError::Invalid(format!("call {} has too many participations", call.id))
                    })?,
                    user_id: &p.user_id,
                    joined_at: PgTime(p.joined_at),
                    left_at: PgTime(p.left_at),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let row = NewCall {
            id: &call.id,
            conversation_id: &call.conversation_id,
            started_by: &call.started_by,
            started_at: PgTime(call.started_at),
            ended_at: PgTime(call.ended_at),
        };
        self.with_conn(async |conn| {
            conn.transaction(async |conn| {
                let inserted = diesel::insert_into(hc::table)
                    .values(&row)
                    .on_conflict(hc::id)
                    .do_nothing()
                    .execute(conn)
                    .await?;
                if inserted == 0 {
                    tracing::debug!(call = %call.id, "call already recorded");
                    return Ok(());
                }
                for batch in participations.chunks(PARTICIPANT_BATCH) {
                    diesel::insert_into(hp::table)
                        .values(batch)
                        .execute(conn)
                        .await?;
                }
                Ok::<_, StoreError>(())
            })
            .await
        })
        .await
    }

    /// Inserts `call`; a call whose id is already stored is left as it is.
    async fn insert_direct_call(&self, call: &DirectCallRecord) -> Result<(), StoreError> {
        let row = NewDirectCall {
            id: &call.id,
            caller_id: &call.caller,
            callee_id: &call.callee,
            answered: call.answered,
            started_at: PgTime(call.started_at),
            answered_at: call.answered_at.map(PgTime),
            ended_at: PgTime(call.ended_at),
            reason: &call.reason,
        };
        self.with_conn(async |conn| {
            diesel::insert_into(hd::table)
                .values(&row)
                .on_conflict(hd::id)
                .do_nothing()
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// The newest calls of `conversation_id` with their participations: two statements.
    async fn load_calls(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let limit = page_size(limit);
        let (calls, participations) = self
            .with_conn(async |conn| {
                let calls: Vec<CallRow> = hc::table
                    .filter(hc::conversation_id.eq(conversation_id))
                    .order((hc::started_at.desc(), hc::id.desc()))
                    .limit(limit)
                    .select((
                        hc::id,
                        hc::conversation_id,
                        hc::started_by,
                        hc::started_at,
                        hc::ended_at,
                    ))
                    .load(&mut *conn)
                    .await?;
                if calls.is_empty() {
                    return Ok((calls, Vec::new()));
                }
                let ids: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
                // Participations are written with their call in one transaction and never
                // changed, so reading them in a second statement sees all of them.
                let participations: Vec<ParticipationRow> = hp::table
                    .filter(hp::call_id.eq_any(&ids))
                    .order((hp::call_id, hp::joined_at, hp::seq))
                    .select((hp::call_id, hp::user_id, hp::joined_at, hp::left_at))
                    .load(&mut *conn)
                    .await?;
                Ok((calls, participations))
            })
            .await?;
        let mut by_call: HashMap<String, Vec<ParticipationRecord>> = HashMap::new();
        for (call_id, user_id, joined_at, left_at) in participations {
            by_call
                .entry(call_id)
                .or_default()
                .push(ParticipationRecord {
                    user_id,
                    joined_at: joined_at.0,
                    left_at: left_at.0,
                });
        }
        Ok(calls
            .into_iter()
            .map(
                |(id, conversation_id, started_by, started_at, ended_at)| CallRecord {
                    participants: by_call.remove(&id).unwrap_or_default(),
                    id,
                    conversation_id,
                    started_by,
                    started_at: started_at.0,
                    ended_at: ended_at.0,
                },
            )
            .collect())
    }

    /// The newest `limit` (clamped to `1..=`[`MAX_CALLS_PAGE`]) 1:1 calls `user_id` made or
    /// received, newest first (by start, then id). One statement.
    pub async fn direct_calls(
        &self,
        user_id: &str,
        limit: usize,
    ) -> Result<Vec<DirectCallRecord>, StoreError> {
        let limit = page_size(limit);
        let rows: Vec<DirectCallRow> = self
            .with_conn(async |conn| {
                let rows = hd::table
                    .filter(hd::caller_id.eq(user_id).or(hd::callee_id.eq(user_id)))
                    .order((hd::started_at.desc(), hd::id.desc()))
                    .limit(limit)
                    .select((
                        hd::id,
                        hd::caller_id,
                        hd::callee_id,
                        hd::answered,
                        hd::started_at,
                        hd::answered_at,
                        hd::ended_at,
                        hd::reason,
                    ))
                    .load(&mut *conn)
                    .await?;
                Ok(rows)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, caller, callee, answered, started_at, answered_at, ended_at, reason)| {
                    DirectCallRecord {
                        id,
                        caller,
                        callee,
                        answered,
                        started_at: started_at.0,
                        answered_at: answered_at.map(|t| t.0),
                        ended_at: ended_at.0,
                        reason,
                    }
                },
            )
            .collect())
    }
}

#[async_trait]
impl CallHistory for PgDirectory {
    async fn record_call(&self, call: &CallRecord) -> Result<(), DirectoryError> {
        self.insert_call(call).await.map_err(DirectoryError::from)
    }

    async fn record_direct_call(&self, call: &DirectCallRecord) -> Result<(), DirectoryError> {
        self.insert_direct_call(call)
            .await
            .map_err(DirectoryError::from)
    }

    /// Newest first by start time (then by id, descending); each call's participations by
    /// join time (then in recorded order). `limit` is clamped to `1..=`[`MAX_CALLS_PAGE`].
    async fn calls(
        &self,
        conversation_id: &str,
        limit: usize,
    ) -> Result<Vec<CallRecord>, DirectoryError> {
        self.load_calls(conversation_id, limit)
            .await
            .map_err(DirectoryError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_clamped() {
        assert_eq!(page_size(0), 1);
        assert_eq!(page_size(1), 1);
        assert_eq!(page_size(37), 37);
        assert_eq!(page_size(100), 100);
        assert_eq!(page_size(101), 100);
        assert_eq!(page_size(usize::MAX), 100);
    }
}

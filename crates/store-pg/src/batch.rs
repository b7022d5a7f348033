//! Coalesced active-call lookups: concurrent [`member_conversations`] calls share queries.
//!
//! A lookup joins a queue. While fewer than [`MAX_IN_FLIGHT`] batches run, it starts one; a
//! running batch, when its query returns, takes everything queued meanwhile (up to
//! [`MAX_BATCH`] lookups) into its next query. So a burst of a thousand simultaneous lookups
//! costs a handful of queries and at most [`MAX_IN_FLIGHT`] pooled connections, and a lookup
//! never waits for a connection behind the burst itself.
//!
//! [`member_conversations`]: call_domain::Directory::member_conversations

use crate::schema::{conversation_members as cm, conversations as conv};
use crate::{PgDirectory, StoreError};
use call_domain::{ConversationRecord, DirectoryError};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;

/// Batches running at once (each holds one pooled connection while its query runs).
pub(crate) const MAX_IN_FLIGHT: usize = 4;
/// Lookups answered by one query at most.
pub(crate) const MAX_BATCH: usize = 512;

/// The answer to one lookup.
type Answer = Result<Vec<ConversationRecord>, DirectoryError>;

/// One queued lookup.
struct Lookup {
    user: i32,
    conversations: Vec<String>,
    reply: oneshot::Sender<Answer>,
}

/// The queue of lookups and the number of running batches.
#[derive(Default)]
pub(crate) struct Lookups {
    state: Mutex<Queue>,
    /// Queries run so far.
    queries: AtomicU64,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Lookup>,
    running: usize,
}

/// One row of a batch: user, conversation, its name and avatar.
type Row = (Option<i32>, String, Option<String>, Option<String>);

impl PgDirectory {
    /// Of `conversations`, those `user` is a member of, in the order asked, answered by a
    /// shared query (see the module docs).
    pub(crate) async fn coalesced_member_conversations(
        &self,
        user: i32,
        conversations: &[String],
    ) -> Answer {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = self.lookups.state.lock().unwrap_or_else(|p| p.into_inner());
            if q.waiting.len() >= self.options.max_waiting.max(1) {
                return Err(StoreError::Busy(q.waiting.len()).into());
            }
            q.waiting.push(Lookup {
                user,
                conversations: conversations.to_vec(),
                reply,
            });
            let start = q.running < MAX_IN_FLIGHT;
            if start {
                q.running += 1;
            }
            start
        };
        if start {
            // A task of its own: a batch outlives the request that started it.
            let dir = self.clone();
            tokio::spawn(async move { dir.run_batches().await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(DirectoryError::unavailable(
                "the lookup batch ended without an answer",
            ))
        })
    }

    /// Queries the coalesced active-call lookups have run so far (each answers every lookup
    /// queued when it started, up to 512).
    pub fn lookup_queries(&self) -> u64 {
        AtomicU64::load(&self.lookups.queries, Ordering::Relaxed)
    }

    /// Runs batches until the queue is empty.
    async fn run_batches(&self) {
        loop {
            let batch: Vec<Lookup> = {
                let mut q = self.lookups.state.lock().unwrap_or_else(|p| p.into_inner());
                if q.waiting.is_empty() {
                    q.running -= 1;
                    return;
                }
                let take = q.waiting.len().min(MAX_BATCH);
                q.waiting.drain(..take).collect()
            };
            let users: BTreeSet<i32> = batch.iter().map(|l| l.user).collect();
            let wanted: BTreeSet<&str> = batch
                .iter()
                .flat_map(|l| l.conversations.iter().map(String::as_str))
                .collect();
            self.lookups.queries.fetch_add(1, Ordering::Relaxed);
            let rows = self.batch_rows(&users, &wanted).await;
            let result = rows.as_ref().map(|rows| index(rows));
            for lookup in batch {
                let answer = match &result {
                    Ok(rows) => Ok(records_for(&lookup, rows)),
                    Err(e) => Err((*e).clone()),
                };
                // The requester may be gone (its socket closed): nothing to do then.
                let _ = lookup.reply.send(answer);
            }
        }
    }

    /// One query: the non-deleted memberships of `users` in `conversations`.
    async fn batch_rows(
        &self,
        users: &BTreeSet<i32>,
        conversations: &BTreeSet<&str>,
    ) -> Result<Vec<Row>, DirectoryError> {
        let users: Vec<i32> = users.iter().copied().collect();
        let conversations: Vec<&str> = conversations.iter().copied().collect();
        self.with_conn(async |conn| {
            Ok(cm::table
                .left_join(conv::table.on(conv::id.eq(cm::conversation_id)))
                .filter(cm::user_id.eq_any(&users))
                .filter(cm::conversation_id.eq_any(&conversations))
                .filter(diesel::dsl::not(cm::is_deleted))
                .select((
                    cm::user_id,
                    cm::conversation_id,
                    conv::name.nullable(),
                    conv::avatar.nullable(),
                ))
                .distinct()
                .load::<Row>(&mut *conn)
                .await?)
        })
        .await
        .map_err(DirectoryError::from)
    }
}

/// A batch's rows by (user, conversation).
fn index(rows: &[Row]) -> HashMap<(i32, &str), &Row> {
    rows.iter()
        .filter_map(|row| Some(((row.0?, row.1.as_str()), row)))
        .collect()
}

/// The answer of `lookup` from a batch's rows: its conversations it is a member of, in the
/// order it asked for them, each once.
fn records_for(lookup: &Lookup, rows: &HashMap<(i32, &str), &Row>) -> Vec<ConversationRecord> {
    let mut records: Vec<ConversationRecord> = Vec::new();
    for wanted in &lookup.conversations {
        if records.iter().any(|r| &r.id == wanted) {
            continue;
        }
        if let Some((_, id, name, avatar)) = rows.get(&(lookup.user, wanted.as_str())) {
            records.push(ConversationRecord {
                id: id.clone(),
                name: name.clone(),
                avatar: avatar.clone(),
            });
        }
    }
    records
}

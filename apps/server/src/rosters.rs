//! Keeping the active rooms' rosters true, so that `join` and `get_active_calls` are answered
//! from memory (see `call_domain`'s `rosters` module for the rules):
//!
//! * [`Rosters::start_reads`] runs the roster reads the call state asks for;
//! * [`listen_loop`] is the membership feed on PostgreSQL: a dedicated connection that
//!   `LISTEN`s for the `huddle_member_notify` triggers' notifications, reconnecting with
//!   backoff. While it is down, lookups query the directory (the state trusts no roster).

use crate::app::App;
use call_domain::{Directory as _, RosterRead};
use std::sync::Weak;
use std::time::Duration;
use store_pg::{MemberChange, MemberListener};

/// How long the listener waits for a notification before checking its connection.
const LISTEN_IDLE: Duration = Duration::from_secs(10);
/// Reconnect backoff of the listener, and retry backoff of a failed roster read: first and
/// longest delay.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(5));

/// Runs the roster reads of the call state.
pub struct Rosters {
    app: Weak<App>,
}

impl Rosters {
    /// Reads for `app` (held weakly: the reads end with it).
    pub fn new(app: Weak<App>) -> Self {
        Self { app }
    }

    /// Start the roster reads the call state asks for, one task per room.
    pub fn start_reads(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let rooms = app.state.lock().take_roster_reads();
        for room in rooms {
            tokio::spawn(read(self.app.clone(), room));
        }
    }
}

/// Read room `room`'s roster until a read returns with no change arriving meanwhile. A
/// failed read (the database busy or down) is retried with backoff while the room is active
/// and the feed up: until then the room's lookups query the directory, which stays correct
/// but costs a query each.
async fn read(app: Weak<App>, room: String) {
    let mut backoff = BACKOFF.0;
    loop {
        // Held only while reading: a retry's sleep does not keep a stopped server alive.
        let Some(app) = app.upgrade() else { return };
        let ticket = app.state.lock().roster_ticket();
        let read = match app.directory.roster(&room).await {
            Ok(roster) => Some(match roster {
                Some(r) => RosterRead {
                    members: r.members.into_iter().map(|m| m.id).collect(),
                    conversation: app.display.conversation_info(&r.conversation),
                },
                None => RosterRead {
                    members: Vec::new(),
                    conversation: app
                        .display
                        .conversation_info(&call_domain::ConversationRecord {
                            id: room.clone(),
                            ..Default::default()
                        }),
                },
            }),
            Err(e) => {
                let retry = app.state.lock().roster_retry_wanted(&room);
                tracing::warn!(room = %room, error = %e, retry, retry_in = ?backoff, "roster read failed; lookups query the directory");
                if retry {
                    drop(app);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                    continue;
                }
                None
            }
        };
        let again = app.state.lock().roster_read(&room, ticket, read);
        if !again {
            break;
        }
    }
}

/// The membership feed on PostgreSQL (`database_url`): listen, tell the call state, and
/// reconnect with backoff when the connection is lost. Ends with the app.
pub async fn listen_loop(app: Weak<App>, database_url: String, timeout: Duration) {
    let mut backoff = BACKOFF.0;
    loop {
        match MemberListener::connect(&database_url, timeout).await {
            Ok(mut listener) => {
                let Some(strong) = app.upgrade() else { return };
                strong.state.lock().membership_feed_up();
                strong.rosters.start_reads();
                drop(strong);
                tracing::info!(
                    "listening for membership changes; active calls are answered from memory"
                );
                backoff = BACKOFF.0;
                let reason = listen(&app, &mut listener, timeout).await;
                let Some(strong) = app.upgrade() else { return };
                strong.state.lock().membership_feed_down();
                tracing::warn!(error = %reason, "membership listener lost; active calls are looked up in the database until it is back");
            }
            Err(e) => {
                if app.strong_count() == 0 {
                    return;
                }
                tracing::warn!(error = %e, retry_in = ?backoff, "membership listener cannot connect");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Apply notifications until the connection fails; returns why.
async fn listen(
    app: &Weak<App>,
    listener: &mut MemberListener,
    timeout: Duration,
) -> store_pg::StoreError {
    loop {
        let change = match listener.next(LISTEN_IDLE).await {
            Ok(Some(change)) => change,
            Ok(None) => match listener.check(timeout).await {
                Ok(()) => continue,
                Err(e) => return e,
            },
            Err(e) => return e,
        };
        let Some(app) = app.upgrade() else {
            return store_pg::StoreError::Unavailable("the server stopped".into());
        };
        let conversation = match &change {
            MemberChange::Conversation(id) => Some(id.as_str()),
            MemberChange::All => None,
        };
        tracing::debug!(?change, "membership changed");
        app.state.lock().members_changed(conversation);
        app.rosters.start_reads();
    }
}

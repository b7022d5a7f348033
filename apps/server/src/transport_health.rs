//! Removal of participants whose media transport failed: mediasoup reports ICE/DTLS state
//! changes; a transport that stays failed for the grace period takes its participant out of
//! the room (`removedFromRoom` to it, `participantLeft` to the others).

use crate::app::App;
use media_sfu::{MediaTransport, TransportHealth};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// A transport of a participant, as the health monitor tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Watched {
    sid: String,
    epoch: u64,
    transport: String,
}

#[derive(Debug)]
enum Report {
    /// mediasoup reported a state change.
    Changed(Watched, TransportHealth),
    /// The grace timer of generation `.1` ran out.
    Expired(Watched, u64),
}

/// Sends transport health changes to the monitor task.
#[derive(Debug, Clone)]
pub struct HealthMonitor {
    tx: mpsc::UnboundedSender<Report>,
}

impl HealthMonitor {
    /// Start the monitor task for `app` with a grace period.
    pub fn start(app: Weak<App>, grace: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(app, grace, tx.clone(), rx));
        Self { tx }
    }

    /// Watch `transport`, owned by socket `sid` in its room membership `epoch`.
    pub fn watch(&self, sid: &str, epoch: u64, transport: &MediaTransport) {
        let watched = Watched {
            sid: sid.to_owned(),
            epoch,
            transport: transport.id(),
        };
        let tx = self.tx.clone();
        transport.on_health_change(move |health| {
            let _ = tx.send(Report::Changed(watched.clone(), health));
        });
    }
}

async fn run(
    app: Weak<App>,
    grace: Duration,
    tx: mpsc::UnboundedSender<Report>,
    mut rx: mpsc::UnboundedReceiver<Report>,
) {
    // The generation of each failing transport's timer; any newer report supersedes it.
    let mut failing: HashMap<Watched, u64> = HashMap::new();
    let mut generation = 0u64;
    while let Some(report) = rx.recv().await {
        match report {
            Report::Changed(watched, TransportHealth::Failed) => {
                if failing.contains_key(&watched) {
                    continue; // already counting down
                }
                generation += 1;
                tracing::warn!(
                    sid = %watched.sid,
                    transport = %watched.transport,
                    grace_ms = grace.as_millis() as u64,
                    "media transport failed; removing the participant unless it recovers"
                );
                failing.insert(watched.clone(), generation);
                let tx = tx.clone();
                let this = generation;
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    let _ = tx.send(Report::Expired(watched, this));
                });
            }
            Report::Changed(watched, TransportHealth::Ok) => {
                if failing.remove(&watched).is_some() {
                    tracing::info!(
                        sid = %watched.sid,
                        transport = %watched.transport,
                        "media transport recovered"
                    );
                }
            }
            Report::Expired(watched, this) => {
                if failing.get(&watched) != Some(&this) {
                    continue;
                }
                failing.remove(&watched);
                let Some(app) = app.upgrade() else { break };
                expire(&app, &watched);
            }
        }
    }
}

/// The grace period ran out: remove the participant if the transport is still theirs and
/// still failed.
fn expire(app: &Arc<App>, watched: &Watched) {
    let effects = {
        let mut st = app.state.lock();
        let still_failed =
            st.transport(&watched.sid, &watched.transport)
                .is_ok_and(|(t, epoch)| {
                    epoch == watched.epoch && t.health() == TransportHealth::Failed
                });
        if !still_failed {
            return;
        }
        st.remove_failed_participant(&watched.sid, watched.epoch, &watched.transport)
    };
    tracing::warn!(
        sid = %watched.sid,
        transport = %watched.transport,
        "media transport did not recover: participant removed from its room"
    );
    metrics::counter!("huddle_transport_failure_removals_total").increment(1);
    app.apply(effects);
}

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
        // The task holds only a weak sender: it ends once the monitor and every watched
        // transport are gone.
        tokio::spawn(run(app, grace, tx.downgrade(), rx));
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

/// Which failing transports are counting down, by timer generation: the pure core of the
/// monitor. A failure starts a countdown (unless one runs), a recovery cancels it, and only
/// the expiry of the current countdown removes.
#[derive(Debug)]
struct Countdowns<K> {
    running: HashMap<K, u64>,
    generation: u64,
}

impl<K: std::hash::Hash + Eq> Countdowns<K> {
    fn new() -> Self {
        Self {
            running: HashMap::new(),
            generation: 0,
        }
    }

    /// A failure report: the generation of a new countdown to start, or `None` when one runs.
    fn failed(&mut self, key: K) -> Option<u64> {
        if self.running.contains_key(&key) {
            return None;
        }
        self.generation += 1;
        self.running.insert(key, self.generation);
        Some(self.generation)
    }

    /// A recovery report: cancels the countdown; whether one was running.
    fn recovered(&mut self, key: &K) -> bool {
        self.running.remove(key).is_some()
    }

    /// Countdown `generation` of `key` ran out: whether it is still the current one (then the
    /// participant is to be removed).
    fn expired(&mut self, key: &K, generation: u64) -> bool {
        if self.running.get(key) == Some(&generation) {
            self.running.remove(key);
            true
        } else {
            false
        }
    }
}

async fn run(
    app: Weak<App>,
    grace: Duration,
    tx: mpsc::WeakUnboundedSender<Report>,
    mut rx: mpsc::UnboundedReceiver<Report>,
) {
    let mut countdowns = Countdowns::new();
    while let Some(report) = rx.recv().await {
        match report {
            Report::Changed(watched, TransportHealth::Failed) => {
                let Some(generation) = countdowns.failed(watched.clone()) else {
                    continue; // already counting down
                };
                tracing::warn!(
                    sid = %watched.sid,
                    transport = %watched.transport,
                    grace_ms = grace.as_millis() as u64,
                    "media transport failed; removing the participant unless it recovers"
                );
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    if let Some(tx) = tx.upgrade() {
                        let _ = tx.send(Report::Expired(watched, generation));
                    }
                });
            }
            Report::Changed(watched, TransportHealth::Ok) => {
                if countdowns.recovered(&watched) {
                    tracing::info!(
                        sid = %watched.sid,
                        transport = %watched.transport,
                        "media transport recovered"
                    );
                }
            }
            Report::Expired(watched, generation) => {
                if !countdowns.expired(&watched, generation) {
                    continue;
                }
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
            drop(st);
            // A socket of a room homed on another node: its transports are kept outside the
            // state; the home removes the participant.
            if let Some(link) = &app.cluster
                && crate::cluster_link::media::transport_failed(
                    link,
                    &watched.sid,
                    &watched.transport,
                )
            {
                tracing::warn!(
                    sid = %watched.sid,
                    transport = %watched.transport,
                    "media transport did not recover: the room's home removes the participant"
                );
                metrics::counter!("huddle_transport_failure_removals_total").increment(1);
            }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Countdowns;

    #[test]
    fn a_failure_that_stays_removes_once() {
        let mut c = Countdowns::new();
        let g = c.failed("t1").unwrap();
        assert_eq!(c.failed("t1"), None, "one countdown per transport");
        assert!(c.expired(&"t1", g));
        assert!(!c.expired(&"t1", g), "not twice");
    }

    #[test]
    fn recovery_cancels_the_countdown() {
        let mut c = Countdowns::new();
        let g = c.failed("t1").unwrap();
        assert!(c.recovered(&"t1"));
        assert!(!c.expired(&"t1", g));
        assert!(!c.recovered(&"t1"), "nothing to cancel");
    }

    #[test]
    fn a_new_failure_after_recovery_gets_its_own_full_grace_period() {
        let mut c = Countdowns::new();
        let first = c.failed("t1").unwrap();
        c.recovered(&"t1");
        let second = c.failed("t1").unwrap();
        assert_ne!(first, second);
        assert!(
            !c.expired(&"t1", first),
            "the old countdown no longer counts"
        );
        assert!(c.expired(&"t1", second));
    }

    #[test]
    fn transports_count_down_independently() {
        let mut c = Countdowns::new();
        let a = c.failed("a").unwrap();
        let b = c.failed("b").unwrap();
        c.recovered(&"a");
        assert!(!c.expired(&"a", a));
        assert!(c.expired(&"b", b));
    }
}

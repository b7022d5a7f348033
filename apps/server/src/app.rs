//! Shared application state and effect execution.

use crate::directory::CountingDirectory;
use crate::media::State;
use crate::push::PushSender;
use call_domain::{DisplayPolicy, Effect};
use media_sfu::Sfu;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Everything the handlers share.
pub struct App {
    /// Presence and rooms. Never held across an `.await`.
    pub state: Mutex<State>,
    /// The SFU.
    pub sfu: Sfu,
    /// The directory (query-counting).
    pub directory: CountingDirectory,
    /// Display policy (avatar URLs, default names).
    pub display: DisplayPolicy,
    /// Push seam.
    pub push: Arc<dyn PushSender>,
    /// The Socket.IO server, for emitting to this node's sockets by id (and, in cluster mode,
    /// to users' sockets on the other nodes).
    pub io: Arc<dyn crate::hub::SocketHub>,
    /// Queue limit per socket.
    pub max_pending_per_socket: usize,
    /// Sustained request rate per socket.
    pub max_events_per_second: u32,
    /// Set once shutdown has begun.
    pub shutting_down: AtomicBool,
    /// Authenticated identity of each socket (with an authenticator only).
    pub identities: Mutex<HashMap<String, String>>,
    /// Who connecting sockets are (JWT or the host's); `None` trusts clients' `join`.
    pub authenticator: Option<Arc<dyn crate::auth::Authenticator>>,
    /// Removes participants whose transports failed for longer than the grace period.
    pub health: crate::transport_health::HealthMonitor,
    /// Stamps lifecycle facts (taken with the state lock held, so they stay in order).
    pub stamper: Mutex<crate::events::Stamper>,
    /// The lifecycle event stream ([`crate::HuddleHandle::events`]).
    pub events: tokio::sync::broadcast::Sender<crate::events::HuddleEvent>,
    /// Webhook senders, when URLs are configured.
    pub webhooks: Option<crate::webhooks::Webhooks>,
    /// Where finished calls are recorded (with a database).
    pub history: Option<Arc<dyn call_domain::CallHistory>>,
    /// Wakes the `group_call_updated` deliveries held back by the throttle.
    pub call_updates: crate::call_updates::CallUpdateTimer,
    /// `huddle_event_duration_seconds{event}` handles, resolved once (not per request).
    pub event_latency: HashMap<&'static str, metrics::Histogram>,
    /// Cluster mode (`--redis-url`): this node's link to the others.
    pub cluster: Option<Arc<crate::cluster_link::ClusterLink>>,
    /// Runs the roster reads that keep active-call lookups answerable from memory.
    pub rosters: crate::rosters::Rosters,
    /// Server-side recordings (`--recording-dir`).
    pub recordings: crate::recording::Recordings,
}

impl App {
    /// Execute effects: emit events to sockets, hand push requests to the push seam. Then
    /// deliver the `group_call_updated` the effects' state changes made due.
    ///
    /// Takes the state lock: never call it while holding a guard of `state` (for instance
    /// from a `match app.state.lock().…` scrutinee, whose guard lives through the match).
    pub fn apply(&self, effects: Vec<Effect>) {
        self.execute(effects);
        self.after_change();
    }

    /// Send the `group_call_updated` due now, arm the timer for those held back, and
    /// publish the lifecycle facts the last changes recorded.
    pub fn after_change(&self) {
        let mut state = self.state.lock();
        let poll = state
            .call_updates_pending()
            .then(|| state.poll_call_updates(std::time::Instant::now()));
        if state.lifecycle_pending() {
            let facts = state.take_lifecycle();
            // Taken before the state lock is released, so facts are stamped in their order.
            let mut stamper = self.stamper.lock();
            drop(state);
            let events = stamper.stamp(facts, std::time::SystemTime::now());
            self.publish(events);
        } else {
            drop(state);
        }
        if let Some(poll) = poll {
            self.execute(poll.effects);
            if let Some(next) = poll.next {
                self.call_updates.arm(next);
            }
        }
    }

    /// Publish lifecycle events: webhooks, call history, cluster replica, subscribers.
    pub fn publish(&self, events: Vec<crate::events::HuddleEvent>) {
        for event in events {
            tracing::debug!(event = event.name(), "lifecycle event");
            if let Some(webhooks) = &self.webhooks {
                webhooks.enqueue(&event);
            }
            if let Some(history) = &self.history
                && event.finishes_call()
            {
                let history = history.clone();
                let finished = event.clone();
                tokio::spawn(async move {
                    if let Err(e) = crate::history::record(history.as_ref(), &finished).await {
                        tracing::warn!(error = %e, "call history not recorded");
                    }
                });
            }
            if let Some(link) = &self.cluster
                && let Some(room) = event.room_change()
            {
                link.room_changed(room);
            }
            // No subscriber is fine.
            let _ = self.events.send(event);
        }
    }

    fn execute(&self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Emit { to, event } => self.emit(&to, &event),
                Effect::Relay { users, event } => {
                    if let Some(link) = &self.cluster {
                        link.relay(users, event.name(), event.payload());
                    }
                }
                Effect::Push(request) => {
                    let push = self.push.clone();
                    tokio::spawn(async move { push.send(request).await });
                }
            }
        }
    }

    /// Emit `event` to sockets: this node's directly, proxies (cluster mode: other nodes'
    /// sockets in calls homed here) through their node.
    fn emit(&self, to: &[String], event: &call_domain::OutEvent) {
        let name = event.name();
        let payload = event.payload();
        let mut remote: HashMap<cluster::NodeId, Vec<String>> = HashMap::new();
        for sid in to {
            if !self.io.emit(sid, name, &payload)
                && let Some(node) = self.cluster.as_ref().and_then(|c| c.proxy_node(sid))
            {
                remote.entry(node).or_default().push(sid.clone());
            }
        }
        if let Some(link) = &self.cluster {
            for (node, sids) in remote {
                link.send_to(
                    node,
                    crate::cluster_link::wire::ToNode::Deliver {
                        sids,
                        event: name.to_owned(),
                        payload: payload.clone(),
                    },
                );
            }
        }
        metrics::counter!("huddle_events_sent_total", "event" => name).increment(to.len() as u64);
    }

    /// Update the object gauges from the state (called when `/metrics` is scraped, so the
    /// request path never pays for it).
    pub fn publish_gauges(&self) {
        let s = self.state.lock().stats();
        metrics::gauge!("huddle_sockets").set(s.sockets as f64);
        metrics::gauge!("huddle_joined_users").set(s.joined_users as f64);
        metrics::gauge!("huddle_rooms").set(s.rooms as f64);
        metrics::gauge!("huddle_participants").set(s.participants as f64);
        metrics::gauge!("huddle_transports").set(s.transports as f64);
        metrics::gauge!("huddle_producers").set(s.producers as f64);
        metrics::gauge!("huddle_consumers").set(s.consumers as f64);
        if let Some(link) = &self.cluster {
            let c = link.stats(s.rooms);
            metrics::gauge!("huddle_cluster_redis_up").set(if c.redis_up { 1.0 } else { 0.0 });
            metrics::gauge!("huddle_cluster_nodes_alive").set(c.nodes_alive as f64);
            metrics::gauge!("huddle_cluster_rooms_homed_here").set(c.rooms_homed_here as f64);
            metrics::gauge!("huddle_cluster_rooms").set(c.cluster_rooms as f64);
            metrics::gauge!("huddle_cluster_remote_participants").set(c.remote_participants as f64);
            metrics::gauge!("huddle_cluster_forwarded_sockets").set(c.forwarded_sockets as f64);
            metrics::gauge!("huddle_cluster_pipe_transports").set(c.pipe_transports as f64);
        }
        for w in self.sfu.worker_stats() {
            let worker = w.index.to_string();
            metrics::gauge!("huddle_worker_routers", "worker" => worker.clone())
                .set(w.routers as f64);
            metrics::gauge!("huddle_worker_transports", "worker" => worker.clone())
                .set(w.transports as f64);
            metrics::gauge!("huddle_worker_producers", "worker" => worker.clone())
                .set(w.producers as f64);
            metrics::gauge!("huddle_worker_consumers", "worker" => worker).set(w.consumers as f64);
        }
    }

    /// Whether `socket` may act as `user`: always without authentication, else only as the
    /// user its token names.
    pub fn may_act_as(&self, socket: &str, user: &str) -> bool {
        self.identities
            .lock()
            .get(socket)
            .is_none_or(|identity| identity == user)
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

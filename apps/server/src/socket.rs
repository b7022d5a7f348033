//! Per-socket wiring: every event goes through one ordered queue per socket.
//!
//! socketioxide runs each event handler as its own task, so two events of one socket could be
//! handled out of order (`join` then `createRoom` racing). Huddle enqueues events synchronously,
//! in arrival order, and one task per socket handles them one after another; the disconnect is
//! the last item of that queue, so no request of a socket can finish after its cleanup.
//!
//! The task exists only while the queue has work: the first job of an idle socket spawns it,
//! and it ends when the queue is empty. An idle socket holds no task, no channel and no
//! handler future, only its empty queue (memory per idle socket, `docs/benchmarks.md`).

use crate::app::App;
use crate::handlers;
use parking_lot::Mutex;
use serde_json::Value;
use signal_proto::errors;
use signal_proto::responses::ErrorResponse;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::{FromMessageParts, MessageHandler, Value as RawValue};
use socketioxide::socket::{DisconnectReason, Socket};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracing::Instrument;

/// One client request.
pub struct Request {
    /// Event name.
    pub event: &'static str,
    /// Payload (`null` when absent or undecodable).
    pub data: Value,
    /// Ack channel (a no-op when the client sent no callback).
    pub ack: crate::ack::Ack,
    /// Whether the client sent a callback.
    pub has_ack: bool,
}

enum Job {
    Request(Request),
    Disconnect(DisconnectReason),
}

/// A socket's ordered queue of jobs, and whether a task is draining it.
struct SocketQueue {
    app: Arc<App>,
    sid: String,
    state: Mutex<QueueState>,
    /// Requests queued or being handled (the `--max-pending-per-socket` limit).
    pending: AtomicUsize,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    /// A task drains the queue.
    running: bool,
    /// The disconnect was handled: later jobs are dropped.
    closed: bool,
}

impl SocketQueue {
    /// Append a job; start a task to drain the queue unless one runs.
    fn push(self: &Arc<Self>, job: Job) {
        let start = {
            let mut st = self.state.lock();
            if st.closed {
                return;
            }
            st.jobs.push_back(job);
            !std::mem::replace(&mut st.running, true)
        };
        if start {
            let span = tracing::info_span!("socket", sid = %self.sid);
            tokio::spawn(self.clone().drain().instrument(span));
        }
    }

    /// Handle the queued jobs one after another, until the queue is empty.
    async fn drain(self: Arc<Self>) {
        loop {
            let job = {
                let mut st = self.state.lock();
                match st.jobs.pop_front() {
                    Some(job) => job,
                    None => {
                        st.running = false;
                        // Give back the memory of a burst.
                        st.jobs = VecDeque::new();
                        return;
                    }
                }
            };
            // A job answered without awaiting anything still counts against the task's
            // cooperative budget, so a burst yields now and then: the socket's writer gets to
            // flush the acks (engineioxide's outgoing buffer is bounded).
            tokio::task::consume_budget().await;
            match job {
                Job::Request(req) => {
                    let event = req.event;
                    let started = std::time::Instant::now();
                    handlers::dispatch(&self.app, &self.sid, req)
                        .instrument(tracing::debug_span!("event", event))
                        .await;
                    self.pending.fetch_sub(1, Ordering::AcqRel);
                    if let Some(h) = self.app.event_latency.get(event) {
                        h.record(started.elapsed().as_secs_f64());
                    }
                }
                Job::Disconnect(reason) => {
                    handlers::presence::disconnect(&self.app, &self.sid, reason);
                    let mut st = self.state.lock();
                    st.closed = true;
                    st.running = false;
                    st.jobs = VecDeque::new();
                    return;
                }
            }
        }
    }
}

/// The one message handler of a socket: it takes every event in arrival order, refuses what
/// is over the socket's limits, and enqueues the rest for the socket's task. It runs inline in
/// socketioxide's receive path (a [`MessageHandler`] of its own, not an async closure), so an
/// event costs no task spawn, and a socket holds one handler instead of one per event name.
struct Inbox {
    queue: Arc<SocketQueue>,
    rate: crate::rate::RateLimiter,
    limit: usize,
}

/// [`MessageHandler`] marker type of the per-socket inbox.
pub struct InboxCall;

impl<A: Adapter> MessageHandler<A, InboxCall> for Inbox {
    fn call(&self, s: Arc<Socket<A>>, mut v: RawValue, ack_id: Option<i64>) {
        let Ok(ack) = AckSender::from_message_parts(&s, &mut v, &ack_id);
        let name = Event::from_message_parts(&s, &mut v, &ack_id)
            .ok()
            .map(|Event(name)| name);
        // Every event counts against the rate, handled or not.
        if !self.rate.allow() {
            tracing::warn!(event = ?name, "request refused: rate limit");
            let _ = ack.send(&ErrorResponse::new(errors::RATE_LIMITED));
            return;
        }
        let Some(event) = name.as_deref().and_then(known_event) else {
            tracing::warn!(event = ?name, "request refused: unknown event");
            let _ = ack.send(&ErrorResponse::new(errors::UNKNOWN_EVENT));
            return;
        };
        let pending = &self.queue.pending;
        if pending.fetch_add(1, Ordering::AcqRel) >= self.limit {
            pending.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(event, "request refused: too many pending requests");
            let _ = ack.send(&ErrorResponse::new(errors::TOO_MANY_PENDING));
        } else {
            let Ok(TryData(data)) = TryData::<Value>::from_message_parts(&s, &mut v, &ack_id);
            self.queue.push(Job::Request(Request {
                event,
                data: data.unwrap_or(Value::Null),
                ack: ack.into(),
                has_ack: ack_id.is_some(),
            }));
        }
    }
}

/// The `&'static` name of a client event Huddle handles.
fn known_event(name: &str) -> Option<&'static str> {
    EVENTS.iter().copied().find(|e| *e == name)
}

/// Events a socket may send.
pub(crate) const EVENTS: &[&str] = &[
    signal_proto::events::JOIN,
    signal_proto::events::GET_ACTIVE_CALLS,
    signal_proto::events::GROUP_CALL_INITIATE,
    signal_proto::events::CREATE_ROOM,
    signal_proto::events::CREATE_TRANSPORT,
    signal_proto::events::CONNECT_TRANSPORT,
    signal_proto::events::PRODUCE,
    signal_proto::events::GET_PRODUCERS,
    signal_proto::events::CONSUME,
    signal_proto::events::RESUME_CONSUMER,
    signal_proto::events::LEAVE_ROOM,
    signal_proto::events::RESTART_ICE,
    signal_proto::events::CLOSE_PRODUCER,
    signal_proto::events::PAUSE_PRODUCER,
    signal_proto::events::RESUME_PRODUCER,
    signal_proto::events::PAUSE_CONSUMER,
    signal_proto::events::SET_CONSUMER_PREFERRED_LAYERS,
    signal_proto::events::SET_CONSUMER_PRIORITY,
    signal_proto::events::REQUEST_KEY_FRAME,
    signal_proto::events::START_RECORDING,
    signal_proto::events::STOP_RECORDING,
    // 1:1 calls (handlers::direct::EVENTS)
    signal_proto::direct::REGISTER_USER,
    signal_proto::direct::CHECK_USER_AVAILABILITY,
    signal_proto::direct::INITIATE_CALL,
    signal_proto::direct::CALL_ACCEPTED,
    signal_proto::direct::CALL_REJECTED,
    signal_proto::direct::CALL_ENDED,
    signal_proto::direct::ICE_CANDIDATE,
    // mesh group calls (handlers::mesh::EVENTS)
    signal_proto::mesh::JOIN,
    signal_proto::mesh::LEAVE,
    signal_proto::mesh::INVITATION,
    signal_proto::mesh::WEBRTC_OFFER,
    signal_proto::mesh::WEBRTC_ANSWER,
    signal_proto::mesh::WEBRTC_ICE_CANDIDATE,
    signal_proto::mesh::UPDATE_TRACKS,
];

/// Wire a newly connected socket.
///
/// Runs as the last connect *middleware*, i.e. before socketioxide sends the CONNECT packet:
/// a client that emits right on `connect` (as Threads clients do with `join`) must find the
/// handlers in place. Refuses new sockets once shutdown has begun.
pub fn on_connect<A: Adapter>(app: Arc<App>, socket: SocketRef<A>) -> Result<(), Refused> {
    let sid = socket.id.to_string();
    if app.is_shutting_down() {
        return Err(Refused("Server shutting down"));
    }
    let identity = socket.extensions.get::<crate::auth::Identity>();
    {
        let mut state = app.state.lock();
        state.connect(&sid);
        if let Some(crate::auth::Identity(user)) = &identity {
            // An authenticated socket is bound to its user at once.
            state.join(&sid, user);
        }
    }
    if let Some(link) = &app.cluster {
        // Cluster mode: the Socket.IO rooms through which other nodes reach this socket.
        socket.join(crate::hub::node_room(link.node_id().as_str()));
        if let Some(crate::auth::Identity(user)) = &identity {
            socket.join(crate::hub::user_room(user));
        }
    }
    if let Some(crate::auth::Identity(user)) = identity {
        app.identities.lock().insert(sid.clone(), user);
    }
    tracing::info!(sid = %sid, "socket connected");
    let queue = Arc::new(SocketQueue {
        app: app.clone(),
        sid,
        state: Mutex::new(QueueState::default()),
        pending: AtomicUsize::new(0),
    });
    socket.on_fallback(Inbox {
        queue: queue.clone(),
        rate: crate::rate::RateLimiter::new(app.max_events_per_second),
        limit: app.max_pending_per_socket,
    });
    socket.extensions.insert(DisconnectTx(queue.clone()));
    socket.on_disconnect(move |reason: DisconnectReason| {
        queue.push(Job::Disconnect(reason));
        async {}
    });
    Ok(())
}

/// The way to a socket's queue for its disconnect, kept in the socket's extensions.
#[derive(Clone)]
struct DisconnectTx(Arc<SocketQueue>);

/// The socket disconnected (for hosts with a disconnect handler of their own): queue its
/// cleanup after its pending requests. A no-op for sockets Huddle never wired or already
/// cleaned up.
pub fn disconnected<A: Adapter>(socket: &SocketRef<A>, reason: DisconnectReason) {
    if let Some(DisconnectTx(queue)) = socket.extensions.get::<DisconnectTx>() {
        queue.push(Job::Disconnect(reason));
    }
}

/// A connection refused by the server itself (sent to the client as `connect_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub &'static str);

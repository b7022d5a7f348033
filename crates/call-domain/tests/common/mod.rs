//! Shared test support: a counting RAII [`Media`] implementation and small builders.

#![allow(dead_code)]

use call_domain::{CallState, Effect, JoinRoom, Media, OutEvent, SocketId};
use signal_proto::{ConversationInfo, ParticipantInfo};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Decrements its counter when the last clone of the owning handle goes away.
#[derive(Debug)]
struct Token {
    counter: Arc<AtomicUsize>,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A media handle: cloning shares the token, so the live count only drops with the last clone.
#[derive(Debug, Clone)]
pub struct Handle {
    /// Unique (per tracker) id, for identity checks.
    pub id: u64,
    /// `"router"`, `"transport"`, `"producer"` or `"consumer"`.
    pub kind: &'static str,
    token: Arc<Token>,
}

/// Handles are equal when they are clones of the same object.
impl PartialEq for Handle {
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
    }
}

impl Eq for Handle {}

impl Handle {
    /// Whether both handles are clones of the same object.
    pub fn same(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.token, &other.token)
    }
}

/// The test media layer: every handle type is a counted [`Handle`].
#[derive(Debug)]
pub struct TestMedia;

impl Media for TestMedia {
    type Router = Handle;
    type Transport = Handle;
    type Producer = Handle;
    type Consumer = Handle;
}

/// The state under test.
pub type State = CallState<TestMedia>;

/// Live object counts per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Live {
    /// Live routers.
    pub routers: usize,
    /// Live transports.
    pub transports: usize,
    /// Live producers.
    pub producers: usize,
    /// Live consumers.
    pub consumers: usize,
}

/// Creates handles and counts the live ones (one tracker per test: tests run in parallel).
#[derive(Debug, Default)]
pub struct Tracker {
    routers: Arc<AtomicUsize>,
    transports: Arc<AtomicUsize>,
    producers: Arc<AtomicUsize>,
    consumers: Arc<AtomicUsize>,
    next: AtomicU64,
}

impl Tracker {
    /// A fresh tracker with all counts at zero.
    pub fn new() -> Self {
        Self::default()
    }

    fn make(&self, kind: &'static str, counter: &Arc<AtomicUsize>) -> Handle {
        counter.fetch_add(1, Ordering::SeqCst);
        Handle {
            id: self.next.fetch_add(1, Ordering::SeqCst),
            kind,
            token: Arc::new(Token {
                counter: Arc::clone(counter),
            }),
        }
    }

    /// A new router.
    pub fn router(&self) -> Handle {
        self.make("router", &self.routers)
    }

    /// A new transport.
    pub fn transport(&self) -> Handle {
        self.make("transport", &self.transports)
    }

    /// A new producer.
    pub fn producer(&self) -> Handle {
        self.make("producer", &self.producers)
    }

    /// A new consumer.
    pub fn consumer(&self) -> Handle {
        self.make("consumer", &self.consumers)
    }

    /// Current live counts.
    pub fn live(&self) -> Live {
        Live {
            routers: self.routers.load(Ordering::SeqCst),
            transports: self.transports.load(Ordering::SeqCst),
            producers: self.producers.load(Ordering::SeqCst),
            consumers: self.consumers.load(Ordering::SeqCst),
        }
    }
}

/// The participant info the tests use for `user`.
pub fn pinfo(user: &str) -> ParticipantInfo {
    ParticipantInfo {
        user_id: user.to_owned(),
        name: format!("User {user}"),
        avatar: None,
    }
}

/// The conversation info the tests use for `room`.
pub fn cinfo(room: &str) -> ConversationInfo {
    ConversationInfo {
        id: room.to_owned(),
        name: format!("Conv {room}"),
        avatar: None,
    }
}

/// A `JoinRoom` for `user` into `room` with a fresh router and the given cached members.
pub fn join_req(t: &Tracker, room: &str, user: &str, members: &[&str]) -> JoinRoom<TestMedia> {
    JoinRoom {
        room_id: room.to_owned(),
        info: pinfo(user),
        router: t.router(),
        conversation: cinfo(room),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        roster: None,
    }
}

/// The emit effects as `(event name, sorted recipients, payload)`.
pub fn emits(effects: &[Effect]) -> Vec<(&'static str, Vec<SocketId>, serde_json::Value)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit { to, event } => {
                let mut to = to.clone();
                to.sort();
                Some((event.name(), to, event.payload()))
            }
            Effect::Push(_) | Effect::Relay { .. } => None,
        })
        .collect()
}

/// Event names of the effects, in order (`"push"` for push requests).
pub fn names(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit { event, .. } => Some(event.name()),
            Effect::Push(_) => Some("push"),
            // Cluster relays are checked by their own tests.
            Effect::Relay { .. } => None,
        })
        .collect()
}

/// The only emit of `name`: its sorted recipients and payload. Panics when not exactly one.
pub fn only(effects: &[Effect], name: &str) -> (Vec<SocketId>, serde_json::Value) {
    let found: Vec<_> = emits(effects)
        .into_iter()
        .filter(|(n, _, _)| *n == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {name} in {effects:#?}"
    );
    let (_, to, payload) = found.into_iter().next().unwrap_or_else(|| unreachable!());
    (to, payload)
}

/// The events of the emit effects, in order.
pub fn events(effects: &[Effect]) -> Vec<&OutEvent> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Emit { event, .. } => Some(event),
            Effect::Push(_) | Effect::Relay { .. } => None,
        })
        .collect()
}

/// Sorted owned socket ids.
pub fn socks(ids: &[&str]) -> Vec<SocketId> {
    let mut v: Vec<SocketId> = ids.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// Connect `socket` and join it as `user`.
pub fn online(state: &mut State, socket: &str, user: &str) {
    state.connect(socket);
    state.join(socket, user);
}

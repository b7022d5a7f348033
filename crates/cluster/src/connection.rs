//! The reconnecting Redis connection: a multiplexed RESP3 connection for commands, a second one
//! for pub/sub subscriptions, their connectivity state, and durable subscriptions.
//!
//! Built on `redis`' [`ConnectionManager`], which replaces a dead connection in the background.
//! Subscriptions live on their own connection because Redis 7.0 may interleave a push message
//! into the reply of a `MULTI`/`EXEC` or script of a subscribed RESP3 client that publishes to
//! its own channel (redis/redis#12326, fixed in 7.2), which desynchronises the replies. On top
//! of it this module
//! * keeps the set of wanted channels and subscribes to all of them again whenever the
//!   connection comes back (before reporting [`Connectivity::Up`]), so a Redis restart never
//!   loses a subscription, even one made while Redis was away;
//! * tracks [`Connectivity`] in a [`watch`] channel: `Down` as soon as the connection drops
//!   (the library's disconnection push) or a probe fails, `Up` after a successful `PING` and
//!   resubscription;
//! * bounds every call with the command timeout, and fails at once while the connection is
//!   down, with [`ClusterError::Unavailable`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisResult, Value};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::AbortHandle;

use crate::{ClusterConfig, ClusterError};

/// Whether the node can currently talk to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// Connected; every subscription is established.
    Up,
    /// Not connected (never yet, or lost); calls fail with [`ClusterError::Unavailable`].
    Down,
}

/// One message received on a subscribed channel: `(channel, payload)`.
pub type ChannelMessage = (String, Vec<u8>);

/// Longest wait between two connection attempts while down.
const DOWN_RETRY: Duration = Duration::from_millis(250);

/// A reconnecting connection to Redis. Cheap to clone (all clones share the same two
/// connections).
#[derive(Clone)]
pub struct RedisConnection {
    inner: Arc<Inner>,
}

/// State shared by the clones of a [`RedisConnection`].
struct Inner {
    /// Commands (never subscribes).
    manager: ConnectionManager,
    /// `SUBSCRIBE` / `UNSUBSCRIBE` only; its pushes feed the [`Router`].
    subscriber: ConnectionManager,
    router: Arc<Router>,
    command_timeout: Duration,
    /// The connection monitor task, aborted when the last clone is dropped.
    monitor: AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.monitor.abort();
    }
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("connectivity", &*self.inner.router.state.borrow())
            .finish_non_exhaustive()
    }
}

/// Routes pushed messages to subscribers and records disconnections. Shared with the push
/// callback, which runs on the connection's own task and must never block.
struct Router {
    /// Wanted channels and their local subscribers.
    subs: RwLock<HashMap<String, Vec<mpsc::Sender<ChannelMessage>>>>,
    state: watch::Sender<Connectivity>,
    /// Wakes the monitor early (after a disconnection).
    wake: Notify,
}

impl Router {
    /// Push handler of the command connection: only disconnections matter.
    fn on_command_push(&self, push: PushInfo) {
        if push.kind == PushKind::Disconnection {
            self.on_push(push);
        }
    }

    /// Push handler of the subscriber connection.
    fn on_push(&self, push: PushInfo) {
        match push.kind {
            PushKind::Message => {
                let mut data = push.data.into_iter();
                let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
                    return;
                };
                match (
                    redis::from_redis_value::<String>(channel),
                    redis::from_redis_value::<Vec<u8>>(payload),
                ) {
                    (Ok(channel), Ok(payload)) => self.dispatch(channel, payload),
                    _ => tracing::warn!("undecodable pub/sub message"),
                }
            }
            PushKind::Disconnection => {
                if self.set_down() {
                    tracing::warn!("redis connection lost");
                }
                self.wake.notify_one();
            }
            _ => {}
        }
    }

    fn dispatch(&self, channel: String, payload: Vec<u8>) {
        let mut stale = false;
        {
            let subs = self.subs.read();
            let Some(sinks) = subs.get(&channel) else {
                tracing::debug!(channel, "message on a channel without subscriber");
                return;
            };
            for sink in sinks {
                match sink.try_send((channel.clone(), payload.clone())) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(channel, "subscriber queue full, message dropped");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => stale = true,
                }
            }
        }
        if stale && let Some(sinks) = self.subs.write().get_mut(&channel) {
            sinks.retain(|sink| !sink.is_closed());
        }
    }

    /// Marks the connection down; whether it was up.
    fn set_down(&self) -> bool {
        self.state.send_if_modified(|state| {
            let was_up = *state == Connectivity::Up;
            *state = Connectivity::Down;
            was_up
        })
    }

    fn is_up(&self) -> bool {
        *self.state.borrow() == Connectivity::Up
    }

    fn channels(&self) -> Vec<String> {
        self.subs.read().keys().cloned().collect()
    }
}

impl RedisConnection {
    /// Opens the connection described by `config` (`redis_url`, `command_timeout`,
    /// `probe_interval`).
    ///
    /// Tries to connect once (bounded by the command timeout) before returning, and keeps
    /// trying in the background after that: an unreachable Redis is not an error here, the
    /// connection is then [`Connectivity::Down`] until Redis answers. Fails only on an invalid
    /// URL.
    pub async fn connect(config: &ClusterConfig) -> Result<Self, ClusterError> {
        let info = config
            .redis_url
            .as_str()
            .into_connection_info()
            .map_err(|e| ClusterError::Config(format!("redis url: {e}")))?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))
            .map_err(|e| ClusterError::Config(format!("redis url: {e}")))?;
        let base_config = || {
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.command_timeout))
                .set_response_timeout(Some(config.command_timeout))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500))
        };

        let (state, _) = watch::channel(Connectivity::Down);
        let router = Arc::new(Router {
            subs: RwLock::new(HashMap::new()),
            state,
            wake: Notify::new(),
        });
        let push_router = router.clone();
        let manager = ConnectionManager::new_lazy_with_config(
            client.clone(),
            base_config().set_push_sender(move |push: PushInfo| {
                push_router.on_command_push(push);
                Ok::<(), std::convert::Infallible>(())
            }),
        )
        .map_err(|e| ClusterError::Config(format!("redis client: {e}")))?;
        let push_router = router.clone();
        let subscriber = ConnectionManager::new_lazy_with_config(
            client,
            base_config()
                .set_push_sender(move |push: PushInfo| {
                    push_router.on_push(push);
                    Ok::<(), std::convert::Infallible>(())
                })
                .set_automatic_resubscription(),
        )
        .map_err(|e| ClusterError::Config(format!("redis client: {e}")))?;

        let monitor = Monitor {
            manager: manager.clone(),
            subscriber: subscriber.clone(),
            router: router.clone(),
            command_timeout: config.command_timeout,
            probe_interval: config.probe_interval,
        };
        monitor.probe().await;
        let task = tokio::spawn(monitor.run());
        Ok(Self {
            inner: Arc::new(Inner {
                manager,
                subscriber,
                router,
                command_timeout: config.command_timeout,
                monitor: task.abort_handle(),
            }),
        })
    }

    /// The connectivity state; `changed()` fires on every transition.
    pub fn connectivity(&self) -> watch::Receiver<Connectivity> {
        self.inner.router.state.subscribe()
    }

    /// Whether the connection is up right now.
    pub fn is_up(&self) -> bool {
        self.inner.router.is_up()
    }

    /// Waits until the connection is up, at most `timeout`.
    pub async fn wait_up(&self, timeout: Duration) -> Result<(), ClusterError> {
        let mut rx = self.connectivity();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c == Connectivity::Up))
            .await
            .map_err(|_| ClusterError::Unavailable)?
            .map_err(|_| ClusterError::Unavailable)?;
        Ok(())
    }

    /// Publishes `payload` on `channel`; returns how many subscribers (connections) got it.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<usize, ClusterError> {
        let mut conn = self.manager();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(payload);
        self.guard(cmd.query_async(&mut conn)).await
    }

    /// Subscribes to `channel`; messages are queued (up to `buffer`, further ones dropped with a
    /// warning) until read from the returned [`Subscription`].
    ///
    /// The subscription is durable: it is recorded first and (re)established on Redis now and
    /// after every reconnect. While Redis is down this succeeds and the `SUBSCRIBE` happens when
    /// it returns. Several subscribers of one channel each get every message.
    pub async fn subscribe(
        &self,
        channel: &str,
        buffer: usize,
    ) -> Result<Subscription, ClusterError> {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        self.inner
            .router
            .subs
            .write()
            .entry(channel.to_owned())
            .or_default()
            .push(tx);
        if self.is_up() {
            let mut conn = self.inner.subscriber.clone();
            match self.guard(conn.subscribe(channel)).await {
                Ok(()) => {}
                Err(ClusterError::Unavailable) => {
                    tracing::debug!(channel, "subscription deferred until reconnect");
                }
                Err(e) => {
                    self.inner.router.subs.write().remove(channel);
                    return Err(e);
                }
            }
        }
        Ok(Subscription {
            channel: channel.to_owned(),
            rx,
        })
    }

    /// Drops every local subscriber of `channel` and unsubscribes from it.
    pub async fn unsubscribe(&self, channel: &str) -> Result<(), ClusterError> {
        self.inner.router.subs.write().remove(channel);
        if !self.is_up() {
            return Ok(());
        }
        let mut conn = self.inner.subscriber.clone();
        match self.guard(conn.unsubscribe(channel)).await {
            Ok(()) | Err(ClusterError::Unavailable) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A handle on the multiplexed connection for one call (cheap clone).
    pub(crate) fn manager(&self) -> ConnectionManager {
        self.inner.manager.clone()
    }

    /// Runs one Redis call: fails at once while down, bounds it by the command timeout, and
    /// maps connection failures to [`ClusterError::Unavailable`].
    pub(crate) async fn guard<T>(
        &self,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, ClusterError> {
        if !self.is_up() {
            return Err(ClusterError::Unavailable);
        }
        match tokio::time::timeout(self.inner.command_timeout, call).await {
            Ok(result) => result.map_err(ClusterError::from),
            Err(_) => {
                tracing::debug!(timeout = ?self.inner.command_timeout, "redis call timed out");
                Err(ClusterError::Unavailable)
            }
        }
    }
}

/// A stream of messages of one subscribed channel.
#[derive(Debug)]
pub struct Subscription {
    channel: String,
    rx: mpsc::Receiver<ChannelMessage>,
}

impl Subscription {
    /// The next message; `None` once the channel was unsubscribed or the connection dropped.
    pub async fn recv(&mut self) -> Option<ChannelMessage> {
        self.rx.recv().await
    }

    /// The subscribed channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The underlying queue (for the socketioxide driver).
    pub(crate) fn into_receiver(self) -> mpsc::Receiver<ChannelMessage> {
        self.rx
    }
}

/// The background task that probes the connection and restores subscriptions.
struct Monitor {
    manager: ConnectionManager,
    subscriber: ConnectionManager,
    router: Arc<Router>,
    command_timeout: Duration,
    probe_interval: Duration,
}

impl Monitor {
    async fn run(self) {
        loop {
            let wait = if self.router.is_up() {
                self.probe_interval
            } else {
                self.probe_interval.min(DOWN_RETRY)
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.router.wake.notified() => {}
            }
            self.probe().await;
        }
    }

    /// One check: `PING` on both connections; on the way up, `SUBSCRIBE` to every wanted
    /// channel first.
    async fn probe(&self) {
        let mut conn = self.manager.clone();
        let mut subscriber = self.subscriber.clone();
        let ping = redis::cmd("PING");
        let pings = async {
            tokio::try_join!(
                ping.query_async::<Value>(&mut conn),
                ping.query_async::<Value>(&mut subscriber)
            )
        };
        let alive = matches!(
            tokio::time::timeout(self.command_timeout, pings).await,
            Ok(Ok(_))
        );
        if !alive {
            if self.router.set_down() {
                tracing::warn!("redis unreachable");
            }
            return;
        }
        if self.router.is_up() {
            return;
        }
        let channels = self.router.channels();
        if !channels.is_empty() {
            let resubscribed =
                tokio::time::timeout(self.command_timeout, subscriber.subscribe(&channels)).await;
            if !matches!(resubscribed, Ok(Ok(()))) {
                tracing::warn!(channels = channels.len(), "resubscribing failed, retrying");
                return;
            }
        }
        tracing::info!(channels = channels.len(), "redis connection up");
        self.router.state.send_replace(Connectivity::Up);
    }
}

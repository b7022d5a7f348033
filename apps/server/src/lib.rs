//! Huddle's server: configuration, Socket.IO handlers, wiring and HTTP.
//!
//! Also usable as a library: mount Huddle inside another axum application with
//! [`Huddle::builder`], which returns an [`axum::Router`] and a [`HuddleHandle`].
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let (router, handle) = huddle::Huddle::builder(huddle::Config::default()).build().await?;
//! let app = axum::Router::new()
//!     .route("/hello", axum::routing::get(|| async { "hi" }))
//!     .merge(router);
//! # let _ = (app, handle); Ok(()) }
//! ```

pub mod ack;
pub mod admin;
pub mod app;
pub mod auth;
pub mod call_updates;
pub mod cluster_link;
pub mod compact;
pub mod config;
pub mod control;
pub mod directory;
pub mod events;
pub mod handlers;
pub mod history;
pub mod http;
pub mod hub;
pub mod media;
pub mod push;
pub mod quality;
pub mod rate;
pub mod recording;
pub mod rosters;
pub mod socket;
pub mod speakers;
pub mod transport_health;
pub mod webhooks;

pub use config::{AuthMode, Config, LogFormat};
pub use control::{ActiveCallInfo, ControlError, ParticipantInfo as CallParticipant, ProducerInfo};
pub use events::{Events, EventsError, HuddleEvent};
pub use hub::ClusterAdapter;

use anyhow::Context;
use app::App;
use auth::{Authenticator, JwtVerifier};
use call_domain::{CallHistory, Directory, DisplayPolicy, MemoryDirectory, Stats};
use directory::CountingDirectory;
use media_sfu::{Sfu, SfuConfig};
use parking_lot::Mutex;
use push::fcm::{FcmConfig, FcmSender, ServiceAccount};
use push::{LogTokens, NoPush, PushSender, TokenStore};
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::extract::TryData;
use socketioxide::handler::ConnectHandler;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use store_pg::{PgDirectory, PgOptions};

/// The built-in demo directory.
pub const DEMO_DIRECTORY: &str = include_str!("../assets/demo-directory.json");

/// Entry point for building a Huddle service.
#[derive(Debug)]
pub struct Huddle;

impl Huddle {
    /// Start building a Huddle service from `config`.
    pub fn builder(config: Config) -> HuddleBuilder {
        HuddleBuilder {
            config,
            directory: None,
            push: None,
            history: None,
            authenticator: None,
            install_metrics: true,
            cluster_node: None,
        }
    }
}

/// Builder for a Huddle service.
pub struct HuddleBuilder {
    config: Config,
    directory: Option<Arc<dyn Directory>>,
    push: Option<Arc<dyn PushSender>>,
    history: Option<Arc<dyn CallHistory>>,
    authenticator: Option<Arc<dyn Authenticator>>,
    install_metrics: bool,
    /// Cluster mode: the cluster layer, started before the Socket.IO server.
    cluster_node: Option<cluster::Node>,
}

impl HuddleBuilder {
    /// Use this directory instead of the embedded one.
    pub fn directory(mut self, directory: impl Directory + 'static) -> Self {
        self.directory = Some(Arc::new(directory));
        self
    }

    /// Use this push sender (default: push disabled).
    pub fn push(mut self, push: impl PushSender + 'static) -> Self {
        self.push = Some(Arc::new(push));
        self
    }

    /// Record finished calls here (default: the PostgreSQL database when one is configured,
    /// else no history).
    pub fn history(mut self, history: impl CallHistory + 'static) -> Self {
        self.history = Some(Arc::new(history));
        self
    }

    /// Decide who connecting sockets are with the host's own sessions or cookies, instead of
    /// the configured JWT verification (an authenticated socket is bound to its user at once,
    /// and `join` as anybody else is refused).
    pub fn authenticator(mut self, authenticator: impl Authenticator + 'static) -> Self {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }

    /// Whether to install the global Prometheus recorder (default true; set false when the
    /// host application owns the `metrics` recorder).
    pub fn install_metrics(mut self, install: bool) -> Self {
        self.install_metrics = install;
        self
    }

    /// Start the media workers and build a standalone service: Huddle's own Socket.IO server
    /// (namespace `/` at `/socket.io`) and the HTTP routes.
    pub async fn build(mut self) -> anyhow::Result<(axum::Router, HuddleHandle)> {
        let builder = SocketIo::builder()
            .ping_interval(Duration::from_millis(self.config.ping_interval_ms))
            .ping_timeout(Duration::from_millis(self.config.ping_timeout_ms))
            .max_payload(self.config.max_payload_bytes)
            .ws_max_message_size(
                usize::try_from(self.config.max_payload_bytes).unwrap_or(usize::MAX),
            )
            .ws_max_frame_size(usize::try_from(self.config.max_payload_bytes).unwrap_or(usize::MAX))
            // Kept per socket for its whole life: small (signalling messages are small;
            // a larger one is read in several chunks).
            .ws_read_buffer_size(WS_READ_BUFFER)
            // Room for every ack a socket may be owed (its pending-request limit) plus events:
            // a full buffer would drop an ack. Slots are allocated only as they are used.
            .max_buffer_size(
                self.config
                    .max_pending_per_socket
                    .saturating_mul(2)
                    .max(MIN_SOCKET_BUFFER),
            );
        match self.cluster_adapter().await? {
            None => {
                let (layer, io) = builder.build_layer();
                let (router, handle) = self.attach(&io).await?;
                let wire = handle.clone();
                let huddle = move |s: SocketRef, TryData(auth): TryData<serde_json::Value>| {
                    let handle = wire.clone();
                    async move { handle.connect(&s, auth.ok().as_ref()).await }
                };
                io.ns("/", (|_: SocketRef| async {}).with(huddle));
                Ok((with_socket_io(router, layer), handle))
            }
            Some(adapter) => {
                let (layer, io) = builder
                    .with_adapter::<ClusterAdapter>(adapter)
                    .build_layer();
                let (router, handle) = self.attach(&io).await?;
                let wire = handle.clone();
                let huddle =
                    move |s: SocketRef<ClusterAdapter>,
                          TryData(auth): TryData<serde_json::Value>| {
                        let handle = wire.clone();
                        async move { handle.connect(&s, auth.ok().as_ref()).await }
                    };
                io.ns("/", (|_: SocketRef<ClusterAdapter>| async {}).with(huddle))
                    .await
                    .context("subscribing the Socket.IO adapter to Redis")?;
                Ok((with_socket_io(router, layer), handle))
            }
        }
    }

    /// Cluster mode (`--redis-url`): start this node's cluster layer and return the
    /// socketioxide-redis adapter on its reconnecting Redis connection; `None` without a
    /// Redis URL. A host that attaches Huddle to its own Socket.IO server in cluster mode
    /// builds that server with it (`SocketIo::builder().with_adapter::<ClusterAdapter>(ctr)`)
    /// before [`HuddleBuilder::attach`]; [`HuddleBuilder::build`] does so itself.
    pub async fn cluster_adapter(
        &mut self,
    ) -> anyhow::Result<Option<socketioxide_redis::RedisAdapterCtr<cluster::AdapterDriver>>> {
        if self.cluster_node.is_none() {
            self.cluster_node = cluster_link::ClusterLink::start_node(&self.config).await?;
        }
        Ok(self.cluster_node.as_ref().map(|node| {
            socketioxide_redis::RedisAdapterCtr::new_with_driver(
                node.adapter_driver(),
                socketioxide_redis::RedisAdapterConfig::default(),
            )
        }))
    }

    /// Start the media workers and attach Huddle to the host's own Socket.IO server: Huddle
    /// registers no namespace; the host wires each socket of its namespace with
    /// [`HuddleHandle::connect`] from a connect middleware, so the host's events and
    /// Huddle's share one connection. Returns Huddle's HTTP routes (health, metrics, admin
    /// API, demo page) for the host to merge, and the handle.
    ///
    /// ```no_run
    /// use socketioxide::extract::{SocketRef, TryData};
    /// use socketioxide::handler::ConnectHandler;
    /// # async fn f() -> anyhow::Result<()> {
    /// let (layer, io) = socketioxide::SocketIo::new_layer();
    /// let (routes, huddle) = huddle::Huddle::builder(huddle::Config::default())
    ///     .attach(&io)
    ///     .await?;
    /// let wire = huddle.clone();
    /// let host = |s: SocketRef| async move {
    ///     s.on("message", |s: SocketRef| async move { let _ = s.emit("message", "hi"); });
    /// };
    /// io.ns("/", host.with(move |s: SocketRef, TryData(auth): TryData<serde_json::Value>| {
    ///     let huddle = wire.clone();
    ///     async move { huddle.connect(&s, auth.ok().as_ref()).await }
    /// }));
    /// let app = axum::Router::new().merge(routes).layer(layer);
    /// # let _ = app; Ok(()) }
    /// ```
    ///
    /// In cluster mode the server must use [`ClusterAdapter`] (see
    /// [`HuddleBuilder::cluster_adapter`]): events addressed to users reach the other nodes
    /// through it.
    pub async fn attach<A: socketioxide::adapter::Adapter>(
        mut self,
        io: &SocketIo<A>,
    ) -> anyhow::Result<(axum::Router, HuddleHandle)> {
        if self.config.redis_url.is_some() {
            anyhow::ensure!(
                std::any::TypeId::of::<A>() == std::any::TypeId::of::<ClusterAdapter>(),
                "cluster mode (--redis-url) needs a Socket.IO server built with \
                 huddle::ClusterAdapter (see HuddleBuilder::cluster_adapter)"
            );
            // Started here unless the host asked for the adapter first.
            self.cluster_adapter().await?;
        }
        let config = self.config;
        // Authentication is settled first: a misconfiguration must stop start-up before any
        // database or media work.
        let authenticator: Option<Arc<dyn Authenticator>> = match self.authenticator {
            Some(a) => Some(a),
            None => auth_verifier(&config)?.map(|v| v as Arc<dyn Authenticator>),
        };
        let database = match (&self.directory, config.database()) {
            (None, Some(url)) => Some(open_database(&config, url).await?),
            _ => None,
        };
        let push = match self.push {
            Some(push) => push,
            None => push_sender(&config, database.clone())?,
        };
        let supplied = self.directory.or_else(|| {
            database
                .clone()
                .map(|pg| Arc::new(pg) as Arc<dyn Directory>)
        });
        // The membership feed: the built-in directory never changes; PostgreSQL notifies.
        let feed = match (&supplied, &database, config.database()) {
            (None, _, _) => Feed::Static,
            (Some(_), Some(_), Some(url)) if !config.no_member_listener => {
                Feed::Listen(url.to_owned())
            }
            _ => Feed::None,
        };
        let (directory, demo): (Arc<dyn Directory>, serde_json::Value) = match supplied {
            Some(d) => (d, json!({"users": [], "conversations": []})),
            None => {
                let text = match &config.directory {
                    Some(path) => std::fs::read_to_string(path)
                        .with_context(|| format!("reading directory file {}", path.display()))?,
                    None => DEMO_DIRECTORY.to_owned(),
                };
                let memory = MemoryDirectory::from_json(&text).context("parsing directory JSON")?;
                let demo = demo_json(&memory);
                (Arc::new(memory), demo)
            }
        };
        let sfu = Sfu::new(SfuConfig {
            workers: config.worker_count(),
            listen_ip: config.rtc_listen_ip,
            announced_ip: config.announced_ip,
            rtc_min_port: config.rtc_min_port,
            rtc_max_port: config.rtc_max_port,
            webrtc_port: Some(config.webrtc_port),
            worker_consumer_capacity: config.worker_consumer_capacity.max(1),
            worker_log_level: config.worker_log_level,
            worker_log_tags: config.worker_log_tags.clone(),
        })
        .await
        .context("starting mediasoup workers")?;
        let metrics = if self.install_metrics {
            install_metrics_recorder()?
        } else {
            None
        };
        // Resolved after the recorder is installed, so the handles record into it.
        let event_latency = socket::EVENTS
            .iter()
            .map(|&e| {
                let h = metrics::histogram!("huddle_event_duration_seconds", "event" => e);
                (e, h)
            })
            .collect();
        let grace = Duration::from_millis(config.transport_failure_grace_ms);
        let webhooks = webhooks::Webhooks::start(webhooks::WebhookConfig {
            secret: config.webhook_secret.clone(),
            queue: config.webhook_queue,
            max_attempts: config.webhook_max_attempts,
            ..webhooks::WebhookConfig::new(
                config
                    .webhook_urls
                    .iter()
                    .map(|u| u.trim().to_owned())
                    .filter(|u| !u.is_empty())
                    .collect(),
            )
        })
        .context("starting webhooks")?;
        let history = self.history.or_else(|| database_history(database.as_ref()));
        let cluster = self.cluster_node.map(cluster_link::ClusterLink::new);
        let hub: Arc<dyn hub::SocketHub> = Arc::new(hub::Hub::new(
            io.clone(),
            cluster
                .as_ref()
                .map(|link| hub::node_room(link.node_id().as_str())),
        ));
        let (events, _) = tokio::sync::broadcast::channel(events::EVENTS_CAPACITY);
        let app = Arc::new_cyclic(|weak| App {
            state: Mutex::new(
                call_domain::CallState::with_limits(config.limits())
                    .with_peer_limits(config.peer_limits())
                    .with_call_update_interval(Duration::from_millis(
                        config.call_update_interval_ms,
                    ))
                    .with_relay(cluster.is_some()),
            ),
            sfu,
            directory: CountingDirectory::new(directory),
            display: DisplayPolicy {
                avatar_base_url: config.avatar_base_url.clone(),
            },
            push,
            io: hub.clone(),
            max_pending_per_socket: config.max_pending_per_socket,
            max_events_per_second: config.max_events_per_second,
            shutting_down: AtomicBool::new(false),
            identities: Mutex::new(Default::default()),
            authenticator,
            health: transport_health::HealthMonitor::start(weak.clone(), grace),
            call_updates: call_updates::CallUpdateTimer::start(weak.clone()),
            stamper: Mutex::new(events::Stamper::default()),
            events,
            webhooks,
            history,
            event_latency,
            cluster,
            rosters: rosters::Rosters::new(weak.clone()),
            recordings: recording::Recordings::new(recording::RecordingConfig {
                dir: config.recording_dir.clone(),
                ffmpeg: config.ffmpeg.clone(),
                min_port: config.recording_min_port,
                max_port: config.recording_max_port,
                allow_participants: config.allow_participant_recording,
            }),
        });
        recording::run(&app);
        match feed {
            Feed::Static => app.state.lock().membership_feed_up(),
            Feed::Listen(url) => {
                tokio::spawn(rosters::listen_loop(
                    Arc::downgrade(&app),
                    url,
                    db_timeout(&config),
                ));
            }
            Feed::None => tracing::info!(
                "no membership feed: active calls are looked up in the directory each time"
            ),
        }
        if let Some(link) = &app.cluster {
            link.run(Arc::downgrade(&app), hub);
        }
        if let Some(reports) = app.sfu.take_speaker_reports() {
            tokio::spawn(speakers::report_loop(Arc::downgrade(&app), reports));
        }
        tokio::spawn(quality::measure_loop(Arc::downgrade(&app)));
        if let Some(mut deaths) = app.sfu.take_worker_deaths() {
            let weak = Arc::downgrade(&app);
            tokio::spawn(async move {
                while let Some(index) = deaths.recv().await {
                    let Some(app) = weak.upgrade() else { break };
                    recover_worker(&app, index).await;
                }
            });
        }
        let router = http::routes(http::HttpState {
            app: app.clone(),
            metrics,
            demo: Arc::new(demo),
            web_dir: config.demo_web_dir(),
        })
        .merge(admin::routes(app.clone(), config.admin_token.clone()));
        Ok((router, HuddleHandle { app }))
    }
}

/// `router` served with Huddle's own Socket.IO layer, behind [`compact::own_request_bytes`]
/// (an idle socket keeps only its own request bytes).
fn with_socket_io<A: socketioxide::adapter::Adapter>(
    router: axum::Router,
    layer: socketioxide::layer::SocketIoLayer<A>,
) -> axum::Router {
    router
        .layer(layer)
        .layer(axum::middleware::map_request(compact::own_request_bytes))
}

/// Installs the global Prometheus recorder; `None` when another one is installed already.
/// Fixed buckets (not summaries) keep each histogram's memory constant; an upkeep task folds
/// recorded samples into them even when nobody scrapes `/metrics`.
fn install_metrics_recorder()
-> anyhow::Result<Option<metrics_exporter_prometheus::PrometheusHandle>> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .context("metrics histogram buckets")?
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("a metrics recorder is already installed; /metrics disabled");
        return Ok(None);
    }
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(METRICS_UPKEEP);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(Some(handle))
}

/// Outgoing packets one socket may have buffered, at least.
const MIN_SOCKET_BUFFER: usize = 1024;

/// WebSocket read buffer per socket (engineioxide's default is 4 KiB).
const WS_READ_BUFFER: usize = 1024;

/// Histogram buckets (seconds) of the latency metrics: 50 µs … 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

/// How often recorded histogram samples are folded into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// `huddle migrate`: applies the database migrations and returns.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = config
        .database()
        .context("`huddle migrate` needs DATABASE_URL (or --database-url)")?;
    let applied = store_pg::run_migrations(url, db_timeout(config))
        .await
        .context("applying database migrations")?;
    tracing::info!(applied = applied.len(), "database schema is current");
    Ok(())
}

/// What keeps the active rooms' rosters true (see [`rosters`]).
enum Feed {
    /// The built-in directory: memberships never change.
    Static,
    /// PostgreSQL: listen for the membership triggers' notifications at this URL.
    Listen(String),
    /// A directory supplied by the host (or the listener disabled): no feed, every lookup
    /// queries the directory.
    None,
}

/// Database timeout from the configuration.
fn db_timeout(config: &Config) -> Duration {
    Duration::from_millis(config.db_timeout_ms.max(1))
}

/// The PostgreSQL directory at `url`, migrated first unless `--no-migrate`.
async fn open_database(config: &Config, url: &str) -> anyhow::Result<PgDirectory> {
    let timeout = db_timeout(config);
    if config.no_migrate {
        tracing::info!("database migrations disabled (--no-migrate)");
    } else {
        store_pg::run_migrations(url, timeout)
            .await
            .context("applying database migrations (use --no-migrate to skip)")?;
    }
    tracing::info!("using the PostgreSQL directory");
    Ok(PgDirectory::connect(
        url,
        PgOptions {
            max_connections: config.db_max_connections,
            connect_timeout: timeout,
            acquire_timeout: timeout,
            query_timeout: timeout.saturating_mul(2),
            max_waiting: config.db_max_waiting.max(1),
            busy_timeout: Duration::from_millis(config.db_busy_timeout_ms.max(1)),
        },
    ))
}

/// FCM push when a service account is configured (unregistered tokens are removed from
/// `database` when there is one), else push disabled, said once.
fn push_sender(
    config: &Config,
    database: Option<PgDirectory>,
) -> anyhow::Result<Arc<dyn PushSender>> {
    let Some(path) = &config.fcm_service_account else {
        tracing::info!(
            "push notifications disabled: no FCM service account \
             (--fcm-service-account / HUDDLE_FCM_SERVICE_ACCOUNT)"
        );
        return Ok(Arc::new(NoPush));
    };
    let account = ServiceAccount::from_file(path)?;
    let tokens: Arc<dyn TokenStore> = match database {
        Some(pg) => Arc::new(pg),
        None => Arc::new(LogTokens),
    };
    let mut fcm = FcmConfig::new(account);
    fcm.endpoint = config.fcm_endpoint.clone();
    fcm.token_uri = config.fcm_token_uri.clone();
    fcm.concurrency = config.push_concurrency;
    fcm.max_retries = config.push_max_retries;
    tracing::info!(project = %fcm.account.project_id, "FCM push notifications enabled");
    Ok(Arc::new(FcmSender::new(fcm, tokens)?))
}

/// A mediasoup worker died: close its rooms (participants get `participantLeft`, members
/// `group_call_ended`), then start a fresh worker in its slot so new calls work.
async fn recover_worker(app: &App, index: usize) {
    // New rooms go to the other workers (or wait for the replacement) from now on.
    app.sfu.mark_dead(index);
    let effects = {
        let mut st = app.state.lock();
        let rooms: Vec<String> = st
            .active_room_ids()
            .into_iter()
            .filter(|id| st.room(id).is_some_and(|r| r.router.uses_worker(index)))
            .collect();
        tracing::warn!(
            worker = index,
            rooms = rooms.len(),
            "closing the rooms of a dead worker"
        );
        rooms
            .iter()
            .flat_map(|r| st.close_room_because(r, call_domain::LeaveReason::WorkerDied))
            .collect::<Vec<_>>()
    };
    app.apply(effects);
    if let Err(e) = app.sfu.replace_worker(index).await {
        tracing::error!(worker = index, error = %e, "could not replace a dead worker");
    }
}

/// The database's call history, when a database is configured.
fn database_history(database: Option<&PgDirectory>) -> Option<Arc<dyn CallHistory>> {
    database.map(|pg| Arc::new(pg.clone()) as Arc<dyn CallHistory>)
}

/// The JWT verifier the configuration asks for, or `None` for `HUDDLE_AUTH=none`.
fn auth_verifier(config: &Config) -> anyhow::Result<Option<Arc<JwtVerifier>>> {
    let verifier = match (&config.jwt_secret, &config.jwt_public_key) {
        (Some(secret), _) => Some(JwtVerifier::hs256(secret.as_bytes())),
        (None, Some(path)) => Some(JwtVerifier::from_file(path)?),
        (None, None) => None,
    }
    .map(|v| {
        Arc::new(
            v.audience(config.jwt_audience.clone())
                .issuer(config.jwt_issuer.clone()),
        )
    });
    match (config.auth, verifier) {
        (Some(AuthMode::None), _) => {
            tracing::warn!("HUDDLE_AUTH=none: clients are trusted to say who they are");
            Ok(None)
        }
        (Some(AuthMode::Jwt), None) => anyhow::bail!(
            "HUDDLE_AUTH=jwt needs a key: set HUDDLE_JWT_SECRET or HUDDLE_JWT_PUBLIC_KEY"
        ),
        (_, Some(v)) => {
            tracing::info!("connections must present a JWT");
            Ok(Some(v))
        }
        (None, None) => {
            if config.requires_explicit_auth() {
                anyhow::bail!(
                    "a database is configured but no authentication: set HUDDLE_JWT_SECRET / \
                     HUDDLE_JWT_PUBLIC_KEY for JWT auth, or HUDDLE_AUTH=none to trust clients"
                );
            }
            tracing::warn!(
                "no authentication configured: the embedded demo trusts clients' `join` \
                 (set HUDDLE_AUTH=none to silence, or configure a JWT key)"
            );
            Ok(None)
        }
    }
}

fn demo_json(d: &MemoryDirectory) -> serde_json::Value {
    let users: Vec<_> = d
        .users()
        .into_iter()
        .map(|u| {
            let conversations: Vec<_> = d
                .conversations_of(&u.id)
                .into_iter()
                .map(|c| json!({"id": c.id, "name": c.name.unwrap_or_else(|| "Group Call".into())}))
                .collect();
            json!({
                "id": u.id,
                "name": u.name.clone().unwrap_or_else(|| format!("User {}", u.id)),
                "avatar": u.avatar,
                "conversations": conversations,
            })
        })
        .collect();
    json!({ "users": users })
}

/// Why [`HuddleHandle::connect`] refused a socket (sent to the client as `connect_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The authenticator refused the handshake.
    #[error("{0}")]
    Auth(auth::AuthError),
    /// The server refused it (shutting down).
    #[error("{0}")]
    Refused(socket::Refused),
}

/// A handle on a running Huddle service.
#[derive(Clone)]
pub struct HuddleHandle {
    app: Arc<App>,
}

impl HuddleHandle {
    /// Wire a connecting socket into Huddle: authenticate it (when an authenticator or JWT
    /// key is configured; `auth` is the CONNECT packet's `auth` object), bind it to its user
    /// and install Huddle's event handling (Huddle's client events, answered in arrival
    /// order; events the host registers itself with `socket.on` are the host's). Call it from
    /// a connect *middleware*, so Huddle's handlers are in place before the client sees
    /// `connect`; the error is the client's `connect_error`.
    ///
    /// Huddle registers the socket's disconnect handler. A host that needs its own calls
    /// [`HuddleHandle::disconnected`] from it.
    pub async fn connect<A: socketioxide::adapter::Adapter>(
        &self,
        socket: &SocketRef<A>,
        auth: Option<&serde_json::Value>,
    ) -> Result<(), ConnectError> {
        if let Some(authenticator) = &self.app.authenticator {
            let handshake = auth::Handshake {
                request: socket.req_parts(),
                auth,
            };
            match authenticator.authenticate(handshake).await {
                Ok(user) => {
                    socket.extensions.insert(auth::Identity(user));
                }
                Err(e) => {
                    tracing::info!(sid = %socket.id, error = %e, "connection refused");
                    return Err(ConnectError::Auth(e));
                }
            }
        }
        socket::on_connect(self.app.clone(), socket.clone()).map_err(ConnectError::Refused)
    }

    /// The socket disconnected: for hosts that replace Huddle's disconnect handler with
    /// their own (calling it twice is harmless).
    pub fn disconnected<A: socketioxide::adapter::Adapter>(
        &self,
        socket: &SocketRef<A>,
        reason: socketioxide::socket::DisconnectReason,
    ) {
        socket::disconnected(socket, reason);
    }

    /// Current object counts.
    pub fn stats(&self) -> Stats {
        self.app.state.lock().stats()
    }

    /// Fault injection: handle worker `index` as if it had crashed.
    pub fn simulate_worker_death(&self, index: usize) {
        self.app.sfu.simulate_worker_death(index);
    }

    /// Directory queries made so far.
    pub fn directory_queries(&self) -> u64 {
        self.app.directory.queries()
    }

    /// Begin a graceful shutdown: refuse new sockets, tell clients (`server_shutdown`), close
    /// every room (participants get `participantLeft`, members `group_call_ended`), and
    /// disconnect everyone.
    pub async fn shutdown(&self) {
        self.app.shutting_down.store(true, Ordering::Relaxed);
        // Recordings are finished first, so their files are complete.
        recording::stop_all(&self.app, "shutdown").await;
        let notice = serde_json::to_value(signal_proto::server_events::ServerShutdown {
            reason: "server shutting down".into(),
        })
        .unwrap_or_default();
        if let Err(e) = self
            .app
            .io
            .emit_local(signal_proto::events::SERVER_SHUTDOWN, &notice)
            .await
        {
            tracing::warn!(error = %e, "server_shutdown not sent");
        }
        let effects = {
            let mut st = self.app.state.lock();
            let rooms = st.active_room_ids();
            rooms.iter().flat_map(|r| st.close_room(r)).collect()
        };
        self.app.apply(effects);
        if let Err(e) = self.app.io.disconnect_local().await {
            tracing::warn!(error = %e, "sockets not disconnected");
        }
        if let Some(link) = &self.app.cluster {
            link.leave().await;
        }
    }
}

//! Server configuration: CLI flags with `HUDDLE_*` environment fallbacks.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How connections are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Trust the client's `join` (as the Threads seeds do). Must be chosen explicitly.
    None,
    /// Every connection presents a JWT; its `sub` is the socket's user.
    Jwt,
}

/// What to run.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Serve Socket.IO and HTTP (the default).
    Serve,
    /// Apply the database migrations (needs `DATABASE_URL`) and exit.
    Migrate,
}

/// Huddle's configuration. Every flag can also be set as `HUDDLE_<FLAG>`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "huddle",
    version,
    about = "Huddle: group-call signalling and SFU server"
)]
pub struct Config {
    /// What to run (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// HTTP / Socket.IO listen address.
    #[arg(long, env = "HUDDLE_LISTEN", default_value = "0.0.0.0:8000")]
    pub listen: SocketAddr,
    /// Embedded directory file (JSON: `{users:[...], conversations:[...]}`); the built-in demo
    /// directory when unset.
    #[arg(long, env = "HUDDLE_DIRECTORY")]
    pub directory: Option<PathBuf>,
    /// Base URL that stored avatar file names are resolved against.
    #[arg(
        long,
        env = "HUDDLE_AVATAR_BASE_URL",
        default_value = "http://localhost:8000/uploads"
    )]
    pub avatar_base_url: String,
    /// IP the media transports bind to.
    #[arg(long, env = "HUDDLE_RTC_LISTEN_IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub rtc_listen_ip: IpAddr,
    /// Public IP announced in ICE candidates (needed when listening on 0.0.0.0).
    #[arg(long, env = "HUDDLE_ANNOUNCED_IP")]
    pub announced_ip: Option<IpAddr>,
    /// Lowest RTC port.
    #[arg(long, env = "HUDDLE_RTC_MIN_PORT", default_value_t = 40000)]
    pub rtc_min_port: u16,
    /// Highest RTC port.
    #[arg(long, env = "HUDDLE_RTC_MAX_PORT", default_value_t = 49999)]
    pub rtc_max_port: u16,
    /// mediasoup workers (default: one per core).
    #[arg(long, env = "HUDDLE_WORKERS")]
    pub workers: Option<usize>,
    /// Engine.IO ping interval (ms).
    #[arg(long, env = "HUDDLE_PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval_ms: u64,
    /// Engine.IO ping timeout (ms): a socket silent this long after a ping is dropped.
    #[arg(long, env = "HUDDLE_PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout_ms: u64,
    /// Maximum queued requests per socket before new ones are refused.
    #[arg(long, env = "HUDDLE_MAX_PENDING_PER_SOCKET", default_value_t = 256)]
    pub max_pending_per_socket: usize,
    /// Authentication: `none` or `jwt`. Unset: `jwt` when a key is configured, else `none`
    /// for the embedded demo directory (with a warning).
    #[arg(long, env = "HUDDLE_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// HS256 shared secret for connection JWTs.
    #[arg(long, env = "HUDDLE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// RS256/ES256 public key (PEM) or JWKS (JSON) file for connection JWTs.
    #[arg(long, env = "HUDDLE_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Required `aud` claim.
    #[arg(long, env = "HUDDLE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Required `iss` claim.
    #[arg(long, env = "HUDDLE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Seconds a 1:1 call may ring unanswered before it ends with `call-ended {reason:"timeout"}`.
    #[arg(long, env = "HUDDLE_DIRECT_CALL_TIMEOUT_SECS", default_value_t = 45)]
    pub direct_call_timeout_secs: u64,
    /// Most participants (sockets) in one mesh (peer-to-peer) group call; larger calls must use
    /// the SFU flow (`createRoom`).
    #[arg(long, env = "HUDDLE_MESH_MAX_PARTICIPANTS", default_value_t = 6)]
    pub mesh_max_participants: usize,
    /// Directory of the built demo page (`index.html` and `assets/`), served at `/`. Default:
    /// this source tree's `web/dist` when it exists (`cargo xtask run` builds it), else a
    /// built-in placeholder page.
    #[arg(long, env = "HUDDLE_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "HUDDLE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "HUDDLE_LOG", default_value = "info")]
    pub log: String,
    /// PostgreSQL URL of the Threads database (also read from `HUDDLE_DATABASE_URL`); unset:
    /// the embedded directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Fallback for `--database-url` / `DATABASE_URL`.
    #[arg(long, env = "HUDDLE_DATABASE_URL", hide = true, hide_env_values = true)]
    pub huddle_database_url: Option<String>,
    /// Do not apply database migrations at start (`huddle migrate` applies them).
    #[arg(long, env = "HUDDLE_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Maximum pooled database connections.
    #[arg(long, env = "HUDDLE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Database timeout (ms): connecting, waiting for a pooled connection, and each query.
    /// Requests fail with an error after it while the database is unreachable.
    #[arg(long, env = "HUDDLE_DB_TIMEOUT_MS", default_value_t = 2_000)]
    pub db_timeout_ms: u64,
    /// Firebase service-account JSON file; push notifications are disabled without it.
    #[arg(long, env = "HUDDLE_FCM_SERVICE_ACCOUNT")]
    pub fcm_service_account: Option<PathBuf>,
    /// FCM HTTP v1 base URL (messages go to `{base}/v1/projects/{id}/messages:send`).
    #[arg(
        long,
        env = "HUDDLE_FCM_ENDPOINT",
        default_value = "https://fcm.googleapis.com"
    )]
    pub fcm_endpoint: String,
    /// OAuth2 token endpoint (default: the service account's `token_uri`, else Google's).
    #[arg(long, env = "HUDDLE_FCM_TOKEN_URI")]
    pub fcm_token_uri: Option<String>,
    /// Maximum FCM requests in flight.
    #[arg(long, env = "HUDDLE_PUSH_CONCURRENCY", default_value_t = 16)]
    pub push_concurrency: usize,
    /// Retries of one push after 429 / 5xx / network errors (exponential backoff).
    #[arg(long, env = "HUDDLE_PUSH_MAX_RETRIES", default_value_t = 3)]
    pub push_max_retries: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self::parse_from(["huddle"])
    }
}

impl Config {
    /// Whether authentication must be chosen explicitly (a real user database is configured).
    pub fn requires_explicit_auth(&self) -> bool {
        false
    }

    /// The demo page directory to serve: `--web-dir`, else the source tree's `web/dist` when
    /// it holds an `index.html`; `None` serves the placeholder page.
    pub fn demo_web_dir(&self) -> Option<PathBuf> {
        self.web_dir.clone().or_else(|| {
            let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist");
            dist.join("index.html")
                .is_file()
                .then(|| dist.canonicalize().unwrap_or(dist))
        })
    }

    /// The database URL: `--database-url` / `DATABASE_URL`, else `HUDDLE_DATABASE_URL`.
    pub fn database(&self) -> Option<&str> {
        self.database_url
            .as_deref()
            .or(self.huddle_database_url.as_deref())
            .filter(|url| !url.trim().is_empty())
    }

    /// Number of mediasoup workers to start.
    pub fn worker_count(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }

    /// The mesh and 1:1 call limits this configuration sets.
    pub fn peer_limits(&self) -> call_domain::PeerLimits {
        call_domain::PeerLimits {
            mesh_max_participants: self.mesh_max_participants.max(1),
            direct_call_timeout: std::time::Duration::from_secs(
                self.direct_call_timeout_secs.max(1),
            ),
        }
    }
}

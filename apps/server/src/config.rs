//! Server configuration: CLI flags with `HUDDLE_*` environment fallbacks.

use clap::{Parser, Subcommand, ValueEnum};
use media_sfu::{WorkerLogTags, WorkerLogging};
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
    /// TOML configuration file (keys are flag names); flags and environment override it.
    #[arg(long = "config", env = "HUDDLE_CONFIG")]
    pub config_file: Option<PathBuf>,
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
    /// WebRtcServer base port: worker `i` serves all its WebRTC transports on UDP and TCP port
    /// `base + i` (open these in the firewall). 0: random ports (tests, several servers on
    /// one host).
    #[arg(long, env = "HUDDLE_WEBRTC_PORT", default_value_t = 40000)]
    pub webrtc_port: u16,
    /// Lowest port of the range for per-transport ports (pipe and plain transports).
    #[arg(long, env = "HUDDLE_RTC_MIN_PORT", default_value_t = 40100)]
    pub rtc_min_port: u16,
    /// Highest port of the per-transport range.
    #[arg(long, env = "HUDDLE_RTC_MAX_PORT", default_value_t = 49999)]
    pub rtc_max_port: u16,
    /// Consumers one worker may carry before a room on it continues on another worker
    /// (producers are piped between the room's routers).
    #[arg(long, env = "HUDDLE_WORKER_CONSUMER_CAPACITY", default_value_t = 500)]
    pub worker_consumer_capacity: usize,
    /// What the mediasoup workers log: debug, warn, error or none. Their logs go through the
    /// `mediasoup::worker` tracing target, so `--log` must let them through too.
    #[arg(long, env = "HUDDLE_WORKER_LOG_LEVEL", default_value_t = WorkerLogging::Warn)]
    pub worker_log_level: WorkerLogging,
    /// Comma-separated mediasoup log tags for `--worker-log-level debug` (ice, dtls, srtp,
    /// rtp, rtcp, rtx, bwe, score, simulcast, svc, sctp, message, info).
    #[arg(long, env = "HUDDLE_WORKER_LOG_TAGS", default_value_t = WorkerLogTags::default())]
    pub worker_log_tags: WorkerLogTags,
    /// Grace period (ms) after mediasoup reports a participant's transport failed (ICE
    /// disconnected, DTLS failed or closed): unless it recovers, the participant is removed
    /// from the room (`participantLeft` to the others, `removedFromRoom` to it).
    #[arg(
        long,
        env = "HUDDLE_TRANSPORT_FAILURE_GRACE_MS",
        default_value_t = 20_000
    )]
    pub transport_failure_grace_ms: u64,
    /// Minimum time (ms) between two `group_call_updated` of one conversation; a change
    /// inside the window is sent when it closes, so the last state always arrives.
    #[arg(long, env = "HUDDLE_CALL_UPDATE_INTERVAL_MS", default_value_t = 1_000)]
    pub call_update_interval_ms: u64,
    /// mediasoup workers (default: one per core).
    #[arg(long, env = "HUDDLE_WORKERS")]
    pub workers: Option<usize>,
    /// Engine.IO ping interval (ms).
    #[arg(long, env = "HUDDLE_PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval_ms: u64,
    /// Engine.IO ping timeout (ms): a socket silent this long after a ping is dropped.
    #[arg(long, env = "HUDDLE_PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout_ms: u64,
    /// Largest accepted Socket.IO message (bytes).
    #[arg(long, env = "HUDDLE_MAX_PAYLOAD_BYTES", default_value_t = 256 * 1024)]
    pub max_payload_bytes: u64,
    /// Requests per second one socket may send (sustained; bursts up to five times as many, 0 = unlimited).
    #[arg(long, env = "HUDDLE_MAX_EVENTS_PER_SECOND", default_value_t = 100)]
    pub max_events_per_second: u32,
    /// Transports per socket.
    #[arg(long, env = "HUDDLE_MAX_TRANSPORTS_PER_SOCKET", default_value_t = 8)]
    pub max_transports_per_socket: usize,
    /// Producers per socket.
    #[arg(long, env = "HUDDLE_MAX_PRODUCERS_PER_SOCKET", default_value_t = 16)]
    pub max_producers_per_socket: usize,
    /// Consumers per socket.
    #[arg(long, env = "HUDDLE_MAX_CONSUMERS_PER_SOCKET", default_value_t = 512)]
    pub max_consumers_per_socket: usize,
    /// Participants per SFU room.
    #[arg(long, env = "HUDDLE_MAX_PARTICIPANTS_PER_ROOM", default_value_t = 100)]
    pub max_participants_per_room: usize,
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
    /// Overload limit: while the database answers, requests wait for a pooled connection
    /// (queue) as long as fewer than this many wait; past it they are shed with
    /// "Server busy, try again". A busy database is never reported as unavailable.
    #[arg(long, env = "HUDDLE_DB_MAX_WAITING", default_value_t = 100_000)]
    pub db_max_waiting: usize,
    /// Longest wait (ms) for a pooled connection while the database answers but every
    /// connection is in use.
    #[arg(long, env = "HUDDLE_DB_BUSY_TIMEOUT_MS", default_value_t = 30_000)]
    pub db_busy_timeout_ms: u64,
    /// Do not LISTEN for membership changes: every active-call lookup then queries the
    /// database (as before the `member_notify` migration; for comparison).
    #[arg(long, env = "HUDDLE_NO_MEMBER_LISTENER")]
    pub no_member_listener: bool,
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
    /// Bearer token of the admin HTTP API (`/api/v1/...`); without it the API is off.
    #[arg(long, env = "HUDDLE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Webhook URLs that receive the lifecycle events (repeatable or comma-separated).
    #[arg(
        long = "webhook-url",
        env = "HUDDLE_WEBHOOK_URL",
        value_delimiter = ','
    )]
    pub webhook_urls: Vec<String>,
    /// Secret of the `X-Huddle-Signature` HMAC-SHA256 of webhook bodies.
    #[arg(long, env = "HUDDLE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Webhook deliveries queued per URL; beyond it new events are dropped (counted, logged).
    #[arg(long, env = "HUDDLE_WEBHOOK_QUEUE", default_value_t = 1024)]
    pub webhook_queue: usize,
    /// Attempts of one webhook delivery after network errors, 429 and 5xx (exponential
    /// backoff from 250 ms, at most 30 s apart).
    #[arg(long, env = "HUDDLE_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
    pub webhook_max_attempts: u32,
    /// Cluster mode: the Redis server the nodes share (`redis://host:port[/db]`, Redis 7 or
    /// newer). Without it Huddle is one process and needs no Redis.
    #[arg(long, env = "HUDDLE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Cluster mode: this node's id (ASCII letters, digits, `-`, `_`; 1–64 characters; unique
    /// in the cluster). Generated and logged when absent.
    #[arg(long, env = "HUDDLE_NODE_ID")]
    pub node_id: Option<String>,
    /// Cluster mode: how often a node renews its liveness lease (ms); a node is reported dead
    /// about 3 renewals after its last one.
    #[arg(long, env = "HUDDLE_CLUSTER_RENEW_MS", default_value_t = 2000)]
    pub cluster_renew_ms: u64,
    /// Server-side recording: the directory recordings are written to (one subdirectory per
    /// recording). Recording is off without it.
    #[arg(long, env = "HUDDLE_RECORDING_DIR")]
    pub recording_dir: Option<std::path::PathBuf>,
    /// Let call participants start and stop recordings (`startRecording` / `stopRecording`);
    /// otherwise only the admin API and the embedding handle can.
    #[arg(long, env = "HUDDLE_ALLOW_PARTICIPANT_RECORDING")]
    pub allow_participant_recording: bool,
    /// Lowest local UDP port recordings receive RTP on (pairs: RTP on an even port, RTCP on
    /// the next); keep the range outside the WebRTC ports.
    #[arg(long, env = "HUDDLE_RECORDING_MIN_PORT", default_value_t = 50000)]
    pub recording_min_port: u16,
    /// Highest local UDP port of recordings.
    #[arg(long, env = "HUDDLE_RECORDING_MAX_PORT", default_value_t = 50999)]
    pub recording_max_port: u16,
    /// The FFmpeg binary recordings use.
    #[arg(long, env = "HUDDLE_FFMPEG", default_value = "ffmpeg")]
    pub ffmpeg: std::path::PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self::parse_from(["huddle"])
    }
}

impl Config {
    /// Parse the command line, with `HUDDLE_*` environment variables and an optional TOML
    /// file (`--config FILE` or `HUDDLE_CONFIG`) as fallbacks, in that order of precedence
    /// (a file setting is used only when neither the flag nor its variable is given).
    /// File keys are the flag names (`listen = "0.0.0.0:8000"`, `max-transports-per-socket = 4`;
    /// underscores work too).
    pub fn load() -> anyhow::Result<Self> {
        let args: Vec<String> = std::env::args().collect();
        let file = args
            .iter()
            .position(|a| a == "--config")
            .and_then(|i| args.get(i + 1).cloned())
            .or_else(|| {
                args.iter()
                    .find_map(|a| a.strip_prefix("--config=").map(str::to_owned))
            })
            .or_else(|| std::env::var("HUDDLE_CONFIG").ok());
        let mut args = args;
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("reading config file {path}: {e}"))?;
            for (env, flag, value) in file_settings(&text)? {
                let on_cli = args
                    .iter()
                    .any(|a| *a == flag || a.starts_with(&format!("{flag}=")));
                if on_cli || std::env::var_os(&env).is_some() {
                    continue;
                }
                match value.as_str() {
                    "true" => args.push(flag),
                    "false" => {}
                    _ => {
                        args.push(flag);
                        args.push(value);
                    }
                }
            }
        }
        Ok(Self::parse_from(args))
    }

    /// Whether authentication must be chosen explicitly (a real user database is configured).
    pub fn requires_explicit_auth(&self) -> bool {
        self.database().is_some()
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

    /// The domain limits this configuration sets.
    pub fn limits(&self) -> call_domain::Limits {
        call_domain::Limits {
            transports_per_socket: self.max_transports_per_socket,
            producers_per_socket: self.max_producers_per_socket,
            consumers_per_socket: self.max_consumers_per_socket,
            participants_per_room: self.max_participants_per_room,
        }
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

/// `(environment variable, flag, value)` for each key of a TOML configuration file.
pub fn file_settings(text: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("invalid config file: {e}"))?;
    table
        .into_iter()
        .map(|(key, value)| {
            let flag_name = key.to_ascii_lowercase().replace('_', "-");
            let env = match flag_name.as_str() {
                "database-url" => "DATABASE_URL".to_owned(),
                k => format!("HUDDLE_{}", k.replace('-', "_").to_ascii_uppercase()),
            };
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => anyhow::bail!("config key {key}: unsupported value {other}"),
            };
            Ok((env, format!("--{flag_name}"), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_map_to_env_names() {
        let vars = file_settings(
            "listen = \"127.0.0.1:9000\"\nmax-transports-per-socket = 3\ndatabase_url = \"postgres://x\"\n",
        )
        .unwrap_or_default();
        let has = |e: &str, f: &str, v: &str| vars.contains(&(e.into(), f.into(), v.into()));
        assert!(has("HUDDLE_LISTEN", "--listen", "127.0.0.1:9000"));
        assert!(has(
            "HUDDLE_MAX_TRANSPORTS_PER_SOCKET",
            "--max-transports-per-socket",
            "3"
        ));
        assert!(has("DATABASE_URL", "--database-url", "postgres://x"));
        assert!(file_settings("[table]\nx = 1").is_err());
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.listen.port(), 8000);
        assert_eq!(c.limits().transports_per_socket, 8);
        assert!(c.worker_count() >= 1);
    }
}

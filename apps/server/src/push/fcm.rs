//! Firebase Cloud Messaging (HTTP v1) push.
//!
//! Service-account JSON → RS256-signed JWT assertion → OAuth2 access token (cached until a
//! minute before it expires) → `POST {endpoint}/v1/projects/{project_id}/messages:send`, one
//! request per device token, Android priority high, a data-only message ([`super::push_data`]).
//!
//! Outcomes per token: 2xx sent; 404 / `UNREGISTERED` → the token goes to the
//! [`TokenStore`]; 401 → the access token is dropped and the request retried; 429, 5xx and
//! network errors → retried with exponential backoff (honouring `Retry-After`) up to
//! `max_retries` times; anything else is logged and dropped. Requests in flight are bounded
//! by a semaphore. Nothing here can fail the call flow: [`FcmSender::send`] runs in a spawned
//! task and only logs.

use super::{PushSender, TokenStore, push_data};
use call_domain::PushRequest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, Semaphore};

/// Google's OAuth2 token endpoint.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth2 scope FCM HTTP v1 needs.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Access tokens are refreshed this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Longest wait between retries (also caps `Retry-After`).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Configuring FCM failed.
#[derive(Debug, thiserror::Error)]
pub enum FcmConfigError {
    /// The service-account file cannot be read.
    #[error("cannot read FCM service account {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The service-account JSON is not valid.
    #[error("invalid FCM service account {origin}: {detail}")]
    Invalid {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        detail: String,
    },
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The fields of a Google service-account key file that FCM needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    /// The Firebase project.
    pub project_id: String,
    /// The service account's e-mail (the JWT issuer).
    pub client_email: String,
    /// PEM-encoded RSA private key.
    pub private_key: String,
    /// Key id (the JWT `kid`), if present.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// The token endpoint named in the file, if any.
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Parses a service-account JSON document (`origin` names it in errors).
    pub fn from_json(json: &str, origin: &str) -> Result<Self, FcmConfigError> {
        let account: ServiceAccount =
            serde_json::from_str(json).map_err(|e| FcmConfigError::Invalid {
                origin: origin.to_owned(),
                detail: e.to_string(),
            })?;
        jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes()).map_err(|e| {
            FcmConfigError::Invalid {
                origin: origin.to_owned(),
                detail: format!("private_key: {e}"),
            }
        })?;
        Ok(account)
    }

    /// Reads and parses a service-account file.
    pub fn from_file(path: &Path) -> Result<Self, FcmConfigError> {
        let json = std::fs::read_to_string(path).map_err(|source| FcmConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json, &path.display().to_string())
    }
}

/// FCM sender settings.
#[derive(Debug, Clone)]
pub struct FcmConfig {
    /// The service account.
    pub account: ServiceAccount,
    /// FCM base URL (`https://fcm.googleapis.com`).
    pub endpoint: String,
    /// Token endpoint; `None`: the account's `token_uri`, else [`GOOGLE_TOKEN_URI`].
    pub token_uri: Option<String>,
    /// Maximum requests in flight.
    pub concurrency: usize,
    /// Retries after 429 / 5xx / network errors.
    pub max_retries: u32,
    /// First retry delay (doubles each retry).
    pub backoff: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

impl FcmConfig {
    /// Defaults for `account`: Google's endpoints, 16 in flight, 3 retries from 500 ms.
    pub fn new(account: ServiceAccount) -> Self {
        Self {
            account,
            endpoint: "https://fcm.googleapis.com".to_owned(),
            token_uri: None,
            concurrency: 16,
            max_retries: 3,
            backoff: Duration::from_millis(500),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of what the sender did (also exported as `huddle_push_total{outcome}`).
#[derive(Debug, Default)]
pub struct FcmStats {
    /// Messages FCM accepted.
    pub sent: AtomicU64,
    /// Tokens reported unregistered (handed to the token store).
    pub unregistered: AtomicU64,
    /// Messages given up on.
    pub failed: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
    /// Access tokens fetched.
    pub token_fetches: AtomicU64,
}

/// A cached OAuth2 access token.
struct AccessToken {
    value: String,
    refresh_at: Instant,
}

/// Sends call pushes through FCM HTTP v1.
pub struct FcmSender {
    config: FcmConfig,
    token_uri: String,
    key: jsonwebtoken::EncodingKey,
    http: reqwest::Client,
    tokens: Arc<dyn TokenStore>,
    limit: Arc<Semaphore>,
    access: Mutex<Option<AccessToken>>,
    stats: FcmStats,
}

impl std::fmt::Debug for FcmSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmSender")
            .field("config", &self.config)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended.
enum Attempt {
    Sent,
    Unregistered,
    Retry(Option<Duration>, String),
    Fatal(String),
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl FcmSender {
    /// A sender; unregistered tokens go to `tokens`.
    pub fn new(config: FcmConfig, tokens: Arc<dyn TokenStore>) -> Result<Self, FcmConfigError> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(config.account.private_key.as_bytes())
            .map_err(|e| FcmConfigError::Invalid {
                origin: config.account.client_email.clone(),
                detail: format!("private_key: {e}"),
            })?;
        let token_uri = config
            .token_uri
            .clone()
            .or_else(|| config.account.token_uri.clone())
            .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned());
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()?;
        Ok(Self {
            limit: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            token_uri,
            key,
            http,
            tokens,
            access: Mutex::new(None),
            stats: FcmStats::default(),
        })
    }

    /// What the sender did so far.
    pub fn stats(&self) -> &FcmStats {
        &self.stats
    }

    /// A valid access token: the cached one, or a fresh one from the token endpoint.
    async fn access_token(&self) -> Result<String, String> {
        let mut cached = self.access.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            iss: &self.config.account.client_email,
            scope: FCM_SCOPE,
            aud: &self.token_uri,
            iat: now,
            exp: now + 3600,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.config.account.private_key_id.clone();
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("signing the token request: {e}"))?;
        self.stats.token_fetches.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .post(&self.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("token request: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("token endpoint answered {status}: {body}"));
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|e| format!("token response: {e}"))?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        *cached = Some(AccessToken {
            value: token.access_token.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN),
        });
        Ok(token.access_token)
    }

    /// Forgets the cached access token (FCM rejected it).
    async fn drop_access_token(&self) {
        *self.access.lock().await = None;
    }

    /// One POST to FCM for `token`.
    async fn attempt(&self, token: &str, data: &BTreeMap<String, String>) -> Attempt {
        let access = match self.access_token().await {
            Ok(a) => a,
            Err(e) => return Attempt::Retry(None, e),
        };
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.config.endpoint.trim_end_matches('/'),
            self.config.account.project_id
        );
        let body = serde_json::json!({
            "message": {
                "token": token,
                "data": data,
                "android": { "priority": "high" },
            }
        });
        let response = match self
            .http
            .post(&url)
            .bearer_auth(&access)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(None, format!("request: {e}")),
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Sent;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let code = error_code(&text);
        if status == reqwest::StatusCode::NOT_FOUND || code.as_deref() == Some("UNREGISTERED") {
            return Attempt::Unregistered;
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            self.drop_access_token().await;
            return Attempt::Retry(Some(Duration::ZERO), format!("{status}: {text}"));
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry(retry_after, format!("{status}: {text}"));
        }
        Attempt::Fatal(format!("{status}: {text}"))
    }

    /// Delivers to one device token, with retries; never fails.
    async fn deliver(&self, user_id: &str, token: &str, data: &BTreeMap<String, String>) {
        let Ok(_permit) = self.limit.clone().acquire_owned().await else {
            return;
        };
        let mut retries = 0;
        loop {
            match self.attempt(token, data).await {
                Attempt::Sent => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("huddle_push_total", "outcome" => "sent").increment(1);
                    tracing::debug!(user = %user_id, "push sent");
                    return;
                }
                Attempt::Unregistered => {
                    self.stats.unregistered.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("huddle_push_total", "outcome" => "unregistered")
                        .increment(1);
                    self.tokens.remove_token(user_id, token).await;
                    return;
                }
                Attempt::Retry(after, reason) if retries < self.config.max_retries => {
                    let backoff = self.config.backoff.saturating_mul(1 << retries.min(16));
                    let wait = after.unwrap_or(backoff).min(MAX_BACKOFF);
                    retries += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(user = %user_id, %reason, ?wait, retries, "push retry");
                    tokio::time::sleep(wait).await;
                }
                Attempt::Retry(_, reason) | Attempt::Fatal(reason) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("huddle_push_total", "outcome" => "failed").increment(1);
                    tracing::warn!(user = %user_id, %reason, retries, "push failed");
                    return;
                }
            }
        }
    }
}

/// The FCM `errorCode` of an error response (`error.details[].errorCode`), if any.
fn error_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.pointer("/error/details")?
        .as_array()?
        .iter()
        .find_map(|d| d.get("errorCode")?.as_str().map(str::to_owned))
}

#[async_trait::async_trait]
impl PushSender for FcmSender {
    async fn send(&self, request: PushRequest) {
        let data = push_data(&request);
        let deliveries = request.recipients.iter().flat_map(|user| {
            user.fcm_tokens
                .iter()
                .map(|token| self.deliver(&user.id, token, &data))
        });
        futures::future::join_all(deliveries).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        let body = r#"{"error":{"code":404,"status":"NOT_FOUND","details":[
            {"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert_eq!(error_code(body).as_deref(), Some("UNREGISTERED"));
        assert_eq!(error_code("nope"), None);
        assert_eq!(error_code(r#"{"error":{"code":500}}"#), None);
    }
}

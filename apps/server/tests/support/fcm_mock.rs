//! A local stand-in for Google's two FCM endpoints (the OAuth2 token endpoint and
//! `messages:send`), recording what it receives. FCM itself cannot run here.
//!
//! The token endpoint verifies the JWT assertion against the public half of
//! `tests/fixtures/fcm-test-key.pem` (a throwaway key generated with `openssl genrsa` for these
//! tests only). `messages:send` answers by device-token prefix:
//! `ok-` 200, `gone-` 404 UNREGISTERED, `flaky-` 503 twice then 200, `busy-` always 429,
//! `bad-` 400, `expire-` 401 on the first attempt, `slow-` 200 after 100 ms.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The throwaway private key.
pub const PRIVATE_KEY: &str = include_str!("../fixtures/fcm-test-key.pem");
/// Its public key.
pub const PUBLIC_KEY: &str = include_str!("../fixtures/fcm-test-key.pub.pem");
/// The project the fake service account belongs to.
pub const PROJECT: &str = "huddle-test";
/// The fake service account's e-mail.
pub const CLIENT_EMAIL: &str = "push@huddle-test.iam.gserviceaccount.com";

/// What the mock received.
#[derive(Default)]
pub struct Recorded {
    /// Verified JWT claims of each token request.
    pub token_requests: Mutex<Vec<Value>>,
    /// (access token, body) of each `messages:send`.
    pub messages: Mutex<Vec<(String, Value)>>,
    /// Attempts per device token.
    pub attempts: Mutex<HashMap<String, u32>>,
    /// `expires_in` the token endpoint hands out.
    pub expires_in: AtomicU64,
    /// Requests in flight now / at most.
    pub in_flight: AtomicUsize,
    /// Most requests in flight at once.
    pub max_in_flight: AtomicUsize,
    /// Access tokens issued so far.
    pub issued: Mutex<Vec<String>>,
}

/// A running mock.
pub struct FcmMock {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub base: String,
    /// What it received.
    pub recorded: Arc<Recorded>,
}

impl FcmMock {
    /// Starts the mock on a free port.
    pub async fn start() -> FcmMock {
        let recorded = Arc::new(Recorded::default());
        recorded.expires_in.store(3600, Ordering::Relaxed);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = (recorded.clone(), base.clone());
        let app = axum::Router::new().fallback(move |method, uri, headers, body| {
            let state = state.clone();
            async move { handle(state, method, uri, headers, body).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        FcmMock { base, recorded }
    }

    /// The token endpoint URL.
    pub fn token_uri(&self) -> String {
        format!("{}/token", self.base)
    }

    /// A service-account JSON for this mock.
    pub fn service_account_json(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "key-1",
            "private_key": PRIVATE_KEY,
            "client_email": CLIENT_EMAIL,
            "token_uri": self.token_uri(),
        })
        .to_string()
    }

    /// Messages received so far, as (device token, body).
    pub fn messages(&self) -> Vec<(String, Value)> {
        self.recorded
            .messages
            .lock()
            .iter()
            .map(|(_, body)| {
                (
                    body["message"]["token"].as_str().unwrap_or("").to_owned(),
                    body.clone(),
                )
            })
            .collect()
    }

    /// Attempts for device token `t`.
    pub fn attempts(&self, t: &str) -> u32 {
        self.recorded.attempts.lock().get(t).copied().unwrap_or(0)
    }

    /// Token requests so far.
    pub fn token_fetches(&self) -> usize {
        self.recorded.token_requests.lock().len()
    }
}

async fn handle(
    (rec, base): (Arc<Recorded>, String),
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if uri.path() == "/token" {
        return token(&rec, &base, &body);
    }
    let expected = format!("/v1/projects/{PROJECT}/messages:send");
    if uri.path() != expected {
        return (
            StatusCode::NOT_FOUND,
            format!("unknown path {}", uri.path()),
        )
            .into_response();
    }
    let access = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    if !rec.issued.lock().contains(&access) {
        return (StatusCode::UNAUTHORIZED, "unknown access token").into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let device = body["message"]["token"].as_str().unwrap_or("").to_owned();
    let attempt = {
        let mut attempts = rec.attempts.lock();
        let n = attempts.entry(device.clone()).or_default();
        *n += 1;
        *n
    };
    rec.messages.lock().push((access, body));
    let now = rec.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    rec.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = if device.starts_with("slow-") {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ok()
    } else if device.starts_with("ok-") {
        ok()
    } else if device.starts_with("gone-") {
        fcm_error(StatusCode::NOT_FOUND, "NOT_FOUND", Some("UNREGISTERED"))
    } else if device.starts_with("flaky-") && attempt <= 2 {
        fcm_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            Some("UNAVAILABLE"),
        )
    } else if device.starts_with("flaky-") {
        ok()
    } else if device.starts_with("busy-") {
        let mut r = fcm_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            Some("QUOTA_EXCEEDED"),
        );
        r.headers_mut().insert("retry-after", "0".parse().unwrap());
        r
    } else if device.starts_with("expire-") && attempt == 1 {
        fcm_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", None)
    } else if device.starts_with("expire-") {
        ok()
    } else {
        fcm_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
        )
    };
    rec.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn ok() -> Response {
    axum::Json(json!({"name": format!("projects/{PROJECT}/messages/0:1")})).into_response()
}

fn fcm_error(status: StatusCode, name: &str, code: Option<&str>) -> Response {
    let details = code.map_or_else(Vec::new, |c| {
        vec![
            json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c}),
        ]
    });
    (
        status,
        axum::Json(json!({"error": {"code": status.as_u16(), "message": name, "status": name, "details": details}})),
    )
        .into_response()
}

/// The OAuth2 token endpoint: checks the JWT-bearer grant and its RS256 assertion.
fn token(rec: &Recorded, base: &str, body: &[u8]) -> Response {
    let form: HashMap<String, String> = match serde_urlencoded_parse(body) {
        Some(f) => f,
        None => return (StatusCode::BAD_REQUEST, "bad form").into_response(),
    };
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return (StatusCode::BAD_REQUEST, "bad grant_type").into_response();
    }
    let Some(assertion) = form.get("assertion") else {
        return (StatusCode::BAD_REQUEST, "no assertion").into_response();
    };
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("{base}/token")]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let header = match jsonwebtoken::decode_header(assertion) {
        Ok(h) => h,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if header.kid.as_deref() != Some("key-1") {
        return (StatusCode::BAD_REQUEST, "bad kid").into_response();
    }
    let claims = match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
        Ok(d) => d.claims,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("invalid assertion: {e}")).into_response();
        }
    };
    if claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" {
        return (StatusCode::BAD_REQUEST, "bad scope").into_response();
    }
    let lifetime = claims["exp"].as_u64().unwrap_or(0) - claims["iat"].as_u64().unwrap_or(0);
    if lifetime == 0 || lifetime > 3600 {
        return (StatusCode::BAD_REQUEST, "bad lifetime").into_response();
    }
    let n = {
        let mut requests = rec.token_requests.lock();
        requests.push(claims);
        requests.len()
    };
    let access = format!("access-{n}");
    rec.issued.lock().push(access.clone());
    axum::Json(json!({
        "access_token": access,
        "expires_in": rec.expires_in.load(Ordering::Relaxed),
        "token_type": "Bearer",
    }))
    .into_response()
}

/// `application/x-www-form-urlencoded` → map (enough for the token request).
fn serde_urlencoded_parse(body: &[u8]) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        out.insert(decode(k)?, decode(v)?);
    }
    Some(out)
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

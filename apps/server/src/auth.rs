//! Connection authentication: JWT (HS256 secret, RS256/ES256 public key, or a JWKS file) or,
//! chosen explicitly, none (trust the client's `join`, as the Threads seeds do).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// Why a connection was refused; the text is sent to the client as its `connect_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token in `auth.token`, `Authorization: Bearer` or `?token=`.
    #[error("Authentication required: send a JWT in auth.token")]
    Missing,
    /// The token expired.
    #[error("Authentication failed: token expired")]
    Expired,
    /// Any other verification failure.
    #[error("Authentication failed: {0}")]
    Invalid(String),
}

/// A key configuration problem at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// A key file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A key could not be parsed.
    #[error("invalid key in {path}: {detail}")]
    Key {
        /// File or setting.
        path: String,
        /// Cause.
        detail: String,
    },
}

struct KeyEntry {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// Verifies connection tokens.
pub struct JwtVerifier {
    keys: Vec<KeyEntry>,
    audience: Option<String>,
    issuer: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Value,
}

impl JwtVerifier {
    /// An HS256 verifier.
    pub fn hs256(secret: &[u8]) -> Self {
        Self::with_keys(vec![KeyEntry {
            kid: None,
            key: DecodingKey::from_secret(secret),
            algorithms: vec![Algorithm::HS256],
        }])
    }

    /// A verifier for an RS256 or ES256 public key in PEM.
    pub fn public_key_pem(pem: &[u8], origin: &str) -> Result<Self, AuthConfigError> {
        let err = |e: jsonwebtoken::errors::Error| AuthConfigError::Key {
            path: origin.to_owned(),
            detail: e.to_string(),
        };
        let text = String::from_utf8_lossy(pem);
        let entry = if text.contains("BEGIN EC PUBLIC KEY")
            || (text.contains("BEGIN PUBLIC KEY") && DecodingKey::from_ec_pem(pem).is_ok())
        {
            KeyEntry {
                kid: None,
                key: DecodingKey::from_ec_pem(pem).map_err(err)?,
                algorithms: vec![Algorithm::ES256],
            }
        } else {
            KeyEntry {
                kid: None,
                key: DecodingKey::from_rsa_pem(pem).map_err(err)?,
                algorithms: vec![Algorithm::RS256],
            }
        };
        Ok(Self::with_keys(vec![entry]))
    }

    /// A verifier for every RS256/ES256 key of a JWKS document.
    pub fn jwks(json: &str, origin: &str) -> Result<Self, AuthConfigError> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| AuthConfigError::Key {
            path: origin.to_owned(),
            detail: e.to_string(),
        })?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let key = DecodingKey::from_jwk(jwk).map_err(|e| AuthConfigError::Key {
                path: origin.to_owned(),
                detail: e.to_string(),
            })?;
            let algorithms = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => vec![Algorithm::ES256],
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => vec![Algorithm::RS256],
                _ => continue,
            };
            keys.push(KeyEntry {
                kid: jwk.common.key_id.clone(),
                key,
                algorithms,
            });
        }
        if keys.is_empty() {
            return Err(AuthConfigError::Key {
                path: origin.to_owned(),
                detail: "no RSA or EC key".into(),
            });
        }
        Ok(Self::with_keys(keys))
    }

    /// Load from a PEM or JWKS file (JWKS when the file is JSON).
    pub fn from_file(path: &Path) -> Result<Self, AuthConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let origin = path.display().to_string();
        if text.trim_start().starts_with('{') {
            Self::jwks(&text, &origin)
        } else {
            Self::public_key_pem(text.as_bytes(), &origin)
        }
    }

    fn with_keys(keys: Vec<KeyEntry>) -> Self {
        Self {
            keys,
            audience: None,
            issuer: None,
        }
    }

    /// Require this `aud` claim.
    pub fn audience(mut self, aud: Option<String>) -> Self {
        self.audience = aud;
        self
    }

    /// Require this `iss` claim.
    pub fn issuer(mut self, iss: Option<String>) -> Self {
        self.issuer = iss;
        self
    }

    /// Verify `token`; returns the user id (`sub`, numbers as decimal strings).
    pub fn verify(&self, token: &str) -> Result<String, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let mut last = AuthError::Invalid("no key matches the token".into());
        for entry in &self.keys {
            if let (Some(want), Some(kid)) = (&entry.kid, &header.kid)
                && want != kid
            {
                continue;
            }
            if !entry.algorithms.contains(&header.alg) {
                continue;
            }
            let mut validation = Validation::new(header.alg);
            validation.leeway = 30;
            validation.set_required_spec_claims(&["exp"]);
            match &self.audience {
                Some(aud) => validation.set_audience(&[aud]),
                None => validation.validate_aud = false,
            }
            if let Some(iss) = &self.issuer {
                validation.set_issuer(&[iss]);
            }
            match decode::<Claims>(token, &entry.key, &validation) {
                Ok(data) => return subject(&data.claims.sub),
                Err(e) => {
                    last = match e.kind() {
                        jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                        _ => AuthError::Invalid(e.to_string()),
                    }
                }
            }
        }
        Err(last)
    }
}

fn subject(sub: &Value) -> Result<String, AuthError> {
    let id = match sub {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if id.is_empty() || id.len() > signal_proto::requests::MAX_ID_LEN {
        return Err(AuthError::Invalid("sub is not a user id".into()));
    }
    Ok(id)
}

/// The token of a connection: `auth.token` of the Socket.IO handshake, else an
/// `Authorization: Bearer` header, else a `token` query parameter.
pub fn extract_token(parts: &axum::http::request::Parts, auth: Option<&Value>) -> Option<String> {
    if let Some(t) = auth
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        return Some(t.trim_start_matches("Bearer ").to_owned());
    }
    if let Some(h) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    {
        return Some(h.trim().to_owned());
    }
    parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// What a connecting socket presents: its HTTP request (headers, cookies, URI) and the
/// Socket.IO handshake's `auth` object.
#[derive(Debug, Clone, Copy)]
pub struct Handshake<'a> {
    /// The HTTP request of the connection (headers, URI with query).
    pub request: &'a axum::http::request::Parts,
    /// The `auth` payload of the Socket.IO CONNECT packet (`io(url, { auth })`).
    pub auth: Option<&'a Value>,
}

/// Decides who a connecting socket is: the handshake → a user id, or a refusal (whose text
/// the client gets as its `connect_error`). A host uses its own sessions or cookies by
/// implementing it ([`crate::HuddleBuilder::authenticator`]); [`JwtVerifier`] is the
/// built-in implementation.
///
/// ```
/// use huddle::auth::{AuthError, Authenticator, Handshake};
///
/// /// Trusts a `x-user` header set by the host's own gateway.
/// struct GatewayHeader;
///
/// #[async_trait::async_trait]
/// impl Authenticator for GatewayHeader {
///     async fn authenticate(&self, h: Handshake<'_>) -> Result<String, AuthError> {
///         h.request
///             .headers
///             .get("x-user")
///             .and_then(|v| v.to_str().ok())
///             .map(str::to_owned)
///             .ok_or(AuthError::Missing)
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync {
    /// The user id of the connecting socket, or why it is refused.
    async fn authenticate(&self, handshake: Handshake<'_>) -> Result<String, AuthError>;
}

#[async_trait::async_trait]
impl Authenticator for JwtVerifier {
    async fn authenticate(&self, handshake: Handshake<'_>) -> Result<String, AuthError> {
        let token = extract_token(handshake.request, handshake.auth).ok_or(AuthError::Missing)?;
        self.verify(&token)
    }
}

/// The identity of an authenticated socket, stored in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub String);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn token(secret: &[u8], claims: Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn hs256_subjects_expiry_and_wrong_keys() {
        let v = JwtVerifier::hs256(b"s3cret");
        let ok = token(b"s3cret", json!({"sub": "42", "exp": now() + 60}));
        assert_eq!(v.verify(&ok), Ok("42".into()));
        let numeric = token(b"s3cret", json!({"sub": 7, "exp": now() + 60}));
        assert_eq!(v.verify(&numeric), Ok("7".into()));
        let expired = token(b"s3cret", json!({"sub": "42", "exp": now() - 3600}));
        assert_eq!(v.verify(&expired), Err(AuthError::Expired));
        let wrong = token(b"other", json!({"sub": "42", "exp": now() + 60}));
        assert!(matches!(v.verify(&wrong), Err(AuthError::Invalid(_))));
        let no_sub = token(b"s3cret", json!({"exp": now() + 60}));
        assert!(v.verify(&no_sub).is_err());
        assert!(v.verify("garbage").is_err());
    }

    #[test]
    fn audience_and_issuer() {
        let v = JwtVerifier::hs256(b"k")
            .audience(Some("huddle".into()))
            .issuer(Some("threads".into()));
        let good = token(
            b"k",
            json!({"sub": "1", "exp": now() + 60, "aud": "huddle", "iss": "threads"}),
        );
        assert_eq!(v.verify(&good), Ok("1".into()));
        let bad = token(
            b"k",
            json!({"sub": "1", "exp": now() + 60, "aud": "other", "iss": "threads"}),
        );
        assert!(v.verify(&bad).is_err());
    }

    #[test]
    fn token_sources() {
        let req = axum::http::Request::builder()
            .uri("/socket.io/?EIO=4&token=q1")
            .header("authorization", "Bearer h1")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        assert_eq!(
            extract_token(&parts, Some(&json!({"token": "a1"}))).as_deref(),
            Some("a1")
        );
        assert_eq!(extract_token(&parts, None).as_deref(), Some("h1"));
        let req = axum::http::Request::builder()
            .uri("/socket.io/?EIO=4&token=q1")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        assert_eq!(
            extract_token(&parts, Some(&json!({}))).as_deref(),
            Some("q1")
        );
    }
}

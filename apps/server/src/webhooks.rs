//! Webhooks: every lifecycle event POSTed as JSON to each configured URL.
//!
//! Each URL has its own bounded queue and delivery task, so a slow or dead receiver delays
//! only itself and never a call: enqueueing is a `try_send`, and an event that finds the
//! queue full is dropped, counted (`huddle_webhooks_dropped_total`) and logged. Deliveries to
//! one URL are made in order; network errors, 429 and 5xx are retried with exponential
//! backoff (the same `X-Huddle-Delivery` id on every attempt, for de-duplication).

use crate::events::HuddleEvent;
use hmac::{KeyInit, Mac};
use std::time::Duration;
use tokio::sync::mpsc;

/// Webhook settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Receiver URLs.
    pub urls: Vec<String>,
    /// HMAC-SHA256 secret of `X-Huddle-Signature` (no signature header without it).
    pub secret: Option<String>,
    /// Queued deliveries per URL.
    pub queue: usize,
    /// Attempts per delivery (at least 1).
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt up to [`WebhookConfig::max_backoff`].
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
}

impl WebhookConfig {
    /// Settings for `urls` with the defaults of the command line.
    pub fn new(urls: Vec<String>) -> Self {
        Self {
            urls,
            secret: None,
            queue: 1024,
            max_attempts: 8,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// One queued delivery: the event name, its delivery id and the exact body.
#[derive(Debug)]
struct Delivery {
    event: &'static str,
    id: String,
    body: Vec<u8>,
}

/// The webhook senders (one queue per URL).
#[derive(Debug)]
pub struct Webhooks {
    queues: Vec<(String, mpsc::Sender<Delivery>)>,
    secret: Option<Vec<u8>>,
}

/// `sha256=<hex>`: the `X-Huddle-Signature` value of `body` with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + bytes.len() * 2);
    hex.push_str("sha256=");
    for b in bytes {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

impl Webhooks {
    /// Start one delivery task per URL; `None` when no URL is configured.
    pub fn start(config: WebhookConfig) -> anyhow::Result<Option<Self>> {
        if config.urls.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()?;
        let secret = config.secret.clone().map(String::into_bytes);
        let mut queues = Vec::new();
        for url in &config.urls {
            let (tx, rx) = mpsc::channel(config.queue.max(1));
            tokio::spawn(deliver_all(
                client.clone(),
                url.clone(),
                secret.clone(),
                config.clone(),
                rx,
            ));
            queues.push((url.clone(), tx));
        }
        tracing::info!(urls = config.urls.len(), "webhooks enabled");
        Ok(Some(Self { queues, secret }))
    }

    /// Queue `event` for every URL (never waits).
    pub fn enqueue(&self, event: &HuddleEvent) {
        let body = event.to_json().to_string().into_bytes();
        for (url, tx) in &self.queues {
            let delivery = Delivery {
                event: event.name(),
                id: uuid::Uuid::new_v4().to_string(),
                body: body.clone(),
            };
            if tx.try_send(delivery).is_err() {
                metrics::counter!("huddle_webhooks_dropped_total").increment(1);
                tracing::warn!(url = %url, event = event.name(), "webhook queue full: event dropped");
            }
        }
    }

    /// Whether deliveries are signed.
    pub fn signed(&self) -> bool {
        self.secret.is_some()
    }
}

async fn deliver_all(
    client: reqwest::Client,
    url: String,
    secret: Option<Vec<u8>>,
    config: WebhookConfig,
    mut rx: mpsc::Receiver<Delivery>,
) {
    while let Some(delivery) = rx.recv().await {
        let signature = secret.as_deref().map(|s| signature(s, &delivery.body));
        let mut backoff = config.initial_backoff;
        let attempts = config.max_attempts.max(1);
        for attempt in 1..=attempts {
            let mut request = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-huddle-event", delivery.event)
                .header("x-huddle-delivery", &delivery.id)
                .body(delivery.body.clone());
            if let Some(sig) = &signature {
                request = request.header("x-huddle-signature", sig);
            }
            let outcome = match request.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                    Err((true, format!("HTTP {}", r.status())))
                }
                Ok(r) => Err((false, format!("HTTP {}", r.status()))),
                Err(e) => Err((true, e.to_string())),
            };
            match outcome {
                Ok(()) => {
                    metrics::counter!("huddle_webhooks_delivered_total").increment(1);
                    tracing::debug!(url = %url, event = delivery.event, attempt, "webhook delivered");
                    break;
                }
                Err((retry, error)) if retry && attempt < attempts => {
                    tracing::info!(url = %url, event = delivery.event, attempt, %error,
                        "webhook delivery failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                }
                Err((_, error)) => {
                    metrics::counter!("huddle_webhooks_failed_total").increment(1);
                    tracing::warn!(url = %url, event = delivery.event, attempt, %error,
                        "webhook delivery failed");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

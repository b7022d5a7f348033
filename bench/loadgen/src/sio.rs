//! A minimal Socket.IO v4 client over one WebSocket (Engine.IO v4 text packets), just enough
//! for load generation.
//!
//! Wire format (text frames only):
//! * server `0{...}` (Engine.IO open) → client `40` (Socket.IO connect, default namespace),
//!   server `40{"sid":...}`;
//! * server `2` (ping) → client `3` (pong);
//! * events `42["event",payload]`, emits with an ack `42<id>["event",payload]`, acks from the
//!   server `43<id>[...]`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A server event delivered to a client that records events.
#[derive(Debug)]
pub struct Event {
    /// The event name.
    pub name: String,
    /// The raw JSON array after `42` (`["name",payload,...]`).
    pub raw: String,
    /// When it was read from the socket.
    pub at: Instant,
}

/// One `group_call_incoming` seen by any client: `(conversationId, received at)`.
pub type FanoutSink = mpsc::UnboundedSender<(String, Instant)>;

/// State shared between a [`Client`] handle and its connection task.
#[derive(Debug, Default)]
struct Shared {
    /// Pending acks by id: completed with the arrival time and the raw ack array.
    acks: Mutex<HashMap<u64, oneshot::Sender<(Instant, String)>>>,
    /// Next ack id.
    next_ack: AtomicU64,
}

/// How a client treats incoming events.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Forward every event (except `group_call_incoming`, see `fanout`) to
    /// [`Client::events`].
    pub record_events: bool,
    /// Where `group_call_incoming` events go (with their conversation id).
    pub fanout: Option<FanoutSink>,
}

/// A connected Socket.IO client. Dropping it closes the connection (its task ends).
#[derive(Debug)]
pub struct Client {
    out: mpsc::UnboundedSender<String>,
    shared: Arc<Shared>,
    /// Recorded events, when [`ClientOptions::record_events`] was set.
    pub events: Option<mpsc::UnboundedReceiver<Event>>,
    /// The connection task (aborted by [`Client::abort`]).
    task: tokio::task::JoinHandle<()>,
}

/// The Engine.IO WebSocket URL of a server base URL (`http://host:port`).
pub fn ws_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("ws://"))
        .unwrap_or(base);
    format!("ws://{rest}/socket.io/?EIO=4&transport=websocket")
}

/// JSON string literal of `s`.
pub fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

impl Client {
    /// Connects to `ws_url` (see [`ws_url`]) and completes the Socket.IO handshake.
    pub async fn connect(ws_url: &str, options: ClientOptions, timeout: Duration) -> Result<Self> {
        tokio::time::timeout(timeout, Self::connect_inner(ws_url, options))
            .await
            .map_err(|_| anyhow!("connect timed out after {timeout:?}"))?
    }

    async fn connect_inner(ws_url: &str, options: ClientOptions) -> Result<Self> {
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true)
            .await
            .with_context(|| format!("WebSocket connect to {ws_url}"))?;
        // Engine.IO open, then Socket.IO connect.
        loop {
            let msg = ws
                .next()
                .await
                .ok_or_else(|| anyhow!("closed during handshake"))?
                .context("handshake read")?;
            let Message::Text(text) = msg else { continue };
            let text = text.as_str();
            if text.starts_with("0{") {
                ws.send(Message::text("40")).await.context("send 40")?;
            } else if text.starts_with("40") {
                break;
            } else if text == "2" {
                ws.send(Message::text("3")).await.context("send pong")?;
            } else if text.starts_with("44") {
                bail!("Socket.IO connect refused: {text}");
            }
        }
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let (events_tx, events_rx) = if options.record_events {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let task = tokio::spawn(run(ws, out_rx, shared.clone(), events_tx, options.fanout));
        Ok(Self {
            out: out_tx,
            shared,
            events: events_rx,
            task,
        })
    }

    /// Emits `event` with a JSON `payload` (already serialized), no ack.
    pub fn emit(&self, event: &str, payload_json: &str) -> Result<()> {
        self.send_raw(format!("42[{},{payload_json}]", json_str(event)))
    }

    /// Emits `event` with a JSON payload and an ack; resolves to the ack's arrival time and raw
    /// JSON array.
    pub fn emit_with_ack(
        &self,
        event: &str,
        payload_json: &str,
    ) -> Result<oneshot::Receiver<(Instant, String)>> {
        let id = self.shared.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared
            .acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        self.send_raw(format!("42{id}[{},{payload_json}]", json_str(event)))?;
        Ok(rx)
    }

    /// Sends a raw Engine.IO text packet.
    pub fn send_raw(&self, packet: String) -> Result<()> {
        self.out
            .send(packet)
            .map_err(|_| anyhow!("connection closed"))
    }

    /// Whether the connection has ended (closed by the server, or after an error).
    pub fn is_closed(&self) -> bool {
        self.out.is_closed()
    }

    /// Leaves politely: sends the Socket.IO disconnect packet (`41`), then closes the
    /// WebSocket. (Dropping the client closes the WebSocket without `41`.)
    pub fn disconnect(self) {
        let _ = self.send_raw("41".to_owned());
    }

    /// Drops the TCP connection at once, without a Socket.IO or WebSocket goodbye, like a
    /// client that vanishes.
    pub fn abort(self) {
        self.task.abort();
    }

    /// Drops every recorded event not read yet.
    pub fn drain_events(&mut self) {
        if let Some(rx) = self.events.as_mut() {
            while rx.try_recv().is_ok() {}
        }
    }

    /// Waits for the next recorded event named `name` (skipping others) until `deadline`.
    pub async fn wait_event(&mut self, name: &str, deadline: Instant) -> Result<Event> {
        let rx = self
            .events
            .as_mut()
            .ok_or_else(|| anyhow!("client does not record events"))?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(ev)) if ev.name == name => return Ok(ev),
                Ok(Some(_)) => continue,
                Ok(None) => bail!("connection closed while waiting for {name}"),
                Err(_) => bail!("no {name} within the deadline"),
            }
        }
    }
}

/// The connection task: writes queued packets, answers pings, dispatches events and acks.
async fn run(
    mut ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    mut out: mpsc::UnboundedReceiver<String>,
    shared: Arc<Shared>,
    events: Option<mpsc::UnboundedSender<Event>>,
    fanout: Option<FanoutSink>,
) {
    loop {
        tokio::select! {
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break };
                let Message::Text(text) = msg else {
                    if matches!(msg, Message::Close(_)) { break }
                    continue
                };
                let at = Instant::now();
                let text = text.as_str();
                if text == "2" {
                    if ws.send(Message::text("3")).await.is_err() { break }
                } else if let Some(rest) = text.strip_prefix("42") {
                    dispatch_event(rest, at, events.as_ref(), fanout.as_ref());
                } else if let Some(rest) = text.strip_prefix("43") {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    if let Ok(id) = rest[..digits].parse::<u64>() {
                        let waiter = shared
                            .acks
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&id);
                        if let Some(tx) = waiter {
                            let _ = tx.send((at, rest[digits..].to_owned()));
                        }
                    }
                } else if text.starts_with('1') || text.starts_with("41") {
                    break;
                }
            }
            packet = out.recv() => {
                let Some(packet) = packet else { break };
                if ws.send(Message::text(packet)).await.is_err() { break }
            }
        }
    }
    // Pending acks will never come: fail their waiters now instead of at their timeouts.
    shared
        .acks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    let _ = ws.close(None).await;
}

/// Routes one `42...` event (the text after `42`).
fn dispatch_event(
    rest: &str,
    at: Instant,
    events: Option<&mpsc::UnboundedSender<Event>>,
    fanout: Option<&FanoutSink>,
) {
    let Some(name) = event_name(rest) else { return };
    if let (true, Some(sink)) = (name == "group_call_incoming", fanout) {
        if let Some(conversation) = conversation_id(rest) {
            let _ = sink.send((conversation, at));
        }
        return;
    }
    if let Some(tx) = events {
        let _ = tx.send(Event {
            name: name.to_owned(),
            raw: rest.to_owned(),
            at,
        });
    }
}

/// The event name of `["name",...]` (names never contain escapes here).
pub fn event_name(array: &str) -> Option<&str> {
    let rest = array.strip_prefix("[\"")?;
    let end = rest.find('"')?;
    Some(&rest[..end])
}

/// `conversationId` of the payload of `["event",{...}]`.
pub fn conversation_id(array: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(array).ok()?;
    value
        .get(1)?
        .get("conversationId")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_event_names_and_conversation_ids() {
        let raw = r#"["group_call_incoming",{"callerId":"1","conversationId":"g7"}]"#;
        assert_eq!(event_name(raw), Some("group_call_incoming"));
        assert_eq!(conversation_id(raw).as_deref(), Some("g7"));
        assert_eq!(event_name("{}"), None);
        assert_eq!(conversation_id(r#"["x"]"#), None);
    }

    #[test]
    fn builds_ws_urls() {
        assert_eq!(
            ws_url("http://127.0.0.1:8000/"),
            "ws://127.0.0.1:8000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(json_str("a\"b"), r#""a\"b""#);
    }
}

//! A minimal Socket.IO v5 client over Engine.IO v4 long-polling (enough for tests: emit,
//! emit with ack, wait for an event).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long `call` / `event` wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// A connected client.
pub struct Client {
    http: reqwest::Client,
    url: String,
    rx: mpsc::UnboundedReceiver<String>,
    buffered: VecDeque<String>,
    next_ack: u64,
    reader: tokio::task::JoinHandle<()>,
    sid: String,
}

impl Client {
    /// Connects to the default namespace of the server at `base` (`http://host:port`).
    pub async fn connect(base: &str) -> Client {
        let http = reqwest::Client::new();
        let open = http
            .get(format!("{base}/socket.io/?EIO=4&transport=polling"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let handshake: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
        let sid = handshake["sid"].as_str().unwrap().to_owned();
        let url = format!("{base}/socket.io/?EIO=4&transport=polling&sid={sid}");
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = {
            let http = http.clone();
            let url = url.clone();
            tokio::spawn(async move {
                loop {
                    let Ok(r) = http.get(&url).send().await else {
                        return;
                    };
                    if !r.status().is_success() {
                        return;
                    }
                    let Ok(body) = r.text().await else { return };
                    for packet in body.split('\u{1e}') {
                        if packet == "2" {
                            let _ = http.post(&url).body("3").send().await;
                        } else if packet == "1" || tx.send(packet.to_owned()).is_err() {
                            return;
                        }
                    }
                }
            })
        };
        let mut client = Client {
            http,
            url,
            rx,
            buffered: VecDeque::new(),
            next_ack: 1,
            reader,
            sid: String::new(),
        };
        client.post("40").await;
        let connected = client.wait_for(|p| p.starts_with("40")).await;
        let payload: Value = serde_json::from_str(&connected[2..]).unwrap_or(Value::Null);
        client.sid = payload["sid"].as_str().unwrap_or_default().to_owned();
        client
    }

    /// The Socket.IO socket id (as the server's events name it).
    #[allow(dead_code)]
    pub fn sid(&self) -> &str {
        &self.sid
    }

    async fn post(&self, body: &str) {
        let r = self
            .http
            .post(&self.url)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "POST {body}: {}", r.status());
    }

    /// Waits for the first packet matching `want` (others are kept for later).
    async fn wait_for(&mut self, want: impl Fn(&str) -> bool) -> String {
        if let Some(i) = self.buffered.iter().position(|p| want(p)) {
            return self.buffered.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let packet = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out; buffered: {:?}", self.buffered))
                .expect("connection closed");
            if want(&packet) {
                return packet;
            }
            self.buffered.push_back(packet);
        }
    }

    /// Emits `event` without an ack.
    pub async fn emit(&self, event: &str, data: Value) {
        self.post(&format!("42{}", serde_json::json!([event, data])))
            .await;
    }

    /// Emits `event` and returns the ack's first argument.
    pub async fn call(&mut self, event: &str, data: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        self.post(&format!("42{id}{}", serde_json::json!([event, data])))
            .await;
        let prefix = format!("43{id}[");
        let packet = self.wait_for(|p| p.starts_with(&prefix)).await;
        let args: Value = serde_json::from_str(&packet[prefix.len() - 1..]).unwrap();
        args[0].clone()
    }

    /// Emits `event` `n` times at once (without waiting in between) and returns the acks'
    /// first arguments, in order.
    pub async fn call_many(&mut self, event: &str, data: Value, n: usize) -> Vec<Value> {
        let first = self.next_ack;
        self.next_ack += n as u64;
        let body: Vec<String> = (first..first + n as u64)
            .map(|id| format!("42{id}{}", serde_json::json!([event, data])))
            .collect();
        self.post(&body.join("\u{1e}")).await;
        let mut acks = Vec::new();
        for id in first..first + n as u64 {
            let prefix = format!("43{id}[");
            let packet = self.wait_for(|p| p.starts_with(&prefix)).await;
            let args: Value = serde_json::from_str(&packet[prefix.len() - 1..]).unwrap();
            acks.push(args[0].clone());
        }
        acks
    }

    /// Waits for server event `name` and returns its payload.
    pub async fn event(&mut self, name: &str) -> Value {
        let prefix = format!("42[\"{name}\"");
        let packet = self.wait_for(|p| p.starts_with(&prefix)).await;
        let args: Value = serde_json::from_str(&packet[2..]).unwrap();
        args[1].clone()
    }

    /// Closes the socket.
    pub async fn close(self) {
        let _ = self.http.post(&self.url).body("41").send().await;
        self.reader.abort();
    }
}

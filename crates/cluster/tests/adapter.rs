//! The socketioxide-redis driver: two real socketioxide servers (axum on 127.0.0.1), each with
//! its own cluster node, and a minimal Engine.IO v4 / Socket.IO WebSocket client. An emit to a
//! room on one server reaches a client of the other, before and after a Redis restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use cluster::{AdapterDriver, Connectivity, Node};
use futures::{SinkExt, StreamExt};
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use support::{RedisServer, SOON, node, wait_connectivity};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Adapter = CustomRedisAdapter<Emitter, AdapterDriver>;

/// Every socket joins `room1` and is told so with `joined`.
async fn on_connect(socket: SocketRef<Adapter>) {
    socket.join("room1");
    let _ = socket.emit("joined", &());
}

/// A Socket.IO server on a random loopback port using `node`'s adapter driver.
async fn server(node: &Node) -> (SocketIo<Adapter>, SocketAddr) {
    let config = RedisAdapterConfig::new().with_request_timeout(Duration::from_secs(3));
    let ctr = RedisAdapterCtr::new_with_driver(node.adapter_driver(), config);
    let (layer, io) = SocketIo::builder()
        .with_adapter::<Adapter>(ctr)
        .build_layer();
    io.ns("/", on_connect).await.unwrap();
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (io, addr)
}

/// A Socket.IO client over one WebSocket (Engine.IO v4 text packets): answers pings, collects
/// events (`42[...]`) as JSON arrays.
struct Client {
    events: mpsc::UnboundedReceiver<serde_json::Value>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        // Engine.IO open, then Socket.IO connect to "/".
        loop {
            let Message::Text(text) = ws.next().await.unwrap().unwrap() else {
                continue;
            };
            if text.starts_with("0{") {
                ws.send(Message::text("40")).await.unwrap();
            } else if text.starts_with("40") {
                break;
            }
        }
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if text.as_str() == "2" {
                    if ws.send(Message::text("3")).await.is_err() {
                        return;
                    }
                } else if let Some(event) = text.strip_prefix("42") {
                    let _ = tx.send(serde_json::from_str(event).unwrap());
                }
            }
        });
        let mut client = Self { events };
        client.expect("joined").await;
        client
    }

    /// The next event, which must be `name`; returns its first argument.
    async fn expect(&mut self, name: &str) -> serde_json::Value {
        let event = tokio::time::timeout(SOON, self.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {name} event"))
            .unwrap();
        assert_eq!(event[0], name, "{event}");
        event[1].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_emits_cross_nodes_and_survive_a_redis_restart() {
    support::init_tracing();
    let mut redis = RedisServer::start();
    let node_a = node(&redis, "a").await;
    let node_b = node(&redis, "b").await;
    let (io_a, addr_a) = server(&node_a).await;
    let (io_b, addr_b) = server(&node_b).await;
    let mut on_a = Client::connect(addr_a).await;
    let mut on_b = Client::connect(addr_b).await;

    io_a.to("room1").emit("hello", &"one").await.unwrap();
    assert_eq!(on_b.expect("hello").await, "one");
    assert_eq!(on_a.expect("hello").await, "one");
    // The adapter counts both servers through the driver.
    let rooms = io_b.rooms().await.unwrap();
    assert!(rooms.iter().any(|r| r == "room1"), "{rooms:?}");

    redis.kill();
    wait_connectivity(&node_a, Connectivity::Down).await;
    wait_connectivity(&node_b, Connectivity::Down).await;
    // Degraded to the local node: the emit still reaches b's own sockets.
    io_b.to("room1").emit("local", &"while down").await.unwrap();
    assert_eq!(on_b.expect("local").await, "while down");

    redis.spawn();
    wait_connectivity(&node_a, Connectivity::Up).await;
    wait_connectivity(&node_b, Connectivity::Up).await;
    io_a.to("room1").emit("hello", &"two").await.unwrap();
    assert_eq!(on_b.expect("hello").await, "two");
    assert_eq!(on_a.expect("hello").await, "two");
    io_b.to("room1").emit("hello", &"three").await.unwrap();
    assert_eq!(on_a.expect("hello").await, "three");
    assert_eq!(on_b.expect("hello").await, "three");
}

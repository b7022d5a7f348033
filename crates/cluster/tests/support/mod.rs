//! Shared test fixtures: a throwaway `redis-server` per test, node start-up, polling helpers.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cluster::{ClusterConfig, Connectivity, Node, NodeId};

/// How long the fixtures wait for anything that should happen "soon" (generous: the test
/// machine may be a loaded 2-core box).
pub const SOON: Duration = Duration::from_secs(15);

/// A `redis-server` on 127.0.0.1 with a random free port, killed on drop.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a fresh server (no persistence) and waits until it accepts connections.
    pub fn start() -> Self {
        let port = free_port();
        let mut server = Self { port, child: None };
        server.spawn();
        server
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to the clients) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The port must be closed before the test goes on.
        let deadline = Instant::now() + SOON;
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "redis-server still listening after kill"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a [`RedisServer::pause`]d server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// Kills the server and starts a new, empty one on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts a server (again) on `self.port` and waits until it accepts connections.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "redis-server already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed (not on PATH). The cluster tests need it: \
                 run `cargo xtask setup`, or `apt-get install -y --no-install-recommends redis-server`"
            ),
            Err(error) => panic!("cannot start redis-server: {error}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + SOON;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "redis-server exited at start ({status}); port {}",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {} in time",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain connection for inspecting keys.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// The test configuration: default leases and timeouts, a fixed node id.
pub fn config(redis: &RedisServer, id: &str) -> ClusterConfig {
    ClusterConfig::new(redis.url()).with_node_id(NodeId::new(id).unwrap())
}

/// Starts node `id` and waits until it is connected.
pub async fn node(redis: &RedisServer, id: &str) -> Node {
    start(config(redis, id)).await
}

/// Starts a node and waits until it is connected.
pub async fn start(config: ClusterConfig) -> Node {
    let node = Node::start(config).await.unwrap();
    node.connection().wait_up(SOON).await.unwrap();
    node
}

/// A node id.
pub fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

/// Polls `condition` every 25 ms until it holds; panics with `what` after [`SOON`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + SOON;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `node`'s connection reports `state`.
pub async fn wait_connectivity(node: &Node, state: Connectivity) {
    let mut rx = node.connectivity();
    tokio::time::timeout(SOON, rx.wait_for(|c| *c == state))
        .await
        .unwrap_or_else(|_| panic!("{} did not become {state:?}", node.id()))
        .unwrap();
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

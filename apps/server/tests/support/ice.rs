//! A minimal ICE client: STUN Binding requests over TCP (RFC 4571 framing), with the short-term
//! credentials of a `createTransport` answer. Enough to bring mediasoup's ICE-lite transport to
//! `completed`, and — by closing the connection — to `disconnected`.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const USERNAME: u16 = 0x0006;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const PRIORITY: u16 = 0x0024;
const USE_CANDIDATE: u16 = 0x0025;
const FINGERPRINT: u16 = 0x8028;
const ICE_CONTROLLING: u16 = 0x802A;
const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// A nominated ICE candidate pair over TCP to one transport.
pub struct IceConnection {
    stream: TcpStream,
}

impl IceConnection {
    /// Connects to the TCP candidate of `transport` (a `createTransport` / `restartIce`-updated
    /// answer: `iceParameters`, `iceCandidates`) and nominates it with a USE-CANDIDATE Binding
    /// request; returns once mediasoup answered with a Binding success.
    pub async fn connect(transport: &Value) -> Self {
        let mut stream = TcpStream::connect(tcp_candidate(transport)).await.unwrap();
        let ice = &transport["iceParameters"];
        let request = binding_request(
            ice["usernameFragment"].as_str().unwrap(),
            ice["password"].as_str().unwrap(),
        );
        let len = u16::try_from(request.len()).unwrap();
        stream.write_all(&len.to_be_bytes()).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut response = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut response).await.unwrap();
        let kind = u16::from_be_bytes([response[0], response[1]]);
        assert_eq!(kind, BINDING_SUCCESS, "STUN answer {response:02x?}");
        assert_eq!(response[8..20], request[8..20], "transaction id");
        Self { stream }
    }

    /// Closes the TCP connection: mediasoup removes the candidate pair, and with no pair left
    /// its ICE state becomes `disconnected`.
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// The address of the transport's TCP candidate.
fn tcp_candidate(transport: &Value) -> SocketAddr {
    let candidate = transport["iceCandidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["protocol"] == "tcp")
        .unwrap_or_else(|| panic!("no TCP candidate: {transport}"));
    let ip = candidate["ip"].as_str().unwrap().parse().unwrap();
    let port = u16::try_from(candidate["port"].as_u64().unwrap()).unwrap();
    SocketAddr::new(ip, port)
}

/// A Binding request from a controlling agent nominating the pair, authenticated with the
/// server's ICE password (RFC 8445 § 7.1.2, RFC 5389 § 15.4 and § 15.5).
fn binding_request(server_ufrag: &str, server_password: &str) -> Vec<u8> {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let mut m = Vec::new();
    m.extend(BINDING_REQUEST.to_be_bytes());
    m.extend(0u16.to_be_bytes());
    m.extend(MAGIC_COOKIE.to_be_bytes());
    m.extend([0u8; 8]);
    m.extend(NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    attribute(
        &mut m,
        USERNAME,
        format!("{server_ufrag}:hdltest").as_bytes(),
    );
    attribute(&mut m, PRIORITY, &0x6E00_1EFFu32.to_be_bytes());
    attribute(
        &mut m,
        ICE_CONTROLLING,
        &0x1234_5678_9ABC_DEF0u64.to_be_bytes(),
    );
    attribute(&mut m, USE_CANDIDATE, &[]);
    // The length covers each of the last two attributes when it is computed.
    set_length(&mut m, 24);
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(server_password.as_bytes()).unwrap();
    mac.update(&m);
    attribute(&mut m, MESSAGE_INTEGRITY, &mac.finalize().into_bytes());
    set_length(&mut m, 8);
    let crc = crc32fast::hash(&m) ^ FINGERPRINT_XOR;
    attribute(&mut m, FINGERPRINT, &crc.to_be_bytes());
    m
}

fn attribute(m: &mut Vec<u8>, kind: u16, value: &[u8]) {
    m.extend(kind.to_be_bytes());
    m.extend(u16::try_from(value.len()).unwrap().to_be_bytes());
    m.extend(value);
    while !m.len().is_multiple_of(4) {
        m.push(0);
    }
}

/// Header length field: the attributes so far plus `more` bytes still to come.
fn set_length(m: &mut [u8], more: usize) {
    let len = u16::try_from(m.len() - 20 + more).unwrap();
    m[2..4].copy_from_slice(&len.to_be_bytes());
}

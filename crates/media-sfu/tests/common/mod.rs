//! Helpers shared by the media tests: plain-RTP producers and receivers.

#![allow(dead_code)] // each test binary uses a part of it

use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::UdpSocket;

/// Test result with any error.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `rtpParameters` of an opus producer sending with `ssrc` (payload type 100).
pub fn opus_parameters(ssrc: u32) -> Value {
    json!({
        "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
        "encodings": [{"ssrc": ssrc}]
    })
}

/// Send `count` opus RTP packets with `ssrc` to `127.0.0.1:port`, one every ~20 ms, and count
/// how many each receiver in `rx` got (matched by payload, which consumers keep at the end).
pub async fn send_and_count(
    port: u16,
    ssrc: u32,
    count: u16,
    rx: &[&UdpSocket],
) -> Result<Vec<usize>, Box<dyn std::error::Error>> {
    let tx = UdpSocket::bind("127.0.0.1:0").await?;
    let mut got = vec![0usize; rx.len()];
    for i in 0..count {
        let mut pkt = vec![0x80, 100];
        pkt.extend_from_slice(&i.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(i) * 960).to_be_bytes());
        pkt.extend_from_slice(&ssrc.to_be_bytes());
        let payload = format!("opus-frame-{i:04}");
        pkt.extend_from_slice(payload.as_bytes());
        tx.send_to(&pkt, ("127.0.0.1", port)).await?;
        for (socket, n) in rx.iter().zip(got.iter_mut()) {
            let mut buf = [0u8; 1500];
            if let Ok(Ok(len)) =
                tokio::time::timeout(Duration::from_millis(25), socket.recv(&mut buf)).await
                && buf[..len].ends_with(payload.as_bytes())
            {
                *n += 1;
            }
        }
    }
    Ok(got)
}

//! Several workers: one WebRtcServer port per worker, and a room that outgrows its worker
//! continuing on another one with its producers piped across (real RTP end to end).

mod common;

use common::TestResult;
use media_sfu::{Sfu, SfuConfig};
use std::net::{TcpListener, UdpSocket as StdUdp};
use tokio::net::UdpSocket;

/// A base port whose next `n` ports are free for both UDP and TCP right now.
fn free_port_block(n: u16) -> Result<u16, Box<dyn std::error::Error>> {
    for _ in 0..50 {
        let base = StdUdp::bind("127.0.0.1:0")?.local_addr()?.port();
        if base > u16::MAX - n {
            continue;
        }
        let all_free = (base..base + n).all(|p| {
            StdUdp::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok()
        });
        if all_free {
            return Ok(base);
        }
    }
    Err("no free port block".into())
}

fn candidate_ports(params: &serde_json::Value, protocol: &str) -> Vec<u64> {
    params["iceCandidates"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["protocol"] == protocol)
                .filter_map(|c| c["port"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// Two workers with their WebRtcServers on a free block of ports; the base port.
async fn two_workers_on_fixed_ports() -> Result<(Sfu, u16), Box<dyn std::error::Error>> {
    let base = free_port_block(2)?;
    let sfu = Sfu::new(SfuConfig {
        workers: 2,
        webrtc_port: Some(base),
        ..SfuConfig::default()
    })
    .await?;
    Ok((sfu, base))
}

/// Asserts that a WebRTC transport's only UDP and TCP candidates are on `port`.
fn assert_candidates_on(params: &serde_json::Value, port: u64) {
    assert_eq!(candidate_ports(params, "udp"), vec![port], "{params}");
    assert_eq!(candidate_ports(params, "tcp"), vec![port], "{params}");
}

#[tokio::test]
async fn each_worker_serves_webrtc_on_its_own_port() -> TestResult {
    let (sfu, base) = two_workers_on_fixed_ports().await?;
    let a = sfu.router_for("room-a").await?;
    let b = sfu.router_for("room-b").await?;
    assert_ne!(
        a.worker_index(),
        b.worker_index(),
        "rooms go to the least-loaded worker"
    );
    for room in [&a, &b] {
        let want = u64::from(base) + room.worker_index() as u64;
        for _ in 0..2 {
            let t = room.create_webrtc_transport().await?;
            assert_candidates_on(&t.client_parameters(), want);
        }
    }
    // The ports really are taken by the workers.
    assert!(StdUdp::bind(("127.0.0.1", base)).is_err());
    assert!(TcpListener::bind(("127.0.0.1", base + 1)).is_err());
    Ok(())
}

#[tokio::test]
async fn a_dead_worker_leaves_placement_and_its_replacement_takes_its_port() -> TestResult {
    let (sfu, base) = two_workers_on_fixed_ports().await?;
    let doomed = sfu.router_for("doomed").await?;
    let dead = doomed.worker_index();
    let transport = doomed.create_webrtc_transport().await?;
    assert_eq!(sfu.live_workers(), 2);

    sfu.mark_dead(dead);
    assert_eq!(sfu.live_workers(), 1);
    for key in ["after-1", "after-2", "after-3"] {
        let room = sfu.router_for(key).await?;
        assert_ne!(room.worker_index(), dead, "{key} placed on the dead worker");
    }

    // The replacement starts while the dead worker's media is still held (its WebRtcServer
    // keeps the port); released a moment later, the port goes to the replacement.
    drop(doomed);
    let release = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(transport);
    });
    sfu.replace_worker(dead).await?;
    release.await?;
    assert_eq!(sfu.live_workers(), 2);
    let want = u64::from(base) + dead as u64;
    // Least-loaded placement reaches the replacement within two rooms.
    let mut held = Vec::new();
    for i in 0..2 {
        held.push(sfu.router_for(&format!("again-{i}")).await?);
    }
    let room = held
        .iter()
        .find(|r| r.worker_index() == dead)
        .ok_or("no room placed on the replacement worker")?;
    assert_candidates_on(
        &room.create_webrtc_transport().await?.client_parameters(),
        want,
    );
    Ok(())
}

#[tokio::test]
async fn busy_webrtc_port_is_a_clear_startup_error() -> TestResult {
    let taken = StdUdp::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let err = Sfu::new(SfuConfig {
        webrtc_port: Some(port),
        ..SfuConfig::default()
    })
    .await
    .err()
    .ok_or("started on a busy port")?;
    let msg = err.to_string();
    assert!(
        msg.contains(&port.to_string()) && msg.contains("--webrtc-port"),
        "{msg}"
    );
    Ok(())
}

#[tokio::test]
async fn room_outgrowing_its_worker_continues_on_another_with_piped_rtp() -> TestResult {
    let sfu = Sfu::new(SfuConfig {
        workers: 2,
        worker_consumer_capacity: 1,
        ..SfuConfig::default()
    })
    .await?;
    let room = sfu.router_for("big-room").await?;
    let home = room.worker_index();

    let ingress = room.create_plain_transport(true).await?;
    assert_eq!(ingress.worker_index(), home);
    let ssrc = 33_333_333u32;
    let producer = ingress
        .produce("audio", common::opus_parameters(ssrc))
        .await?;

    // First consumer: the home worker still has room.
    let rx1 = UdpSocket::bind("127.0.0.1:0").await?;
    let egress1 = room.create_plain_transport(false).await?;
    assert_eq!(egress1.worker_index(), home);
    egress1
        .connect(serde_json::json!({"ip": "127.0.0.1", "port": rx1.local_addr()?.port()}))
        .await?;
    let caps = room.rtp_capabilities();
    let c1 = egress1.consume(&producer.id(), caps.clone(), false).await?;

    // The home worker is now at capacity: the next transport lands on the other worker.
    let rx2 = UdpSocket::bind("127.0.0.1:0").await?;
    let egress2 = room.create_plain_transport(false).await?;
    assert_ne!(egress2.worker_index(), home, "room did not spread");
    assert_eq!(room.worker_indices().len(), 2);
    assert!(room.uses_worker(egress2.worker_index()));
    egress2
        .connect(serde_json::json!({"ip": "127.0.0.1", "port": rx2.local_addr()?.port()}))
        .await?;
    room.check_consume(&producer.id(), &caps)?;
    let c2 = egress2.consume(&producer.id(), caps.clone(), false).await?;
    // A second consumer on the same remote router reuses the pipe.
    let egress3 = room.create_plain_transport(false).await?;
    assert_eq!(egress3.worker_index(), egress2.worker_index());
    let c3 = egress3.consume(&producer.id(), caps, true).await?;

    let stats = sfu.stats().await;
    assert_eq!(stats.rooms, 1);
    assert_eq!(stats.routers, 2);
    let consumers: Vec<usize> = stats.per_worker.iter().map(|w| w.consumers).collect();
    assert_eq!(consumers.iter().sum::<usize>(), 3, "{stats:?}");
    assert_eq!(stats.per_worker[home].producers, 1);

    let port = ingress.local_port().ok_or("no port")?;
    let got = common::send_and_count(port, ssrc, 60, &[&rx1, &rx2]).await?;
    assert!(got[0] >= 30, "home consumer got {}/60", got[0]);
    assert!(got[1] >= 30, "piped consumer got {}/60", got[1]);
    assert!(c2.packets_sent().await? >= 30);

    // Everything is counted while alive and released by drop (RAII).
    drop((
        c1, c2, c3, producer, egress1, egress2, egress3, ingress, room,
    ));
    let stats = sfu.stats().await;
    assert_eq!(stats.rooms, 0, "{stats:?}");
    for w in &stats.per_worker {
        assert_eq!(
            (w.routers, w.transports, w.producers, w.consumers),
            (0, 0, 0, 0),
            "{stats:?}"
        );
    }
    Ok(())
}

//! `media-bench`: N consumers of one producer, fed with real RTP over PlainTransports.
//!
//! One mediasoup worker, one router, one producer on a `comedia` PlainTransport ingesting an RTP
//! stream sent from a UDP socket of this process: Opus-typed packets at a video-like rate by
//! default (150 pps x 1000 B, about 1.2 Mbit/s, roughly one participant's audio + video). Consumers are added in steps; each has its own
//! PlainTransport pointed at one of a few receiving UDP sockets of this process, so egress is
//! real UDP. For every step the stream runs for a fixed window and the bench reports:
//!
//! * the mediasoup worker thread's CPU time over the window (`/proc/self/task/*/stat` of the
//!   `mediasoup-worker-*` thread, utime + stime) as a share of one core, and per 100 consumers;
//! * delivery: RTP packets received on the receiving sockets vs. sent × consumers, and the
//!   worker's own `packetCount` of the consumers.
//!
//! Output: `result<TAB>media<TAB>CONSUMERS<TAB>metric<TAB>value` lines on stdout (as `loadgen`).

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use media_sfu::{MediaConsumer, MediaTransport, Sfu, SfuConfig};
use serde_json::json;
use tokio::net::UdpSocket;

/// Clock ticks per second of `/proc` times (`USER_HZ`).
const CLOCK_TICKS: f64 = 100.0;

#[derive(Debug, Parser)]
#[command(name = "media-bench", about = "Huddle media benchmark")]
struct Cli {
    /// Consumer counts, comma separated, ascending (consumers are added between steps).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,200,300,400,500,600,800,1000"
    )]
    consumers: Vec<usize>,
    /// Measurement window per step (ms).
    #[arg(long, default_value_t = 3000)]
    window_ms: u64,
    /// RTP packets per second of the producer's stream.
    #[arg(long, default_value_t = 150)]
    pps: u64,
    /// RTP payload bytes per packet.
    #[arg(long, default_value_t = 1000)]
    payload: usize,
    /// Codec of the stream: `opus`, or `vp8` (experimental: packets marked as key frames; the
    /// worker did not forward them in first trials, so reports use `opus`).
    #[arg(long, default_value = "opus")]
    codec: String,
    /// Receiving UDP sockets the consumers' transports send to.
    #[arg(long, default_value_t = 8)]
    receivers: usize,
    /// Loss (fraction) above which a step counts as lossy.
    #[arg(long, default_value_t = 0.001)]
    loss_threshold: f64,
    /// Stop after this many lossy steps.
    #[arg(long, default_value_t = 2)]
    stop_after_lossy: usize,
    /// Lowest RTC port for the worker.
    #[arg(long, default_value_t = 40000)]
    rtc_min_port: u16,
    /// Highest RTC port for the worker.
    #[arg(long, default_value_t = 49999)]
    rtc_max_port: u16,
}

fn result(consumers: usize, metric: &str, value: f64) {
    println!("result\tmedia\t{consumers}\t{metric}\t{value:.3}");
}

/// utime + stime (seconds) of every thread of this process named `mediasoup-worke*`.
fn worker_threads_cpu() -> Result<(usize, f64)> {
    let mut threads = 0;
    let mut ticks = 0u64;
    for entry in fs::read_dir("/proc/self/task").context("/proc/self/task")? {
        let path = entry?.path();
        let comm = fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("mediasoup-work") {
            continue;
        }
        let stat = fs::read_to_string(path.join("stat")).unwrap_or_default();
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let utime: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0);
        let stime: u64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        ticks += utime + stime;
        threads += 1;
    }
    Ok((threads, ticks as f64 / CLOCK_TICKS))
}

/// An RTP packet of the stream. VP8: payload descriptor (S=1, PID 0) and a key-frame header,
/// then zeros; Opus: zeros.
fn rtp_packet(video: bool, seq: u16, timestamp: u32, ssrc: u32, payload: usize) -> Vec<u8> {
    let mut pkt = Vec::with_capacity(12 + payload);
    let pt = if video { 101 } else { 100 };
    pkt.extend_from_slice(&[0x80, 0x80 | pt]); // V=2, marker
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&timestamp.to_be_bytes());
    pkt.extend_from_slice(&ssrc.to_be_bytes());
    if video {
        // VP8 payload descriptor (S=1, PID=0) + key frame tag, start code, 640x480.
        let header = [
            0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01,
        ];
        pkt.extend_from_slice(&header);
    }
    pkt.resize(12 + payload.max(16), 0);
    pkt
}

struct Egress {
    _transport: MediaTransport,
    consumer: MediaConsumer,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut steps = cli.consumers.clone();
    steps.sort_unstable();
    steps.dedup();
    if steps.is_empty() {
        bail!("--consumers is empty");
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);

    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let sfu = Sfu::new(SfuConfig {
        workers: 1,
        listen_ip: localhost,
        rtc_min_port: cli.rtc_min_port,
        rtc_max_port: cli.rtc_max_port,
        ..SfuConfig::default()
    })
    .await
    .context("starting the mediasoup worker")?;
    let router = sfu.router_for("media-bench").await?;
    let ingress = router.create_plain_transport(true).await?;
    let ssrc = 0x1234_5678u32;
    let video = match cli.codec.as_str() {
        "vp8" => true,
        "opus" => false,
        other => bail!("--codec must be vp8 or opus, not {other}"),
    };
    let (kind, codec) = if video {
        (
            "video",
            json!({"mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000}),
        )
    } else {
        (
            "audio",
            json!({"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}),
        )
    };
    let tick: u32 = if video { 3000 } else { 960 };
    let producer = ingress
        .produce(
            kind,
            json!({"codecs": [codec], "encodings": [{"ssrc": ssrc}]}),
        )
        .await
        .context("producing")?;
    let ingress_port = ingress
        .local_port()
        .ok_or_else(|| anyhow!("ingress transport has no port"))?;
    let caps = router.rtp_capabilities();
    let producer_id = producer.id();

    // Receivers.
    let received = Arc::new(AtomicU64::new(0));
    let mut receiver_ports = Vec::new();
    let mut receiver_tasks = Vec::new();
    for _ in 0..cli.receivers.max(1) {
        let socket = UdpSocket::bind((localhost, 0)).await?;
        receiver_ports.push(socket.local_addr()?.port());
        let received = received.clone();
        receiver_tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok(n) = socket.recv(&mut buf).await {
                if n >= 12 && buf[0] >> 6 == 2 && !(200..=207).contains(&buf[1]) {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    let sender = UdpSocket::bind((localhost, 0)).await?;
    sender.connect((localhost, ingress_port)).await?;
    let (threads, _) = worker_threads_cpu()?;
    eprintln!(
        "media-bench: {threads} worker thread(s); stream {} pps x {} B {}",
        cli.pps, cli.payload, cli.codec
    );
    if threads == 0 {
        bail!("no mediasoup-worker thread found in /proc/self/task");
    }

    let mut egress: Vec<Egress> = Vec::new();
    let (mut seq, mut timestamp) = (0u16, 0u32);
    let mut lossy_steps = 0;
    let mut loss_onset: Option<usize> = None;
    let mut last_ok: Option<usize> = None;
    for &n in &steps {
        let started = Instant::now();
        while egress.len() < n {
            let port = receiver_ports[egress.len() % receiver_ports.len()];
            let transport = router.create_plain_transport(false).await?;
            transport
                .connect(json!({"ip": "127.0.0.1", "port": port}))
                .await?;
            let consumer = transport.consume(&producer_id, caps.clone(), true).await?;
            consumer.resume().await?;
            egress.push(Egress {
                _transport: transport,
                consumer,
            });
        }
        eprintln!(
            "media-bench: {n} consumers ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // Baselines of the worker's counters (consumers created in earlier steps sent before).
        let mut before = Vec::with_capacity(egress.len());
        for e in &egress {
            before.push(e.consumer.packets_sent().await.unwrap_or(0));
        }
        // Warm-up: a few packets so fresh consumers are synced.
        for _ in 0..5 {
            sender
                .send(&rtp_packet(video, seq, timestamp, ssrc, cli.payload))
                .await?;
            seq = seq.wrapping_add(1);
            timestamp = timestamp.wrapping_add(tick);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        for (b, e) in before.iter_mut().zip(&egress) {
            *b = e.consumer.packets_sent().await.unwrap_or(*b);
        }

        received.store(0, Ordering::Relaxed);
        let (_, cpu_before) = worker_threads_cpu()?;
        let window = Duration::from_millis(cli.window_ms);
        let total = (cli.pps as f64 * window.as_secs_f64()).round() as u64;
        let window_start = Instant::now();
        let mut sent = 0u64;
        while sent < total {
            // Paced: packet i leaves at i / pps.
            let due = window_start + Duration::from_secs_f64(sent as f64 / cli.pps as f64);
            tokio::time::sleep_until(due.into()).await;
            sender
                .send(&rtp_packet(video, seq, timestamp, ssrc, cli.payload))
                .await?;
            seq = seq.wrapping_add(1);
            timestamp = timestamp.wrapping_add(tick);
            sent += 1;
        }
        let wall = window_start.elapsed().as_secs_f64();
        let (_, cpu_after) = worker_threads_cpu()?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = received.load(Ordering::Relaxed);
        let mut forwarded = 0u64;
        for (b, e) in before.iter().zip(&egress) {
            forwarded += e
                .consumer
                .packets_sent()
                .await
                .unwrap_or(0)
                .saturating_sub(*b);
        }
        let expected = sent * n as u64;
        let loss = 1.0 - got as f64 / expected.max(1) as f64;
        let sfu_loss = 1.0 - forwarded as f64 / expected.max(1) as f64;
        let cpu_share = (cpu_after - cpu_before) / wall;
        result(n, "sent", sent as f64);
        result(n, "expected", expected as f64);
        result(n, "received", got as f64);
        result(n, "loss", loss.max(0.0));
        result(n, "sfu_forward_loss", sfu_loss.max(0.0));
        result(n, "worker_cpu_share", cpu_share);
        result(n, "worker_cpu_per_100", cpu_share * 100.0 / n as f64);
        result(n, "out_pps", got as f64 / wall);
        eprintln!(
            "media-bench: {n} consumers: worker CPU {:.1}% of a core, loss {:.3}% (SFU counters {:.3}%)",
            cpu_share * 100.0,
            loss * 100.0,
            sfu_loss * 100.0
        );
        if loss > cli.loss_threshold {
            lossy_steps += 1;
            loss_onset.get_or_insert(n);
            if lossy_steps >= cli.stop_after_lossy {
                break;
            }
        } else if loss_onset.is_none() {
            last_ok = Some(n);
        }
    }
    let max_step = steps.last().copied().unwrap_or(0);
    result(
        max_step,
        "max_lossless_consumers",
        last_ok.unwrap_or(0) as f64,
    );
    result(
        max_step,
        "loss_onset_consumers",
        loss_onset.map_or(-1.0, |n| n as f64),
    );
    drop(egress);
    for t in receiver_tasks {
        t.abort();
    }
    Ok(())
}

//! Transit load: how fast, at what CPU and memory cost, the router under test (UUT) relays
//! tunnel traffic as a participant.
//!
//! ```text
//!   A (creator, gateway) --ShortTunnelBuild--> UUT --ShortTunnelBuild (forwarded)--> B
//!   A --TunnelData (tunnel id at UUT)-------> UUT --TunnelData (tunnel id at B)------> B
//! ```
//!
//! A and B are both this process, each with its own identity and NTCP2 session. A's build
//! message holds one real record, the UUT's (participant, next hop B); the UUT puts its reply
//! into that record and forwards the message to B, where the bench decrypts the reply with the
//! creator's keys ([`crate::tunnel::creator`]): accepted or rejected is known without reply
//! tunnels. The other records are random, as the spec asks for unused slots. There can be
//! several B routers (one session each); tunnels are spread over them round robin.
//!
//! Traffic: A keeps at most `window` TunnelData in flight (sent, not yet counted at a B), in
//! frames of `frame_messages`, round robin over all tunnels; if nothing arrives for a second the
//! in-flight messages are written off as lost (counted) so a dropping UUT cannot stall the run.
//! Rates and CPU are taken over the measured window after a warm-up; latency is B's arrival
//! time minus the send time A wrote into the IV (one process, one monotonic clock).
//!
//! Payload: every TunnelData is a valid tunnel message as an outbound gateway would send it
//! (checksum, zero byte, local delivery instructions, one unfragmented I2NP Data message),
//! pre-processed with the inverse of the UUT's layer so that what the UUT forwards to B is the
//! plaintext. B can therefore read the send timestamp and B's own tunnel id from the IV and, on
//! a sample, check the checksum: a UUT that got the layer crypto wrong fails that check.

use super::BenchError;
use super::proc::{ProcSample, sample};
use super::session::{BenchRouter, FrameReader, FrameWriter, MAX_PAYLOAD, Uut, push_i2np_block};
use crate::transport::ntcp2::Block;
use crate::tunnel::build::BuildKind;
use crate::tunnel::creator::{CreatorHop, PendingBuild, create_build};
use crate::tunnel::fragment::{Delivery, Instructions, tunnel_message_content};
use crate::tunnel::record::{BuildRequest, REPLY_ACCEPT};
use crate::tunnel::{HopRole, TUNNEL_DATA_BODY_LEN, TUNNEL_PAYLOAD_LEN, unix_now_ms};
use crate::wire::Mapping;
use crate::wire::i2np::{MessageType, StandardHeader};
use aes::cipher::{BlockDecrypt, KeyInit, generic_array::GenericArray};
use rand::{Rng, RngCore};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// I2NP type codes the bench sends and watches for.
const TUNNEL_DATA: u8 = 18;
const SHORT_TUNNEL_BUILD: u8 = 25;
/// Records per build message: one real (the UUT's) and random ones, as a short 4-hop build
/// would look.
const RECORDS: usize = 4;
/// B checks the checksum of one message in this many (a SHA-256 per message would make the
/// bench, not the UUT, the bottleneck).
const CHECK_EVERY: u64 = 64;
/// Without any message arriving for this long, the in-flight ones are written off as lost so
/// that a UUT that drops traffic cannot stall the run.
const STALL: Duration = Duration::from_secs(1);
/// After the measured window, how long B keeps counting stragglers.
const DRAIN: Duration = Duration::from_secs(2);

/// What to run.
#[derive(Debug, Clone)]
pub struct TransitParams {
    /// Tunnels to build (K).
    pub tunnels: usize,
    /// Builds outstanding at once.
    pub build_window: usize,
    /// Builds started per second at most (None: as fast as the window allows). Routers limit
    /// build requests per previous hop (floodgate drops what exceeds its limit without a
    /// reply), and all of the bench's come from A.
    pub build_rate: Option<f64>,
    /// A build without an answer after this long counts as unanswered.
    pub build_timeout: Duration,
    /// Traffic before the measured window (not counted).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// TunnelData messages sent but not yet arrived at B, at most.
    pub window: usize,
    /// TunnelData messages per NTCP2 frame A writes.
    pub frame_messages: usize,
    /// PID of the UUT for CPU and memory readings.
    pub uut_pid: Option<u32>,
    /// Source (and published) address of A.
    pub a_ip: IpAddr,
    /// One B router per address; tunnels are spread over them round robin. More than one keeps
    /// the UUT's queue towards each B short (i2pd 2.45 closes a session with over 500 queued
    /// messages), so that a larger window measures forwarding and not that limit.
    pub b_ips: Vec<IpAddr>,
}

/// The result of one run. Rates are over the measured window; bytes are TunnelData message
/// bodies (1028 bytes each: tunnel id, IV, 1008 encrypted bytes) arriving at B.
#[derive(Debug, Clone, Serialize)]
pub struct TransitReport {
    pub uut_hash: String,
    pub tunnels_requested: usize,
    pub tunnels_accepted: usize,
    pub tunnels_rejected: usize,
    pub tunnels_unanswered: usize,
    pub build_reply_errors: usize,
    pub build_seconds: f64,
    /// Build sent by A to the UUT's reply arriving at B (one hop's record processing).
    pub build_reply_p50_us: Option<u64>,
    pub build_reply_p99_us: Option<u64>,
    /// UUT CPU time over the build phase per answered build.
    pub uut_cpu_ms_per_build: Option<f64>,
    pub uut_rss_before_build_bytes: Option<u64>,
    pub uut_rss_after_build_bytes: Option<u64>,
    pub uut_rss_per_tunnel_bytes: Option<f64>,
    pub measured_seconds: f64,
    pub messages_sent: u64,
    pub messages_forwarded: u64,
    pub messages_per_s: f64,
    pub mb_per_s: f64,
    pub messages_lost: u64,
    pub stalls: u64,
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    pub uut_cpu_seconds: Option<f64>,
    pub uut_cpu_percent: Option<f64>,
    pub uut_cpu_s_per_gb: Option<f64>,
    pub uut_rss_end_bytes: Option<u64>,
    pub bench_cpu_percent: Option<f64>,
    pub checksums_checked: u64,
    pub checksum_failures: u64,
    pub wrong_tunnel: u64,
}

/// A built tunnel as A's gateway needs it.
struct Tunnel {
    /// The tunnel id at the UUT (what A sends to).
    uut_tid: u32,
    /// The tunnel id at B (what the UUT sends to).
    b_tid: u32,
    iv_dec: aes::Aes256,
    layer_dec: aes::Aes256,
    /// Pre-processed data blocks 2..63: the only ones that are the same in every message
    /// (block 0 holds the checksum, and block 1's pre-image depends on block 0 through CBC).
    tail: Box<[u8; TUNNEL_PAYLOAD_LEN - 48]>,
    /// AES-decrypt of plaintext data block 1 (constant); XORed with block 0 per message.
    block1_dec: [u8; 16],
}

/// The plaintext every message carries after the IV: checksum (4, filled per message), zero
/// byte, then `content`.
struct Plain {
    content: Vec<u8>,
    /// SHA-256 state after absorbing `content`: per message only the IV is added.
    checksum_prefix: Sha256,
}

impl Plain {
    fn new() -> Result<Self, BenchError> {
        // Local delivery (we are the endpoint), unfragmented, one I2NP Data message filling the
        // rest: 1003 bytes of content, so no padding and the zero byte right after the checksum.
        let content_len = crate::tunnel::fragment::CONTENT_MAX;
        let di_len = Delivery::Local.first_di_len(false);
        let msg_len = content_len - di_len;
        let body_len = msg_len - StandardHeader::LEN;
        let mut body = Vec::with_capacity(body_len);
        body.extend_from_slice(&((body_len - 4) as u32).to_be_bytes());
        let mut filler = vec![0u8; body_len - 4];
        rand::thread_rng().fill_bytes(&mut filler);
        body.extend_from_slice(&filler);
        let header = StandardHeader::for_body(
            MessageType::Data.code(),
            rand::thread_rng().r#gen(),
            unix_now_ms() + 600_000,
            &body,
        )?;
        let mut content = Vec::with_capacity(content_len);
        Instructions::First {
            delivery: Delivery::Local,
            msg_id: None,
            size: msg_len as u16,
        }
        .write(&mut content);
        header.write(&mut content);
        content.extend_from_slice(&body);
        if content.len() != content_len {
            return Err(BenchError::Params(format!(
                "tunnel message content is {} bytes, expected {content_len}",
                content.len()
            )));
        }
        let mut checksum_prefix = Sha256::new();
        checksum_prefix.update(&content);
        Ok(Self {
            content,
            checksum_prefix,
        })
    }

    /// The 1008 data bytes after the IV with the checksum for `iv`.
    fn data(&self, iv: &[u8; 16], out: &mut [u8; TUNNEL_PAYLOAD_LEN - 16]) {
        let mut h = self.checksum_prefix.clone();
        h.update(iv);
        out[..4].copy_from_slice(&h.finalize()[..4]);
        out[4] = 0;
        out[5..].copy_from_slice(&self.content);
    }
}

impl Tunnel {
    fn new(
        uut_tid: u32,
        b_tid: u32,
        layer_key: &[u8; 32],
        iv_key: &[u8; 32],
        plain: &Plain,
    ) -> Self {
        let iv_dec = aes::Aes256::new(iv_key.into());
        let layer_dec = aes::Aes256::new(layer_key.into());
        let mut data = [0u8; TUNNEL_PAYLOAD_LEN - 16];
        plain.data(&[0; 16], &mut data);
        // CBC decryption: pre[i] = D(plain[i]) ^ plain[i-1]. For i >= 2 both are constant.
        let mut dec = data;
        for b in dec.chunks_exact_mut(16) {
            layer_dec.decrypt_block(GenericArray::from_mut_slice(b));
        }
        let mut tail = Box::new([0u8; TUNNEL_PAYLOAD_LEN - 48]);
        for ((t, d), prev) in tail
            .iter_mut()
            .zip(&dec[32..])
            .zip(&data[16..TUNNEL_PAYLOAD_LEN - 32])
        {
            *t = d ^ prev;
        }
        let mut block1_dec = [0u8; 16];
        block1_dec.copy_from_slice(&dec[16..32]);
        Self {
            uut_tid,
            b_tid,
            iv_dec,
            layer_dec,
            tail,
            block1_dec,
        }
    }

    /// Write the TunnelData body (tunnel id + 1024) for a message whose plaintext IV is `iv`:
    /// byte for byte what the full inverse layer transform (IV decrypt, CBC decrypt, IV decrypt)
    /// of the plaintext gives, computed from the per-tunnel constant part.
    fn write_body(&self, iv: [u8; 16], plain: &Plain, out: &mut Vec<u8>) {
        let mut data = [0u8; TUNNEL_PAYLOAD_LEN - 16];
        plain.data(&iv, &mut data);
        // The UUT: iv1 = E(iv0); data = CBC-E(layer, iv1, data); iv2 = E(iv1). We want iv2 = iv.
        let mut iv1 = GenericArray::from(iv);
        self.iv_dec.decrypt_block(&mut iv1);
        let mut iv0 = iv1;
        self.iv_dec.decrypt_block(&mut iv0);
        let mut b0 = GenericArray::clone_from_slice(&data[..16]);
        self.layer_dec.decrypt_block(&mut b0);
        out.extend_from_slice(&self.uut_tid.to_be_bytes());
        out.extend_from_slice(&iv0);
        out.extend(b0.iter().zip(iv1.iter()).map(|(x, y)| x ^ y));
        out.extend(self.block1_dec.iter().zip(&data[..16]).map(|(x, y)| x ^ y));
        out.extend_from_slice(&self.tail[..]);
    }
}

/// Counters B shares with the sending side while traffic runs.
struct Shared {
    received: AtomicU64,
    measuring: AtomicBool,
    progress: Notify,
    epoch: Instant,
}

/// What B reports when it stops.
#[derive(Default)]
struct BStats {
    latencies_us: Vec<u32>,
    checked: u64,
    checksum_failures: u64,
    wrong_tunnel: u64,
}

fn nanos_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

/// B: count TunnelData, hand forwarded build messages to the build loop, keep the session alive.
async fn run_b(
    reader: FrameReader,
    writer: FrameWriter,
    shared: Arc<Shared>,
    builds: mpsc::UnboundedSender<(u32, bytes::Bytes)>,
    stop: CancellationToken,
    failed: CancellationToken,
) -> Result<BStats, BenchError> {
    let r = run_b_inner(reader, writer, shared, builds, stop).await;
    // The build and traffic loops watch this instead of every B task.
    if r.is_err() {
        failed.cancel();
    }
    r
}

async fn run_b_inner(
    mut reader: FrameReader,
    mut writer: FrameWriter,
    shared: Arc<Shared>,
    builds: mpsc::UnboundedSender<(u32, bytes::Bytes)>,
    stop: CancellationToken,
) -> Result<BStats, BenchError> {
    let mut st = BStats::default();
    let mut keepalive = tokio::time::interval(Duration::from_secs(20));
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => return Ok(st),
            _ = keepalive.tick() => {
                writer.send_datetime().await?;
                continue;
            }
            f = reader.next_frame() => f?,
        };
        let Some(blocks) = frame else {
            return Err(BenchError::Closed("B"));
        };
        for b in blocks {
            let Block::I2np(m) = b else { continue };
            match m.msg_type {
                TUNNEL_DATA => on_tunnel_data(&m.body, &shared, &mut st),
                SHORT_TUNNEL_BUILD => {
                    let _ = builds.send((m.msg_id, m.body));
                }
                _ => {}
            }
        }
        shared.progress.notify_one();
    }
}

fn on_tunnel_data(body: &[u8], shared: &Shared, st: &mut BStats) {
    let (Some(tid), Some(payload)) = (
        body.get(..4),
        body.get(4..TUNNEL_DATA_BODY_LEN)
            .and_then(|p| <&[u8; TUNNEL_PAYLOAD_LEN]>::try_from(p).ok()),
    ) else {
        st.wrong_tunnel += 1;
        return;
    };
    // The IV as A wrote it: send time (ns since the bench's epoch), sequence, B's tunnel id.
    if tid != &payload[12..16] {
        st.wrong_tunnel += 1;
        return;
    }
    let n = shared.received.fetch_add(1, Ordering::Relaxed);
    if shared.measuring.load(Ordering::Relaxed) {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&payload[..8]);
        let sent = u64::from_be_bytes(ts);
        let lat_us = nanos_since(shared.epoch).saturating_sub(sent) / 1000;
        st.latencies_us
            .push(u32::try_from(lat_us).unwrap_or(u32::MAX));
    }
    if n.is_multiple_of(CHECK_EVERY) {
        st.checked += 1;
        if tunnel_message_content(payload).is_err() {
            st.checksum_failures += 1;
        }
    }
}

/// A: read and drop whatever the UUT sends us (DateTime, its RouterInfo, ...), so its writes
/// never block on us.
async fn drain(mut reader: FrameReader, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            f = reader.next_frame() => {
                if !matches!(f, Ok(Some(_))) {
                    return;
                }
            }
        }
    }
}

fn nonzero_u32(rng: &mut impl Rng) -> u32 {
    rng.gen_range(1..=u32::MAX)
}

struct PendingTunnel {
    build: PendingBuild,
    uut_tid: u32,
    b_tid: u32,
    sent: Instant,
}

#[derive(Default)]
struct BuildOutcome {
    tunnels: Vec<Tunnel>,
    /// Time from sending a build to B receiving the UUT's reply, per answered build.
    reply_us: Vec<u32>,
    rejected: usize,
    unanswered: usize,
    reply_errors: usize,
}

async fn build_tunnels(
    uut: &Uut,
    b_hashes: &[[u8; 32]],
    p: &TransitParams,
    b_failed: &CancellationToken,
    a: &mut FrameWriter,
    replies: &mut mpsc::UnboundedReceiver<(u32, bytes::Bytes)>,
    plain: &Plain,
) -> Result<BuildOutcome, BenchError> {
    let mut rng = rand::thread_rng();
    let mut out = BuildOutcome::default();
    let mut pending: HashMap<u32, PendingTunnel> = HashMap::new();
    let mut b_tids: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut started = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let t0 = Instant::now();
    while out.tunnels.len() + out.rejected + out.unanswered + out.reply_errors < p.tunnels {
        let mut payload = Vec::new();
        let allowed = p.build_rate.map_or(usize::MAX, |r| {
            (t0.elapsed().as_secs_f64() * r) as usize + 1
        });
        while pending.len() < p.build_window
            && started < p.tunnels.min(allowed)
            && payload.len() < 32 * 1024
        {
            let uut_tid = nonzero_u32(&mut rng);
            let b_tid = loop {
                let t = nonzero_u32(&mut rng);
                if b_tids.insert(t) {
                    break t;
                }
            };
            let next_msg_id = loop {
                let m = rng.r#gen::<u32>();
                if !pending.contains_key(&m) {
                    break m;
                }
            };
            let mut eph = [0u8; 32];
            rng.fill_bytes(&mut eph);
            let hop = CreatorHop {
                ident_hash: uut.hash,
                static_key: uut.encryption_key,
                ephemeral_secret: eph,
                request: BuildRequest {
                    receive_tunnel: uut_tid,
                    next_tunnel: b_tid,
                    next_ident: b_hashes[started % b_hashes.len()],
                    role: HopRole::Participant,
                    reserved_flags: 0,
                    layer_encryption: 0,
                    request_time_min: (unix_now_ms() / 60_000) as u32,
                    expiration_s: 600,
                    next_msg_id,
                    options: Mapping::default(),
                },
                long_keys: None,
            };
            let position = rng.gen_range(0..RECORDS);
            let (body, build) =
                create_build(BuildKind::Short, &[hop], &[position], RECORDS, &mut rng)?;
            push_i2np_block(
                &mut payload,
                SHORT_TUNNEL_BUILD,
                rng.r#gen(),
                (unix_now_ms() / 1000) as u32 + 60,
                &body,
            );
            pending.insert(
                next_msg_id,
                PendingTunnel {
                    build,
                    uut_tid,
                    b_tid,
                    sent: Instant::now(),
                },
            );
            started += 1;
        }
        if !payload.is_empty() {
            a.send_payload(&payload).await?;
        }
        tokio::select! {
            r = replies.recv() => {
                let Some((msg_id, body)) = r else { return Err(BenchError::Closed("B")) };
                let Some(t) = pending.remove(&msg_id) else { continue };
                out.reply_us.push(u32::try_from(t.sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                match t.build.decrypt_replies(&body) {
                    Ok(r) if r.first().is_some_and(|r| r.code == REPLY_ACCEPT) => {
                        let keys = t.build.layer_keys();
                        let Some(k) = keys.first() else { continue };
                        out.tunnels.push(Tunnel::new(t.uut_tid, t.b_tid, &k.layer_key, &k.iv_key, plain));
                    }
                    Ok(_) => out.rejected += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "build reply could not be decrypted");
                        out.reply_errors += 1;
                    }
                }
            }
            _ = b_failed.cancelled() => return Err(BenchError::Closed("B")),
            _ = tick.tick() => {
                let before = pending.len();
                pending.retain(|_, t| t.sent.elapsed() < p.build_timeout);
                out.unanswered += before - pending.len();
            }
        }
    }
    Ok(out)
}

/// Counters at the start and end of the measured window.
#[derive(Clone, Copy)]
struct Snapshot {
    at: Instant,
    received: u64,
    uut: Option<ProcSample>,
    bench: Option<ProcSample>,
}

fn percentile(sorted: &[u32], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).map(|v| u64::from(*v))
}

/// Run the whole transit benchmark against `uut`.
pub async fn run(uut: &Uut, p: &TransitParams) -> Result<TransitReport, BenchError> {
    if p.tunnels == 0 || p.window == 0 || p.frame_messages == 0 || p.build_window == 0 {
        return Err(BenchError::Params(
            "tunnels, window, frame messages and build window must be at least 1".into(),
        ));
    }
    // Each message is 3 + 9 + 1028 bytes in the frame.
    let per_msg = 3 + 9 + TUNNEL_DATA_BODY_LEN;
    let frame_messages = p.frame_messages.min(MAX_PAYLOAD / per_msg);
    let plain = Plain::new()?;
    let a = BenchRouter::generate(uut.net_id, p.a_ip, 12346)?;
    if p.b_ips.is_empty() {
        return Err(BenchError::Params("at least one B address".into()));
    }
    let bs = p
        .b_ips
        .iter()
        .map(|ip| BenchRouter::generate(uut.net_id, *ip, 12346))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut a_w, a_r) = a.connect(uut).await?;
    let mut b_sessions = Vec::with_capacity(bs.len());
    for b in &bs {
        b_sessions.push(b.connect(uut).await?);
    }
    tracing::info!("sessions A and B established");
    let stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        received: AtomicU64::new(0),
        measuring: AtomicBool::new(false),
        progress: Notify::new(),
        epoch: Instant::now(),
    });
    let (build_tx, mut build_rx) = mpsc::unbounded_channel();
    let a_task = tokio::spawn(drain(a_r, stop.clone()));
    let b_failed = CancellationToken::new();
    let b_tasks: Vec<_> = b_sessions
        .into_iter()
        .map(|(w, r)| {
            tokio::spawn(run_b(
                r,
                w,
                shared.clone(),
                build_tx.clone(),
                stop.clone(),
                b_failed.clone(),
            ))
        })
        .collect();
    drop(build_tx);
    let b_hashes: Vec<[u8; 32]> = bs.iter().map(|b| b.hash).collect();
    // Let the UUT register both sessions before anything has to be routed over B's.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid_sample = || p.uut_pid.map(sample).transpose();

    let before_build = pid_sample()?;
    let rss_before = before_build.map(|s| s.rss_bytes);
    let t_build = Instant::now();
    let built = build_tunnels(
        uut,
        &b_hashes,
        p,
        &b_failed,
        &mut a_w,
        &mut build_rx,
        &plain,
    )
    .await;
    let built = match built {
        Ok(b) => b,
        Err(e) => {
            stop.cancel();
            return Err(e);
        }
    };
    let build_seconds = t_build.elapsed().as_secs_f64();
    // Give the UUT a moment to finish allocating for the last tunnels.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_build = pid_sample()?;
    let rss_after = after_build.map(|s| s.rss_bytes);
    tracing::info!(
        accepted = built.tunnels.len(),
        rejected = built.rejected,
        unanswered = built.unanswered,
        "tunnels built"
    );

    let mut sent = 0u64;
    let mut written_off = 0u64;
    let mut stalls = 0u64;
    let mut measured: Option<Snapshot> = None;
    let mut window_end: Option<Snapshot> = None;
    if !built.tunnels.is_empty() {
        let t0 = Instant::now();
        let warm_end = t0 + p.warmup;
        let end = warm_end + p.duration;
        let mut rng = rand::thread_rng();
        let mut next_tunnel = 0usize;
        let mut payload = Vec::with_capacity(frame_messages * per_msg);
        let mut body = Vec::with_capacity(TUNNEL_DATA_BODY_LEN);
        let mut last_received = 0u64;
        let mut last_progress = Instant::now();
        loop {
            let now = Instant::now();
            // Stamped like a real gateway (i2pd: 8 s ahead), once per frame: routers drop
            // TunnelData that expires far ahead (floodgate: more than 120 s, `future`).
            let exp = (unix_now_ms() / 1000) as u32 + 10;
            // B ends only on an error (e.g. the UUT closed its session): stop at once, the
            // error is reported below.
            if now >= end || b_failed.is_cancelled() {
                break;
            }
            if measured.is_none() && now >= warm_end {
                measured = Some(Snapshot {
                    at: now,
                    received: shared.received.load(Ordering::Relaxed),
                    uut: pid_sample()?,
                    bench: sample(std::process::id()).ok(),
                });
                shared.measuring.store(true, Ordering::Relaxed);
            }
            let received = shared.received.load(Ordering::Relaxed);
            if received != last_received {
                last_received = received;
                last_progress = now;
            }
            let in_flight = sent.saturating_sub(received).saturating_sub(written_off);
            let credit = (p.window as u64).saturating_sub(in_flight) as usize;
            if credit == 0 {
                if now.duration_since(last_progress) >= STALL {
                    written_off += in_flight;
                    stalls += 1;
                    last_progress = now;
                    continue;
                }
                tokio::select! {
                    _ = shared.progress.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
            payload.clear();
            for _ in 0..credit.min(frame_messages) {
                let t = &built.tunnels[next_tunnel];
                next_tunnel = (next_tunnel + 1) % built.tunnels.len();
                let mut iv = [0u8; 16];
                iv[..8].copy_from_slice(&nanos_since(shared.epoch).to_be_bytes());
                iv[8..12].copy_from_slice(&(sent as u32).to_be_bytes());
                iv[12..16].copy_from_slice(&t.b_tid.to_be_bytes());
                body.clear();
                t.write_body(iv, &plain, &mut body);
                push_i2np_block(&mut payload, TUNNEL_DATA, rng.r#gen(), exp, &body);
                sent += 1;
            }
            a_w.send_payload(&payload).await?;
            // One core runs both A and B: let B's reader in after each frame.
            tokio::task::yield_now().await;
        }
        shared.measuring.store(false, Ordering::Relaxed);
        window_end = Some(Snapshot {
            at: Instant::now(),
            received: shared.received.load(Ordering::Relaxed),
            uut: pid_sample()?,
            bench: sample(std::process::id()).ok(),
        });
        tokio::time::sleep(DRAIN).await;
    }
    let rss_end = pid_sample()?.map(|s| s.rss_bytes);
    let total_received = shared.received.load(Ordering::Relaxed);
    stop.cancel();
    let _ = a_task.await;
    let mut bstats = BStats::default();
    for t in b_tasks {
        let s = match t.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(BenchError::Params(format!("B task failed: {e}"))),
        };
        bstats.latencies_us.extend_from_slice(&s.latencies_us);
        bstats.checked += s.checked;
        bstats.checksum_failures += s.checksum_failures;
        bstats.wrong_tunnel += s.wrong_tunnel;
    }
    bstats.latencies_us.sort_unstable();

    let accepted = built.tunnels.len();
    let mut reply_us = built.reply_us.clone();
    reply_us.sort_unstable();
    let answered = reply_us.len();
    let mut r = TransitReport {
        uut_hash: crate::wire::base64::encode(&uut.hash),
        tunnels_requested: p.tunnels,
        tunnels_accepted: accepted,
        tunnels_rejected: built.rejected,
        tunnels_unanswered: built.unanswered,
        build_reply_errors: built.reply_errors,
        build_seconds,
        build_reply_p50_us: percentile(&reply_us, 0.50),
        build_reply_p99_us: percentile(&reply_us, 0.99),
        uut_cpu_ms_per_build: match (before_build, after_build) {
            (Some(b), Some(a)) if answered > 0 => {
                Some((a.cpu_s - b.cpu_s) * 1000.0 / answered as f64)
            }
            _ => None,
        },
        uut_rss_before_build_bytes: rss_before,
        uut_rss_after_build_bytes: rss_after,
        uut_rss_per_tunnel_bytes: match (rss_before, rss_after) {
            (Some(b), Some(a)) if accepted > 0 => Some((a as f64 - b as f64) / accepted as f64),
            _ => None,
        },
        measured_seconds: 0.0,
        messages_sent: sent,
        messages_forwarded: 0,
        messages_per_s: 0.0,
        mb_per_s: 0.0,
        messages_lost: sent.saturating_sub(total_received),
        stalls,
        latency_p50_us: percentile(&bstats.latencies_us, 0.50),
        latency_p99_us: percentile(&bstats.latencies_us, 0.99),
        uut_cpu_seconds: None,
        uut_cpu_percent: None,
        uut_cpu_s_per_gb: None,
        uut_rss_end_bytes: rss_end,
        bench_cpu_percent: None,
        checksums_checked: bstats.checked,
        checksum_failures: bstats.checksum_failures,
        wrong_tunnel: bstats.wrong_tunnel,
    };
    if let (Some(m0), Some(m1)) = (measured, window_end) {
        let secs = m1.at.duration_since(m0.at).as_secs_f64();
        let (u0, u1, s0, s1) = (m0.uut, m1.uut, m0.bench, m1.bench);
        let n = m1.received.saturating_sub(m0.received);
        let bytes = n as f64 * TUNNEL_DATA_BODY_LEN as f64;
        r.measured_seconds = secs;
        r.messages_forwarded = n;
        if secs > 0.0 {
            r.messages_per_s = n as f64 / secs;
            r.mb_per_s = bytes / 1e6 / secs;
        }
        if let (Some(u0), Some(u1)) = (u0, u1) {
            let cpu = u1.cpu_s - u0.cpu_s;
            r.uut_cpu_seconds = Some(cpu);
            if secs > 0.0 {
                r.uut_cpu_percent = Some(100.0 * cpu / secs);
            }
            if bytes > 0.0 {
                r.uut_cpu_s_per_gb = Some(cpu / (bytes / 1e9));
            }
        }
        if let (Some(s0), Some(s1)) = (s0, s1)
            && secs > 0.0
        {
            r.bench_cpu_percent = Some(100.0 * (s1.cpu_s - s0.cpu_s) / secs);
        }
    }
    Ok(r)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

impl TransitReport {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mib = |b: Option<u64>| opt(b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0)));
        let rows: Vec<(&str, String)> = vec![
            ("router under test", self.uut_hash.clone()),
            (
                "tunnels accepted / requested",
                format!("{} / {}", self.tunnels_accepted, self.tunnels_requested),
            ),
            (
                "rejected / unanswered / bad reply",
                format!(
                    "{} / {} / {}",
                    self.tunnels_rejected, self.tunnels_unanswered, self.build_reply_errors
                ),
            ),
            ("build time", format!("{:.2} s", self.build_seconds)),
            (
                "build reply p50 / p99",
                format!(
                    "{} / {} us",
                    opt(self.build_reply_p50_us),
                    opt(self.build_reply_p99_us)
                ),
            ),
            (
                "UUT CPU per build",
                opt(self.uut_cpu_ms_per_build.map(|v| format!("{v:.3} ms"))),
            ),
            ("RSS before build", mib(self.uut_rss_before_build_bytes)),
            ("RSS after build", mib(self.uut_rss_after_build_bytes)),
            (
                "RSS per tunnel",
                opt(self.uut_rss_per_tunnel_bytes.map(|b| format!("{b:.0} B"))),
            ),
            ("measured window", format!("{:.2} s", self.measured_seconds)),
            (
                "forwarded messages/s",
                format!("{:.0}", self.messages_per_s),
            ),
            ("forwarded MB/s", format!("{:.2}", self.mb_per_s)),
            (
                "sent / lost (whole run)",
                format!("{} / {}", self.messages_sent, self.messages_lost),
            ),
            (
                "latency p50",
                opt(self.latency_p50_us.map(|v| format!("{v} us"))),
            ),
            (
                "latency p99",
                opt(self.latency_p99_us.map(|v| format!("{v} us"))),
            ),
            (
                "UUT CPU",
                opt(self.uut_cpu_percent.map(|v| format!("{v:.0} % of a core"))),
            ),
            (
                "UUT CPU s per GB",
                opt(self.uut_cpu_s_per_gb.map(|v| format!("{v:.2}"))),
            ),
            ("UUT RSS at end", mib(self.uut_rss_end_bytes)),
            (
                "bench CPU",
                opt(self
                    .bench_cpu_percent
                    .map(|v| format!("{v:.0} % of a core"))),
            ),
            (
                "checksums checked / failed",
                format!("{} / {}", self.checksums_checked, self.checksum_failures),
            ),
            ("wrong tunnel id", self.wrong_tunnel.to_string()),
        ];
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<w$}  {v}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::layer::LayerCipher;

    /// The shortcut pre-processing equals the full inverse transform: after the hop's real
    /// encryption the message is the plaintext with a valid checksum.
    #[test]
    fn preprocessed_message_decrypts_to_plaintext_at_the_hop() {
        let plain = Plain::new().unwrap();
        let (lk, ik) = ([7u8; 32], [9u8; 32]);
        let t = Tunnel::new(0x1111, 0x2222, &lk, &ik, &plain);
        let mut iv = [0u8; 16];
        iv[..8].copy_from_slice(&123456789u64.to_be_bytes());
        iv[12..].copy_from_slice(&0x2222u32.to_be_bytes());
        let mut body = Vec::new();
        t.write_body(iv, &plain, &mut body);
        assert_eq!(body.len(), TUNNEL_DATA_BODY_LEN);
        assert_eq!(&body[..4], &0x1111u32.to_be_bytes());
        let mut payload: [u8; TUNNEL_PAYLOAD_LEN] = body[4..].try_into().unwrap();
        LayerCipher::new(&lk, &ik).encrypt(&mut payload);
        assert_eq!(&payload[..16], &iv);
        let (_, content) = tunnel_message_content(&payload).unwrap();
        assert_eq!(content, &plain.content[..]);
        // A different IV changes the checksum; the message still verifies.
        let mut iv2 = iv;
        iv2[9] = 1;
        body.clear();
        t.write_body(iv2, &plain, &mut body);
        let mut p2: [u8; TUNNEL_PAYLOAD_LEN] = body[4..].try_into().unwrap();
        LayerCipher::new(&lk, &ik).encrypt(&mut p2);
        assert!(tunnel_message_content(&p2).is_ok());
        // And B's accounting reads it.
        let shared = Shared {
            received: AtomicU64::new(0),
            measuring: AtomicBool::new(true),
            progress: Notify::new(),
            epoch: Instant::now(),
        };
        let mut st = BStats::default();
        let mut fwd = 0x2222u32.to_be_bytes().to_vec();
        fwd.extend_from_slice(&p2);
        on_tunnel_data(&fwd, &shared, &mut st);
        assert_eq!(shared.received.load(Ordering::Relaxed), 1);
        assert_eq!(
            (st.checked, st.checksum_failures, st.wrong_tunnel),
            (1, 0, 0)
        );
        fwd[0] ^= 1;
        on_tunnel_data(&fwd, &shared, &mut st);
        on_tunnel_data(&fwd[..100], &shared, &mut st);
        assert_eq!(st.wrong_tunnel, 2);
    }
}

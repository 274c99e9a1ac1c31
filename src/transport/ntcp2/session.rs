//! NTCP2 over TCP: the listener, outbound connects, and one task per session that drives the
//! handshake state machines and then the data phase.
//!
//! Failure policy (ntcp2.rst "probing resistance"): a bad handshake gets no reply at all. When the
//! error says so, the socket is kept open for a random time while a random number of bytes is
//! read, so a prober cannot tell a floodgate router by when it closes; then it is closed.
//! Every failure is counted by reason; the listener keeps accepting.

use super::frame::{Block, FrameError, I2npBlock, TerminationReason, parse_blocks};
use super::handshake::{
    DataPhase, HandshakeError, HandshakeRandom, Initiator, LocalKeys, MAX_CLOCK_SKEW_SECS,
    PeerNtcp2Info, ReplayCache, Responder, unix_time_secs,
};
use crate::ops::telemetry::{redact_ip, short_hash};
use crate::transport::limits::{ConnectionLimits, Permit};
use crate::transport::manager::{
    ConnectTarget, Connector, Direction, PeerEvent, RouterHash, SESSION_QUEUE_LEN, SessionCommand,
    TransportManager,
};
use crate::wire::RouterInfo;
use crate::wire::i2np::ShortHeader;
use bytes::{Bytes, BytesMut};
use rand::Rng;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Whole-handshake deadline (i2pd uses 10 s too): slowloris protection.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A session with no frame in either direction for this long is closed (reason 2).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// Once a frame's length is known its bytes must arrive within this time (reason 14).
pub const INTRA_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Target plaintext size of a batched data frame. The spec recommends a few KB rather than the
/// 64 KiB maximum, so the receiver can authenticate and hand on messages sooner.
pub const TARGET_FRAME_PAYLOAD: usize = 16 * 1024;
/// Queued messages taken into one socket write (as several frames of about
/// [`TARGET_FRAME_PAYLOAD`]). Why larger than one frame: under relay load every write is a
/// TCP segment through the kernel, and per-write costs were a fifth of a relay core at one
/// frame per write; an idle session still writes each message as soon as it is queued.
pub const WRITE_BATCH: usize = 64 * 1024;
/// Socket read buffer size (and the most one read takes).
const READ_CHUNK: usize = 64 * 1024;

/// Make room in a read buffer before the next socket read. Why: frames are split off the front
/// of the buffer and decrypted in place ([`super::FrameDecoder::decode_in_place`]), and the
/// messages in them keep that memory until they are forwarded, so the buffer must be topped up
/// explicitly; left to `read_buf` it would grow by 64 bytes at a time.
pub fn top_up_read_buffer(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
}
/// Largest random padding block appended to a data frame.
const MAX_FRAME_PADDING: u16 = 32;
/// Padding after handshake messages 1 and 2 (cleartext, so kept small; i2pd accepts up to 287
/// bytes per message in total).
const MAX_HANDSHAKE_PADDING: usize = 64;

/// Everything a session task needs, shared by all sessions of the router.
#[derive(Clone)]
pub struct Ntcp2Context {
    pub local: Arc<LocalKeys>,
    pub replay: Arc<ReplayCache>,
    pub manager: TransportManager,
    pub limits: ConnectionLimits,
    /// Our current RouterInfo (uncompressed), sent in message 3 and after inbound handshakes.
    pub router_info: Arc<RwLock<Bytes>>,
    /// Local address outbound connections are made from (None: the kernel chooses).
    pub bind_ip: Option<IpAddr>,
    pub shutdown: CancellationToken,
}

impl Ntcp2Context {
    fn current_router_info(&self) -> Bytes {
        self.router_info
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn count_handshake(&self, dir: Direction, result: Result<(), &'static str>) {
        let (res, reason) = match result {
            Ok(()) => ("ok", ""),
            Err(r) => ("failed", r),
        };
        self.manager
            .metrics()
            .handshakes
            .with_label_values(&[dir.label(), res, reason])
            .inc();
    }

    fn count_bytes(&self, dir: &str, n: usize) {
        self.manager
            .metrics()
            .bytes
            .with_label_values(&["ntcp2", dir])
            .inc_by(n as u64);
    }
}

fn now_secs() -> u64 {
    unix_time_secs(SystemTime::now())
}

/// Failure of a session before or during the data phase.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake timed out")]
    Timeout,
    #[error("peer RouterInfo rejected: {0}")]
    RouterInfo(&'static str),
}

impl SessionError {
    fn reason(&self) -> &'static str {
        match self {
            Self::Handshake(e) => e.reason(),
            Self::Io(_) => "io",
            Self::Timeout => "timeout",
            Self::RouterInfo(r) => r,
        }
    }
}

/// Bind the NTCP2 listeners: IPv4 always, IPv6 when asked (v6-only so both can share the port).
pub fn bind_listeners(
    port: u16,
    ipv4: Option<std::net::Ipv4Addr>,
    ipv6: bool,
) -> std::io::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    let v4 = SocketAddr::from((ipv4.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED), port));
    out.push(bind_one(v4, false)?);
    if ipv6 {
        match bind_one(
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
            true,
        ) {
            Ok(l) => out.push(l),
            // Hosts and containers without IPv6 are common; NTCP2 over IPv4 still works.
            Err(e) => warn!(error = %e, "NTCP2: IPv6 listener not available"),
        }
    }
    Ok(out)
}

fn bind_one(addr: SocketAddr, v6_only: bool) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if v6_only {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// Accept loop: admission, then one task per connection.
pub async fn serve(listener: TcpListener, ctx: Ntcp2Context) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "NTCP2 accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let permit = match ctx.limits.try_acquire(peer.ip()) {
            Ok(p) => p,
            Err(r) => {
                ctx.manager
                    .metrics()
                    .refused
                    .with_label_values(&[r.label()])
                    .inc();
                drop(stream);
                continue;
            }
        };
        let ctx = ctx.clone();
        tokio::spawn(async move { inbound(ctx, stream, peer, permit).await });
    }
}

async fn inbound(ctx: Ntcp2Context, mut stream: TcpStream, peer_addr: SocketAddr, permit: Permit) {
    let _ = stream.set_nodelay(true);
    let result =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, responder_handshake(&ctx, &mut stream)).await;
    let (dp, peer, ri) = match result {
        Ok(Ok(x)) => x,
        Ok(Err((e, probing))) => {
            ctx.count_handshake(Direction::Inbound, Err(e.reason()));
            if matches!(e, SessionError::Handshake(HandshakeError::Replay { .. })) {
                ctx.manager.metrics().replays.inc();
            }
            debug!(peer = %redact_ip(peer_addr.ip()), error = %e, "NTCP2 inbound handshake failed");
            if probing {
                probing_resistant_close(stream).await;
            }
            return;
        }
        Err(_) => {
            ctx.count_handshake(Direction::Inbound, Err("timeout"));
            return;
        }
    };
    ctx.count_handshake(Direction::Inbound, Ok(()));
    // Announce the peer's RouterInfo (from message 3) before any of its messages.
    let _ = ctx
        .manager
        .events()
        .send(PeerEvent::RouterInfo {
            peer,
            router_info: ri,
            flood: false,
        })
        .await;
    run_session(ctx, stream, dp, peer, Direction::Inbound, permit).await;
}

/// Bob's side. The bool in the error says whether probing resistance applies.
async fn responder_handshake(
    ctx: &Ntcp2Context,
    stream: &mut TcpStream,
) -> Result<(DataPhase, RouterHash, Bytes), (SessionError, bool)> {
    let io = |e: std::io::Error| (SessionError::Io(e), false);
    let hs = |e: HandshakeError| {
        let p = e.wants_probing_resistance();
        (SessionError::Handshake(e), p)
    };
    let random = HandshakeRandom::generate(&mut rand::rngs::OsRng, MAX_HANDSHAKE_PADDING);
    let mut r = Responder::new(ctx.local.clone(), random).map_err(hs)?;
    let mut buf = vec![0u8; r.bytes_needed()];
    stream.read_exact(&mut buf).await.map_err(io)?;
    ctx.count_bytes("in", buf.len());
    r.read_message1(&buf, now_secs(), &ctx.replay).map_err(hs)?;
    let mut pad = vec![0u8; r.bytes_needed()];
    stream.read_exact(&mut pad).await.map_err(io)?;
    ctx.count_bytes("in", pad.len());
    let msg2 = r.write_message2(&pad, now_secs()).map_err(hs)?;
    stream.write_all(&msg2).await.map_err(io)?;
    ctx.count_bytes("out", msg2.len());
    let mut m3 = vec![0u8; r.bytes_needed()];
    stream.read_exact(&mut m3).await.map_err(io)?;
    ctx.count_bytes("in", m3.len());
    let confirmed = r.read_message3(&m3).map_err(hs)?;
    let ri_bytes = confirmed.router_info().clone();
    match check_peer_router_info(&ri_bytes, ctx.local.net_id()) {
        Ok((hash, s)) => {
            let dp = confirmed.accept(&s).map_err(hs)?;
            Ok((dp, hash, ri_bytes))
        }
        Err((reason, term)) => {
            // The handshake itself succeeded, so the spec allows an explicit Termination.
            if let Ok(frame) = confirmed.reject(term) {
                let _ = stream.write_all(&frame).await;
            }
            Err((SessionError::RouterInfo(reason), false))
        }
    }
}

/// Parse and verify the RouterInfo from message 3; returns its hash and NTCP2 static key.
fn check_peer_router_info(
    bytes: &[u8],
    our_net_id: u8,
) -> Result<(RouterHash, [u8; 32]), (&'static str, TerminationReason)> {
    let ri = RouterInfo::parse(bytes)
        .map_err(|_| ("ri_malformed", TerminationReason::PayloadFormatError))?
        .verify()
        .map_err(|_| {
            (
                "ri_signature",
                TerminationReason::RouterInfoSignatureVerificationFail,
            )
        })?;
    if ri.net_id() != Some(u32::from(our_net_id)) {
        return Err(("ri_netid", TerminationReason::IncompatibleOptions));
    }
    let s = ri
        .addresses()
        .iter()
        .filter(|a| a.transport() == "NTCP2")
        .find_map(|a| a.static_key())
        .ok_or(("ri_no_ntcp2_key", TerminationReason::StaticKeyMismatch))?;
    Ok((ri.hash(), s))
}

/// Read a random amount for a random time, then close: see the module docs.
async fn probing_resistant_close(mut stream: TcpStream) {
    let (wait, bytes) = {
        let mut rng = rand::thread_rng();
        (
            Duration::from_millis(rng.gen_range(100..3000)),
            rng.gen_range(0..1024usize),
        )
    };
    let mut sink = vec![0u8; bytes];
    let _ = tokio::time::timeout(wait, stream.read_exact(&mut sink)).await;
}

/// Outbound connections, started by the manager when it has traffic for an unconnected peer.
pub struct Ntcp2Connector {
    ctx: Ntcp2Context,
}

impl Ntcp2Connector {
    pub fn new(ctx: Ntcp2Context) -> Self {
        Self { ctx }
    }
}

impl Connector for Ntcp2Connector {
    fn connect(&self, target: ConnectTarget) {
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let peer = target.peer;
            match outbound(ctx.clone(), target).await {
                Ok(()) => {}
                Err(e) => {
                    debug!(peer = short_hash(&crate::wire::base64::encode(&peer)), error = %e, "NTCP2 outbound failed");
                    ctx.manager.connect_failed(&peer);
                }
            }
        });
    }
}

async fn outbound(ctx: Ntcp2Context, target: ConnectTarget) -> Result<(), SessionError> {
    let permit = ctx.limits.try_acquire(target.addr.ip()).map_err(|r| {
        ctx.manager
            .metrics()
            .refused
            .with_label_values(&[r.label()])
            .inc();
        SessionError::RouterInfo("local_limit")
    })?;
    let connect = async {
        let socket = if target.addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if let Some(ip) = ctx.bind_ip
            && ip.is_ipv4() == target.addr.is_ipv4()
        {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        socket.connect(target.addr).await
    };
    let hs = async {
        let mut stream = connect.await?;
        let _ = stream.set_nodelay(true);
        let dp = initiator_handshake(&ctx, &mut stream, &target).await?;
        Ok::<_, SessionError>((stream, dp))
    };
    let (stream, dp) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, hs).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            ctx.count_handshake(Direction::Outbound, Err(e.reason()));
            return Err(e);
        }
        Err(_) => {
            ctx.count_handshake(Direction::Outbound, Err("timeout"));
            return Err(SessionError::Timeout);
        }
    };
    ctx.count_handshake(Direction::Outbound, Ok(()));
    run_session(ctx, stream, dp, target.peer, Direction::Outbound, permit).await;
    Ok(())
}

async fn initiator_handshake(
    ctx: &Ntcp2Context,
    stream: &mut TcpStream,
    target: &ConnectTarget,
) -> Result<DataPhase, SessionError> {
    let (random, m3_pad) = {
        let mut rng = rand::rngs::OsRng;
        (
            HandshakeRandom::generate(&mut rng, MAX_HANDSHAKE_PADDING),
            rng.gen_range(0..32u16),
        )
    };
    let mut a = Initiator::new(
        ctx.local.clone(),
        PeerNtcp2Info {
            router_hash: target.peer,
            static_key: target.static_key,
            iv: target.iv,
        },
        ctx.current_router_info(),
        None,
        m3_pad,
        random,
    )?;
    let m1 = a.write_message1(now_secs())?;
    stream.write_all(&m1).await?;
    ctx.count_bytes("out", m1.len());
    let mut m2 = vec![0u8; a.bytes_needed()];
    stream.read_exact(&mut m2).await?;
    a.read_message2(&m2, now_secs(), &ctx.replay)?;
    let mut pad = vec![0u8; a.bytes_needed()];
    stream.read_exact(&mut pad).await?;
    ctx.count_bytes("in", m2.len() + pad.len());
    let (m3, dp) = a.write_message3(&pad)?;
    stream.write_all(&m3).await?;
    ctx.count_bytes("out", m3.len());
    Ok(dp)
}

/// The counters a session bumps per read, frame and message, resolved once: a label lookup
/// hashes the label values and takes a lock, which at transit rates is paid per message.
struct SessionCounters {
    bytes_in: prometheus::IntCounter,
    bytes_out: prometheus::IntCounter,
    messages_in: prometheus::IntCounter,
    messages_out: prometheus::IntCounter,
}

impl SessionCounters {
    fn new(ctx: &Ntcp2Context) -> Self {
        let m = ctx.manager.metrics();
        Self {
            bytes_in: m.bytes.with_label_values(&["ntcp2", "in"]),
            bytes_out: m.bytes.with_label_values(&["ntcp2", "out"]),
            messages_in: m.messages.with_label_values(&["ntcp2", "in"]),
            messages_out: m.messages.with_label_values(&["ntcp2", "out"]),
        }
    }
}

/// Why the data phase ended, for metrics and the Termination block.
struct Ending {
    side: &'static str,
    reason: TerminationReason,
    send_termination: bool,
}

/// The data phase: register with the manager, then read and write frames until either side
/// ends the session.
async fn run_session(
    ctx: Ntcp2Context,
    stream: TcpStream,
    dp: DataPhase,
    peer: RouterHash,
    direction: Direction,
    _permit: Permit,
) {
    let DataPhase {
        mut encoder,
        mut decoder,
        ..
    } = dp;
    let (tx, mut rx) = mpsc::channel(SESSION_QUEUE_LEN);
    let (mut rd, mut wr) = stream.into_split();
    let counters = SessionCounters::new(&ctx);
    let peer_label = short_hash(&crate::wire::base64::encode(&peer)).to_string();
    let _registration = match ctx.manager.register(peer, direction, tx) {
        Ok(r) => r,
        Err(_) => {
            // One session per peer: the established one wins; this one says so and closes.
            debug!(peer = %peer_label, "NTCP2 duplicate session closed");
            if let Ok(f) = encoder.encrypt_blocks(&[Block::Termination {
                frames_received: 0,
                reason: TerminationReason::Unspecified,
                additional: Bytes::new(),
            }]) {
                let _ = wr.write_all(&f).await;
            }
            return;
        }
    };
    let events = ctx.manager.events().clone();
    let _ = events
        .send(PeerEvent::Established { peer, direction })
        .await;
    info!(peer = %peer_label, direction = direction.label(), "NTCP2 session established");

    // Bob starts the data phase with his RouterInfo so Alice has our current one; Alice sent
    // hers in message 3 already.
    let mut first: Vec<Block> = Vec::new();
    if direction == Direction::Inbound {
        first.push(Block::RouterInfo {
            flags: 0,
            router_info: ctx.current_router_info(),
        });
    }
    first.push(Block::DateTime {
        timestamp: now_secs() as u32,
    });

    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut pending_out = first;
    let mut idle = Box::pin(tokio::time::sleep(IDLE_TIMEOUT));
    let mut partial_deadline: Option<tokio::time::Instant> = None;
    let ending: Ending = 'session: loop {
        top_up_read_buffer(&mut buf);
        if !pending_out.is_empty() {
            if let Err(e) = write_frame(
                &ctx,
                &counters,
                &mut wr,
                &mut encoder,
                std::mem::take(&mut pending_out),
            )
            .await
            {
                debug!(peer = %peer_label, error = %e, "NTCP2 write failed");
                break 'session Ending {
                    side: "local",
                    reason: TerminationReason::Unspecified,
                    send_termination: false,
                };
            }
            idle.as_mut()
                .reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => {
                break 'session Ending { side: "local", reason: TerminationReason::RouterShutdown, send_termination: true };
            }
            _ = &mut idle => {
                break 'session Ending { side: "local", reason: TerminationReason::IdleTimeout, send_termination: true };
            }
            _ = async {
                match partial_deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                break 'session Ending { side: "local", reason: TerminationReason::IntraFrameReadTimeout, send_termination: true };
            }
            cmd = rx.recv() => {
                let Some(cmd) = cmd else {
                    break 'session Ending { side: "local", reason: TerminationReason::Unspecified, send_termination: true };
                };
                match collect_batch(cmd, &mut rx) {
                    Ok(blocks) => pending_out = blocks,
                    Err(reason) => break 'session Ending { side: "local", reason, send_termination: true },
                }
            }
            read = rd.read_buf(&mut buf) => {
                match read {
                    Ok(0) | Err(_) => break 'session Ending { side: "remote", reason: TerminationReason::Unspecified, send_termination: false },
                    Ok(n) => counters.bytes_in.inc_by(n as u64),
                }
                idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                let frames_before = decoder.frames_received();
                match drain_frames(&ctx, &counters, &mut decoder, &mut buf, peer, &events).await {
                    Ok(None) => {}
                    Ok(Some(remote_reason)) => {
                        break 'session Ending { side: "remote", reason: remote_reason, send_termination: false };
                    }
                    Err(e) => {
                        ctx.manager.metrics().misbehaving.with_label_values(&[e.reason()]).inc();
                        debug!(peer = %peer_label, error = %e, "NTCP2 bad frame; dropping peer");
                        break 'session Ending { side: "local", reason: e.termination_reason(), send_termination: true };
                    }
                }
                // Part of a frame is buffered: its rest must arrive within INTRA_FRAME_TIMEOUT
                // of the last completed frame. The deadline is a select branch (below), so a
                // slow peer never stops us from writing or from reacting to shutdown.
                partial_deadline = if buf.is_empty() {
                    None
                } else if decoder.frames_received() != frames_before {
                    Some(tokio::time::Instant::now() + INTRA_FRAME_TIMEOUT)
                } else {
                    partial_deadline.or(Some(tokio::time::Instant::now() + INTRA_FRAME_TIMEOUT))
                };
            }
        }
    };
    if ending.send_termination {
        let t = Block::Termination {
            frames_received: decoder.frames_received(),
            reason: ending.reason,
            additional: Bytes::new(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            write_frame(&ctx, &counters, &mut wr, &mut encoder, vec![t]),
        )
        .await;
    }
    let _ = wr.shutdown().await;
    ctx.manager
        .metrics()
        .terminations
        .with_label_values(&[ending.side, ending.reason.label()])
        .inc();
    let _ = events.send(PeerEvent::Closed { peer, direction }).await;
    info!(peer = %peer_label, side = ending.side, reason = ending.reason.label(), "NTCP2 session closed");
}

/// Turn one command plus whatever else is already queued into the blocks of one frame.
fn collect_batch(
    first: SessionCommand,
    rx: &mut mpsc::Receiver<SessionCommand>,
) -> Result<Vec<Block>, TerminationReason> {
    let mut blocks = Vec::new();
    let mut size = 0usize;
    let mut next = Some(first);
    while let Some(cmd) = next.take() {
        match cmd {
            SessionCommand::Send(msg) => {
                if let Some(b) = i2np_block(msg) {
                    size += 3 + 9 + b.body.len();
                    blocks.push(Block::I2np(b));
                }
            }
            SessionCommand::SendRouterInfo { router_info, flood } => {
                size += 4 + router_info.len();
                blocks.push(Block::RouterInfo {
                    flags: u8::from(flood),
                    router_info,
                });
            }
            SessionCommand::Terminate(code) => return Err(TerminationReason::from_code(code)),
        }
        if size < WRITE_BATCH {
            next = rx.try_recv().ok();
        }
    }
    Ok(blocks)
}

/// A short-header I2NP message (9-byte header + body) as an I2NP block, without copying the body.
fn i2np_block(msg: Bytes) -> Option<I2npBlock> {
    let mut r = crate::wire::Reader::new(&msg);
    let h = ShortHeader::parse(&mut r).ok()?;
    Some(I2npBlock {
        msg_type: h.msg_type,
        msg_id: h.msg_id,
        expiration: h.expiration_s,
        body: msg.slice(9..),
    })
}

/// Encrypt `blocks` as frames of about [`TARGET_FRAME_PAYLOAD`] (each with a random padding
/// block) and write them with one write.
async fn write_frame(
    ctx: &Ntcp2Context,
    counters: &SessionCounters,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    encoder: &mut super::FrameEncoder,
    blocks: Vec<Block>,
) -> Result<(), FrameError> {
    let batch = encode_batch(encoder, blocks)?;
    if batch.too_large > 0 {
        ctx.manager.count_drops("too_large", batch.too_large);
    }
    wr.write_all(&batch.bytes)
        .await
        .map_err(|_| FrameError::Poisoned)?;
    counters.bytes_out.inc_by(batch.bytes.len() as u64);
    counters.messages_out.inc_by(batch.messages);
    Ok(())
}

/// What one socket write carries: the frames, and how many I2NP messages went in or were too
/// large for any frame.
struct EncodedBatch {
    bytes: Vec<u8>,
    messages: u64,
    too_large: u64,
}

/// Encrypt `blocks` as frames of about [`TARGET_FRAME_PAYLOAD`], each closed by a random
/// padding block when there is room for one (a block that fills a frame on its own goes
/// without: up to the largest I2NP message NTCP2 can carry).
fn encode_batch(
    encoder: &mut super::FrameEncoder,
    blocks: Vec<Block>,
) -> Result<EncodedBatch, FrameError> {
    // The whole write, frames and overheads included, so that serializing never reallocates.
    let mut out = Vec::with_capacity(
        blocks.iter().map(|b| 3 + b.data_len()).sum::<usize>()
            + (blocks.len() / 8 + 1) * (2 + 16 + 3 + usize::from(MAX_FRAME_PADDING)),
    );
    let mut frame: Vec<Block> = Vec::new();
    let mut size = 0usize;
    let mut messages = 0u64;
    let mut too_large = 0u64;
    let limit = super::frame::MAX_FRAME_PAYLOAD;
    for b in blocks {
        let len = 3 + b.data_len();
        if len > limit {
            // Cannot be sent over NTCP2 at all (I2NP messages are limited to ~64 KiB).
            too_large += 1;
            continue;
        }
        if size + len > limit || size >= TARGET_FRAME_PAYLOAD {
            seal(encoder, &mut frame, limit - size, &mut out)?;
            size = 0;
        }
        if matches!(b, Block::I2np(_)) {
            messages += 1;
        }
        size += len;
        frame.push(b);
    }
    if !frame.is_empty() {
        seal(encoder, &mut frame, limit - size, &mut out)?;
    }
    Ok(EncodedBatch {
        bytes: out,
        messages,
        too_large,
    })
}

/// Close a frame with up to [`MAX_FRAME_PADDING`] random padding if `room` (payload bytes left
/// in the frame) allows a padding block at all, and encrypt it onto `out`.
fn seal(
    encoder: &mut super::FrameEncoder,
    frame: &mut Vec<Block>,
    room: usize,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    if let Some(max) = room.checked_sub(3) {
        let max = u16::try_from(max)
            .unwrap_or(u16::MAX)
            .min(MAX_FRAME_PADDING);
        let pad = rand::thread_rng().gen_range(0..=max);
        // Termination must be last except for padding; padding is always last.
        frame.push(Block::Padding { len: pad });
    }
    encoder.encrypt_blocks_into(frame, out)?;
    frame.clear();
    Ok(())
}

/// Decode every complete frame in `buf` and hand its blocks on. Returns the peer's termination
/// reason if it ended the session.
async fn drain_frames(
    ctx: &Ntcp2Context,
    counters: &SessionCounters,
    decoder: &mut super::FrameDecoder,
    buf: &mut BytesMut,
    peer: RouterHash,
    events: &mpsc::Sender<PeerEvent>,
) -> Result<Option<TerminationReason>, FrameError> {
    loop {
        match decoder.decode_in_place(buf)? {
            None => return Ok(None),
            Some(payload) => {
                let blocks = parse_blocks(&payload).map_err(FrameError::from)?;
                for b in blocks {
                    match b {
                        Block::I2np(m) => {
                            counters.messages_in.inc();
                            let header = ShortHeader {
                                msg_type: m.msg_type,
                                msg_id: m.msg_id,
                                expiration_s: m.expiration,
                            };
                            let Some((header, body)) =
                                ctx.manager.offer_to_tunnels(peer, header, m.body)
                            else {
                                continue;
                            };
                            // Backpressure: a slow router slows the reader, which slows the peer.
                            if events
                                .send(PeerEvent::Message { peer, header, body })
                                .await
                                .is_err()
                            {
                                return Ok(Some(TerminationReason::RouterShutdown));
                            }
                        }
                        Block::RouterInfo { flags, router_info } => {
                            let _ = events
                                .send(PeerEvent::RouterInfo {
                                    peer,
                                    router_info,
                                    flood: flags & 1 != 0,
                                })
                                .await;
                        }
                        Block::DateTime { timestamp } => {
                            let skew = i64::from(timestamp) - now_secs() as i64;
                            if skew.unsigned_abs() > MAX_CLOCK_SKEW_SECS {
                                ctx.manager
                                    .metrics()
                                    .misbehaving
                                    .with_label_values(&["clock_skew"])
                                    .inc();
                            }
                        }
                        Block::Termination { reason, .. } => return Ok(Some(reason)),
                        Block::Options(_) | Block::Padding { .. } => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ntcp2::frame::{DirectionKeys, I2npBlock};
    use crate::transport::ntcp2::{FrameDecoder, FrameEncoder};

    fn keys() -> DirectionKeys {
        DirectionKeys {
            cipher_key: [3; 32],
            sip_keys: [4; 32],
        }
    }

    fn i2np(id: u32, body_len: usize) -> Block {
        Block::I2np(I2npBlock {
            msg_type: 18,
            msg_id: id,
            expiration: 1_700_000_000,
            body: Bytes::from(vec![id as u8; body_len]),
        })
    }

    /// Decode every frame of `bytes`, dropping padding; also returns the frame count.
    fn decode(bytes: &[u8]) -> (Vec<Block>, usize) {
        let mut dec = FrameDecoder::new(&keys());
        let mut buf = BytesMut::from(bytes);
        let (mut blocks, mut frames) = (Vec::new(), 0);
        while let Some(p) = dec.decode_in_place(&mut buf).unwrap() {
            frames += 1;
            blocks.extend(
                parse_blocks(&p)
                    .unwrap()
                    .into_iter()
                    .filter(|b| !matches!(b, Block::Padding { .. })),
            );
        }
        assert!(buf.is_empty());
        (blocks, frames)
    }

    #[test]
    fn the_largest_i2np_message_ntcp2_can_carry_is_sent_without_padding() {
        // Block header 3 + short I2NP header 9 + body = the whole 65,519-byte frame payload.
        let largest = crate::transport::ntcp2::frame::MAX_FRAME_PAYLOAD - 3 - 9;
        let mut enc = FrameEncoder::new(&keys());
        let batch = encode_batch(&mut enc, vec![i2np(1, largest), i2np(2, largest + 1)]).unwrap();
        assert_eq!((batch.messages, batch.too_large), (1, 1));
        assert_eq!(decode(&batch.bytes), (vec![i2np(1, largest)], 1));
        // 3 bytes below: room for a padding block, of 0 bytes.
        let mut enc = FrameEncoder::new(&keys());
        let batch = encode_batch(&mut enc, vec![i2np(3, largest - 3)]).unwrap();
        assert_eq!(decode(&batch.bytes), (vec![i2np(3, largest - 3)], 1));
    }

    #[test]
    fn a_batch_is_split_into_frames_of_about_the_target_size() {
        let blocks: Vec<Block> = (0..100).map(|i| i2np(i, 1028 - 9)).collect();
        let mut enc = FrameEncoder::new(&keys());
        let batch = encode_batch(&mut enc, blocks.clone()).unwrap();
        assert_eq!((batch.messages, batch.too_large), (100, 0));
        let (got, frames) = decode(&batch.bytes);
        assert_eq!(got, blocks);
        // 100 x 1031 bytes in frames closed once they reach 16 KiB: 16 blocks per frame.
        assert_eq!(frames, 100usize.div_ceil(16));
    }
}

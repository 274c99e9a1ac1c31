//! The transit runtime: N worker tasks (N = cores by default), tunnels sharded by receive
//! tunnel id. Each shard owns its `HashMap<TunnelId, Hop>`, IV Bloom filter, reassembly budget
//! and RNG, and is fed by a bounded mpsc queue, so the data path takes no lock. Build requests go
//! to any shard (round robin) for the X25519 work; the accepted tunnel is installed by the shard
//! that owns its id (a message to that shard, no lock). Admission state and the replay set sit
//! behind one mutex that only the build path touches.
//!
//! Outgoing messages of a batch are grouped by next hop and handed to the [`TransitSink`] one
//! group at a time. Transit bytes are capped by a lock-free shared token bucket that workers
//! lease from in chunks; over the cap, messages are dropped and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use prometheus::{IntCounter, Registry};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::admission::{Admission, AdmissionConfig, Decision, RejectReason};
use super::bandwidth::{Allowance, SharedTokenBucket};
use super::bloom::{DecayingBloom, Slot, dedup_key};
use super::build::{
    BuildKind, HopIdentity, HopRequest, LayerKeys, MAX_REQUEST_AGE_MS, MAX_REQUEST_FUTURE_MS,
    decrypt_record, locate_record, outgoing_message, request_time_ok, write_reply,
};
use super::fragment::{Packer, ReassemblyBudget, ReassemblyLimits};
use super::inbound_gateway::{InboundGateway, SplitMix64, valid_embedded};
use super::layer::LayerCipher;
use super::metrics::{DropReason, ShardMetrics, TransitMetrics};
use super::outbound_endpoint::{EndpointAction, OutboundEndpoint};
use super::participant::{Participant, check_previous_hop};
use super::record::{REPLY_ACCEPT, REPLY_REJECT_BANDWIDTH};
use super::replay::ReplaySet;
use super::{
    HopRole, RouterHash, TUNNEL_DATA_MSG_LEN, TUNNEL_GRACE_MS, TUNNEL_LIFETIME_MS,
    TUNNEL_PAYLOAD_LEN, TunnelId, unix_now_ms,
};
use crate::config::TransitConfig;
use crate::ops::status::RouterStatus;
use crate::wire::Mapping;

/// Where transit output goes. The router implements it over `TransportManager::send`.
pub trait TransitSink: Send + Sync + 'static {
    /// Send one short-header I2NP message to `next_hop`.
    fn send(&self, next_hop: RouterHash, msg: Bytes);

    /// Send several messages to the same hop (drains `msgs`). Override to queue them at once.
    fn send_batch(&self, next_hop: RouterHash, msgs: &mut Vec<Bytes>) {
        for m in msgs.drain(..) {
            self.send(next_hop, m);
        }
    }

    /// A short-header I2NP message addressed to our own router (an outbound endpoint delivering
    /// to us, or a build reply for a tunnel whose gateway we are). Dispatch it as if received.
    fn deliver_local(&self, msg: Bytes);
}

/// Runtime parameters.
#[derive(Debug, Clone)]
pub struct TransitParams {
    pub shards: usize,
    /// Queue length per shard (messages).
    pub queue_len: usize,
    /// Most queued messages a worker handles before flushing its output.
    pub max_batch: usize,
    pub admission: AdmissionConfig,
    /// Transit byte cap (bytes per second) and burst.
    pub bandwidth_bps: u64,
    pub bandwidth_burst: u64,
    pub reassembly: ReassemblyLimits,
    /// Bytes of partial messages one shard may hold across all its endpoint tunnels.
    pub reassembly_budget: usize,
    /// Bloom filter entries per shard and generation.
    pub bloom_capacity: usize,
    /// Tolerance for the I2NP expiration of incoming messages (clock skew).
    pub clock_skew_ms: u64,
    /// Lifetime of the wrapper messages we create (TunnelData at a gateway, TunnelGateway at an
    /// endpoint).
    pub created_message_ttl_ms: u64,
    pub maintenance_interval: Duration,
}

/// TunnelData whose header expiration is more than this ahead of our clock is dropped
/// (`future`). Gateways stamp a few seconds (i2pd 8 s); the bound is the one on every I2NP
/// message ([`crate::wire::i2np::MAX_EXPIRATION_AHEAD_MS`]).
pub const MAX_DATA_FUTURE_MS: u64 = crate::wire::i2np::MAX_EXPIRATION_AHEAD_MS;

/// A TunnelData message is accepted only while `now` lies within [expiration - 60 s,
/// expiration + 60 s of skew], 120 s at most. The duplicate-IV filter keeps each entry for at
/// least one generation, so generations of that length catch every replay of an acceptable
/// message, at 1/5 of the memory a tunnel-lifetime (10 min) generation would take.
pub const BLOOM_GENERATION_MS: u64 = 120_000;

impl TransitParams {
    pub fn from_config(cfg: &TransitConfig) -> Self {
        let admission = AdmissionConfig::from_transit(cfg);
        let shards = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let bandwidth_bps = admission.share_bps;
        // TunnelData messages one bloom generation sees at the full share, spread over the
        // shards. A shard that sees more rotates early (see bloom.rs). Memory is ~6 bytes per
        // entry and generation (24 bits, two generations).
        let per_gen =
            (bandwidth_bps / TUNNEL_DATA_MSG_LEN as u64).max(1) * (BLOOM_GENERATION_MS / 1000);
        let bloom_capacity = (per_gen / shards as u64).clamp(16 * 1024, 16 * 1024 * 1024) as usize;
        Self {
            shards,
            queue_len: 4096,
            max_batch: 64,
            admission,
            bandwidth_bps,
            bandwidth_burst: (bandwidth_bps / 4).max(256 * 1024),
            reassembly: ReassemblyLimits::default(),
            reassembly_budget: 16 * 1024 * 1024,
            bloom_capacity,
            clock_skew_ms: 60_000,
            created_message_ttl_ms: 10_000,
            maintenance_interval: Duration::from_secs(1),
        }
    }
}

/// One transit tunnel as a shard holds it.
///
/// Every variant is boxed: the two expanded AES key schedules are large (the `aes` crate keeps
/// room for both its AES-NI and software schedules), so the map's slots stay small and a table
/// sized for many tunnels does not reserve cipher space for empty slots.
pub enum Hop {
    Participant(Box<Participant>),
    Gateway(Box<InboundGateway>),
    Endpoint(Box<OutboundEndpoint>),
}

impl Hop {
    /// Expand the key schedules once, here.
    pub fn new(
        role: HopRole,
        keys: &LayerKeys,
        next_hop: RouterHash,
        next_tunnel: TunnelId,
        prev_hop: Option<RouterHash>,
        expires_ms: u64,
    ) -> Self {
        let cipher = LayerCipher::new(&keys.layer_key, &keys.iv_key);
        match role {
            HopRole::Participant => Self::Participant(Box::new(Participant {
                cipher,
                next_hop,
                next_tunnel,
                prev_hop,
                expires_ms,
            })),
            HopRole::InboundGateway => Self::Gateway(Box::new(InboundGateway::new(
                cipher,
                next_hop,
                next_tunnel,
                expires_ms,
            ))),
            HopRole::OutboundEndpoint => Self::Endpoint(Box::new(OutboundEndpoint::new(
                cipher, prev_hop, expires_ms,
            ))),
        }
    }

    pub fn role(&self) -> HopRole {
        match self {
            Self::Participant(_) => HopRole::Participant,
            Self::Gateway(_) => HopRole::InboundGateway,
            Self::Endpoint(_) => HopRole::OutboundEndpoint,
        }
    }

    pub fn expires_ms(&self) -> u64 {
        match self {
            Self::Participant(p) => p.expires_ms,
            Self::Gateway(g) => g.expires_ms,
            Self::Endpoint(e) => e.expires_ms,
        }
    }
}

/// The shard owning a receive tunnel id. Ids are chosen by creators (randomly in practice); the
/// multiplicative hash keeps a creator from steering its tunnels onto one shard cheaply.
pub fn shard_of(tunnel_id: TunnelId, shards: usize) -> usize {
    let h = u64::from(tunnel_id.wrapping_mul(0x9e37_79b1));
    ((h * shards as u64) >> 32) as usize
}

/// The result of [`Transit::submit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Queued,
    Dropped(DropReason),
    /// Not a transit message type (18, 19, 23, 25): dispatch it elsewhere.
    NotTransit(Bytes),
}

struct Install {
    hop: Hop,
    req: HopRequest,
    body: Vec<u8>,
    expiration_ms: u64,
    reply_options: Mapping,
}

enum Command {
    Data {
        from: RouterHash,
        msg: Bytes,
    },
    Gateway {
        msg: Bytes,
    },
    Build {
        from: RouterHash,
        kind: BuildKind,
        msg: Bytes,
    },
    Install(Box<Install>),
}

struct BuildState {
    admission: Admission,
    replay: ReplaySet,
}

struct Shared {
    identity: HopIdentity,
    params: TransitParams,
    builds: Mutex<BuildState>,
    status: Arc<RouterStatus>,
    metrics: TransitMetrics,
    queue_full: IntCounter,
    shutting_down: IntCounter,
    malformed: IntCounter,
    bandwidth: SharedTokenBucket,
    sink: Arc<dyn TransitSink>,
    /// Published congestion cap letter, 0 for none.
    cap: AtomicU8,
    epoch: Instant,
    senders: Vec<mpsc::Sender<Command>>,
}

impl Shared {
    fn builds(&self) -> MutexGuard<'_, BuildState> {
        self.builds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// Handle to the running transit engine. Cheap to clone.
#[derive(Clone)]
pub struct Transit {
    shared: Arc<Shared>,
    next_build_shard: Arc<AtomicUsize>,
}

impl Transit {
    /// Start the shard workers on the current tokio runtime. `encryption_secret` is
    /// `RouterKeys::encryption_secret`; `our_hash` our router hash. Workers stop when `cancel`
    /// fires (or every handle is dropped), releasing their tunnels.
    pub fn start(
        params: TransitParams,
        encryption_secret: &[u8; 32],
        our_hash: RouterHash,
        registry: &Registry,
        status: Arc<RouterStatus>,
        sink: Arc<dyn TransitSink>,
        cancel: CancellationToken,
    ) -> (Self, Vec<JoinHandle<()>>) {
        let shards = params.shards.max(1);
        let now_ms = unix_now_ms();
        let mut senders = Vec::with_capacity(shards);
        let mut receivers = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = mpsc::channel(params.queue_len.max(1));
            senders.push(tx);
            receivers.push(rx);
        }
        let metrics = TransitMetrics::new(registry);
        let replay_window = MAX_REQUEST_AGE_MS + MAX_REQUEST_FUTURE_MS + 120_000;
        let shared = Arc::new(Shared {
            identity: HopIdentity::new(encryption_secret, our_hash),
            builds: Mutex::new(BuildState {
                admission: Admission::new(params.admission.clone(), now_ms),
                replay: ReplaySet::new(
                    replay_window,
                    params.admission.replay_capacity(replay_window),
                ),
            }),
            status,
            queue_full: metrics
                .drops
                .with_label_values(&[DropReason::QueueFull.label()]),
            shutting_down: metrics
                .drops
                .with_label_values(&[DropReason::ShuttingDown.label()]),
            malformed: metrics
                .drops
                .with_label_values(&[DropReason::Malformed.label()]),
            metrics,
            bandwidth: SharedTokenBucket::new(params.bandwidth_bps, params.bandwidth_burst, 0),
            sink,
            cap: AtomicU8::new(0),
            epoch: Instant::now(),
            senders,
            params,
        });
        let mut handles = Vec::with_capacity(shards);
        for (index, rx) in receivers.into_iter().enumerate() {
            let worker = Shard::new(index, shared.clone(), now_ms);
            handles.push(tokio::spawn(worker.run(rx, cancel.clone())));
        }
        (
            Self {
                shared,
                next_build_shard: Arc::new(AtomicUsize::new(0)),
            },
            handles,
        )
    }

    /// Hand over one received short-header I2NP message (as `PeerEvent::Message` carries it).
    /// TunnelData (18), TunnelGateway (19), VariableTunnelBuild (23) and ShortTunnelBuild (25)
    /// are queued to a shard; anything else comes back as [`Submitted::NotTransit`].
    pub fn submit(&self, from: RouterHash, msg: Bytes) -> Submitted {
        let Some(&t) = msg.first() else {
            return Submitted::NotTransit(msg);
        };
        let shards = self.shared.senders.len();
        let (shard, cmd) = match t {
            18 | 19 => {
                let Some(tid) = msg.get(9..13) else {
                    self.shared.malformed.inc();
                    return Submitted::Dropped(DropReason::Malformed);
                };
                let tid = u32::from_be_bytes([tid[0], tid[1], tid[2], tid[3]]);
                let cmd = if t == 18 {
                    Command::Data { from, msg }
                } else {
                    Command::Gateway { msg }
                };
                (shard_of(tid, shards), cmd)
            }
            23 | 25 => {
                let kind = if t == 25 {
                    BuildKind::Short
                } else {
                    BuildKind::Long
                };
                let s = self.next_build_shard.fetch_add(1, Ordering::Relaxed) % shards;
                (s, Command::Build { from, kind, msg })
            }
            _ => return Submitted::NotTransit(msg),
        };
        let is_build = matches!(cmd, Command::Build { .. });
        match self.shared.senders[shard].try_send(cmd) {
            Ok(()) => Submitted::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if is_build {
                    self.shared.metrics.build_result("dropped", "queue_full");
                } else {
                    self.shared.queue_full.inc();
                }
                Submitted::Dropped(DropReason::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.shared.shutting_down.inc();
                Submitted::Dropped(DropReason::ShuttingDown)
            }
        }
    }

    /// The congestion cap letter (D, E, G) for our RouterInfo caps, or `None`. Updated once a
    /// second from minute-scale averages; cheap to call.
    pub fn congestion_cap(&self) -> Option<char> {
        match self.shared.cap.load(Ordering::Relaxed) {
            0 => None,
            c => Some(char::from(c)),
        }
    }

    /// Tunnels accepted and not yet expired.
    pub fn tunnel_count(&self) -> u64 {
        self.shared.builds().admission.tunnels()
    }

    pub fn shards(&self) -> usize {
        self.shared.senders.len()
    }
}

struct Shard {
    index: usize,
    shared: Arc<Shared>,
    hops: HashMap<TunnelId, Hop>,
    bloom: DecayingBloom,
    budget: ReassemblyBudget,
    packer: Packer,
    allowance: Allowance,
    rng: StdRng,
    ids: SplitMix64,
    metrics: ShardMetrics,
    role_counts: [i64; 3],
    outputs: Vec<(RouterHash, Bytes)>,
    local: Vec<Bytes>,
    dirty_gateways: Vec<TunnelId>,
    batch: Vec<Bytes>,
    /// Participant messages of the current batch, header rewritten, payload not yet
    /// transformed: (receive tunnel id, message).
    layer_queue: Vec<(TunnelId, BytesMut)>,
}

/// Take ownership of a message buffer for in-place rewriting; copies only when the buffer is
/// shared (e.g. a slice of a larger transport frame).
fn into_mut(msg: Bytes) -> BytesMut {
    match msg.try_into_mut() {
        Ok(m) => m,
        Err(b) => BytesMut::from(&b[..]),
    }
}

fn header_expiration_ms(msg: &[u8]) -> u64 {
    msg.get(5..9)
        .map(|e| u64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]])) * 1000)
        .unwrap_or(0)
}

impl Shard {
    fn new(index: usize, shared: Arc<Shared>, now_ms: u64) -> Self {
        let mut rng = StdRng::from_entropy();
        let keys = (rng.next_u64(), rng.next_u64());
        let p = &shared.params;
        Self {
            index,
            bloom: DecayingBloom::new(p.bloom_capacity, BLOOM_GENERATION_MS, now_ms, keys),
            budget: ReassemblyBudget::new(p.reassembly_budget),
            packer: Packer::new(),
            allowance: Allowance::default(),
            ids: SplitMix64(rng.next_u64()),
            rng,
            metrics: shared.metrics.shard(index),
            role_counts: [0; 3],
            hops: HashMap::new(),
            outputs: Vec::new(),
            local: Vec::new(),
            dirty_gateways: Vec::new(),
            batch: Vec::new(),
            layer_queue: Vec::new(),
            shared,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, cancel: CancellationToken) {
        let mut cmds = Vec::with_capacity(self.shared.params.max_batch);
        let mut slots = Vec::with_capacity(self.shared.params.max_batch);
        let mut tick = tokio::time::interval(self.shared.params.maintenance_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                n = rx.recv_many(&mut cmds, self.shared.params.max_batch) => {
                    if n == 0 {
                        break;
                    }
                    let now_ms = unix_now_ms();
                    let now_ns = self.shared.now_ns();
                    // Locate every TunnelData's IV-filter block first so that the cache misses
                    // of the whole batch overlap instead of stalling one message at a time.
                    slots.clear();
                    slots.extend(cmds.iter().map(|c| match c {
                        Command::Data { msg, .. } if msg.len() == TUNNEL_DATA_MSG_LEN => {
                            Some(self.bloom.locate_and_prefetch(&dedup_key(&msg[13..])))
                        }
                        _ => None,
                    }));
                    for (cmd, slot) in cmds.drain(..).zip(slots.drain(..)) {
                        self.handle_with_slot(cmd, slot, now_ms, now_ns);
                    }
                    self.flush(now_ms, rx.len());
                }
                _ = tick.tick() => {
                    self.maintain(unix_now_ms());
                    self.flush(unix_now_ms(), rx.len());
                }
            }
        }
        self.shutdown();
    }

    #[cfg(test)]
    fn handle(&mut self, cmd: Command, now_ms: u64, now_ns: u64) {
        self.handle_with_slot(cmd, None, now_ms, now_ns)
    }

    /// `slot`: the IV-filter slot of a TunnelData command if already located.
    fn handle_with_slot(&mut self, cmd: Command, slot: Option<Slot>, now_ms: u64, now_ns: u64) {
        match cmd {
            Command::Data { from, msg } => {
                if let Err(r) = self.on_data(&from, msg, slot, now_ms, now_ns) {
                    self.metrics.drops.add(r, 1);
                }
            }
            Command::Gateway { msg } => {
                if let Err(r) = self.on_gateway(msg, now_ms, now_ns) {
                    self.metrics.drops.add(r, 1);
                }
            }
            Command::Build { from, kind, msg } => self.on_build(&from, kind, &msg, now_ms),
            Command::Install(inst) => self.install(inst),
        }
    }

    fn expired(&self, msg: &[u8], now_ms: u64) -> bool {
        header_expiration_ms(msg).saturating_add(self.shared.params.clock_skew_ms) < now_ms
    }

    fn on_data(
        &mut self,
        from: &RouterHash,
        msg: Bytes,
        slot: Option<Slot>,
        now_ms: u64,
        now_ns: u64,
    ) -> Result<(), DropReason> {
        if msg.len() != TUNNEL_DATA_MSG_LEN {
            return Err(DropReason::Malformed);
        }
        if self.expired(&msg, now_ms) {
            return Err(DropReason::Expired);
        }
        // Bounding the future too bounds how long one message can be accepted, which is all
        // the duplicate-IV filter has to remember (its generation is sized from this).
        if header_expiration_ms(&msg) > now_ms.saturating_add(MAX_DATA_FUTURE_MS) {
            return Err(DropReason::Future);
        }
        let tid = u32::from_be_bytes([msg[9], msg[10], msg[11], msg[12]]);
        let Some(hop) = self.hops.get_mut(&tid) else {
            return Err(DropReason::UnknownTunnel);
        };
        if hop.expires_ms() <= now_ms {
            return Err(DropReason::UnknownTunnel);
        }
        let prev_ok = match hop {
            Hop::Participant(p) => check_previous_hop(&mut p.prev_hop, from),
            Hop::Endpoint(e) => check_previous_hop(&mut e.prev_hop, from),
            Hop::Gateway(_) => return Err(DropReason::WrongRole),
        };
        if !prev_ok {
            return Err(DropReason::WrongPreviousHop);
        }
        let len = msg.len() as u64;
        if !self.allowance.try_take(&self.shared.bandwidth, len, now_ns) {
            return Err(DropReason::Bandwidth);
        }
        let slot = slot.unwrap_or_else(|| self.bloom.locate_and_prefetch(&dedup_key(&msg[13..])));
        if self.bloom.check_and_insert_slot(slot, now_ms) {
            return Err(DropReason::DuplicateIv);
        }
        match hop {
            Hop::Participant(p) => {
                let mut buf = into_mut(msg);
                if !p.rewrite_header(&mut buf, self.ids.next_u32()) {
                    return Err(DropReason::Malformed);
                }
                let m = &mut self.metrics.pending[HopRole::Participant.index()];
                m.bytes_in += len;
                m.bytes_out += len;
                m.messages += 1;
                // The layer transform runs for the whole batch at once in `encrypt_layers`.
                self.layer_queue.push((tid, buf));
            }
            Hop::Endpoint(e) => {
                let mut payload = [0u8; TUNNEL_PAYLOAD_LEN];
                payload.copy_from_slice(&msg[13..]);
                drop(msg);
                let our_hash = *self.shared.identity.our_hash();
                let ttl = now_ms + self.shared.params.created_message_ttl_ms;
                let Self {
                    outputs,
                    local,
                    metrics,
                    budget,
                    rng,
                    shared,
                    ..
                } = self;
                let mut drops = Vec::new();
                let obep = HopRole::OutboundEndpoint.index();
                metrics.pending[obep].bytes_in += len;
                e.receive(
                    &mut payload,
                    &our_hash,
                    now_ms,
                    ttl,
                    &shared.params.reassembly,
                    budget,
                    rng,
                    &mut |a| match a {
                        EndpointAction::Send { to, message } => {
                            metrics.pending[obep].bytes_out += message.len() as u64;
                            outputs.push((to, message));
                        }
                        EndpointAction::Local(m) => local.push(m),
                    },
                    &mut |d| drops.push(d),
                );
                for d in drops {
                    metrics.drops.add(d, 1);
                }
                metrics.pending[obep].messages += 1;
            }
            Hop::Gateway(_) => return Err(DropReason::WrongRole),
        }
        Ok(())
    }

    fn on_gateway(&mut self, msg: Bytes, now_ms: u64, now_ns: u64) -> Result<(), DropReason> {
        if msg.len() < 15 {
            return Err(DropReason::Malformed);
        }
        if self.expired(&msg, now_ms) {
            return Err(DropReason::Expired);
        }
        let tid = u32::from_be_bytes([msg[9], msg[10], msg[11], msg[12]]);
        let len = usize::from(u16::from_be_bytes([msg[13], msg[14]]));
        if 15 + len != msg.len() {
            return Err(DropReason::Malformed);
        }
        let data = msg.slice(15..);
        if !valid_embedded(&data) {
            return Err(DropReason::Malformed);
        }
        let Some(hop) = self.hops.get_mut(&tid) else {
            return Err(DropReason::UnknownTunnel);
        };
        if hop.expires_ms() <= now_ms {
            return Err(DropReason::UnknownTunnel);
        }
        let Hop::Gateway(gw) = hop else {
            return Err(DropReason::WrongRole);
        };
        // Charge what the gateway will send: at least one whole TunnelData message.
        let charge = data.len().max(TUNNEL_DATA_MSG_LEN) as u64;
        if !self
            .allowance
            .try_take(&self.shared.bandwidth, charge, now_ns)
        {
            return Err(DropReason::Bandwidth);
        }
        if !gw.has_pending() {
            self.dirty_gateways.push(tid);
        }
        gw.enqueue(data);
        let m = &mut self.metrics.pending[HopRole::InboundGateway.index()];
        m.bytes_in += msg.len() as u64;
        m.messages += 1;
        Ok(())
    }

    fn build_dropped(&self, reason: &str) {
        self.shared.metrics.build_result("dropped", reason);
    }

    fn on_build(&mut self, from: &RouterHash, kind: BuildKind, msg: &[u8], now_ms: u64) {
        if msg.len() < 9 {
            return self.build_dropped("malformed");
        }
        if self.expired(msg, now_ms) {
            return self.build_dropped("expired");
        }
        let expiration_ms = header_expiration_ms(msg);
        let body = &msg[9..];
        let shared = self.shared.clone();
        let (index, eph) = match locate_record(kind, body, shared.identity.our_hash()) {
            Ok(x) => x,
            Err(e) => return self.build_dropped(e.reason()),
        };
        {
            let mut st = shared.builds();
            if st.replay.seen(&eph, now_ms) {
                drop(st);
                return self.build_dropped("replay");
            }
            if let Err(r) = st.admission.check_rate(from, now_ms) {
                drop(st);
                return self.build_dropped(r.label());
            }
        }
        let req = match decrypt_record(&shared.identity, kind, body, index) {
            Ok(r) => r,
            Err(e) => {
                debug!(error = %e, "transit build request dropped");
                return self.build_dropped(e.reason());
            }
        };
        if !request_time_ok(&req.request, now_ms) {
            return self.build_dropped("stale");
        }
        let decision = {
            let mut st = shared.builds();
            if !st.replay.insert(eph, now_ms) {
                drop(st);
                return self.build_dropped("replay");
            }
            let draining = shared.status.is_draining();
            st.admission.decide(&req.request, draining, &mut self.rng)
        };
        let body = body.to_vec();
        match decision {
            Decision::Reject(r) => {
                shared.metrics.build_result("rejected", r.label());
                self.finish(
                    &req,
                    body,
                    REPLY_REJECT_BANDWIDTH,
                    &Mapping::new(),
                    expiration_ms,
                );
            }
            Decision::Accept { reply_options } => {
                let r = &req.request;
                // Messages must come from the router that forwarded the build to us, except
                // at an inbound gateway, which takes TunnelGateway messages from anyone.
                let prev = (r.role != HopRole::InboundGateway).then_some(*from);
                let hop = Hop::new(
                    r.role,
                    &req.keys,
                    r.next_ident,
                    r.next_tunnel,
                    prev,
                    now_ms + TUNNEL_LIFETIME_MS + TUNNEL_GRACE_MS,
                );
                let owner = shard_of(r.receive_tunnel, shared.senders.len());
                let inst = Box::new(Install {
                    hop,
                    req,
                    body,
                    expiration_ms,
                    reply_options,
                });
                if owner == self.index {
                    return self.install(inst);
                }
                if let Err(e) = shared.senders[owner].try_send(Command::Install(inst))
                    && let Command::Install(inst) = e.into_inner()
                {
                    shared.builds().admission.undo_accept();
                    shared.metrics.build_result("rejected", "queue_full");
                    self.finish(
                        &inst.req,
                        inst.body,
                        REPLY_REJECT_BANDWIDTH,
                        &Mapping::new(),
                        inst.expiration_ms,
                    );
                }
            }
        }
    }

    fn install(&mut self, inst: Box<Install>) {
        let Install {
            hop,
            req,
            body,
            expiration_ms,
            reply_options,
        } = *inst;
        let tid = req.request.receive_tunnel;
        if self.hops.contains_key(&tid) {
            self.shared.builds().admission.undo_accept();
            self.shared
                .metrics
                .build_result("rejected", RejectReason::DuplicateTunnelId.label());
            return self.finish(
                &req,
                body,
                REPLY_REJECT_BANDWIDTH,
                &Mapping::new(),
                expiration_ms,
            );
        }
        let role = hop.role();
        self.hops.insert(tid, hop);
        self.role_counts[role.index()] += 1;
        self.metrics.tunnels[role.index()].inc();
        self.shared
            .status
            .transit_tunnels
            .fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.build_result("accepted", "ok");
        debug!(
            tunnel = tid,
            role = role.label(),
            kind = ?req.kind,
            records = req.record_count,
            index = req.index,
            next_tunnel = req.request.next_tunnel,
            "transit tunnel accepted"
        );
        self.finish(&req, body, REPLY_ACCEPT, &reply_options, expiration_ms);
    }

    /// Write the reply and queue the outgoing build / reply message.
    fn finish(
        &mut self,
        req: &HopRequest,
        mut body: Vec<u8>,
        code: u8,
        options: &Mapping,
        expiration_ms: u64,
    ) {
        let shared = self.shared.clone();
        let out = write_reply(req, &mut body, code, options, &mut self.rng).and_then(|()| {
            outgoing_message(&shared.identity, req, &body, expiration_ms, &mut self.rng)
        });
        match out {
            Ok(o) => {
                if &o.to == shared.identity.our_hash() {
                    self.local.push(o.message);
                } else {
                    self.outputs.push((o.to, o.message));
                }
            }
            // Only reachable with options that do not fit the reply record, which admission
            // never produces; keep the tunnel (it may still work) and say why.
            Err(e) => warn!(error = %e, "could not write a transit build reply"),
        }
    }

    /// Pack pending gateway messages, hand outputs to the sink grouped by next hop, publish
    /// metrics.
    fn flush(&mut self, now_ms: u64, queue_depth: usize) {
        self.encrypt_layers();
        let ttl = now_ms + self.shared.params.created_message_ttl_ms;
        for tid in std::mem::take(&mut self.dirty_gateways) {
            if let Some(Hop::Gateway(gw)) = self.hops.get_mut(&tid) {
                let Self {
                    packer,
                    rng,
                    outputs,
                    metrics,
                    ..
                } = self;
                let too_large = gw.flush(packer, ttl, rng, &mut |to, m| {
                    metrics.pending[HopRole::InboundGateway.index()].bytes_out += m.len() as u64;
                    outputs.push((to, m));
                });
                metrics.drops.add(DropReason::TooLargeToFragment, too_large);
            }
        }
        if !self.outputs.is_empty() {
            // Stable: messages to one hop keep their order.
            self.outputs.sort_by_key(|o| o.0);
            let mut it = self.outputs.drain(..).peekable();
            while let Some((to, m)) = it.next() {
                self.batch.push(m);
                if it.peek().is_none_or(|(next, _)| *next != to) {
                    self.shared.sink.send_batch(to, &mut self.batch);
                    self.batch.clear();
                }
            }
        }
        for m in self.local.drain(..) {
            self.shared.sink.deliver_local(m);
        }
        self.metrics.flush(queue_depth);
    }

    /// Run the layer transform of every queued participant message, interleaving tunnels
    /// (`LayerCipher::encrypt_many`), and queue them for their next hops.
    fn encrypt_layers(&mut self) {
        if self.layer_queue.is_empty() {
            return;
        }
        let mut queue = std::mem::take(&mut self.layer_queue);
        let mut jobs = Vec::with_capacity(queue.len());
        for (tid, buf) in queue.iter_mut() {
            // Hops are only removed by `maintain`, which never runs between queueing and here;
            // the check keeps a message without its hop from being sent untransformed.
            let Some(Hop::Participant(p)) = self.hops.get(tid) else {
                buf.clear();
                continue;
            };
            let payload = <&mut [u8; TUNNEL_PAYLOAD_LEN]>::try_from(&mut buf[13..])
                .expect("queued messages are TunnelData-sized");
            jobs.push((&p.cipher, payload));
        }
        LayerCipher::encrypt_many(&mut jobs);
        drop(jobs);
        for (tid, buf) in queue.drain(..) {
            match self.hops.get(&tid) {
                Some(Hop::Participant(p)) if !buf.is_empty() => {
                    self.outputs.push((p.next_hop, buf.freeze()))
                }
                _ => self.metrics.drops.add(DropReason::UnknownTunnel, 1),
            }
        }
        // Keep the allocation for the next batch.
        self.layer_queue = queue;
    }

    fn maintain(&mut self, now_ms: u64) {
        let mut removed = [0i64; 3];
        let limits = self.shared.params.reassembly;
        let budget = &mut self.budget;
        let mut timeouts = 0u64;
        self.hops.retain(|_, hop| {
            if hop.expires_ms() <= now_ms {
                removed[hop.role().index()] += 1;
                if let Hop::Endpoint(e) = hop {
                    e.clear(budget);
                }
                return false;
            }
            if let Hop::Endpoint(e) = hop {
                timeouts += e.expire(now_ms, &limits, budget) as u64;
            }
            true
        });
        self.metrics
            .drops
            .add(DropReason::ReassemblyTimeout, timeouts);
        self.forget(removed);
        self.bloom.maintain(now_ms);
        if self.index == 0 {
            let total_in = self.metrics.bytes_in_total();
            let cap = {
                let mut st = self.shared.builds();
                st.admission.tick(total_in, now_ms);
                st.admission
                    .congestion_cap(self.shared.status.is_draining())
            };
            self.shared
                .cap
                .store(cap.map(|c| c as u8).unwrap_or(0), Ordering::Relaxed);
        }
    }

    /// Account for removed tunnels (per role).
    fn forget(&mut self, removed: [i64; 3]) {
        let total: i64 = removed.iter().sum();
        if total == 0 {
            return;
        }
        for (i, n) in removed.iter().enumerate() {
            self.role_counts[i] -= n;
            self.metrics.tunnels[i].sub(*n);
        }
        self.shared.builds().admission.release(total as u64);
        self.shared
            .status
            .transit_tunnels
            .fetch_sub(total as u64, Ordering::Relaxed);
        debug!(
            shard = self.index,
            expired = total,
            "transit tunnels expired"
        );
    }

    fn shutdown(&mut self) {
        let mut removed = [0i64; 3];
        for (_, mut hop) in self.hops.drain() {
            removed[hop.role().index()] += 1;
            if let Hop::Endpoint(e) = &mut hop {
                e.clear(&mut self.budget);
            }
        }
        self.forget(removed);
        self.metrics.flush(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::creator::{CreatorHop, PendingBuild, create_build};
    use crate::tunnel::record::BuildRequest;

    #[derive(Default)]
    struct VecSink(Mutex<Vec<(Option<RouterHash>, Bytes)>>);

    impl TransitSink for VecSink {
        fn send(&self, next_hop: RouterHash, msg: Bytes) {
            self.0.lock().unwrap().push((Some(next_hop), msg));
        }
        fn deliver_local(&self, msg: Bytes) {
            self.0.lock().unwrap().push((None, msg));
        }
    }

    const US: RouterHash = [0x55; 32];
    const SECRET: [u8; 32] = [0x42; 32];

    /// A single shard driven synchronously (no tokio), with its queue's receiver kept alive.
    fn shard(now_ms: u64) -> (Shard, Arc<VecSink>, mpsc::Receiver<Command>) {
        let params = TransitParams::from_config(&TransitConfig::default());
        let (tx, rx) = mpsc::channel(16);
        let sink = Arc::new(VecSink::default());
        let registry = Registry::new();
        let metrics = TransitMetrics::new(&registry);
        let shared = Arc::new(Shared {
            identity: HopIdentity::new(&SECRET, US),
            builds: Mutex::new(BuildState {
                admission: Admission::new(params.admission.clone(), now_ms),
                replay: ReplaySet::new(1_000_000, 1000),
            }),
            status: Arc::new(RouterStatus::new()),
            queue_full: metrics.drops.with_label_values(&["queue_full"]),
            shutting_down: metrics.drops.with_label_values(&["shutting_down"]),
            malformed: metrics.drops.with_label_values(&["malformed"]),
            metrics,
            bandwidth: SharedTokenBucket::new(params.bandwidth_bps, params.bandwidth_burst, 0),
            sink: sink.clone(),
            cap: AtomicU8::new(0),
            epoch: Instant::now(),
            senders: vec![tx],
            params,
        });
        (Shard::new(0, shared, now_ms), sink, rx)
    }

    fn build(tid: u32, eph: u8, now_ms: u64) -> (Bytes, PendingBuild) {
        let public =
            x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(SECRET)).to_bytes();
        let hop = CreatorHop {
            ident_hash: US,
            static_key: public,
            ephemeral_secret: [eph; 32],
            request: BuildRequest {
                receive_tunnel: tid,
                next_tunnel: 9,
                next_ident: [2; 32],
                role: HopRole::Participant,
                reserved_flags: 0,
                layer_encryption: 0,
                request_time_min: (now_ms / 60_000) as u32,
                expiration_s: 600,
                next_msg_id: 1,
                options: Mapping::new(),
            },
            long_keys: None,
        };
        let mut rng = StdRng::seed_from_u64(u64::from(eph));
        let (body, pending) = create_build(BuildKind::Short, &[hop], &[0], 2, &mut rng).unwrap();
        let mut m = vec![25, 0, 0, 0, 1];
        m.extend_from_slice(&(((now_ms + 60_000) / 1000) as u32).to_be_bytes());
        m.extend_from_slice(&body);
        (Bytes::from(m), pending)
    }

    fn reply_code(sink: &VecSink, pending: &PendingBuild) -> u8 {
        let (_, m) = sink.0.lock().unwrap().pop().unwrap();
        pending.decrypt_replies(&m[9..]).unwrap()[0].code
    }

    #[test]
    fn tunnels_expire_after_lifetime_and_grace() {
        let now = unix_now_ms();
        let (mut s, sink, _rx) = shard(now);
        let (m, pending) = build(77, 1, now);
        s.handle(
            Command::Build {
                from: [1; 32],
                kind: BuildKind::Short,
                msg: m,
            },
            now,
            0,
        );
        s.flush(now, 0);
        assert_eq!(reply_code(&sink, &pending), 0);
        assert_eq!(s.hops.len(), 1);
        let status = s.shared.status.clone();
        assert_eq!(status.transit_tunnels.load(Ordering::Relaxed), 1);
        let end = now + TUNNEL_LIFETIME_MS + TUNNEL_GRACE_MS;
        s.maintain(end - 1);
        assert_eq!(s.hops.len(), 1);
        // Data in the last moment is still relayed; at expiry the tunnel is unknown.
        let mut data = vec![18, 0, 0, 0, 1];
        data.extend_from_slice(&(((end + 60_000) / 1000) as u32).to_be_bytes());
        data.extend_from_slice(&77u32.to_be_bytes());
        data.extend_from_slice(&[7u8; 1024]);
        let data = Bytes::from(data);
        assert_eq!(s.on_data(&[1; 32], data.clone(), None, end - 1, 1), Ok(()));
        assert_eq!(
            s.on_data(&[1; 32], data, None, end, 2),
            Err(DropReason::UnknownTunnel)
        );
        s.maintain(end);
        assert!(s.hops.is_empty());
        assert_eq!(status.transit_tunnels.load(Ordering::Relaxed), 0);
        assert_eq!(s.shared.builds().admission.tunnels(), 0);
        assert_eq!(s.metrics.tunnels[0].get(), 0);
    }

    #[test]
    fn duplicate_receive_tunnel_id_is_rejected() {
        let now = unix_now_ms();
        let (mut s, sink, _rx) = shard(now);
        let (m1, p1) = build(5, 1, now);
        let (m2, p2) = build(5, 2, now);
        s.handle(
            Command::Build {
                from: [1; 32],
                kind: BuildKind::Short,
                msg: m1,
            },
            now,
            0,
        );
        s.flush(now, 0);
        assert_eq!(reply_code(&sink, &p1), 0);
        s.handle(
            Command::Build {
                from: [1; 32],
                kind: BuildKind::Short,
                msg: m2,
            },
            now,
            0,
        );
        s.flush(now, 0);
        assert_eq!(reply_code(&sink, &p2), 30);
        assert_eq!(s.hops.len(), 1);
        assert_eq!(s.shared.builds().admission.tunnels(), 1);
    }

    #[test]
    fn bandwidth_cap_drops_and_counts() {
        let now = unix_now_ms();
        let (mut s, _sink, _rx) = shard(now);
        let (m, _) = build(6, 1, now);
        s.handle(
            Command::Build {
                from: [1; 32],
                kind: BuildKind::Short,
                msg: m,
            },
            now,
            0,
        );
        let rate = s.shared.params.bandwidth_bps;
        let burst = s.shared.params.bandwidth_burst;
        let mut passed = 0u64;
        let mut dropped = 0u64;
        // Offer 3x the rate for one second (distinct payloads so the bloom filter passes them).
        let n = 3 * rate / 1037;
        for i in 0..n {
            let mut data = vec![18, 0, 0, 0, 1];
            data.extend_from_slice(&(((now + 60_000) / 1000) as u32).to_be_bytes());
            data.extend_from_slice(&6u32.to_be_bytes());
            let mut p = [0u8; 1024];
            p[..8].copy_from_slice(&i.to_le_bytes());
            data.extend_from_slice(&p);
            let t_ns = i * 1_000_000_000 / n;
            match s.on_data(&[1; 32], Bytes::from(data), None, now, t_ns) {
                Ok(()) => passed += 1037,
                Err(DropReason::Bandwidth) => dropped += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(
            passed <= rate + burst + 64 * 1024,
            "{passed} > {rate} + {burst}"
        );
        assert!(passed >= rate, "{passed} < {rate}");
        assert!(dropped > 0);
        s.outputs.clear();
    }

    #[test]
    fn shard_of_spreads_and_stays_in_range() {
        for n in 1..=16 {
            let mut counts = vec![0usize; n];
            for tid in 1..=16_000u32 {
                let s = shard_of(tid.wrapping_mul(2_654_435_761), n);
                assert!(s < n);
                counts[s] += 1;
            }
            let min = *counts.iter().min().unwrap();
            let max = *counts.iter().max().unwrap();
            assert!(max - min < 16_000 / n / 5 + 50, "{n}: {counts:?}");
        }
    }

    #[test]
    fn params_from_default_config() {
        let p = TransitParams::from_config(&TransitConfig::default());
        assert!(p.shards >= 1);
        assert_eq!(p.bandwidth_bps, 10_240 * 1024 * 80 / 100);
        assert!(p.bloom_capacity >= 16 * 1024);
    }
}

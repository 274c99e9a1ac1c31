//! Whether to take part in a tunnel.
//!
//! Two stages, in the order the shard runs them:
//! 1. [`Admission::check_rate`] before any crypto: a global token bucket and one per previous hop
//!    (the router that handed us the build message). Over the limit the request is dropped
//!    without a reply: replying needs the X25519 operation the limit exists to protect.
//! 2. [`Admission::decide`] after our record decrypted: drain mode, the tunnel limit, bandwidth
//!    (the transit share of the configured bandwidth, with an estimated per-tunnel rate), the
//!    `m` (minimum bandwidth) build option, and probabilistic rejection once load passes a soft
//!    threshold. Rejections are answered with reply code 30 (TUNNEL_REJECT_BANDWIDTH), the only
//!    code ECIES hops send.
//!
//! [`Admission::tick`] keeps minute-scale averages of load and rejection ratio, from which
//! [`Admission::congestion_cap`] derives the congestion cap letter (proposal 162: D, E, G).

use std::collections::HashMap;

use rand::Rng;

use super::RouterHash;
use super::bandwidth::TokenBucket;
use super::record::BuildRequest;
use crate::config::TransitConfig;
use crate::wire::Mapping;

/// Averaged load from which we publish `D` (medium congestion) ...
pub const CAP_D_LOAD: f64 = 0.7;
/// ... and `E` (near our limits, rejecting most requests).
pub const CAP_E_LOAD: f64 = 0.9;

#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionConfig {
    pub max_tunnels: u32,
    /// Transit share of the bandwidth, bytes per second.
    pub share_bps: u64,
    /// Per-tunnel bandwidth assumed before measurements say more, bytes per second. Fixes how
    /// many tunnels the bandwidth share is taken to carry when idle.
    pub default_tunnel_bps: u64,
    /// Build requests per second accepted for processing, and their burst.
    pub global_rate: f64,
    pub global_burst: f64,
    /// The same per previous hop.
    pub per_hop_rate: f64,
    pub per_hop_burst: f64,
    /// Load (0..1) from which requests are rejected with rising probability.
    pub soft_load: f64,
    /// Time constant of the averages behind the congestion cap.
    pub average_ms: u64,
    /// Most previous hops tracked for rate limiting.
    pub max_tracked_hops: usize,
}

impl AdmissionConfig {
    pub fn from_transit(cfg: &TransitConfig) -> Self {
        let share_bps =
            u64::from(cfg.bandwidth_kbps) * 1024 * u64::from(cfg.share_percent.min(100)) / 100;
        // At full capacity tunnels turn over every 10 minutes: max/600 builds per second. Allow
        // three times that (bursts, rejected builds) with a floor for small routers.
        let global_rate = (f64::from(cfg.max_tunnels) / 200.0).max(10.0);
        let per_hop_rate = (global_rate / 5.0).max(2.0);
        Self {
            max_tunnels: cfg.max_tunnels,
            share_bps,
            default_tunnel_bps: 1024,
            global_rate,
            global_burst: global_rate * 4.0,
            per_hop_rate,
            per_hop_burst: per_hop_rate * 4.0,
            soft_load: 0.7,
            average_ms: 300_000,
            max_tracked_hops: 20_000,
        }
    }

    /// How long build-request replay entries must be remembered, and how many can arrive in
    /// that time under the global limit (the replay set's capacity).
    pub fn replay_capacity(&self, window_ms: u64) -> usize {
        (self.global_burst + self.global_rate * window_ms as f64 / 1000.0).ceil() as usize
    }
}

/// Why a request was dropped before decryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimited {
    Global,
    PerHop,
}

impl RateLimited {
    pub fn label(self) -> &'static str {
        match self {
            Self::Global => "rate_global",
            Self::PerHop => "rate_peer",
        }
    }
}

/// Why a decrypted request is refused (reply code 30 in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Draining,
    /// Transit disabled by configuration (no tunnels or no bandwidth).
    Disabled,
    MaxTunnels,
    Bandwidth,
    /// The `m` option asks for more than we have left.
    MinBandwidth,
    /// Random early rejection above the soft load.
    Load,
    /// Layer encryption type other than AES.
    LayerType,
    /// The receive tunnel id is already in use here.
    DuplicateTunnelId,
}

impl RejectReason {
    pub fn label(self) -> &'static str {
        match self {
            Self::Draining => "draining",
            Self::Disabled => "disabled",
            Self::MaxTunnels => "max_tunnels",
            Self::Bandwidth => "bandwidth",
            Self::MinBandwidth => "min_bandwidth",
            Self::Load => "load",
            Self::LayerType => "layer_type",
            Self::DuplicateTunnelId => "duplicate_tunnel_id",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A tunnel slot is reserved; call [`Admission::release`] if the tunnel is not installed.
    Accept {
        reply_options: Mapping,
    },
    Reject(RejectReason),
}

pub struct Admission {
    cfg: AdmissionConfig,
    tunnels: u64,
    global: TokenBucket,
    per_hop: HashMap<RouterHash, TokenBucket>,
    measured_bps: f64,
    load_avg: f64,
    reject_avg: f64,
    last_tick_ms: u64,
    last_bytes: u64,
    decided: u64,
    rejected: u64,
}

impl Admission {
    pub fn new(cfg: AdmissionConfig, now_ms: u64) -> Self {
        Self {
            global: TokenBucket::new(cfg.global_rate, cfg.global_burst, now_ms),
            cfg,
            tunnels: 0,
            per_hop: HashMap::new(),
            measured_bps: 0.0,
            load_avg: 0.0,
            reject_avg: 0.0,
            last_tick_ms: now_ms,
            last_bytes: 0,
            decided: 0,
            rejected: 0,
        }
    }

    pub fn config(&self) -> &AdmissionConfig {
        &self.cfg
    }

    pub fn tunnels(&self) -> u64 {
        self.tunnels
    }

    /// Stage 1: rate limits. `from` is the router that sent the build message.
    pub fn check_rate(&mut self, from: &RouterHash, now_ms: u64) -> Result<(), RateLimited> {
        if !self.per_hop.contains_key(from) && self.per_hop.len() >= self.cfg.max_tracked_hops {
            self.per_hop.retain(|_, b| !b.is_full(now_ms));
            if self.per_hop.len() >= self.cfg.max_tracked_hops {
                // Every tracked peer is active: refuse newcomers rather than forget a limit.
                return Err(RateLimited::PerHop);
            }
        }
        let (rate, burst) = (self.cfg.per_hop_rate, self.cfg.per_hop_burst);
        let hop = self
            .per_hop
            .entry(*from)
            .or_insert_with(|| TokenBucket::new(rate, burst, now_ms));
        // Check the peer first so one noisy peer does not drain the global bucket; take from
        // the peer's bucket only if the global one also has room.
        let mut probe = *hop;
        if !probe.try_take(1.0, now_ms) {
            return Err(RateLimited::PerHop);
        }
        if !self.global.try_take(1.0, now_ms) {
            return Err(RateLimited::Global);
        }
        *hop = probe;
        Ok(())
    }

    /// Load in 0..=1+: the larger of tunnel count and bandwidth use relative to their limits,
    /// with `extra` tunnels added.
    fn load_with(&self, extra: u64) -> f64 {
        let tunnels = self.tunnels + extra;
        let t = if self.cfg.max_tunnels == 0 {
            f64::INFINITY
        } else {
            tunnels as f64 / f64::from(self.cfg.max_tunnels)
        };
        let b = if self.cfg.share_bps == 0 {
            f64::INFINITY
        } else {
            // Each tunnel is assumed to need at least the default rate; measured traffic above
            // that counts as it is.
            let committed =
                (tunnels as f64 * self.cfg.default_tunnel_bps as f64).max(self.measured_bps);
            committed / self.cfg.share_bps as f64
        };
        t.max(b)
    }

    pub fn load(&self) -> f64 {
        self.load_with(0)
    }

    /// Bandwidth left in the share, bytes per second.
    fn available_bps(&self) -> f64 {
        (self.cfg.share_bps as f64 - self.measured_bps).max(0.0)
    }

    /// Stage 2: accept or reject a decrypted request. Accepting reserves a tunnel slot.
    pub fn decide(&mut self, req: &BuildRequest, draining: bool, rng: &mut impl Rng) -> Decision {
        let d = self.decide_inner(req, draining, rng);
        self.decided += 1;
        if matches!(d, Decision::Reject(_)) {
            self.rejected += 1;
        } else {
            self.tunnels += 1;
        }
        d
    }

    fn decide_inner(&self, req: &BuildRequest, draining: bool, rng: &mut impl Rng) -> Decision {
        use RejectReason::*;
        if draining {
            return Decision::Reject(Draining);
        }
        if self.cfg.max_tunnels == 0 || self.cfg.share_bps == 0 {
            return Decision::Reject(Disabled);
        }
        if req.layer_encryption != 0 {
            return Decision::Reject(LayerType);
        }
        if self.tunnels >= u64::from(self.cfg.max_tunnels) {
            return Decision::Reject(MaxTunnels);
        }
        let min = req.bandwidth_option("m").map(|k| f64::from(k) * 1024.0);
        if min.is_some_and(|m| m > self.available_bps()) {
            return Decision::Reject(MinBandwidth);
        }
        if self.load_with(1) > 1.0 {
            return Decision::Reject(Bandwidth);
        }
        // The rejection probability follows the load before this tunnel, so that the last
        // slot below the hard limit can still be taken.
        let load = self.load();
        let soft = self.cfg.soft_load.clamp(0.0, 0.99);
        if load > soft {
            let p = (load - soft) / (1.0 - soft);
            if rng.gen_bool(p.clamp(0.0, 1.0)) {
                return Decision::Reject(Load);
            }
        }
        let requested = req.bandwidth_option("r").map(|k| f64::from(k) * 1024.0);
        let reply_options = match (min, requested) {
            (None, None) => Mapping::new(),
            _ => {
                let want = requested.unwrap_or(0.0).max(min.unwrap_or(0.0));
                let b = want.min(self.available_bps()).max(min.unwrap_or(0.0));
                let kbps = ((b / 1024.0).floor() as u64).max(1);
                Mapping::from_pairs([("b", kbps.to_string())]).unwrap_or_default()
            }
        };
        Decision::Accept { reply_options }
    }

    /// A reserved or installed tunnel is gone (expired, or its installation failed).
    pub fn release(&mut self, n: u64) {
        self.tunnels = self.tunnels.saturating_sub(n);
    }

    /// A collision found after the decision: count it as a rejection too.
    pub fn undo_accept(&mut self) {
        self.release(1);
        self.rejected += 1;
    }

    /// Update the measured transit rate and the averages. `transit_bytes` is the running total
    /// of transit bytes; call about once a second.
    pub fn tick(&mut self, transit_bytes: u64, now_ms: u64) {
        let dt = now_ms.saturating_sub(self.last_tick_ms);
        if dt == 0 {
            return;
        }
        let bytes = transit_bytes.saturating_sub(self.last_bytes);
        let rate = bytes as f64 * 1000.0 / dt as f64;
        // Short average (10 s) for the bandwidth estimate, long one for the published cap.
        let fast = 1.0 - (-(dt as f64) / 10_000.0).exp();
        self.measured_bps += (rate - self.measured_bps) * fast;
        let slow = 1.0 - (-(dt as f64) / self.cfg.average_ms.max(1) as f64).exp();
        self.load_avg += (self.load().min(1.0) - self.load_avg) * slow;
        if self.decided > 0 {
            let ratio = self.rejected as f64 / self.decided as f64;
            self.reject_avg += (ratio - self.reject_avg) * slow;
        } else {
            self.reject_avg -= self.reject_avg * slow;
        }
        self.decided = 0;
        self.rejected = 0;
        self.last_tick_ms = now_ms;
        self.last_bytes = transit_bytes;
        self.per_hop.retain(|_, b| !b.is_full(now_ms));
    }

    pub fn measured_bps(&self) -> f64 {
        self.measured_bps
    }

    /// The congestion cap to publish (proposal 162), from the minute-scale averages:
    /// `G` when transit is disabled by configuration, `E` when we reject most requests or are
    /// at our limits, `D` in the probabilistic-rejection range, none otherwise. While draining
    /// none either: the proposal advises against revealing a shutdown.
    pub fn congestion_cap(&self, draining: bool) -> Option<char> {
        if draining {
            return None;
        }
        if self.cfg.max_tunnels == 0 || self.cfg.share_bps == 0 {
            return Some('G');
        }
        if self.load_avg >= CAP_E_LOAD || self.reject_avg >= 0.5 {
            return Some('E');
        }
        if self.load_avg >= CAP_D_LOAD || self.reject_avg >= 0.2 {
            return Some('D');
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::HopRole;
    use rand::SeedableRng;

    fn cfg(max_tunnels: u32) -> AdmissionConfig {
        AdmissionConfig {
            max_tunnels,
            share_bps: 1024 * 1024,
            default_tunnel_bps: 1024,
            global_rate: 100.0,
            global_burst: 100.0,
            per_hop_rate: 10.0,
            per_hop_burst: 3.0,
            soft_load: 0.7,
            average_ms: 1000,
            max_tracked_hops: 2,
        }
    }

    fn req() -> BuildRequest {
        BuildRequest {
            receive_tunnel: 1,
            next_tunnel: 2,
            next_ident: [1; 32],
            role: HopRole::Participant,
            reserved_flags: 0,
            layer_encryption: 0,
            request_time_min: 0,
            expiration_s: 600,
            next_msg_id: 0,
            options: Mapping::new(),
        }
    }

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(9)
    }

    #[test]
    fn from_transit_config() {
        let c = AdmissionConfig::from_transit(&TransitConfig {
            max_tunnels: 10_000,
            bandwidth_kbps: 1000,
            share_percent: 50,
            drain_seconds: 0,
        });
        assert_eq!(c.share_bps, 512_000);
        assert_eq!(c.global_rate, 50.0);
        assert_eq!(c.per_hop_rate, 10.0);
        assert!(c.replay_capacity(660_000) >= 33_000);
    }

    #[test]
    fn max_tunnels_and_release() {
        let mut a = Admission::new(cfg(100), 0);
        let mut r = rng();
        let mut accepted = 0u64;
        for _ in 0..1000 {
            if matches!(a.decide(&req(), false, &mut r), Decision::Accept { .. }) {
                accepted += 1;
            }
        }
        // Probabilistic rejection starts at 70 tunnels, the hard limit is 100.
        assert!(accepted > 70 && accepted <= 100, "{accepted}");
        assert_eq!(a.tunnels(), accepted);
        a.release(accepted);
        assert_eq!(
            a.decide(&req(), false, &mut r),
            Decision::Accept {
                reply_options: Mapping::new()
            }
        );
    }

    #[test]
    fn hard_limit_is_exact_without_soft_zone() {
        let mut c = cfg(5);
        c.soft_load = 0.99;
        let mut a = Admission::new(c, 0);
        let mut r = rng();
        for _ in 0..5 {
            assert!(matches!(
                a.decide(&req(), false, &mut r),
                Decision::Accept { .. }
            ));
        }
        assert_eq!(
            a.decide(&req(), false, &mut r),
            Decision::Reject(RejectReason::MaxTunnels)
        );
    }

    #[test]
    fn probabilistic_rejection_rises_with_load() {
        let mut r = rng();
        let rate_at = |n: u64, r: &mut rand::rngs::StdRng| {
            let mut a = Admission::new(cfg(100), 0);
            a.tunnels = n;
            let mut rej = 0;
            for _ in 0..2000 {
                if let Decision::Reject(RejectReason::Load) = a.decide_inner(&req(), false, r) {
                    rej += 1;
                }
            }
            rej as f64 / 2000.0
        };
        assert_eq!(rate_at(50, &mut r), 0.0);
        let mid = rate_at(84, &mut r);
        let high = rate_at(96, &mut r);
        assert!((0.4..0.6).contains(&mid), "{mid}");
        assert!(high > 0.8, "{high}");
    }

    #[test]
    fn draining_disabled_layer_type_and_min_bandwidth() {
        let mut r = rng();
        let mut a = Admission::new(cfg(100), 0);
        assert_eq!(
            a.decide(&req(), true, &mut r),
            Decision::Reject(RejectReason::Draining)
        );
        let mut q = req();
        q.layer_encryption = 1;
        assert_eq!(
            a.decide(&q, false, &mut r),
            Decision::Reject(RejectReason::LayerType)
        );
        let mut q = req();
        q.options = Mapping::from_pairs([("m", "2000")]).unwrap();
        assert_eq!(
            a.decide(&q, false, &mut r),
            Decision::Reject(RejectReason::MinBandwidth)
        );
        q.options = Mapping::from_pairs([("m", "100"), ("r", "200")]).unwrap();
        match a.decide(&q, false, &mut r) {
            Decision::Accept { reply_options } => assert_eq!(reply_options.get("b"), Some("200")),
            d => panic!("{d:?}"),
        }
        assert_eq!(a.tunnels(), 1, "rejections reserve nothing");
        let mut off = Admission::new(cfg(0), 0);
        assert_eq!(
            off.decide(&req(), false, &mut r),
            Decision::Reject(RejectReason::Disabled)
        );
        assert_eq!(off.congestion_cap(false), Some('G'));
    }

    #[test]
    fn measured_bandwidth_limits_tunnels() {
        let mut r = rng();
        let mut a = Admission::new(cfg(10_000), 0);
        // Twice the 1 MiB/s share in use for a while.
        let mut total = 0u64;
        for s in 1..=60u64 {
            total += 2 * 1024 * 1024;
            a.tick(total, s * 1000);
        }
        assert!(a.measured_bps() > 1.9 * 1024.0 * 1024.0);
        assert_eq!(
            a.decide(&req(), false, &mut r),
            Decision::Reject(RejectReason::Bandwidth)
        );
    }

    #[test]
    fn rate_limits_global_and_per_hop() {
        let mut a = Admission::new(cfg(100), 0);
        for _ in 0..3 {
            assert_eq!(a.check_rate(&[1; 32], 0), Ok(()));
        }
        assert_eq!(a.check_rate(&[1; 32], 0), Err(RateLimited::PerHop));
        assert_eq!(
            a.check_rate(&[1; 32], 100),
            Ok(()),
            "10/s refills in 100 ms"
        );
        // Tracked-peer bound: a third peer is refused while two are active.
        assert_eq!(a.check_rate(&[2; 32], 100), Ok(()));
        assert_eq!(a.check_rate(&[3; 32], 100), Err(RateLimited::PerHop));
        // Global: 100 burst, 96 left; many peers drain it.
        let mut c = cfg(100);
        c.max_tracked_hops = 1000;
        let mut a = Admission::new(c, 0);
        let mut ok = 0;
        for i in 0..200u8 {
            if a.check_rate(&[i; 32], 0).is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 100);
        assert_eq!(a.check_rate(&[250; 32], 0), Err(RateLimited::Global));
    }

    #[test]
    fn congestion_cap_follows_averaged_load() {
        let mut c = cfg(100);
        c.soft_load = 0.99;
        let mut a = Admission::new(c, 0);
        let mut r = rng();
        assert_eq!(a.congestion_cap(false), None);
        for _ in 0..80 {
            a.decide(&req(), false, &mut r);
        }
        // The cap reacts over the averaging time, not instantly.
        a.tick(0, 100);
        assert_eq!(a.congestion_cap(false), None);
        for s in 1..=10 {
            a.tick(0, s * 1000);
        }
        assert_eq!(a.congestion_cap(false), Some('D'));
        for _ in 0..15 {
            a.decide(&req(), false, &mut r);
        }
        for s in 11..=20 {
            a.tick(0, s * 1000);
        }
        assert_eq!(a.congestion_cap(false), Some('E'));
        assert_eq!(a.congestion_cap(true), None, "not published while draining");
    }
}

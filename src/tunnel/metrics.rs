//! Transit metrics, registered on the router's registry. Label children used on the hot path
//! are resolved once ([`DropCounters`], [`ShardMetrics`]) so workers only touch atomics.

use crate::ops::metrics::reg;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use super::HopRole;

/// Why a transit message was dropped. Every drop is counted under one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// No tunnel with that receive id (or it expired).
    UnknownTunnel,
    /// Message from a router other than the tunnel's previous hop.
    WrongPreviousHop,
    /// IV / first block seen before (replay or loop).
    DuplicateIv,
    /// Transit bandwidth limit.
    Bandwidth,
    /// The shard's queue was full.
    QueueFull,
    /// Not parseable (length, header, body).
    Malformed,
    /// Header expiration in the past.
    Expired,
    /// TunnelData whose header expiration lies further ahead than the replay window covers
    /// (see `shard::MAX_DATA_FUTURE_MS`).
    Future,
    /// A TunnelData for an inbound gateway, or a TunnelGateway for a non-gateway hop.
    WrongRole,
    /// Endpoint: the decrypted tunnel message failed its checksum or had no zero byte.
    Checksum,
    /// Endpoint: bad delivery instructions or fragment layout.
    BadInstructions,
    /// Endpoint: LOCAL delivery, which outbound endpoints do not do.
    LocalDelivery,
    /// Endpoint: the reassembled message is not a valid I2NP message.
    BadMessage,
    /// Endpoint reassembly: fragment dropped (duplicate, bad number) ...
    DuplicateFragment,
    BadFragmentNumber,
    /// ... message over the maximum size ...
    MessageTooLarge,
    /// ... too many partial messages / bytes pending ...
    ReassemblyFull,
    /// ... or not completed in time.
    ReassemblyTimeout,
    /// Gateway: a message too large for 64 fragments.
    TooLargeToFragment,
    /// The runtime has stopped.
    ShuttingDown,
}

impl DropReason {
    pub const ALL: [DropReason; 20] = [
        Self::UnknownTunnel,
        Self::WrongPreviousHop,
        Self::DuplicateIv,
        Self::Bandwidth,
        Self::QueueFull,
        Self::Malformed,
        Self::Expired,
        Self::Future,
        Self::WrongRole,
        Self::Checksum,
        Self::BadInstructions,
        Self::LocalDelivery,
        Self::BadMessage,
        Self::DuplicateFragment,
        Self::BadFragmentNumber,
        Self::MessageTooLarge,
        Self::ReassemblyFull,
        Self::ReassemblyTimeout,
        Self::TooLargeToFragment,
        Self::ShuttingDown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::UnknownTunnel => "unknown_tunnel",
            Self::WrongPreviousHop => "wrong_previous_hop",
            Self::DuplicateIv => "duplicate_iv",
            Self::Bandwidth => "bandwidth",
            Self::QueueFull => "queue_full",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::Future => "future",
            Self::WrongRole => "wrong_role",
            Self::Checksum => "checksum",
            Self::BadInstructions => "bad_instructions",
            Self::LocalDelivery => "local_delivery",
            Self::BadMessage => "bad_message",
            Self::DuplicateFragment => "duplicate_fragment",
            Self::BadFragmentNumber => "bad_fragment_number",
            Self::MessageTooLarge => "message_too_large",
            Self::ReassemblyFull => "reassembly_full",
            Self::ReassemblyTimeout => "reassembly_timeout",
            Self::TooLargeToFragment => "too_large_to_fragment",
            Self::ShuttingDown => "shutting_down",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

#[derive(Clone)]
pub struct TransitMetrics {
    pub tunnels: IntGaugeVec,
    pub build_requests: IntCounterVec,
    pub bytes: IntCounterVec,
    pub messages: IntCounterVec,
    pub drops: IntCounterVec,
    pub queue_depth: IntGaugeVec,
}

impl TransitMetrics {
    pub fn new(registry: &Registry) -> Self {
        let m = Self {
            tunnels: reg(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "floodgate_transit_tunnels",
                        "Transit tunnels we currently take part in, by role (participant, ibgw, obep).",
                    ),
                    &["role"],
                )
                .expect("valid"),
            ),
            build_requests: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_transit_build_requests_total",
                        "Tunnel build requests addressed to us, by result (accepted, rejected: answered with code 30, dropped: no reply) and reason.",
                    ),
                    &["result", "reason"],
                )
                .expect("valid"),
            ),
            bytes: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_transit_bytes_total",
                        "Bytes of transit I2NP messages (short header included), by direction (in: accepted for relaying, out: handed to the transport) and by our role in the tunnel (participant, ibgw, obep).",
                    ),
                    &["direction", "role"],
                )
                .expect("valid"),
            ),
            messages: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_transit_messages_total",
                        "Transit messages relayed (TunnelData and TunnelGateway messages processed without a drop), by our role in the tunnel.",
                    ),
                    &["role"],
                )
                .expect("valid"),
            ),
            drops: reg(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_transit_drops_total",
                        "Transit messages dropped, by reason.",
                    ),
                    &["reason"],
                )
                .expect("valid"),
            ),
            queue_depth: reg(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "floodgate_transit_shard_queue_depth",
                        "Messages waiting in each transit shard's queue.",
                    ),
                    &["shard"],
                )
                .expect("valid"),
            ),
        };
        // Make every role and drop reason visible at 0 so dashboards and alerts need no
        // absent() special cases.
        for r in HopRole::ALL {
            m.tunnels.with_label_values(&[r.label()]).set(0);
            m.messages.with_label_values(&[r.label()]).inc_by(0);
            for d in ["in", "out"] {
                m.bytes.with_label_values(&[d, r.label()]).inc_by(0);
            }
        }
        for r in DropReason::ALL {
            m.drops.with_label_values(&[r.label()]).inc_by(0);
        }
        m
    }

    pub fn build_result(&self, result: &str, reason: &str) {
        self.build_requests
            .with_label_values(&[result, reason])
            .inc();
    }

    pub fn drop_counters(&self) -> DropCounters {
        DropCounters {
            counters: DropReason::ALL.map(|r| self.drops.with_label_values(&[r.label()])),
            pending: [0; DropReason::ALL.len()],
        }
    }

    pub fn shard(&self, shard: usize) -> ShardMetrics {
        ShardMetrics {
            drops: self.drop_counters(),
            bytes_in: HopRole::ALL.map(|r| self.bytes.with_label_values(&["in", r.label()])),
            bytes_out: HopRole::ALL.map(|r| self.bytes.with_label_values(&["out", r.label()])),
            messages: HopRole::ALL.map(|r| self.messages.with_label_values(&[r.label()])),
            queue_depth: self.queue_depth.with_label_values(&[&shard.to_string()]),
            tunnels: HopRole::ALL.map(|r| self.tunnels.with_label_values(&[r.label()])),
            pending: [RolePending::default(); 3],
        }
    }
}

/// Drop counts accumulated locally and published per batch.
pub struct DropCounters {
    counters: [IntCounter; DropReason::ALL.len()],
    pending: [u64; DropReason::ALL.len()],
}

impl DropCounters {
    pub fn add(&mut self, r: DropReason, n: u64) {
        self.pending[r.index()] += n;
    }

    pub fn flush(&mut self) {
        for (c, p) in self.counters.iter().zip(self.pending.iter_mut()) {
            if *p != 0 {
                c.inc_by(*p);
                *p = 0;
            }
        }
    }
}

/// Transit traffic of one role counted locally since the last flush.
#[derive(Debug, Clone, Copy, Default)]
pub struct RolePending {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages: u64,
}

/// A shard's handles and local accumulators (indexed by [`HopRole::index`]): the hot path adds
/// to plain integers and [`ShardMetrics::flush`] publishes them once per batch.
pub struct ShardMetrics {
    pub drops: DropCounters,
    bytes_in: [IntCounter; 3],
    bytes_out: [IntCounter; 3],
    messages: [IntCounter; 3],
    queue_depth: IntGauge,
    pub tunnels: [IntGauge; 3],
    pub pending: [RolePending; 3],
}

impl ShardMetrics {
    pub fn flush(&mut self, queue_depth: usize) {
        self.drops.flush();
        for (i, p) in self.pending.iter_mut().enumerate() {
            if p.bytes_in != 0 {
                self.bytes_in[i].inc_by(p.bytes_in);
            }
            if p.bytes_out != 0 {
                self.bytes_out[i].inc_by(p.bytes_out);
            }
            if p.messages != 0 {
                self.messages[i].inc_by(p.messages);
            }
            *p = RolePending::default();
        }
        self.queue_depth.set(queue_depth as i64);
    }

    /// Transit bytes accepted so far, all roles, flushed or not (the admission's load input).
    pub fn bytes_in_total(&self) -> u64 {
        self.bytes_in.iter().map(|c| c.get()).sum::<u64>()
            + self.pending.iter().map(|p| p.bytes_in).sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_and_zeroed_labels() {
        let r = Registry::new();
        let m = TransitMetrics::new(&r);
        let mut s = m.shard(0);
        s.drops.add(DropReason::DuplicateIv, 2);
        s.pending[HopRole::InboundGateway.index()].bytes_in = 1037;
        s.pending[HopRole::OutboundEndpoint.index()].messages = 3;
        assert_eq!(
            s.bytes_in_total(),
            1037,
            "pending bytes count before a flush"
        );
        s.flush(5);
        assert_eq!(s.bytes_in_total(), 1037, "and once after it");
        let fams = r.gather();
        for f in &fams {
            assert!(f.name().starts_with("floodgate_transit_"));
            assert!(!f.help().is_empty());
        }
        assert_eq!(m.drops.with_label_values(&["duplicate_iv"]).get(), 2);
        assert_eq!(m.drops.with_label_values(&["bandwidth"]).get(), 0);
        assert_eq!(m.bytes.with_label_values(&["in", "ibgw"]).get(), 1037);
        assert_eq!(m.bytes.with_label_values(&["in", "participant"]).get(), 0);
        assert_eq!(m.messages.with_label_values(&["obep"]).get(), 3);
        assert_eq!(m.queue_depth.with_label_values(&["0"]).get(), 5);
        let names: Vec<_> = fams.iter().map(|f| f.name().to_string()).collect();
        for n in [
            "floodgate_transit_tunnels",
            "floodgate_transit_drops_total",
            "floodgate_transit_bytes_total",
            "floodgate_transit_shard_queue_depth",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing");
        }
    }
}

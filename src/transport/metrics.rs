//! Transport metrics (NTCP2 now, SSU2 later share the `transport` label).

use crate::ops::metrics::reg;
use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct TransportMetrics {
    /// Established sessions by direction (`inbound`/`outbound`).
    pub sessions: IntGaugeVec,
    /// Handshakes by direction, result (`ok`/`failed`) and failure reason.
    pub handshakes: IntCounterVec,
    /// Bytes on the wire by transport and direction (`in`/`out`), including framing.
    pub bytes: IntCounterVec,
    /// I2NP messages by transport and direction.
    pub messages: IntCounterVec,
    /// Outbound I2NP messages dropped because a peer's send queue was full or no session could
    /// be made, by reason.
    pub queue_drops: IntCounterVec,
    /// Connections refused before a handshake, by reason (limits).
    pub refused: IntCounterVec,
    /// Sessions closed, by termination reason.
    pub terminations: IntCounterVec,
    /// Peers dropped for misbehaving (bad frames, bad blocks, wrong RouterInfo), by reason.
    pub misbehaving: IntCounterVec,
    /// Message-1 ephemeral keys seen twice (replayed handshakes).
    pub replays: IntCounter,
}

impl TransportMetrics {
    pub fn new(registry: &Registry) -> Self {
        let cv = |name: &str, help: &str, labels: &[&str]| {
            reg(
                registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid"),
            )
        };
        Self {
            sessions: reg(
                registry,
                IntGaugeVec::new(
                    Opts::new("floodgate_ntcp2_sessions", "Established NTCP2 sessions, by direction."),
                    &["direction"],
                )
                .expect("valid"),
            ),
            handshakes: cv(
                "floodgate_ntcp2_handshakes_total",
                "NTCP2 handshakes, by direction, result and failure reason.",
                &["direction", "result", "reason"],
            ),
            bytes: cv(
                "floodgate_transport_bytes_total",
                "Bytes sent and received on transport connections, including framing, by transport and direction.",
                &["transport", "direction"],
            ),
            messages: cv(
                "floodgate_transport_messages_total",
                "I2NP messages sent and received over transports, by transport and direction.",
                &["transport", "direction"],
            ),
            queue_drops: cv(
                "floodgate_ntcp2_queue_drops_total",
                "Outbound I2NP messages dropped before reaching a session, by reason.",
                &["reason"],
            ),
            refused: cv(
                "floodgate_ntcp2_connections_refused_total",
                "NTCP2 connections refused by our connection limits before any handshake (inbound, and our own outbound attempts), by reason.",
                &["reason"],
            ),
            terminations: cv(
                "floodgate_ntcp2_terminations_total",
                "NTCP2 sessions closed, by who closed (local/remote) and reason.",
                &["side", "reason"],
            ),
            misbehaving: cv(
                "floodgate_transport_misbehaving_peers_total",
                "Peers dropped for protocol violations after the handshake, by reason.",
                &["reason"],
            ),
            replays: reg(
                registry,
                IntCounter::new(
                    "floodgate_ntcp2_replayed_handshakes_total",
                    "NTCP2 message 1 ephemeral keys seen before (replayed handshakes), dropped silently.",
                )
                .expect("valid"),
            ),
        }
    }
}

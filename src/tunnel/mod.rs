//! The transit room: participating in other routers' tunnels (issue "Participating tunnels: a
//! high-bandwidth relay"). An engine without socket I/O: messages come in as short-header I2NP
//! [`bytes::Bytes`] from the transport, go out through a [`shard::TransitSink`].
//!
//! Layout:
//! - [`noise`], [`record`], [`build`], [`creator`], [`garlic`], [`replay`]: tunnel build records
//!   (tunnel-creation-ecies.rst): the hop side (decrypt our record, reply, forward) and the
//!   creator side (used by tests and benches, later by our own tunnel pools).
//! - [`admission`]: whether to accept a tunnel, build rate limits, congestion caps.
//! - [`layer`], [`fragment`], [`participant`], [`inbound_gateway`], [`outbound_endpoint`],
//!   [`bloom`]: the data path (tunnel-message.rst, tunnels/implementation).
//! - [`shard`], [`bandwidth`], [`metrics`]: the runtime: one worker task per core, tunnels
//!   sharded by receive tunnel id.
//!
//! Wiring (router side):
//! - start: [`shard::Transit::start`] with [`shard::TransitParams::from_config`], the router's
//!   X25519 encryption secret and hash, the metrics registry, the shared `RouterStatus`, a
//!   [`shard::TransitSink`] and the shutdown token;
//! - intake: sessions offer every received I2NP message to the router's `TransitIntake`
//!   (`transport::manager::TunnelIntake`), which calls [`shard::Transit::submit`]`(peer,
//!   message)` from the session task itself; TunnelData (18), TunnelGateway (19),
//!   VariableTunnelBuild (23) and ShortTunnelBuild (25) are taken, anything else is handed back
//!   as [`shard::Submitted::NotTransit`] and goes to the router's own dispatcher;
//! - output: `TransitSink::send_batch(next_hop, msgs)` -> `TransportManager::send_many`
//!   (short-header messages, one queue reservation per batch); `TransitSink::deliver_local(msg)`
//!   -> the router's own dispatcher;
//! - RouterInfo: [`shard::Transit::congestion_cap`] gives the congestion cap letter.

pub mod admission;
pub mod bandwidth;
pub mod bloom;
pub mod build;
pub mod creator;
pub mod fragment;
pub mod garlic;
pub mod inbound_gateway;
pub mod layer;
pub mod metrics;
pub mod noise;
pub mod outbound_endpoint;
pub mod participant;
pub mod record;
pub mod replay;
pub mod shard;

/// A router identity hash.
pub type RouterHash = [u8; 32];
/// A tunnel id as carried in TunnelData / TunnelGateway / build records (nonzero on the wire).
pub type TunnelId = u32;

/// Tunnel lifetime fixed by the spec ("the only supported value is 600").
pub const TUNNEL_LIFETIME_MS: u64 = 600_000;
/// Extra time a transit tunnel is kept after its nominal lifetime: the creator's clock and ours
/// differ, and the last messages of a tunnel may still be in flight when it expires.
pub const TUNNEL_GRACE_MS: u64 = 60_000;

/// Size of the TunnelData body: tunnel id (4) + IV (16) + encrypted data (1008).
pub const TUNNEL_DATA_BODY_LEN: usize = 1028;
/// IV + encrypted data: the part the layer crypto transforms.
pub const TUNNEL_PAYLOAD_LEN: usize = 1024;
/// The CBC-encrypted part after the IV.
pub const TUNNEL_ENCRYPTED_LEN: usize = 1008;
/// A TunnelData message as the transport carries it: 9-byte short header + body.
pub const TUNNEL_DATA_MSG_LEN: usize = 9 + TUNNEL_DATA_BODY_LEN;

/// What a transit hop does with the traffic it receives (flags in the build record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HopRole {
    /// Intermediate hop: decrypt one layer, forward.
    Participant,
    /// Inbound gateway (flag bit 7): accepts TunnelGateway messages from anyone.
    InboundGateway,
    /// Outbound endpoint (flag bit 6): reassembles and delivers to any router or tunnel.
    OutboundEndpoint,
}

impl HopRole {
    pub const ALL: [HopRole; 3] = [
        HopRole::Participant,
        HopRole::InboundGateway,
        HopRole::OutboundEndpoint,
    ];

    /// Metrics label (`role`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Participant => "participant",
            Self::InboundGateway => "ibgw",
            Self::OutboundEndpoint => "obep",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Self::Participant => 0,
            Self::InboundGateway => 1,
            Self::OutboundEndpoint => 2,
        }
    }

    /// The flag byte of a build record (both long and short): bit 7 IBGW, bit 6 OBEP.
    pub fn flags(self) -> u8 {
        match self {
            Self::Participant => 0,
            Self::InboundGateway => 0x80,
            Self::OutboundEndpoint => 0x40,
        }
    }
}

/// Current time in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

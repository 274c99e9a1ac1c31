//! `floodgate bench`: load the relay path of a router under test (UUT) from two routers the
//! bench plays itself, and measure what the UUT does with it. Works against any router that
//! speaks NTCP2 and ECIES tunnel builds (floodgate, i2pd), so both can be measured the same way.
//!
//! * [`transit`]: router A builds tunnels in which the UUT is a participant and B the next hop,
//!   then pushes TunnelData through all of them; B counts what arrives.
//! * [`netdb`]: A stores freshly signed LeaseSet2s at the UUT (a floodfill) and looks them up.
//! * [`session`]: the bench routers' identities and bare NTCP2 client sessions.
//! * [`proc`]: CPU time and resident memory of the UUT process from `/proc`.

pub mod netdb;
pub mod proc;
pub mod session;
pub mod transit;

/// Why a bench run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("router info: {0}")]
    RouterInfo(String),
    #[error("NTCP2 handshake: {0}")]
    Handshake(#[from] crate::transport::ntcp2::HandshakeError),
    #[error("NTCP2 frame: {0}")]
    Frame(#[from] crate::transport::ntcp2::FrameError),
    #[error("NTCP2 blocks: {0}")]
    Wire(#[from] crate::wire::WireError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("the router under test closed the {0} session")]
    Closed(&'static str),
    #[error("tunnel build: {0}")]
    Build(#[from] crate::tunnel::creator::CreatorError),
    #[error("/proc: {0}")]
    Proc(String),
    #[error("{0}")]
    Params(String),
}

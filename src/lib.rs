//! floodgate: a container-native I2P floodfill and relay router.
//!
//! The crate is split into rooms named after protocol concepts (see README "Architecture"):
//! `wire` holds pure codecs (no I/O), `crypto` the primitives and signature schemes, `identity` the
//! router's own keys and RouterInfo, `config` the validated configuration, `ops` the HTTP surface,
//! metrics and telemetry, and `router` wires them together. `bench` is the relay load tool
//! (`floodgate bench`), which measures floodgate or any other router from the outside.

pub mod bench;
pub mod config;
pub mod crypto;
pub mod identity;
pub mod netdb;
pub mod ops;
pub mod router;
pub mod transport;
pub mod tunnel;
pub mod wire;

//! Transports: NTCP2 sessions, connection admission, and the manager that owns sessions by peer.

pub mod limits;
pub mod manager;
pub mod metrics;

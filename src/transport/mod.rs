//! Router-to-router transports. Protocol cores are pure state machines (bytes in, bytes out,
//! time passed in); the tokio tasks that drive them over sockets live beside them. The manager
//! owns sessions by peer; limits hands out connection permits.

pub mod limits;
pub mod manager;
pub mod metrics;
pub mod ntcp2;

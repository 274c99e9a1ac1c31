//! Router-to-router transports. Protocol cores here are pure state machines (bytes in, bytes
//! out, time passed in); the tokio tasks that drive them over sockets live beside them.

pub mod ntcp2;

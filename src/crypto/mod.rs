//! Cryptographic primitives and signature schemes, as I2P uses them.
//!
//! Keys parsed from the wire stay raw bytes in `wire`; they are turned into checked key objects
//! here only when a signature must be verified.

pub mod ecies_router;
pub mod noise;
pub mod signature;

pub use signature::{SignatureError, SigningPrivateKey, SigningPublicKey};

//! Pure codecs for I2P wire formats: no tokio, no I/O, no panics on any input.
//!
//! Every parser takes a byte slice and returns a typed [`WireError`] that names the field and the
//! byte offset where parsing failed. Parsed objects that carry signatures come out as
//! [`Unverified`]; only [`Unverified::verify`]-style calls hand out the inner value for use.

pub mod base64;
pub mod certificate;
pub mod date;
mod error;
pub mod garlic;
pub mod i2np;
pub mod keys;
pub mod keys_and_cert;
pub mod lease_set;
pub mod mapping;
mod reader;
pub mod router_address;
pub mod router_info;
pub mod su3;
pub mod verify;
pub mod zip;

pub use certificate::{Certificate, KeyCertificate};
pub use date::Date;
pub use error::{WireError, WireErrorKind};
pub use keys_and_cert::{Destination, KeysAndCert, RouterIdentity};
pub use lease_set::{
    AnyLeaseSet, EncryptedLeaseSet, Lease, Lease2, LeaseSet, LeaseSet2, LeaseSet2Header, MetaLease,
    MetaLeaseSet, OfflineSignature,
};
pub use mapping::Mapping;
pub use reader::{Reader, Writer};
pub use router_address::RouterAddress;
pub use router_info::{RouterInfo, RouterInfoBuilder};
pub use verify::{ParseVerifyError, VerifyError};

/// A parsed object whose signature has not been checked yet.
///
/// The wrapped value can only be read through [`Unverified::dangerous_inner`] (for logging and
/// index keys, never for trust decisions) or after verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified<T>(T);

impl<T> Unverified<T> {
    pub fn new(inner: T) -> Self {
        Self(inner)
    }
    /// Access without verification. The name is the warning: only for diagnostics and for
    /// computing lookup keys before verification happens.
    pub fn dangerous_inner(&self) -> &T {
        &self.0
    }
    /// Give up verification explicitly (e.g. our own freshly signed object).
    pub fn dangerous_into_inner(self) -> T {
        self.0
    }
}

/// A value whose signature (and any time window it must be checked against) has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// Only code that actually checked the signature may build this; keep it crate-private.
    pub(crate) fn new_checked(inner: T) -> Self {
        Self(inner)
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

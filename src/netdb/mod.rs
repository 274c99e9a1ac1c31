//! The netDb room: the authoritative in-memory index of RouterInfos and LeaseSets, their
//! persistence in RocksDB, validation of every DatabaseStore, and the floodfill engine that
//! answers DatabaseStore / DatabaseLookup messages with [`Action`]s for the I2NP dispatcher
//! (network-database.html, i2np.rst, encryptedleaseset.rst). No transport I/O happens here.

pub mod floodfill;
pub mod index;
pub mod metrics;
pub mod reply;
pub mod reseed;
pub mod search;
#[cfg(feature = "store")]
pub mod store;
pub mod testkit;
pub mod validate;

pub use floodfill::{
    Accepted, Action, ExpiryReport, LookupOutcome, LookupResult, NetDb, NetDbError, NetDbOptions,
    Publication, StoreOutcome,
};
pub use index::{Hash, routing_key};
pub use validate::Rejection;

/// Which kind of entry (and RocksDB column family) a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    RouterInfo,
    LeaseSet,
}

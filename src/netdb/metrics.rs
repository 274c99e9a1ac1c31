//! The netDb's metric families, registered in the router's own registry (no globals).

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct NetDbMetrics {
    /// Entries held, by kind.
    pub entries: IntGaugeVec,
    /// DatabaseStore outcomes, by result (accepted/rejected) and reason.
    pub stores: IntCounterVec,
    /// DatabaseLookup outcomes, by lookup type and result.
    pub lookups: IntCounterVec,
    /// Flood messages handed to the dispatcher (one per target router).
    pub flood_sends: IntCounter,
    /// Latency of one synced RocksDB WriteBatch.
    pub rocksdb_write_seconds: Histogram,
    /// Size of the RocksDB files.
    pub rocksdb_size_bytes: IntGauge,
    /// Entries removed by the expiry sweep or dropped at warm start, by kind and why.
    pub removed: IntCounterVec,
}

/// Entry kinds used as the `kind` label.
pub const KIND_ROUTER_INFO: &str = "router_info";
pub const KIND_FLOODFILL: &str = "floodfill";

/// `kind` label of a LeaseSet by DatabaseStore type.
pub fn lease_set_kind(store_type: u8) -> &'static str {
    match store_type {
        1 => "lease_set",
        3 => "lease_set2",
        5 => "encrypted_lease_set",
        7 => "meta_lease_set",
        _ => "unknown_lease_set",
    }
}

impl NetDbMetrics {
    /// Create the families and register them in `registry`. Fails only if they are already
    /// registered there (one NetDb per router registry).
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            entries: IntGaugeVec::new(
                Opts::new(
                    "floodgate_netdb_entries",
                    "netDb entries held in memory, by kind (router_info, floodfill = the \
                     floodfill subset of router_info, lease_set, lease_set2, \
                     encrypted_lease_set, meta_lease_set).",
                ),
                &["kind"],
            )?,
            stores: IntCounterVec::new(
                Opts::new(
                    "floodgate_netdb_stores_total",
                    "DatabaseStore messages handled, by result (accepted, rejected) and reason \
                     (new/updated when accepted, otherwise why it was refused).",
                ),
                &["result", "reason"],
            )?,
            lookups: IntCounterVec::new(
                Opts::new(
                    "floodgate_netdb_lookups_total",
                    "DatabaseLookup messages handled, by lookup type (any, lease_set, \
                     router_info, exploration) and result (found, not_found, dropped, \
                     unsupported_encryption).",
                ),
                &["type", "result"],
            )?,
            flood_sends: IntCounter::new(
                "floodgate_netdb_flood_sends_total",
                "DatabaseStore messages flooded to other floodfills (one per target router).",
            )?,
            rocksdb_write_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "floodgate_netdb_rocksdb_write_seconds",
                    "Time to write one batch to RocksDB including the WAL fsync, in seconds.",
                )
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5,
                ]),
            )?,
            rocksdb_size_bytes: IntGauge::new(
                "floodgate_netdb_rocksdb_size_bytes",
                "Size of the netDb RocksDB (live SST files plus memtables), in bytes.",
            )?,
            removed: IntCounterVec::new(
                Opts::new(
                    "floodgate_netdb_removed_total",
                    "netDb entries removed, by kind and reason (expired, invalid_at_load).",
                ),
                &["kind", "reason"],
            )?,
        };
        registry.register(Box::new(m.entries.clone()))?;
        registry.register(Box::new(m.stores.clone()))?;
        registry.register(Box::new(m.lookups.clone()))?;
        registry.register(Box::new(m.flood_sends.clone()))?;
        registry.register(Box::new(m.rocksdb_write_seconds.clone()))?;
        registry.register(Box::new(m.rocksdb_size_bytes.clone()))?;
        registry.register(Box::new(m.removed.clone()))?;
        Ok(m)
    }

    /// A set registered in a private registry (tests, benches, tools).
    pub fn unregistered() -> Self {
        Self::register(&Registry::new()).expect("a fresh registry has no duplicates")
    }
}

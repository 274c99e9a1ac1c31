//! The netDb engine the I2NP dispatcher calls: DatabaseStore handling (validate, store, ack,
//! flood), DatabaseLookup answering, publication of our own RouterInfo and the expiry sweep.
//! It does no I/O of its own: every message to send comes back as an [`Action`].
//!
//! Concurrency: the index sits behind a `std::sync::RwLock` that is never held across an
//! `.await`; validation (inflate + signature) runs on tokio's blocking pool; RocksDB writes go
//! to the store's writer thread. The dispatcher can therefore call the handlers from as many
//! tasks as it likes, and should: a store whose reply token asks for a DeliveryStatus returns
//! only after its batch is fsynced (a few ms), so handling netDb messages one after the other
//! in a single task would serialize on disk latency.

use super::EntryKind;
use super::index::{
    Hash, LeaseSetEntry, NetDbIndex, RouterEntry, routing_key, routing_keys_near_midnight,
};
use super::metrics::{KIND_FLOODFILL, KIND_ROUTER_INFO, NetDbMetrics, lease_set_kind};
use super::reply::wrap_ecies_reply;
#[cfg(feature = "store")]
use super::store::{Store, StoreError};
use super::validate::{
    Held, ROUTER_INFO_MAX_AGE_FLOODFILL_MS, ROUTER_INFO_MAX_AGE_MS, Rejection, ValidEntry,
    ValidLeaseSet, ValidationContext, validate,
};
#[cfg(feature = "store")]
use super::validate::{check_lease_set, validate_router_info_bytes};
use crate::ops::status::RouterStatus;
use crate::wire::i2np::{
    DatabaseLookup, DatabaseSearchReply, DatabaseStore, DeliveryStatus, I2npBody, I2npMessage,
    LookupType, ReplyEncryption, StoreKind, StoreReply, TunnelGateway,
};
use crate::wire::{RouterInfo, WireError};
use rand::Rng;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use thiserror::Error;
#[cfg(feature = "store")]
use tracing::info;
use tracing::{debug, warn};

/// Floodfills a new entry is flooded to (network-database "Flooding": currently 3).
pub const FLOOD_REDUNDANCY: usize = 3;
/// Extra floodfills, closest by tomorrow's routing key, flooded to near midnight UTC.
pub const FLOOD_NEXT_DAY_EXTRA: usize = 2;
/// Within this many minutes of midnight a RouterInfo is also flooded by tomorrow's routing key
/// (i2pd NETDB_NEXT_DAY_ROUTER_INFO_THRESHOLD); RouterInfos live an hour at floodfills.
pub const NEXT_DAY_ROUTER_INFO_MINUTES: u64 = 45;
/// The same for LeaseSets, which live ten minutes (i2pd NETDB_NEXT_DAY_LEASESET_THRESHOLD).
pub const NEXT_DAY_LEASE_SET_MINUTES: u64 = 10;
/// Floodfills listed in a DatabaseSearchReply to a failed lookup (i2np.rst: "typical: 3").
pub const SEARCH_REPLY_FLOODFILLS: usize = 3;
/// Non-floodfill routers listed in an exploration reply (i2np.rst: "recommended maximum 16").
pub const EXPLORATION_REPLY_PEERS: usize = 16;
/// Floodfills our own RouterInfo is published to at each publication.
pub const ROUTER_INFO_PUBLISH_FLOODFILLS: usize = 2;
/// How often to republish our RouterInfo. Floodfills expire RouterInfos one hour after their
/// published date, so a fresh RouterInfo must reach them well within the hour; 30 minutes leaves
/// room for a failed attempt and a retry to other floodfills.
pub const ROUTER_INFO_REPUBLISH_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// How often the router should call [`NetDb::expire`].
pub const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Expiration we put on replies, DeliveryStatus and flood messages.
pub const REPLY_EXPIRATION_MS: u64 = 60_000;
/// The spec's grace period: no RouterInfo expiry during the first hour of uptime, as stored
/// data may be old and we need it to find the network again.
pub const NO_EXPIRY_UPTIME_MS: u64 = 60 * 60 * 1000;
/// No RouterInfo expiry while we hold this few (network-database "RouterInfo Expiration").
pub const MIN_ROUTER_INFOS_FOR_EXPIRY: usize = 25;
/// Default for [`NetDbOptions::ready_min_router_infos`]: the netDb is "ready" once it holds this
/// many RouterInfos, the same threshold below which the spec stops expiring them.
pub const DEFAULT_READY_MIN_ROUTER_INFOS: usize = MIN_ROUTER_INFOS_FOR_EXPIRY;
/// Name of the readiness condition.
pub const READINESS_CONDITION: &str = "netdb";

/// What the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct NetDbOptions {
    /// `<data_dir>`; the RocksDB lives in `<data_dir>/netdb`. `None`: memory only.
    pub data_dir: Option<PathBuf>,
    pub net_id: u8,
    pub floodfill: bool,
    pub our_hash: Hash,
    pub ready_min_router_infos: usize,
    /// Oldest `router.version` counted as a floodfill (`netdb.floodfill_min_version`).
    pub floodfill_min_version: crate::netdb::index::Version,
}

#[derive(Debug, Error)]
pub enum NetDbError {
    #[cfg(feature = "store")]
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("registering netDb metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("a netDb store directory is configured but floodgate was built without `store`")]
    StoreNotBuilt,
}

/// A message the dispatcher must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `msg` to router `to` over a direct transport connection.
    SendDirect { to: Hash, msg: I2npMessage },
    /// Send `msg` to router `gateway` over a direct connection. `msg` is already the
    /// TunnelGateway message (type 19) for inbound tunnel `tunnel_id` at that gateway, carrying
    /// the reply; `tunnel_id` is repeated here for logs and metrics.
    SendViaTunnel {
        gateway: Hash,
        tunnel_id: u32,
        msg: I2npMessage,
    },
    /// Send a copy of `msg` to each router in `to` over direct connections ("Floodfills must
    /// not flood via tunnels"). A router we cannot reach is skipped, not retried.
    Flood { to: Vec<Hash>, msg: I2npMessage },
}

/// Why a store was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New,
    Updated,
}

impl Accepted {
    fn label(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Updated => "updated",
        }
    }
}

/// Result of [`NetDb::on_database_store`].
#[derive(Debug)]
pub struct StoreOutcome {
    pub result: Result<Accepted, Rejection>,
    /// DeliveryStatus (when acknowledged) and Flood actions.
    pub actions: Vec<Action>,
}

/// Result of a lookup, also the `result` metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupResult {
    /// Answered with a DatabaseStore.
    Found,
    /// Answered with a DatabaseSearchReply.
    NotFound,
    /// Not answered (reason in the string: not a floodfill, zero key, ...).
    Dropped(&'static str),
    /// Reply encryption we do not implement (ElGamal/AES) was required; not answered.
    UnsupportedEncryption,
}

impl LookupResult {
    fn label(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::NotFound => "not_found",
            Self::Dropped(_) => "dropped",
            Self::UnsupportedEncryption => "unsupported_encryption",
        }
    }
}

/// Result of [`NetDb::on_database_lookup`].
#[derive(Debug)]
pub struct LookupOutcome {
    pub result: LookupResult,
    pub actions: Vec<Action>,
}

/// Our RouterInfo publication: the messages to send and the reply tokens to expect back in
/// DeliveryStatus messages (message id = token).
#[derive(Debug)]
pub struct Publication {
    pub actions: Vec<Action>,
    pub reply_tokens: Vec<(Hash, NonZeroU32)>,
}

/// What one expiry sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryReport {
    pub router_infos: usize,
    pub lease_sets: usize,
}

/// The netDb engine. Cheap to clone (shared state).
#[derive(Clone)]
pub struct NetDb {
    shared: Arc<Shared>,
}

struct Shared {
    opts: NetDbOptions,
    index: RwLock<NetDbIndex>,
    /// gzip form of RouterInfos for lookup replies, filled lazily for warm-start entries.
    #[cfg(feature = "store")]
    store: Option<Store>,
    metrics: NetDbMetrics,
    status: Arc<RouterStatus>,
    started_ms: u64,
    /// Bounds concurrent validations to the core count: under a burst of stores the work
    /// queues here instead of filling tokio's blocking pool (up to 512 threads) with signature
    /// checks that would only compete for the same cores.
    validators: tokio::sync::Semaphore,
}

fn lookup_type_label(t: LookupType, exploratory: bool) -> &'static str {
    if exploratory {
        return "exploration";
    }
    match t {
        LookupType::Any => "any",
        LookupType::LeaseSet => "lease_set",
        LookupType::RouterInfo => "router_info",
        LookupType::Exploration => "exploration",
    }
}

fn random_msg_id() -> u32 {
    rand::thread_rng().gen_range(1..=u32::MAX)
}

fn message(body: I2npBody, now_ms: u64) -> I2npMessage {
    I2npMessage {
        msg_id: random_msg_id(),
        expiration_ms: now_ms.saturating_add(REPLY_EXPIRATION_MS),
        body,
    }
}

/// Route a reply: directly to `to`, or wrapped in a TunnelGateway for `tunnel` at `to`.
fn route(
    to: Hash,
    tunnel: Option<u32>,
    msg: I2npMessage,
    now_ms: u64,
) -> Result<Action, WireError> {
    match tunnel {
        None | Some(0) => Ok(Action::SendDirect { to, msg }),
        Some(tunnel_id) => {
            let tgw = TunnelGateway::wrap(tunnel_id, &msg)?;
            Ok(Action::SendViaTunnel {
                gateway: to,
                tunnel_id,
                msg: message(I2npBody::TunnelGateway(tgw), now_ms),
            })
        }
    }
}

fn lock_poisoned<T>(p: std::sync::PoisonError<T>) -> T {
    // A panic while holding the lock leaves the index as it was between two complete updates
    // (every update is a few map operations); keep serving rather than crash the router.
    p.into_inner()
}

impl NetDb {
    /// Open the netDb: RocksDB at `<data_dir>/netdb` when configured (warm start: every stored
    /// entry is re-verified; expired or invalid ones are dropped from disk), metrics registered
    /// in `registry`, readiness condition "netdb" declared on `status`.
    ///
    /// Blocking (disk reads and signature checks): call it before the runtime serves traffic or
    /// via `spawn_blocking`.
    pub fn open(
        opts: NetDbOptions,
        registry: &prometheus::Registry,
        status: Arc<RouterStatus>,
        now_ms: u64,
    ) -> Result<Self, NetDbError> {
        let metrics = NetDbMetrics::register(registry)?;
        Self::open_with_metrics(opts, metrics, status, now_ms)
    }

    /// [`NetDb::open`] with metric families created by the caller.
    pub fn open_with_metrics(
        opts: NetDbOptions,
        metrics: NetDbMetrics,
        status: Arc<RouterStatus>,
        now_ms: u64,
    ) -> Result<Self, NetDbError> {
        #[cfg_attr(not(feature = "store"), allow(unused_mut))]
        let mut index = NetDbIndex::with_floodfill_min_version(opts.floodfill_min_version);
        #[cfg(feature = "store")]
        let store = match &opts.data_dir {
            Some(dir) => {
                let (store, stored) = Store::open(dir, &metrics)?;
                let ctx = ValidationContext {
                    our_hash: opts.our_hash,
                    net_id: opts.net_id,
                    floodfill: opts.floodfill,
                    // Warm start: the long limit; the spec forbids expiring during the first
                    // hour of uptime because stored data may be old.
                    router_info_max_age_ms: ROUTER_INFO_MAX_AGE_MS,
                };
                let mut drop_keys = stored.malformed;
                let loaded = warm_start(&ctx, stored.router_infos, stored.lease_sets, now_ms);
                for ri in loaded.router_infos {
                    index.insert_router(Arc::new(ri));
                }
                for ls in loaded.lease_sets {
                    index.insert_lease_set(ls.key, lease_set_entry(ls));
                }
                for (kind, key, why) in &loaded.dropped {
                    let label = match kind {
                        EntryKind::RouterInfo => KIND_ROUTER_INFO,
                        EntryKind::LeaseSet => "lease_set",
                    };
                    metrics.removed.with_label_values(&[label, why]).inc();
                    drop_keys.push((*kind, key.to_vec()));
                }
                store.delete_now(&drop_keys)?;
                info!(
                    path = %store.path().display(),
                    router_infos = index.router_count(),
                    floodfills = index.floodfill_count(),
                    lease_sets = index.lease_set_count(),
                    dropped = drop_keys.len(),
                    "netDb loaded"
                );
                Some(store)
            }
            None => None,
        };
        #[cfg(not(feature = "store"))]
        if opts.data_dir.is_some() {
            return Err(NetDbError::StoreNotBuilt);
        }
        let db = Self {
            shared: Arc::new(Shared {
                opts,
                index: RwLock::new(index),
                #[cfg(feature = "store")]
                store,
                metrics,
                status,
                started_ms: now_ms,
                validators: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, |n| n.get()),
                ),
            }),
        };
        db.refresh_gauges();
        Ok(db)
    }

    pub fn metrics(&self) -> &NetDbMetrics {
        &self.shared.metrics
    }

    pub fn our_hash(&self) -> Hash {
        self.shared.opts.our_hash
    }

    pub fn is_floodfill(&self) -> bool {
        self.shared.opts.floodfill
    }

    /// Number of RouterInfos, floodfills and LeaseSets held.
    pub fn counts(&self) -> (usize, usize, usize) {
        let i = self.shared.index.read().unwrap_or_else(lock_poisoned);
        (i.router_count(), i.floodfill_count(), i.lease_set_count())
    }

    /// A RouterInfo we hold (including our own once published).
    /// Is this RouterInfo a floodfill by our rules (`netdb.floodfill_min_version` included)?
    pub fn is_usable_floodfill(&self, ri: &RouterInfo) -> bool {
        self.shared
            .index
            .read()
            .unwrap_or_else(lock_poisoned)
            .is_usable_floodfill(ri)
    }

    pub fn router_info(&self, hash: &Hash) -> Option<Arc<RouterInfo>> {
        let i = self.shared.index.read().unwrap_or_else(lock_poisoned);
        i.router(hash).map(|e| e.info.clone())
    }

    /// A LeaseSet we hold: (DatabaseStore type, raw bytes).
    pub fn lease_set(&self, key: &Hash) -> Option<(u8, Vec<u8>)> {
        let i = self.shared.index.read().unwrap_or_else(lock_poisoned);
        i.lease_set(key)
            .map(|e| (e.store_type, e.lease_set.as_bytes().to_vec()))
    }

    /// The `k` floodfills closest to `key` by today's routing key, excluding `excluded`.
    pub fn closest_floodfills(
        &self,
        key: &Hash,
        k: usize,
        excluded: &HashSet<Hash>,
        now_ms: u64,
    ) -> Vec<Hash> {
        let rk = routing_key(key, now_ms);
        let i = self.shared.index.read().unwrap_or_else(lock_poisoned);
        i.closest_floodfills(&rk, k, excluded)
    }

    /// Put a verified RouterInfo into the index and on disk without the store checks: for
    /// reseeding and for RouterInfos received in transport handshakes (NTCP2 RouterInfo block),
    /// which the transport has already verified. Never use it for DatabaseStore messages.
    pub async fn insert_verified_router_info(&self, ri: RouterInfo) {
        let hash = ri.hash();
        let bytes = ri.as_bytes().to_vec();
        {
            let mut i = self.shared.index.write().unwrap_or_else(lock_poisoned);
            if i.router(&hash)
                .is_some_and(|e| e.published_ms >= ri.published().millis())
            {
                return;
            }
            i.insert_router(Arc::new(ri));
        }
        self.refresh_gauges();
        if hash != self.shared.opts.our_hash
            && let Err(e) = self
                .persist_put(EntryKind::RouterInfo, hash, bytes, false)
                .await
        {
            warn!(error = %e, "netDb: RouterInfo kept in memory only");
        }
    }

    fn ri_max_age(&self, now_ms: u64) -> u64 {
        let uptime = now_ms.saturating_sub(self.shared.started_ms);
        if self.shared.opts.floodfill && uptime >= NO_EXPIRY_UPTIME_MS {
            ROUTER_INFO_MAX_AGE_FLOODFILL_MS
        } else {
            ROUTER_INFO_MAX_AGE_MS
        }
    }

    fn validation_context(&self, now_ms: u64) -> ValidationContext {
        ValidationContext {
            our_hash: self.shared.opts.our_hash,
            net_id: self.shared.opts.net_id,
            floodfill: self.shared.opts.floodfill,
            router_info_max_age_ms: self.ri_max_age(now_ms),
        }
    }

    fn held(&self, kind: StoreKind, key: &Hash) -> Option<Held> {
        let i = self.shared.index.read().unwrap_or_else(lock_poisoned);
        if kind == StoreKind::RouterInfo {
            i.router(key).map(|e| Held {
                store_type: 0,
                version_ms: e.published_ms,
            })
        } else {
            i.lease_set(key).map(|e| Held {
                store_type: e.store_type,
                version_ms: e.version_ms,
            })
        }
    }

    /// Handle a DatabaseStore from router `from` (the peer that handed it to us).
    /// `received_directly` is false when it came out of one of our inbound tunnels; a store
    /// unwrapped from a Garlic message sent to our router over a transport is direct.
    ///
    /// Returns once the entry is in the index and, when a DeliveryStatus is due, durable on
    /// disk: the DeliveryStatus action is only produced after the write's fsync.
    pub async fn on_database_store(
        &self,
        from: Hash,
        msg: DatabaseStore,
        received_directly: bool,
        now_ms: u64,
    ) -> StoreOutcome {
        let held = self.held(msg.kind, &msg.key);
        let ctx = self.validation_context(now_ms);
        let msg = Arc::new(msg);
        // The semaphore is never closed, so acquiring only waits.
        let Ok(permit) = self.shared.validators.acquire().await else {
            return self.finish_store(Err(Rejection::Internal), Vec::new());
        };
        let validated = {
            let msg = msg.clone();
            tokio::task::spawn_blocking(move || {
                validate(&ctx, &msg, received_directly, held, now_ms)
            })
            .await
        };
        // Only validation is CPU-bound; waiting for the disk below must not hold a slot.
        drop(permit);
        let validated = match validated {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "netDb validation task failed");
                return self.finish_store(Err(Rejection::Internal), Vec::new());
            }
        };
        // For security the reply fields are ignored if the message came down a tunnel
        // (i2np.rst DatabaseStore notes).
        let reply = msg.reply.filter(|_| received_directly);
        let entry = match validated {
            Ok(e) => e,
            Err(rej) => {
                let actions = if rej == Rejection::NotNewer {
                    self.ack_duplicate(reply.as_ref(), now_ms).await
                } else {
                    Vec::new()
                };
                debug!(key = %short(&msg.key), from = %short(&from), reason = rej.reason(), "DatabaseStore rejected");
                return self.finish_store(Err(rej), actions);
            }
        };

        // Apply to the index, re-checking "newer" against what may have arrived meanwhile.
        let key = entry.key();
        let applied = {
            let mut i = self.shared.index.write().unwrap_or_else(lock_poisoned);
            match entry {
                ValidEntry::RouterInfo(ri) => {
                    let published = ri.published().millis();
                    if i.router(&key).is_some_and(|e| e.published_ms >= published) {
                        // The same copy often arrives twice at once (a router's handshake
                        // RouterInfo block and its first publication): acked below too.
                        None
                    } else {
                        let value = ri.as_bytes().to_vec();
                        let gz = Arc::new(OnceLock::new());
                        // We have the compressed form already: keep it for lookup replies.
                        let _ = gz.set(msg.data.clone());
                        let old = i.insert_router(Arc::new(ri));
                        gzip_cache_put(&mut i, &key, gz);
                        Some((
                            if old.is_some() {
                                Accepted::Updated
                            } else {
                                Accepted::New
                            },
                            EntryKind::RouterInfo,
                            value,
                            Some(published),
                        ))
                    }
                }
                ValidEntry::LeaseSet(ls) => {
                    if i.lease_set(&key).is_some_and(|e| {
                        e.store_type == ls.store_type && e.version_ms >= ls.version_ms
                    }) {
                        None
                    } else {
                        let mut value = Vec::with_capacity(1 + msg.data.len());
                        value.push(ls.store_type);
                        value.extend_from_slice(ls.lease_set.as_bytes());
                        let old = i.insert_lease_set(key, lease_set_entry(ls));
                        Some((
                            if old.is_some() {
                                Accepted::Updated
                            } else {
                                Accepted::New
                            },
                            EntryKind::LeaseSet,
                            value,
                            None,
                        ))
                    }
                }
            }
        };
        let Some((accepted, kind, value, published_ms)) = applied else {
            // Lost the race to an equal or newer copy that arrived meanwhile.
            let actions = self.ack_duplicate(reply.as_ref(), now_ms).await;
            return self.finish_store(Err(Rejection::NotNewer), actions);
        };
        self.refresh_gauges();

        let mut actions = Vec::new();
        // Flood only what came directly with a reply token, as a floodfill (i2np.rst: "A
        // floodfill router is also expected to flood the data ... if the token is greater than
        // zero"), and never a RouterInfo published more than an hour ago.
        let fresh = published_ms
            .is_none_or(|p| p.saturating_add(ROUTER_INFO_MAX_AGE_FLOODFILL_MS) >= now_ms);
        if reply.is_some() && self.shared.opts.floodfill && fresh {
            actions.extend(self.flood(&from, &msg, now_ms));
        }
        let persisted = self.persist_put(kind, key, value, reply.is_some()).await;
        match (persisted, reply) {
            (Ok(()), Some(reply)) => actions.extend(self.delivery_status(&reply, now_ms)),
            (Ok(()), None) => {}
            (Err(e), _) => {
                warn!(error = %e, key = %short(&key), "netDb: entry kept in memory only, not acknowledged")
            }
        }
        self.finish_store(Ok(accepted), actions)
    }

    /// A duplicate store (we hold this version or a newer one): the storer's data is here, so
    /// acknowledge it once whatever is queued (maybe that very copy) is durable, or the storer
    /// would retry at other floodfills for nothing.
    async fn ack_duplicate(&self, reply: Option<&StoreReply>, now_ms: u64) -> Vec<Action> {
        let Some(reply) = reply else {
            return Vec::new();
        };
        match self.persist_barrier().await {
            Ok(()) => self.delivery_status(reply, now_ms).into_iter().collect(),
            Err(e) => {
                warn!(error = %e, "netDb: no ack, store not durable");
                Vec::new()
            }
        }
    }

    fn finish_store(
        &self,
        result: Result<Accepted, Rejection>,
        actions: Vec<Action>,
    ) -> StoreOutcome {
        let (r, reason) = match &result {
            Ok(a) => ("accepted", a.label()),
            Err(rej) => ("rejected", rej.reason()),
        };
        self.shared
            .metrics
            .stores
            .with_label_values(&[r, reason])
            .inc();
        StoreOutcome { result, actions }
    }

    fn delivery_status(&self, reply: &StoreReply, now_ms: u64) -> Option<Action> {
        let ds = message(
            I2npBody::DeliveryStatus(DeliveryStatus {
                msg_id: reply.token.get(),
                timestamp: now_ms,
            }),
            now_ms,
        );
        match route(reply.gateway, Some(reply.tunnel_id), ds, now_ms) {
            Ok(a) => Some(a),
            Err(e) => {
                warn!(error = %e, "netDb: cannot build DeliveryStatus");
                None
            }
        }
    }

    /// Flood targets for `key`: the closest floodfills by today's routing key and, near
    /// midnight, by tomorrow's; never ourselves, the sender or the entry's own router.
    fn flood_targets(&self, key: &Hash, from: &Hash, kind: StoreKind, now_ms: u64) -> Vec<Hash> {
        let threshold = if kind == StoreKind::RouterInfo {
            NEXT_DAY_ROUTER_INFO_MINUTES
        } else {
            NEXT_DAY_LEASE_SET_MINUTES
        };
        let (today, tomorrow) = routing_keys_near_midnight(key, now_ms, threshold);
        let mut excluded: HashSet<Hash> = [self.shared.opts.our_hash, *from, *key].into();
        let i = self.shared.index.read().unwrap_or_else(lock_poisoned);
        let mut targets = i.closest_floodfills(&today, FLOOD_REDUNDANCY, &excluded);
        if let Some(tomorrow) = tomorrow {
            excluded.extend(targets.iter().copied());
            targets.extend(i.closest_floodfills(&tomorrow, FLOOD_NEXT_DAY_EXTRA, &excluded));
        }
        targets
    }

    fn flood(&self, from: &Hash, msg: &DatabaseStore, now_ms: u64) -> Option<Action> {
        let to = self.flood_targets(&msg.key, from, msg.kind, now_ms);
        if to.is_empty() {
            return None;
        }
        self.shared.metrics.flood_sends.inc_by(to.len() as u64);
        let store = DatabaseStore {
            key: msg.key,
            kind: msg.kind,
            type_reserved_bits: 0,
            reply: None,
            data: msg.data.clone(),
        };
        Some(Action::Flood {
            to,
            msg: message(I2npBody::DatabaseStore(store), now_ms),
        })
    }

    /// Answer a DatabaseLookup received from router `from` (the peer that handed it to us; the
    /// reply goes where the lookup says, `msg.from` and its optional reply tunnel).
    pub fn on_database_lookup(
        &self,
        from: Hash,
        msg: DatabaseLookup,
        now_ms: u64,
    ) -> LookupOutcome {
        let exploratory = msg.is_exploratory();
        let type_label = lookup_type_label(msg.lookup_type, exploratory);
        let outcome = self.answer_lookup(&msg, exploratory, now_ms);
        self.shared
            .metrics
            .lookups
            .with_label_values(&[type_label, outcome.result.label()])
            .inc();
        if let LookupResult::Dropped(why) = outcome.result {
            debug!(key = %short(&msg.key), from = %short(&from), why, "DatabaseLookup dropped");
        }
        outcome
    }

    fn answer_lookup(&self, msg: &DatabaseLookup, exploratory: bool, now_ms: u64) -> LookupOutcome {
        let dropped = |why| LookupOutcome {
            result: LookupResult::Dropped(why),
            actions: Vec::new(),
        };
        if msg.key == [0u8; 32] {
            return dropped("zero key");
        }
        let floodfill = self.shared.opts.floodfill;
        // Encryption only matters for replies through a tunnel (i2np.rst: "Encrypted replies
        // are only useful when the response is through a tunnel"); i2pd ignores the flags for
        // direct replies and so do we.
        if msg.reply_tunnel.is_some()
            && matches!(msg.reply_encryption, ReplyEncryption::ElGamalAes { .. })
        {
            // ElGamal/AES replies are for ElGamal floodfills, deprecated since 0.9.58; we are
            // an ECIES router, so a conforming requester never asks us for them.
            return LookupOutcome {
                result: LookupResult::UnsupportedEncryption,
                actions: Vec::new(),
            };
        }
        let our = self.shared.opts.our_hash;
        let mut excluded: HashSet<Hash> = msg.excluded_peers.iter().copied().collect();
        excluded.insert(our);
        let (result, body) = {
            let i = self.shared.index.read().unwrap_or_else(lock_poisoned);
            if exploratory {
                if !floodfill {
                    return dropped("exploration lookup to a non-floodfill");
                }
                // Non-floodfills close to the (random) key; as i2pd we do not look the key up.
                excluded.insert(msg.from);
                let rk = routing_key(&msg.key, now_ms);
                let peers = i.closest_non_floodfills(&rk, EXPLORATION_REPLY_PEERS, &excluded);
                (LookupResult::NotFound, search_reply(msg.key, peers, our))
            } else {
                let mut found = None;
                if matches!(msg.lookup_type, LookupType::RouterInfo | LookupType::Any)
                    && let Some(e) = i.router(&msg.key)
                {
                    found = router_store(&msg.key, e);
                }
                if found.is_none()
                    && matches!(msg.lookup_type, LookupType::LeaseSet | LookupType::Any)
                {
                    if floodfill {
                        if let Some(e) = i.lease_set(&msg.key)
                            && e.expires_ms > now_ms
                        {
                            found = Some(DatabaseStore {
                                key: msg.key,
                                kind: StoreKind::from_type_byte(e.store_type)
                                    .unwrap_or(StoreKind::LeaseSet),
                                type_reserved_bits: 0,
                                reply: None,
                                data: e.lease_set.as_bytes().to_vec(),
                            });
                        }
                    } else if msg.lookup_type == LookupType::LeaseSet {
                        return dropped("LeaseSet lookup to a non-floodfill");
                    }
                }
                match found {
                    Some(store) => (LookupResult::Found, I2npBody::DatabaseStore(store)),
                    None => {
                        let rk = routing_key(&msg.key, now_ms);
                        let peers = i.closest_floodfills(&rk, SEARCH_REPLY_FLOODFILLS, &excluded);
                        (LookupResult::NotFound, search_reply(msg.key, peers, our))
                    }
                }
            }
        };
        let mut reply = message(body, now_ms);
        if msg.reply_tunnel.is_some()
            && let ReplyEncryption::Ecies { reply_key, tag } = &msg.reply_encryption
        {
            let pad = rand::thread_rng().gen_range(0..16u8);
            match wrap_ecies_reply(
                &reply,
                reply_key,
                tag,
                pad,
                random_msg_id(),
                reply.expiration_ms,
            ) {
                Ok(g) => reply = g,
                Err(e) => {
                    warn!(error = %e, "netDb: cannot encrypt lookup reply");
                    return dropped("reply encryption failed");
                }
            }
        }
        match route(msg.from, msg.reply_tunnel, reply, now_ms) {
            Ok(a) => LookupOutcome {
                result,
                actions: vec![a],
            },
            Err(e) => {
                warn!(error = %e, "netDb: cannot build lookup reply");
                dropped("reply does not encode")
            }
        }
    }

    /// Put our own (freshly signed) RouterInfo in the index, so lookups for us are answered,
    /// and build its publication: a DatabaseStore with a fresh reply token to each of the
    /// [`ROUTER_INFO_PUBLISH_FLOODFILLS`] floodfills closest to our routing key, replies
    /// directly to us. Call at start and every [`ROUTER_INFO_REPUBLISH_INTERVAL`] with a
    /// RouterInfo re-signed with a current published date.
    pub fn publish_router_info(&self, ri: &RouterInfo, now_ms: u64) -> Publication {
        let our = self.shared.opts.our_hash;
        let targets = {
            let mut i = self.shared.index.write().unwrap_or_else(lock_poisoned);
            i.insert_router(Arc::new(ri.clone()));
            let rk = routing_key(&our, now_ms);
            i.closest_floodfills(&rk, ROUTER_INFO_PUBLISH_FLOODFILLS, &[our].into())
        };
        self.refresh_gauges();
        let data = match ri.to_gzip() {
            Ok(d) => d,
            Err(e) => {
                warn!(error = %e, "netDb: cannot compress our RouterInfo");
                return Publication {
                    actions: Vec::new(),
                    reply_tokens: Vec::new(),
                };
            }
        };
        let mut actions = Vec::new();
        let mut reply_tokens = Vec::new();
        for to in targets {
            let token = NonZeroU32::new(random_msg_id()).unwrap_or(NonZeroU32::MIN);
            let store = DatabaseStore {
                key: our,
                kind: StoreKind::RouterInfo,
                type_reserved_bits: 0,
                reply: Some(StoreReply {
                    token,
                    tunnel_id: 0,
                    gateway: our,
                }),
                data: data.clone(),
            };
            actions.push(Action::SendDirect {
                to,
                msg: message(I2npBody::DatabaseStore(store), now_ms),
            });
            reply_tokens.push((to, token));
        }
        Publication {
            actions,
            reply_tokens,
        }
    }

    /// Remove expired entries from the index and disk: LeaseSets at their expiry, RouterInfos
    /// older than the RouterInfo age limit (1 hour for a floodfill after its first hour of
    /// uptime, 27 hours otherwise), but none while we hold 25 or fewer or during the first hour
    /// of uptime (network-database "RouterInfo Expiration"). Our own RouterInfo stays.
    pub async fn expire(&self, now_ms: u64) -> ExpiryReport {
        let our = self.shared.opts.our_hash;
        let uptime = now_ms.saturating_sub(self.shared.started_ms);
        let max_age = self.ri_max_age(now_ms);
        let (routers, lease_sets) = {
            let mut i = self.shared.index.write().unwrap_or_else(lock_poisoned);
            let routers: Vec<Hash> = if uptime < NO_EXPIRY_UPTIME_MS
                || i.router_count() <= MIN_ROUTER_INFOS_FOR_EXPIRY
            {
                Vec::new()
            } else {
                i.routers()
                    .filter(|(h, e)| **h != our && e.published_ms.saturating_add(max_age) < now_ms)
                    .map(|(h, _)| *h)
                    .collect()
            };
            let lease_sets: Vec<(Hash, u8)> = i
                .lease_sets()
                .filter(|(_, e)| e.expires_ms <= now_ms)
                .map(|(h, e)| (*h, e.store_type))
                .collect();
            for h in &routers {
                i.remove_router(h);
            }
            for (h, _) in &lease_sets {
                i.remove_lease_set(h);
            }
            (routers, lease_sets)
        };
        let m = &self.shared.metrics;
        if !routers.is_empty() {
            m.removed
                .with_label_values(&[KIND_ROUTER_INFO, "expired"])
                .inc_by(routers.len() as u64);
        }
        for (_, t) in &lease_sets {
            m.removed
                .with_label_values(&[lease_set_kind(*t), "expired"])
                .inc();
        }
        self.refresh_gauges();
        for h in &routers {
            self.persist_delete(EntryKind::RouterInfo, *h).await;
        }
        for (h, _) in &lease_sets {
            self.persist_delete(EntryKind::LeaseSet, *h).await;
        }
        ExpiryReport {
            router_infos: routers.len(),
            lease_sets: lease_sets.len(),
        }
    }

    fn refresh_gauges(&self) {
        let (ri, ff, ls, by_type) = {
            let i = self.shared.index.read().unwrap_or_else(lock_poisoned);
            (
                i.router_count(),
                i.floodfill_count(),
                i.lease_set_count(),
                i.lease_set_counts_by_type(),
            )
        };
        let m = &self.shared.metrics;
        m.entries
            .with_label_values(&[KIND_ROUTER_INFO])
            .set(ri as i64);
        m.entries
            .with_label_values(&[KIND_FLOODFILL])
            .set(ff as i64);
        for (t, n) in by_type {
            m.entries
                .with_label_values(&[lease_set_kind(t)])
                .set(n as i64);
        }
        let s = &self.shared.status;
        s.netdb_router_infos.store(ri as u64, Ordering::Relaxed);
        s.netdb_floodfills.store(ff as u64, Ordering::Relaxed);
        s.netdb_lease_sets.store(ls as u64, Ordering::Relaxed);
        let need = self.shared.opts.ready_min_router_infos;
        s.set_condition(
            READINESS_CONDITION,
            if ri >= need {
                Ok(())
            } else {
                Err(format!("holding {ri} RouterInfos, need at least {need}"))
            },
        );
    }

    #[cfg(feature = "store")]
    async fn persist_put(
        &self,
        kind: EntryKind,
        key: Hash,
        value: Vec<u8>,
        durable: bool,
    ) -> Result<(), String> {
        let Some(store) = &self.shared.store else {
            return Ok(());
        };
        match store.put(kind, key, value, durable).await {
            Ok(Some(d)) => d.wait().await.map_err(|e| e.to_string()),
            Ok(None) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[cfg(not(feature = "store"))]
    async fn persist_put(&self, _: EntryKind, _: Hash, _: Vec<u8>, _: bool) -> Result<(), String> {
        // Built without persistence: the index is all there is, so an ack means "in memory".
        Ok(())
    }

    #[cfg(feature = "store")]
    async fn persist_barrier(&self) -> Result<(), String> {
        let Some(store) = &self.shared.store else {
            return Ok(());
        };
        match store.barrier().await {
            Ok(d) => d.wait().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[cfg(not(feature = "store"))]
    async fn persist_barrier(&self) -> Result<(), String> {
        Ok(())
    }

    #[cfg(feature = "store")]
    async fn persist_delete(&self, kind: EntryKind, key: Hash) {
        if let Some(store) = &self.shared.store
            && let Err(e) = store.delete(kind, key).await
        {
            warn!(error = %e, "netDb: delete not persisted; the entry is re-checked at next start");
        }
    }

    #[cfg(not(feature = "store"))]
    async fn persist_delete(&self, _: EntryKind, _: Hash) {}

    /// Stop the disk writer after it has written everything queued. Other clones of this
    /// `NetDb` keep working in memory only if they outlive it; call it at shutdown.
    pub fn close(self) {
        #[cfg(feature = "store")]
        if let Ok(shared) = Arc::try_unwrap(self.shared)
            && let Some(store) = shared.store
        {
            store.close();
        }
    }
}

fn short(h: &Hash) -> String {
    crate::wire::base64::encode(&h[..6])
}

fn search_reply(key: Hash, peers: Vec<Hash>, from: Hash) -> I2npBody {
    I2npBody::DatabaseSearchReply(DatabaseSearchReply { key, peers, from })
}

/// The DatabaseStore answering a RouterInfo lookup.
fn router_store(key: &Hash, e: &RouterEntry) -> Option<DatabaseStore> {
    let data = match e.gzip.get() {
        Some(d) => d.clone(),
        None => {
            let d = e.info.to_gzip().ok()?;
            let _ = e.gzip.set(d.clone());
            d
        }
    };
    Some(DatabaseStore {
        key: *key,
        kind: StoreKind::RouterInfo,
        type_reserved_bits: 0,
        reply: None,
        data,
    })
}

fn gzip_cache_put(i: &mut NetDbIndex, key: &Hash, gz: Arc<OnceLock<Vec<u8>>>) {
    i.set_router_gzip(key, gz);
}

fn lease_set_entry(ls: ValidLeaseSet) -> LeaseSetEntry {
    LeaseSetEntry {
        lease_set: Arc::new(ls.lease_set),
        store_type: ls.store_type,
        version_ms: ls.version_ms,
        expires_ms: ls.expires_ms,
    }
}

#[cfg(feature = "store")]
struct WarmStart {
    router_infos: Vec<RouterInfo>,
    lease_sets: Vec<ValidLeaseSet>,
    dropped: Vec<(EntryKind, Hash, &'static str)>,
}

/// Re-verify stored entries on all cores (signature checks dominate warm start).
#[cfg(feature = "store")]
fn warm_start(
    ctx: &ValidationContext,
    router_infos: Vec<(Hash, Vec<u8>)>,
    lease_sets: Vec<(Hash, u8, Vec<u8>)>,
    now_ms: u64,
) -> WarmStart {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = router_infos.len().div_ceil(threads).max(1);
    let mut out = WarmStart {
        router_infos: Vec::with_capacity(router_infos.len()),
        lease_sets: Vec::new(),
        dropped: Vec::new(),
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = router_infos
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(key, bytes)| {
                            if *key == ctx.our_hash {
                                // Our own RouterInfo is rebuilt at start, never loaded.
                                return Err((*key, "own_router_info"));
                            }
                            validate_router_info_bytes(ctx, key, bytes, now_ms)
                                .map_err(|e| (*key, e.reason()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(results) => {
                    for r in results {
                        match r {
                            Ok(ri) => out.router_infos.push(ri),
                            Err((k, why)) => out.dropped.push((EntryKind::RouterInfo, k, why)),
                        }
                    }
                }
                Err(_) => warn!("netDb warm-start verification thread panicked"),
            }
        }
    });
    for (key, t, bytes) in lease_sets {
        match check_lease_set(&key, t, &bytes, None, now_ms) {
            Ok(ls) => out.lease_sets.push(ls),
            Err(e) => out.dropped.push((EntryKind::LeaseSet, key, e.reason())),
        }
    }
    out
}

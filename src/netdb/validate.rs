//! Validation of every DatabaseStore before anything is stored or flooded
//! (network-database "Flooding": "All validation must be done before flooding").
//!
//! [`validate`] is synchronous and CPU-bound (gzip inflate and signature verification). The
//! engine runs it on tokio's blocking pool (`spawn_blocking`), never on an async worker: an
//! RSA-4096 or ECDSA-P521 verification takes milliseconds and would stall every connection task
//! on that worker. The engine admits at most one validation per core at a time (a semaphore),
//! so a burst of stores queues instead of growing the blocking pool towards its 512-thread
//! limit; a dedicated rayon pool would add a dependency for the same effect.
//!
//! Checks run cheapest first so that junk is dropped before any inflate or signature work, and
//! every rejection carries a stable `reason` label for `floodgate_netdb_stores_total`.
//!
//! A RouterInfo's family claim (`identity::family`) is checked last, after its signature.

use super::index::Hash;
use crate::identity::family::{self, FamilyError};
use crate::wire::i2np::{DatabaseStore, StoreKind};
use crate::wire::lease_set::{
    AnyLeaseSet, STORE_TYPE_ENCRYPTED_LEASESET2, STORE_TYPE_LEASESET, STORE_TYPE_LEASESET2,
    STORE_TYPE_META_LEASESET2,
};
use crate::wire::router_info::MAX_ROUTER_INFO_SIZE;
use crate::wire::{Date, RouterInfo, VerifyError, WireError, WireErrorKind};
use thiserror::Error;

/// Largest LeaseSet (any type) we accept, in bytes: i2pd's `MAX_LS_BUFFER_SIZE` since 2.57
/// (4096 before), raised for post-quantum destinations, whose ML-DSA keys and signatures alone
/// take up to 7 KiB. Classic LeaseSet2s with 16 leases are about 1 KiB.
pub const MAX_LEASE_SET_SIZE: usize = 8192;

/// How far in the future a RouterInfo or LeaseSet2 `published` date may be: 2 minutes, i2pd's
/// clock tolerance (`NETDB_EXPIRATION_TIMEOUT_THRESHOLD` in NetDb.hpp). Routers keep their
/// clocks within seconds via NTP or the transports' clock skew checks, so more means a forged
/// date meant to win every "newer" comparison.
pub const MAX_PUBLISHED_FUTURE_MS: u64 = 2 * 60 * 1000;

/// How far in the future a LeaseSet (types 1, 3, 5) may expire, or a lease end: 15 minutes.
/// LeaseSets live 10 minutes (tunnel lifetime); Java I2P allows 15 minutes (MAX_LEASE_FUTURE),
/// i2pd 12 (LEASESET_EXPIRATION_TIME_THRESHOLD). We take the more tolerant of the two so that
/// we never drop what either implementation publishes. MetaLeaseSets may legitimately expire up
/// to 18.2 hours (65535 s) after publication, which the 16-bit offset bounds already.
pub const MAX_LEASE_SET_FUTURE_MS: u64 = 15 * 60 * 1000;

/// RouterInfo age limit for a floodfill (network-database "RouterInfo Expiration": floodfills
/// use 1 hour for all local RouterInfos, as valid ones are republished to them frequently).
pub const ROUTER_INFO_MAX_AGE_FLOODFILL_MS: u64 = 60 * 60 * 1000;

/// RouterInfo age limit for a non-floodfill, and during the first hour of uptime (the spec:
/// "no expiration during the first hour of uptime, as the persistent stored data may be old").
/// 27 hours is i2pd's NETDB_MAX_EXPIRATION_TIMEOUT.
pub const ROUTER_INFO_MAX_AGE_MS: u64 = 27 * 60 * 60 * 1000;

/// The network id a RouterInfo without a `netId` option belongs to (the main network).
pub const DEFAULT_NET_ID: u32 = 2;

/// What the validator needs to know about us and the moment.
#[derive(Debug, Clone)]
pub struct ValidationContext {
    pub our_hash: Hash,
    pub net_id: u8,
    /// We accept LeaseSets only as a floodfill.
    pub floodfill: bool,
    /// RouterInfos published longer ago than this are expired (see the constants above).
    pub router_info_max_age_ms: u64,
}

/// The version of the entry we already hold under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// DatabaseStore type: 0 for a RouterInfo, 1/3/5/7 for LeaseSets.
    pub store_type: u8,
    /// Published date (RouterInfo, LS2 types) or earliest lease end (LS type 1), in ms.
    pub version_ms: u64,
}

/// A store that passed every check, ready for the index.
#[derive(Debug, Clone)]
pub enum ValidEntry {
    RouterInfo(RouterInfo),
    LeaseSet(ValidLeaseSet),
}

#[derive(Debug, Clone)]
pub struct ValidLeaseSet {
    pub key: Hash,
    pub lease_set: AnyLeaseSet,
    pub store_type: u8,
    pub version_ms: u64,
    pub expires_ms: u64,
}

impl ValidEntry {
    pub fn key(&self) -> Hash {
        match self {
            Self::RouterInfo(ri) => ri.hash(),
            Self::LeaseSet(ls) => ls.key,
        }
    }
}

/// Why a store was refused. [`Rejection::reason`] is the metrics label.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("entry does not parse: {0}")]
    Parse(WireError),
    #[error("entry is {len} bytes, more than {max}")]
    Oversize { len: usize, max: usize },
    #[error("signature check failed: {0}")]
    Signature(VerifyError),
    #[error("store key does not match the entry's hash")]
    KeyMismatch,
    #[error("not newer than the copy we hold")]
    NotNewer,
    #[error("expired")]
    Expired,
    #[error("{0} too far in the future")]
    Future(&'static str),
    #[error("RouterInfo of network {got:?}, we are on {ours}")]
    WrongNetId { got: Option<String>, ours: u8 },
    #[error("a store of our own RouterInfo from someone else")]
    OwnRouterInfo,
    #[error("LeaseSet store received down a tunnel")]
    LeaseSetViaTunnel,
    #[error("LeaseSet store while we are not a floodfill")]
    NotFloodfill,
    #[error("LeaseSet is flagged unpublished")]
    Unpublished,
    /// A RouterInfo whose family claim is malformed (see [`FamilyError::rejects_store`]).
    #[error("family claim: {0}")]
    Family(FamilyError),
    #[error("internal error while validating")]
    Internal,
}

impl Rejection {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Parse(_) => "parse_error",
            Self::Oversize { .. } => "oversize",
            Self::Signature(e) => e.reason(),
            Self::KeyMismatch => "key_mismatch",
            Self::NotNewer => "not_newer",
            Self::Expired => "expired",
            Self::Future(_) => "future",
            Self::WrongNetId { .. } => "wrong_net_id",
            Self::OwnRouterInfo => "own_router_info",
            Self::LeaseSetViaTunnel => "lease_set_via_tunnel",
            Self::NotFloodfill => "not_floodfill",
            Self::Unpublished => "unpublished",
            Self::Family(e) => e.reason(),
            Self::Internal => "internal",
        }
    }
}

/// Validate a DatabaseStore. `received_directly` is false when the message came out of one of
/// our inbound tunnels (the dispatcher knows). `held` describes the copy we hold under
/// `msg.key`, if any.
pub fn validate(
    ctx: &ValidationContext,
    msg: &DatabaseStore,
    received_directly: bool,
    held: Option<Held>,
    now_ms: u64,
) -> Result<ValidEntry, Rejection> {
    if msg.kind == StoreKind::RouterInfo {
        if msg.key == ctx.our_hash {
            return Err(Rejection::OwnRouterInfo);
        }
        // The 2-byte length allows 64 KiB of gzip; refuse before inflating anything.
        if msg.data.len() > MAX_ROUTER_INFO_SIZE {
            return Err(Rejection::Oversize {
                len: msg.data.len(),
                max: MAX_ROUTER_INFO_SIZE,
            });
        }
        let unverified = RouterInfo::from_gzip(&msg.data).map_err(size_or_parse)?;
        check_router_info(ctx, &msg.key, unverified, held, now_ms).map(ValidEntry::RouterInfo)
    } else {
        if !ctx.floodfill {
            return Err(Rejection::NotFloodfill);
        }
        if !received_directly {
            // network-database "Segmentation": a LeaseSet that reached us through one of our
            // own inbound tunnels belongs to a client context, never to the floodfill netDb.
            return Err(Rejection::LeaseSetViaTunnel);
        }
        if msg.data.len() > MAX_LEASE_SET_SIZE {
            return Err(Rejection::Oversize {
                len: msg.data.len(),
                max: MAX_LEASE_SET_SIZE,
            });
        }
        check_lease_set(&msg.key, msg.kind.code(), &msg.data, held, now_ms)
            .map(ValidEntry::LeaseSet)
    }
}

fn size_or_parse(e: WireError) -> Rejection {
    match e.kind {
        WireErrorKind::TooLong { len, max } if e.what == "gzip data" || e.what == "router info" => {
            Rejection::Oversize { len, max }
        }
        _ => Rejection::Parse(e),
    }
}

/// Validate an uncompressed RouterInfo stored under `key` (also used at warm start).
pub fn validate_router_info_bytes(
    ctx: &ValidationContext,
    key: &Hash,
    bytes: &[u8],
    now_ms: u64,
) -> Result<RouterInfo, Rejection> {
    let unverified = RouterInfo::parse(bytes).map_err(size_or_parse)?;
    check_router_info(ctx, key, unverified, None, now_ms)
}

/// The acceptance rules of every RouterInfo we take in: a store, a warm start, a reseed.
pub(crate) fn check_router_info(
    ctx: &ValidationContext,
    key: &Hash,
    unverified: crate::wire::Unverified<RouterInfo>,
    held: Option<Held>,
    now_ms: u64,
) -> Result<RouterInfo, Rejection> {
    // Reading the unverified fields is fine for *rejecting*: a forger gains nothing by making
    // us drop its own forgery. Acceptance waits for the signature below.
    let ri = unverified.dangerous_inner();
    if ri.hash() != *key {
        return Err(Rejection::KeyMismatch);
    }
    match ri.options().get("netId") {
        None if DEFAULT_NET_ID == u32::from(ctx.net_id) => {}
        Some(v) if v.parse::<u32>().ok() == Some(u32::from(ctx.net_id)) => {}
        other => {
            return Err(Rejection::WrongNetId {
                got: other.map(str::to_string),
                ours: ctx.net_id,
            });
        }
    }
    let published = ri.published().millis();
    if published > now_ms.saturating_add(MAX_PUBLISHED_FUTURE_MS) {
        return Err(Rejection::Future("RouterInfo published date"));
    }
    if published.saturating_add(ctx.router_info_max_age_ms) < now_ms {
        return Err(Rejection::Expired);
    }
    if let Some(h) = held
        && h.store_type == 0
        && published <= h.version_ms
    {
        return Err(Rejection::NotNewer);
    }
    let verified = unverified
        .verify()
        .map_err(Rejection::Signature)?
        .into_inner();
    // The family claim is checked after the RouterInfo's own signature: only its router can
    // have written it, and a forgery costs us no second signature check. Java refuses the
    // store for a malformed claim and keeps the RouterInfo, claim unconfirmed, otherwise.
    match family::verify(&verified) {
        Ok(_) => {}
        Err(e) if e.rejects_store() => return Err(Rejection::Family(e)),
        Err(e) => {
            tracing::debug!(
                router = %crate::wire::base64::encode(&key[..4]),
                reason = e.reason(),
                "family claim ignored: {e}"
            );
        }
    }
    Ok(verified)
}

/// The timestamp that orders versions of a LeaseSet: the published date for the LS2 family,
/// the earliest lease end for the original LeaseSet, which has no published date (Java I2P
/// versions type-1 LeaseSets the same way).
pub fn lease_set_version_ms(ls: &AnyLeaseSet) -> u64 {
    match ls {
        AnyLeaseSet::LeaseSet(l) => l.earliest_expiration().map_or(0, Date::millis),
        AnyLeaseSet::LeaseSet2(l) => l.header().published().millis(),
        AnyLeaseSet::Encrypted(l) => l.published().millis(),
        AnyLeaseSet::Meta(l) => l.header().published().millis(),
    }
}

/// Validate a LeaseSet of DatabaseStore type `store_type` stored under `key` (also used at warm
/// start with `held = None`).
pub fn check_lease_set(
    key: &Hash,
    store_type: u8,
    bytes: &[u8],
    held: Option<Held>,
    now_ms: u64,
) -> Result<ValidLeaseSet, Rejection> {
    if bytes.len() > MAX_LEASE_SET_SIZE {
        return Err(Rejection::Oversize {
            len: bytes.len(),
            max: MAX_LEASE_SET_SIZE,
        });
    }
    let unverified = AnyLeaseSet::parse(store_type, bytes).map_err(Rejection::Parse)?;
    let ls = unverified.dangerous_inner();
    // For an EncryptedLeaseSet the store key is the hash of the blinded key (encryptedleaseset:
    // "DHT storage location"), which `store_key` computes per type.
    if ls.store_key() != *key {
        return Err(Rejection::KeyMismatch);
    }
    let unpublished = match ls {
        AnyLeaseSet::LeaseSet(_) => false,
        AnyLeaseSet::LeaseSet2(l) => l.header().is_unpublished(),
        AnyLeaseSet::Encrypted(l) => l.is_unpublished(),
        AnyLeaseSet::Meta(l) => l.header().is_unpublished(),
    };
    if unpublished {
        return Err(Rejection::Unpublished);
    }
    let published_ms = match ls {
        AnyLeaseSet::LeaseSet(_) => None,
        AnyLeaseSet::LeaseSet2(l) => Some(l.header().published().millis()),
        AnyLeaseSet::Encrypted(l) => Some(l.published().millis()),
        AnyLeaseSet::Meta(l) => Some(l.header().published().millis()),
    };
    if published_ms.is_some_and(|p| p > now_ms.saturating_add(MAX_PUBLISHED_FUTURE_MS)) {
        return Err(Rejection::Future("LeaseSet published date"));
    }
    // A type-1 LeaseSet without leases has no expiry: it is a revocation nobody implements, and
    // there is nothing to serve, so it counts as expired.
    let expires_ms = ls.expires().map_or(0, Date::millis);
    if expires_ms <= now_ms {
        return Err(Rejection::Expired);
    }
    let future_limit = now_ms.saturating_add(MAX_LEASE_SET_FUTURE_MS);
    if store_type != STORE_TYPE_META_LEASESET2 && expires_ms > future_limit {
        return Err(Rejection::Future("LeaseSet expiration"));
    }
    let lease_too_late = match ls {
        AnyLeaseSet::LeaseSet(l) => l
            .leases()
            .iter()
            .any(|x| x.end_date.millis() > future_limit),
        AnyLeaseSet::LeaseSet2(l) => l
            .leases()
            .iter()
            .any(|x| x.end_date().millis() > future_limit),
        AnyLeaseSet::Encrypted(_) | AnyLeaseSet::Meta(_) => false,
    };
    if lease_too_late {
        return Err(Rejection::Future("lease end date"));
    }
    let version_ms = lease_set_version_ms(ls);
    if let Some(h) = held
        && h.store_type == store_type
        && version_ms <= h.version_ms
    {
        return Err(Rejection::NotNewer);
    }
    debug_assert!(matches!(
        store_type,
        STORE_TYPE_LEASESET
            | STORE_TYPE_LEASESET2
            | STORE_TYPE_ENCRYPTED_LEASESET2
            | STORE_TYPE_META_LEASESET2
    ));
    let verified = unverified
        .verify(Date::from_millis(now_ms))
        .map_err(Rejection::Signature)?;
    Ok(ValidLeaseSet {
        key: *key,
        lease_set: verified.into_inner(),
        store_type,
        version_ms,
        expires_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::family::{FamilyKey, FamilyName, FamilySigner, OPT_KEY, OPT_SIG};
    use crate::identity::{RouterInfoParams, RouterKeys, build_router_info};
    use crate::netdb::testkit;
    use std::sync::Arc;

    const NOW: u64 = 1_700_000_000_000;

    /// A floodfill's RouterInfo claiming family "fam", published a minute ago.
    fn family_router(keys: &RouterKeys) -> RouterInfo {
        let p = RouterInfoParams {
            net_id: 2,
            floodfill: true,
            shared_kbps: 2048,
            host: Some("198.18.0.7".parse().unwrap()),
            ntcp2_port: Some(12345),
            router_version: "0.9.67",
            congestion: None,
            family: Some(FamilySigner {
                name: FamilyName::new("fam").unwrap(),
                key: Arc::new(FamilyKey::generate()),
            }),
        };
        build_router_info(keys, &p, NOW - 60_000)
            .unwrap()
            .into_inner()
    }

    fn with_option(keys: &RouterKeys, ri: &RouterInfo, key: &str, value: &str) -> RouterInfo {
        testkit::router_info_edited(keys, ri, |o| {
            for (k, v) in o.iter_mut() {
                if k == key {
                    *v = value.to_string();
                }
            }
        })
    }

    fn stores_counter(reg: &prometheus::Registry, result: &str, reason: &str) -> f64 {
        reg.gather()
            .iter()
            .filter(|f| f.name() == "floodgate_netdb_stores_total")
            .flat_map(|f| f.get_metric())
            .filter(|m| {
                let l = m.get_label();
                l.iter()
                    .any(|l| l.name() == "result" && l.value() == result)
                    && l.iter()
                        .any(|l| l.name() == "reason" && l.value() == reason)
            })
            .map(|m| m.get_counter().get_value())
            .sum()
    }

    #[tokio::test]
    async fn family_claims_are_checked_on_store() {
        let registry = prometheus::Registry::new();
        let status = Arc::new(crate::ops::status::RouterStatus::new());
        let db = testkit::memory_netdb([0x11; 32], &registry, status, NOW);
        let keys = RouterKeys::generate();
        let good = family_router(&keys);

        // A malformed family.key refuses the store, counted under its own reason.
        let bad_key = with_option(&keys, &good, OPT_KEY, "1:AAAA");
        let o = db
            .on_database_store(
                [0xee; 32],
                testkit::store_router_info(&bad_key, None),
                true,
                NOW,
            )
            .await;
        let rej = o.result.expect_err("malformed family.key must be refused");
        assert!(
            matches!(rej, Rejection::Family(FamilyError::BadKey(_))),
            "{rej}"
        );
        assert_eq!(stores_counter(&registry, "rejected", "bad_family_key"), 1.0);

        // So does a family.sig of the wrong length.
        let short_sig = with_option(&keys, &good, OPT_SIG, "AAAA");
        let o = db
            .on_database_store(
                [0xee; 32],
                testkit::store_router_info(&short_sig, None),
                true,
                NOW,
            )
            .await;
        assert_eq!(o.result.unwrap_err().reason(), "bad_family_signature");
        assert_eq!(
            stores_counter(&registry, "rejected", "bad_family_signature"),
            1.0
        );

        // A well-formed signature that does not verify (here: one made for another router)
        // leaves the RouterInfo acceptable, as Java keeps it; only the claim is void.
        let other = family_router(&RouterKeys::generate());
        let foreign = with_option(&keys, &good, OPT_SIG, other.options().get(OPT_SIG).unwrap());
        assert_eq!(
            crate::identity::family::verify(&foreign),
            Err(FamilyError::BadSignature)
        );
        let o = db
            .on_database_store(
                [0xee; 32],
                testkit::store_router_info(&foreign, None),
                true,
                NOW,
            )
            .await;
        assert!(o.result.is_ok(), "{:?}", o.result);
    }

    #[test]
    fn warm_start_and_reseed_apply_the_same_family_rule() {
        let keys = RouterKeys::generate();
        let good = family_router(&keys);
        let ctx = ValidationContext {
            our_hash: [0x11; 32],
            net_id: 2,
            floodfill: true,
            router_info_max_age_ms: ROUTER_INFO_MAX_AGE_MS,
        };
        assert!(validate_router_info_bytes(&ctx, &good.hash(), good.as_bytes(), NOW).is_ok());
        let bad = with_option(&keys, &good, OPT_KEY, "one:AAAA");
        let e = validate_router_info_bytes(&ctx, &bad.hash(), bad.as_bytes(), NOW).unwrap_err();
        assert_eq!(e.reason(), "bad_family_key");
        // A reseed bundle goes through the same rules.
        let expect = crate::netdb::reseed::Expect {
            net_id: 2,
            our_hash: [0x11; 32],
            now_ms: NOW,
        };
        assert!(crate::netdb::reseed::check_router_info(good.as_bytes(), &expect).is_ok());
        assert_eq!(
            crate::netdb::reseed::check_router_info(bad.as_bytes(), &expect).unwrap_err(),
            "bad_family_key"
        );
    }
}

//! The in-memory, authoritative netDb index: every RouterInfo and LeaseSet we hold, parsed and
//! verified, with its raw bytes, keyed by the 32-byte store key; plus the floodfill set and the
//! Kademlia helpers (XOR distance, daily routing key, k-closest queries).
//!
//! Closest-k queries scan a dense vector of candidate hashes and keep the k best in a small
//! bounded max-heap: O(n log k) with a tight inner loop (four u64 XORs and compares per entry).
//! The bench (`benches/netdb.rs`) measures this on 100k routers; a tree keyed by routing key is
//! not possible because the routing key of the *target* changes every day while router hashes
//! stay fixed, and a trie over router hashes would only pay off far beyond netDb sizes.

use crate::wire::{AnyLeaseSet, RouterInfo};
use sha2::{Digest, Sha256};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// A router hash or netDb store key.
pub type Hash = [u8; 32];

const MS_PER_DAY: u64 = 86_400_000;

/// The Kademlia distance between two hashes, as a big-endian 256-bit number in four limbs so
/// comparisons are four integer compares instead of 32 byte compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Distance([u64; 4]);

impl Distance {
    pub fn between(a: &Hash, b: &Hash) -> Self {
        let (a, b) = (limbs(a), limbs(b));
        Self([a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]])
    }

    pub fn to_bytes(self) -> Hash {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }
}

/// A hash as four big-endian u64 limbs.
fn limbs(h: &Hash) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, chunk) in h.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        out[i] = u64::from_be_bytes(b);
    }
    out
}

/// XOR distance as bytes (for callers that want the raw metric).
pub fn xor(a: &Hash, b: &Hash) -> Hash {
    let mut out = [0u8; 32];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b.iter())) {
        *o = x ^ y;
    }
    out
}

/// `yyyyMMdd` of the UTC day containing `unix_ms` (proleptic Gregorian calendar).
pub fn utc_date_string(unix_ms: u64) -> [u8; 8] {
    let days = unix_ms / MS_PER_DAY;
    let (y, m, d) = civil_from_days(days);
    let mut out = [0u8; 8];
    let s = format!("{y:04}{m:02}{d:02}");
    // The year is below 10000 for every u64 millisecond value a clock can give before the year
    // 10000; beyond that the string would be longer and we keep its first 8 bytes, which is
    // still deterministic for all routers.
    out.copy_from_slice(&s.as_bytes()[..8]);
    out
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's civil-from-days algorithm,
/// valid for every non-negative day count we can get from a u64 of milliseconds.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The routing key of `key` on the UTC day containing `unix_ms`: SHA-256(key || "yyyyMMdd")
/// (network-database "Kademlia Closeness Metric"). Only search keys are transformed; router
/// hashes are compared as they are.
pub fn routing_key(key: &Hash, unix_ms: u64) -> Hash {
    let mut h = Sha256::new();
    h.update(key);
    h.update(utc_date_string(unix_ms));
    h.finalize().into()
}

/// Minutes left until the next UTC midnight.
pub fn minutes_to_midnight(unix_ms: u64) -> u64 {
    (MS_PER_DAY - unix_ms % MS_PER_DAY).div_ceil(60_000)
}

/// Today's routing key and, when `now` is within `threshold_minutes` of UTC midnight, also
/// tomorrow's: an entry stored just before the keyspace rotation must also reach the
/// floodfills that will be closest after it, or lookups right after midnight miss it.
pub fn routing_keys_near_midnight(
    key: &Hash,
    unix_ms: u64,
    threshold_minutes: u64,
) -> (Hash, Option<Hash>) {
    let today = routing_key(key, unix_ms);
    let tomorrow = (minutes_to_midnight(unix_ms) <= threshold_minutes)
        .then(|| routing_key(key, unix_ms + MS_PER_DAY));
    (today, tomorrow)
}

/// A RouterInfo held in the index.
#[derive(Debug, Clone)]
pub struct RouterEntry {
    /// Verified RouterInfo (its `as_bytes()` are the exact signed bytes).
    pub info: Arc<RouterInfo>,
    /// Published date in ms.
    pub published_ms: u64,
    /// Counted in the floodfill set (see [`is_usable_floodfill`]).
    pub floodfill: bool,
    /// The gzip form for DatabaseStore replies: the bytes a store brought, or compressed on
    /// first use for entries loaded from disk. Shared so that readers can fill it.
    pub gzip: Arc<OnceLock<Vec<u8>>>,
}

/// A LeaseSet (any kind) held in the index.
#[derive(Debug, Clone)]
pub struct LeaseSetEntry {
    pub lease_set: Arc<AnyLeaseSet>,
    /// DatabaseStore type (1, 3, 5, 7).
    pub store_type: u8,
    /// The timestamp that orders versions of this entry (see `validate::lease_set_version_ms`).
    pub version_ms: u64,
    /// When the entry expires (ms); expired entries are never served and are swept.
    pub expires_ms: u64,
}

/// A floodfill we may flood to and list in search replies, by the rules the current routers
/// apply (i2pd 2.5x `RouterInfo::IsEligibleFloodfill`, Java I2P's floodfill selection): it
/// declares `f` and not `U` or `H`, runs at least `min_version`, has a non-DSA signing key, and
/// publishes an IPv4 address (or is reachable over IPv4 and publishes IPv6). On top of that
/// floodgate needs an NTCP2 address it can dial: it speaks no other transport yet, and a
/// floodfill it cannot reach cannot receive floods, and listing it would send lookups into a
/// void.
pub fn is_usable_floodfill(ri: &RouterInfo, min_version: Version) -> bool {
    ri.is_floodfill()
        && !ri.has_cap('U')
        && !ri.has_cap('H')
        // DSA-SHA1 floodfills are refused by i2pd and Java I2P alike; stores sent there would
        // not spread.
        && ri.identity().sig_type() != crate::wire::keys::SigType::DsaSha1
        && version_at_least(ri.version(), min_version)
        && publishes_ipv4(ri)
        && has_direct_ntcp2(ri)
}

/// A router version as (major, minor, patch).
pub type Version = (u32, u32, u32);

/// Floodfills older than this are left out: i2pd 2.5x (`NETDB_MIN_FLOODFILL_VERSION`) uses
/// none older than 0.9.59, so stores flooded to them would not be passed on by the rest of the
/// network. `netdb.floodfill_min_version` lowers it for private networks of older routers.
pub const MIN_FLOODFILL_VERSION: Version = (0, 9, 59);

/// Parse `a.b.c` (or `a.b`) as a [`Version`]; nothing may follow (a configured value).
pub fn parse_version(v: &str) -> Option<Version> {
    parse_version_parts(v, false)
}

/// `a.b` or `a.b.c`; with `trailing`, parts after the third are ignored (a peer's
/// `router.version`), without it they make the version invalid.
fn parse_version_parts(v: &str, trailing: bool) -> Option<Version> {
    let mut it = v.split('.').map(|p| p.trim().parse::<u32>());
    let (Some(Ok(a)), Some(Ok(b))) = (it.next(), it.next()) else {
        return None;
    };
    let c = match it.next() {
        None => 0,
        Some(Ok(c)) => c,
        Some(Err(_)) => return None,
    };
    if !trailing && it.next().is_some() {
        return None;
    }
    Some((a, b, c))
}

/// A published IPv4 address (any transport), or a published IPv6 one with an address that
/// says it can be reached over IPv4 (caps `4`), which is how i2pd words "published".
fn publishes_ipv4(ri: &RouterInfo) -> bool {
    let addrs = ri.addresses();
    let v4 = addrs
        .iter()
        .any(|a| a.ip().is_some_and(|ip| ip.is_ipv4()) && a.port().is_some());
    let v6 = addrs
        .iter()
        .any(|a| a.ip().is_some_and(|ip| ip.is_ipv6()) && a.port().is_some());
    let reachable_v4 = addrs
        .iter()
        .any(|a| a.options().get("caps").is_some_and(|c| c.contains('4')));
    v4 || (v6 && reachable_v4)
}

/// `router.version` `a.b.c` at least `min` (a missing or malformed version is not).
pub fn version_at_least(v: Option<&str>, min: Version) -> bool {
    v.and_then(|v| parse_version_parts(v, true))
        .is_some_and(|v| v >= min)
}

/// A published NTCP2 address we can dial (host, port and static key): floodgate speaks only
/// NTCP2, so a floodfill reachable only over SSU2 or introducers is of no use to us.
fn has_direct_ntcp2(ri: &RouterInfo) -> bool {
    ri.addresses().iter().any(|a| {
        a.transport() == "NTCP2"
            && a.ip().is_some()
            && a.port().is_some()
            && a.static_key().is_some()
    })
}

/// A set of hashes with O(1) insert/remove and a dense vector for fast scans.
#[derive(Debug, Default, Clone)]
struct DenseSet {
    items: Vec<Hash>,
    pos: HashMap<Hash, usize>,
}

impl DenseSet {
    fn insert(&mut self, h: Hash) {
        if self.pos.contains_key(&h) {
            return;
        }
        self.pos.insert(h, self.items.len());
        self.items.push(h);
    }

    fn remove(&mut self, h: &Hash) {
        if let Some(i) = self.pos.remove(h) {
            self.items.swap_remove(i);
            if let Some(moved) = self.items.get(i) {
                self.pos.insert(*moved, i);
            }
        }
    }

    fn contains(&self, h: &Hash) -> bool {
        self.pos.contains_key(h)
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

/// The k entries of `candidates` closest to `target`, nearest first, skipping `excluded`.
fn k_closest(candidates: &[Hash], target: &Hash, k: usize, excluded: &HashSet<Hash>) -> Vec<Hash> {
    if k == 0 {
        return Vec::new();
    }
    // Max-heap of the best k seen so far: the root is the worst of them, replaced whenever a
    // closer candidate shows up. Once the heap is full almost every candidate already loses on
    // the first limb, so that is tested before the full distance is built.
    let t = limbs(target);
    let mut heap: BinaryHeap<(Distance, Hash)> = BinaryHeap::with_capacity(k + 1);
    let mut worst0 = u64::MAX;
    for h in candidates {
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        let d0 = u64::from_be_bytes(first) ^ t[0];
        if heap.len() == k && d0 > worst0 {
            continue;
        }
        let d = Distance::between(h, target);
        if heap.len() == k && heap.peek().is_some_and(|(worst, _)| d >= *worst) {
            continue;
        }
        if excluded.contains(h) {
            continue;
        }
        heap.push((d, *h));
        if heap.len() > k {
            heap.pop();
        }
        if heap.len() == k {
            worst0 = heap.peek().map_or(u64::MAX, |(w, _)| w.0[0]);
        }
    }
    heap.into_sorted_vec().into_iter().map(|(_, h)| h).collect()
}

/// The authoritative in-memory netDb.
#[derive(Debug)]
pub struct NetDbIndex {
    /// Oldest `router.version` counted as a floodfill (see [`is_usable_floodfill`]).
    floodfill_min_version: Version,
    routers: HashMap<Hash, RouterEntry>,
    lease_sets: HashMap<Hash, LeaseSetEntry>,
    /// Lease sets held per DatabaseStore type 1, 3, 5, 7, kept up to date on every insert and
    /// removal: the gauges read them after every store, and counting the map each time made a
    /// store cost grow with the netDb (0.12 ms at 20k lease sets, 0.2 ms at 100k).
    lease_sets_by_type: [usize; 4],
    floodfills: DenseSet,
    non_floodfills: DenseSet,
}

const LEASE_SET_TYPES: [u8; 4] = [1, 3, 5, 7];

fn type_slot(store_type: u8) -> Option<usize> {
    LEASE_SET_TYPES.iter().position(|t| *t == store_type)
}

impl Default for NetDbIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl NetDbIndex {
    pub fn new() -> Self {
        Self::with_floodfill_min_version(MIN_FLOODFILL_VERSION)
    }

    pub fn with_floodfill_min_version(floodfill_min_version: Version) -> Self {
        Self {
            floodfill_min_version,
            routers: HashMap::new(),
            lease_sets: HashMap::new(),
            lease_sets_by_type: [0; 4],
            floodfills: DenseSet::default(),
            non_floodfills: DenseSet::default(),
        }
    }

    /// Is `ri` a floodfill by this index's rules?
    pub fn is_usable_floodfill(&self, ri: &RouterInfo) -> bool {
        is_usable_floodfill(ri, self.floodfill_min_version)
    }

    /// Insert or replace a RouterInfo (the caller has verified it and decided it is newer).
    /// Returns the previous entry.
    pub fn insert_router(&mut self, info: Arc<RouterInfo>) -> Option<RouterEntry> {
        let hash = info.hash();
        let floodfill = is_usable_floodfill(&info, self.floodfill_min_version);
        let entry = RouterEntry {
            published_ms: info.published().millis(),
            floodfill,
            info,
            gzip: Arc::new(OnceLock::new()),
        };
        if floodfill {
            self.non_floodfills.remove(&hash);
            self.floodfills.insert(hash);
        } else {
            self.floodfills.remove(&hash);
            self.non_floodfills.insert(hash);
        }
        self.routers.insert(hash, entry)
    }

    pub fn remove_router(&mut self, hash: &Hash) -> Option<RouterEntry> {
        let old = self.routers.remove(hash)?;
        self.floodfills.remove(hash);
        self.non_floodfills.remove(hash);
        Some(old)
    }

    /// Attach the known gzip form of a RouterInfo already in the index.
    pub fn set_router_gzip(&mut self, hash: &Hash, gzip: Arc<OnceLock<Vec<u8>>>) {
        if let Some(e) = self.routers.get_mut(hash) {
            e.gzip = gzip;
        }
    }

    pub fn router(&self, hash: &Hash) -> Option<&RouterEntry> {
        self.routers.get(hash)
    }

    pub fn insert_lease_set(&mut self, key: Hash, entry: LeaseSetEntry) -> Option<LeaseSetEntry> {
        if let Some(i) = type_slot(entry.store_type) {
            self.lease_sets_by_type[i] += 1;
        }
        let old = self.lease_sets.insert(key, entry);
        self.uncount(old.as_ref());
        old
    }

    pub fn remove_lease_set(&mut self, key: &Hash) -> Option<LeaseSetEntry> {
        let old = self.lease_sets.remove(key);
        self.uncount(old.as_ref());
        old
    }

    fn uncount(&mut self, old: Option<&LeaseSetEntry>) {
        if let Some(i) = old.and_then(|e| type_slot(e.store_type)) {
            self.lease_sets_by_type[i] -= 1;
        }
    }

    pub fn lease_set(&self, key: &Hash) -> Option<&LeaseSetEntry> {
        self.lease_sets.get(key)
    }

    pub fn router_count(&self) -> usize {
        self.routers.len()
    }

    pub fn floodfill_count(&self) -> usize {
        self.floodfills.len()
    }

    pub fn lease_set_count(&self) -> usize {
        self.lease_sets.len()
    }

    pub fn is_floodfill(&self, hash: &Hash) -> bool {
        self.floodfills.contains(hash)
    }

    pub fn routers(&self) -> impl Iterator<Item = (&Hash, &RouterEntry)> {
        self.routers.iter()
    }

    pub fn lease_sets(&self) -> impl Iterator<Item = (&Hash, &LeaseSetEntry)> {
        self.lease_sets.iter()
    }

    /// Number of held lease sets per DatabaseStore type (1, 3, 5, 7).
    pub fn lease_set_counts_by_type(&self) -> [(u8, usize); 4] {
        std::array::from_fn(|i| (LEASE_SET_TYPES[i], self.lease_sets_by_type[i]))
    }

    /// The `k` floodfills closest to `routing_key` (already transformed), nearest first.
    pub fn closest_floodfills(
        &self,
        routing_key: &Hash,
        k: usize,
        excluded: &HashSet<Hash>,
    ) -> Vec<Hash> {
        k_closest(&self.floodfills.items, routing_key, k, excluded)
    }

    /// The `k` non-floodfill routers closest to `routing_key`, for exploration replies.
    pub fn closest_non_floodfills(
        &self,
        routing_key: &Hash,
        k: usize,
        excluded: &HashSet<Hash>,
    ) -> Vec<Hash> {
        k_closest(&self.non_floodfills.items, routing_key, k, excluded)
    }
}

#[cfg(test)]
mod usable_floodfill_tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let min = MIN_FLOODFILL_VERSION;
        assert!(version_at_least(Some("0.9.59"), min));
        assert!(
            !version_at_least(Some("0.9.58"), min),
            "i2pd 2.5x's cut-off"
        );
        assert!(!version_at_least(Some("0.9.38"), min));
        assert!(version_at_least(Some("0.9.67"), min));
        assert!(version_at_least(Some("0.10"), min));
        assert!(version_at_least(Some("1.0.0"), min));
        assert!(!version_at_least(Some("0.9.37"), min));
        assert!(!version_at_least(Some("0.9.9"), min));
        assert!(!version_at_least(Some("0.9.x"), min));
        assert!(!version_at_least(Some("garbage"), min));
        assert!(!version_at_least(None, min));
        assert_eq!(parse_version("0.9.57"), Some((0, 9, 57)));
        assert_eq!(parse_version("0.10"), Some((0, 10, 0)));
        assert_eq!(parse_version("0.9.57.1"), None);
        assert_eq!(parse_version("0.9.x"), None);
    }

    #[test]
    fn floodfills_need_the_cap_a_dialable_ntcp2_address_and_a_recent_version() {
        let now = 1_700_000_000_000;
        let min = MIN_FLOODFILL_VERSION;
        let ff = super::super::testkit::router(2, true, now);
        assert!(is_usable_floodfill(&ff.info, min));
        let plain = super::super::testkit::router(2, false, now);
        assert!(!is_usable_floodfill(&plain.info, min));
        // The same floodfill without a published address.
        let params = crate::identity::RouterInfoParams {
            net_id: 2,
            floodfill: true,
            shared_kbps: 2048,
            host: None,
            ntcp2_port: None,
            router_version: "0.9.67",
            congestion: None,
            family: None,
        };
        let hidden = crate::identity::build_router_info(&ff.keys, &params, now)
            .unwrap()
            .into_inner();
        assert!(!is_usable_floodfill(&hidden, min));
        let with = |version: &'static str, host: std::net::IpAddr| {
            let p = crate::identity::RouterInfoParams {
                router_version: version,
                host: Some(host),
                ntcp2_port: Some(12345),
                ..params.clone()
            };
            crate::identity::build_router_info(&ff.keys, &p, now)
                .unwrap()
                .into_inner()
        };
        let v4: std::net::IpAddr = "198.18.0.7".parse().unwrap();
        let v6: std::net::IpAddr = "2001:db8::7".parse().unwrap();
        assert!(is_usable_floodfill(&with("0.9.59", v4), min));
        // i2pd 2.45 (0.9.57) is below the live network's cut-off, and usable only where the
        // operator lowered it (a private network of older routers).
        let old = with("0.9.57", v4);
        assert!(!is_usable_floodfill(&old, min));
        assert!(is_usable_floodfill(&old, (0, 9, 57)));
        let index = NetDbIndex::with_floodfill_min_version((0, 9, 57));
        assert!(index.is_usable_floodfill(&old));
        assert!(!NetDbIndex::new().is_usable_floodfill(&old));
        // IPv6 only, without any address saying it is reachable over IPv4: not a floodfill.
        assert!(!is_usable_floodfill(&with("0.9.67", v6), min));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_set_counts_by_type_follow_inserts_replacements_and_removals() {
        use crate::crypto::SigningPrivateKey;
        let (_, bytes) = crate::netdb::testkit::lease_set2(
            &SigningPrivateKey::generate(),
            1_700_000_000,
            600,
            0,
        );
        let ls = Arc::new(
            AnyLeaseSet::parse(3, &bytes)
                .expect("test lease set parses")
                .dangerous_into_inner(),
        );
        let entry = |store_type| LeaseSetEntry {
            lease_set: ls.clone(),
            store_type,
            version_ms: 0,
            expires_ms: 0,
        };
        let mut i = NetDbIndex::new();
        i.insert_lease_set([1; 32], entry(3));
        i.insert_lease_set([2; 32], entry(3));
        i.insert_lease_set([3; 32], entry(5));
        assert_eq!(
            i.lease_set_counts_by_type(),
            [(1, 0), (3, 2), (5, 1), (7, 0)]
        );
        // A replacement of another type moves the count.
        i.insert_lease_set([2; 32], entry(7));
        assert_eq!(
            i.lease_set_counts_by_type(),
            [(1, 0), (3, 1), (5, 1), (7, 1)]
        );
        i.remove_lease_set(&[1; 32]);
        i.remove_lease_set(&[1; 32]);
        i.remove_lease_set(&[3; 32]);
        assert_eq!(
            i.lease_set_counts_by_type(),
            [(1, 0), (3, 0), (5, 0), (7, 1)]
        );
        assert_eq!(i.lease_set_count(), 1);
    }

    #[test]
    fn date_strings_follow_the_utc_calendar() {
        assert_eq!(&utc_date_string(0), b"19700101");
        // 2000-02-29 (leap day) 23:59:59.999 and the next millisecond.
        let leap = 951_868_799_999u64;
        assert_eq!(&utc_date_string(leap), b"20000229");
        assert_eq!(&utc_date_string(leap + 1), b"20000301");
        // 2024-12-31 and 2025-01-01.
        assert_eq!(&utc_date_string(1_735_689_599_000), b"20241231");
        assert_eq!(&utc_date_string(1_735_689_600_000), b"20250101");
    }

    #[test]
    fn routing_key_is_sha256_of_key_and_date() {
        let key = [7u8; 32];
        let mut input = key.to_vec();
        input.extend_from_slice(b"20250101");
        let expect: Hash = Sha256::digest(&input).into();
        assert_eq!(routing_key(&key, 1_735_689_600_000 + 3_600_000), expect);
        // Changes at midnight UTC, not before.
        assert_eq!(routing_key(&key, 1_735_775_999_999), expect);
        assert_ne!(routing_key(&key, 1_735_776_000_000), expect);
    }

    #[test]
    fn tomorrow_only_near_midnight() {
        let key = [1u8; 32];
        let midnight = 1_735_776_000_000u64;
        let (_, t) = routing_keys_near_midnight(&key, midnight - 11 * 60_000, 10);
        assert!(t.is_none());
        let (today, t) = routing_keys_near_midnight(&key, midnight - 9 * 60_000, 10);
        assert_eq!(t, Some(routing_key(&key, midnight)));
        assert_ne!(Some(today), t);
        assert_eq!(minutes_to_midnight(midnight - 1), 1);
        assert_eq!(minutes_to_midnight(midnight), 24 * 60);
    }

    #[test]
    fn distance_orders_like_bytewise_xor() {
        let a = [0u8; 32];
        let mut b = [0u8; 32];
        b[31] = 1;
        let mut c = [0u8; 32];
        c[0] = 1;
        assert!(Distance::between(&a, &b) < Distance::between(&a, &c));
        assert_eq!(Distance::between(&b, &c).to_bytes(), xor(&b, &c));
        // Random pairs: limb order equals lexicographic order of the XOR bytes.
        for i in 0..200u32 {
            let x: Hash = Sha256::digest(i.to_be_bytes()).into();
            let y: Hash = Sha256::digest((i + 1000).to_be_bytes()).into();
            let t: Hash = Sha256::digest((i + 9000).to_be_bytes()).into();
            assert_eq!(
                Distance::between(&x, &t).cmp(&Distance::between(&y, &t)),
                xor(&x, &t).cmp(&xor(&y, &t))
            );
        }
    }

    #[test]
    fn k_closest_matches_a_full_sort_and_honours_exclusions() {
        let hashes: Vec<Hash> = (0..2000u32)
            .map(|i| Sha256::digest(i.to_le_bytes()).into())
            .collect();
        let target: Hash = Sha256::digest(b"target").into();
        let mut sorted = hashes.clone();
        sorted.sort_by_key(|h| Distance::between(h, &target));
        let got = k_closest(&hashes, &target, 5, &HashSet::new());
        assert_eq!(got, sorted[..5]);
        let excluded: HashSet<Hash> = [sorted[0], sorted[2]].into_iter().collect();
        let got = k_closest(&hashes, &target, 3, &excluded);
        assert_eq!(got, vec![sorted[1], sorted[3], sorted[4]]);
        assert!(k_closest(&hashes, &target, 0, &HashSet::new()).is_empty());
        assert_eq!(
            k_closest(&hashes[..2], &target, 10, &HashSet::new()).len(),
            2
        );
    }

    #[test]
    fn dense_set_remove_keeps_positions_consistent() {
        let mut s = DenseSet::default();
        for i in 0..10u8 {
            s.insert([i; 32]);
        }
        s.insert([3; 32]);
        assert_eq!(s.len(), 10);
        s.remove(&[0; 32]);
        s.remove(&[5; 32]);
        s.remove(&[42; 32]);
        assert_eq!(s.len(), 8);
        for (i, h) in s.items.iter().enumerate() {
            assert_eq!(s.pos[h], i);
        }
        assert!(!s.contains(&[0; 32]) && s.contains(&[9; 32]));
    }
}

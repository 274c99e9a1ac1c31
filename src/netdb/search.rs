//! Iterative search for RouterInfos we need but do not hold: the next hop of a transit tunnel,
//! the router a lookup reply must go to, a floodfill a DatabaseSearchReply named. The netDb
//! page calls this "searching": ask the floodfills closest to the key (by today's routing key),
//! follow the closer floodfills their DatabaseSearchReplies name, stop when the RouterInfo
//! arrives (as a DatabaseStore) or after a deadline.
//!
//! A state machine without I/O (quinn-proto style): callers pass `now`, hand in what arrived
//! and send the [`LookupRequest`]s it returns. The router owns one behind a mutex.

use std::collections::{HashMap, HashSet};

use super::index::Hash;
use crate::wire::i2np::{DatabaseLookup, DatabaseSearchReply, LookupType, ReplyEncryption};

/// Limits of the search engine.
#[derive(Debug, Clone, Copy)]
pub struct SearchLimits {
    /// Floodfills asked at once when a search starts.
    pub parallel: usize,
    /// Floodfills asked in total before a search gives up.
    pub max_asked: usize,
    /// A search that has not found the key by then fails.
    pub timeout_ms: u64,
    /// Searches running at once; more are refused (their messages are dropped as unreachable).
    pub max_searches: usize,
}

impl Default for SearchLimits {
    fn default() -> Self {
        // i2pd asks up to 7 floodfills over ~15 s for a router; 3 in parallel keeps latency
        // down for a relay whose build requests expire within seconds.
        Self {
            parallel: 3,
            max_asked: 8,
            timeout_ms: 15_000,
            max_searches: 1024,
        }
    }
}

/// One DatabaseLookup to send to floodfill `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRequest {
    pub to: Hash,
    pub lookup: DatabaseLookup,
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchEnd {
    Found,
    /// Every floodfill we could ask answered without it, or there was none to ask.
    NotFound,
    Timeout,
}

impl SearchEnd {
    pub fn label(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::NotFound => "not_found",
            Self::Timeout => "timeout",
        }
    }
}

/// Why [`Searches::start`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// A search for this key is already running: the caller just waits for it.
    Running,
    /// Too many searches at once.
    Full,
    /// We know no floodfill to ask.
    NoFloodfill,
}

#[derive(Debug)]
struct Search {
    deadline_ms: u64,
    asked: HashSet<Hash>,
    /// Asked and not yet answered.
    outstanding: HashSet<Hash>,
}

/// The searches in progress.
#[derive(Debug)]
pub struct Searches {
    our_hash: Hash,
    limits: SearchLimits,
    running: HashMap<Hash, Search>,
}

impl Searches {
    pub fn new(our_hash: Hash, limits: SearchLimits) -> Self {
        Self {
            our_hash,
            limits,
            running: HashMap::new(),
        }
    }

    pub fn is_running(&self, key: &Hash) -> bool {
        self.running.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Start searching `key`. `closest(key, k, excluded)` returns up to `k` floodfills we
    /// hold RouterInfos for, closest first.
    pub fn start(
        &mut self,
        key: Hash,
        now_ms: u64,
        closest: impl Fn(&Hash, usize, &HashSet<Hash>) -> Vec<Hash>,
    ) -> Result<Vec<LookupRequest>, StartError> {
        if self.running.contains_key(&key) {
            return Err(StartError::Running);
        }
        if self.running.len() >= self.limits.max_searches {
            return Err(StartError::Full);
        }
        // Never ask ourselves or the router we are looking for.
        let excluded: HashSet<Hash> = [self.our_hash, key].into_iter().collect();
        let to = closest(&key, self.limits.parallel, &excluded);
        if to.is_empty() {
            return Err(StartError::NoFloodfill);
        }
        let mut s = Search {
            deadline_ms: now_ms.saturating_add(self.limits.timeout_ms),
            asked: HashSet::new(),
            outstanding: HashSet::new(),
        };
        let out = to.into_iter().map(|ff| self.ask(&mut s, key, ff)).collect();
        self.running.insert(key, s);
        Ok(out)
    }

    fn ask(&self, s: &mut Search, key: Hash, ff: Hash) -> LookupRequest {
        s.asked.insert(ff);
        s.outstanding.insert(ff);
        LookupRequest {
            to: ff,
            lookup: DatabaseLookup {
                key,
                from: self.our_hash,
                // Direct reply: the floodfill answers over its session with us.
                reply_tunnel: None,
                lookup_type: LookupType::RouterInfo,
                // Floodfills already asked need not be suggested back to us.
                excluded_peers: s.asked.iter().copied().filter(|h| h != &ff).collect(),
                reply_encryption: ReplyEncryption::None,
                reserved_flag_bits: 0,
            },
        }
    }

    /// The RouterInfo for `key` arrived (it is in the netDb now). Returns true when that ended
    /// a search.
    pub fn found(&mut self, key: &Hash) -> bool {
        self.running.remove(key).is_some()
    }

    /// A DatabaseSearchReply from `from`: ask the floodfills it names that we know and have
    /// not asked (closer ones first, as the replier sorted them), within the limits. `known`
    /// says whether we hold a usable floodfill RouterInfo for a hash. Returns the lookups to
    /// send (`None` when no search of ours has that key), and `Some(NotFound)` when the search
    /// is over without the key.
    pub fn on_search_reply(
        &mut self,
        from: &Hash,
        reply: &DatabaseSearchReply,
        known: impl Fn(&Hash) -> bool,
    ) -> Option<(Vec<LookupRequest>, Option<SearchEnd>)> {
        let key = reply.key;
        let mut s = self.running.remove(&key)?;
        // Only count answers from floodfills we asked (the `from` field is a claim; the
        // session peer is what we trust).
        if !s.outstanding.remove(from) {
            self.running.insert(key, s);
            return Some((Vec::new(), None));
        }
        let mut out = Vec::new();
        for peer in &reply.peers {
            if s.asked.len() >= self.limits.max_asked {
                break;
            }
            if peer == &self.our_hash || peer == &key || s.asked.contains(peer) || !known(peer) {
                continue;
            }
            out.push(self.ask(&mut s, key, *peer));
        }
        if s.outstanding.is_empty() {
            return Some((out, Some(SearchEnd::NotFound)));
        }
        self.running.insert(key, s);
        Some((out, None))
    }

    /// Searches past their deadline: removed and returned.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Hash> {
        let dead: Vec<Hash> = self
            .running
            .iter()
            .filter(|(_, s)| s.deadline_ms <= now_ms)
            .map(|(k, _)| *k)
            .collect();
        for k in &dead {
            self.running.remove(k);
        }
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> Hash {
        [b; 32]
    }

    const US: u8 = 0xee;

    fn closest_of(ffs: Vec<Hash>) -> impl Fn(&Hash, usize, &HashSet<Hash>) -> Vec<Hash> {
        move |_, k, ex| {
            ffs.iter()
                .filter(|f| !ex.contains(*f))
                .take(k)
                .copied()
                .collect()
        }
    }

    #[test]
    fn start_asks_the_closest_floodfills_directly_for_a_router_info() {
        let mut s = Searches::new(h(US), SearchLimits::default());
        let out = s
            .start(
                h(1),
                0,
                closest_of(vec![h(1), h(US), h(10), h(11), h(12), h(13)]),
            )
            .unwrap();
        // Neither the key itself nor we are asked.
        let to: Vec<_> = out.iter().map(|r| r.to).collect();
        assert_eq!(to, vec![h(10), h(11), h(12)]);
        for r in &out {
            assert_eq!(r.lookup.key, h(1));
            assert_eq!(r.lookup.from, h(US));
            assert_eq!(r.lookup.reply_tunnel, None);
            assert_eq!(r.lookup.lookup_type, LookupType::RouterInfo);
            assert_eq!(r.lookup.reply_encryption, ReplyEncryption::None);
        }
        assert_eq!(
            s.start(h(1), 1, closest_of(vec![h(10)])),
            Err(StartError::Running)
        );
        assert_eq!(
            s.start(h(2), 1, closest_of(vec![])),
            Err(StartError::NoFloodfill)
        );
        assert!(s.found(&h(1)));
        assert!(!s.found(&h(1)));
        assert!(s.is_empty());
    }

    #[test]
    fn search_replies_lead_to_named_known_floodfills_then_end() {
        let limits = SearchLimits {
            parallel: 1,
            max_asked: 3,
            ..SearchLimits::default()
        };
        let mut s = Searches::new(h(US), limits);
        let out = s.start(h(1), 0, closest_of(vec![h(10)])).unwrap();
        assert_eq!(out.len(), 1);
        // A reply from someone we did not ask changes nothing.
        let reply = DatabaseSearchReply {
            key: h(1),
            peers: vec![h(20), h(21)],
            from: h(99),
        };
        assert_eq!(
            s.on_search_reply(&h(99), &reply, |_| true),
            Some((vec![], None))
        );
        // h(10) names 20 (unknown to us), 21, 22, 23; the limit of 3 asked stops at 22.
        let reply = DatabaseSearchReply {
            key: h(1),
            peers: vec![h(20), h(21), h(US), h(1), h(10), h(22), h(23)],
            from: h(10),
        };
        let (next, end) = s.on_search_reply(&h(10), &reply, |p| p != &h(20)).unwrap();
        assert_eq!(end, None);
        let to: Vec<_> = next.iter().map(|r| r.to).collect();
        assert_eq!(to, vec![h(21), h(22)]);
        // Later lookups exclude the floodfills already asked.
        assert!(next[1].lookup.excluded_peers.contains(&h(10)));
        assert!(next[1].lookup.excluded_peers.contains(&h(21)));
        // Both answer without anything new: the search ends, not found.
        let empty = |from| DatabaseSearchReply {
            key: h(1),
            peers: vec![],
            from,
        };
        assert_eq!(
            s.on_search_reply(&h(21), &empty(h(21)), |_| true),
            Some((vec![], None))
        );
        assert_eq!(
            s.on_search_reply(&h(22), &empty(h(22)), |_| true),
            Some((vec![], Some(SearchEnd::NotFound)))
        );
        assert!(!s.is_running(&h(1)));
        // Once it is over, a late reply is not ours any more.
        assert_eq!(s.on_search_reply(&h(22), &empty(h(22)), |_| true), None);
    }

    #[test]
    fn searches_expire_and_are_bounded() {
        let limits = SearchLimits {
            max_searches: 2,
            timeout_ms: 100,
            ..SearchLimits::default()
        };
        let mut s = Searches::new(h(US), limits);
        s.start(h(1), 0, closest_of(vec![h(10)])).unwrap();
        s.start(h(2), 50, closest_of(vec![h(10)])).unwrap();
        assert_eq!(
            s.start(h(3), 50, closest_of(vec![h(10)])),
            Err(StartError::Full)
        );
        assert_eq!(s.expire(99), Vec::<Hash>::new());
        assert_eq!(s.expire(100), vec![h(1)]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.expire(1_000), vec![h(2)]);
    }
}

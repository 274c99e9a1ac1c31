//! Build request replay protection: the creator's ephemeral X25519 key must be unique per
//! record (tunnel-creation-ecies "Ephemeral keys must be unique per ECIES hop, and per build
//! record"), so a key seen twice within the window in which we accept a request's timestamp is
//! a replay. Entries older than the window are forgotten; the set is also bounded in size.
//!
//! Keys are inserted only after the record authenticated (so a flood of random keys cannot
//! push real ones out) and only after the build rate limit, so with the capacity sized as
//! `rate * window` eviction of a live entry cannot happen under the configured limits.

use std::collections::{HashSet, VecDeque};

pub struct ReplaySet {
    keys: HashSet<[u8; 32]>,
    order: VecDeque<(u64, [u8; 32])>,
    window_ms: u64,
    capacity: usize,
}

impl ReplaySet {
    pub fn new(window_ms: u64, capacity: usize) -> Self {
        Self {
            keys: HashSet::new(),
            order: VecDeque::new(),
            window_ms,
            capacity: capacity.max(1),
        }
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some((t, k)) = self.order.front() {
            if now_ms.saturating_sub(*t) < self.window_ms && self.order.len() <= self.capacity {
                break;
            }
            self.keys.remove(k);
            self.order.pop_front();
        }
    }

    /// Whether `key` was seen within the window (no insertion).
    pub fn seen(&mut self, key: &[u8; 32], now_ms: u64) -> bool {
        self.expire(now_ms);
        self.keys.contains(key)
    }

    /// Remember `key`; returns false if it was already present (a replay).
    pub fn insert(&mut self, key: [u8; 32], now_ms: u64) -> bool {
        self.expire(now_ms);
        if !self.keys.insert(key) {
            return false;
        }
        self.order.push_back((now_ms, key));
        if self.order.len() > self.capacity {
            self.expire(now_ms);
        }
        true
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_within_window_are_replays() {
        let mut s = ReplaySet::new(1000, 10);
        assert!(s.insert([1; 32], 0));
        assert!(s.seen(&[1; 32], 999));
        assert!(!s.insert([1; 32], 999));
        assert!(!s.seen(&[1; 32], 1000), "outside the window");
        assert!(s.insert([1; 32], 1000));
    }

    #[test]
    fn bounded() {
        let mut s = ReplaySet::new(1_000_000, 3);
        for i in 0..10u8 {
            assert!(s.insert([i; 32], u64::from(i)));
        }
        assert_eq!(s.len(), 3);
        assert!(s.seen(&[9; 32], 10));
        assert!(!s.seen(&[0; 32], 10));
    }
}

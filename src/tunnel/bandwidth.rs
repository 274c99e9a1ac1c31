//! Token buckets: a plain one for build-request rate limits (used under the admission lock) and
//! a lock-free shared one that caps transit bytes across all shard workers.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A token bucket on a caller-supplied millisecond clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    rate_per_ms: f64,
    burst: f64,
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    /// `rate` tokens per second, at most `burst` saved up; starts full.
    pub fn new(rate: f64, burst: f64, now_ms: u64) -> Self {
        let burst = burst.max(1.0);
        Self {
            rate_per_ms: rate.max(0.0) / 1000.0,
            burst,
            tokens: burst,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        let dt = now_ms.saturating_sub(self.last_ms) as f64;
        self.tokens = (self.tokens + dt * self.rate_per_ms).min(self.burst);
        self.last_ms = self.last_ms.max(now_ms);
    }

    pub fn try_take(&mut self, n: f64, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full (an idle peer whose entry can be forgotten).
    pub fn is_full(&mut self, now_ms: u64) -> bool {
        self.refill(now_ms);
        self.tokens >= self.burst
    }
}

/// A byte budget shared by all workers without a lock: `rate` bytes per second, `burst` bytes
/// saved up at most. Refill advances the clock only by the time that whole bytes account for,
/// so frequent callers do not lose fractional refills.
#[derive(Debug)]
pub struct SharedTokenBucket {
    rate: u64,
    burst: i64,
    tokens: AtomicI64,
    last_ns: AtomicU64,
}

impl SharedTokenBucket {
    /// `rate` bytes/s; a rate of 0 means nothing passes.
    pub fn new(rate: u64, burst: u64, now_ns: u64) -> Self {
        let burst = i64::try_from(burst).unwrap_or(i64::MAX);
        Self {
            rate,
            burst,
            tokens: AtomicI64::new(burst),
            last_ns: AtomicU64::new(now_ns),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    fn refill(&self, now_ns: u64) {
        if self.rate == 0 {
            return;
        }
        let last = self.last_ns.load(Ordering::Acquire);
        let dt = now_ns.saturating_sub(last);
        // u128: dt (ns) * rate (bytes/s) overflows u64 after ~2 s at 10 GB/s.
        let add = (u128::from(dt) * u128::from(self.rate) / 1_000_000_000) as u64;
        if add == 0 {
            return;
        }
        let used_ns = (u128::from(add) * 1_000_000_000 / u128::from(self.rate)) as u64;
        if self
            .last_ns
            .compare_exchange(last, last + used_ns, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            let add = i64::try_from(add).unwrap_or(i64::MAX);
            let before = self.tokens.fetch_add(add, Ordering::AcqRel);
            if before.saturating_add(add) > self.burst {
                self.tokens.fetch_min(self.burst, Ordering::AcqRel);
            }
        }
    }

    /// Take `n` bytes if available.
    pub fn try_take(&self, n: u64, now_ns: u64) -> bool {
        self.refill(now_ns);
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let before = self.tokens.fetch_sub(n, Ordering::AcqRel);
        if before >= n {
            true
        } else {
            self.tokens.fetch_add(n, Ordering::AcqRel);
            false
        }
    }

    /// Take up to `want` bytes (at least `min`), returning how many were taken (0 if fewer than
    /// `min` are available). Workers lease chunks this way so they touch the shared atomics
    /// once per chunk, not once per message.
    pub fn take_up_to(&self, min: u64, want: u64, now_ns: u64) -> u64 {
        self.refill(now_ns);
        let avail = self.tokens.load(Ordering::Acquire).max(0) as u64;
        let take = want.min(avail).max(min);
        if self.try_take(take, now_ns) { take } else { 0 }
    }
}

/// A worker's local lease on a [`SharedTokenBucket`].
#[derive(Debug, Default)]
pub struct Allowance {
    credit: u64,
}

/// Bytes leased at a time.
const LEASE: u64 = 32 * 1024;

impl Allowance {
    pub fn try_take(&mut self, bucket: &SharedTokenBucket, n: u64, now_ns: u64) -> bool {
        if self.credit < n {
            let need = n - self.credit;
            self.credit += bucket.take_up_to(need, LEASE.max(need), now_ns);
        }
        if self.credit >= n {
            self.credit -= n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_rate_and_burst() {
        let mut b = TokenBucket::new(10.0, 5.0, 0);
        for _ in 0..5 {
            assert!(b.try_take(1.0, 0));
        }
        assert!(!b.try_take(1.0, 0));
        assert!(!b.try_take(1.0, 99));
        assert!(b.try_take(1.0, 100), "10/s refills one per 100 ms");
        assert!(b.is_full(10_000));
    }

    #[test]
    fn shared_bucket_caps_bytes_over_time() {
        // 1 MB/s, 100 kB burst; 1037-byte messages offered every 100 us (10 MB/s) for 1 s.
        let b = SharedTokenBucket::new(1_000_000, 100_000, 0);
        let mut a = Allowance::default();
        let mut passed = 0u64;
        for i in 0..10_000u64 {
            if a.try_take(&b, 1037, i * 100_000) {
                passed += 1037;
            }
        }
        // 1 s at 1 MB/s plus the burst plus at most one lease of slack.
        assert!(passed <= 1_000_000 + 100_000 + LEASE, "{passed}");
        assert!(passed >= 1_000_000, "{passed}");
    }

    #[test]
    fn shared_bucket_does_not_lose_fractional_refill() {
        let b = SharedTokenBucket::new(1000, 1000, 0);
        assert!(b.try_take(1000, 0));
        // 1000 B/s = 1 byte per ms; poll every 0.1 ms for 100 ms.
        for i in 0..1000u64 {
            b.refill(i * 100_000);
        }
        assert!(b.try_take(99, 100_000_000));
    }

    #[test]
    fn zero_rate_passes_nothing_after_burst() {
        let b = SharedTokenBucket::new(0, 0, 0);
        assert!(!b.try_take(1, 1_000_000_000));
    }
}

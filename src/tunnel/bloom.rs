//! Duplicate tunnel message detection (tunnels/implementation "Participant Processing"): a
//! decaying Bloom filter over `IV XOR first data block`, so that a non-sequential colluding
//! pair cannot tag a message by replaying it with IV and first block swapped.
//!
//! Two generations: lookups check both, inserts go to the current one, and the older one is
//! cleared and becomes current when the current one has lived for `generation_ms` or has taken
//! its designed number of entries. An entry is therefore remembered for at least one full
//! generation (10 minutes by default: a tunnel's lifetime), and the false positive rate stays
//! at its design point even under a flood, at the price of a shorter memory.

use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::Hasher;

pub struct DecayingBloom {
    bits: [Vec<u64>; 2],
    current: usize,
    /// Number of bits per generation (a power of two, so indexing is a mask).
    mask: u64,
    hashes: u32,
    capacity: usize,
    inserted: usize,
    rotated_at_ms: u64,
    generation_ms: u64,
    k0: u64,
    k1: u64,
}

impl DecayingBloom {
    /// A filter for about `capacity` entries per generation with a false positive rate of about
    /// 1e-5 at that load (24 bits per entry, 16 hashes; rounded up to a power of two of bits).
    /// `keys` seed the hash so that peers cannot craft colliding IVs.
    pub fn new(capacity: usize, generation_ms: u64, now_ms: u64, keys: (u64, u64)) -> Self {
        let capacity = capacity.max(1024);
        let want_bits = (capacity as u64).saturating_mul(24).max(1 << 16);
        let bits = want_bits.checked_next_power_of_two().unwrap_or(1 << 40);
        let words = (bits / 64) as usize;
        Self {
            bits: [vec![0u64; words], vec![0u64; words]],
            current: 0,
            mask: bits - 1,
            hashes: 16,
            capacity,
            inserted: 0,
            rotated_at_ms: now_ms,
            generation_ms,
            k0: keys.0,
            k1: keys.1,
        }
    }

    /// Heap bytes held by the two generations.
    pub fn memory_bytes(&self) -> usize {
        (self.bits[0].len() + self.bits[1].len()) * 8
    }

    fn positions(&self, key: &[u8; 16]) -> impl Iterator<Item = u64> + use<> {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(key);
        let h = h.finish128();
        let (a, b) = (h.h1, h.h2 | 1);
        let mask = self.mask;
        // Kirsch-Mitzenmacher double hashing: k indices from two 64-bit hashes.
        (0..u64::from(self.hashes)).map(move |i| a.wrapping_add(i.wrapping_mul(b)) & mask)
    }

    fn test(gen_bits: &[u64], pos: u64) -> bool {
        gen_bits[(pos >> 6) as usize] & (1u64 << (pos & 63)) != 0
    }

    /// Rotate if the current generation is old or full.
    pub fn maintain(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.rotated_at_ms) >= self.generation_ms
            || self.inserted >= self.capacity
        {
            self.current ^= 1;
            self.bits[self.current].fill(0);
            self.inserted = 0;
            self.rotated_at_ms = now_ms;
        }
    }

    /// Whether `key` is (probably) in either generation, without inserting it.
    pub fn contains(&self, key: &[u8; 16]) -> bool {
        let cur = self.current;
        let mut in_cur = true;
        let mut in_old = true;
        for pos in self.positions(key) {
            in_cur &= Self::test(&self.bits[cur], pos);
            in_old &= Self::test(&self.bits[cur ^ 1], pos);
        }
        in_cur || in_old
    }

    /// Insert `key`; returns true if it was (probably) seen before, in which case the message
    /// must be dropped.
    pub fn check_and_insert(&mut self, key: &[u8; 16], now_ms: u64) -> bool {
        self.maintain(now_ms);
        let cur = self.current;
        let mut in_cur = true;
        let mut in_old = true;
        for pos in self.positions(key) {
            in_cur &= Self::test(&self.bits[cur], pos);
            in_old &= Self::test(&self.bits[cur ^ 1], pos);
            let w = &mut self.bits[cur][(pos >> 6) as usize];
            *w |= 1u64 << (pos & 63);
        }
        if !in_cur {
            self.inserted += 1;
        }
        in_cur || in_old
    }
}

/// The value the filter is keyed on: IV XOR the first 16 bytes of the encrypted data, taken
/// from the message as received (before our layer transform).
pub fn dedup_key(payload: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    if payload.len() >= 32 {
        for i in 0..16 {
            k[i] = payload[i] ^ payload[16 + i];
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&i.to_le_bytes());
        k[8..].copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
        k
    }

    #[test]
    fn detects_duplicates_with_few_false_positives() {
        let mut b = DecayingBloom::new(50_000, 600_000, 0, (1, 2));
        let mut fp = 0;
        for i in 0..50_000 {
            if b.check_and_insert(&key(i), 0) {
                fp += 1;
            }
        }
        assert!(fp <= 5, "false positives on fresh keys: {fp}");
        for i in 0..50_000 {
            assert!(b.check_and_insert(&key(i), 1), "duplicate {i} missed");
        }
    }

    #[test]
    fn entries_live_one_to_two_generations() {
        let mut b = DecayingBloom::new(1024, 1000, 0, (3, 4));
        assert!(!b.check_and_insert(&key(1), 0));
        b.maintain(999);
        assert!(b.contains(&key(1)));
        // First rotation: the entry moves to the old generation and is still remembered.
        b.maintain(1000);
        assert!(b.contains(&key(1)));
        // Second rotation: forgotten.
        b.maintain(2000);
        assert!(!b.contains(&key(1)));
    }

    #[test]
    fn a_full_generation_rotates_early() {
        let mut b = DecayingBloom::new(1024, 1_000_000, 0, (5, 6));
        for i in 0..1024 {
            b.check_and_insert(&key(i), 0);
        }
        assert!(b.contains(&key(0)));
        b.maintain(1);
        assert!(b.contains(&key(0)), "moved to the old generation");
        for i in 2000..3024 {
            b.check_and_insert(&key(i), 2);
        }
        b.maintain(3);
        assert!(!b.contains(&key(0)));
    }

    #[test]
    fn swapped_iv_and_block_is_the_same_key() {
        let mut p = [0u8; 1024];
        for (i, b) in p.iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut q = p;
        q[..16].copy_from_slice(&p[16..32]);
        q[16..32].copy_from_slice(&p[..16]);
        assert_eq!(dedup_key(&p), dedup_key(&q));
    }
}

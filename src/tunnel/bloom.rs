//! Duplicate tunnel message detection (tunnels/implementation "Participant Processing"): a
//! decaying Bloom filter over `IV XOR first data block`, so that a non-sequential colluding
//! pair cannot tag a message by replaying it with IV and first block swapped.
//!
//! Two generations: lookups check both, inserts go to the current one, and the older one is
//! cleared and becomes current when the current one has lived for `generation_ms` or has taken
//! its designed number of entries. An entry is therefore remembered for at least one full
//! generation (`BLOOM_GENERATION_MS` in the shard: 2 minutes, longer than a TunnelData message
//! is accepted for), and the false positive rate stays at its design point even under a flood,
//! at the price of a shorter memory.

use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::Hasher;

/// Bits per block: one 64-byte cache line.
const BLOCK_BITS: u64 = 512;
const BLOCK_WORDS: usize = (BLOCK_BITS / 64) as usize;

/// Bits of a key per block, and blocks per key.
const BITS_PER_BLOCK: usize = 8;
const BLOCKS_PER_KEY: usize = 2;

/// A *blocked* Bloom filter (Putze, Sanders, Singler: "Cache-, Hash- and Space-Efficient
/// Bloom Filters"): a key's 16 bits fall in two 64-byte blocks picked by the hash (8 in each),
/// so a check-and-insert touches two cache lines per generation instead of 16, and the shard
/// prefetches them for a whole batch before checking any. Why: the filter is sized for minutes
/// of full-bandwidth traffic (tens of MiB), far beyond the caches, and with 16 scattered bits
/// it was a tenth of a relay core's time under load. Blocks fill unevenly, which costs false
/// positives at the same size; two blocks per key keep most of the classic filter's rate
/// (about 2e-5 per generation at 24 bits per entry, the full design load, against 5e-5 with
/// one block of 12 bits, which dropped 2 of 13M relayed messages in a bench run), less below
/// that load and less again when the size rounds up to a power of two.
pub struct DecayingBloom {
    /// Two generations of `blocks * 8` words, each starting `base` words into its vector so
    /// that blocks are cache-line aligned (the vectors are only 8-byte aligned).
    bits: [Vec<u64>; 2],
    base: [usize; 2],
    current: usize,
    /// Number of blocks per generation minus one (a power of two, so indexing is a mask).
    block_mask: u64,
    capacity: usize,
    inserted: usize,
    rotated_at_ms: u64,
    generation_ms: u64,
    k0: u64,
    k1: u64,
}

/// The SplitMix64 output function (Steele, Lea, Flood 2014): a bijective 64-bit mix.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zeroed words holding `blocks` cache-line-aligned blocks, and the offset of the first.
/// `vec![0; n]` is a calloc: pages stay untouched (and out of RSS) until a key lands in them.
fn aligned_blocks(blocks: usize) -> (Vec<u64>, usize) {
    let v = vec![0u64; blocks * BLOCK_WORDS + BLOCK_WORDS - 1];
    advise_huge_pages(&v);
    let misalign = (v.as_ptr() as usize % 64) / 8;
    let base = (BLOCK_WORDS - misalign) % BLOCK_WORDS;
    (v, base)
}

/// Ask Linux to back a large filter with transparent huge pages. Why: every message touches a
/// random block of tens of MiB, and with 4 KiB pages nearly every touch is a TLB miss and a
/// page walk on top of the cache miss. Best effort: a kernel without THP (or with it set to
/// `never`) refuses and the filter works as before.
fn advise_huge_pages(v: &[u64]) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start + std::mem::size_of_val(v);
        let first = start.next_multiple_of(PAGE);
        if end.saturating_sub(first) < 2 * HUGE {
            return;
        }
        let len = (end - first) / PAGE * PAGE;
        // SAFETY: [first, first + len) lies inside `v`'s allocation and is page aligned;
        // MADV_HUGEPAGE only changes how the kernel backs those pages, never their contents.
        unsafe {
            libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// Clear a generation. Why not `fill(0)`: that writes tens of MiB in one go, stalling the
/// shard's forwarding for milliseconds, and keeps every page resident while the new generation
/// refills slowly. On Linux the whole pages are handed back instead (MADV_DONTNEED: the next
/// touch of a private anonymous page maps a fresh zero page) and only the partial pages at the
/// ends are written.
fn zero_and_release(v: &mut [u64]) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = v.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(v);
        let first = start.next_multiple_of(PAGE);
        let last = end / PAGE * PAGE;
        if last > first {
            // SAFETY: [first, last) is page aligned and lies inside `v`, which we borrow
            // mutably, so no other reference observes the contents change to zero (what
            // MADV_DONTNEED does to private anonymous memory, which heap memory is).
            let rc = unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_DONTNEED,
                )
            };
            if rc == 0 {
                let (head, rest) = v.split_at_mut((first - start) / 8);
                head.fill(0);
                rest[(last - first) / 8..].fill(0);
                return;
            }
        }
    }
    v.fill(0);
}

/// Where a key lives in the filter, computed ahead of the check so that a batch of messages
/// can have all their blocks on the way from memory before the first is checked
/// ([`DecayingBloom::locate_and_prefetch`]).
#[derive(Clone, Copy)]
pub struct Slot {
    /// Word offset of each block within a generation (before `base`) and the key's bits in it.
    blocks: [(usize, [u64; BLOCK_WORDS]); BLOCKS_PER_KEY],
}

impl DecayingBloom {
    /// A filter for about `capacity` entries per generation (24 bits per entry, rounded up to
    /// a power of two of 512-bit blocks). `keys` seed the hash so that peers cannot craft
    /// colliding IVs.
    pub fn new(capacity: usize, generation_ms: u64, now_ms: u64, keys: (u64, u64)) -> Self {
        let capacity = capacity.max(1024);
        let want_bits = (capacity as u64).saturating_mul(24).max(1 << 16);
        let bits = want_bits.checked_next_power_of_two().unwrap_or(1 << 40);
        let blocks = (bits / BLOCK_BITS) as usize;
        let (a, base_a) = aligned_blocks(blocks);
        let (b, base_b) = aligned_blocks(blocks);
        Self {
            bits: [a, b],
            base: [base_a, base_b],
            current: 0,
            block_mask: blocks as u64 - 1,
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

    /// [`Slot`] of `key`, and a prefetch of its blocks in both generations.
    pub fn locate_and_prefetch(&self, key: &[u8; 16]) -> Slot {
        let slot = self.locate(key);
        #[cfg(target_arch = "x86_64")]
        for (offset, _) in &slot.blocks {
            for g in 0..2 {
                let p = self.block(g, *offset).as_ptr();
                // SAFETY: SSE is part of x86_64; a prefetch never faults, `p` is in bounds.
                #[allow(unused_unsafe)]
                unsafe {
                    core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                        p.cast(),
                    )
                };
            }
        }
        slot
    }

    fn locate(&self, key: &[u8; 16]) -> Slot {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(key);
        let h = h.finish128();
        // Blocks from the two halves of h1 (at most 2^31 blocks: 1 TiB of filter). Each bit
        // position takes its own 9 hash bits: 7 per 64-bit word, from h2 and SplitMix64
        // finalisers of both halves. (Double hashing inside a block, a + i*b, was tried: only
        // 2^17 distinct patterns per block, and false positives measured 100x the design.)
        let words = [
            h.h2,
            splitmix64(h.h1 ^ h.h2.rotate_left(32)),
            splitmix64(h.h2 ^ h.h1.rotate_left(17)),
        ];
        let mut blocks = [(0usize, [0u64; BLOCK_WORDS]); BLOCKS_PER_KEY];
        for (b, (offset, mask)) in blocks.iter_mut().enumerate() {
            *offset = (((h.h1 >> (32 * b)) & self.block_mask) as usize) * BLOCK_WORDS;
            for j in 0..BITS_PER_BLOCK {
                let i = b * BITS_PER_BLOCK + j;
                let pos = (words[i / 7] >> (9 * (i % 7))) & (BLOCK_BITS - 1);
                mask[(pos >> 6) as usize] |= 1u64 << (pos & 63);
            }
        }
        Slot { blocks }
    }

    fn block(&self, generation: usize, offset: usize) -> &[u64] {
        let start = self.base[generation] + offset;
        &self.bits[generation][start..start + BLOCK_WORDS]
    }

    fn has(block: &[u64], mask: &[u64; BLOCK_WORDS]) -> bool {
        block.iter().zip(mask).all(|(w, m)| w & m == *m)
    }

    /// Rotate if the current generation is old or full.
    pub fn maintain(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.rotated_at_ms) >= self.generation_ms
            || self.inserted >= self.capacity
        {
            self.current ^= 1;
            zero_and_release(&mut self.bits[self.current]);
            self.inserted = 0;
            self.rotated_at_ms = now_ms;
        }
    }

    /// Whether `key` is (probably) in either generation, without inserting it.
    pub fn contains(&self, key: &[u8; 16]) -> bool {
        let slot = self.locate(key);
        (0..2).any(|g| {
            slot.blocks
                .iter()
                .all(|(offset, mask)| Self::has(self.block(g, *offset), mask))
        })
    }

    /// Insert `key`; returns true if it was (probably) seen before, in which case the message
    /// must be dropped.
    pub fn check_and_insert(&mut self, key: &[u8; 16], now_ms: u64) -> bool {
        let slot = self.locate(key);
        self.check_and_insert_slot(slot, now_ms)
    }

    /// [`check_and_insert`](Self::check_and_insert) with the key already located. A slot does
    /// not depend on the generation, so it stays valid across a rotation.
    pub fn check_and_insert_slot(&mut self, slot: Slot, now_ms: u64) -> bool {
        self.maintain(now_ms);
        let cur = self.current;
        let in_old = slot
            .blocks
            .iter()
            .all(|(offset, mask)| Self::has(self.block(cur ^ 1, *offset), mask));
        let mut in_cur = true;
        for (offset, mask) in &slot.blocks {
            let start = self.base[cur] + offset;
            let block = &mut self.bits[cur][start..start + BLOCK_WORDS];
            in_cur &= Self::has(block, mask);
            for (w, m) in block.iter_mut().zip(mask) {
                *w |= m;
            }
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

    /// The design point: a generation full at exactly 24 bits per entry. Theory for two 512-bit
    /// blocks of 8 bits per key gives about 1.7e-5 (22 per million measured); the classic filter (16 bits anywhere) has
    /// 1e-5, one block of 12 bits 5e-5 (46 per million measured). Also checks that every
    /// inserted key is found.
    #[test]
    fn false_positive_rate_at_design_load() {
        let capacity = (1 << 20) / 24; // rounds up to exactly 2^20 bits
        let mut b = DecayingBloom::new(capacity, 600_000, 0, (7, 8));
        for i in 0..capacity as u64 {
            b.check_and_insert(&key(i), 0);
        }
        assert!((0..capacity as u64).all(|i| b.contains(&key(i))));
        let trials = 1_000_000u64;
        let fp = (0..trials)
            .filter(|i| b.contains(&key(u64::MAX - i)))
            .count();
        assert!(fp <= 50, "{fp} false positives per {trials}");
    }

    #[test]
    fn a_slot_located_before_a_rotation_still_finds_the_key() {
        let mut b = DecayingBloom::new(1024, 1000, 0, (9, 10));
        let slot = b.locate_and_prefetch(&key(42));
        assert!(!b.check_and_insert_slot(slot, 0));
        let again = b.locate_and_prefetch(&key(42));
        // The generation holding the key becomes the old one on this call's rotation.
        assert!(b.check_and_insert_slot(again, 1000));
        assert!(b.check_and_insert(&key(42), 1001));
    }

    #[test]
    fn a_rotation_clears_every_word_of_a_large_generation() {
        // Large enough for whole pages to be released rather than written.
        let mut b = DecayingBloom::new(1 << 18, 1000, 0, (11, 12));
        for i in 0..(1 << 18) {
            b.check_and_insert(&key(i), 0);
        }
        b.maintain(1000); // the full generation becomes the old one
        b.maintain(2000); // and is cleared to become current again
        assert!(b.bits.iter().all(|g| g.iter().all(|w| *w == 0)));
        assert!(!b.contains(&key(1)));
        assert!(!b.check_and_insert(&key(1), 2000));
        assert!(b.check_and_insert(&key(1), 2000));
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

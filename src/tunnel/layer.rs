//! Tunnel layer crypto (tunnels/implementation "Participant Processing"):
//!
//! ```text
//! IV   = AES-256-ECB-encrypt(ivKey, IV)
//! data = AES-256-CBC-encrypt(layerKey, IV, data)      (1008 bytes, 63 blocks)
//! IV   = AES-256-ECB-encrypt(ivKey, IV)
//! ```
//!
//! Every transit role (participant, IBGW, OBEP) runs this "encrypt" direction only, so a hop
//! keeps two encrypt-only key schedules, expanded once when the tunnel is created. The inverse
//! ([`LayerDecryptor`]) is what a tunnel creator runs (outbound gateway pre-processing, inbound
//! endpoint post-processing); it lives here so tests and the bench can drive a whole tunnel.
//!
//! On x86_64 with AES-NI the transform runs in [`ni`]: CBC is serial, and going through the
//! `aes` crate one block at a time (a call per block that cannot be inlined across the runtime
//! feature check, the block passed through memory) ran at about half of OpenSSL's AES-256-CBC
//! speed on the same machine. [`ni`] keeps the chain and the round keys in registers. Its
//! schedule is also 240 bytes instead of the crate's 960 (which reserves room for both its
//! AES-NI and software schedules), which is most of a transit tunnel's memory. Elsewhere the
//! `aes` crate is used. Both paths are checked against OpenSSL and against each other.

use aes::Aes256Enc;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};

use super::{TUNNEL_ENCRYPTED_LEN, TUNNEL_PAYLOAD_LEN};

/// The encrypt-direction layer transform of one hop.
#[derive(Clone)]
pub struct LayerCipher {
    imp: Imp,
}

// The AES-NI variant is inline on purpose: it is the common case and the hot path, and
// boxing it would add a pointer chase per message; the rare portable variant is boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Imp {
    #[cfg(target_arch = "x86_64")]
    Ni {
        layer: ni::Schedule,
        iv: ni::Schedule,
    },
    /// Boxed so that the common AES-NI case does not pay for the larger portable schedules.
    Portable(Box<(Aes256Enc, Aes256Enc)>),
}

impl LayerCipher {
    pub fn new(layer_key: &[u8; 32], iv_key: &[u8; 32]) -> Self {
        #[cfg(target_arch = "x86_64")]
        if ni::available() {
            // SAFETY: AES-NI is present (checked just above at run time).
            let (layer, iv) = unsafe { (ni::expand(layer_key), ni::expand(iv_key)) };
            return Self {
                imp: Imp::Ni { layer, iv },
            };
        }
        Self::new_portable(layer_key, iv_key)
    }

    /// The `aes` crate implementation regardless of CPU features (tests, bench comparison).
    pub fn new_portable(layer_key: &[u8; 32], iv_key: &[u8; 32]) -> Self {
        Self {
            imp: Imp::Portable(Box::new((
                Aes256Enc::new(layer_key.into()),
                Aes256Enc::new(iv_key.into()),
            ))),
        }
    }

    /// Whether the AES-NI path is in use.
    pub fn is_accelerated(&self) -> bool {
        match &self.imp {
            #[cfg(target_arch = "x86_64")]
            Imp::Ni { .. } => true,
            Imp::Portable(_) => false,
        }
    }

    /// Transform `payload` = IV (16) || data (1008) in place.
    pub fn encrypt(&self, payload: &mut [u8; TUNNEL_PAYLOAD_LEN]) {
        match &self.imp {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Imp::Ni` is only built after `ni::available()` returned true.
            Imp::Ni { layer, iv } => unsafe { ni::transform(layer, iv, payload) },
            Imp::Portable(k) => portable_transform(&k.0, &k.1, payload),
        }
    }

    /// Transform several payloads, each with its own hop's keys: the same result as
    /// [`encrypt`](Self::encrypt) on each in turn, but faster when there are several.
    ///
    /// Why: CBC encryption is serial within one message, so a single chain leaves the AES unit
    /// idle for most of each instruction's latency (one `aesenc` every 4 cycles where the core
    /// can start two per cycle). Chains of *different* messages are independent, so on AES-NI
    /// [`LANES`] of them run interleaved, one round of each in turn. A shard collects the
    /// participant messages of one received batch and transforms them together.
    pub fn encrypt_many(jobs: &mut [(&LayerCipher, &mut [u8; TUNNEL_PAYLOAD_LEN])]) {
        #[cfg(target_arch = "x86_64")]
        {
            let mut rest: &mut [(&LayerCipher, &mut [u8; TUNNEL_PAYLOAD_LEN])] = jobs;
            while rest.len() >= 2 {
                let n = if rest.len() >= LANES {
                    LANES
                } else if rest.len() >= 4 {
                    4
                } else {
                    2
                };
                let (group, tail) = rest.split_at_mut(n);
                match n {
                    LANES => transform_group::<LANES>(group),
                    4 => transform_group::<4>(group),
                    _ => transform_group::<2>(group),
                }
                rest = tail;
            }
            for (c, p) in rest.iter_mut() {
                c.encrypt(p);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        for (c, p) in jobs.iter_mut() {
            c.encrypt(p);
        }
    }

    /// Transform the 1024-byte payload region of a slice (e.g. inside a TunnelData message
    /// buffer). Returns false if `payload` is not exactly 1024 bytes.
    #[must_use]
    pub fn encrypt_slice(&self, payload: &mut [u8]) -> bool {
        match <&mut [u8; TUNNEL_PAYLOAD_LEN]>::try_from(payload) {
            Ok(p) => {
                self.encrypt(p);
                true
            }
            Err(_) => false,
        }
    }
}

/// Chains interleaved by [`LayerCipher::encrypt_many`]: AES-NI cores start one or two `aesenc`
/// per cycle with a latency of about 4 cycles, so 8 independent chains keep the unit busy.
pub const LANES: usize = 8;

/// `N` jobs through the interleaved AES-NI path if all of them use it, else one by one.
#[cfg(target_arch = "x86_64")]
fn transform_group<const N: usize>(group: &mut [(&LayerCipher, &mut [u8; TUNNEL_PAYLOAD_LEN])]) {
    debug_assert_eq!(group.len(), N);
    let mut layers: [Option<&ni::Schedule>; N] = [None; N];
    let mut ivks: [Option<&ni::Schedule>; N] = [None; N];
    for (j, (c, _)) in group.iter().enumerate() {
        if let Imp::Ni { layer, iv } = &c.imp {
            layers[j] = Some(layer);
            ivks[j] = Some(iv);
        }
    }
    if let (Some(layers), Some(ivks)) = (all(layers), all(ivks)) {
        let payloads: [*mut u8; N] = std::array::from_fn(|j| group[j].1.as_mut_ptr());
        // SAFETY: every cipher is `Imp::Ni`, built only after `ni::available()`; the payloads
        // are N distinct `&mut [u8; 1024]` borrowed from `group` for the whole call.
        unsafe { ni::transform_lanes::<N>(&layers, &ivks, &payloads) };
    } else {
        for (c, p) in group.iter_mut() {
            c.encrypt(p);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn all<T: Copy, const N: usize>(xs: [Option<T>; N]) -> Option<[T; N]> {
    if xs.iter().any(Option::is_none) {
        return None;
    }
    Some(std::array::from_fn(|j| xs[j].expect("checked above")))
}

fn portable_transform(layer: &Aes256Enc, ivk: &Aes256Enc, payload: &mut [u8; TUNNEL_PAYLOAD_LEN]) {
    let (iv, data) = payload.split_at_mut(16);
    let iv = GenericArray::from_mut_slice(iv);
    ivk.encrypt_block(iv);
    // CBC by hand over the fixed 63 blocks: no padding, no per-message cipher object.
    let mut prev = *iv;
    for block in data.chunks_exact_mut(16) {
        let b = GenericArray::from_mut_slice(block);
        for (x, p) in b.iter_mut().zip(prev.iter()) {
            *x ^= *p;
        }
        layer.encrypt_block(b);
        prev.copy_from_slice(b);
    }
    ivk.encrypt_block(iv);
}

/// AES-256 encryption with AES-NI: key expansion (FIPS-197 via `aeskeygenassist`, as in
/// Intel's AES-NI white paper) and the layer transform with everything in registers.
#[cfg(target_arch = "x86_64")]
pub mod ni {
    use core::arch::x86_64::*;

    use super::TUNNEL_PAYLOAD_LEN;

    /// The 15 round keys of AES-256.
    #[derive(Clone, Copy)]
    pub struct Schedule([__m128i; 15]);

    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("aes")
    }

    /// Next even round key: previous even key with its words prefix-XORed, plus the
    /// `aeskeygenassist` word (RotWord/SubWord/Rcon of the last word of the odd key).
    #[target_feature(enable = "aes")]
    fn even(prev_even: __m128i, assist: __m128i) -> __m128i {
        let assist = _mm_shuffle_epi32::<0xff>(assist);
        let mut t = prev_even;
        let mut s = _mm_slli_si128::<4>(t);
        t = _mm_xor_si128(t, s);
        s = _mm_slli_si128::<4>(s);
        t = _mm_xor_si128(t, s);
        s = _mm_slli_si128::<4>(s);
        t = _mm_xor_si128(t, s);
        _mm_xor_si128(t, assist)
    }

    /// Next odd round key: SubWord (no rotation, no Rcon) of the new even key's last word.
    #[target_feature(enable = "aes")]
    fn odd(new_even: __m128i, prev_odd: __m128i) -> __m128i {
        let assist = _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(new_even));
        let mut t = prev_odd;
        let mut s = _mm_slli_si128::<4>(t);
        t = _mm_xor_si128(t, s);
        s = _mm_slli_si128::<4>(s);
        t = _mm_xor_si128(t, s);
        s = _mm_slli_si128::<4>(s);
        t = _mm_xor_si128(t, s);
        _mm_xor_si128(t, assist)
    }

    /// Expand a 256-bit key.
    ///
    /// # Safety
    /// The CPU must support AES-NI ([`available`]).
    #[target_feature(enable = "aes")]
    pub unsafe fn expand(key: &[u8; 32]) -> Schedule {
        // SAFETY: `key` is 32 bytes, so both unaligned 16-byte loads are in bounds.
        let (mut e, mut o) = unsafe {
            (
                _mm_loadu_si128(key.as_ptr().cast()),
                _mm_loadu_si128(key.as_ptr().add(16).cast()),
            )
        };
        let mut rk = [_mm_setzero_si128(); 15];
        rk[0] = e;
        rk[1] = o;
        // The round constant must be an immediate, hence the unrolled steps.
        macro_rules! step {
            ($rcon:literal, $i:literal) => {
                e = even(e, _mm_aeskeygenassist_si128::<$rcon>(o));
                o = odd(e, o);
                rk[$i] = e;
                rk[$i + 1] = o;
            };
        }
        step!(0x01, 2);
        step!(0x02, 4);
        step!(0x04, 6);
        step!(0x08, 8);
        step!(0x10, 10);
        step!(0x20, 12);
        // Round key 14 is the last: no odd key after it.
        rk[14] = even(e, _mm_aeskeygenassist_si128::<0x40>(o));
        Schedule(rk)
    }

    #[inline]
    #[target_feature(enable = "aes")]
    fn encrypt_block(k: &Schedule, b: __m128i) -> __m128i {
        let mut x = _mm_xor_si128(b, k.0[0]);
        for rk in &k.0[1..14] {
            x = _mm_aesenc_si128(x, *rk);
        }
        _mm_aesenclast_si128(x, k.0[14])
    }

    /// One block (tests: FIPS-197 known answer).
    ///
    /// # Safety
    /// The CPU must support AES-NI.
    #[target_feature(enable = "aes")]
    pub unsafe fn encrypt_one(k: &Schedule, block: &mut [u8; 16]) {
        // SAFETY: 16-byte buffer, unaligned load/store.
        unsafe {
            let b = encrypt_block(k, _mm_loadu_si128(block.as_ptr().cast()));
            _mm_storeu_si128(block.as_mut_ptr().cast(), b);
        }
    }

    /// The layer transform (see the module docs of `layer`).
    ///
    /// # Safety
    /// The CPU must support AES-NI.
    #[target_feature(enable = "aes")]
    pub unsafe fn transform(
        layer: &Schedule,
        ivk: &Schedule,
        payload: &mut [u8; TUNNEL_PAYLOAD_LEN],
    ) {
        let p = payload.as_mut_ptr();
        // SAFETY: the payload is 1024 bytes = 64 blocks; every access below is to block
        // i in 0..64 (offset 16 * i, 16 bytes), unaligned loads and stores.
        unsafe {
            let iv = encrypt_block(ivk, _mm_loadu_si128(p.cast()));
            let mut prev = iv;
            for i in 1..TUNNEL_PAYLOAD_LEN / 16 {
                let q = p.add(16 * i).cast::<__m128i>();
                prev = encrypt_block(layer, _mm_xor_si128(_mm_loadu_si128(q), prev));
                _mm_storeu_si128(q, prev);
            }
            _mm_storeu_si128(p.cast(), encrypt_block(ivk, iv));
        }
    }

    /// One block in each of `N` lanes, each with its own key: round r of every lane is issued
    /// before round r + 1 of any, so the lanes' `aesenc` latencies overlap.
    #[inline]
    #[target_feature(enable = "aes")]
    fn encrypt_lanes<const N: usize>(k: &[&Schedule; N], mut x: [__m128i; N]) -> [__m128i; N] {
        for j in 0..N {
            x[j] = _mm_xor_si128(x[j], k[j].0[0]);
        }
        for r in 1..14 {
            for j in 0..N {
                x[j] = _mm_aesenc_si128(x[j], k[j].0[r]);
            }
        }
        for j in 0..N {
            x[j] = _mm_aesenclast_si128(x[j], k[j].0[14]);
        }
        x
    }

    /// [`transform`] of `N` payloads at once, interleaved (see `LayerCipher::encrypt_many`).
    ///
    /// # Safety
    /// The CPU must support AES-NI, and every `payloads[j]` must point to 1024 writable bytes
    /// not aliased by any other lane or reference for the duration of the call.
    #[target_feature(enable = "aes")]
    pub unsafe fn transform_lanes<const N: usize>(
        layers: &[&Schedule; N],
        ivks: &[&Schedule; N],
        payloads: &[*mut u8; N],
    ) {
        // SAFETY: per the contract each pointer covers 1024 bytes = 64 blocks; every access is
        // to block i in 0..64 of one lane (offset 16 * i, 16 bytes), unaligned.
        unsafe {
            let load = |j: usize, i: usize| _mm_loadu_si128(payloads[j].add(16 * i).cast());
            let iv = encrypt_lanes(ivks, std::array::from_fn(|j| load(j, 0)));
            let mut prev = iv;
            for i in 1..TUNNEL_PAYLOAD_LEN / 16 {
                let x = std::array::from_fn(|j| _mm_xor_si128(load(j, i), prev[j]));
                prev = encrypt_lanes(layers, x);
                for (j, b) in prev.iter().enumerate() {
                    _mm_storeu_si128(payloads[j].add(16 * i).cast(), *b);
                }
            }
            let out = encrypt_lanes(ivks, iv);
            for (j, b) in out.iter().enumerate() {
                _mm_storeu_si128(payloads[j].cast(), *b);
            }
        }
    }
}

/// The inverse transform: what a creator applies per hop to undo (or pre-undo) that hop's
/// [`LayerCipher::encrypt`].
#[derive(Clone)]
pub struct LayerDecryptor {
    layer: aes::Aes256,
    iv: aes::Aes256,
}

impl LayerDecryptor {
    pub fn new(layer_key: &[u8; 32], iv_key: &[u8; 32]) -> Self {
        Self {
            layer: aes::Aes256::new(layer_key.into()),
            iv: aes::Aes256::new(iv_key.into()),
        }
    }

    pub fn decrypt(&self, payload: &mut [u8; TUNNEL_PAYLOAD_LEN]) {
        let (iv, data) = payload.split_at_mut(16);
        let iv = GenericArray::from_mut_slice(iv);
        self.iv.decrypt_block(iv);
        let mut prev = *iv;
        debug_assert_eq!(data.len(), TUNNEL_ENCRYPTED_LEN);
        for block in data.chunks_exact_mut(16) {
            let b = GenericArray::from_mut_slice(block);
            let saved = *b;
            self.layer.decrypt_block(b);
            for (x, p) in b.iter_mut().zip(prev.iter()) {
                *x ^= *p;
            }
            prev = saved;
        }
        self.iv.decrypt_block(iv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answer computed independently with OpenSSL (`src/tunnel/testdata/layer_vector.sh`
    /// holds the exact commands): layer key 00..1f, IV key 20..3f, IV 40..4f, data byte i =
    /// (i * 7 + 3) mod 256.
    #[test]
    fn participant_transform_matches_openssl() {
        let layer: [u8; 32] = std::array::from_fn(|i| i as u8);
        let ivk: [u8; 32] = std::array::from_fn(|i| 0x20 + i as u8);
        let mut p = [0u8; TUNNEL_PAYLOAD_LEN];
        for (i, b) in p[..16].iter_mut().enumerate() {
            *b = 0x40 + i as u8;
        }
        for (i, b) in p[16..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let orig = p;
        LayerCipher::new(&layer, &ivk).encrypt(&mut p);
        let want = include_str!("testdata/layer_vector.hex");
        let want: Vec<u8> = (0..want.trim().len() / 2)
            .map(|i| u8::from_str_radix(&want.trim()[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(want.len(), TUNNEL_PAYLOAD_LEN);
        assert_eq!(&p[..], &want[..]);
        LayerDecryptor::new(&layer, &ivk).decrypt(&mut p);
        assert_eq!(p, orig);
    }

    #[test]
    fn both_implementations_match_openssl() {
        let layer: [u8; 32] = std::array::from_fn(|i| i as u8);
        let ivk: [u8; 32] = std::array::from_fn(|i| 0x20 + i as u8);
        let mut a = [0u8; TUNNEL_PAYLOAD_LEN];
        for (i, b) in a[..16].iter_mut().enumerate() {
            *b = 0x40 + i as u8;
        }
        for (i, b) in a[16..].iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let mut b = a;
        let fast = LayerCipher::new(&layer, &ivk);
        let portable = LayerCipher::new_portable(&layer, &ivk);
        assert!(!portable.is_accelerated());
        #[cfg(target_arch = "x86_64")]
        assert_eq!(fast.is_accelerated(), ni::available());
        fast.encrypt(&mut a);
        portable.encrypt(&mut b);
        assert_eq!(a, b);
        let want = include_str!("testdata/layer_vector.hex");
        assert_eq!(
            a.iter().map(|x| format!("{x:02x}")).collect::<String>(),
            want.trim()
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn aes_ni_key_expansion_fips197() {
        if !ni::available() {
            return;
        }
        // FIPS-197 appendix C.3: AES-256.
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let mut block: [u8; 16] = std::array::from_fn(|i| (i as u8) * 0x11);
        // SAFETY: AES-NI checked above.
        unsafe { ni::encrypt_one(&ni::expand(&key), &mut block) };
        assert_eq!(
            block,
            [
                0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf, 0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49,
                0x60, 0x89
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn accelerated_equals_portable(
            lk in proptest::prelude::any::<[u8; 32]>(),
            ik in proptest::prelude::any::<[u8; 32]>(),
            seed in proptest::prelude::any::<u64>(),
        ) {
            use rand::{RngCore, SeedableRng};
            let mut p = [0u8; TUNNEL_PAYLOAD_LEN];
            rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut p);
            let mut q = p;
            LayerCipher::new(&lk, &ik).encrypt(&mut p);
            LayerCipher::new_portable(&lk, &ik).encrypt(&mut q);
            proptest::prop_assert_eq!(p, q);
        }
    }

    #[test]
    fn encrypt_many_equals_one_by_one() {
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // Every group size the lanes split into (8, 4, 2, 1 and mixes), distinct keys per job.
        for n in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23] {
            let ciphers: Vec<LayerCipher> = (0..n)
                .map(|_| {
                    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
                    rng.fill_bytes(&mut a);
                    rng.fill_bytes(&mut b);
                    LayerCipher::new(&a, &b)
                })
                .collect();
            let mut payloads: Vec<[u8; TUNNEL_PAYLOAD_LEN]> = (0..n)
                .map(|_| {
                    let mut p = [0u8; TUNNEL_PAYLOAD_LEN];
                    rng.fill_bytes(&mut p);
                    p
                })
                .collect();
            let mut want = payloads.clone();
            for (c, p) in ciphers.iter().zip(want.iter_mut()) {
                c.encrypt(p);
            }
            let mut jobs: Vec<_> = ciphers.iter().zip(payloads.iter_mut()).collect();
            LayerCipher::encrypt_many(&mut jobs);
            assert!(payloads == want, "{n} jobs");
        }
    }

    #[test]
    fn encrypt_many_with_portable_ciphers() {
        let fast = LayerCipher::new(&[1; 32], &[2; 32]);
        let portable = LayerCipher::new_portable(&[3; 32], &[4; 32]);
        let mut a = [[5u8; TUNNEL_PAYLOAD_LEN]; 4];
        let mut want = a;
        fast.encrypt(&mut want[0]);
        portable.encrypt(&mut want[1]);
        fast.encrypt(&mut want[2]);
        portable.encrypt(&mut want[3]);
        let [p0, p1, p2, p3] = &mut a;
        LayerCipher::encrypt_many(&mut [
            (&fast, p0),
            (&portable, p1),
            (&fast, p2),
            (&portable, p3),
        ]);
        assert_eq!(a, want);
    }

    #[test]
    fn encrypt_slice_checks_length() {
        let c = LayerCipher::new(&[1; 32], &[2; 32]);
        assert!(!c.encrypt_slice(&mut [0u8; 1023]));
        let mut a = [0u8; 1024];
        assert!(c.encrypt_slice(&mut a));
        assert_ne!(a, [0u8; 1024]);
    }
}

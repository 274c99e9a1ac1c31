//! The Noise symmetric state (Noise spec rev. 33, section 5.2), hand-written for NTCP2 (and later
//! for SSU2 and ECIES, which use the same HKDF/SHA-256 construction with their own names).
//!
//! # Why not `snow`
//!
//! `snow` is in Cargo.toml and was evaluated for NTCP2; it cannot express the protocol, not even
//! partly:
//!
//! * The protocol name is `Noise_XKaesobfse+hs2+hs3_25519_ChaChaPoly_SHA256`. `h` and `ck` are
//!   initialised from that exact string, so every key depends on it. `snow::params::NoiseParams`
//!   only parses the standard grammar (`XK` plus the modifiers `pskN`/`fallback`/`hfs`) and rejects
//!   `aesobfse+hs2+hs3` (the unit test `snow_rejects_ntcp2_protocol_name` pins that), and snow
//!   offers no way to seed `h` with a custom name.
//! * Messages 1 and 2 carry cleartext padding outside the AEAD that must be MixHash'ed into `h`
//!   between handshake messages. snow's `SymmetricState` is private; a `HandshakeState` only
//!   mixes a prologue before the first message, so no padding can ever enter the transcript.
//! * The ephemeral keys X and Y go on the wire AES-256-CBC encrypted (key = Bob's router hash,
//!   IV = his published `i`, CBC state carried from message 1 to message 2). snow writes `e` in
//!   clear inside its own message buffer; rewriting it around snow would mean parsing snow's
//!   output and reimplementing the framing anyway.
//! * Message 3 is split into two AEAD frames with a MixKey in between, and its second frame's
//!   length is announced in message 1 - framing snow does not model.
//! * The data phase needs SipHash keys derived from the final `ck` *and* `h` (an "additional
//!   symmetric key"); snow exposes neither `ck` nor the ASK derivation
//!   (`dangerously_get_raw_split` only returns the two cipher keys).
//!
//! Even the primitives would bring nothing: snow's resolver wraps the same `chacha20poly1305`,
//! `sha2` and `x25519-dalek` crates this module uses directly. So the ~150 lines below implement
//! MixHash, MixKey, EncryptAndHash, DecryptAndHash and Split exactly as the Noise spec and the
//! NTCP2 KDF sections define them, and every secret in them is zeroized on drop.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// SHA-256 output length, Noise's HASHLEN.
pub const HASH_LEN: usize = 32;
/// Poly1305 tag length appended by every AEAD encryption.
pub const MAC_LEN: usize = 16;
/// The Noise protocol name NTCP2 initialises its symmetric state with (48 bytes, no NUL).
pub const NTCP2_PROTOCOL_NAME: &[u8] = b"Noise_XKaesobfse+hs2+hs3_25519_ChaChaPoly_SHA256";

/// Failures of the symmetric state. Kept small: callers map them onto protocol-level reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum NoiseError {
    /// The Poly1305 tag did not verify (tampering, wrong key or wrong transcript hash).
    #[error("AEAD authentication failed")]
    Aead,
    /// The ciphertext is shorter than a MAC.
    #[error("ciphertext of {0} bytes is shorter than the 16-byte MAC")]
    ShortCiphertext(usize),
    /// EncryptAndHash/DecryptAndHash before any MixKey: Noise would pass data through in clear,
    /// which NTCP2 never does, so this is a programming error surfaced as a value.
    #[error("no cipher key yet")]
    NoKey,
    /// The nonce reached 2^64-1, which Noise reserves; the session must be re-established.
    #[error("nonce space exhausted")]
    NonceExhausted,
    /// The crypto library itself failed (out of memory, or a library fault); which step.
    #[error("crypto library failed: {0}")]
    Backend(&'static str),
}

/// HMAC-SHA256 over the concatenation of `parts` (saves building temporary buffers that would
/// then need zeroizing themselves).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; HASH_LEN] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Noise HKDF with two outputs: `temp = HMAC(ck, ikm)`, `o1 = HMAC(temp, 0x01)`,
/// `o2 = HMAC(temp, o1 || 0x02)`.
pub fn hkdf2(
    chaining_key: &[u8; HASH_LEN],
    ikm: &[u8],
) -> (Zeroizing<[u8; HASH_LEN]>, Zeroizing<[u8; HASH_LEN]>) {
    let temp = Zeroizing::new(hmac_sha256(chaining_key, &[ikm]));
    let o1 = Zeroizing::new(hmac_sha256(&temp[..], &[&[0x01]]));
    let o2 = Zeroizing::new(hmac_sha256(&temp[..], &[&o1[..], &[0x02]]));
    (o1, o2)
}

/// The ChaCha20-Poly1305 nonce Noise and I2P use: 4 zero bytes then the counter little-endian.
pub fn chacha_nonce(n: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_le_bytes());
    nonce
}

/// AEAD_CHACHA20_POLY1305 encryption, returning `ciphertext || tag`.
pub fn aead_encrypt(key: &[u8; 32], n: u64, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + MAC_LEN);
    out.extend_from_slice(plaintext);
    ring_seal_in_place(key, n, ad, &mut out, 0);
    out
}

/// The NTCP2 data phase's AEAD: [`aead_encrypt`] and [`aead_decrypt`] in place, on OpenSSL.
///
/// Why OpenSSL here and ring for the rest: every relayed byte goes through this twice (in and
/// out), and it was ~45 % of a relay core under the relay bench after the other hot-path work.
/// On this project's build machine (AVX-512) OpenSSL 3's ChaCha20-Poly1305 seals 16 KiB frames
/// at 4.3 GB/s through this code against ring's 2.7 GB/s (ring and BoringSSL have AVX2 code
/// only; `cargo bench --bench ntcp2`, `chacha20poly1305/*`). i2pd uses OpenSSL too. For small
/// frames the per-frame context setup makes OpenSSL the slower one (1 KiB: 1.2 vs 1.8 GB/s), so
/// frames below [`OPENSSL_MIN_FRAME`] stay on ring; `data_phase_aead_matches_chacha20poly1305`
/// pins both to the `chacha20poly1305` crate's output.
pub struct DataPhaseAead {
    ctx: openssl::cipher_ctx::CipherCtx,
}

/// Frames from this size up are sealed and opened by OpenSSL, smaller ones by ring.
pub const OPENSSL_MIN_FRAME: usize = 4096;

impl std::fmt::Debug for DataPhaseAead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataPhaseAead(..)")
    }
}

impl DataPhaseAead {
    pub fn new() -> Result<Self, NoiseError> {
        Ok(Self {
            ctx: openssl::cipher_ctx::CipherCtx::new().map_err(backend)?,
        })
    }

    /// Seal `buf[start..]` in place and append the tag, so a frame can be serialized straight
    /// into the buffer that is written to the socket.
    pub fn seal_in_place(
        &mut self,
        key: &[u8; 32],
        n: u64,
        buf: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), NoiseError> {
        let len = buf.len() - start;
        if len < OPENSSL_MIN_FRAME {
            ring_seal_in_place(key, n, &[], buf, start);
            return Ok(());
        }
        let c = &mut self.ctx;
        c.encrypt_init(
            Some(openssl::cipher::Cipher::chacha20_poly1305()),
            Some(key),
            Some(&chacha_nonce(n)),
        )
        .map_err(backend)?;
        let done = c
            .cipher_update_inplace(&mut buf[start..], len)
            .map_err(backend)?;
        let mut tag = [0u8; MAC_LEN];
        // A stream cipher: everything came out of the update, and the final step adds nothing.
        if done != len || c.cipher_final(&mut []).map_err(backend)? != 0 {
            return Err(NoiseError::Backend("OpenSSL kept back part of a frame"));
        }
        c.tag(&mut tag).map_err(backend)?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Open `buf` = `ciphertext || tag` in place; on success its first `buf.len() - 16` bytes
    /// are the plaintext (returned as that length). On failure the buffer is zeroed.
    pub fn open_in_place(
        &mut self,
        key: &[u8; 32],
        n: u64,
        buf: &mut [u8],
    ) -> Result<usize, NoiseError> {
        let body_len = buf
            .len()
            .checked_sub(MAC_LEN)
            .ok_or(NoiseError::ShortCiphertext(buf.len()))?;
        let opened = if buf.len() < OPENSSL_MIN_FRAME {
            ring_open_in_place(key, n, &[], buf)
        } else {
            self.openssl_open(key, n, buf, body_len)?
        };
        if !opened {
            buf.zeroize();
            return Err(NoiseError::Aead);
        }
        Ok(body_len)
    }

    /// OpenSSL decryption; `Ok(false)` when the tag does not verify.
    fn openssl_open(
        &mut self,
        key: &[u8; 32],
        n: u64,
        buf: &mut [u8],
        body_len: usize,
    ) -> Result<bool, NoiseError> {
        let c = &mut self.ctx;
        c.decrypt_init(
            Some(openssl::cipher::Cipher::chacha20_poly1305()),
            Some(key),
            Some(&chacha_nonce(n)),
        )
        .map_err(backend)?;
        let (body, tag) = buf.split_at_mut(body_len);
        c.set_tag(tag).map_err(backend)?;
        let done = c.cipher_update_inplace(body, body_len).map_err(backend)?;
        // The tag is checked by the final step.
        Ok(done == body_len && c.cipher_final(&mut []).is_ok())
    }
}

fn backend(e: openssl::error::ErrorStack) -> NoiseError {
    tracing::warn!(error = %e, "OpenSSL ChaCha20-Poly1305 failed");
    NoiseError::Backend("OpenSSL ChaCha20-Poly1305")
}

/// AEAD_CHACHA20_POLY1305 decryption of `ciphertext || tag`, returning the plaintext.
pub fn aead_decrypt(
    key: &[u8; 32],
    n: u64,
    ad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, NoiseError> {
    let body_len = ciphertext
        .len()
        .checked_sub(MAC_LEN)
        .ok_or(NoiseError::ShortCiphertext(ciphertext.len()))?;
    let mut out = ciphertext.to_vec();
    if !ring_open_in_place(key, n, ad, &mut out) {
        // Do not leave unauthenticated bytes lying around.
        out.zeroize();
        return Err(NoiseError::Aead);
    }
    out.truncate(body_len);
    Ok(out)
}

/// ring's seal of `buf[start..]` in place, the tag appended.
fn ring_seal_in_place(key: &[u8; 32], n: u64, ad: &[u8], buf: &mut Vec<u8>, start: usize) {
    // Sealing only fails for plaintexts beyond ChaCha20's 256 GiB block counter, which no
    // NTCP2 frame (<= 64 KiB) can reach.
    let tag = ring_key(key)
        .seal_in_place_separate_tag(
            ring::aead::Nonce::assume_unique_for_key(chacha_nonce(n)),
            ring::aead::Aad::from(ad),
            &mut buf[start..],
        )
        .unwrap_or_else(|_| unreachable!("plaintext far below the ChaCha20 limit"));
    buf.extend_from_slice(tag.as_ref());
}

/// ring's open of `ciphertext || tag` in place; false when the tag does not verify.
fn ring_open_in_place(key: &[u8; 32], n: u64, ad: &[u8], buf: &mut [u8]) -> bool {
    ring_key(key)
        .open_in_place(
            ring::aead::Nonce::assume_unique_for_key(chacha_nonce(n)),
            ring::aead::Aad::from(ad),
            buf,
        )
        .is_ok()
}

/// The AEAD of NTCP2's handshake messages and of data-phase frames under 4 KiB (larger frames:
/// [`DataPhaseAead`] on OpenSSL). ring's ChaCha20-Poly1305 (the same assembly BoringSSL uses)
/// seals 2.3-3.6x faster here than the `chacha20poly1305` crate 0.10; ring is in the tree
/// already (rustls). `chacha20poly1305` stays for the build-record and garlic AEADs, where
/// messages are few; `ntcp2_aead_matches_chacha20poly1305` pins the two to the same output.
fn ring_key(key: &[u8; 32]) -> ring::aead::LessSafeKey {
    // A 32-byte key is the only length CHACHA20_POLY1305 takes, and the type guarantees it.
    let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, key)
        .unwrap_or_else(|_| unreachable!("ChaCha20-Poly1305 keys are 32 bytes"));
    ring::aead::LessSafeKey::new(unbound)
}

/// Noise's SymmetricState: chaining key `ck`, handshake hash `h`, and the CipherState (`k`, `n`).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SymmetricState {
    ck: [u8; HASH_LEN],
    h: [u8; HASH_LEN],
    k: [u8; 32],
    has_key: bool,
    n: u64,
}

impl std::fmt::Debug for SymmetricState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `h` is public transcript material and useful in logs; keys are never printed.
        f.debug_struct("SymmetricState")
            .field("h", &HexBytes(&self.h))
            .field("has_key", &self.has_key)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

struct HexBytes<'a>(&'a [u8]);
impl std::fmt::Debug for HexBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl SymmetricState {
    /// InitializeSymmetric(protocol_name): names longer than HASHLEN are hashed, shorter ones are
    /// zero-padded; `ck = h`; no cipher key yet.
    pub fn initialize(protocol_name: &[u8]) -> Self {
        let mut h = [0u8; HASH_LEN];
        if protocol_name.len() <= HASH_LEN {
            h[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            h = Sha256::digest(protocol_name).into();
        }
        Self {
            ck: h,
            h,
            k: [0u8; 32],
            has_key: false,
            n: 0,
        }
    }

    /// A state resumed from known `ck` and `h` with no cipher key, for test vectors that start
    /// mid-protocol (e.g. the NTCP2 data-phase KDF).
    pub fn from_parts(chaining_key: [u8; HASH_LEN], handshake_hash: [u8; HASH_LEN]) -> Self {
        Self {
            ck: chaining_key,
            h: handshake_hash,
            k: [0u8; 32],
            has_key: false,
            n: 0,
        }
    }

    /// The handshake hash `h` (public transcript digest; used as AEAD associated data).
    pub fn handshake_hash(&self) -> &[u8; HASH_LEN] {
        &self.h
    }

    /// The chaining key. Secret: exposed only for known-answer tests and the NTCP2 data-phase KDF.
    pub fn chaining_key(&self) -> &[u8; HASH_LEN] {
        &self.ck
    }

    /// The current cipher key, if a MixKey happened (for known-answer tests).
    pub fn cipher_key(&self) -> Option<&[u8; 32]> {
        self.has_key.then_some(&self.k)
    }

    /// The next nonce EncryptAndHash/DecryptAndHash will use.
    pub fn nonce(&self) -> u64 {
        self.n
    }

    /// MixHash(data): `h = SHA256(h || data)`. Always hashes, even for empty data (the NTCP2 null
    /// prologue relies on that); callers that must skip empty input (padding) check themselves.
    pub fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Sha256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }

    /// MixKey(ikm): `ck, k = HKDF(ck, ikm)`, `n = 0`.
    pub fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, k) = hkdf2(&self.ck, ikm);
        self.ck = *ck;
        self.k = *k;
        self.has_key = true;
        self.n = 0;
    }

    fn next_nonce(&mut self) -> Result<u64, NoiseError> {
        if !self.has_key {
            return Err(NoiseError::NoKey);
        }
        // 2^64-1 is reserved by Noise and must never be used.
        if self.n == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let n = self.n;
        self.n += 1;
        Ok(n)
    }

    /// EncryptAndHash(plaintext): AEAD with `ad = h`, then MixHash(ciphertext).
    pub fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let n = self.next_nonce()?;
        let ct = aead_encrypt(&self.k, n, &self.h, plaintext);
        self.mix_hash(&ct);
        Ok(ct)
    }

    /// DecryptAndHash(ciphertext): AEAD open with `ad = h`, then MixHash(ciphertext). On failure
    /// neither `h` nor `n` change meaningfully for the caller: the handshake is dead anyway.
    pub fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let n = self.next_nonce()?;
        let pt = aead_decrypt(&self.k, n, &self.h, ciphertext)?;
        self.mix_hash(ciphertext);
        Ok(pt)
    }

    /// Split(): the two data-phase cipher keys, initiator->responder first. Noise leaves the
    /// direction implicit; NTCP2 (following the Java router) fixes output 1 as Alice->Bob.
    pub fn split(&self) -> SplitKeys {
        let (k1, k2) = hkdf2(&self.ck, &[]);
        SplitKeys {
            initiator_to_responder: *k1,
            responder_to_initiator: *k2,
        }
    }

    /// The "additional symmetric key" from the Split temp key: `HMAC(HMAC(ck, ""), label || 0x01)`.
    /// NTCP2 uses it with label "ask" to seed its SipHash length-obfuscation keys.
    pub fn additional_symmetric_key(&self, label: &[u8]) -> Zeroizing<[u8; HASH_LEN]> {
        let temp = Zeroizing::new(hmac_sha256(&self.ck, &[]));
        Zeroizing::new(hmac_sha256(&temp[..], &[label, &[0x01]]))
    }
}

/// Output of [`SymmetricState::split`].
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SplitKeys {
    pub initiator_to_responder: [u8; 32],
    pub responder_to_initiator: [u8; 32],
}

impl std::fmt::Debug for SplitKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SplitKeys(..)")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn ntcp2_aead_matches_chacha20poly1305() {
        // ring for NTCP2, the RustCrypto crate elsewhere: the same AEAD, byte for byte.
        use chacha20poly1305::aead::AeadInPlace;
        use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
        let key = [0x5au8; 32];
        for (n, len) in [
            (0u64, 0usize),
            (1, 1),
            (7, 64),
            (u64::MAX - 1, 1500),
            (42, 65_519),
        ] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
            let ours = aead_encrypt(&key, n, b"ad", &pt);
            let mut theirs = pt.clone();
            let tag = ChaCha20Poly1305::new((&key).into())
                .encrypt_in_place_detached(&chacha_nonce(n).into(), b"ad", &mut theirs)
                .unwrap();
            theirs.extend_from_slice(&tag);
            assert_eq!(ours, theirs, "n {n}, len {len}");
            assert_eq!(aead_decrypt(&key, n, b"ad", &ours).unwrap(), pt);
            let mut bad = ours.clone();
            bad[len / 2] ^= 1;
            assert!(matches!(
                aead_decrypt(&key, n, b"ad", &bad),
                Err(NoiseError::Aead)
            ));
            assert!(matches!(
                aead_decrypt(&key, n + 1, b"ad", &ours),
                Err(NoiseError::Aead)
            ));
        }
        assert!(matches!(
            aead_decrypt(&key, 0, b"", &[0; 15]),
            Err(NoiseError::ShortCiphertext(15))
        ));
    }

    #[test]
    fn data_phase_aead_matches_chacha20poly1305() {
        // OpenSSL from OPENSSL_MIN_FRAME up, ring below: both byte for byte the RustCrypto AEAD.
        use chacha20poly1305::aead::AeadInPlace;
        use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
        let key = [0x3cu8; 32];
        let mut aead = DataPhaseAead::new().unwrap();
        for (n, len) in [
            (0u64, 0usize),
            (3, 100),
            (9, OPENSSL_MIN_FRAME - MAC_LEN - 1),
            (10, OPENSSL_MIN_FRAME - MAC_LEN),
            (11, OPENSSL_MIN_FRAME),
            (u64::MAX - 1, 16_384),
            (42, 65_519),
        ] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            // Sealed after a 2-byte prefix, as a frame's length field.
            let mut ours = vec![0xee, 0xff];
            ours.extend_from_slice(&pt);
            aead.seal_in_place(&key, n, &mut ours, 2).unwrap();
            let mut theirs = pt.clone();
            let tag = ChaCha20Poly1305::new((&key).into())
                .encrypt_in_place_detached(&chacha_nonce(n).into(), b"", &mut theirs)
                .unwrap();
            theirs.extend_from_slice(&tag);
            assert_eq!(&ours[..2], &[0xee, 0xff]);
            assert_eq!(&ours[2..], &theirs[..], "n {n}, len {len}");
            let mut opened = theirs.clone();
            assert_eq!(aead.open_in_place(&key, n, &mut opened).unwrap(), len);
            assert_eq!(&opened[..len], &pt[..]);
            let mut bad = theirs.clone();
            bad[len / 2] ^= 1;
            assert!(matches!(
                aead.open_in_place(&key, n, &mut bad),
                Err(NoiseError::Aead)
            ));
            assert!(bad.iter().all(|b| *b == 0), "zeroed after a failure");
            let mut wrong_nonce = theirs.clone();
            assert!(matches!(
                aead.open_in_place(&key, n ^ 1, &mut wrong_nonce),
                Err(NoiseError::Aead)
            ));
        }
        assert!(matches!(
            aead.open_in_place(&key, 0, &mut [0; 15]),
            Err(NoiseError::ShortCiphertext(15))
        ));
    }

    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn snow_rejects_ntcp2_protocol_name() {
        let name = std::str::from_utf8(NTCP2_PROTOCOL_NAME).unwrap();
        assert!(name.parse::<snow::params::NoiseParams>().is_err());
        // The standard pattern parses, so the failure is really about the I2P extensions.
        assert!(
            "Noise_XK_25519_ChaChaPoly_SHA256"
                .parse::<snow::params::NoiseParams>()
                .is_ok()
        );
    }

    #[test]
    fn initialize_hashes_long_names_and_pads_short_ones() {
        assert_eq!(NTCP2_PROTOCOL_NAME.len(), 48);
        let s = SymmetricState::initialize(NTCP2_PROTOCOL_NAME);
        let expect: [u8; 32] = Sha256::digest(NTCP2_PROTOCOL_NAME).into();
        assert_eq!(s.handshake_hash(), &expect);
        assert_eq!(s.chaining_key(), &expect);
        assert!(s.cipher_key().is_none());
        let short = SymmetricState::initialize(b"abc");
        assert_eq!(&short.handshake_hash()[..3], b"abc");
        assert!(short.handshake_hash()[3..].iter().all(|&b| b == 0));
    }

    /// Noise's own consistency: both sides running the same operations agree, and a flipped
    /// ciphertext bit fails with `Aead` while a wrong transcript hash fails too.
    #[test]
    fn encrypt_decrypt_and_hash_agree_and_detect_tampering() {
        let mut a = SymmetricState::initialize(NTCP2_PROTOCOL_NAME);
        let mut b = a.clone();
        assert_eq!(a.encrypt_and_hash(b"x"), Err(NoiseError::NoKey));
        let mut a = SymmetricState::initialize(NTCP2_PROTOCOL_NAME);
        for s in [&mut a, &mut b] {
            s.mix_hash(b"prologue");
            s.mix_key(&[7u8; 32]);
        }
        let ct = a.encrypt_and_hash(b"hello").unwrap();
        assert_eq!(ct.len(), 5 + MAC_LEN);
        let mut b2 = b.clone();
        assert_eq!(b.decrypt_and_hash(&ct).unwrap(), b"hello");
        assert_eq!(a.handshake_hash(), b.handshake_hash());
        assert_eq!(a.nonce(), 1);
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(b2.decrypt_and_hash(&bad), Err(NoiseError::Aead));
        let mut b3 = b.clone();
        b3.mix_hash(b"diverged");
        let ct2 = a.encrypt_and_hash(b"again").unwrap();
        assert_eq!(b3.decrypt_and_hash(&ct2), Err(NoiseError::Aead));
        assert_eq!(
            b.decrypt_and_hash(&[0u8; 3]),
            Err(NoiseError::ShortCiphertext(3))
        );
    }

    #[test]
    fn nonce_max_is_never_used() {
        let mut s = SymmetricState::initialize(b"x");
        s.mix_key(&[1u8; 32]);
        s.n = u64::MAX - 1;
        assert!(s.encrypt_and_hash(b"").is_ok());
        assert_eq!(s.encrypt_and_hash(b""), Err(NoiseError::NonceExhausted));
    }

    /// MixKey and Split against the HKDF of RFC 5869 (which the Noise HKDF equals for two outputs
    /// with empty info), computed with the independent `hkdf` crate.
    #[test]
    fn mix_key_and_split_match_rfc5869_hkdf() {
        let mut s = SymmetricState::initialize(NTCP2_PROTOCOL_NAME);
        let ck0 = *s.chaining_key();
        let ikm = [0x42u8; 32];
        s.mix_key(&ikm);
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&ck0), &ikm);
        let mut okm = [0u8; 64];
        hk.expand(&[], &mut okm).unwrap();
        assert_eq!(s.chaining_key(), &okm[..32]);
        assert_eq!(s.cipher_key().unwrap(), &okm[32..]);

        let split = s.split();
        let hk = hkdf::Hkdf::<Sha256>::new(Some(s.chaining_key()), &[]);
        hk.expand(&[], &mut okm).unwrap();
        assert_eq!(split.initiator_to_responder, okm[..32]);
        assert_eq!(split.responder_to_initiator, okm[32..]);

        let ask = s.additional_symmetric_key(b"ask");
        let mut ask_ref = [0u8; 32];
        hk.expand(b"ask", &mut ask_ref).unwrap();
        assert_eq!(*ask, ask_ref, "{}", hex(&ask[..]));
    }
}

//! The symmetric pieces of tunnel-creation-ecies.rst shared by the hop ([`super::build`]) and the
//! creator ([`super::creator`]): the Noise N state for one build record, the HKDF chain that
//! derives reply and layer keys, and the ChaCha20 / ChaCha20-Poly1305 record transforms.

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Tag};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// "Noise_N_25519_ChaChaPoly_SHA256": 31 bytes, padded (not hashed) to 32.
const PROTOCOL_NAME: &[u8; 31] = b"Noise_N_25519_ChaChaPoly_SHA256";

/// Poly1305 tag length.
pub const MAC_LEN: usize = 16;

/// Chaining key and handshake hash of the Noise N pattern for one record.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct NoiseState {
    pub ck: [u8; 32],
    pub h: [u8; 32],
}

impl NoiseState {
    /// The state after the protocol name and the (empty) prologue: the same for every router.
    pub fn initial() -> Self {
        let mut h = [0u8; 32];
        h[..31].copy_from_slice(PROTOCOL_NAME);
        let ck = h;
        let h = Sha256::digest(h).into();
        Self { ck, h }
    }

    /// The state after `MixHash(hepk)`: constant for a given hop static key, so a hop computes
    /// it once at start-up instead of for every request.
    pub fn for_responder(hop_static_public: &[u8; 32]) -> Self {
        let mut s = Self::initial();
        s.mix_hash(hop_static_public);
        s
    }

    pub fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Sha256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }

    /// `MixKey(DH())`: returns the AEAD key `k`; `ck` moves on.
    pub fn mix_key(&mut self, shared_secret: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        let (ck, k) = hkdf64(&self.ck, shared_secret, b"");
        self.ck = *ck;
        k
    }
}

/// `HKDF(salt, ikm, info, 64)` split into its two 32-byte halves (NTCP2 / ECIES definition,
/// which is RFC 5869 HKDF-SHA256 with 64 bytes of output).
pub fn hkdf64(
    salt: &[u8; 32],
    ikm: &[u8],
    info: &[u8],
) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new([0u8; 64]);
    // 64 bytes is far below the 255 * 32 HKDF-SHA256 limit, so expand cannot fail.
    let _ = hk.expand(info, okm.as_mut());
    let mut a = Zeroizing::new([0u8; 32]);
    let mut b = Zeroizing::new([0u8; 32]);
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    (a, b)
}

/// The 12-byte nonce with the 8-byte little-endian counter `n` at bytes 4..12 (Noise / RFC 7539
/// as used throughout I2P: the first four bytes are zero).
pub fn nonce(n: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&n.to_le_bytes());
    iv
}

/// The keys a short-record hop derives from the chaining key after decrypting its record.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ShortHopKeys {
    pub reply_key: [u8; 32],
    pub layer_key: [u8; 32],
    pub iv_key: [u8; 32],
    /// Only for the outbound endpoint: key and tag of the garlic that wraps the
    /// OutboundTunnelBuildReply.
    pub garlic: Option<([u8; 32], [u8; 8])>,
}

/// The short-record KDF ("KDF" section): reply key, layer key, IV key and, for the OBEP, the
/// garlic reply key and tag. The OBEP's IV key comes from a further HKDF step, so the chain
/// differs by role even when the reply is not garlic-wrapped.
pub fn short_hop_keys(ck: &[u8; 32], outbound_endpoint: bool) -> ShortHopKeys {
    let (ck, reply_key) = hkdf64(ck, b"", b"SMTunnelReplyKey");
    let (ck, layer_key) = hkdf64(&ck, b"", b"SMTunnelLayerKey");
    if !outbound_endpoint {
        // Non-OBEP: the IV key is the left half because nothing is derived after it.
        return ShortHopKeys {
            reply_key: *reply_key,
            layer_key: *layer_key,
            iv_key: *ck,
            garlic: None,
        };
    }
    let (ck, iv_key) = hkdf64(&ck, b"", b"TunnelLayerIVKey");
    let (tag_half, garlic_key) = hkdf64(&ck, b"", b"RGarlicKeyAndTag");
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&tag_half[..8]);
    ShortHopKeys {
        reply_key: *reply_key,
        layer_key: *layer_key,
        iv_key: *iv_key,
        garlic: Some((*garlic_key, tag)),
    }
}

/// ChaCha20-Poly1305 encrypt of `buf[..len - 16]` in place, the tag written to the last 16
/// bytes. Panics never: callers pass buffers of fixed record size (> 16).
pub fn aead_seal(key: &[u8; 32], n: u64, ad: &[u8], buf: &mut [u8]) {
    let split = buf.len().saturating_sub(MAC_LEN);
    let (msg, tag_out) = buf.split_at_mut(split);
    let cipher = ChaCha20Poly1305::new(key.into());
    // Encryption only fails for messages longer than the ChaCha20 block counter allows
    // (~256 GiB); records are at most 528 bytes.
    if let Ok(tag) = cipher.encrypt_in_place_detached(&nonce(n).into(), ad, msg) {
        tag_out.copy_from_slice(&tag);
    }
}

/// ChaCha20-Poly1305 decrypt in place of `buf` (ciphertext || tag); on success the plaintext is
/// `buf[..len - 16]`. Returns false if authentication fails or `buf` is shorter than a tag.
#[must_use]
pub fn aead_open(key: &[u8; 32], n: u64, ad: &[u8], buf: &mut [u8]) -> bool {
    if buf.len() < MAC_LEN {
        return false;
    }
    let split = buf.len() - MAC_LEN;
    let (msg, tag) = buf.split_at_mut(split);
    let tag = Tag::clone_from_slice(tag);
    ChaCha20Poly1305::new(key.into())
        .decrypt_in_place_detached(&nonce(n).into(), ad, msg, &tag)
        .is_ok()
}

/// Plain ChaCha20 with the record number in the nonce: how every hop re-encrypts the records
/// that are not its own in a ShortTunnelBuild. It is an XOR stream, so the same call also
/// undoes it.
///
/// The keystream starts at block counter 1, not 0: the spec only says "ChaCha20 (RFC 7539)",
/// and i2pd and Java I2P both start the raw cipher at 1 like RFC 7539's AEAD does (block 0 is
/// the Poly1305 key there). With counter 0, every hop after the first garbles the earlier
/// hops' reply records and creators see "Response AEAD decryption failed".
pub fn chacha20_record(key: &[u8; 32], record_index: u8, buf: &mut [u8]) {
    let mut c = chacha20::ChaCha20::new(key.into(), &nonce(u64::from(record_index)).into());
    c.seek(64u32);
    c.apply_keystream(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keystream_starts_at_block_one_like_i2pd() {
        // RFC 7539's AEAD encrypts with the ChaCha20 keystream from block 1; i2pd's raw
        // ChaCha20 (used on the other records of a ShortTunnelBuild) starts there too. So the
        // record cipher must equal the AEAD's ciphertext for the same key and nonce.
        let key = [0x42u8; 32];
        for idx in [0u8, 3, 7] {
            let mut raw = [0u8; 218];
            chacha20_record(&key, idx, &mut raw);
            let mut sealed = [0u8; 218 + MAC_LEN];
            aead_seal(&key, u64::from(idx), b"", &mut sealed);
            assert_eq!(raw[..], sealed[..218], "record {idx}");
        }
    }

    #[test]
    fn initial_state_matches_the_noise_definition() {
        let s = NoiseState::initial();
        let mut name = [0u8; 32];
        name[..31].copy_from_slice(b"Noise_N_25519_ChaChaPoly_SHA256");
        assert_eq!(s.ck, name);
        let h: [u8; 32] = Sha256::digest(name).into();
        assert_eq!(s.h, h);
    }

    #[test]
    fn hkdf_matches_the_hmac_definition() {
        // NTCP2 defines HKDF(salt, ikm, info, 64) via HMAC-SHA256; check the crate against it.
        use hmac::{Hmac, Mac};
        type H = Hmac<Sha256>;
        let salt = [7u8; 32];
        let ikm = [9u8; 32];
        let info = b"SMTunnelReplyKey";
        let mut m = <H as Mac>::new_from_slice(&salt).unwrap();
        m.update(&ikm);
        let temp = m.finalize().into_bytes();
        let mut m = <H as Mac>::new_from_slice(&temp).unwrap();
        m.update(info);
        m.update(&[1]);
        let o1 = m.finalize().into_bytes();
        let mut m = <H as Mac>::new_from_slice(&temp).unwrap();
        m.update(&o1);
        m.update(info);
        m.update(&[2]);
        let o2 = m.finalize().into_bytes();
        let (a, b) = hkdf64(&salt, &ikm, info);
        assert_eq!(&a[..], &o1[..]);
        assert_eq!(&b[..], &o2[..]);
    }

    #[test]
    fn obep_and_participant_chains_differ_only_after_the_layer_key() {
        let ck = [3u8; 32];
        let p = short_hop_keys(&ck, false);
        let o = short_hop_keys(&ck, true);
        assert_eq!(p.reply_key, o.reply_key);
        assert_eq!(p.layer_key, o.layer_key);
        assert_ne!(p.iv_key, o.iv_key);
        assert!(p.garlic.is_none() && o.garlic.is_some());
    }

    #[test]
    fn aead_round_trip_and_tamper() {
        let key = [1u8; 32];
        let mut buf = [0u8; 64];
        buf[..48].copy_from_slice(&[0x55; 48]);
        aead_seal(&key, 3, b"ad", &mut buf);
        let mut t = buf;
        assert!(aead_open(&key, 3, b"ad", &mut t));
        assert_eq!(&t[..48], &[0x55; 48]);
        let mut t = buf;
        assert!(!aead_open(&key, 2, b"ad", &mut t), "wrong nonce");
        let mut t = buf;
        t[0] ^= 1;
        assert!(!aead_open(&key, 3, b"ad", &mut t), "tampered");
        assert!(!aead_open(&key, 3, b"ad", &mut [0u8; 5]));
    }
}

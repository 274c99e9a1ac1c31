//! ECIES-X25519 garlic messages to routers (ecies-routers.rst): the Noise "N" one-time message
//! an anonymous sender encrypts to a router's static X25519 encryption key (crypto type 4).
//!
//! This is how real routers hand a floodfill LeaseSet stores and lookups that come out of their
//! client tunnels: the outbound endpoint forwards a Garlic message (I2NP type 11) whose content
//! is
//!
//! ```text
//! ephemeral public key (32, plain X25519, NOT Elligator2-encoded) || ChaCha20-Poly1305(payload)
//! ```
//!
//! with the key schedule of Noise_N_25519_ChaChaPoly_SHA256: `h` from the protocol name, the
//! null prologue, MixHash(our static public key), MixHash(ephemeral key), MixKey(DH), and the
//! payload AEAD with `ad = h` and nonce 0. The payload is the ratchet block format of ecies.rst
//! with the New Session ordering rules: a DateTime block first (replay window), then Garlic
//! Clove blocks, optionally Options and Padding.
//!
//! # Replay protection
//!
//! A captured message could be replayed verbatim, so every accepted ephemeral key is remembered
//! for at least [`REPLAY_WINDOW_SECS`], and the DateTime block must lie within
//! [`MAX_AGE_SECS`] in the past and [`MAX_FUTURE_SECS`] in the future. A replay older than the
//! memory is therefore refused by the DateTime check, a recent one by the key memory. Duplicate
//! keys are looked up before the DH (the spec's cheap early check) and recorded only after the
//! AEAD authenticated the message, so forged garbage cannot fill the memory.
//!
//! # Existing-session messages
//!
//! Routers also receive *tagged* Existing Session messages for replies to lookups in which they
//! asked for ECIES-encrypted replies (they generate the reply key and tag). Floodgate never
//! sends such lookups, so no tag is ever ours and that path is not implemented here; the lookup
//! *answering* side (encrypting with the requester's key and tag) is in `netdb::reply`.

use crate::crypto::noise::{MAC_LEN, NoiseError, SymmetricState};
use crate::wire::WireError;
use crate::wire::garlic::{
    Block, Clove, DeliveryInstructions, PayloadContext, parse_payload, write_payload,
};
use crate::wire::i2np::{Garlic, I2npBody, I2npMessage, ShortHeader};
use rand_core::{CryptoRng, RngCore};
use std::collections::HashSet;
use std::sync::Mutex;
use thiserror::Error;
use x25519_dalek::{PublicKey, StaticSecret};

/// The Noise protocol name of the router one-time messages and the ECIES tunnel build records
/// (31 bytes, so it is zero-padded into `h`, not hashed).
pub const NOISE_N_PROTOCOL_NAME: &[u8] = b"Noise_N_25519_ChaChaPoly_SHA256";
/// Length of the ephemeral public key that starts the message.
pub const EPHEMERAL_KEY_LEN: usize = 32;
/// DateTime block (7 bytes) is mandatory, so nothing shorter than key + DateTime + MAC can be a
/// valid message; shorter input is refused before any DH work.
pub const MIN_GARLIC_LEN: usize = EPHEMERAL_KEY_LEN + 7 + MAC_LEN;
/// How old a message's DateTime may be. Messages cross a tunnel (seconds) and clocks may be
/// skewed by up to a minute; five minutes leaves room for both without keeping replay state
/// for long.
pub const MAX_AGE_SECS: u64 = 300;
/// How far in the future a DateTime may be (clock skew only).
pub const MAX_FUTURE_SECS: u64 = 120;
/// How long an accepted ephemeral key must be remembered: a replay is either refused by the
/// DateTime window or arrives within this span of the original.
pub const REPLAY_WINDOW_SECS: u64 = MAX_AGE_SECS + MAX_FUTURE_SECS;
/// Keys remembered per replay generation. At 100k per 7-minute window the guard covers ~240
/// garlic messages per second sustained (a busy floodfill sees tens); about 5 MB per generation.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Noise "N" responder/initiator state precomputed up to MixHash(responder static key), which
/// is the same for every message to that key ("can all be precalculated by each router").
///
/// Also the base of ECIES tunnel build record decryption (tunnel-creation-ecies.rst), which is
/// why [`NoiseN::open`] hands back the final symmetric state.
#[derive(Clone, Debug)]
pub struct NoiseN {
    static_public: [u8; 32],
    initial: SymmetricState,
}

/// Noise "N" failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum NoiseNError {
    /// The DH output was all zeros: the other key is a low-order point. Refused because such a
    /// "shared" secret is known to everyone.
    #[error("X25519 key is a low-order point (non-contributory DH)")]
    WeakKey,
    #[error(transparent)]
    Noise(#[from] NoiseError),
}

impl NoiseN {
    /// The state for messages to `static_public`.
    pub fn new(static_public: &[u8; 32]) -> Self {
        let mut s = SymmetricState::initialize(NOISE_N_PROTOCOL_NAME);
        // Null prologue: MixHash of zero bytes, i.e. h = SHA256(h).
        s.mix_hash(&[]);
        s.mix_hash(static_public);
        Self {
            static_public: *static_public,
            initial: s,
        }
    }

    /// The responder static key this state was built for.
    pub fn static_public(&self) -> &[u8; 32] {
        &self.static_public
    }

    /// Responder: decrypt `ciphertext` sent with `ephemeral` to our `secret` (whose public key
    /// must be the one this state was built for, or the AEAD fails). Returns the plaintext and
    /// the state after DecryptAndHash: its `h` and `ck` seed ECIES build-record replies; garlic
    /// messages do not use it.
    pub fn open(
        &self,
        secret: &StaticSecret,
        ephemeral: &[u8; 32],
        ciphertext: &[u8],
    ) -> Result<(Vec<u8>, SymmetricState), NoiseNError> {
        let mut s = self.initial.clone();
        s.mix_hash(ephemeral);
        let shared = secret.diffie_hellman(&PublicKey::from(*ephemeral));
        if !shared.was_contributory() {
            return Err(NoiseNError::WeakKey);
        }
        s.mix_key(shared.as_bytes());
        let pt = s.decrypt_and_hash(ciphertext)?;
        Ok((pt, s))
    }

    /// Initiator: encrypt `plaintext` to the static key this state was built for with the
    /// one-time key `ephemeral` (the caller must never reuse it). Returns the ephemeral public
    /// key, the ciphertext and the final state.
    pub fn seal(
        &self,
        ephemeral: &StaticSecret,
        plaintext: &[u8],
    ) -> Result<([u8; 32], Vec<u8>, SymmetricState), NoiseNError> {
        let epk = PublicKey::from(ephemeral).to_bytes();
        let mut s = self.initial.clone();
        s.mix_hash(&epk);
        let shared = ephemeral.diffie_hellman(&PublicKey::from(self.static_public));
        if !shared.was_contributory() {
            return Err(NoiseNError::WeakKey);
        }
        s.mix_key(shared.as_bytes());
        let ct = s.encrypt_and_hash(plaintext)?;
        Ok((epk, ct, s))
    }
}

/// Memory of accepted ephemeral keys, in two generations that rotate every
/// [`REPLAY_WINDOW_SECS`]: a key stays known for at least one full window after it was
/// recorded. Time comes from the caller (testable, no hidden clock).
#[derive(Debug)]
pub struct ReplayGuard {
    inner: Mutex<Generations>,
    window_secs: u64,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashSet<[u8; 32]>,
    previous: HashSet<[u8; 32]>,
    started_s: u64,
}

impl Generations {
    fn rotate(&mut self, now_s: u64, window: u64) {
        let age = now_s.saturating_sub(self.started_s);
        if age < window {
            return;
        }
        if age >= window.saturating_mul(2) {
            // Everything in `previous` was recorded before `started_s` and everything in
            // `current` before `started_s + window`: both are at least a window old.
            self.previous.clear();
            self.current.clear();
        } else {
            self.previous = std::mem::take(&mut self.current);
        }
        self.started_s = now_s;
    }
}

/// Why a key could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    Fresh,
    Replayed,
    /// The current generation holds `capacity` keys. The message is refused (fail closed)
    /// rather than forgetting keys early, which would open a replay window.
    Full,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::new(REPLAY_WINDOW_SECS, DEFAULT_REPLAY_CAPACITY)
    }
}

impl ReplayGuard {
    pub fn new(window_secs: u64, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Generations::default()),
            window_secs: window_secs.max(1),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding the lock cannot leave the sets inconsistent (each operation is
        // a single insert/contains/swap), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `key` was recorded within the window (read-only early check).
    pub fn seen(&self, key: &[u8; 32], now_s: u64) -> bool {
        let mut g = self.lock();
        g.rotate(now_s, self.window_secs);
        g.current.contains(key) || g.previous.contains(key)
    }

    /// Record `key`; says whether it was new.
    pub fn record(&self, key: &[u8; 32], now_s: u64) -> ReplayVerdict {
        let mut g = self.lock();
        g.rotate(now_s, self.window_secs);
        if g.current.contains(key) || g.previous.contains(key) {
            return ReplayVerdict::Replayed;
        }
        if g.current.len() >= self.capacity {
            return ReplayVerdict::Full;
        }
        g.current.insert(*key);
        ReplayVerdict::Fresh
    }

    /// Keys currently remembered (both generations).
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a garlic message to our router was not accepted. [`GarlicError::reason`] gives the
/// metric label.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GarlicError {
    #[error("garlic of {len} bytes is shorter than the minimum {MIN_GARLIC_LEN}")]
    TooShort { len: usize },
    #[error("ephemeral key seen before (replay)")]
    Replay,
    #[error("replay memory full; message refused")]
    ReplayMemoryFull,
    #[error("ephemeral key is a low-order point")]
    WeakKey,
    #[error("AEAD authentication failed (not for our key, or corrupted)")]
    Aead,
    #[error("payload: {0}")]
    Payload(WireError),
    #[error("DateTime {timestamp_s} is more than {MAX_AGE_SECS}s before now ({now_s})")]
    Stale { timestamp_s: u32, now_s: u64 },
    #[error("DateTime {timestamp_s} is more than {MAX_FUTURE_SECS}s after now ({now_s})")]
    Future { timestamp_s: u32, now_s: u64 },
}

impl GarlicError {
    /// Stable metric `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::Replay => "replay",
            Self::ReplayMemoryFull => "replay_memory_full",
            Self::WeakKey => "weak_key",
            Self::Aead => "aead",
            Self::Payload(_) => "malformed",
            Self::Stale { .. } => "stale",
            Self::Future { .. } => "future",
        }
    }
}

impl From<NoiseNError> for GarlicError {
    fn from(e: NoiseNError) -> Self {
        match e {
            NoiseNError::WeakKey => Self::WeakKey,
            // ShortCiphertext cannot happen past the length check; NoKey/NonceExhausted cannot
            // happen after a MixKey with nonce 0. All mean "did not authenticate".
            NoiseNError::Noise(_) => Self::Aead,
        }
    }
}

/// Decrypt a Garlic message addressed to our router and return its cloves.
///
/// `garlic_body` is the Garlic message content after its 4-byte length (what
/// [`crate::wire::i2np::Garlic::data`] holds). `our_public` must be the public key of `secret`.
/// Never panics; every refusal is a typed [`GarlicError`].
pub fn open_router_garlic(
    secret: &StaticSecret,
    our_public: &[u8; 32],
    garlic_body: &[u8],
    now_ms: u64,
    replay: &ReplayGuard,
) -> Result<Vec<Clove>, GarlicError> {
    open_with(
        &NoiseN::new(our_public),
        secret,
        garlic_body,
        now_ms,
        replay,
    )
}

fn open_with(
    noise: &NoiseN,
    secret: &StaticSecret,
    garlic_body: &[u8],
    now_ms: u64,
    replay: &ReplayGuard,
) -> Result<Vec<Clove>, GarlicError> {
    let now_s = now_ms / 1000;
    if garlic_body.len() < MIN_GARLIC_LEN {
        return Err(GarlicError::TooShort {
            len: garlic_body.len(),
        });
    }
    let (eph, ciphertext) = garlic_body.split_at(EPHEMERAL_KEY_LEN);
    let eph: [u8; 32] = eph.try_into().map_err(|_| GarlicError::TooShort {
        len: garlic_body.len(),
    })?;
    if replay.seen(&eph, now_s) {
        return Err(GarlicError::Replay);
    }
    let (payload, _) = noise.open(secret, &eph, ciphertext)?;
    let blocks =
        parse_payload(&payload, PayloadContext::NewSession).map_err(GarlicError::Payload)?;
    // NewSession parsing guarantees a DateTime first block; match anyway instead of indexing.
    let Some(Block::DateTime(ts)) = blocks.first() else {
        return Err(GarlicError::Payload(WireError::invalid(
            "block type",
            0,
            "DateTime block missing",
        )));
    };
    let ts = *ts;
    if u64::from(ts).saturating_add(MAX_AGE_SECS) < now_s {
        return Err(GarlicError::Stale {
            timestamp_s: ts,
            now_s,
        });
    }
    if u64::from(ts) > now_s.saturating_add(MAX_FUTURE_SECS) {
        return Err(GarlicError::Future {
            timestamp_s: ts,
            now_s,
        });
    }
    match replay.record(&eph, now_s) {
        ReplayVerdict::Fresh => {}
        ReplayVerdict::Replayed => return Err(GarlicError::Replay),
        ReplayVerdict::Full => return Err(GarlicError::ReplayMemoryFull),
    }
    Ok(blocks
        .into_iter()
        .filter_map(|b| match b {
            Block::GarlicClove(c) => Some(c),
            _ => None,
        })
        .collect())
}

/// Our router's garlic decryption key with its precomputed Noise state and replay memory: what
/// the dispatcher holds.
pub struct GarlicKeys {
    secret: StaticSecret,
    noise: NoiseN,
    replay: ReplayGuard,
}

impl std::fmt::Debug for GarlicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GarlicKeys")
            .field(
                "public",
                &crate::wire::base64::encode(self.noise.static_public()),
            )
            .field("replay_keys", &self.replay.len())
            .finish_non_exhaustive()
    }
}

impl GarlicKeys {
    /// From the router's X25519 encryption secret (`RouterKeys::encryption_secret`).
    pub fn new(secret: [u8; 32]) -> Self {
        Self::with_replay(secret, ReplayGuard::default())
    }

    pub fn with_replay(secret: [u8; 32], replay: ReplayGuard) -> Self {
        let secret = StaticSecret::from(secret);
        let public = PublicKey::from(&secret).to_bytes();
        Self {
            secret,
            noise: NoiseN::new(&public),
            replay,
        }
    }

    pub fn public(&self) -> &[u8; 32] {
        self.noise.static_public()
    }

    pub fn replay(&self) -> &ReplayGuard {
        &self.replay
    }

    /// [`open_router_garlic`] with the precomputed state.
    pub fn open(&self, garlic_body: &[u8], now_ms: u64) -> Result<Vec<Clove>, GarlicError> {
        open_with(&self.noise, &self.secret, garlic_body, now_ms, &self.replay)
    }
}

/// Why a garlic message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SealError {
    #[error("payload does not encode: {0}")]
    Payload(WireError),
    #[error("router encryption key is a low-order point")]
    WeakKey,
    #[error("encryption failed")]
    Encrypt,
}

impl From<NoiseNError> for SealError {
    fn from(e: NoiseNError) -> Self {
        match e {
            NoiseNError::WeakKey => Self::WeakKey,
            NoiseNError::Noise(_) => Self::Encrypt,
        }
    }
}

/// Build the Garlic content (`ephemeral key || ciphertext`) of a one-time message carrying
/// `cloves` to the router with encryption key `router_public`, using the one-time key
/// `ephemeral`. The payload is DateTime(now), the cloves, then `padding_len` zero bytes of
/// Padding (omitted when `None`).
pub fn seal_router_garlic_with(
    ephemeral: &StaticSecret,
    router_public: &[u8; 32],
    cloves: &[Clove],
    padding_len: Option<usize>,
    now_ms: u64,
) -> Result<Vec<u8>, SealError> {
    let mut blocks = Vec::with_capacity(cloves.len() + 2);
    // The DateTime field is 32-bit seconds and wraps in 2106, as the spec says.
    blocks.push(Block::DateTime((now_ms / 1000) as u32));
    blocks.extend(cloves.iter().cloned().map(Block::GarlicClove));
    if let Some(n) = padding_len {
        blocks.push(Block::Padding(vec![0; n]));
    }
    let payload = write_payload(&blocks).map_err(SealError::Payload)?;
    let (epk, ct, _) = NoiseN::new(router_public).seal(ephemeral, &payload)?;
    let mut out = Vec::with_capacity(EPHEMERAL_KEY_LEN + ct.len());
    out.extend_from_slice(&epk);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// [`seal_router_garlic_with`] with a fresh ephemeral key from `rng`.
pub fn seal_router_garlic<R: RngCore + CryptoRng>(
    rng: &mut R,
    router_public: &[u8; 32],
    cloves: &[Clove],
    padding_len: Option<usize>,
    now_ms: u64,
) -> Result<Vec<u8>, SealError> {
    let eph = StaticSecret::random_from_rng(&mut *rng);
    seal_router_garlic_with(&eph, router_public, cloves, padding_len, now_ms)
}

/// Wrap `inner` for LOCAL delivery at the router with encryption key `router_public`, as a
/// Garlic I2NP message with id `msg_id` expiring at `expiration_ms`, padded with 0-15 bytes like
/// the Java and i2pd routers do.
pub fn wrap_for_router<R: RngCore + CryptoRng>(
    rng: &mut R,
    router_public: &[u8; 32],
    inner: &I2npMessage,
    msg_id: u32,
    expiration_ms: u64,
    now_ms: u64,
) -> Result<I2npMessage, SealError> {
    let clove = Clove {
        delivery: DeliveryInstructions::Local,
        delay: None,
        header: ShortHeader {
            msg_type: inner.msg_type().code(),
            msg_id: inner.msg_id,
            expiration_s: inner.short_expiration(),
        },
        body: inner.body.to_bytes().map_err(SealError::Payload)?,
    };
    let padding = usize::from((rng.next_u32() & 0x0f) as u8);
    let data = seal_router_garlic(rng, router_public, &[clove], Some(padding), now_ms)?;
    Ok(I2npMessage {
        msg_id,
        expiration_ms,
        body: I2npBody::Garlic(Garlic { data }),
    })
}

#[cfg(test)]
mod tests {
    /// Noise N is a standard pattern, so here `snow` (the design card's Noise crate) can serve as
    /// an independent implementation: what snow seals as `Noise_N_25519_ChaChaPoly_SHA256` our
    /// responder opens, and what we seal snow opens, with identical final handshake hashes.
    #[test]
    fn noise_n_agrees_with_snow() {
        use super::*;
        let params: snow::params::NoiseParams = "Noise_N_25519_ChaChaPoly_SHA256".parse().unwrap();
        let secret = StaticSecret::from([0x42u8; 32]);
        let public = PublicKey::from(&secret).to_bytes();
        let n = NoiseN::new(&public);

        // snow -> us
        let mut alice = snow::Builder::new(params.clone())
            .remote_public_key(&public)
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut msg = vec![0u8; 32 + 11 + 16];
        let len = alice.write_message(b"hello flood", &mut msg).unwrap();
        let (eph, ct) = msg[..len].split_at(32);
        let (pt, state) = n.open(&secret, eph.try_into().unwrap(), ct).unwrap();
        assert_eq!(pt, b"hello flood");
        assert_eq!(state.handshake_hash()[..], alice.get_handshake_hash()[..]);

        // us -> snow
        let eph_secret = StaticSecret::from([0x17u8; 32]);
        let (epk, ct, state) = n.seal(&eph_secret, b"reply").unwrap();
        let mut bob = snow::Builder::new(params)
            .local_private_key(&[0x42u8; 32])
            .unwrap()
            .build_responder()
            .unwrap();
        let mut wire = epk.to_vec();
        wire.extend_from_slice(&ct);
        let mut out = vec![0u8; wire.len()];
        let len = bob.read_message(&wire, &mut out).unwrap();
        assert_eq!(&out[..len], b"reply");
        assert_eq!(state.handshake_hash()[..], bob.get_handshake_hash()[..]);
    }
    use super::*;
    use crate::wire::i2np::{DeliveryStatus, MessageType};
    use chacha20poly1305::ChaCha20Poly1305;
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use sha2::{Digest, Sha256};

    const NOW_MS: u64 = 1_700_000_000_000;

    fn router_key() -> (StaticSecret, [u8; 32]) {
        let s = StaticSecret::from([0x11; 32]);
        let p = PublicKey::from(&s).to_bytes();
        (s, p)
    }

    fn local_clove(body: Vec<u8>) -> Clove {
        Clove {
            delivery: DeliveryInstructions::Local,
            delay: None,
            header: ShortHeader {
                msg_type: MessageType::DeliveryStatus.code(),
                msg_id: 77,
                expiration_s: 1_700_000_060,
            },
            body,
        }
    }

    /// The key schedule written out from ecies-routers.rst with the `hkdf` crate and raw
    /// ChaCha20-Poly1305, independent of `SymmetricState`: encrypt with it, open with ours.
    #[test]
    fn spec_key_schedule_opens() {
        let (secret, public) = router_key();
        let eph = StaticSecret::from([0x22; 32]);
        let epk = PublicKey::from(&eph).to_bytes();

        let mut h = [0u8; 32];
        h[..31].copy_from_slice(b"Noise_N_25519_ChaChaPoly_SHA256");
        let ck = h;
        let h: [u8; 32] = Sha256::digest(h).into();
        let h: [u8; 32] = Sha256::digest([&h[..], &public[..]].concat()).into();
        let h: [u8; 32] = Sha256::digest([&h[..], &epk[..]].concat()).into();
        let shared = eph.diffie_hellman(&PublicKey::from(public));
        let mut keydata = [0u8; 64];
        hkdf::Hkdf::<Sha256>::new(Some(&ck), shared.as_bytes())
            .expand(&[], &mut keydata)
            .unwrap();
        let k = &keydata[32..];

        let mut payload = vec![0u8, 0, 4];
        payload.extend_from_slice(&((NOW_MS / 1000) as u32).to_be_bytes());
        // clove: LOCAL, DeliveryStatus id 77, 12-byte body
        payload.extend_from_slice(&[11, 0, 1 + 9 + 12, 0, 10]);
        payload.extend_from_slice(&77u32.to_be_bytes());
        payload.extend_from_slice(&1_700_000_060u32.to_be_bytes());
        payload.extend_from_slice(&[5; 12]);
        payload.extend_from_slice(&[254, 0, 3, 0, 0, 0]);
        let ct = ChaCha20Poly1305::new(k.into())
            .encrypt(
                &[0u8; 12].into(),
                Payload {
                    msg: &payload,
                    aad: &h,
                },
            )
            .unwrap();
        let mut garlic = epk.to_vec();
        garlic.extend_from_slice(&ct);

        let cloves =
            open_router_garlic(&secret, &public, &garlic, NOW_MS, &ReplayGuard::default()).unwrap();
        assert_eq!(cloves, vec![local_clove(vec![5; 12])]);

        // And our encoder produces exactly these bytes for the same ephemeral key.
        let ours =
            seal_router_garlic_with(&eph, &public, &[local_clove(vec![5; 12])], Some(3), NOW_MS)
                .unwrap();
        assert_eq!(ours, garlic);
    }

    #[test]
    fn seal_open_round_trip_with_every_delivery_type() {
        let (_, public) = router_key();
        let keys = GarlicKeys::new([0x11; 32]);
        assert_eq!(keys.public(), &public);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let cloves = vec![
            local_clove(vec![1, 2, 3]),
            Clove {
                delivery: DeliveryInstructions::Router([7; 32]),
                ..local_clove(vec![])
            },
            Clove {
                delivery: DeliveryInstructions::Tunnel {
                    gateway: [8; 32],
                    tunnel_id: 99,
                },
                ..local_clove(vec![4; 1000])
            },
            Clove {
                delivery: DeliveryInstructions::Destination([9; 32]),
                ..local_clove(vec![0])
            },
        ];
        let g = seal_router_garlic(&mut rng, &public, &cloves, None, NOW_MS).unwrap();
        assert_eq!(keys.open(&g, NOW_MS).unwrap(), cloves);
        // The same message again is a replay, even a minute later.
        assert_eq!(keys.open(&g, NOW_MS + 60_000), Err(GarlicError::Replay));
        assert_eq!(keys.replay().len(), 1);
    }

    #[test]
    fn wrap_for_router_carries_the_inner_message() {
        let keys = GarlicKeys::new([0x33; 32]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let inner = I2npMessage {
            msg_id: 1234,
            expiration_ms: NOW_MS + 60_000,
            body: I2npBody::DeliveryStatus(DeliveryStatus {
                msg_id: 5,
                timestamp: NOW_MS,
            }),
        };
        let g =
            wrap_for_router(&mut rng, keys.public(), &inner, 9, NOW_MS + 30_000, NOW_MS).unwrap();
        assert_eq!(g.msg_type(), MessageType::Garlic);
        let I2npBody::Garlic(garlic) = &g.body else {
            unreachable!()
        };
        let cloves = keys.open(&garlic.data, NOW_MS).unwrap();
        assert_eq!(cloves.len(), 1);
        assert_eq!(cloves[0].delivery, DeliveryInstructions::Local);
        assert_eq!(cloves[0].header.msg_id, 1234);
        assert_eq!(cloves[0].header.expiration_s, inner.short_expiration());
        assert_eq!(cloves[0].body, inner.body.to_bytes().unwrap());
    }

    #[test]
    fn refusals_have_reasons() {
        let keys = GarlicKeys::new([0x11; 32]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let seal = |rng: &mut rand::rngs::StdRng, now| {
            seal_router_garlic(rng, keys.public(), &[local_clove(vec![])], Some(0), now).unwrap()
        };

        let e = keys.open(&[0u8; MIN_GARLIC_LEN - 1], NOW_MS).unwrap_err();
        assert_eq!(e.reason(), "too_short");

        let mut g = seal(&mut rng, NOW_MS);
        let last = g.len() - 1;
        g[last] ^= 1;
        assert_eq!(keys.open(&g, NOW_MS), Err(GarlicError::Aead));
        // A tampered message did not poison the replay memory.
        g[last] ^= 1;
        assert!(keys.open(&g, NOW_MS).is_ok());

        // Encrypted to someone else.
        let other = GarlicKeys::new([0x44; 32]);
        let g = seal(&mut rng, NOW_MS);
        assert_eq!(other.open(&g, NOW_MS).unwrap_err().reason(), "aead");

        // Low-order ephemeral key (all zeros): refused before any AEAD work.
        let mut g = seal(&mut rng, NOW_MS);
        g[..32].fill(0);
        assert_eq!(keys.open(&g, NOW_MS), Err(GarlicError::WeakKey));

        // DateTime window.
        let g = seal(&mut rng, NOW_MS - (MAX_AGE_SECS + 1) * 1000);
        assert_eq!(keys.open(&g, NOW_MS).unwrap_err().reason(), "stale");
        let g = seal(&mut rng, NOW_MS + (MAX_FUTURE_SECS + 2) * 1000);
        assert_eq!(keys.open(&g, NOW_MS).unwrap_err().reason(), "future");
        let g = seal(&mut rng, NOW_MS - (MAX_AGE_SECS - 1) * 1000);
        assert!(keys.open(&g, NOW_MS).is_ok());

        // Authenticated but malformed payload: no DateTime block.
        let payload = write_payload(&[Block::GarlicClove(local_clove(vec![]))]).unwrap();
        let eph = StaticSecret::from([0x55; 32]);
        let (epk, ct, _) = NoiseN::new(keys.public()).seal(&eph, &payload).unwrap();
        let g = [&epk[..], &ct[..]].concat();
        let e = keys.open(&g, NOW_MS).unwrap_err();
        assert_eq!(e.reason(), "malformed");
        let GarlicError::Payload(w) = e else {
            unreachable!()
        };
        assert_eq!((w.what, w.offset), ("block type", 0));
    }

    #[test]
    fn sealing_to_a_low_order_key_is_refused() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let e = seal_router_garlic(&mut rng, &[0; 32], &[], None, NOW_MS).unwrap_err();
        assert_eq!(e, SealError::WeakKey);
    }

    #[test]
    fn replay_guard_remembers_at_least_one_window_and_is_bounded() {
        let g = ReplayGuard::new(100, 2);
        let (a, b, c) = ([1; 32], [2; 32], [3; 32]);
        assert_eq!(g.record(&a, 1000), ReplayVerdict::Fresh);
        assert_eq!(g.record(&a, 1050), ReplayVerdict::Replayed);
        assert_eq!(g.record(&b, 1099), ReplayVerdict::Fresh);
        assert_eq!(g.record(&c, 1099), ReplayVerdict::Full);
        // Rotation at 1100: a and b move to the previous generation, still known.
        assert!(g.seen(&b, 1100));
        assert_eq!(g.record(&c, 1150), ReplayVerdict::Fresh);
        assert_eq!(g.record(&b, 1198), ReplayVerdict::Replayed);
        // Second rotation (>= 1200): a and b (recorded before 1100) are forgotten, c kept.
        assert!(!g.seen(&a, 1201));
        assert!(g.seen(&c, 1201));
        // A long silence forgets everything at once.
        assert!(!g.seen(&c, 5000));
        assert!(g.is_empty());
    }

    proptest! {
        #[test]
        fn random_garlic_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let keys = GarlicKeys::new([0x11; 32]);
            prop_assert!(keys.open(&data, NOW_MS).is_err());
        }

        /// Valid messages with arbitrary payload bytes after the DateTime: whatever the block
        /// parser makes of them, opening never panics.
        #[test]
        fn authenticated_random_payloads_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let keys = GarlicKeys::new([0x11; 32]);
            let mut payload = vec![0, 0, 4];
            payload.extend_from_slice(&((NOW_MS / 1000) as u32).to_be_bytes());
            payload.extend_from_slice(&tail);
            let (epk, ct, _) = NoiseN::new(keys.public())
                .seal(&StaticSecret::from([0x66; 32]), &payload)
                .unwrap();
            let _ = keys.open(&[&epk[..], &ct[..]].concat(), NOW_MS);
        }
    }
}

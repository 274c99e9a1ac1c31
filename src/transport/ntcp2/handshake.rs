//! NTCP2 handshake state machines (SessionRequest, SessionCreated, SessionConfirmed) without I/O.
//!
//! Both sides take complete messages as byte slices, return the bytes to send, and take the
//! current Unix time in seconds as a parameter. All randomness (ephemeral keys, padding) is an
//! explicit input, so tests can run fixed handshakes and replay captured ones. See the module
//! docs of [`super`] for how a session task drives them.
//!
//! Every check failure is a [`HandshakeError`] whose [`HandshakeError::reason`] is a stable metric
//! label. Any error is terminal: the state machine refuses further input.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aes::Aes256;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use bytes::Bytes;
use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use thiserror::Error;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::frame::{
    Block, DataPhaseKeys, FrameDecoder, FrameEncoder, OptionsBlock, ROUTER_INFO_FLAG_FLOOD,
    SessionConfirmedPayload, TerminationReason, parse_session_confirmed, serialize_blocks,
};
use crate::crypto::noise::{MAC_LEN, NTCP2_PROTOCOL_NAME, NoiseError, SymmetricState};
use crate::wire::{Reader, WireError, Writer};

/// Protocol version carried in message 1 and published as `v=2`.
pub const NTCP2_VERSION: u8 = 2;
/// Largest accepted difference between a peer's handshake timestamp and our clock. Same value as
/// i2pd's `NTCP2_CLOCK_SKEW` and the spec's "+/- 60 seconds is generally fatal".
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;
/// How long message-1/2 ephemeral keys are remembered. The spec asks for at least 2*D: a message
/// passes the skew check for 2*D seconds in total, so a replay after that fails the skew check.
pub const REPLAY_WINDOW_SECS: u64 = 2 * MAX_CLOCK_SKEW_SECS;
/// Default bound on remembered keys; beyond it the oldest are evicted (see [`ReplayCache`]).
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;
/// X or Y (AES-obfuscated) plus the 32-byte AEAD options frame.
pub const MESSAGE1_LEN: usize = 64;
pub const MESSAGE2_LEN: usize = 64;
/// Alice's encrypted static key: 32 bytes plus MAC.
pub const MESSAGE3_PART1_LEN: usize = 32 + MAC_LEN;
/// Largest cleartext padding after messages 1 and 2, sent or accepted: 287 - 64. i2pd rejects a
/// SessionRequest or SessionCreated longer than 287 bytes (the NTCP1-compatible limit), and the
/// Java router uses the same bound for message 1, so this is the interoperable maximum.
pub const MAX_HANDSHAKE_PADDING: usize = 287 - MESSAGE1_LEN;
/// Smallest message 3 part 2 the Java router accepts: RouterInfo block header (3) and flag (1),
/// the smallest possible RouterInfo (387-byte identity, date, 0 addresses, 0 peers, empty
/// mapping, 40-byte DSA signature = 439) and the MAC. Anything shorter cannot hold a RouterInfo.
pub const MIN_MESSAGE3_PART2_LEN: usize = 3 + 1 + (387 + 8 + 1 + 1 + 2 + 40) + MAC_LEN;
/// Both message 3 frames together are at most 65535 bytes.
pub const MAX_MESSAGE3_PART2_LEN: usize = 65535 - MESSAGE3_PART1_LEN;

const OPTIONS_LEN: usize = 16;

/// Which handshake message an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Message1,
    Message1Padding,
    Message2,
    Message2Padding,
    Message3Part1,
    Message3Part2,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Message1 => "SessionRequest",
            Stage::Message1Padding => "SessionRequest padding",
            Stage::Message2 => "SessionCreated",
            Stage::Message2Padding => "SessionCreated padding",
            Stage::Message3Part1 => "SessionConfirmed part 1",
            Stage::Message3Part2 => "SessionConfirmed part 2",
        })
    }
}

/// Why a handshake failed. [`HandshakeError::reason`] gives the metric label.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// The caller passed a buffer of the wrong size (the expected size comes from
    /// `bytes_needed()`).
    #[error("{stage}: expected {expected} bytes, got {got}")]
    Length {
        stage: Stage,
        expected: usize,
        got: usize,
    },
    /// The de-obfuscated ephemeral key has its top bit set: not a canonical X25519 key, so the
    /// sender does not know our router hash/IV (a probe or garbage).
    #[error("{stage}: ephemeral key is not canonical (high bit set)")]
    BadEphemeralKey { stage: Stage },
    /// A Diffie-Hellman result was all zeros (low-order peer key).
    #[error("{stage}: Diffie-Hellman with a low-order key")]
    WeakKey { stage: Stage },
    #[error("{stage}: AEAD authentication failed")]
    Aead { stage: Stage },
    /// Peer time minus our time, in seconds, beyond [`MAX_CLOCK_SKEW_SECS`].
    #[error("{stage}: clock skew of {skew_secs} s")]
    ClockSkew { stage: Stage, skew_secs: i64 },
    #[error("network id {got}, ours is {expected}")]
    NetworkId { got: u8, expected: u8 },
    #[error("unsupported NTCP2 version {0}")]
    Version(u8),
    #[error("{stage}: padding of {len} bytes exceeds {max}")]
    Padding {
        stage: Stage,
        len: usize,
        max: usize,
    },
    #[error("message 3 part 2 length {len} outside {min}..={max}")]
    Message3Length { len: usize, min: usize, max: usize },
    /// The peer's ephemeral key was seen within the replay window.
    #[error("{stage}: ephemeral key replayed")]
    Replay { stage: Stage },
    /// Message 3 part 2 is not "RouterInfo, Options?, Padding?".
    #[error("SessionConfirmed payload: {0}")]
    Payload(WireError),
    /// The static key from message 3 part 1 differs from the `s` published in the RouterInfo.
    #[error("static key in SessionConfirmed does not match the RouterInfo's NTCP2 address")]
    StaticKeyMismatch,
    /// Invalid local input (e.g. a RouterInfo too large for message 3).
    #[error("invalid handshake input: {0}")]
    Config(String),
    /// A method was called in the wrong state (including after an earlier error).
    #[error("handshake method called in state {0}")]
    State(&'static str),
}

impl HandshakeError {
    /// Stable label for metrics (`reason="..."`).
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::Length { .. } => "length",
            HandshakeError::BadEphemeralKey { .. } => "bad_key",
            HandshakeError::WeakKey { .. } => "dh",
            HandshakeError::Aead { .. } => "aead",
            HandshakeError::ClockSkew { .. } => "skew",
            HandshakeError::NetworkId { .. } => "netid",
            HandshakeError::Version(_) => "version",
            HandshakeError::Padding { .. } => "padding",
            HandshakeError::Message3Length { .. } => "m3p2_len",
            HandshakeError::Replay { .. } => "replay",
            HandshakeError::Payload(_) => "payload",
            HandshakeError::StaticKeyMismatch => "static_key",
            HandshakeError::Config(_) => "config",
            HandshakeError::State(_) => "state",
        }
    }

    /// True for failures where the spec asks Bob for probing resistance (random delay and read
    /// before closing) instead of an immediate close: AEAD failures and non-canonical keys in
    /// message 1.
    pub fn wants_probing_resistance(&self) -> bool {
        matches!(
            self,
            HandshakeError::Aead {
                stage: Stage::Message1
            } | HandshakeError::BadEphemeralKey {
                stage: Stage::Message1
            }
        )
    }

    /// The reason code to put in a Termination block if the caller chooses to send one (only
    /// possible once data-phase keys exist, i.e. after message 3).
    pub fn termination_reason(&self) -> TerminationReason {
        match self {
            HandshakeError::ClockSkew { .. } => TerminationReason::ClockSkew,
            HandshakeError::StaticKeyMismatch => TerminationReason::StaticKeyMismatch,
            HandshakeError::NetworkId { .. } | HandshakeError::Version(_) => {
                TerminationReason::IncompatibleOptions
            }
            HandshakeError::Padding { .. } => TerminationReason::PaddingViolation,
            e => match e.stage() {
                Some(Stage::Message1 | Stage::Message1Padding) => TerminationReason::Message1Error,
                Some(Stage::Message2 | Stage::Message2Padding) => TerminationReason::Message2Error,
                Some(Stage::Message3Part1 | Stage::Message3Part2) => {
                    TerminationReason::Message3Error
                }
                None => match e {
                    HandshakeError::Payload(_) | HandshakeError::Message3Length { .. } => {
                        TerminationReason::Message3Error
                    }
                    _ => TerminationReason::Unspecified,
                },
            },
        }
    }

    /// The handshake message concerned, where the error names one.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            HandshakeError::Length { stage, .. }
            | HandshakeError::BadEphemeralKey { stage }
            | HandshakeError::WeakKey { stage }
            | HandshakeError::Aead { stage }
            | HandshakeError::ClockSkew { stage, .. }
            | HandshakeError::Padding { stage, .. }
            | HandshakeError::Replay { stage } => Some(*stage),
            HandshakeError::NetworkId { .. }
            | HandshakeError::Version(_)
            | HandshakeError::Message3Length { .. } => Some(Stage::Message1),
            HandshakeError::Payload(_) => Some(Stage::Message3Part2),
            HandshakeError::StaticKeyMismatch => Some(Stage::Message3Part1),
            HandshakeError::Config(_) | HandshakeError::State(_) => None,
        }
    }
}

/// Unix time in whole seconds, rounded to the nearest second as the spec asks for timestamps
/// ("round to the nearest second to prevent clock bias"). Times before 1970 give 0.
pub fn unix_time_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + u64::from(d.subsec_millis() >= 500))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// Our NTCP2 identity, shared (behind an `Arc`) by every handshake of the router.
pub struct LocalKeys {
    static_key: StaticSecret,
    static_public: [u8; 32],
    router_hash: [u8; 32],
    iv: [u8; 16],
    net_id: u8,
    /// The responder's state after MixHash(rs): identical for every inbound connection, so it is
    /// computed once (the spec notes Bob can precalculate it).
    responder_base: SymmetricState,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeys")
            .field("net_id", &self.net_id)
            .finish_non_exhaustive()
    }
}

impl LocalKeys {
    /// `static_key` is the NTCP2 `s` private key, `router_hash` the SHA-256 of our
    /// RouterIdentity, `iv` our published `i`, `net_id` the network id (2 on the main net).
    pub fn new(static_key: StaticSecret, router_hash: [u8; 32], iv: [u8; 16], net_id: u8) -> Self {
        let static_public = PublicKey::from(&static_key).to_bytes();
        Self {
            responder_base: initial_state(&static_public),
            static_key,
            static_public,
            router_hash,
            iv,
            net_id,
        }
    }

    pub fn static_public(&self) -> &[u8; 32] {
        &self.static_public
    }
    pub fn router_hash(&self) -> &[u8; 32] {
        &self.router_hash
    }
    pub fn net_id(&self) -> u8 {
        self.net_id
    }
}

/// What Alice needs to know about Bob, from his RouterInfo's NTCP2 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNtcp2Info {
    /// Bob's router hash (AES key for X/Y obfuscation).
    pub router_hash: [u8; 32],
    /// Bob's static key `s`.
    pub static_key: [u8; 32],
    /// Bob's published IV `i`.
    pub iv: [u8; 16],
}

/// Per-handshake randomness: the ephemeral key and the cleartext padding after message 1 (Alice)
/// or message 2 (Bob). Explicit so tests and captured-handshake replays can fix them.
pub struct HandshakeRandom {
    pub ephemeral: StaticSecret,
    pub padding: Vec<u8>,
}

impl HandshakeRandom {
    /// Fresh ephemeral key and `0..=max_padding` random padding bytes (clamped to
    /// [`MAX_HANDSHAKE_PADDING`]).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, max_padding: usize) -> Self {
        let max = max_padding.min(MAX_HANDSHAKE_PADDING);
        let len = (rng.next_u32() as usize) % (max + 1);
        let mut padding = vec![0u8; len];
        rng.fill_bytes(&mut padding);
        Self {
            ephemeral: StaticSecret::random_from_rng(&mut *rng),
            padding,
        }
    }
}

/// The remembered ephemeral keys of recent message 1s (and message 2s), shared by all handshakes.
///
/// Bounded in time ([`REPLAY_WINDOW_SECS`] after insertion) and in size: when full of unexpired
/// keys the oldest is evicted. Eviction only happens under a flood of >capacity handshakes within
/// the window; a replay of an evicted key then costs the attacker nothing it could not get with a
/// fresh key (message 1 carries no authentication), so availability wins over strictness.
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<ReplayInner>,
    window_secs: u64,
    capacity: usize,
}

#[derive(Debug, Default)]
struct ReplayInner {
    expiry: HashMap<[u8; 32], u64>,
    order: VecDeque<([u8; 32], u64)>,
    evicted: u64,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(REPLAY_WINDOW_SECS, DEFAULT_REPLAY_CAPACITY)
    }
}

impl ReplayCache {
    pub fn new(window_secs: u64, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(ReplayInner::default()),
            window_secs,
            capacity: capacity.max(1),
        }
    }

    /// Record `key` at time `now`; false if it was already recorded and has not expired.
    pub fn check_and_insert(&self, key: &[u8; 32], now: u64) -> bool {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters (worst case a stale entry), so recover from poisoning.
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *g;
        while let Some((k, exp)) = inner.order.front() {
            if *exp > now {
                break;
            }
            // Only drop the map entry if it was not refreshed with a later expiry.
            if inner.expiry.get(k) == Some(exp) {
                inner.expiry.remove(k);
            }
            inner.order.pop_front();
        }
        if inner.expiry.get(key).is_some_and(|exp| *exp > now) {
            return false;
        }
        while inner.expiry.len() >= self.capacity {
            let Some((k, exp)) = inner.order.pop_front() else {
                break;
            };
            if inner.expiry.get(&k) == Some(&exp) {
                inner.expiry.remove(&k);
                inner.evicted += 1;
            }
        }
        let exp = now.saturating_add(self.window_secs);
        inner.expiry.insert(*key, exp);
        inner.order.push_back((*key, exp));
        true
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expiry
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unexpired keys dropped because the cache was full (a metric worth exporting).
    pub fn evicted(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).evicted
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// `h`/`ck` from the protocol name, MixHash(null prologue), MixHash(rs).
fn initial_state(responder_static: &[u8; 32]) -> SymmetricState {
    let mut s = SymmetricState::initialize(NTCP2_PROTOCOL_NAME);
    s.mix_hash(&[]);
    s.mix_hash(responder_static);
    s
}

/// AES-256-CBC over exactly two blocks, no padding. Written out rather than via the `cbc` crate
/// because the message 2 IV is the last ciphertext block of message 1 (the CBC state carries
/// over), which is clearest with the chaining spelled out.
fn aes_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], data: &[u8; 32]) -> [u8; 32] {
    let aes = Aes256::new(key.into());
    let mut out = [0u8; 32];
    let mut prev = *iv;
    for (i, chunk) in data.chunks_exact(16).enumerate() {
        let mut block = [0u8; 16];
        for j in 0..16 {
            block[j] = chunk[j] ^ prev[j];
        }
        let mut ga = block.into();
        aes.encrypt_block(&mut ga);
        prev = ga.into();
        out[i * 16..i * 16 + 16].copy_from_slice(&prev);
    }
    out
}

fn aes_cbc_decrypt(key: &[u8; 32], iv: &[u8; 16], data: &[u8; 32]) -> [u8; 32] {
    let aes = Aes256::new(key.into());
    let mut out = [0u8; 32];
    let mut prev = *iv;
    for (i, chunk) in data.chunks_exact(16).enumerate() {
        let mut c = [0u8; 16];
        c.copy_from_slice(chunk);
        let mut ga = c.into();
        aes.decrypt_block(&mut ga);
        let plain: [u8; 16] = ga.into();
        for j in 0..16 {
            out[i * 16 + j] = plain[j] ^ prev[j];
        }
        prev = c;
    }
    out
}

fn last_block(ct: &[u8; 32]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&ct[16..]);
    iv
}

/// DH with a contributory check, returning the shared secret (zeroized on drop).
fn dh(
    secret: &StaticSecret,
    public: &[u8; 32],
    stage: Stage,
) -> Result<Zeroizing<[u8; 32]>, HandshakeError> {
    let shared = secret.diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(HandshakeError::WeakKey { stage });
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

fn check_len(stage: Stage, got: &[u8], expected: usize) -> Result<(), HandshakeError> {
    if got.len() != expected {
        return Err(HandshakeError::Length {
            stage,
            expected,
            got: got.len(),
        });
    }
    Ok(())
}

fn to_array32(b: &[u8]) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(&b[..32]);
    a
}

fn check_skew(stage: Stage, peer_ts: u32, now: u64) -> Result<(), HandshakeError> {
    let skew = i64::from(peer_ts) - i64::try_from(now).unwrap_or(i64::MAX);
    if skew.unsigned_abs() > MAX_CLOCK_SKEW_SECS {
        return Err(HandshakeError::ClockSkew {
            stage,
            skew_secs: skew,
        });
    }
    Ok(())
}

/// The 4-byte timestamp field: seconds, wrapping in 2106 as the spec says.
fn ts32(now: u64) -> u32 {
    (now & 0xffff_ffff) as u32
}

fn aead_err(stage: Stage) -> impl Fn(NoiseError) -> HandshakeError {
    move |_| HandshakeError::Aead { stage }
}

/// Options of message 1 (SessionRequest), decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRequestOptions {
    pub net_id: u8,
    pub version: u8,
    pub padding_len: u16,
    pub m3p2_len: u16,
    pub timestamp: u32,
}

impl SessionRequestOptions {
    fn to_bytes(self) -> [u8; OPTIONS_LEN] {
        let mut v = Vec::with_capacity(OPTIONS_LEN);
        v.put_u8(self.net_id);
        v.put_u8(self.version);
        v.put_u16(self.padding_len);
        v.put_u16(self.m3p2_len);
        v.put_u16(0);
        v.put_u32(self.timestamp);
        v.put_u32(0);
        let mut a = [0u8; OPTIONS_LEN];
        a.copy_from_slice(&v);
        a
    }

    /// Reserved fields are ignored (not required to be zero) for forward compatibility.
    fn parse(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        let net_id = r.u8("SessionRequest id")?;
        let version = r.u8("SessionRequest ver")?;
        let padding_len = r.u16("SessionRequest padLen")?;
        let m3p2_len = r.u16("SessionRequest m3p2Len")?;
        r.u16("SessionRequest reserved")?;
        let timestamp = r.u32("SessionRequest tsA")?;
        r.u32("SessionRequest reserved")?;
        r.finish("SessionRequest options")?;
        Ok(Self {
            net_id,
            version,
            padding_len,
            m3p2_len,
            timestamp,
        })
    }
}

/// Options of message 2 (SessionCreated), decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCreatedOptions {
    pub padding_len: u16,
    pub timestamp: u32,
}

impl SessionCreatedOptions {
    fn to_bytes(self) -> [u8; OPTIONS_LEN] {
        let mut v = Vec::with_capacity(OPTIONS_LEN);
        v.put_u16(0);
        v.put_u16(self.padding_len);
        v.put_u32(0);
        v.put_u32(self.timestamp);
        v.put_u32(0);
        let mut a = [0u8; OPTIONS_LEN];
        a.copy_from_slice(&v);
        a
    }

    fn parse(b: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(b);
        r.u16("SessionCreated reserved")?;
        let padding_len = r.u16("SessionCreated padLen")?;
        r.u32("SessionCreated reserved")?;
        let timestamp = r.u32("SessionCreated tsB")?;
        r.u32("SessionCreated reserved")?;
        r.finish("SessionCreated options")?;
        Ok(Self {
            padding_len,
            timestamp,
        })
    }
}

/// The established data phase: frame encoder/decoder for our direction pair.
#[derive(Debug)]
pub struct DataPhase {
    pub encoder: FrameEncoder,
    pub decoder: FrameDecoder,
    /// The peer's NTCP2 static key (Bob's `s` for Alice, Alice's verified `s` for Bob).
    pub remote_static_key: [u8; 32],
    /// The final handshake hash `h`, for logging/channel binding; not secret.
    pub handshake_hash: [u8; 32],
}

// ---------------------------------------------------------------------------------------------
// Responder (Bob)
// ---------------------------------------------------------------------------------------------

enum ResponderState {
    AwaitMessage1 {
        random: HandshakeRandom,
    },
    AwaitMessage1Padding {
        random: HandshakeRandom,
        noise: SymmetricState,
        remote_ephemeral: [u8; 32],
        cbc_iv: [u8; 16],
        padding_len: usize,
        m3p2_len: usize,
    },
    AwaitMessage3 {
        ephemeral: StaticSecret,
        noise: SymmetricState,
        m3p2_len: usize,
    },
    Done,
    Failed,
}

impl ResponderState {
    fn name(&self) -> &'static str {
        match self {
            ResponderState::AwaitMessage1 { .. } => "await_message1",
            ResponderState::AwaitMessage1Padding { .. } => "await_message1_padding",
            ResponderState::AwaitMessage3 { .. } => "await_message3",
            ResponderState::Done => "done",
            ResponderState::Failed => "failed",
        }
    }
}

/// What Bob learned from a valid message 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRequestInfo {
    pub options: SessionRequestOptions,
    /// Alice's ephemeral key X (already checked against the replay cache).
    pub remote_ephemeral: [u8; 32],
}

/// Bob's view of the handshake, one per inbound connection.
pub struct Responder {
    local: Arc<LocalKeys>,
    state: ResponderState,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// `random.padding` is sent after message 2 and must not exceed [`MAX_HANDSHAKE_PADDING`].
    pub fn new(local: Arc<LocalKeys>, random: HandshakeRandom) -> Result<Self, HandshakeError> {
        if random.padding.len() > MAX_HANDSHAKE_PADDING {
            return Err(HandshakeError::Config(format!(
                "message 2 padding {} exceeds {MAX_HANDSHAKE_PADDING}",
                random.padding.len()
            )));
        }
        Ok(Self {
            local,
            state: ResponderState::AwaitMessage1 { random },
        })
    }

    /// Exactly how many bytes the next call needs: 64 for message 1, the announced padding
    /// length for [`Responder::write_message2`] (possibly 0), `48 + m3p2Len` for message 3, and
    /// 0 once done or failed.
    pub fn bytes_needed(&self) -> usize {
        match &self.state {
            ResponderState::AwaitMessage1 { .. } => MESSAGE1_LEN,
            ResponderState::AwaitMessage1Padding { padding_len, .. } => *padding_len,
            ResponderState::AwaitMessage3 { m3p2_len, .. } => MESSAGE3_PART1_LEN + m3p2_len,
            ResponderState::Done | ResponderState::Failed => 0,
        }
    }

    /// Process the first 64 bytes of SessionRequest. On success read
    /// [`Responder::bytes_needed`] padding bytes and call [`Responder::write_message2`].
    ///
    /// On clock skew this returns an error rather than the courtesy SessionCreated the spec
    /// suggests: answering would need the padding read first and tells a skewed peer only our
    /// time, which it can learn from any other router.
    pub fn read_message1(
        &mut self,
        msg: &[u8],
        now: u64,
        replay: &ReplayCache,
    ) -> Result<SessionRequestInfo, HandshakeError> {
        let state = std::mem::replace(&mut self.state, ResponderState::Failed);
        let ResponderState::AwaitMessage1 { random } = state else {
            let name = state.name();
            self.state = state;
            return Err(HandshakeError::State(name));
        };
        let stage = Stage::Message1;
        check_len(stage, msg, MESSAGE1_LEN)?;
        let enc_x = to_array32(msg);
        let x = aes_cbc_decrypt(&self.local.router_hash, &self.local.iv, &enc_x);
        // Honest X25519 public keys are < 2^255; a set top bit means the sender used the wrong
        // router hash or IV, which the spec lets Bob treat like an AEAD failure without a DH.
        if x[31] & 0x80 != 0 {
            return Err(HandshakeError::BadEphemeralKey { stage });
        }
        let mut noise = self.local.responder_base.clone();
        noise.mix_hash(&x);
        let es = dh(&self.local.static_key, &x, stage)?;
        noise.mix_key(&es[..]);
        let opts = noise
            .decrypt_and_hash(&msg[32..MESSAGE1_LEN])
            .map_err(aead_err(stage))?;
        let options = SessionRequestOptions::parse(&opts).map_err(HandshakeError::Payload)?;
        // Zero means "unspecified" (routers before 0.9.42); anything else must be our network.
        if options.net_id != 0 && options.net_id != self.local.net_id {
            return Err(HandshakeError::NetworkId {
                got: options.net_id,
                expected: self.local.net_id,
            });
        }
        if options.version != NTCP2_VERSION {
            return Err(HandshakeError::Version(options.version));
        }
        let padding_len = options.padding_len as usize;
        if padding_len > MAX_HANDSHAKE_PADDING {
            return Err(HandshakeError::Padding {
                stage,
                len: padding_len,
                max: MAX_HANDSHAKE_PADDING,
            });
        }
        let m3p2_len = options.m3p2_len as usize;
        if !(MIN_MESSAGE3_PART2_LEN..=MAX_MESSAGE3_PART2_LEN).contains(&m3p2_len) {
            return Err(HandshakeError::Message3Length {
                len: m3p2_len,
                min: MIN_MESSAGE3_PART2_LEN,
                max: MAX_MESSAGE3_PART2_LEN,
            });
        }
        check_skew(stage, options.timestamp, now)?;
        // Recorded only once the AEAD verified, so random garbage cannot fill the cache.
        if !replay.check_and_insert(&x, now) {
            return Err(HandshakeError::Replay { stage });
        }
        self.state = ResponderState::AwaitMessage1Padding {
            random,
            noise,
            remote_ephemeral: x,
            cbc_iv: last_block(&enc_x),
            padding_len,
            m3p2_len,
        };
        Ok(SessionRequestInfo {
            options,
            remote_ephemeral: x,
        })
    }

    /// Take message 1's padding (exactly the announced length, possibly empty) and produce
    /// SessionCreated to send in one write.
    pub fn write_message2(
        &mut self,
        msg1_padding: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, HandshakeError> {
        let state = std::mem::replace(&mut self.state, ResponderState::Failed);
        let ResponderState::AwaitMessage1Padding {
            random,
            mut noise,
            remote_ephemeral,
            cbc_iv,
            padding_len,
            m3p2_len,
        } = state
        else {
            let name = state.name();
            self.state = state;
            return Err(HandshakeError::State(name));
        };
        check_len(Stage::Message1Padding, msg1_padding, padding_len)?;
        let stage = Stage::Message2;
        // MixHash(padding) only if there is padding: hashing an empty string would change h.
        if !msg1_padding.is_empty() {
            noise.mix_hash(msg1_padding);
        }
        let y = PublicKey::from(&random.ephemeral).to_bytes();
        noise.mix_hash(&y);
        let ee = dh(&random.ephemeral, &remote_ephemeral, stage)?;
        noise.mix_key(&ee[..]);
        let options = SessionCreatedOptions {
            // Bounded by MAX_HANDSHAKE_PADDING in `new`.
            padding_len: random.padding.len() as u16,
            timestamp: ts32(now),
        };
        let ct = noise
            .encrypt_and_hash(&options.to_bytes())
            .map_err(aead_err(stage))?;
        let mut out = Vec::with_capacity(MESSAGE2_LEN + random.padding.len());
        out.extend_from_slice(&aes_cbc_encrypt(&self.local.router_hash, &cbc_iv, &y));
        out.extend_from_slice(&ct);
        out.extend_from_slice(&random.padding);
        if !random.padding.is_empty() {
            noise.mix_hash(&random.padding);
        }
        let HandshakeRandom { ephemeral, .. } = random;
        self.state = ResponderState::AwaitMessage3 {
            ephemeral,
            noise,
            m3p2_len,
        };
        Ok(out)
    }

    /// Process the whole SessionConfirmed (`48 + m3p2Len` bytes). The result carries Alice's
    /// RouterInfo for the caller to parse and verify, and yields the data phase only once the
    /// caller supplies the `s` from that RouterInfo ([`SessionConfirmed::accept`]).
    pub fn read_message3(&mut self, msg: &[u8]) -> Result<SessionConfirmed, HandshakeError> {
        let state = std::mem::replace(&mut self.state, ResponderState::Failed);
        let ResponderState::AwaitMessage3 {
            ephemeral,
            mut noise,
            m3p2_len,
        } = state
        else {
            let name = state.name();
            self.state = state;
            return Err(HandshakeError::State(name));
        };
        check_len(Stage::Message3Part1, msg, MESSAGE3_PART1_LEN + m3p2_len)?;
        let (part1, part2) = msg.split_at(MESSAGE3_PART1_LEN);
        let s = noise
            .decrypt_and_hash(part1)
            .map_err(aead_err(Stage::Message3Part1))?;
        let remote_static = to_array32(&s);
        let se = dh(&ephemeral, &remote_static, Stage::Message3Part2)?;
        drop(ephemeral);
        noise.mix_key(&se[..]);
        let payload = noise
            .decrypt_and_hash(part2)
            .map_err(aead_err(Stage::Message3Part2))?;
        let payload = Bytes::from(payload);
        let confirmed = parse_session_confirmed(&payload).map_err(HandshakeError::Payload)?;
        let keys = DataPhaseKeys::derive(&noise);
        self.state = ResponderState::Done;
        Ok(SessionConfirmed {
            remote_static_key: remote_static,
            payload: confirmed,
            keys,
            handshake_hash: *noise.handshake_hash(),
        })
    }
}

/// Bob's result after message 3: the data phase is held back until the caller confirms that
/// Alice's static key matches her RouterInfo.
#[derive(Debug)]
pub struct SessionConfirmed {
    /// Alice's static key from message 3 part 1.
    pub remote_static_key: [u8; 32],
    /// RouterInfo (unparsed, unverified), its flags, and the optional Options block.
    pub payload: SessionConfirmedPayload,
    keys: DataPhaseKeys,
    handshake_hash: [u8; 32],
}

impl SessionConfirmed {
    /// Alice's RouterInfo bytes (not gzipped), to be parsed and signature-checked by the caller.
    pub fn router_info(&self) -> &Bytes {
        &self.payload.router_info
    }

    /// Whether Alice asked a floodfill to flood her RouterInfo.
    pub fn flood_requested(&self) -> bool {
        self.payload.router_info_flags & ROUTER_INFO_FLAG_FLOOD != 0
    }

    /// Constant-time comparison with the `s` of the RouterInfo's NTCP2 address.
    pub fn verify_static_key(&self, published_static_key: &[u8; 32]) -> Result<(), HandshakeError> {
        if bool::from(self.remote_static_key.ct_eq(published_static_key)) {
            Ok(())
        } else {
            Err(HandshakeError::StaticKeyMismatch)
        }
    }

    /// Check the static key against the RouterInfo's `s` and enter the data phase.
    pub fn accept(self, published_static_key: &[u8; 32]) -> Result<DataPhase, HandshakeError> {
        self.verify_static_key(published_static_key)?;
        let (encoder, decoder) = self.keys.responder_codecs();
        Ok(DataPhase {
            encoder,
            decoder,
            remote_static_key: self.remote_static_key,
            handshake_hash: self.handshake_hash,
        })
    }

    /// Refuse the session (e.g. bad RouterInfo signature) with a Termination frame to send
    /// before closing. "Frames received" is 0: no data-phase frame was received yet.
    pub fn reject(self, reason: TerminationReason) -> Result<Vec<u8>, HandshakeError> {
        let (mut encoder, _) = self.keys.responder_codecs();
        encoder
            .encrypt_blocks(&[Block::Termination {
                frames_received: 0,
                reason,
                additional: Bytes::new(),
            }])
            .map_err(|e| HandshakeError::Config(e.to_string()))
    }
}

// ---------------------------------------------------------------------------------------------
// Initiator (Alice)
// ---------------------------------------------------------------------------------------------

enum InitiatorState {
    Start {
        random: HandshakeRandom,
    },
    AwaitMessage2 {
        ephemeral: StaticSecret,
        noise: SymmetricState,
        cbc_iv: [u8; 16],
    },
    AwaitMessage2Padding {
        noise: SymmetricState,
        remote_ephemeral: [u8; 32],
        padding_len: usize,
    },
    Done,
    Failed,
}

impl InitiatorState {
    fn name(&self) -> &'static str {
        match self {
            InitiatorState::Start { .. } => "start",
            InitiatorState::AwaitMessage2 { .. } => "await_message2",
            InitiatorState::AwaitMessage2Padding { .. } => "await_message2_padding",
            InitiatorState::Done => "done",
            InitiatorState::Failed => "failed",
        }
    }
}

/// Alice's view of the handshake, one per outbound connection.
pub struct Initiator {
    local: Arc<LocalKeys>,
    peer: PeerNtcp2Info,
    /// Message 3 part 2 plaintext, fixed at construction because its length goes in message 1.
    m3p2_plaintext: Vec<u8>,
    state: InitiatorState,
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

/// What Alice learned from a valid message 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCreatedInfo {
    pub options: SessionCreatedOptions,
    pub remote_ephemeral: [u8; 32],
}

impl Initiator {
    /// `router_info` is our current RouterInfo (snapshotted now: message 1 announces the exact
    /// size of message 3 part 2). `options` is the optional Options block for message 3, and
    /// `m3_padding` the size of its Padding block (0 = no Padding block).
    pub fn new(
        local: Arc<LocalKeys>,
        peer: PeerNtcp2Info,
        router_info: Bytes,
        options: Option<OptionsBlock>,
        m3_padding: u16,
        random: HandshakeRandom,
    ) -> Result<Self, HandshakeError> {
        if random.padding.len() > MAX_HANDSHAKE_PADDING {
            return Err(HandshakeError::Config(format!(
                "message 1 padding {} exceeds {MAX_HANDSHAKE_PADDING}",
                random.padding.len()
            )));
        }
        let mut blocks = vec![Block::RouterInfo {
            flags: 0,
            router_info,
        }];
        if let Some(o) = options {
            blocks.push(Block::Options(o));
        }
        if m3_padding > 0 {
            blocks.push(Block::Padding { len: m3_padding });
        }
        let m3p2_plaintext =
            serialize_blocks(&blocks).map_err(|e| HandshakeError::Config(e.to_string()))?;
        let len = m3p2_plaintext.len() + MAC_LEN;
        if !(MIN_MESSAGE3_PART2_LEN..=MAX_MESSAGE3_PART2_LEN).contains(&len) {
            return Err(HandshakeError::Message3Length {
                len,
                min: MIN_MESSAGE3_PART2_LEN,
                max: MAX_MESSAGE3_PART2_LEN,
            });
        }
        Ok(Self {
            local,
            peer,
            m3p2_plaintext,
            state: InitiatorState::Start { random },
        })
    }

    /// Bytes the next read needs: 64 for message 2, then its announced padding (possibly 0).
    pub fn bytes_needed(&self) -> usize {
        match &self.state {
            InitiatorState::AwaitMessage2 { .. } => MESSAGE2_LEN,
            InitiatorState::AwaitMessage2Padding { padding_len, .. } => *padding_len,
            _ => 0,
        }
    }

    /// Produce SessionRequest (to send in one write).
    pub fn write_message1(&mut self, now: u64) -> Result<Vec<u8>, HandshakeError> {
        let state = std::mem::replace(&mut self.state, InitiatorState::Failed);
        let InitiatorState::Start { random } = state else {
            let name = state.name();
            self.state = state;
            return Err(HandshakeError::State(name));
        };
        let stage = Stage::Message1;
        let x = PublicKey::from(&random.ephemeral).to_bytes();
        let enc_x = aes_cbc_encrypt(&self.peer.router_hash, &self.peer.iv, &x);
        let mut noise = initial_state(&self.peer.static_key);
        noise.mix_hash(&x);
        let es = dh(&random.ephemeral, &self.peer.static_key, stage)?;
        noise.mix_key(&es[..]);
        let options = SessionRequestOptions {
            net_id: self.local.net_id,
            version: NTCP2_VERSION,
            // Both bounded in `new`.
            padding_len: random.padding.len() as u16,
            m3p2_len: (self.m3p2_plaintext.len() + MAC_LEN) as u16,
            timestamp: ts32(now),
        };
        let ct = noise
            .encrypt_and_hash(&options.to_bytes())
            .map_err(aead_err(stage))?;
        let mut out = Vec::with_capacity(MESSAGE1_LEN + random.padding.len());
        out.extend_from_slice(&enc_x);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&random.padding);
        if !random.padding.is_empty() {
            noise.mix_hash(&random.padding);
        }
        let HandshakeRandom { ephemeral, .. } = random;
        self.state = InitiatorState::AwaitMessage2 {
            ephemeral,
            noise,
            cbc_iv: last_block(&enc_x),
        };
        Ok(out)
    }

    /// Process the first 64 bytes of SessionCreated. Then read [`Initiator::bytes_needed`]
    /// padding bytes and call [`Initiator::write_message3`].
    pub fn read_message2(
        &mut self,
        msg: &[u8],
        now: u64,
        replay: &ReplayCache,
    ) -> Result<SessionCreatedInfo, HandshakeError> {
        let state = std::mem::replace(&mut self.state, InitiatorState::Failed);
        let InitiatorState::AwaitMessage2 {
            ephemeral,
            mut noise,
            cbc_iv,
        } = state
        else {
            let name = state.name();
            self.state = state;
            return Err(HandshakeError::State(name));
        };
        let stage = Stage::Message2;
        check_len(stage, msg, MESSAGE2_LEN)?;
        let y = aes_cbc_decrypt(&self.peer.router_hash, &cbc_iv, &to_array32(msg));
        if y[31] & 0x80 != 0 {
            return Err(HandshakeError::BadEphemeralKey { stage });
        }
        noise.mix_hash(&y);
        let ee = dh(&ephemeral, &y, stage)?;
        drop(ephemeral);
        noise.mix_key(&ee[..]);
        let opts = noise
            .decrypt_and_hash(&msg[32..MESSAGE2_LEN])
            .map_err(aead_err(stage))?;
        let options = SessionCreatedOptions::parse(&opts).map_err(HandshakeError::Payload)?;
        let padding_len = options.padding_len as usize;
        if padding_len > MAX_HANDSHAKE_PADDING {
            return Err(HandshakeError::Padding {
                stage,
                len: padding_len,
                max: MAX_HANDSHAKE_PADDING,
            });
        }
        check_skew(stage, options.timestamp, now)?;
        if !replay.check_and_insert(&y, now) {
            return Err(HandshakeError::Replay { stage });
        }
        self.state = InitiatorState::AwaitMessage2Padding {
            noise,
            remote_ephemeral: y,
            padding_len,
        };
        Ok(SessionCreatedInfo {
            options,
            remote_ephemeral: y,
        })
    }

    /// Take message 2's padding and produce SessionConfirmed (both parts, to send in one write)
    /// and the data phase.
    pub fn write_message3(
        &mut self,
        msg2_padding: &[u8],
    ) -> Result<(Vec<u8>, DataPhase), HandshakeError> {
        let state = std::mem::replace(&mut self.state, InitiatorState::Failed);
        let InitiatorState::AwaitMessage2Padding {
            mut noise,
            remote_ephemeral,
            padding_len,
        } = state
        else {
            let name = state.name();
            self.state = state;
            return Err(HandshakeError::State(name));
        };
        check_len(Stage::Message2Padding, msg2_padding, padding_len)?;
        if !msg2_padding.is_empty() {
            noise.mix_hash(msg2_padding);
        }
        let part1 = noise
            .encrypt_and_hash(self.local.static_public())
            .map_err(aead_err(Stage::Message3Part1))?;
        let se = dh(
            &self.local.static_key,
            &remote_ephemeral,
            Stage::Message3Part2,
        )?;
        noise.mix_key(&se[..]);
        let part2 = noise
            .encrypt_and_hash(&self.m3p2_plaintext)
            .map_err(aead_err(Stage::Message3Part2))?;
        let mut out = Vec::with_capacity(part1.len() + part2.len());
        out.extend_from_slice(&part1);
        out.extend_from_slice(&part2);
        let keys = DataPhaseKeys::derive(&noise);
        let (encoder, decoder) = keys.initiator_codecs();
        self.state = InitiatorState::Done;
        Ok((
            out,
            DataPhase {
                encoder,
                decoder,
                remote_static_key: self.peer.static_key,
                handshake_hash: *noise.handshake_hash(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_cbc_matches_cbc_crate() {
        use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
        let key = [3u8; 32];
        let iv = [9u8; 16];
        let data: [u8; 32] = core::array::from_fn(|i| i as u8);
        let mut buf = data;
        let reference = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, 32)
            .unwrap()
            .to_vec();
        let ours = aes_cbc_encrypt(&key, &iv, &data);
        assert_eq!(reference, ours);
        assert_eq!(aes_cbc_decrypt(&key, &iv, &ours), data);
    }

    #[test]
    fn replay_cache_window_and_capacity() {
        let c = ReplayCache::new(120, 3);
        let k = |b: u8| [b; 32];
        assert!(c.check_and_insert(&k(1), 1000));
        assert!(!c.check_and_insert(&k(1), 1119));
        // Expired after the window.
        assert!(c.check_and_insert(&k(1), 1120));
        assert!(c.check_and_insert(&k(2), 1121));
        assert!(c.check_and_insert(&k(3), 1122));
        assert_eq!(c.len(), 3);
        // Full: the oldest (key 1) is evicted.
        assert!(c.check_and_insert(&k(4), 1123));
        assert_eq!(c.len(), 3);
        assert_eq!(c.evicted(), 1);
        assert!(!c.check_and_insert(&k(4), 1124));
        assert!(!c.check_and_insert(&k(3), 1124));
    }

    #[test]
    fn unix_time_rounds_to_nearest_second() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_500);
        assert_eq!(unix_time_secs(t), 2);
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_499);
        assert_eq!(unix_time_secs(t), 1);
    }

    #[test]
    fn options_round_trip() {
        let o = SessionRequestOptions {
            net_id: 2,
            version: 2,
            padding_len: 17,
            m3p2_len: 600,
            timestamp: 0x6000_0001,
        };
        assert_eq!(SessionRequestOptions::parse(&o.to_bytes()).unwrap(), o);
        let o2 = SessionCreatedOptions {
            padding_len: 5,
            timestamp: 7,
        };
        assert_eq!(SessionCreatedOptions::parse(&o2.to_bytes()).unwrap(), o2);
        assert!(SessionCreatedOptions::parse(&[0u8; 15]).is_err());
    }
}

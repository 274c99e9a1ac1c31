//! NTCP2 data phase: key derivation after the handshake, SipHash length obfuscation,
//! ChaCha20-Poly1305 frames, and the block codec (also used by message 3 part 2).
//!
//! A frame on the wire is `obf_len (2) || ChaCha20-Poly1305(k, n, ad = "", blocks) (len)`, where
//! `len` counts the ciphertext including the 16-byte MAC (16..=65535) and `obf_len` is
//! `len XOR mask`, the mask being the low 16 bits of the next value of a per-direction SipHash-2-4
//! chain (`IV[n] = SipHash(k1, k2, IV[n-1])`, `IV[0]` from the KDF). Both the nonce and the SipHash
//! chain advance once per frame, so an encoder/decoder pair must see every frame exactly once and
//! in order; any error leaves the decoder poisoned.

use bytes::{Bytes, BytesMut};
use siphasher::sip::SipHasher24;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::noise::{
    DataPhaseAead, MAC_LEN, NoiseError, SymmetricState, aead_decrypt, hkdf2, hmac_sha256,
};
use crate::wire::{Reader, WireError, WireErrorKind, Writer};

/// Largest ChaCha20-Poly1305 frame (ciphertext plus MAC) the 2-byte length can announce.
pub const MAX_FRAME_LEN: usize = 65535;
/// Smallest frame: an empty payload still carries its MAC.
pub const MIN_FRAME_LEN: usize = MAC_LEN;
/// Largest plaintext (all blocks of one frame).
pub const MAX_FRAME_PAYLOAD: usize = MAX_FRAME_LEN - MAC_LEN;
/// Block header: type (1) and big-endian size (2).
pub const BLOCK_HEADER_LEN: usize = 3;
/// Largest data of a single block (65519 - 3).
pub const MAX_BLOCK_DATA: usize = MAX_FRAME_PAYLOAD - BLOCK_HEADER_LEN;
/// The NTCP2 I2NP short header: type (1), message id (4), expiration in seconds (4).
pub const I2NP_SHORT_HEADER_LEN: usize = 9;
/// Options block minimum data size (tmin..rdelay).
pub const OPTIONS_MIN_LEN: usize = 12;
/// Termination block minimum data size (frames received (8) + reason (1)).
pub const TERMINATION_MIN_LEN: usize = 9;

/// Block type codes (ntcp2.rst "Unencrypted data").
pub mod block_type {
    pub const DATE_TIME: u8 = 0;
    pub const OPTIONS: u8 = 1;
    pub const ROUTER_INFO: u8 = 2;
    pub const I2NP: u8 = 3;
    pub const TERMINATION: u8 = 4;
    pub const PADDING: u8 = 254;
}

/// RouterInfo block flag bit 0: the sender asks a floodfill to flood it.
pub const ROUTER_INFO_FLAG_FLOOD: u8 = 0x01;

/// Data-phase failures. [`FrameError::reason`] gives a stable metric label.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The de-obfuscated length is below 16 (the MAC alone). Anything above cannot be told
    /// apart from a legitimate length, so this plus AEAD failure are the only framing checks.
    #[error("frame length {0} below the 16-byte minimum")]
    FrameLength(usize),
    /// The payload to send exceeds 65519 bytes.
    #[error("payload of {len} bytes exceeds the {max}-byte frame limit")]
    PayloadTooLarge { len: usize, max: usize },
    /// A block's data exceeds 65516 bytes.
    #[error("block data of {len} bytes exceeds {max}")]
    BlockTooLarge { len: usize, max: usize },
    #[error("frame failed authentication")]
    Aead,
    #[error("nonce space exhausted; the session must be re-established")]
    NonceExhausted,
    /// A previous error already killed this direction; frames cannot be resynchronised.
    #[error("frame codec poisoned by an earlier error")]
    Poisoned,
    /// The decrypted payload is not a valid block sequence.
    #[error("payload: {0}")]
    Payload(#[from] WireError),
    /// The crypto library failed (not the peer's doing).
    #[error("crypto library failed: {0}")]
    Crypto(&'static str),
}

impl FrameError {
    /// Stable label for metrics (`reason="..."`).
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::FrameLength(_) => "frame_length",
            FrameError::PayloadTooLarge { .. } => "payload_too_large",
            FrameError::BlockTooLarge { .. } => "block_too_large",
            FrameError::Aead => "aead",
            FrameError::NonceExhausted => "nonce",
            FrameError::Poisoned => "poisoned",
            FrameError::Payload(_) => "payload",
            FrameError::Crypto(_) => "crypto",
        }
    }

    /// The termination reason to send to the peer for this receive-side failure, per the spec
    /// (AEAD failure, AEAD framing error, payload format error).
    pub fn termination_reason(&self) -> TerminationReason {
        match self {
            FrameError::Aead => TerminationReason::DataPhaseAeadFailure,
            FrameError::FrameLength(_) => TerminationReason::AeadFramingError,
            FrameError::Payload(_) => TerminationReason::PayloadFormatError,
            _ => TerminationReason::Unspecified,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Key derivation
// ---------------------------------------------------------------------------------------------

/// Keys of one direction: the ChaCha20-Poly1305 key and the 32 "sipkeys" bytes
/// (k1 = bytes 0..8 LE, k2 = 8..16 LE, IV = 16..24; 24..32 unused).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DirectionKeys {
    pub cipher_key: [u8; 32],
    pub sip_keys: [u8; 32],
}

impl std::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectionKeys(..)")
    }
}

/// Both directions, named by sender: `alice_to_bob` is k_ab/sipkeys_ab.
#[derive(Clone, Debug)]
pub struct DataPhaseKeys {
    pub alice_to_bob: DirectionKeys,
    pub bob_to_alice: DirectionKeys,
}

impl DataPhaseKeys {
    /// The NTCP2 data-phase KDF, from the state after message 3 part 2 (its `ck` and `h`):
    ///
    /// ```text
    /// k_ab, k_ba             = HKDF(ck, "")                 (Noise Split)
    /// ask_master             = HMAC(HMAC(ck, ""), "ask" || 0x01)
    /// sip_master             = HMAC(HMAC(ask_master, h || "siphash"), 0x01)
    /// sipkeys_ab, sipkeys_ba = HKDF(sip_master, "")
    /// ```
    pub fn derive(state: &SymmetricState) -> Self {
        let split = state.split();
        let ask_master = state.additional_symmetric_key(b"ask");
        let mut temp = hmac_sha256(&ask_master[..], &[state.handshake_hash(), b"siphash"]);
        let mut sip_master = hmac_sha256(&temp, &[&[0x01]]);
        temp.zeroize();
        let (sip_ab, sip_ba) = hkdf2(&sip_master, &[]);
        sip_master.zeroize();
        Self {
            alice_to_bob: DirectionKeys {
                cipher_key: split.initiator_to_responder,
                sip_keys: *sip_ab,
            },
            bob_to_alice: DirectionKeys {
                cipher_key: split.responder_to_initiator,
                sip_keys: *sip_ba,
            },
        }
    }

    /// Encoder and decoder for Alice (the initiator).
    pub fn initiator_codecs(&self) -> (FrameEncoder, FrameDecoder) {
        (
            FrameEncoder::new(&self.alice_to_bob),
            FrameDecoder::new(&self.bob_to_alice),
        )
    }

    /// Encoder and decoder for Bob (the responder).
    pub fn responder_codecs(&self) -> (FrameEncoder, FrameDecoder) {
        (
            FrameEncoder::new(&self.bob_to_alice),
            FrameDecoder::new(&self.alice_to_bob),
        )
    }
}

/// The per-direction SipHash-2-4 chain that masks frame lengths.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LengthObfuscator {
    k1: u64,
    k2: u64,
    iv: [u8; 8],
}

impl LengthObfuscator {
    pub fn new(sip_keys: &[u8; 32]) -> Self {
        let mut k1 = [0u8; 8];
        let mut k2 = [0u8; 8];
        let mut iv = [0u8; 8];
        k1.copy_from_slice(&sip_keys[0..8]);
        k2.copy_from_slice(&sip_keys[8..16]);
        iv.copy_from_slice(&sip_keys[16..24]);
        Self {
            k1: u64::from_le_bytes(k1),
            k2: u64::from_le_bytes(k2),
            iv,
        }
    }

    /// Advance the chain and return the mask for the next frame: `IV[n] = SipHash(IV[n-1])`
    /// taken as a little-endian u64 (which is also the byte form of the next IV); the mask is its
    /// two least significant bytes, XORed onto the big-endian length.
    pub fn next_mask(&mut self) -> u16 {
        let h = SipHasher24::new_with_keys(self.k1, self.k2).hash(&self.iv);
        self.iv = h.to_le_bytes();
        (h & 0xffff) as u16
    }
}

impl std::fmt::Debug for LengthObfuscator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LengthObfuscator(..)")
    }
}

// ---------------------------------------------------------------------------------------------
// Frame encryption
// ---------------------------------------------------------------------------------------------

/// Sending half of a data-phase session.
#[derive(Debug)]
pub struct FrameEncoder {
    key: CipherKey,
    n: u64,
    lengths: LengthObfuscator,
    poisoned: bool,
    /// The in-place AEAD's cipher context, made on first use (making it can fail).
    aead: Option<DataPhaseAead>,
}

/// The AEAD context in `slot`, made on first use.
fn aead_ctx(slot: &mut Option<DataPhaseAead>) -> Result<&mut DataPhaseAead, FrameError> {
    if slot.is_none() {
        *slot = Some(DataPhaseAead::new().map_err(|_| FrameError::Crypto("no cipher context"))?);
    }
    slot.as_mut().ok_or(FrameError::Crypto("no cipher context"))
}

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct CipherKey([u8; 32]);
impl std::fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CipherKey(..)")
    }
}

impl FrameEncoder {
    pub fn new(keys: &DirectionKeys) -> Self {
        Self {
            key: CipherKey(keys.cipher_key),
            n: 0,
            lengths: LengthObfuscator::new(&keys.sip_keys),
            poisoned: false,
            aead: None,
        }
    }

    /// Frames sent so far (the current send nonce).
    pub fn frames_sent(&self) -> u64 {
        self.n
    }

    /// Encrypt one frame holding `payload` (already serialized blocks); returns the bytes to
    /// write: obfuscated length followed by ciphertext and MAC.
    pub fn encrypt_payload(&mut self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        if self.poisoned {
            return Err(FrameError::Poisoned);
        }
        if payload.len() > MAX_FRAME_PAYLOAD {
            return Err(FrameError::PayloadTooLarge {
                len: payload.len(),
                max: MAX_FRAME_PAYLOAD,
            });
        }
        let mut out = Vec::with_capacity(2 + payload.len() + MAC_LEN);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(payload);
        self.seal_frame(&mut out, 0)?;
        Ok(out)
    }

    /// Seal the frame in `out[start..]` (2 placeholder bytes, then the payload) in place and
    /// fill in its obfuscated length. On error `out` is cut back to `start`.
    fn seal_frame(&mut self, out: &mut Vec<u8>, start: usize) -> Result<(), FrameError> {
        // 2^64-1 is reserved by Noise; refuse before using it.
        if self.n == u64::MAX {
            out.truncate(start);
            self.poisoned = true;
            return Err(FrameError::NonceExhausted);
        }
        let sealed = aead_ctx(&mut self.aead).and_then(|a| {
            a.seal_in_place(&self.key.0, self.n, out, start + 2)
                .map_err(|_| FrameError::Crypto("seal"))
        });
        if let Err(e) = sealed {
            out.truncate(start);
            self.poisoned = true;
            return Err(e);
        }
        self.n += 1;
        // <= 65535: the payload is at most MAX_FRAME_PAYLOAD (checked by the callers).
        let len = (out.len() - start - 2) as u16;
        let masked = len ^ self.lengths.next_mask();
        out[start..start + 2].copy_from_slice(&masked.to_be_bytes());
        Ok(())
    }

    /// Serialize `blocks` (checking block ordering and sizes) and encrypt them as one frame.
    pub fn encrypt_blocks(&mut self, blocks: &[Block]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::new();
        self.encrypt_blocks_into(blocks, &mut out)?;
        Ok(out)
    }

    /// [`encrypt_blocks`](Self::encrypt_blocks), appending the frame to `out`: the blocks are
    /// serialized straight into `out` and sealed there, so a relayed message is copied once on
    /// its way out (into the frame) instead of once per step. On error `out` is unchanged and
    /// the encoder's state is as before (no nonce or length mask used).
    pub fn encrypt_blocks_into(
        &mut self,
        blocks: &[Block],
        out: &mut Vec<u8>,
    ) -> Result<(), FrameError> {
        if self.poisoned {
            return Err(FrameError::Poisoned);
        }
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        if let Err(e) = serialize_blocks_into(blocks, out, start + 2) {
            out.truncate(start);
            return Err(e);
        }
        self.seal_frame(out, start)
    }
}

/// Result of [`FrameDecoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Not enough bytes for the next frame: at least `additional` more bytes are needed
    /// (the exact number once the length field has been read).
    NeedMore { additional: usize },
    /// A complete authenticated frame: drop `consumed` bytes from the front of the buffer.
    Frame { consumed: usize, payload: Bytes },
}

/// Receiving half of a data-phase session.
#[derive(Debug)]
pub struct FrameDecoder {
    key: CipherKey,
    n: u64,
    lengths: LengthObfuscator,
    /// Length of the frame whose 2-byte header `decode` already de-obfuscated (the SipHash chain
    /// has advanced for it, so it must not be decoded again).
    pending_len: Option<usize>,
    poisoned: bool,
    /// The in-place AEAD's cipher context, made on first use.
    aead: Option<DataPhaseAead>,
}

impl FrameDecoder {
    pub fn new(keys: &DirectionKeys) -> Self {
        Self {
            key: CipherKey(keys.cipher_key),
            n: 0,
            lengths: LengthObfuscator::new(&keys.sip_keys),
            pending_len: None,
            poisoned: false,
            aead: None,
        }
    }

    /// Valid frames received so far: the value a Termination block reports.
    pub fn frames_received(&self) -> u64 {
        self.n
    }

    /// Low-level step 1: de-obfuscate the 2-byte length of the next frame (advances the SipHash
    /// chain). Returns the ciphertext length (MAC included) to read next.
    pub fn decode_length(&mut self, obfuscated: [u8; 2]) -> Result<usize, FrameError> {
        if self.poisoned {
            return Err(FrameError::Poisoned);
        }
        let len = (u16::from_be_bytes(obfuscated) ^ self.lengths.next_mask()) as usize;
        if len < MIN_FRAME_LEN {
            self.poisoned = true;
            return Err(FrameError::FrameLength(len));
        }
        Ok(len)
    }

    /// Low-level step 2: authenticate and decrypt one frame body (exactly the length step 1
    /// returned). Returns the plaintext blocks, still serialized.
    pub fn decrypt_frame(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, FrameError> {
        if self.poisoned {
            return Err(FrameError::Poisoned);
        }
        if self.n == u64::MAX {
            self.poisoned = true;
            return Err(FrameError::NonceExhausted);
        }
        match aead_decrypt(&self.key.0, self.n, &[], ciphertext) {
            Ok(pt) => {
                self.n += 1;
                Ok(pt)
            }
            Err(NoiseError::Aead | NoiseError::ShortCiphertext(_)) => {
                self.poisoned = true;
                Err(FrameError::Aead)
            }
            Err(NoiseError::NoKey | NoiseError::NonceExhausted) => {
                self.poisoned = true;
                Err(FrameError::NonceExhausted)
            }
            Err(NoiseError::Backend(e)) => {
                self.poisoned = true;
                Err(FrameError::Crypto(e))
            }
        }
    }

    /// Buffer-oriented decoding: `input` starts at the next unread frame (length field included).
    /// Either reports how many more bytes are needed or returns one frame and how many bytes of
    /// `input` it used. Call repeatedly until `NeedMore`.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, FrameError> {
        let Some(len) = self.next_len(input)? else {
            return Ok(Decoded::NeedMore {
                additional: 2 - input.len(),
            });
        };
        let total = 2 + len;
        let Some(ct) = input.get(2..total) else {
            return Ok(Decoded::NeedMore {
                additional: total.saturating_sub(input.len()),
            });
        };
        let pt = self.decrypt_frame(ct)?;
        self.pending_len = None;
        Ok(Decoded::Frame {
            consumed: total,
            payload: Bytes::from(pt),
        })
    }
}

impl FrameDecoder {
    /// Length of the frame at the front of `input`: de-obfuscated once (that advances the
    /// SipHash chain) and remembered until the frame is consumed. `None` until its 2-byte
    /// header has arrived.
    fn next_len(&mut self, input: &[u8]) -> Result<Option<usize>, FrameError> {
        if self.poisoned {
            return Err(FrameError::Poisoned);
        }
        if let Some(len) = self.pending_len {
            return Ok(Some(len));
        }
        let Some(head) = input.get(..2) else {
            return Ok(None);
        };
        let len = self.decode_length([head[0], head[1]])?;
        self.pending_len = Some(len);
        Ok(Some(len))
    }

    /// [`decode`](Self::decode) without copies: a complete frame at the front of `buf` is split
    /// off, decrypted where it lies, and returned as its plaintext payload (which shares the
    /// read buffer's allocation, so block bodies sliced from it are never copied either).
    /// `Ok(None)`: more bytes are needed.
    pub fn decode_in_place(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(len) = self.next_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < 2 + len {
            return Ok(None);
        }
        if self.n == u64::MAX {
            self.poisoned = true;
            return Err(FrameError::NonceExhausted);
        }
        let mut frame = buf.split_to(2 + len);
        let aead = match aead_ctx(&mut self.aead) {
            Ok(a) => a,
            Err(e) => {
                self.poisoned = true;
                return Err(e);
            }
        };
        match aead.open_in_place(&self.key.0, self.n, &mut frame[2..]) {
            Ok(pt_len) => {
                self.n += 1;
                self.pending_len = None;
                Ok(Some(frame.freeze().slice(2..2 + pt_len)))
            }
            Err(NoiseError::Backend(e)) => {
                self.poisoned = true;
                Err(FrameError::Crypto(e))
            }
            Err(_) => {
                self.poisoned = true;
                Err(FrameError::Aead)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------------------------

/// Termination reason codes (ntcp2.rst "Termination").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminationReason {
    Unspecified,
    TerminationReceived,
    IdleTimeout,
    RouterShutdown,
    DataPhaseAeadFailure,
    IncompatibleOptions,
    IncompatibleSignatureType,
    ClockSkew,
    PaddingViolation,
    AeadFramingError,
    PayloadFormatError,
    Message1Error,
    Message2Error,
    Message3Error,
    IntraFrameReadTimeout,
    RouterInfoSignatureVerificationFail,
    StaticKeyMismatch,
    Banned,
    /// A code this implementation does not know; kept for logging.
    Other(u8),
}

impl TerminationReason {
    pub fn from_code(code: u8) -> Self {
        use TerminationReason::*;
        match code {
            0 => Unspecified,
            1 => TerminationReceived,
            2 => IdleTimeout,
            3 => RouterShutdown,
            4 => DataPhaseAeadFailure,
            5 => IncompatibleOptions,
            6 => IncompatibleSignatureType,
            7 => ClockSkew,
            8 => PaddingViolation,
            9 => AeadFramingError,
            10 => PayloadFormatError,
            11 => Message1Error,
            12 => Message2Error,
            13 => Message3Error,
            14 => IntraFrameReadTimeout,
            15 => RouterInfoSignatureVerificationFail,
            16 => StaticKeyMismatch,
            17 => Banned,
            other => Other(other),
        }
    }

    pub fn code(self) -> u8 {
        use TerminationReason::*;
        match self {
            Unspecified => 0,
            TerminationReceived => 1,
            IdleTimeout => 2,
            RouterShutdown => 3,
            DataPhaseAeadFailure => 4,
            IncompatibleOptions => 5,
            IncompatibleSignatureType => 6,
            ClockSkew => 7,
            PaddingViolation => 8,
            AeadFramingError => 9,
            PayloadFormatError => 10,
            Message1Error => 11,
            Message2Error => 12,
            Message3Error => 13,
            IntraFrameReadTimeout => 14,
            RouterInfoSignatureVerificationFail => 15,
            StaticKeyMismatch => 16,
            Banned => 17,
            Other(c) => c,
        }
    }

    /// Stable label for metrics.
    pub fn label(self) -> &'static str {
        use TerminationReason::*;
        match self {
            Unspecified => "unspecified",
            TerminationReceived => "termination_received",
            IdleTimeout => "idle_timeout",
            RouterShutdown => "router_shutdown",
            DataPhaseAeadFailure => "aead",
            IncompatibleOptions => "incompatible_options",
            IncompatibleSignatureType => "incompatible_sig_type",
            ClockSkew => "skew",
            PaddingViolation => "padding",
            AeadFramingError => "framing",
            PayloadFormatError => "payload",
            Message1Error => "message1",
            Message2Error => "message2",
            Message3Error => "message3",
            IntraFrameReadTimeout => "read_timeout",
            RouterInfoSignatureVerificationFail => "ri_signature",
            StaticKeyMismatch => "static_key",
            Banned => "banned",
            Other(_) => "other",
        }
    }
}

/// The Options block: padding and dummy-traffic parameters (ratios are 4.4 fixed point).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionsBlock {
    pub tmin: u8,
    pub tmax: u8,
    pub rmin: u8,
    pub rmax: u8,
    pub tdmy: u16,
    pub rdmy: u16,
    pub tdelay: u16,
    pub rdelay: u16,
    /// `more_options`, format TBD in the spec: carried opaquely.
    pub more: Vec<u8>,
}

/// An I2NP message with the NTCP2 9-byte short header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I2npBlock {
    pub msg_type: u8,
    pub msg_id: u32,
    /// Expiration, Unix seconds (the full header's milliseconds / 1000).
    pub expiration: u32,
    pub body: Bytes,
}

/// One block of a frame payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    DateTime {
        timestamp: u32,
    },
    Options(OptionsBlock),
    RouterInfo {
        /// Bit 0 = flood request; other bits reserved.
        flags: u8,
        /// The RouterInfo, not gzipped, unparsed (the caller parses and verifies it).
        router_info: Bytes,
    },
    I2np(I2npBlock),
    Termination {
        frames_received: u64,
        reason: TerminationReason,
        additional: Bytes,
    },
    /// Padding of `len` bytes. Sent as zeros: it is inside the AEAD, so its content is
    /// indistinguishable from random on the wire.
    Padding {
        len: u16,
    },
}

impl Block {
    pub fn type_code(&self) -> u8 {
        match self {
            Block::DateTime { .. } => block_type::DATE_TIME,
            Block::Options(_) => block_type::OPTIONS,
            Block::RouterInfo { .. } => block_type::ROUTER_INFO,
            Block::I2np(_) => block_type::I2NP,
            Block::Termination { .. } => block_type::TERMINATION,
            Block::Padding { .. } => block_type::PADDING,
        }
    }

    /// Size of the block's data (without the 3-byte header).
    pub fn data_len(&self) -> usize {
        match self {
            Block::DateTime { .. } => 4,
            Block::Options(o) => OPTIONS_MIN_LEN + o.more.len(),
            Block::RouterInfo { router_info, .. } => 1 + router_info.len(),
            Block::I2np(m) => I2NP_SHORT_HEADER_LEN + m.body.len(),
            Block::Termination { additional, .. } => TERMINATION_MIN_LEN + additional.len(),
            Block::Padding { len } => *len as usize,
        }
    }

    /// Append header and data to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let len = self.data_len();
        if len > MAX_BLOCK_DATA {
            return Err(FrameError::BlockTooLarge {
                len,
                max: MAX_BLOCK_DATA,
            });
        }
        out.put_u8(self.type_code());
        out.put_u16(len as u16);
        match self {
            Block::DateTime { timestamp } => out.put_u32(*timestamp),
            Block::Options(o) => {
                out.put_bytes(&[o.tmin, o.tmax, o.rmin, o.rmax]);
                out.put_u16(o.tdmy);
                out.put_u16(o.rdmy);
                out.put_u16(o.tdelay);
                out.put_u16(o.rdelay);
                out.put_bytes(&o.more);
            }
            Block::RouterInfo { flags, router_info } => {
                out.put_u8(*flags);
                out.put_bytes(router_info);
            }
            Block::I2np(m) => {
                out.put_u8(m.msg_type);
                out.put_u32(m.msg_id);
                out.put_u32(m.expiration);
                out.put_bytes(&m.body);
            }
            Block::Termination {
                frames_received,
                reason,
                additional,
            } => {
                out.put_u64(*frames_received);
                out.put_u8(reason.code());
                out.put_bytes(additional);
            }
            Block::Padding { len } => out.resize(out.len() + *len as usize, 0),
        }
        Ok(())
    }
}

/// Where a block sequence appears; message 3 part 2 has stricter rules than the data phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    DataPhase,
    SessionConfirmed,
}

/// Tracks the ordering rules while blocks are read or written.
#[derive(Default)]
struct OrderCheck {
    seen_padding: bool,
    seen_termination: bool,
}

impl OrderCheck {
    /// Data phase: padding must be last (so at most one), termination last except for padding.
    fn next(&mut self, ty: u8, offset: usize) -> Result<(), WireError> {
        if self.seen_padding {
            return Err(WireError::invalid(
                "block order",
                offset,
                "block after the padding block",
            ));
        }
        if self.seen_termination && ty != block_type::PADDING {
            return Err(WireError::invalid(
                "block order",
                offset,
                "non-padding block after the termination block",
            ));
        }
        self.seen_padding |= ty == block_type::PADDING;
        self.seen_termination |= ty == block_type::TERMINATION;
        Ok(())
    }
}

/// Serialize blocks into one frame payload, enforcing the data-phase ordering rules and the
/// 65519-byte payload limit.
pub fn serialize_blocks(blocks: &[Block]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    serialize_blocks_into(blocks, &mut out, 0)?;
    Ok(out)
}

/// [`serialize_blocks`] appending to `out`, whose payload starts at `start`.
fn serialize_blocks_into(
    blocks: &[Block],
    out: &mut Vec<u8>,
    start: usize,
) -> Result<(), FrameError> {
    out.reserve(blocks.iter().map(|b| 3 + b.data_len()).sum::<usize>() + MAC_LEN);
    let mut order = OrderCheck::default();
    for b in blocks {
        order.next(b.type_code(), out.len() - start)?;
        b.write(out)?;
        if out.len() - start > MAX_FRAME_PAYLOAD {
            return Err(FrameError::PayloadTooLarge {
                len: out.len() - start,
                max: MAX_FRAME_PAYLOAD,
            });
        }
    }
    Ok(())
}

/// Parse a decrypted data-phase frame payload. Blocks of unknown type are skipped as the spec
/// requires; block ordering rules are enforced.
pub fn parse_blocks(payload: &Bytes) -> Result<Vec<Block>, WireError> {
    parse_in(payload, Context::DataPhase)
}

fn parse_in(payload: &Bytes, ctx: Context) -> Result<Vec<Block>, WireError> {
    let mut r = Reader::new(payload);
    let mut order = OrderCheck::default();
    let mut blocks = Vec::new();
    while !r.is_empty() {
        let start = r.offset();
        let ty = r.u8("block type")?;
        let len = r.u16("block size")? as usize;
        let data_start = r.position();
        let mut d = r.sub(len, "block data")?;
        let data = payload.slice(data_start..data_start + len);
        let known = matches!(
            ty,
            block_type::DATE_TIME
                | block_type::OPTIONS
                | block_type::ROUTER_INFO
                | block_type::I2NP
                | block_type::TERMINATION
                | block_type::PADDING
        );
        if !known {
            if ctx == Context::SessionConfirmed {
                return Err(WireError::unsupported(
                    "block type",
                    start,
                    format!("block type {ty} not allowed in SessionConfirmed"),
                ));
            }
            tracing::debug!(block_type = ty, len, "ntcp2: skipping unknown block");
            continue;
        }
        order.next(ty, start)?;
        if ctx == Context::SessionConfirmed {
            confirmed_order(blocks.last(), ty, start)?;
        }
        let block = match ty {
            block_type::DATE_TIME => {
                if len != 4 {
                    return Err(WireError::invalid(
                        "DateTime size",
                        start + 1,
                        format!("{len}, must be 4"),
                    ));
                }
                Block::DateTime {
                    timestamp: d.u32("DateTime timestamp")?,
                }
            }
            block_type::OPTIONS => {
                if len < OPTIONS_MIN_LEN {
                    return Err(d.err(
                        "Options block",
                        WireErrorKind::Truncated {
                            need: OPTIONS_MIN_LEN,
                            have: len,
                        },
                    ));
                }
                let [tmin, tmax, rmin, rmax] = d.array::<4>("Options padding ratios")?;
                Block::Options(OptionsBlock {
                    tmin,
                    tmax,
                    rmin,
                    rmax,
                    tdmy: d.u16("Options tdmy")?,
                    rdmy: d.u16("Options rdmy")?,
                    tdelay: d.u16("Options tdelay")?,
                    rdelay: d.u16("Options rdelay")?,
                    more: d.rest().to_vec(),
                })
            }
            block_type::ROUTER_INFO => {
                let flags = d.u8("RouterInfo flags")?;
                if d.is_empty() {
                    return Err(d.invalid("RouterInfo", "empty RouterInfo"));
                }
                Block::RouterInfo {
                    flags,
                    router_info: data.slice(1..),
                }
            }
            block_type::I2NP => {
                if len < I2NP_SHORT_HEADER_LEN {
                    return Err(d.err(
                        "I2NP short header",
                        WireErrorKind::Truncated {
                            need: I2NP_SHORT_HEADER_LEN,
                            have: len,
                        },
                    ));
                }
                Block::I2np(I2npBlock {
                    msg_type: d.u8("I2NP type")?,
                    msg_id: d.u32("I2NP message id")?,
                    expiration: d.u32("I2NP short expiration")?,
                    body: data.slice(I2NP_SHORT_HEADER_LEN..),
                })
            }
            block_type::TERMINATION => {
                if len < TERMINATION_MIN_LEN {
                    return Err(d.err(
                        "Termination block",
                        WireErrorKind::Truncated {
                            need: TERMINATION_MIN_LEN,
                            have: len,
                        },
                    ));
                }
                Block::Termination {
                    frames_received: d.u64("Termination frames received")?,
                    reason: TerminationReason::from_code(d.u8("Termination reason")?),
                    additional: data.slice(TERMINATION_MIN_LEN..),
                }
            }
            // Only PADDING is left among the known types.
            _ => Block::Padding { len: len as u16 },
        };
        blocks.push(block);
    }
    Ok(blocks)
}

/// Decrypted content of message 3 part 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfirmedPayload {
    pub router_info_flags: u8,
    pub router_info: Bytes,
    pub options: Option<OptionsBlock>,
    pub padding_len: u16,
}

/// Message 3 part 2 order: RouterInfo first, then Options if present, then Padding if present.
fn confirmed_order(prev: Option<&Block>, ty: u8, offset: usize) -> Result<(), WireError> {
    let ok = match prev {
        None => ty == block_type::ROUTER_INFO,
        Some(Block::RouterInfo { .. }) => ty == block_type::OPTIONS || ty == block_type::PADDING,
        Some(Block::Options(_)) => ty == block_type::PADDING,
        Some(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(WireError::unsupported(
            "SessionConfirmed block",
            offset,
            format!("block type {ty} not allowed here (order: RouterInfo, Options?, Padding?)"),
        ))
    }
}

/// Parse message 3 part 2: exactly RouterInfo, then optionally Options, then optionally Padding;
/// no other block (unknown ones included) is allowed there.
pub fn parse_session_confirmed(payload: &Bytes) -> Result<SessionConfirmedPayload, WireError> {
    let mut confirmed = SessionConfirmedPayload {
        router_info_flags: 0,
        router_info: Bytes::new(),
        options: None,
        padding_len: 0,
    };
    let mut have_router_info = false;
    // `parse_in` enforced the order, so each kind appears at most once.
    for block in parse_in(payload, Context::SessionConfirmed)? {
        match block {
            Block::RouterInfo { flags, router_info } => {
                confirmed.router_info_flags = flags;
                confirmed.router_info = router_info;
                have_router_info = true;
            }
            Block::Options(o) => confirmed.options = Some(o),
            Block::Padding { len } => confirmed.padding_len = len,
            _ => {}
        }
    }
    if !have_router_info {
        return Err(WireError::new(
            "SessionConfirmed RouterInfo block",
            0,
            WireErrorKind::Truncated {
                need: BLOCK_HEADER_LEN,
                have: payload.len(),
            },
        ));
    }
    Ok(confirmed)
}

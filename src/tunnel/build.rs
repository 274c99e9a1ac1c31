//! The hop side of tunnel building (tunnel-creation-ecies.rst): find our record in a
//! ShortTunnelBuild (218-byte records) or VariableTunnelBuild (528-byte ECIES records), decrypt
//! it with Noise N and our static X25519 key, derive the layer/IV/reply keys, write our reply
//! record, re-encrypt the other records, and produce the message we send on:
//!
//! - not the outbound endpoint: the same build message (type 25 / 23) to the next hop, with
//!   the record's "next message id";
//! - short build, outbound endpoint: an OutboundTunnelBuildReply (26) garlic-wrapped with the
//!   one-time key/tag from the KDF, inside a TunnelGateway for the reply tunnel, sent to the
//!   reply gateway (unwrapped if we are that gateway ourselves: nobody else sees it);
//! - long build, outbound endpoint: a VariableTunnelBuildReply (24) inside a TunnelGateway.
//!
//! This module is pure (no admission, no tables): [`super::shard`] decides accept/reject in
//! between [`decrypt_record`] and [`write_reply`].

use bytes::Bytes;
use rand::RngCore;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::garlic::wrap_existing_session;
use super::noise::{NoiseState, aead_open, aead_seal, chacha20_record, short_hop_keys};
use super::record::{
    BuildReply, BuildRequest, LONG_REPLY_LEN, LONG_REQUEST_LEN, SHORT_REPLY_LEN, SHORT_REQUEST_LEN,
};
use super::{HopRole, RouterHash};
use crate::wire::i2np::{
    BUILD_RECORD_LEN, MAX_BUILD_RECORDS, MessageType, SHORT_BUILD_RECORD_LEN, ShortHeader,
    StandardHeader,
};
use crate::wire::{Mapping, WireError, WireErrorKind, Writer};

/// Which build message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuildKind {
    /// ShortTunnelBuild (25), 218-byte records.
    Short,
    /// VariableTunnelBuild (23), 528-byte ECIES records.
    Long,
}

impl BuildKind {
    pub fn from_type(t: u8) -> Option<Self> {
        match t {
            25 => Some(Self::Short),
            23 => Some(Self::Long),
            _ => None,
        }
    }

    pub fn record_len(self) -> usize {
        match self {
            Self::Short => SHORT_BUILD_RECORD_LEN,
            Self::Long => BUILD_RECORD_LEN,
        }
    }

    pub fn request_type(self) -> MessageType {
        match self {
            Self::Short => MessageType::ShortTunnelBuild,
            Self::Long => MessageType::VariableTunnelBuild,
        }
    }

    /// What the outbound endpoint sends back.
    pub fn reply_type(self) -> MessageType {
        match self {
            Self::Short => MessageType::OutboundTunnelBuildReply,
            Self::Long => MessageType::VariableTunnelBuildReply,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Short => "short",
            Self::Long => "long",
        }
    }
}

/// Why a build message was dropped without a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("build message: {0}")]
    Malformed(WireError),
    #[error("no record carries our truncated hash")]
    NotOurs,
    #[error("record {0}: the ephemeral key gives a non-contributory shared secret")]
    BadEphemeral(usize),
    #[error("record {0}: authentication failed")]
    Decrypt(usize),
    #[error("record {index}: {source}")]
    Record { index: usize, source: WireError },
    #[error("record {0}: the next hop is ourselves")]
    NextHopIsUs(usize),
}

impl BuildError {
    /// Metrics `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::NotOurs => "not_ours",
            Self::BadEphemeral(_) => "bad_ephemeral",
            Self::Decrypt(_) => "decrypt",
            Self::Record { .. } => "bad_record",
            Self::NextHopIsUs(_) => "next_hop_is_us",
        }
    }
}

/// Our side of the Noise N pattern: the static key and the precomputed `h` after
/// `MixHash(hepk)`, identical for every request.
pub struct HopIdentity {
    our_hash: RouterHash,
    secret: StaticSecret,
    responder: NoiseState,
}

impl HopIdentity {
    /// `encryption_secret` is the router's X25519 encryption key (`RouterKeys::encryption_secret`),
    /// the one creators encrypt records to.
    pub fn new(encryption_secret: &[u8; 32], our_hash: RouterHash) -> Self {
        let secret = StaticSecret::from(*encryption_secret);
        let public = PublicKey::from(&secret);
        Self {
            our_hash,
            secret,
            responder: NoiseState::for_responder(public.as_bytes()),
        }
    }

    pub fn our_hash(&self) -> &RouterHash {
        &self.our_hash
    }
}

/// Count byte and record slice bounds of a build message body.
fn check_body(kind: BuildKind, body: &[u8]) -> Result<usize, BuildError> {
    let what = match kind {
        BuildKind::Short => "ShortTunnelBuild record count",
        BuildKind::Long => "VariableTunnelBuild record count",
    };
    let Some(&n) = body.first() else {
        return Err(BuildError::Malformed(WireError::new(
            what,
            0,
            WireErrorKind::Truncated { need: 1, have: 0 },
        )));
    };
    let n = usize::from(n);
    if n == 0 || n > MAX_BUILD_RECORDS {
        return Err(BuildError::Malformed(WireError::invalid(
            what,
            0,
            format!("count {n} outside 1..=8"),
        )));
    }
    let need = 1 + n * kind.record_len();
    if body.len() != need {
        let kind = if body.len() < need {
            WireErrorKind::Truncated {
                need,
                have: body.len(),
            }
        } else {
            WireErrorKind::Trailing(body.len() - need)
        };
        return Err(BuildError::Malformed(WireError::new(
            "build records",
            1,
            kind,
        )));
    }
    Ok(n)
}

fn record(kind: BuildKind, body: &[u8], index: usize) -> &[u8] {
    let len = kind.record_len();
    &body[1 + index * len..1 + (index + 1) * len]
}

/// Find our record by its 16-byte truncated identity hash (cheap: no crypto). Returns the
/// record index and the creator's ephemeral key, so replays can be refused before the DH.
pub fn locate_record(
    kind: BuildKind,
    body: &[u8],
    our_hash: &RouterHash,
) -> Result<(usize, [u8; 32]), BuildError> {
    let n = check_body(kind, body)?;
    for i in 0..n {
        let rec = record(kind, body, i);
        if rec[..16] == our_hash[..16] {
            let mut eph = [0u8; 32];
            eph.copy_from_slice(&rec[16..48]);
            return Ok((i, eph));
        }
    }
    Err(BuildError::NotOurs)
}

enum ReplyCrypto {
    Short {
        reply_key: Zeroizing<[u8; 32]>,
        h: [u8; 32],
        garlic: Option<(Zeroizing<[u8; 32]>, [u8; 8])>,
    },
    Long {
        ck: Zeroizing<[u8; 32]>,
        h: [u8; 32],
        aes_key: Zeroizing<[u8; 32]>,
        aes_iv: [u8; 16],
    },
}

/// Our decrypted record and everything derived from it.
pub struct HopRequest {
    pub kind: BuildKind,
    /// Position of our record in the message (also the short reply nonce).
    pub index: usize,
    pub record_count: usize,
    pub ephemeral: [u8; 32],
    pub request: BuildRequest,
    pub keys: LayerKeys,
    reply: ReplyCrypto,
}

/// The tunnel layer keys of this hop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LayerKeys {
    pub layer_key: [u8; 32],
    pub iv_key: [u8; 32],
}

impl std::fmt::Debug for HopRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HopRequest")
            .field("kind", &self.kind)
            .field("index", &self.index)
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// Decrypt our record (Noise N with our static key) and derive the keys. `index` and the
/// ephemeral key come from [`locate_record`].
pub fn decrypt_record(
    id: &HopIdentity,
    kind: BuildKind,
    body: &[u8],
    index: usize,
) -> Result<HopRequest, BuildError> {
    let n = check_body(kind, body)?;
    if index >= n {
        return Err(BuildError::NotOurs);
    }
    let rec = record(kind, body, index);
    let mut eph = [0u8; 32];
    eph.copy_from_slice(&rec[16..48]);
    let ciphertext = &rec[48..];

    let mut st = id.responder.clone();
    st.mix_hash(&eph);
    let shared = id.secret.diffie_hellman(&PublicKey::from(eph));
    if !shared.was_contributory() {
        return Err(BuildError::BadEphemeral(index));
    }
    let k = st.mix_key(shared.as_bytes());
    let ad = st.h;
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    if !aead_open(&k, 0, &ad, &mut plain) {
        return Err(BuildError::Decrypt(index));
    }
    st.mix_hash(ciphertext);
    let rec_err = |source| BuildError::Record { index, source };
    let (request, keys, reply) = match kind {
        BuildKind::Short => {
            let mut a = [0u8; SHORT_REQUEST_LEN];
            a.copy_from_slice(&plain[..SHORT_REQUEST_LEN]);
            let request = BuildRequest::parse_short(&a).map_err(rec_err)?;
            a.zeroize();
            let hk = short_hop_keys(&st.ck, request.role == HopRole::OutboundEndpoint);
            let keys = LayerKeys {
                layer_key: hk.layer_key,
                iv_key: hk.iv_key,
            };
            let reply = ReplyCrypto::Short {
                reply_key: Zeroizing::new(hk.reply_key),
                h: st.h,
                garlic: hk.garlic.as_ref().map(|(k, t)| (Zeroizing::new(*k), *t)),
            };
            (request, keys, reply)
        }
        BuildKind::Long => {
            let mut a = [0u8; LONG_REQUEST_LEN];
            a.copy_from_slice(&plain[..LONG_REQUEST_LEN]);
            let (request, lk) = BuildRequest::parse_long(&a).map_err(rec_err)?;
            a.zeroize();
            let keys = LayerKeys {
                layer_key: lk.layer_key,
                iv_key: lk.iv_key,
            };
            let reply = ReplyCrypto::Long {
                ck: Zeroizing::new(st.ck),
                h: st.h,
                aes_key: Zeroizing::new(lk.reply_key),
                aes_iv: lk.reply_iv,
            };
            (request, keys, reply)
        }
    };
    if request.role != HopRole::OutboundEndpoint && request.next_ident == id.our_hash {
        return Err(BuildError::NextHopIsUs(index));
    }
    Ok(HopRequest {
        kind,
        index,
        record_count: n,
        ephemeral: eph,
        request,
        keys,
        reply,
    })
}

/// AES-256-CBC encrypt of one whole long record (33 blocks) with the hop's reply key/IV: how
/// an ECIES hop re-encrypts the other records of a VariableTunnelBuild (as i2pd and Java do;
/// the records are not chained together, each starts from the same IV).
pub fn aes_cbc_record(key: &[u8; 32], iv: &[u8; 16], rec: &mut [u8]) {
    use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
    let c = aes::Aes256Enc::new(key.into());
    let mut prev = *iv;
    for block in rec.chunks_exact_mut(16) {
        for (x, p) in block.iter_mut().zip(prev.iter()) {
            *x ^= *p;
        }
        c.encrypt_block(GenericArray::from_mut_slice(block));
        prev.copy_from_slice(block);
    }
}

/// Write our reply record (`code`, `options`) and encrypt every other record, in place in
/// `body` (the whole build message body, count byte first).
pub fn write_reply(
    req: &HopRequest,
    body: &mut [u8],
    code: u8,
    options: &Mapping,
    rng: &mut impl RngCore,
) -> Result<(), BuildError> {
    let n = check_body(req.kind, body)?;
    let len = req.kind.record_len();
    let reply = BuildReply {
        options: options.clone(),
        code,
    };
    let rec_err = |source| BuildError::Record {
        index: req.index,
        source,
    };
    for j in 0..n {
        let rec = &mut body[1 + j * len..1 + (j + 1) * len];
        match &req.reply {
            ReplyCrypto::Short { reply_key, h, .. } => {
                if j == req.index {
                    let clear: [u8; SHORT_REPLY_LEN] = reply.write(rng).map_err(rec_err)?;
                    rec[..SHORT_REPLY_LEN].copy_from_slice(&clear);
                    aead_seal(reply_key, j as u64, h, rec);
                } else {
                    chacha20_record(reply_key, j as u8, rec);
                }
            }
            ReplyCrypto::Long {
                ck,
                h,
                aes_key,
                aes_iv,
            } => {
                if j == req.index {
                    let clear: [u8; LONG_REPLY_LEN] = reply.write(rng).map_err(rec_err)?;
                    rec[..LONG_REPLY_LEN].copy_from_slice(&clear);
                    aead_seal(ck, 0, h, rec);
                } else {
                    aes_cbc_record(aes_key, aes_iv, rec);
                }
            }
        }
    }
    Ok(())
}

/// A message to send to a router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: RouterHash,
    /// Short-header I2NP message.
    pub message: Bytes,
}

/// Short-header message bytes.
pub fn short_message(msg_type: MessageType, msg_id: u32, expiration_ms: u64, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(ShortHeader::LEN + body.len());
    ShortHeader {
        msg_type: msg_type.code(),
        msg_id,
        expiration_s: (expiration_ms / 1000) as u32,
    }
    .write(&mut out);
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// TunnelGateway body: tunnel id, 2-byte length, the standard-header message.
pub fn tunnel_gateway_body(
    tunnel_id: u32,
    msg_type: MessageType,
    msg_id: u32,
    expiration_ms: u64,
    body: &[u8],
) -> Result<Vec<u8>, WireError> {
    let header = StandardHeader::for_body(msg_type.code(), msg_id, expiration_ms, body)?;
    let len = StandardHeader::LEN + body.len();
    let len16 = u16::try_from(len).map_err(|_| {
        WireError::new(
            "TunnelGateway length",
            4,
            WireErrorKind::TooLong {
                len,
                max: u16::MAX as usize,
            },
        )
    })?;
    let mut out = Vec::with_capacity(6 + len);
    out.put_u32(tunnel_id);
    out.put_u16(len16);
    header.write(&mut out);
    out.extend_from_slice(body);
    Ok(out)
}

/// The message to send after [`write_reply`]. `expiration_ms` is used for the messages we
/// create (we keep the expiration the creator chose for the build).
pub fn outgoing_message(
    id: &HopIdentity,
    req: &HopRequest,
    body: &[u8],
    expiration_ms: u64,
    rng: &mut impl RngCore,
) -> Result<Outgoing, BuildError> {
    let r = &req.request;
    if r.role != HopRole::OutboundEndpoint {
        return Ok(Outgoing {
            to: r.next_ident,
            message: short_message(req.kind.request_type(), r.next_msg_id, expiration_ms, body),
        });
    }
    let malformed = BuildError::Malformed;
    let reply_type = req.kind.reply_type();
    let garlic = match &req.reply {
        ReplyCrypto::Short {
            garlic: Some((k, t)),
            ..
        } if r.next_ident != id.our_hash => Some((k, t)),
        _ => None,
    };
    let gw_body = match garlic {
        Some((key, tag)) => {
            let g = wrap_existing_session(
                key,
                tag,
                reply_type.code(),
                r.next_msg_id,
                (expiration_ms / 1000) as u32,
                body,
                rng,
            )
            .map_err(malformed)?;
            tunnel_gateway_body(
                r.next_tunnel,
                MessageType::Garlic,
                rng.next_u32(),
                expiration_ms,
                &g,
            )
            .map_err(malformed)?
        }
        None => tunnel_gateway_body(
            r.next_tunnel,
            reply_type,
            r.next_msg_id,
            expiration_ms,
            body,
        )
        .map_err(malformed)?,
    };
    Ok(Outgoing {
        to: r.next_ident,
        message: short_message(
            MessageType::TunnelGateway,
            rng.next_u32(),
            expiration_ms,
            &gw_body,
        ),
    })
}

/// Request time check: drop requests older than this (the field is in whole minutes, so a
/// fresh request already looks up to a minute old)...
pub const MAX_REQUEST_AGE_MS: u64 = 8 * 60_000;
/// ... or further in the future than this (clock skew).
pub const MAX_REQUEST_FUTURE_MS: u64 = 3 * 60_000;

/// Whether the request time is acceptable at `now_ms`.
pub fn request_time_ok(req: &BuildRequest, now_ms: u64) -> bool {
    let t = u64::from(req.request_time_min) * 60_000;
    now_ms.saturating_sub(t) <= MAX_REQUEST_AGE_MS
        && t.saturating_sub(now_ms) <= MAX_REQUEST_FUTURE_MS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::creator::{CreatorHop, create_build};
    use crate::tunnel::garlic::unwrap_existing_session;
    use crate::tunnel::record::{LongRecordKeys, REPLY_REJECT_BANDWIDTH};
    use crate::wire::i2np::{I2npBody, I2npMessage, RawMessage};
    use rand::SeedableRng;
    use std::collections::HashMap;

    /// Padding and other "random" bytes as zeros, to compare with the Python vectors.
    struct ZeroRng;
    impl RngCore for ZeroRng {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            d.fill(0)
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand::Error> {
            d.fill(0);
            Ok(())
        }
    }

    fn vectors() -> HashMap<String, Vec<u8>> {
        include_str!("testdata/build_vector.txt")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                let b = (0..v.len() / 2)
                    .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                (k.to_string(), b)
            })
            .collect()
    }

    fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
        v.try_into().unwrap()
    }

    fn vector_hop(v: &HashMap<String, Vec<u8>>) -> HopIdentity {
        HopIdentity::new(&arr(&v["hop_secret"]), arr(&v["hop_hash"]))
    }

    #[test]
    fn short_participant_record_matches_independent_vector() {
        let v = vectors();
        let hop = vector_hop(&v);
        let mut body = v["short_part_msg"].clone();
        let (index, eph) = locate_record(BuildKind::Short, &body, hop.our_hash()).unwrap();
        assert_eq!(index, 1);
        assert_eq!(&eph[..], &body[1 + 218 + 16..1 + 218 + 48]);
        let req = decrypt_record(&hop, BuildKind::Short, &body, index).unwrap();
        let r = &req.request;
        assert_eq!(
            (r.receive_tunnel, r.next_tunnel),
            (0x1122_3344, 0x5566_7788)
        );
        assert_eq!(r.next_ident, std::array::from_fn::<u8, 32, _>(|i| i as u8));
        assert_eq!(r.role, HopRole::Participant);
        assert_eq!((r.request_time_min, r.expiration_s), (28_000_000, 600));
        assert_eq!(r.next_msg_id, 0x0bad_f00d);
        assert!(r.options.is_empty());
        assert_eq!(&req.keys.layer_key[..], &v["short_part_layer_key"][..]);
        assert_eq!(&req.keys.iv_key[..], &v["short_part_iv_key"][..]);
        write_reply(&req, &mut body, 0, &Mapping::new(), &mut ZeroRng).unwrap();
        assert_eq!(
            body, v["short_part_reply_msg"],
            "reply records differ from the vector"
        );
        let out = outgoing_message(&hop, &req, &body, 1_700_000_000_000, &mut ZeroRng).unwrap();
        assert_eq!(out.to, r.next_ident);
        let raw = RawMessage::parse_short(&out.message).unwrap();
        assert_eq!(raw.msg_type, MessageType::ShortTunnelBuild);
        assert_eq!(raw.msg_id, 0x0bad_f00d);
        assert_eq!(raw.expiration_ms, 1_700_000_000_000);
        assert_eq!(raw.body, &body[..]);
    }

    #[test]
    fn short_obep_record_matches_independent_vector_and_reply_is_garlic_wrapped() {
        let v = vectors();
        let hop = vector_hop(&v);
        let mut body = v["short_obep_msg"].clone();
        let (index, _) = locate_record(BuildKind::Short, &body, hop.our_hash()).unwrap();
        let req = decrypt_record(&hop, BuildKind::Short, &body, index).unwrap();
        assert_eq!(req.request.role, HopRole::OutboundEndpoint);
        assert_eq!(&req.keys.layer_key[..], &v["short_obep_layer_key"][..]);
        assert_eq!(&req.keys.iv_key[..], &v["short_obep_iv_key"][..]);
        let (gk, gt) = match &req.reply {
            ReplyCrypto::Short {
                garlic: Some((k, t)),
                ..
            } => (**k, *t),
            _ => panic!("OBEP must have garlic keys"),
        };
        assert_eq!(&gk[..], &v["short_obep_garlic_key"][..]);
        assert_eq!(&gt[..], &v["short_obep_garlic_tag"][..]);
        write_reply(
            &req,
            &mut body,
            REPLY_REJECT_BANDWIDTH,
            &Mapping::new(),
            &mut ZeroRng,
        )
        .unwrap();
        assert_eq!(body, v["short_obep_reply_msg"]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let out = outgoing_message(&hop, &req, &body, 1_700_000_000_000, &mut rng).unwrap();
        // TunnelGateway(next tunnel) -> Garlic -> OutboundTunnelBuildReply.
        assert_eq!(out.to, req.request.next_ident);
        let gw = match I2npMessage::parse_short(&out.message).unwrap().body {
            I2npBody::TunnelGateway(g) => g,
            b => panic!("{b:?}"),
        };
        assert_eq!(gw.tunnel_id, 0x5566_7788);
        let garlic = gw.embedded().unwrap();
        assert_eq!(garlic.msg_type, MessageType::Garlic);
        let cloves = unwrap_existing_session(&gk, &gt, garlic.body).unwrap();
        assert_eq!(cloves.len(), 1);
        assert_eq!(
            cloves[0].msg_type,
            MessageType::OutboundTunnelBuildReply.code()
        );
        assert_eq!(cloves[0].msg_id, 0x0bad_f00d);
        assert_eq!(cloves[0].body, body);
    }

    #[test]
    fn long_record_matches_independent_vector() {
        let v = vectors();
        let hop = vector_hop(&v);
        let mut body = v["long_msg"].clone();
        let (index, _) = locate_record(BuildKind::Long, &body, hop.our_hash()).unwrap();
        assert_eq!(index, 0);
        let req = decrypt_record(&hop, BuildKind::Long, &body, index).unwrap();
        assert_eq!(req.keys.layer_key, [0x61; 32]);
        assert_eq!(req.keys.iv_key, [0x62; 32]);
        assert_eq!(req.request.next_msg_id, 0x0bad_f00d);
        write_reply(&req, &mut body, 0, &Mapping::new(), &mut ZeroRng).unwrap();
        assert_eq!(body, v["long_reply_msg"]);
    }

    #[test]
    fn tampering_and_strangers_are_refused() {
        let v = vectors();
        let hop = vector_hop(&v);
        let mut body = v["short_part_msg"].clone();
        body[1 + 218 + 100] ^= 1;
        assert_eq!(
            decrypt_record(&hop, BuildKind::Short, &body, 1).unwrap_err(),
            BuildError::Decrypt(1)
        );
        let stranger = HopIdentity::new(&[9; 32], [9; 32]);
        assert_eq!(
            locate_record(BuildKind::Short, &v["short_part_msg"], stranger.our_hash()).unwrap_err(),
            BuildError::NotOurs
        );
        // Our hash prefix but another key: authentication fails.
        let impostor = HopIdentity::new(&[9; 32], arr(&v["hop_hash"]));
        assert_eq!(
            decrypt_record(&impostor, BuildKind::Short, &v["short_part_msg"], 1).unwrap_err(),
            BuildError::Decrypt(1)
        );
        for bad in [&[][..], &[0][..], &[9][..], &v["short_part_msg"][..100]] {
            assert!(matches!(
                locate_record(BuildKind::Short, bad, hop.our_hash()),
                Err(BuildError::Malformed(_))
            ));
        }
        // A low-order ephemeral key.
        let mut body = v["short_part_msg"].clone();
        body[1 + 218 + 16..1 + 218 + 48].fill(0);
        assert_eq!(
            decrypt_record(&hop, BuildKind::Short, &body, 1).unwrap_err(),
            BuildError::BadEphemeral(1)
        );
    }

    struct TestHop {
        id: HopIdentity,
        public: [u8; 32],
    }

    fn test_hop(seed: u8) -> TestHop {
        let secret = [seed; 32];
        let public = PublicKey::from(&StaticSecret::from(secret)).to_bytes();
        TestHop {
            id: HopIdentity::new(&secret, [seed.wrapping_add(100); 32]),
            public,
        }
    }

    fn request(role: HopRole, rtid: u32, next: &TestHop, ntid: u32, msg_id: u32) -> BuildRequest {
        BuildRequest {
            receive_tunnel: rtid,
            next_tunnel: ntid,
            next_ident: *next.id.our_hash(),
            role,
            reserved_flags: 0,
            layer_encryption: 0,
            request_time_min: 28_000_000,
            expiration_s: 600,
            next_msg_id: msg_id,
            options: Mapping::new(),
        }
    }

    /// Run a build through `hops` as each would in turn, replying with `codes`; returns the
    /// final message the last hop sends.
    fn run_hops(kind: BuildKind, hops: &[&TestHop], mut body: Vec<u8>, codes: &[u8]) -> Outgoing {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut last = None;
        for (i, h) in hops.iter().enumerate() {
            let (index, _) = locate_record(kind, &body, h.id.our_hash()).unwrap();
            let req = decrypt_record(&h.id, kind, &body, index).unwrap();
            let opts = Mapping::from_pairs([("b", (i + 1).to_string())]).unwrap();
            write_reply(&req, &mut body, codes[i], &opts, &mut rng).unwrap();
            let out = outgoing_message(&h.id, &req, &body, 1_700_000_000_000, &mut rng).unwrap();
            if i + 1 < hops.len() {
                assert_eq!(&out.to, hops[i + 1].id.our_hash());
                body = RawMessage::parse_short(&out.message).unwrap().body.to_vec();
            }
            last = Some(out);
        }
        last.unwrap()
    }

    #[test]
    fn creator_and_hops_round_trip_short_outbound() {
        let (a, b, c, reply_gw) = (test_hop(1), test_hop(2), test_hop(3), test_hop(4));
        let hops = [
            CreatorHop {
                ident_hash: *a.id.our_hash(),
                static_key: a.public,
                ephemeral_secret: [0x11; 32],
                request: request(HopRole::Participant, 10, &b, 20, 1000),
                long_keys: None,
            },
            CreatorHop {
                ident_hash: *b.id.our_hash(),
                static_key: b.public,
                ephemeral_secret: [0x12; 32],
                request: request(HopRole::Participant, 20, &c, 30, 1001),
                long_keys: None,
            },
            CreatorHop {
                ident_hash: *c.id.our_hash(),
                static_key: c.public,
                ephemeral_secret: [0x13; 32],
                request: request(HopRole::OutboundEndpoint, 30, &reply_gw, 40, 1002),
                long_keys: None,
            },
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let (body, pending) =
            create_build(BuildKind::Short, &hops, &[2, 0, 3], 4, &mut rng).unwrap();
        assert_eq!(body.len(), 1 + 4 * 218);
        let out = run_hops(BuildKind::Short, &[&a, &b, &c], body, &[0, 30, 0]);
        assert_eq!(&out.to, reply_gw.id.our_hash());
        let gw = match I2npMessage::parse_short(&out.message).unwrap().body {
            I2npBody::TunnelGateway(g) => g,
            b => panic!("{b:?}"),
        };
        assert_eq!(gw.tunnel_id, 40);
        let (gk, gt) = pending.garlic_reply().unwrap();
        let cloves = unwrap_existing_session(&gk, &gt, gw.embedded().unwrap().body).unwrap();
        assert_eq!(cloves[0].msg_id, 1002);
        let replies = pending.decrypt_replies(&cloves[0].body).unwrap();
        let codes: Vec<u8> = replies.iter().map(|r| r.code).collect();
        assert_eq!(codes, vec![0, 30, 0]);
        assert_eq!(replies[2].options.get("b"), Some("3"));
        // Creator and hops agree on the layer keys (checked through a fresh decryption).
        let layer = pending.layer_keys();
        let (_, first) = create_build(BuildKind::Short, &hops[..1], &[0], 1, &mut rng).unwrap();
        assert_eq!(first.layer_keys()[0].layer_key, layer[0].layer_key);
        // A tampered reply does not authenticate (hop 1's record is at position 0).
        let mut bad = cloves[0].body.clone();
        bad[1 + 5] ^= 1;
        assert_eq!(
            pending.decrypt_replies(&bad).unwrap_err(),
            crate::tunnel::creator::CreatorError::ReplyDecrypt(1)
        );
    }

    #[test]
    fn creator_and_hops_round_trip_long_inbound() {
        let (a, b, c) = (test_hop(5), test_hop(6), test_hop(7));
        let creator = test_hop(8);
        let lk = |s: u8| LongRecordKeys {
            layer_key: [s; 32],
            iv_key: [s + 1; 32],
            reply_key: [s + 2; 32],
            reply_iv: [s + 3; 16],
        };
        let hops = [
            CreatorHop {
                ident_hash: *a.id.our_hash(),
                static_key: a.public,
                ephemeral_secret: [0x21; 32],
                request: request(HopRole::InboundGateway, 10, &b, 20, 2000),
                long_keys: Some(lk(0x10)),
            },
            CreatorHop {
                ident_hash: *b.id.our_hash(),
                static_key: b.public,
                ephemeral_secret: [0x22; 32],
                request: request(HopRole::Participant, 20, &c, 30, 2001),
                long_keys: Some(lk(0x20)),
            },
            CreatorHop {
                ident_hash: *c.id.our_hash(),
                static_key: c.public,
                ephemeral_secret: [0x23; 32],
                // Inbound: the last hop forwards the build to the creator.
                request: request(HopRole::Participant, 30, &creator, 40, 2002),
                long_keys: Some(lk(0x30)),
            },
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let (body, pending) =
            create_build(BuildKind::Long, &hops, &[1, 3, 0], 4, &mut rng).unwrap();
        let out = run_hops(BuildKind::Long, &[&a, &b, &c], body, &[0, 0, 30]);
        assert_eq!(&out.to, creator.id.our_hash());
        let raw = RawMessage::parse_short(&out.message).unwrap();
        assert_eq!(raw.msg_type, MessageType::VariableTunnelBuild);
        assert_eq!(raw.msg_id, 2002);
        let replies = pending.decrypt_replies(raw.body).unwrap();
        let codes: Vec<u8> = replies.iter().map(|r| r.code).collect();
        assert_eq!(codes, vec![0, 0, 30]);
    }

    #[test]
    fn long_obep_reply_goes_through_a_tunnel_gateway() {
        let (a, gw) = (test_hop(9), test_hop(10));
        let hops = [CreatorHop {
            ident_hash: *a.id.our_hash(),
            static_key: a.public,
            ephemeral_secret: [0x31; 32],
            request: request(HopRole::OutboundEndpoint, 10, &gw, 77, 3000),
            long_keys: Some(LongRecordKeys {
                layer_key: [1; 32],
                iv_key: [2; 32],
                reply_key: [3; 32],
                reply_iv: [4; 16],
            }),
        }];
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        let (body, pending) = create_build(BuildKind::Long, &hops, &[1], 2, &mut rng).unwrap();
        let out = run_hops(BuildKind::Long, &[&a], body, &[0]);
        assert_eq!(&out.to, gw.id.our_hash());
        let g = match I2npMessage::parse_short(&out.message).unwrap().body {
            I2npBody::TunnelGateway(g) => g,
            b => panic!("{b:?}"),
        };
        assert_eq!(g.tunnel_id, 77);
        let inner = g.embedded().unwrap();
        assert_eq!(inner.msg_type, MessageType::VariableTunnelBuildReply);
        assert_eq!(inner.msg_id, 3000);
        assert_eq!(pending.decrypt_replies(inner.body).unwrap()[0].code, 0);
    }

    #[test]
    fn request_time_window() {
        let mut r = request(HopRole::Participant, 1, &test_hop(1), 2, 3);
        let now = 28_000_000u64 * 60_000 + 30_000;
        assert!(request_time_ok(&r, now));
        assert!(request_time_ok(&r, now + MAX_REQUEST_AGE_MS - 30_000));
        assert!(!request_time_ok(&r, now + MAX_REQUEST_AGE_MS));
        r.request_time_min += 4;
        assert!(!request_time_ok(&r, now), "4 minutes in the future");
        r.request_time_min -= 1;
        assert!(request_time_ok(&r, now));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_build_bodies_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1200),
            short in proptest::prelude::any::<bool>(),
        ) {
            let hop = HopIdentity::new(&[1; 32], [0; 32]);
            let kind = if short { BuildKind::Short } else { BuildKind::Long };
            if let Ok((i, _)) = locate_record(kind, &body, hop.our_hash()) {
                let _ = decrypt_record(&hop, kind, &body, i);
            }
        }
    }
}

//! The tunnel creator's side of tunnel-creation-ecies.rst: encrypt one build record per hop
//! (Noise N to the hop's static X25519 key), pre-"decrypt" each record by the reply encryption
//! of the hops before it so that it arrives readable, and decrypt the replies. Used by the tests
//! and the bench to drive our hop exactly as a real creator would, and meant for our own tunnel
//! pools later.

use rand::RngCore;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::build::{BuildKind, LayerKeys};
use super::noise::{MAC_LEN, NoiseState, aead_open, aead_seal, chacha20_record, short_hop_keys};
use super::record::{BuildReply, BuildRequest, LONG_REPLY_LEN, LongRecordKeys, SHORT_REPLY_LEN};
use super::{HopRole, RouterHash};
use crate::wire::WireError;
use crate::wire::i2np::MAX_BUILD_RECORDS;

/// One hop of the tunnel to build, in path order.
pub struct CreatorHop {
    pub ident_hash: RouterHash,
    /// The hop's X25519 router encryption public key.
    pub static_key: [u8; 32],
    /// Fresh per record in real use; fixed in tests.
    pub ephemeral_secret: [u8; 32],
    pub request: BuildRequest,
    /// Long records carry layer, IV and AES reply keys; ignored for short records.
    pub long_keys: Option<LongRecordKeys>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreatorError {
    #[error("record positions must be distinct, one per hop, below the record count (1..=8)")]
    BadPositions,
    #[error("hop {0}: long records need explicit keys")]
    MissingLongKeys(usize),
    #[error("hop {0}: the static key gives a non-contributory shared secret")]
    BadStaticKey(usize),
    #[error("hop {hop}: {source}")]
    Record { hop: usize, source: WireError },
    #[error("hop {0}: reply record failed authentication")]
    ReplyDecrypt(usize),
    #[error("build message has the wrong size")]
    BadBody,
}

enum HopReply {
    Short {
        reply_key: Zeroizing<[u8; 32]>,
        h: [u8; 32],
    },
    Long {
        ck: Zeroizing<[u8; 32]>,
        h: [u8; 32],
        aes_key: Zeroizing<[u8; 32]>,
        aes_iv: [u8; 16],
    },
}

struct HopState {
    position: usize,
    layer: LayerKeys,
    reply: HopReply,
    garlic: Option<(Zeroizing<[u8; 32]>, [u8; 8])>,
}

/// What the creator keeps until the reply arrives.
pub struct PendingBuild {
    pub kind: BuildKind,
    pub record_count: usize,
    hops: Vec<HopState>,
}

fn aes_cbc_decrypt_record(key: &[u8; 32], iv: &[u8; 16], rec: &mut [u8]) {
    use aes::cipher::{BlockDecrypt, KeyInit, generic_array::GenericArray};
    let c = aes::Aes256Dec::new(key.into());
    let mut prev = *iv;
    for block in rec.chunks_exact_mut(16) {
        let saved: [u8; 16] = block.try_into().unwrap_or([0; 16]);
        c.decrypt_block(GenericArray::from_mut_slice(block));
        for (x, p) in block.iter_mut().zip(prev.iter()) {
            *x ^= *p;
        }
        prev = saved;
    }
}

impl PendingBuild {
    /// Undo hop `j`'s re-encryption of a record that is not its own.
    fn undo_other(&self, j: usize, position: usize, rec: &mut [u8]) {
        match &self.hops[j].reply {
            HopReply::Short { reply_key, .. } => chacha20_record(reply_key, position as u8, rec),
            HopReply::Long {
                aes_key, aes_iv, ..
            } => aes_cbc_decrypt_record(aes_key, aes_iv, rec),
        }
    }

    /// Layer keys of each hop in path order (for layer pre/post-processing).
    pub fn layer_keys(&self) -> Vec<LayerKeys> {
        self.hops.iter().map(|h| h.layer.clone()).collect()
    }

    /// The record position of each hop in path order.
    pub fn positions(&self) -> Vec<usize> {
        self.hops.iter().map(|h| h.position).collect()
    }

    /// The garlic reply key and tag of the last hop if it is a short-record outbound endpoint.
    pub fn garlic_reply(&self) -> Option<([u8; 32], [u8; 8])> {
        self.hops
            .last()
            .and_then(|h| h.garlic.as_ref())
            .map(|(k, t)| (**k, *t))
    }

    /// Decrypt every hop's reply from the reply message body (count byte first), in path order.
    pub fn decrypt_replies(&self, body: &[u8]) -> Result<Vec<BuildReply>, CreatorError> {
        let len = self.kind.record_len();
        if body.len() != 1 + self.record_count * len || usize::from(body[0]) != self.record_count {
            return Err(CreatorError::BadBody);
        }
        let mut out = Vec::with_capacity(self.hops.len());
        for (k, hop) in self.hops.iter().enumerate() {
            let p = hop.position;
            let mut rec = body[1 + p * len..1 + (p + 1) * len].to_vec();
            for j in (k + 1..self.hops.len()).rev() {
                self.undo_other(j, p, &mut rec);
            }
            let ok = match &hop.reply {
                HopReply::Short { reply_key, h } => aead_open(reply_key, p as u64, h, &mut rec),
                HopReply::Long { ck, h, .. } => aead_open(ck, 0, h, &mut rec),
            };
            if !ok {
                return Err(CreatorError::ReplyDecrypt(k));
            }
            let reply = match self.kind {
                BuildKind::Short => {
                    let mut a = [0u8; SHORT_REPLY_LEN];
                    a.copy_from_slice(&rec[..SHORT_REPLY_LEN]);
                    BuildReply::parse(&a)
                }
                BuildKind::Long => {
                    let mut a = [0u8; LONG_REPLY_LEN];
                    a.copy_from_slice(&rec[..LONG_REPLY_LEN]);
                    BuildReply::parse(&a)
                }
            }
            .map_err(|source| CreatorError::Record { hop: k, source })?;
            out.push(reply);
        }
        Ok(out)
    }
}

/// Build the message body (count byte + records) for `hops` (path order) at record
/// `positions`, filling the other records with random bytes.
pub fn create_build(
    kind: BuildKind,
    hops: &[CreatorHop],
    positions: &[usize],
    record_count: usize,
    rng: &mut impl RngCore,
) -> Result<(Vec<u8>, PendingBuild), CreatorError> {
    let len = kind.record_len();
    let distinct = positions
        .iter()
        .enumerate()
        .all(|(i, p)| !positions[..i].contains(p));
    if hops.len() != positions.len()
        || hops.is_empty()
        || record_count == 0
        || record_count > MAX_BUILD_RECORDS
        || positions.iter().any(|p| *p >= record_count)
        || !distinct
    {
        return Err(CreatorError::BadPositions);
    }
    let mut body = vec![0u8; 1 + record_count * len];
    body[0] = record_count as u8;
    rng.fill_bytes(&mut body[1..]);
    let mut states = Vec::with_capacity(hops.len());
    for (i, hop) in hops.iter().enumerate() {
        let rec_err = |source| CreatorError::Record { hop: i, source };
        let mut st = NoiseState::for_responder(&hop.static_key);
        let esk = StaticSecret::from(hop.ephemeral_secret);
        let epk = PublicKey::from(&esk);
        st.mix_hash(epk.as_bytes());
        let shared = esk.diffie_hellman(&PublicKey::from(hop.static_key));
        if !shared.was_contributory() {
            return Err(CreatorError::BadStaticKey(i));
        }
        let k = st.mix_key(shared.as_bytes());
        let ad = st.h;
        let mut ct = Zeroizing::new(vec![0u8; len - 48]);
        let (layer, reply, garlic) = match kind {
            BuildKind::Short => {
                let clear = Zeroizing::new(hop.request.write_short(rng).map_err(rec_err)?);
                ct[..clear.len()].copy_from_slice(&clear[..]);
                aead_seal(&k, 0, &ad, &mut ct);
                st.mix_hash(&ct);
                let hk = short_hop_keys(&st.ck, hop.request.role == HopRole::OutboundEndpoint);
                (
                    LayerKeys {
                        layer_key: hk.layer_key,
                        iv_key: hk.iv_key,
                    },
                    HopReply::Short {
                        reply_key: Zeroizing::new(hk.reply_key),
                        h: st.h,
                    },
                    hk.garlic.as_ref().map(|(k, t)| (Zeroizing::new(*k), *t)),
                )
            }
            BuildKind::Long => {
                let keys = hop
                    .long_keys
                    .as_ref()
                    .ok_or(CreatorError::MissingLongKeys(i))?;
                let clear = Zeroizing::new(hop.request.write_long(keys, rng).map_err(rec_err)?);
                ct[..clear.len()].copy_from_slice(&clear[..]);
                aead_seal(&k, 0, &ad, &mut ct);
                st.mix_hash(&ct);
                (
                    LayerKeys {
                        layer_key: keys.layer_key,
                        iv_key: keys.iv_key,
                    },
                    HopReply::Long {
                        ck: Zeroizing::new(st.ck),
                        h: st.h,
                        aes_key: Zeroizing::new(keys.reply_key),
                        aes_iv: keys.reply_iv,
                    },
                    None,
                )
            }
        };
        debug_assert_eq!(ct.len() + 48, len);
        debug_assert!(ct.len() > MAC_LEN);
        let p = positions[i];
        let rec = &mut body[1 + p * len..1 + (p + 1) * len];
        rec[..16].copy_from_slice(&hop.ident_hash[..16]);
        rec[16..48].copy_from_slice(epk.as_bytes());
        rec[48..].copy_from_slice(&ct);
        states.push(HopState {
            position: p,
            layer,
            reply,
            garlic,
        });
    }
    let pending = PendingBuild {
        kind,
        record_count,
        hops: states,
    };
    // Pre-processing: hop k's record passes through the re-encryption of hops 0..k first, so
    // undo those in reverse order (the last one applied is undone first).
    for (k, &p) in positions.iter().enumerate().skip(1) {
        let mut rec = body[1 + p * len..1 + (p + 1) * len].to_vec();
        for j in (0..k).rev() {
            pending.undo_other(j, p, &mut rec);
        }
        body[1 + p * len..1 + (p + 1) * len].copy_from_slice(&rec);
    }
    Ok((body, pending))
}

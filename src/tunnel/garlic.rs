//! The garlic wrapping of an OutboundTunnelBuildReply by the outbound endpoint
//! (tunnel-creation-ecies "Garlic Encryption"): an ECIES-X25519 Existing Session message keyed
//! by the one-time garlic reply key and tag from the short-record KDF, in the format of replies
//! to database lookups (i2np.rst: tag || ChaCha20-Poly1305(k, n = 0, payload, ad = tag)).
//! The payload is one Garlic Clove block with LOCAL delivery and a small Padding block
//! (ecies.rst "Payload"). [`unwrap_existing_session`] is the creator's side.

use rand::RngCore;

use super::noise::{MAC_LEN, aead_open, aead_seal};
use crate::wire::{Reader, WireError, Writer};

const BLOCK_GARLIC_CLOVE: u8 = 11;
const BLOCK_PADDING: u8 = 254;
/// Garlic clove delivery instructions flag for LOCAL delivery (i2np.rst): one byte, zero.
const CLOVE_DELIVERY_LOCAL: u8 = 0;

/// A message carried in a garlic clove (short I2NP header fields plus body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloveMessage {
    pub msg_type: u8,
    pub msg_id: u32,
    pub expiration_s: u32,
    pub body: Vec<u8>,
}

/// Build the body of an I2NP Garlic message (type 11): 4-byte length, then tag and AEAD data.
pub fn wrap_existing_session(
    key: &[u8; 32],
    tag: &[u8; 8],
    msg_type: u8,
    msg_id: u32,
    expiration_s: u32,
    body: &[u8],
    rng: &mut impl RngCore,
) -> Result<Vec<u8>, WireError> {
    let clove_len = 1 + 1 + 4 + 4 + body.len();
    let clove_len16 = u16::try_from(clove_len).map_err(|_| {
        WireError::new(
            "garlic clove size",
            0,
            crate::wire::WireErrorKind::TooLong {
                len: clove_len,
                max: u16::MAX as usize,
            },
        )
    })?;
    let pad = (rng.next_u32() % 16) as usize;
    let payload_len = 3 + clove_len + 3 + pad;
    let data_len = 8 + payload_len + MAC_LEN;
    let mut out = Vec::with_capacity(4 + data_len);
    out.put_u32(data_len as u32);
    out.put_bytes(tag);
    let payload_start = out.len();
    out.put_u8(BLOCK_GARLIC_CLOVE);
    out.put_u16(clove_len16);
    out.put_u8(CLOVE_DELIVERY_LOCAL);
    out.put_u8(msg_type);
    out.put_u32(msg_id);
    out.put_u32(expiration_s);
    out.put_bytes(body);
    out.put_u8(BLOCK_PADDING);
    out.put_u16(pad as u16);
    out.resize(out.len() + pad + MAC_LEN, 0);
    aead_seal(key, 0, tag, &mut out[payload_start..]);
    Ok(out)
}

/// Decrypt a Garlic message body made by [`wrap_existing_session`] (or any Existing Session
/// message with `n = 0`) and return its LOCAL-delivery cloves.
pub fn unwrap_existing_session(
    key: &[u8; 32],
    tag: &[u8; 8],
    garlic_body: &[u8],
) -> Result<Vec<CloveMessage>, WireError> {
    let mut r = Reader::new(garlic_body);
    let len = r.u32("garlic length")? as usize;
    let off = r.offset();
    let data = r.bytes(len, "garlic data")?;
    r.finish("garlic")?;
    if data.len() < 8 + MAC_LEN || data[..8] != tag[..] {
        return Err(WireError::invalid("garlic session tag", off, "unknown tag"));
    }
    let mut payload = data[8..].to_vec();
    if !aead_open(key, 0, tag, &mut payload) {
        return Err(WireError::invalid(
            "garlic payload",
            off + 8,
            "authentication failed",
        ));
    }
    payload.truncate(payload.len() - MAC_LEN);
    let mut r = Reader::with_base(&payload, off + 8);
    let mut out = Vec::new();
    while !r.is_empty() {
        let blk = r.u8("garlic block type")?;
        let size = usize::from(r.u16("garlic block size")?);
        let mut b = r.sub(size, "garlic block")?;
        if blk != BLOCK_GARLIC_CLOVE {
            continue;
        }
        let di_off = b.offset();
        let di = b.u8("clove delivery instructions")?;
        if di != CLOVE_DELIVERY_LOCAL {
            return Err(WireError::unsupported(
                "clove delivery instructions",
                di_off,
                format!("flag {di:#04x}"),
            ));
        }
        out.push(CloveMessage {
            msg_type: b.u8("clove i2np type")?,
            msg_id: b.u32("clove msg id")?,
            expiration_s: b.u32("clove expiration")?,
            body: b.rest().to_vec(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn wrap_unwrap_round_trip_and_wrong_key() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let g =
            wrap_existing_session(&[7; 32], &[8; 8], 26, 99, 1234, b"records", &mut rng).unwrap();
        assert_eq!(&g[4..12], &[8; 8]);
        assert_eq!(
            u32::from_be_bytes(g[..4].try_into().unwrap()) as usize,
            g.len() - 4
        );
        let c = unwrap_existing_session(&[7; 32], &[8; 8], &g).unwrap();
        assert_eq!(
            c,
            vec![CloveMessage {
                msg_type: 26,
                msg_id: 99,
                expiration_s: 1234,
                body: b"records".to_vec()
            }]
        );
        assert!(unwrap_existing_session(&[6; 32], &[8; 8], &g).is_err());
        assert!(unwrap_existing_session(&[7; 32], &[9; 8], &g).is_err());
        assert!(unwrap_existing_session(&[7; 32], &[8; 8], &g[..20]).is_err());
    }
}

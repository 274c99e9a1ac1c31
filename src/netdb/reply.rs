//! ECIES-encrypted lookup replies (i2np.rst "Reply Encryption", "ECIES to ElG" / "ECIES to
//! ECIES (0.9.49)"; ecies.rst "Existing Session" payload blocks).
//!
//! A requester that sets flag bit 4 of a DatabaseLookup sends a fresh 32-byte ChaCha20/Poly1305
//! key and one 8-byte session tag. The reply (DatabaseStore or DatabaseSearchReply) goes back as
//! a Garlic message whose content is an ECIES-X25519-AEAD-Ratchet *Existing Session* message:
//!
//! ```text
//! tag (8) || ChaCha20-Poly1305(k = reply_key, n = 0, ad = tag, payload) (payload + 16)
//! ```
//!
//! The payload is a sequence of ratchet blocks: one Garlic Clove block (type 11) carrying the
//! reply with LOCAL delivery instructions (a single flag byte 0x00), the 9-byte NTCP2-style
//! I2NP header (type, message id, expiration in seconds) and the message body; then a Padding
//! block (type 254) of 0-15 zero bytes so reply sizes are not an exact fingerprint of the entry.
//! The requester recognizes the tag, looks up the key it generated and decrypts.

use crate::crypto::noise::aead_encrypt;
use crate::wire::WireError;
use crate::wire::garlic::{Block, Clove, DeliveryInstructions, write_payload};
use crate::wire::i2np::{Garlic, I2npBody, I2npMessage, ShortHeader};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReplyCryptoError {
    #[error("reply does not fit one ratchet block: {0}")]
    TooLarge(WireError),
}

/// Build the Existing Session payload (plaintext) for `inner`: Garlic Clove block + padding.
pub fn clove_payload(inner: &I2npMessage, padding_len: u8) -> Result<Vec<u8>, WireError> {
    let clove = Clove {
        delivery: DeliveryInstructions::Local,
        delay: None,
        header: ShortHeader {
            msg_type: inner.msg_type().code(),
            msg_id: inner.msg_id,
            expiration_s: inner.short_expiration(),
        },
        body: inner.body.to_bytes()?,
    };
    write_payload(&[
        Block::GarlicClove(clove),
        Block::Padding(vec![0; usize::from(padding_len)]),
    ])
}

/// Encrypt `inner` for a requester that asked for an ECIES reply with `key` and `tag`, and wrap
/// it in a Garlic message with id `msg_id` expiring at `expiration_ms`.
pub fn wrap_ecies_reply(
    inner: &I2npMessage,
    key: &[u8; 32],
    tag: &[u8; 8],
    padding_len: u8,
    msg_id: u32,
    expiration_ms: u64,
) -> Result<I2npMessage, ReplyCryptoError> {
    let payload = clove_payload(inner, padding_len).map_err(ReplyCryptoError::TooLarge)?;
    // n = 0 (nonce of twelve zero bytes), ad = the tag. Each key is used for exactly this one
    // message.
    let ct = aead_encrypt(key, 0, tag, &payload);
    let mut data = Vec::with_capacity(8 + ct.len());
    data.extend_from_slice(tag);
    data.extend_from_slice(&ct);
    Ok(I2npMessage {
        msg_id,
        expiration_ms,
        body: I2npBody::Garlic(Garlic { data }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::i2np::{DatabaseSearchReply, MessageType};
    use crate::wire::{Reader, WireErrorKind};
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

    /// Decrypt and parse as a requester would, written from the spec without the encoder.
    fn open(garlic: &I2npMessage, key: &[u8; 32], tag: &[u8; 8]) -> (u8, u32, u32, Vec<u8>) {
        let I2npBody::Garlic(g) = &garlic.body else {
            panic!("not garlic")
        };
        assert_eq!(&g.data[..8], tag);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
        let pt = cipher
            .decrypt(
                Nonce::from_slice(&[0u8; 12]),
                Payload {
                    msg: &g.data[8..],
                    aad: tag,
                },
            )
            .expect("decrypts");
        let mut r = Reader::new(&pt);
        assert_eq!(r.u8("blk").unwrap(), 11);
        let size = usize::from(r.u16("size").unwrap());
        let mut clove = r.sub(size, "clove").unwrap();
        assert_eq!(clove.u8("flag").unwrap(), 0);
        let ty = clove.u8("type").unwrap();
        let id = clove.u32("id").unwrap();
        let exp = clove.u32("exp").unwrap();
        let body = clove.rest().to_vec();
        assert_eq!(r.u8("blk").unwrap(), 254);
        let pad = usize::from(r.u16("pad").unwrap());
        assert_eq!(r.bytes(pad, "padding").unwrap(), vec![0u8; pad].as_slice());
        r.finish("payload").unwrap();
        (ty, id, exp, body)
    }

    #[test]
    fn reply_decrypts_to_the_inner_message() {
        let inner = I2npMessage {
            msg_id: 0x0102_0304,
            expiration_ms: 1_700_000_060_123,
            body: I2npBody::DatabaseSearchReply(DatabaseSearchReply {
                key: [1; 32],
                peers: vec![[2; 32], [3; 32]],
                from: [4; 32],
            }),
        };
        let key = [0x42; 32];
        let tag = *b"8bytetag";
        let g = wrap_ecies_reply(&inner, &key, &tag, 7, 99, 1_700_000_060_000).unwrap();
        assert_eq!(g.msg_type(), MessageType::Garlic);
        assert_eq!(g.msg_id, 99);
        let (ty, id, exp, body) = open(&g, &key, &tag);
        assert_eq!(ty, MessageType::DatabaseSearchReply.code());
        assert_eq!(id, 0x0102_0304);
        assert_eq!(exp, 1_700_000_060);
        let parsed =
            I2npBody::parse(MessageType::DatabaseSearchReply, &mut Reader::new(&body)).unwrap();
        assert_eq!(parsed, inner.body);
        // Size: tag + blocks (3 + 10 + body, 3 + padding) + MAC.
        let I2npBody::Garlic(gd) = &g.body else {
            unreachable!()
        };
        assert_eq!(gd.data.len(), 8 + 3 + 10 + body.len() + 3 + 7 + 16);
    }

    #[test]
    fn wrong_key_or_tag_does_not_decrypt() {
        let inner = I2npMessage {
            msg_id: 1,
            expiration_ms: 0,
            body: I2npBody::DatabaseSearchReply(DatabaseSearchReply {
                key: [1; 32],
                peers: vec![],
                from: [4; 32],
            }),
        };
        let g = wrap_ecies_reply(&inner, &[1; 32], b"abcdefgh", 0, 5, 0).unwrap();
        let I2npBody::Garlic(gd) = &g.body else {
            unreachable!()
        };
        let c = ChaCha20Poly1305::new(Key::from_slice(&[2; 32]));
        assert!(
            c.decrypt(
                Nonce::from_slice(&[0; 12]),
                Payload {
                    msg: &gd.data[8..],
                    aad: b"abcdefgh"
                }
            )
            .is_err()
        );
        let c = ChaCha20Poly1305::new(Key::from_slice(&[1; 32]));
        assert!(
            c.decrypt(
                Nonce::from_slice(&[0; 12]),
                Payload {
                    msg: &gd.data[8..],
                    aad: b"abcdefgX"
                }
            )
            .is_err()
        );
    }

    #[test]
    fn oversized_clove_is_an_error() {
        let inner = I2npMessage {
            msg_id: 1,
            expiration_ms: 0,
            body: I2npBody::Data(crate::wire::i2np::Data {
                data: vec![0; 70_000],
            }),
        };
        let e = clove_payload(&inner, 0).unwrap_err();
        assert!(matches!(e.kind, WireErrorKind::TooLong { .. }));
    }
}

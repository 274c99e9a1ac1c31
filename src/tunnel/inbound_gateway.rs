//! Inbound gateway: takes the message inside a TunnelGateway (from anyone), fragments and packs
//! it into 1028-byte TunnelData bodies with LOCAL delivery (the inbound endpoint is the
//! creator), encrypts them with our layer and sends them to the next hop.
//!
//! Messages are queued per tunnel and packed when the shard flushes a batch, so small messages
//! arriving together share tunnel messages. The packer (its 1 KB buffer) belongs to the shard,
//! not to each tunnel.

use bytes::{BufMut, Bytes, BytesMut};
use rand::RngCore;

use super::fragment::{Delivery, Packer, TooLarge};
use super::layer::LayerCipher;
use super::{RouterHash, TUNNEL_DATA_MSG_LEN, TunnelId};
use crate::wire::i2np::{MessageType, StandardHeader};

/// SplitMix64: a tiny non-cryptographic generator for message ids.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }
}

pub struct InboundGateway {
    pub cipher: LayerCipher,
    pub next_hop: RouterHash,
    pub next_tunnel: TunnelId,
    pub expires_ms: u64,
    /// Standard-header messages waiting for the next flush.
    pending: Vec<Bytes>,
}

/// Check that `data` (a TunnelGateway's payload) is one standard-header I2NP message whose size
/// field matches. The checksum is left to the inbound endpoint, which verifies it anyway.
pub fn valid_embedded(data: &[u8]) -> bool {
    data.len() >= StandardHeader::LEN
        && usize::from(u16::from_be_bytes([data[13], data[14]])) == data.len() - StandardHeader::LEN
}

impl InboundGateway {
    pub fn new(
        cipher: LayerCipher,
        next_hop: RouterHash,
        next_tunnel: TunnelId,
        expires_ms: u64,
    ) -> Self {
        Self {
            cipher,
            next_hop,
            next_tunnel,
            expires_ms,
            pending: Vec::new(),
        }
    }

    pub fn enqueue(&mut self, msg: Bytes) {
        self.pending.push(msg);
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Pack, encrypt and emit everything queued as TunnelData messages (short header, random
    /// message id, `expiration_ms`). Returns the number of messages dropped as too large.
    pub fn flush(
        &mut self,
        packer: &mut Packer,
        expiration_ms: u64,
        rng: &mut impl RngCore,
        emit: &mut impl FnMut(RouterHash, Bytes),
    ) -> u64 {
        let mut dropped = 0;
        let Self {
            cipher,
            next_hop,
            next_tunnel,
            pending,
            ..
        } = self;
        // Message ids only need to be unpredictable to outsiders, not secret: one random seed
        // per flush stretched with SplitMix64 keeps the RNG free for the packer.
        let mut ids = SplitMix64(rng.next_u64());
        let mut wrap = |payload: &mut [u8; 1024]| {
            cipher.encrypt(payload);
            let mut m = BytesMut::with_capacity(TUNNEL_DATA_MSG_LEN);
            m.put_u8(MessageType::TunnelData.code());
            m.put_u32(ids.next_u32());
            m.put_u32((expiration_ms / 1000) as u32);
            m.put_u32(*next_tunnel);
            m.put_slice(&payload[..]);
            emit(*next_hop, m.freeze());
        };
        for msg in pending.drain(..) {
            let frag_id = rng.next_u32();
            if let Err(TooLarge(_)) = packer.push(Delivery::Local, &msg, frag_id, rng, &mut wrap) {
                dropped += 1;
            }
        }
        packer.flush(rng, &mut wrap);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::fragment::{Delivery, fragments};
    use crate::tunnel::layer::LayerDecryptor;
    use rand::SeedableRng;

    #[test]
    fn gateway_output_decrypts_to_local_fragments() {
        let mut gw = InboundGateway::new(LayerCipher::new(&[5; 32], &[6; 32]), [7; 32], 99, 0);
        let mut m = vec![0u8; 16 + 40];
        m[13..15].copy_from_slice(&40u16.to_be_bytes());
        assert!(valid_embedded(&m));
        assert!(!valid_embedded(&m[..50]));
        gw.enqueue(Bytes::from(m.clone()));
        gw.enqueue(Bytes::from(m.clone()));
        assert!(gw.has_pending());
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut sent = Vec::new();
        let dropped = gw.flush(&mut Packer::new(), 5_000_000, &mut rng, &mut |h, b| {
            sent.push((h, b))
        });
        assert_eq!(dropped, 0);
        assert!(!gw.has_pending());
        assert_eq!(sent.len(), 1, "two small messages packed into one");
        let (hop, msg) = &sent[0];
        assert_eq!(hop, &[7; 32]);
        assert_eq!(msg.len(), TUNNEL_DATA_MSG_LEN);
        assert_eq!(msg[0], 18);
        assert_eq!(&msg[5..9], &5000u32.to_be_bytes());
        assert_eq!(&msg[9..13], &99u32.to_be_bytes());
        let mut payload: [u8; 1024] = msg[13..].try_into().unwrap();
        LayerDecryptor::new(&[5; 32], &[6; 32]).decrypt(&mut payload);
        let f: Vec<_> = fragments(&payload).unwrap().map(|f| f.unwrap()).collect();
        assert_eq!(f.len(), 2);
        for x in f {
            assert_eq!(x.data, &m[..]);
            assert!(matches!(
                x.instructions,
                crate::tunnel::fragment::Instructions::First {
                    delivery: Delivery::Local,
                    msg_id: None,
                    ..
                }
            ));
        }
    }
}

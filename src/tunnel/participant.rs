//! An intermediate hop: one small struct per tunnel holding its layer cipher (expanded key
//! schedules), next hop, next tunnel id, expiry and the previous hop messages must come from.
//! Forwarding rewrites the TunnelData message in its own buffer: no allocation per message when
//! the transport hands over uniquely owned buffers.

use super::layer::LayerCipher;
use super::{RouterHash, TUNNEL_DATA_MSG_LEN, TunnelId};

pub struct Participant {
    pub cipher: LayerCipher,
    pub next_hop: RouterHash,
    pub next_tunnel: TunnelId,
    /// Previous hop: the router that sent us the build request. `None` until learnt from the
    /// first message if the build arrived by another way.
    pub prev_hop: Option<RouterHash>,
    /// Unix ms after which the tunnel is gone.
    pub expires_ms: u64,
}

/// Whether `from` may send into a tunnel whose previous hop is `prev`; learns it if unknown
/// (tunnels/implementation: "initialized when the first message comes through the tunnel").
pub fn check_previous_hop(prev: &mut Option<RouterHash>, from: &RouterHash) -> bool {
    match prev {
        Some(p) => p == from,
        None => {
            *prev = Some(*from);
            true
        }
    }
}

impl Participant {
    /// Transform a whole TunnelData message (9-byte short header + tunnel id + IV + data) in
    /// place for the next hop: layer crypto, next tunnel id, fresh message id. The expiration is
    /// kept. Returns false if `msg` is not a TunnelData message of the right length.
    #[must_use]
    pub fn forward_in_place(&self, msg: &mut [u8], new_msg_id: u32) -> bool {
        if msg.len() != TUNNEL_DATA_MSG_LEN {
            return false;
        }
        if !self.cipher.encrypt_slice(&mut msg[13..]) {
            return false;
        }
        self.rewrite_header(msg, new_msg_id)
    }

    /// The header half of [`forward_in_place`](Self::forward_in_place): next tunnel id and a
    /// fresh message id, leaving the payload for the caller to transform (a shard batches the
    /// layer crypto of many tunnels, see `LayerCipher::encrypt_many`).
    #[must_use]
    pub fn rewrite_header(&self, msg: &mut [u8], new_msg_id: u32) -> bool {
        if msg.len() != TUNNEL_DATA_MSG_LEN {
            return false;
        }
        msg[1..5].copy_from_slice(&new_msg_id.to_be_bytes());
        msg[9..13].copy_from_slice(&self.next_tunnel.to_be_bytes());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::layer::LayerDecryptor;

    #[test]
    fn forward_rewrites_header_and_payload() {
        let p = Participant {
            cipher: LayerCipher::new(&[1; 32], &[2; 32]),
            next_hop: [3; 32],
            next_tunnel: 0x0a0b_0c0d,
            prev_hop: None,
            expires_ms: 0,
        };
        let mut m = vec![0u8; TUNNEL_DATA_MSG_LEN];
        m[0] = 18;
        m[5..9].copy_from_slice(&[9, 9, 9, 9]);
        m[9..13].copy_from_slice(&7u32.to_be_bytes());
        for (i, b) in m[13..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let orig = m.clone();
        assert!(p.forward_in_place(&mut m, 42));
        assert_eq!(m[0], 18);
        assert_eq!(&m[1..5], &42u32.to_be_bytes());
        assert_eq!(&m[5..9], &[9, 9, 9, 9], "expiration kept");
        assert_eq!(&m[9..13], &[0x0a, 0x0b, 0x0c, 0x0d]);
        let mut payload: [u8; 1024] = m[13..].try_into().unwrap();
        LayerDecryptor::new(&[1; 32], &[2; 32]).decrypt(&mut payload);
        assert_eq!(&payload[..], &orig[13..]);
        assert!(!p.forward_in_place(&mut m[..100], 1));
    }

    #[test]
    fn previous_hop_is_learnt_then_enforced() {
        let mut prev = None;
        assert!(check_previous_hop(&mut prev, &[1; 32]));
        assert!(check_previous_hop(&mut prev, &[1; 32]));
        assert!(!check_previous_hop(&mut prev, &[2; 32]));
    }
}

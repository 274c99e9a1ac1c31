//! Outbound endpoint: decrypt our layer to reveal the gateway's preprocessed message, verify
//! the checksum, parse delivery instructions, reassemble fragments (bounded, with timeouts) and
//! deliver: to a router (the I2NP message re-framed with the short header), into a tunnel (a
//! TunnelGateway message to its gateway), or — when the target is our own router — locally.
//! LOCAL delivery is not done at an outbound endpoint (tunnel-message.rst: "unimplemented for
//! outbound tunnels") and is dropped.

use bytes::Bytes;
use rand::RngCore;

use super::build::{short_message, tunnel_gateway_body};
use super::fragment::{
    Complete, Delivery, Reassembler, ReassemblyBudget, ReassemblyDrop, ReassemblyLimits,
    TunnelMessageError, fragments,
};
use super::layer::LayerCipher;
use super::metrics::DropReason;
use super::{RouterHash, TUNNEL_PAYLOAD_LEN};
use crate::wire::i2np::{MessageType, RawMessage};

pub struct OutboundEndpoint {
    pub cipher: LayerCipher,
    pub prev_hop: Option<RouterHash>,
    pub expires_ms: u64,
    reassembler: Reassembler,
}

/// What the endpoint does with a complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointAction {
    /// Send this short-header message to a router.
    Send { to: RouterHash, message: Bytes },
    /// The target is our own router: hand this short-header message to our dispatcher.
    Local(Bytes),
}

impl From<ReassemblyDrop> for DropReason {
    fn from(d: ReassemblyDrop) -> Self {
        match d {
            ReassemblyDrop::DuplicateFragment => DropReason::DuplicateFragment,
            ReassemblyDrop::BadFragmentNumber => DropReason::BadFragmentNumber,
            ReassemblyDrop::TooLarge => DropReason::MessageTooLarge,
            ReassemblyDrop::TooManyPending => DropReason::ReassemblyFull,
        }
    }
}

/// Messages whose own I2NP expiration passed more than this long ago are not forwarded (clock
/// skew allowance).
pub const EXPIRATION_SKEW_MS: u64 = 60_000;

/// Turn a reassembled message into the action for its delivery instructions.
pub fn deliver(
    c: &Complete<'_>,
    our_hash: &RouterHash,
    now_ms: u64,
    created_expiration_ms: u64,
    rng: &mut impl RngCore,
) -> Result<EndpointAction, DropReason> {
    // The gateway packed a standard-header message: check it (size and checksum) once here so
    // that garbage is not forwarded.
    let raw = RawMessage::parse_standard(&c.message).map_err(|_| DropReason::BadMessage)?;
    if raw.expiration_ms.saturating_add(EXPIRATION_SKEW_MS) < now_ms {
        return Err(DropReason::Expired);
    }
    let (to, message) = match c.delivery {
        Delivery::Local => return Err(DropReason::LocalDelivery),
        Delivery::Router(to) => {
            let mut out = Vec::with_capacity(9 + raw.body.len());
            raw.write_short(&mut out);
            (to, Bytes::from(out))
        }
        Delivery::Tunnel { tunnel_id, gateway } => {
            let body = tunnel_gateway_body(
                tunnel_id,
                raw.msg_type,
                raw.msg_id,
                raw.expiration_ms,
                raw.body,
            )
            .map_err(|_| DropReason::BadMessage)?;
            (
                gateway,
                short_message(
                    MessageType::TunnelGateway,
                    rng.next_u32(),
                    created_expiration_ms,
                    &body,
                ),
            )
        }
    };
    Ok(if &to == our_hash {
        EndpointAction::Local(message)
    } else {
        EndpointAction::Send { to, message }
    })
}

impl OutboundEndpoint {
    pub fn new(cipher: LayerCipher, prev_hop: Option<RouterHash>, expires_ms: u64) -> Self {
        Self {
            cipher,
            prev_hop,
            expires_ms,
            reassembler: Reassembler::new(),
        }
    }

    /// Decrypt and process one TunnelData payload (IV || data, as received). Each delivered
    /// message goes to `act`, each drop to `dropped`.
    #[allow(clippy::too_many_arguments)]
    pub fn receive(
        &mut self,
        payload: &mut [u8; TUNNEL_PAYLOAD_LEN],
        our_hash: &RouterHash,
        now_ms: u64,
        created_expiration_ms: u64,
        limits: &ReassemblyLimits,
        budget: &mut ReassemblyBudget,
        rng: &mut impl RngCore,
        act: &mut impl FnMut(EndpointAction),
        dropped: &mut impl FnMut(DropReason),
    ) {
        self.cipher.encrypt(payload);
        let frags = match fragments(payload) {
            Ok(f) => f,
            Err(TunnelMessageError::Checksum | TunnelMessageError::NoZeroByte) => {
                dropped(DropReason::Checksum);
                return;
            }
            Err(TunnelMessageError::Wire(_)) => {
                dropped(DropReason::BadInstructions);
                return;
            }
        };
        for f in frags {
            let f = match f {
                Ok(f) => f,
                Err(_) => {
                    dropped(DropReason::BadInstructions);
                    return;
                }
            };
            match self.reassembler.push(f, now_ms, limits, budget) {
                Ok(Some(c)) => match deliver(&c, our_hash, now_ms, created_expiration_ms, rng) {
                    Ok(a) => act(a),
                    Err(r) => dropped(r),
                },
                Ok(None) => {}
                Err(d) => dropped(d.into()),
            }
        }
    }

    /// Drop timed-out partial messages; returns how many.
    pub fn expire(
        &mut self,
        now_ms: u64,
        limits: &ReassemblyLimits,
        budget: &mut ReassemblyBudget,
    ) -> usize {
        self.reassembler.expire(now_ms, limits, budget)
    }

    /// Release reassembly memory (tunnel removed).
    pub fn clear(&mut self, budget: &mut ReassemblyBudget) {
        self.reassembler.clear(budget);
    }

    pub fn pending(&self) -> usize {
        self.reassembler.pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::fragment::Packer;
    use crate::tunnel::layer::LayerDecryptor;
    use crate::wire::i2np::{DeliveryStatus, I2npBody, I2npMessage};
    use rand::SeedableRng;

    fn status_msg(id: u32) -> Vec<u8> {
        I2npMessage {
            msg_id: id,
            expiration_ms: 1_700_000_000_000,
            body: I2npBody::DeliveryStatus(DeliveryStatus {
                msg_id: 5,
                timestamp: 6,
            }),
        }
        .to_standard_bytes()
        .unwrap()
    }

    #[test]
    fn delivers_router_tunnel_and_local_targets() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let keys = ([8u8; 32], [9u8; 32]);
        let mut ep = OutboundEndpoint::new(LayerCipher::new(&keys.0, &keys.1), None, 0);
        let us = [0xee; 32];
        let mut packer = Packer::new();
        let mut payloads = Vec::new();
        let big = {
            // A 3000-byte Data message: fragmented.
            I2npMessage {
                msg_id: 4,
                expiration_ms: 1_700_000_000_000,
                body: I2npBody::Data(crate::wire::i2np::Data {
                    data: vec![0x33; 3000],
                }),
            }
            .to_standard_bytes()
            .unwrap()
        };
        let targets = [
            (Delivery::Router([1; 32]), status_msg(1)),
            (
                Delivery::Tunnel {
                    tunnel_id: 77,
                    gateway: [2; 32],
                },
                status_msg(2),
            ),
            (Delivery::Router(us), status_msg(3)),
            (Delivery::Local, status_msg(4)),
            (Delivery::Router([5; 32]), big.clone()),
        ];
        for (i, (d, m)) in targets.iter().enumerate() {
            packer
                .push(*d, m, i as u32, &mut rng, &mut |p| payloads.push(*p))
                .unwrap();
        }
        packer.flush(&mut rng, &mut |p| payloads.push(*p));
        let dec = LayerDecryptor::new(&keys.0, &keys.1);
        let mut actions = Vec::new();
        let mut drops = Vec::new();
        let limits = ReassemblyLimits::default();
        let mut budget = ReassemblyBudget::new(1 << 20);
        // Deliver in reverse order: reassembly does not depend on order.
        for p in payloads.iter_mut().rev() {
            // Pre-"decrypt" as the outbound gateway would, so our layer reveals the plaintext.
            dec.decrypt(p);
            ep.receive(
                p,
                &us,
                0,
                9_000,
                &limits,
                &mut budget,
                &mut rng,
                &mut |a| actions.push(a),
                &mut |d| drops.push(d),
            );
        }
        assert_eq!(drops, vec![DropReason::LocalDelivery]);
        // The same message a day after its expiration is not forwarded.
        let c = Complete {
            delivery: Delivery::Router([1; 32]),
            message: std::borrow::Cow::Owned(status_msg(9)),
        };
        assert_eq!(
            deliver(&c, &us, 1_700_086_400_000, 0, &mut rng),
            Err(DropReason::Expired)
        );
        assert!(deliver(&c, &us, 1_700_000_030_000, 0, &mut rng).is_ok());
        assert_eq!(actions.len(), 4);
        let find = |to: RouterHash| {
            actions.iter().find_map(|a| match a {
                EndpointAction::Send { to: t, message } if *t == to => Some(message.clone()),
                _ => None,
            })
        };
        let m1 = find([1; 32]).unwrap();
        let parsed = I2npMessage::parse_short(&m1).unwrap();
        assert_eq!(parsed.msg_id, 1);
        let gw = I2npMessage::parse_short(&find([2; 32]).unwrap()).unwrap();
        match gw.body {
            I2npBody::TunnelGateway(t) => {
                assert_eq!(t.tunnel_id, 77);
                assert_eq!(t.data, status_msg(2));
            }
            b => panic!("{b:?}"),
        }
        assert!(actions.iter().any(|a| matches!(a, EndpointAction::Local(m)
            if I2npMessage::parse_short(m).unwrap().msg_id == 3)));
        let b = I2npMessage::parse_short(&find([5; 32]).unwrap()).unwrap();
        assert_eq!(b.to_standard_bytes().unwrap(), big);
        assert_eq!(budget.used, 0);
    }

    #[test]
    fn corrupted_payload_is_a_checksum_drop() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut ep = OutboundEndpoint::new(LayerCipher::new(&[1; 32], &[2; 32]), None, 0);
        let mut p = [7u8; 1024];
        let mut drops = Vec::new();
        ep.receive(
            &mut p,
            &[0; 32],
            0,
            0,
            &ReassemblyLimits::default(),
            &mut ReassemblyBudget::new(1000),
            &mut rng,
            &mut |_| panic!("nothing to deliver"),
            &mut |d| drops.push(d),
        );
        assert_eq!(drops, vec![DropReason::Checksum]);
    }
}

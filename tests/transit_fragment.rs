//! Property tests of tunnel message preprocessing: any messages up to the maximum size survive
//! inbound gateway -> participants -> endpoint decryption and reassembly exactly, whether the
//! tunnel messages arrive in order or shuffled.

use std::collections::BTreeMap;

use bytes::Bytes;
use floodgate::tunnel::fragment::{
    Complete, Delivery, Packer, Reassembler, ReassemblyBudget, ReassemblyLimits, fragments,
};
use floodgate::tunnel::inbound_gateway::InboundGateway;
use floodgate::tunnel::layer::{LayerCipher, LayerDecryptor};
use floodgate::tunnel::participant::Participant;
use floodgate::wire::i2np::{Data, I2npBody, I2npMessage};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Body sizes of Data messages: mostly small, some up to the largest a tunnel can carry
/// (Data adds a 4-byte length and the standard header 16 bytes).
fn sizes() -> impl Strategy<Value = Vec<usize>> {
    let max = Packer::max_message_len(&Delivery::Local) - 20;
    prop::collection::vec(
        prop_oneof![4 => 0usize..1200, 1 => 1200usize..=max, 1 => Just(max)],
        1..5,
    )
}

fn data_message(id: u32, len: usize) -> Vec<u8> {
    I2npMessage {
        msg_id: id,
        expiration_ms: 1_800_000_000_000,
        body: I2npBody::Data(Data {
            data: (0..len).map(|i| (i as u32 ^ id) as u8).collect(),
        }),
    }
    .to_standard_bytes()
    .unwrap()
}

fn reassemble(payloads: &[[u8; 1024]]) -> Vec<(Delivery, Vec<u8>)> {
    let limits = ReassemblyLimits::default();
    let mut budget = ReassemblyBudget::new(usize::MAX);
    let mut r = Reassembler::new();
    let mut out = Vec::new();
    for p in payloads {
        for f in fragments(p).expect("checksum") {
            if let Some(Complete { delivery, message }) = r
                .push(f.expect("instructions"), 0, &limits, &mut budget)
                .unwrap()
            {
                out.push((delivery, message.into_owned()));
            }
        }
    }
    assert_eq!(r.pending(), 0, "nothing left half-assembled");
    assert_eq!(budget.used, 0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn gateway_participants_endpoint_round_trip(
        sizes in sizes(),
        hops in 0usize..3,
        seed in any::<u64>(),
        shuffle in any::<bool>(),
    ) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let keys: Vec<([u8; 32], [u8; 32])> = (0..=hops).map(|_| (rng.r#gen(), rng.r#gen())).collect();
        let mut gw = InboundGateway::new(LayerCipher::new(&keys[0].0, &keys[0].1), [1; 32], 10, 0);
        let msgs: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, s)| data_message(i as u32, *s)).collect();
        for m in &msgs {
            gw.enqueue(Bytes::from(m.clone()));
        }
        let mut wire = Vec::new();
        let dropped = gw.flush(&mut Packer::new(), 0, &mut rng, &mut |_, m| wire.push(m));
        prop_assert_eq!(dropped, 0);
        // Participants in turn rewrite each message in place.
        let parts: Vec<Participant> = keys[1..].iter().map(|k| Participant {
            cipher: LayerCipher::new(&k.0, &k.1),
            next_hop: [2; 32],
            next_tunnel: 11,
            prev_hop: None,
            expires_ms: 0,
        }).collect();
        let mut arrived: Vec<[u8; 1024]> = wire.iter().map(|m| {
            let mut buf = m.to_vec();
            for p in &parts {
                prop_assert!(p.forward_in_place(&mut buf, 5));
            }
            Ok(buf[13..].try_into().unwrap())
        }).collect::<Result<_, TestCaseError>>()?;
        if shuffle {
            arrived.shuffle(&mut rng);
        }
        // The inbound endpoint peels the layers, last hop first.
        let decs: Vec<LayerDecryptor> = keys.iter().map(|k| LayerDecryptor::new(&k.0, &k.1)).collect();
        for p in arrived.iter_mut() {
            for d in decs.iter().rev() {
                d.decrypt(p);
            }
        }
        let got = reassemble(&arrived);
        prop_assert_eq!(got.len(), msgs.len());
        let mut by_id: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for (d, m) in got {
            prop_assert_eq!(d, Delivery::Local);
            let id = u32::from_be_bytes(m[1..5].try_into().unwrap());
            by_id.insert(id, m);
        }
        for (i, m) in msgs.iter().enumerate() {
            prop_assert_eq!(&by_id[&(i as u32)], m);
        }
    }

    #[test]
    fn packer_round_trip_any_delivery(
        specs in prop::collection::vec((0u8..3, 1usize..4000), 1..12),
        seed in any::<u64>(),
    ) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut packer = Packer::new();
        let mut payloads = Vec::new();
        let mut sent = Vec::new();
        for (i, (kind, len)) in specs.iter().enumerate() {
            let d = match kind {
                0 => Delivery::Local,
                1 => Delivery::Router([i as u8; 32]),
                _ => Delivery::Tunnel { tunnel_id: 1 + i as u32, gateway: [i as u8; 32] },
            };
            let m: Vec<u8> = (0..*len).map(|_| rng.r#gen()).collect();
            packer.push(d, &m, 1000 + i as u32, &mut rng, &mut |p| payloads.push(*p)).unwrap();
            sent.push((d, m));
        }
        packer.flush(&mut rng, &mut |p| payloads.push(*p));
        // Packing is dense: at most one partly used payload per message boundary.
        let total: usize = sent.iter().map(|(d, m)| d.first_di_len(true) + m.len()).sum();
        prop_assert!(payloads.len() <= total / 1003 + sent.len() + 1);
        payloads.shuffle(&mut rng);
        let mut got = reassemble(&payloads);
        got.sort_by(|a, b| a.1.cmp(&b.1));
        sent.sort_by(|a, b| a.1.cmp(&b.1));
        prop_assert_eq!(got, sent);
    }
}

#[test]
fn one_byte_over_the_maximum_is_refused() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for d in [
        Delivery::Local,
        Delivery::Router([1; 32]),
        Delivery::Tunnel {
            tunnel_id: 1,
            gateway: [1; 32],
        },
    ] {
        let max = Packer::max_message_len(&d);
        let mut p = Packer::new();
        // Even when the first fragment would start in a partly filled payload.
        p.push(Delivery::Local, &[1; 500], 1, &mut rng, &mut |_| {})
            .unwrap();
        let mut n = 0;
        p.push(d, &vec![0u8; max], 2, &mut rng, &mut |_| n += 1)
            .unwrap();
        assert!(n <= 64);
        assert!(
            p.push(d, &vec![0u8; max + 1], 3, &mut rng, &mut |_| {})
                .is_err()
        );
    }
}

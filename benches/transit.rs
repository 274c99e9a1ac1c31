//! Transit hot paths: participant layer crypto (compare with `openssl speed -evp aes-256-cbc`
//! on the same machine: the transform is 65 AES blocks per 1008 data bytes, serial CBC), the
//! whole participant rewrite of a TunnelData message, gateway packing, and build-record
//! handling (X25519 + Noise + reply encryption) per record.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use floodgate::tunnel::HopRole;
use floodgate::tunnel::build::{
    BuildKind, HopIdentity, decrypt_record, locate_record, outgoing_message, write_reply,
};
use floodgate::tunnel::creator::{CreatorHop, create_build};
use floodgate::tunnel::fragment::Packer;
use floodgate::tunnel::inbound_gateway::InboundGateway;
use floodgate::tunnel::layer::LayerCipher;
use floodgate::tunnel::participant::Participant;
use floodgate::tunnel::record::{BuildRequest, LongRecordKeys};
use floodgate::wire::Mapping;
use rand::SeedableRng;

fn layer(c: &mut Criterion) {
    let mut g = c.benchmark_group("layer");
    let cipher = LayerCipher::new(&[1; 32], &[2; 32]);
    let mut payload = [7u8; 1024];
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("participant_transform_1024", |b| {
        b.iter(|| cipher.encrypt(black_box(&mut payload)))
    });
    let portable = LayerCipher::new_portable(&[1; 32], &[2; 32]);
    g.bench_function("participant_transform_1024_portable_aes_crate", |b| {
        b.iter(|| portable.encrypt(black_box(&mut payload)))
    });
    // Several tunnels' messages at once, each with its own keys (what a shard does with the
    // participant messages of one received batch): interleaved CBC chains.
    for n in [8usize, 64] {
        let ciphers: Vec<LayerCipher> = (0..n as u8)
            .map(|i| LayerCipher::new(&[i; 32], &[i ^ 0x55; 32]))
            .collect();
        let mut payloads = vec![[7u8; 1024]; n];
        g.throughput(Throughput::Bytes(1024 * n as u64));
        g.bench_function(format!("participant_transform_many_{n}x1024"), |b| {
            b.iter(|| {
                let mut jobs: Vec<_> = ciphers.iter().zip(payloads.iter_mut()).collect();
                LayerCipher::encrypt_many(black_box(&mut jobs));
            })
        });
    }
    let p = Participant {
        cipher: LayerCipher::new(&[1; 32], &[2; 32]),
        next_hop: [3; 32],
        next_tunnel: 9,
        prev_hop: None,
        expires_ms: 0,
    };
    let mut msg = vec![0u8; 1037];
    msg[0] = 18;
    g.throughput(Throughput::Bytes(1037));
    g.bench_function("participant_forward_in_place_1037", |b| {
        b.iter(|| p.forward_in_place(black_box(&mut msg), 5))
    });
    g.finish();
}

fn gateway(c: &mut Criterion) {
    let mut g = c.benchmark_group("gateway");
    let mut gw = InboundGateway::new(LayerCipher::new(&[1; 32], &[2; 32]), [3; 32], 9, 0);
    let mut packer = Packer::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut m = vec![0u8; 16 + 2000];
    m[13..15].copy_from_slice(&2000u16.to_be_bytes());
    let m = Bytes::from(m);
    g.throughput(Throughput::Bytes(m.len() as u64));
    g.bench_function("fragment_encrypt_2016", |b| {
        b.iter(|| {
            gw.enqueue(m.clone());
            let mut n = 0;
            gw.flush(&mut packer, 0, &mut rng, &mut |_, out| n += out.len());
            n
        })
    });
    g.finish();
}

fn builds(c: &mut Criterion) {
    let mut g = c.benchmark_group("build");
    let secret = [0x42u8; 32];
    let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret));
    let us = [0x55u8; 32];
    let hop = HopIdentity::new(&secret, us);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for kind in [BuildKind::Short, BuildKind::Long] {
        let ch = CreatorHop {
            ident_hash: us,
            static_key: public.to_bytes(),
            ephemeral_secret: [9; 32],
            request: BuildRequest {
                receive_tunnel: 1,
                next_tunnel: 2,
                next_ident: [3; 32],
                role: HopRole::Participant,
                reserved_flags: 0,
                layer_encryption: 0,
                request_time_min: 29_000_000,
                expiration_s: 600,
                next_msg_id: 4,
                options: Mapping::new(),
            },
            long_keys: Some(LongRecordKeys {
                layer_key: [1; 32],
                iv_key: [2; 32],
                reply_key: [3; 32],
                reply_iv: [4; 16],
            }),
        };
        let (body, _) = create_build(kind, &[ch], &[2], 4, &mut rng).unwrap();
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("hop_record_{}_4_records", kind.label()), |b| {
            b.iter_batched(
                || body.clone(),
                |mut body| {
                    let (i, _) = locate_record(kind, &body, &us).unwrap();
                    let req = decrypt_record(&hop, kind, &body, i).unwrap();
                    write_reply(&req, &mut body, 0, &Mapping::new(), &mut rng).unwrap();
                    outgoing_message(&hop, &req, &body, 0, &mut rng).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, layer, gateway, builds);
criterion_main!(benches);

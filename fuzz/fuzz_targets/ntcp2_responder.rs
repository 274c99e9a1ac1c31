//! The NTCP2 responder fed arbitrary bytes as messages 1, 1-padding and 3, as a prober or a
//! broken peer would send them: errors only, never a panic.

#![no_main]

use floodgate::transport::ntcp2::{HandshakeRandom, LocalKeys, ReplayCache, Responder};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let keys = Arc::new(LocalKeys::new(
        x25519_dalek::StaticSecret::from([7u8; 32]),
        [1u8; 32],
        [2u8; 16],
        99,
    ));
    let random = HandshakeRandom { ephemeral: x25519_dalek::StaticSecret::from([9u8; 32]), padding: vec![] };
    let Ok(mut r) = Responder::new(keys, random) else { return };
    let replay = ReplayCache::default();
    let mut rest = data;
    let mut take = |n: usize| -> Option<Vec<u8>> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Some(a.to_vec())
    };
    let Some(m1) = take(r.bytes_needed()) else { return };
    if r.read_message1(&m1, 1_700_000_000, &replay).is_err() {
        return;
    }
    let Some(pad) = take(r.bytes_needed()) else { return };
    if r.write_message2(&pad, 1_700_000_000).is_err() {
        return;
    }
    let Some(m3) = take(r.bytes_needed()) else { return };
    let _ = r.read_message3(&m3);
});

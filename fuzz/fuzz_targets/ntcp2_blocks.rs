//! NTCP2 data-phase block payloads (what a peer controls after the AEAD): parse, and anything
//! that parses re-serializes and parses to the same blocks. Also the session's in-place frame
//! path: the same blocks sealed with `encrypt_blocks_into` come back from `decode_in_place`
//! whatever the read boundaries, and the raw input as ciphertext never panics the decoder.

#![no_main]

use bytes::{Bytes, BytesMut};
use floodgate::transport::ntcp2::frame::DirectionKeys;
use floodgate::transport::ntcp2::{FrameDecoder, FrameEncoder, parse_blocks, serialize_blocks};
use libfuzzer_sys::fuzz_target;

fn keys() -> DirectionKeys {
    DirectionKeys {
        cipher_key: [7; 32],
        sip_keys: [9; 32],
    }
}

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);
    if let Ok(blocks) = parse_blocks(&payload)
        && let Ok(again) = serialize_blocks(&blocks)
    {
        let reparsed = parse_blocks(&Bytes::from(again)).expect("serialized blocks must parse");
        assert_eq!(reparsed, blocks);
        let mut wire = Vec::new();
        let mut enc = FrameEncoder::new(&keys());
        if enc.encrypt_blocks_into(&blocks, &mut wire).is_ok() {
            enc.encrypt_blocks_into(&blocks, &mut wire).expect("same blocks again");
            let mut dec = FrameDecoder::new(&keys());
            let mut buf = BytesMut::new();
            let step = 1 + data.first().copied().unwrap_or(0) as usize;
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                buf.extend_from_slice(chunk);
                while let Some(p) = dec.decode_in_place(&mut buf).expect("own frames decode") {
                    got.push(parse_blocks(&p).expect("own frames parse"));
                }
            }
            assert_eq!(got, vec![blocks.clone(), blocks]);
        }
    }
    // Arbitrary bytes as a received stream: an error or a request for more, never a panic.
    let mut dec = FrameDecoder::new(&keys());
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = dec.decode_in_place(&mut buf) {}
});

//! NTCP2 data-phase block payloads (what a peer controls after the AEAD): parse, and anything
//! that parses re-serializes and parses to the same blocks.

#![no_main]

use bytes::Bytes;
use floodgate::transport::ntcp2::{parse_blocks, serialize_blocks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);
    if let Ok(blocks) = parse_blocks(&payload)
        && let Ok(again) = serialize_blocks(&blocks)
    {
        let reparsed = parse_blocks(&Bytes::from(again)).expect("serialized blocks must parse");
        assert_eq!(reparsed, blocks);
    }
});

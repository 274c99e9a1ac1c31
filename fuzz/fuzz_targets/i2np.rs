//! Fuzz the I2NP codec through both header forms.
//!
//! Byte 0 selects the mode: raw input goes straight to the parsers (exercises the framing and
//! checksum checks), or the input is framed first with a correct size and checksum so that the
//! fuzzer reaches the body parsers instead of spending its time guessing a SHA-256 byte.
//! Anything that parses must re-encode to exactly the input: the codec is canonical.

#![no_main]

use floodgate::wire::Reader;
use floodgate::wire::i2np::{
    I2npBody, I2npMessage, RawMessage, short_to_standard, standard_to_short,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn check_standard(buf: &[u8]) {
    if let Ok(m) = I2npMessage::parse_standard(buf) {
        let again = m.to_standard_bytes().expect("parsed message must encode");
        assert_eq!(again, buf, "standard re-encoding differs");
        let short = standard_to_short(buf).expect("valid standard message must re-frame");
        let back = I2npMessage::parse_short(&short).expect("re-framed message must parse");
        assert_eq!(back.body, m.body);
        if let I2npBody::TunnelGateway(tg) = &m.body {
            let _ = tg.embedded_message();
        }
    }
    let _ = RawMessage::parse_standard(buf);
    let mut r = Reader::new(buf);
    while I2npMessage::read_standard(&mut r).is_ok() {}
}

fn check_short(buf: &[u8]) {
    if let Ok(m) = I2npMessage::parse_short(buf) {
        let again = m.to_short_bytes().expect("parsed message must encode");
        assert_eq!(again, buf, "short re-encoding differs");
        // Bodies over 65535 bytes have no standard form; everything else converts.
        if let Ok(std) = short_to_standard(buf) {
            let back = I2npMessage::parse_standard(&std).expect("re-framed message must parse");
            assert_eq!(back.body, m.body);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check_standard(rest);
        check_short(rest);
        return;
    }
    let Some((&ty, body)) = rest.split_first() else {
        return;
    };
    let Ok(size) = u16::try_from(body.len()) else {
        return;
    };
    let mut framed = vec![ty, 0, 0, 0, 1, 0, 0, 1, 0x8b, 0x1f, 0x6c, 0x50, 0];
    framed.extend_from_slice(&size.to_be_bytes());
    framed.push(Sha256::digest(body)[0]);
    framed.extend_from_slice(body);
    check_standard(&framed);
    let mut short = vec![ty, 0, 0, 0, 1, 0x65, 0x53, 0xf1, 0x00];
    short.extend_from_slice(body);
    check_short(&short);
});

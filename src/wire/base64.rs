//! I2P's base64 (RFC 4648 with `-` and `~` in place of `+` and `/`) and base32 (lowercase, no
//! padding) encodings, used for router hashes, RouterAddress keys and b32 names.

use base64::Engine;
use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const I2P_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~";

fn engine() -> GeneralPurpose {
    // Alphabet::new only fails on a malformed alphabet; this one is a constant known to be valid,
    // and the unit test below exercises it.
    let alphabet = Alphabet::new(I2P_ALPHABET).unwrap_or(base64::alphabet::STANDARD);
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// Encode with I2P's base64 alphabet, with `=` padding (as in RouterInfo options).
pub fn encode(data: &[u8]) -> String {
    engine().encode(data)
}

/// Decode I2P base64; padding is optional.
pub fn decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    engine().decode(s.trim())
}

/// Lowercase RFC 4648 base32 without padding (b32 addresses).
pub fn base32_encode(data: &[u8]) -> String {
    const A: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(A[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(A[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i2p_alphabet_round_trip() {
        let data: Vec<u8> = (0..=255u8).collect();
        let s = encode(&data);
        assert!(!s.contains('+') && !s.contains('/'));
        assert!(s.contains('-') && s.contains('~'));
        assert_eq!(decode(&s).unwrap(), data);
    }

    #[test]
    fn base32_rfc4648_vector() {
        assert_eq!(base32_encode(b"foobar"), "mzxw6ytboi");
    }
}

//! DSA-SHA1 (signature type 0): 1024-bit DSA over I2P's single fixed group.
//!
//! The `dsa` 0.6 crate accepts arbitrary (p, q, g), so it does the arithmetic; this file only
//! pins I2P's group and converts the raw wire formats. Verification goes through its digest
//! interface with SHA-1, as the original TheCrypto engine and Java's `SHA1withDSA` do.

use super::SignatureError;
use crate::wire::keys::SigType;
use ::dsa::{BigUint, Components, VerifyingKey};
use ::signature::DigestVerifier;
use sha1::{Digest, Sha1};

const SIG_TYPE: SigType = SigType::DsaSha1;
/// Bytes of r and of s in the 40-byte wire signature.
const HALF: usize = 20;

// I2P's DSA group (p, q, g), from the "DSA" section of the spec's cryptography.rst (chosen by
// TheCrypto in 2003; every DSA key in the network uses it, so it is not carried on the wire).
/// The 1024-bit prime p.
const DSA_P: [u8; 128] = [
    0x9c, 0x05, 0xb2, 0xaa, 0x96, 0x0d, 0x9b, 0x97, 0xb8, 0x93, 0x19, 0x63, 0xc9, 0xcc, 0x9e, 0x8c,
    0x30, 0x26, 0xe9, 0xb8, 0xed, 0x92, 0xfa, 0xd0, 0xa6, 0x9c, 0xc8, 0x86, 0xd5, 0xbf, 0x80, 0x15,
    0xfc, 0xad, 0xae, 0x31, 0xa0, 0xad, 0x18, 0xfa, 0xb3, 0xf0, 0x1b, 0x00, 0xa3, 0x58, 0xde, 0x23,
    0x76, 0x55, 0xc4, 0x96, 0x4a, 0xfa, 0xa2, 0xb3, 0x37, 0xe9, 0x6a, 0xd3, 0x16, 0xb9, 0xfb, 0x1c,
    0xc5, 0x64, 0xb5, 0xae, 0xc5, 0xb6, 0x9a, 0x9f, 0xf6, 0xc3, 0xe4, 0x54, 0x87, 0x07, 0xfe, 0xf8,
    0x50, 0x3d, 0x91, 0xdd, 0x86, 0x02, 0xe8, 0x67, 0xe6, 0xd3, 0x5d, 0x22, 0x35, 0xc1, 0x86, 0x9c,
    0xe2, 0x47, 0x9c, 0x3b, 0x9d, 0x54, 0x01, 0xde, 0x04, 0xe0, 0x72, 0x7f, 0xb3, 0x3d, 0x65, 0x11,
    0x28, 0x5d, 0x4c, 0xf2, 0x95, 0x38, 0xd9, 0xe3, 0xb6, 0x05, 0x1f, 0x5b, 0x22, 0xcc, 0x1c, 0x93,
];
/// The 160-bit subgroup order q.
const DSA_Q: [u8; 20] = [
    0xa5, 0xdf, 0xc2, 0x8f, 0xef, 0x4c, 0xa1, 0xe2, 0x86, 0x74, 0x4c, 0xd8, 0xee, 0xd9, 0xd2, 0x9d,
    0x68, 0x40, 0x46, 0xb7,
];
/// The generator g of the order-q subgroup.
const DSA_G: [u8; 128] = [
    0x0c, 0x1f, 0x4d, 0x27, 0xd4, 0x00, 0x93, 0xb4, 0x29, 0xe9, 0x62, 0xd7, 0x22, 0x38, 0x24, 0xe0,
    0xbb, 0xc4, 0x7e, 0x7c, 0x83, 0x2a, 0x39, 0x23, 0x6f, 0xc6, 0x83, 0xaf, 0x84, 0x88, 0x95, 0x81,
    0x07, 0x5f, 0xf9, 0x08, 0x2e, 0xd3, 0x23, 0x53, 0xd4, 0x37, 0x4d, 0x73, 0x01, 0xcd, 0xa1, 0xd2,
    0x3c, 0x43, 0x1f, 0x46, 0x98, 0x59, 0x9d, 0xda, 0x02, 0x45, 0x18, 0x24, 0xff, 0x36, 0x97, 0x52,
    0x59, 0x36, 0x47, 0xcc, 0x3d, 0xdc, 0x19, 0x7d, 0xe9, 0x85, 0xe4, 0x3d, 0x13, 0x6c, 0xdc, 0xfc,
    0x6b, 0xd5, 0x40, 0x9c, 0xd2, 0xf4, 0x50, 0x82, 0x11, 0x42, 0xa5, 0xe6, 0xf8, 0xeb, 0x1c, 0x3a,
    0xb5, 0xd0, 0x48, 0x4b, 0x81, 0x29, 0xfc, 0xf1, 0x7b, 0xce, 0x4f, 0x7f, 0x33, 0x32, 0x1c, 0x3c,
    0xb3, 0xdb, 0xb1, 0x4a, 0x90, 0x5e, 0x7b, 0x2b, 0x3e, 0x93, 0xbe, 0x47, 0x08, 0xcb, 0xcc, 0x82,
];

/// The group as `dsa` components. Built per key: parsing 276 constant bytes is cheap next to
/// the subgroup check, and it avoids a process-wide lazy global.
fn components() -> Result<Components, SignatureError> {
    Components::from_components(
        BigUint::from_bytes_be(&DSA_P),
        BigUint::from_bytes_be(&DSA_Q),
        BigUint::from_bytes_be(&DSA_G),
    )
    .map_err(|_| SignatureError::BadPublicKey {
        sig_type: SIG_TYPE,
        why: "DSA group parameters rejected",
    })
}

/// A DSA-SHA1 public key y, checked to lie in the order-q subgroup.
#[derive(Clone, Debug)]
pub struct DsaSha1Key {
    // Boxed: four 1024-bit integers would otherwise dominate the size of `SigningPublicKey`.
    key: Box<VerifyingKey>,
}

impl DsaSha1Key {
    /// `bytes` is the 128-byte big-endian y; the caller has checked the length.
    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Self, SignatureError> {
        let bad = |why| SignatureError::BadPublicKey {
            sig_type: SIG_TYPE,
            why,
        };
        let components = components()?;
        let y = BigUint::from_bytes_be(bytes);
        if &y >= components.p() {
            return Err(bad("y is not below the group prime p"));
        }
        // `dsa` rejects y < 2 and any y with y^q mod p != 1. Every honestly generated
        // y = g^x mod p passes; the check stops junk keys (y = 1 would let anyone sign).
        let key = VerifyingKey::from_components(components, y)
            .map_err(|_| bad("y is not in the order-q subgroup"))?;
        Ok(Self { key: Box::new(key) })
    }

    /// `sig` is r||s, 20 bytes each, big-endian; the caller has checked the length.
    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let invalid = SignatureError::Invalid(SIG_TYPE);
        let (r, s) = match (sig.get(..HALF), sig.get(HALF..2 * HALF)) {
            (Some(r), Some(s)) => (BigUint::from_bytes_be(r), BigUint::from_bytes_be(s)),
            _ => return Err(invalid),
        };
        // FIPS 186 requires 0 < r, s < q. `dsa` checks it too, but saying it here keeps the
        // rule visible: an s >= q that Java's old engine would have reduced is not accepted,
        // since no signer produces one (they reduce s mod q).
        let q = self.key.components().q();
        let zero = BigUint::default();
        if r == zero || s == zero || &r >= q || &s >= q {
            return Err(invalid);
        }
        let signature = ::dsa::Signature::from_components(r, s).map_err(|_| invalid.clone())?;
        self.key
            .verify_digest(Sha1::new_with_prefix(msg), &signature)
            .map_err(|_| invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transcribed constants must form a DSA group: q prime-sized and dividing p - 1, g of
    /// order q. A typo in any byte would break at least one of these.
    #[test]
    fn group_is_consistent() {
        let p = BigUint::from_bytes_be(&DSA_P);
        let q = BigUint::from_bytes_be(&DSA_Q);
        let g = BigUint::from_bytes_be(&DSA_G);
        let one = BigUint::from(1u32);
        assert_eq!(p.bits(), 1024);
        assert_eq!(q.bits(), 160);
        assert_eq!((&p - &one) % &q, BigUint::default());
        assert_ne!(g, one);
        assert_eq!(g.modpow(&q, &p), one);
    }
}

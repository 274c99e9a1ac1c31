//! RSA PKCS#1 v1.5 signatures (types 4, 5, 6).
//!
//! In a netDb structure the SigningPublicKey is only the big-endian modulus; the exponent is
//! fixed at F4 = 65537 (Java builds its keys with `RSAKeyGenParameterSpec.F4`). su3 files carry
//! an X.509 certificate instead, so [`rsa_pkcs1v15_verify`] / [`rsa_pkcs1v15_verify_prehash`]
//! take (n, e) explicitly for that later use.

use super::SignatureError;
use crate::wire::keys::SigType;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The public exponent of every RSA SigningPublicKey in I2P structures.
pub const RSA_NETDB_EXPONENT: u32 = 65_537;

/// A checked RSA public key and the signature type that fixes its hash.
#[derive(Clone, Debug)]
pub struct RsaKey {
    sig_type: SigType,
    key: RsaPublicKey,
}

impl RsaKey {
    /// `modulus` is the raw big-endian n of the type's length, already checked by the caller.
    pub(super) fn from_netdb_bytes(
        sig_type: SigType,
        modulus: &[u8],
    ) -> Result<Self, SignatureError> {
        // A modulus whose first byte is zero is shorter than the type: its signatures would be
        // one byte shorter than the fixed wire length, so nothing could ever verify under it.
        if modulus.first().is_none_or(|b| *b == 0) {
            return Err(SignatureError::BadPublicKey {
                sig_type,
                why: "modulus is shorter than the type's key size",
            });
        }
        Self::new(sig_type, modulus, &RSA_NETDB_EXPONENT.to_be_bytes())
    }

    fn new(sig_type: SigType, n: &[u8], e: &[u8]) -> Result<Self, SignatureError> {
        hash_for(sig_type)?;
        // The rsa crate rejects an even n, e >= n, an even e or e < 3, e >= 2^33 and n above
        // 4096 bits. An even modulus is never an RSA key, and refusing it also keeps the
        // modular exponentiation away from a zero modulus.
        let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e)).map_err(
            |_| SignatureError::BadPublicKey {
                sig_type,
                why: "not a usable RSA modulus/exponent",
            },
        )?;
        Ok(Self { sig_type, key })
    }

    pub(super) fn sig_type(&self) -> SigType {
        self.sig_type
    }

    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let hash = hash_for(self.sig_type)?;
        self.verify_prehash(&hash.digest(msg), sig)
    }

    fn verify_prehash(&self, prehash: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let hash = hash_for(self.sig_type)?;
        // The scheme carries the DigestInfo prefix and insists on the digest length; the
        // verification also fails for s >= n or a signature not exactly as long as n.
        self.key
            .verify(hash.scheme(), prehash, sig)
            .map_err(|_| SignatureError::Invalid(self.sig_type))
    }
}

/// The hash a given RSA signature type uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RsaHash {
    Sha256,
    Sha384,
    Sha512,
}

impl RsaHash {
    fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(msg).to_vec(),
            Self::Sha384 => Sha384::digest(msg).to_vec(),
            Self::Sha512 => Sha512::digest(msg).to_vec(),
        }
    }
    fn scheme(self) -> Pkcs1v15Sign {
        match self {
            Self::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            Self::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            Self::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }
}

fn hash_for(sig_type: SigType) -> Result<RsaHash, SignatureError> {
    match sig_type {
        SigType::RsaSha2562048 => Ok(RsaHash::Sha256),
        SigType::RsaSha3843072 => Ok(RsaHash::Sha384),
        SigType::RsaSha5124096 => Ok(RsaHash::Sha512),
        other => Err(SignatureError::Unsupported(other)),
    }
}

/// Shared checks of the (n, e) entry points: an RSA type, and the type's fixed signature length.
fn key_for_explicit(
    sig_type: SigType,
    n: &[u8],
    e: &[u8],
    sig: &[u8],
) -> Result<RsaKey, SignatureError> {
    hash_for(sig_type)?;
    if sig.len() != sig_type.signature_len() {
        return Err(SignatureError::BadSignatureLength {
            sig_type,
            got: sig.len(),
            expected: sig_type.signature_len(),
        });
    }
    // DER INTEGERs (as in an X.509 SubjectPublicKeyInfo) carry a leading zero byte when the top
    // bit is set; the value is what matters, so leading zeros are dropped here.
    let strip = |v: &[u8]| -> Vec<u8> { v.iter().copied().skip_while(|b| *b == 0).collect() };
    RsaKey::new(sig_type, &strip(n), &strip(e))
}

/// Verify an RSA PKCS#1 v1.5 signature with an explicit modulus `n` and exponent `e` (both
/// big-endian, leading zero bytes allowed), hashing `msg` with the hash of `sig_type`
/// (4: SHA-256, 5: SHA-384, 6: SHA-512). For su3 files, whose signer certificate is X.509.
pub fn rsa_pkcs1v15_verify(
    sig_type: SigType,
    n: &[u8],
    e: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    key_for_explicit(sig_type, n, e, sig)?.verify(msg, sig)
}

/// As [`rsa_pkcs1v15_verify`], but with the message digest already computed (su3 content can be
/// large and is best hashed while streaming). `prehash` must be the full digest of `sig_type`'s
/// hash; any other length is an invalid signature.
pub fn rsa_pkcs1v15_verify_prehash(
    sig_type: SigType,
    n: &[u8],
    e: &[u8],
    prehash: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    key_for_explicit(sig_type, n, e, sig)?.verify_prehash(prehash, sig)
}

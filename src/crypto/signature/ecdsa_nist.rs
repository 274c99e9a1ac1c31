//! ECDSA over the NIST curves (signature types 1, 2, 3).
//!
//! I2P carries the public key as raw x||y and the signature as raw r||s, each coordinate or
//! scalar left-padded big-endian to the curve's field size (32, 48, 66 bytes). The hash is the
//! one named by the type (SHA-256, SHA-384, SHA-512), which is also the RustCrypto default for
//! each curve. High-S signatures are accepted: Java and OpenSSL accept them and I2P never asked
//! for low-S normalisation.

use super::SignatureError;
use crate::wire::keys::SigType;
use p256::ecdsa::signature::Verifier;
use std::fmt;

/// A checked ECDSA public key: a point on the named curve (never the identity, which has no
/// uncompressed encoding).
#[derive(Clone)]
pub enum EcdsaKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

impl EcdsaKey {
    /// `bytes` is x||y with the length of `sig_type`, already checked by the caller.
    pub(super) fn from_bytes(sig_type: SigType, bytes: &[u8]) -> Result<Self, SignatureError> {
        // SEC1 uncompressed encoding is 0x04 || x || y; the decoders check that both
        // coordinates are below the field prime and that the point satisfies the curve.
        let mut sec1 = Vec::with_capacity(bytes.len().saturating_add(1));
        sec1.push(0x04);
        sec1.extend_from_slice(bytes);
        let not_on_curve = |_| SignatureError::BadPublicKey {
            sig_type,
            why: "not a point on the curve",
        };
        match sig_type {
            SigType::EcdsaSha256P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map(Self::P256)
                .map_err(not_on_curve),
            SigType::EcdsaSha384P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map(Self::P384)
                .map_err(not_on_curve),
            SigType::EcdsaSha512P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map(Self::P521)
                .map_err(not_on_curve),
            other => Err(SignatureError::Unsupported(other)),
        }
    }

    pub(super) fn sig_type(&self) -> SigType {
        match self {
            Self::P256(_) => SigType::EcdsaSha256P256,
            Self::P384(_) => SigType::EcdsaSha384P384,
            Self::P521(_) => SigType::EcdsaSha512P521,
        }
    }

    /// `sig` is r||s with the length of the type, already checked by the caller.
    pub(super) fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let invalid = SignatureError::Invalid(self.sig_type());
        // `Signature::from_slice` rejects r or s equal to zero or not below the group order,
        // so out-of-range scalars end here as an invalid signature rather than a panic.
        let ok = match self {
            Self::P256(vk) => p256::ecdsa::Signature::from_slice(sig)
                .map(|s| vk.verify(msg, &s).is_ok())
                .unwrap_or(false),
            Self::P384(vk) => p384::ecdsa::Signature::from_slice(sig)
                .map(|s| vk.verify(msg, &s).is_ok())
                .unwrap_or(false),
            Self::P521(vk) => p521::ecdsa::Signature::from_slice(sig)
                .map(|s| vk.verify(msg, &s).is_ok())
                .unwrap_or(false),
        };
        if ok { Ok(()) } else { Err(invalid) }
    }

    /// The raw x||y form, for logs.
    fn raw_xy(&self) -> Vec<u8> {
        let point = match self {
            Self::P256(vk) => vk.to_encoded_point(false).as_bytes().to_vec(),
            Self::P384(vk) => vk.to_encoded_point(false).as_bytes().to_vec(),
            Self::P521(vk) => vk.to_encoded_point(false).as_bytes().to_vec(),
        };
        point.get(1..).map(<[u8]>::to_vec).unwrap_or_default()
    }
}

// Hand-written because p521's key type has no Debug; printing the public point is harmless.
impl fmt::Debug for EcdsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self.raw_xy().iter().map(|b| format!("{b:02x}")).collect();
        f.debug_struct("EcdsaKey")
            .field("sig_type", &self.sig_type())
            .field("xy", &hex)
            .finish()
    }
}

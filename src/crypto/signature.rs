//! Signature verification for every type a floodfill meets in the netDb, and Ed25519 signing.
//!
//! | type | scheme                  | implementation                                         |
//! |------|-------------------------|--------------------------------------------------------|
//! | 0    | DSA-SHA1, I2P's group   | `dsa` 0.6 with I2P's (p, q, g), SHA-1 ([`DsaSha1Key`])  |
//! | 1-3  | ECDSA P-256/384/521     | `p256`/`p384`/`p521` 0.13 ([`EcdsaKey`])               |
//! | 4-6  | RSA PKCS#1 v1.5, e=F4   | `rsa` 0.9 ([`RsaKey`], [`rsa_pkcs1v15_verify`])        |
//! | 7    | Ed25519                 | `ed25519-dalek` 2, cofactorless non-strict rule        |
//! | 8    | Ed25519ph               | Java I2P's or RFC 8032's construction (see `eddsa`)    |
//! | 11   | RedDSA (Red25519)       | same verification as type 7                            |
//! | 12-14| ML-DSA-44/65/87         | `ml-dsa` 0.1, pure, empty context ([`MlDsaKey`])       |
//!
//! The Ed25519 + ML-DSA hybrids (15-17) are known to the codec but not verified: proposal 169
//! marks them preliminary and does not define their signed message exactly, so their keys are
//! [`SignatureError::Unsupported`].
//!
//! Every input length is checked against the type before any arithmetic, and every failure is a
//! [`SignatureError`]; nothing here panics on untrusted bytes.

mod dsa_sha1;
mod ecdsa_nist;
mod eddsa;
mod ml_dsa;
mod rsa_pkcs1;
#[cfg(test)]
mod tests;

pub use dsa_sha1::DsaSha1Key;
pub use ecdsa_nist::EcdsaKey;
pub use eddsa::blind_public_key;
pub use ml_dsa::MlDsaKey;
#[cfg(test)]
pub(crate) use ml_dsa::testing::MlDsaTestKey;
pub use rsa_pkcs1::{RSA_NETDB_EXPONENT, RsaKey, rsa_pkcs1v15_verify, rsa_pkcs1v15_verify_prehash};

use crate::wire::keys::SigType;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("{sig_type:?} public key is malformed: {why}")]
    BadPublicKey {
        sig_type: SigType,
        why: &'static str,
    },
    #[error("{sig_type:?} signature has length {got}, expected {expected}")]
    BadSignatureLength {
        sig_type: SigType,
        got: usize,
        expected: usize,
    },
    /// The signature has the right length but does not verify. This includes signatures whose
    /// fields are out of range (DSA/ECDSA r or s equal to 0 or not below the group order,
    /// EdDSA S not below L, RSA s not below n): no signer produces those.
    #[error("{0:?} signature does not verify")]
    Invalid(SigType),
    #[error("signature type {0:?} is not supported for verification")]
    Unsupported(SigType),
}

/// A signing public key checked to be well-formed for its type.
#[derive(Clone, Debug)]
pub enum SigningPublicKey {
    /// EdDSA-SHA512-Ed25519 (type 7).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// DSA-SHA1 (type 0).
    Dsa(DsaSha1Key),
    /// ECDSA-SHA256-P256, -SHA384-P384, -SHA512-P521 (types 1, 2, 3).
    Ecdsa(EcdsaKey),
    /// RSA-SHA256-2048, -SHA384-3072, -SHA512-4096 (types 4, 5, 6).
    Rsa(RsaKey),
    /// EdDSA-SHA512-Ed25519ph (type 8).
    Ed25519ph(ed25519_dalek::VerifyingKey),
    /// RedDSA-SHA512-Ed25519 (type 11).
    RedDsa(ed25519_dalek::VerifyingKey),
    /// ML-DSA-44, -65, -87 (types 12, 13, 14).
    MlDsa(MlDsaKey),
}

impl SigningPublicKey {
    /// Build a verifier from the raw key bytes of a KeysAndCert / LeaseSet2 / offline block.
    pub fn from_bytes(sig_type: SigType, bytes: &[u8]) -> Result<Self, SignatureError> {
        if bytes.len() != sig_type.public_key_len() {
            return Err(SignatureError::BadPublicKey {
                sig_type,
                why: "wrong length",
            });
        }
        Ok(match sig_type {
            SigType::DsaSha1 => Self::Dsa(DsaSha1Key::from_bytes(bytes)?),
            SigType::EcdsaSha256P256 | SigType::EcdsaSha384P384 | SigType::EcdsaSha512P521 => {
                Self::Ecdsa(EcdsaKey::from_bytes(sig_type, bytes)?)
            }
            SigType::RsaSha2562048 | SigType::RsaSha3843072 | SigType::RsaSha5124096 => {
                Self::Rsa(RsaKey::from_netdb_bytes(sig_type, bytes)?)
            }
            SigType::EdDsaSha512Ed25519 => Self::Ed25519(eddsa::parse_key(sig_type, bytes)?),
            SigType::EdDsaSha512Ed25519ph => Self::Ed25519ph(eddsa::parse_key(sig_type, bytes)?),
            SigType::RedDsaSha512Ed25519 => Self::RedDsa(eddsa::parse_key(sig_type, bytes)?),
            SigType::MlDsa44 | SigType::MlDsa65 | SigType::MlDsa87 => {
                Self::MlDsa(MlDsaKey::from_bytes(sig_type, bytes)?)
            }
            SigType::MlDsa44EdDsaSha512Ed25519
            | SigType::MlDsa65EdDsaSha512Ed25519
            | SigType::MlDsa87EdDsaSha512Ed25519 => {
                return Err(SignatureError::Unsupported(sig_type));
            }
        })
    }

    pub fn sig_type(&self) -> SigType {
        match self {
            Self::Ed25519(_) => SigType::EdDsaSha512Ed25519,
            Self::Dsa(_) => SigType::DsaSha1,
            Self::Ecdsa(k) => k.sig_type(),
            Self::Rsa(k) => k.sig_type(),
            Self::Ed25519ph(_) => SigType::EdDsaSha512Ed25519ph,
            Self::RedDsa(_) => SigType::RedDsaSha512Ed25519,
            Self::MlDsa(k) => k.sig_type(),
        }
    }

    /// Verify `sig` over `msg`. The signature length must match the type exactly.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let sig_type = self.sig_type();
        if sig.len() != sig_type.signature_len() {
            return Err(SignatureError::BadSignatureLength {
                sig_type,
                got: sig.len(),
                expected: sig_type.signature_len(),
            });
        }
        match self {
            Self::Ed25519(vk) | Self::RedDsa(vk) => eddsa::verify_pure(sig_type, vk, msg, sig),
            Self::Ed25519ph(vk) => eddsa::verify_ph(vk, msg, sig),
            Self::Dsa(k) => k.verify(msg, sig),
            Self::Ecdsa(k) => k.verify(msg, sig),
            Self::Rsa(k) => k.verify(msg, sig),
            Self::MlDsa(k) => k.verify(msg, sig),
        }
    }
}

/// A private signing key. floodgate only signs with EdDSA-SHA512-Ed25519 (type 7).
pub struct SigningPrivateKey(ed25519_dalek::SigningKey);

impl SigningPrivateKey {
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(bytes))
    }
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    pub fn sig_type(&self) -> SigType {
        SigType::EdDsaSha512Ed25519
    }
    pub fn public_bytes(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
    pub fn public(&self) -> SigningPublicKey {
        SigningPublicKey::Ed25519(self.0.verifying_key())
    }
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(msg).to_bytes()
    }
}

//! Signature verification for every type a floodfill meets in the netDb, and Ed25519 signing.

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
    #[error("{0:?} signature does not verify")]
    Invalid(SigType),
    #[error("signature type {0:?} is not supported for verification")]
    Unsupported(SigType),
}

/// A signing public key checked to be well-formed for its type.
#[derive(Clone, Debug)]
pub enum SigningPublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
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
        match sig_type {
            SigType::EdDsaSha512Ed25519 => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| SignatureError::BadPublicKey {
                    sig_type,
                    why: "wrong length",
                })?;
                let vk = ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| {
                    SignatureError::BadPublicKey {
                        sig_type,
                        why: "not a curve point",
                    }
                })?;
                Ok(Self::Ed25519(vk))
            }
            other => Err(SignatureError::Unsupported(other)),
        }
    }

    pub fn sig_type(&self) -> SigType {
        match self {
            Self::Ed25519(_) => SigType::EdDsaSha512Ed25519,
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
            Self::Ed25519(vk) => {
                let s = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| SignatureError::Invalid(sig_type))?;
                vk.verify_strict(msg, &s)
                    .map_err(|_| SignatureError::Invalid(sig_type))
            }
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

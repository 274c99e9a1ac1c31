//! Errors of signature verification for the signed netDb structures.

use crate::crypto::{SignatureError, SigningPublicKey};
use crate::wire::keys::SigType;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The structure's own signature (or the key meant to check it) is bad.
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    /// The offline-signature block (transient key authorization) does not verify.
    #[error("offline signature block: {0}")]
    OfflineSignature(SignatureError),
    /// The transient key's authorization has expired.
    #[error("offline signature expired at {expires} s, now {now} s")]
    OfflineExpired { expires: u32, now: u64 },
}

impl VerifyError {
    /// A short stable label for metrics (`reason` label values).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Signature(SignatureError::Invalid(_)) => "bad_signature",
            Self::Signature(SignatureError::Unsupported(_)) => "unsupported_sig_type",
            Self::Signature(_) => "bad_key",
            Self::OfflineSignature(_) => "bad_offline_signature",
            Self::OfflineExpired { .. } => "offline_expired",
        }
    }
}

/// Parsing or verification failed: for callers that take bytes to a verified value in one go
/// (e.g. loading stored router.info files).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseVerifyError {
    #[error("parse: {0}")]
    Wire(#[from] crate::wire::WireError),
    #[error("verify: {0}")]
    Verify(#[from] VerifyError),
}

/// Check `sig` over `msg` with a raw public key of `sig_type`.
pub(crate) fn check(
    sig_type: SigType,
    key: &[u8],
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    SigningPublicKey::from_bytes(sig_type, key)?.verify(msg, sig)
}

/// The message LS2, MetaLS2 and encrypted LS2 signatures cover: the DatabaseStore type byte
/// followed by the structure up to the signature (common-structures, LeaseSet2 notes).
pub(crate) fn with_store_type(store_type: u8, signed: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(signed.len() + 1);
    m.push(store_type);
    m.extend_from_slice(signed);
    m
}

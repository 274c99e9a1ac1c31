//! ML-DSA-44, -65 and -87 (FIPS 204): signature types 12, 13 and 14 of proposal 169.
//!
//! # What is signed
//! Proposal 169 ("Signing Variants") uses pure ML-DSA, not HashML-DSA, with no context:
//! `ML-DSA.Verify(pk, M, sigma, ctx = "")`, so the message is encoded internally as
//! `0x00 || 0x00 || M` (FIPS 204 algorithm 3, step 5). i2pd 2.58 does the same: OpenSSL's
//! ML-DSA with message encoding on and no context string. `M` is whatever the structure signs
//! with any other type (for a LeaseSet2 the store type byte followed by its bytes).
//!
//! Signers use the hedged (randomized) variant; verification is the same for the hedged and the
//! deterministic one, so nothing here depends on it.
//!
//! # Keys and signatures
//! Raw FIPS 204 encodings: `pkEncode` (1312, 1952, 2592 bytes) and `sigEncode` (2420, 3309,
//! 4627 bytes). Every byte string of the right length decodes as a public key (t1 packs 10-bit
//! values, all in range), so only the length is checked for keys. A signature whose hint
//! encoding is not canonical or whose z is out of range decodes to nothing (FIPS 204 algorithm
//! 27 and the norm check of algorithm 8): no signer produces those, so they are reported as
//! [`SignatureError::Invalid`] like any other bad signature.
//!
//! The crate is `ml-dsa` 0.1 (RustCrypto): 0.0.4 accepts signatures with repeated hint indices
//! (CVE-2026-24850) and miscomputes UseHint when r0 = 0 (GHSA-h37v-hp6w-2pp8).

use super::SignatureError;
use crate::wire::keys::SigType;
use ml_dsa::{
    EncodedVerifyingKey, MlDsa44, MlDsa65, MlDsa87, MlDsaParams, Signature, VerifyingKey,
};

/// The empty context string of proposal 169.
const CONTEXT: &[u8] = &[];

/// An ML-DSA verifying key of one of the three parameter sets.
#[derive(Clone, Debug)]
pub enum MlDsaKey {
    MlDsa44(VerifyingKey<MlDsa44>),
    MlDsa65(VerifyingKey<MlDsa65>),
    MlDsa87(VerifyingKey<MlDsa87>),
}

fn decode_key<P: MlDsaParams>(
    sig_type: SigType,
    bytes: &[u8],
) -> Result<VerifyingKey<P>, SignatureError> {
    let enc =
        EncodedVerifyingKey::<P>::try_from(bytes).map_err(|_| SignatureError::BadPublicKey {
            sig_type,
            why: "wrong length",
        })?;
    Ok(VerifyingKey::decode(&enc))
}

fn verify_with<P: MlDsaParams>(
    sig_type: SigType,
    vk: &VerifyingKey<P>,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    if sig.len() != sig_type.signature_len() {
        return Err(SignatureError::BadSignatureLength {
            sig_type,
            got: sig.len(),
            expected: sig_type.signature_len(),
        });
    }
    // The length is right, so a decoding failure is a malformed hint or an out-of-range z.
    let sigma = Signature::<P>::try_from(sig).map_err(|_| SignatureError::Invalid(sig_type))?;
    if vk.verify_with_context(msg, CONTEXT, &sigma) {
        Ok(())
    } else {
        Err(SignatureError::Invalid(sig_type))
    }
}

impl MlDsaKey {
    /// Decode a raw FIPS 204 public key of type 12, 13 or 14.
    pub fn from_bytes(sig_type: SigType, bytes: &[u8]) -> Result<Self, SignatureError> {
        Ok(match sig_type {
            SigType::MlDsa44 => Self::MlDsa44(decode_key(sig_type, bytes)?),
            SigType::MlDsa65 => Self::MlDsa65(decode_key(sig_type, bytes)?),
            SigType::MlDsa87 => Self::MlDsa87(decode_key(sig_type, bytes)?),
            other => return Err(SignatureError::Unsupported(other)),
        })
    }

    pub fn sig_type(&self) -> SigType {
        match self {
            Self::MlDsa44(_) => SigType::MlDsa44,
            Self::MlDsa65(_) => SigType::MlDsa65,
            Self::MlDsa87(_) => SigType::MlDsa87,
        }
    }

    /// Pure ML-DSA verification with the empty context (see the module documentation).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        let t = self.sig_type();
        match self {
            Self::MlDsa44(vk) => verify_with(t, vk, msg, sig),
            Self::MlDsa65(vk) => verify_with(t, vk, msg, sig),
            Self::MlDsa87(vk) => verify_with(t, vk, msg, sig),
        }
    }
}

/// ML-DSA signing for tests (floodgate itself only signs with Ed25519): a key pair from a
/// 32-byte seed (FIPS 204 `ML-DSA.KeyGen_internal`), signing as proposal 169 specifies.
#[cfg(test)]
pub(crate) mod testing {
    use ml_dsa::{ExpandedSigningKey, MlDsaParams, SigningKey};

    pub(crate) struct MlDsaTestKey<P: MlDsaParams>(SigningKey<P>);

    impl<P: MlDsaParams> MlDsaTestKey<P> {
        pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
            Self(SigningKey::from_seed(&seed.into()))
        }
        pub(crate) fn public_bytes(&self) -> Vec<u8> {
            let sk: &ExpandedSigningKey<P> = self.0.expanded_key();
            sk.verifying_key().encode().to_vec()
        }
        /// Hedged ML-DSA.Sign with `rnd` as its randomness and an empty context, written out as
        /// `Sign_internal(sk, 0x00 || 0x00 || msg, rnd)` (FIPS 204 algorithm 2) so that the
        /// test states the message encoding independently of the verifier.
        pub(crate) fn sign(&self, msg: &[u8], rnd: [u8; 32]) -> Vec<u8> {
            let sk: &ExpandedSigningKey<P> = self.0.expanded_key();
            sk.sign_internal(&[&[0x00, 0x00], msg], &rnd.into())
                .encode()
                .to_vec()
        }
    }
}

//! The Ed25519 family: EdDSA-SHA512-Ed25519 (7), EdDSA-SHA512-Ed25519ph (8) and
//! RedDSA-SHA512-Ed25519 (11).
//!
//! # Verification rule (types 7 and 11)
//! Cofactorless: accept iff S < L and encode([S]B - [k]A) == R, k = SHA-512(R || A || M) mod L.
//! That is exactly what Java I2P's `EdDSAEngine` computes and what OpenSSL (i2pd's verifier)
//! accepts; in particular neither rejects small-order ("weak") public keys or R values.
//! `ed25519_dalek::VerifyingKey::verify_strict` does reject them, so using it would refuse
//! entries the rest of the network accepts; `verify` implements the rule above (it also
//! requires S < L, as Java does since it adopted RFC 8032's check).
//!
//! # RedDSA (type 11)
//! Deployed Red25519 differs from Ed25519 only in signing: the nonce is SHA-512(T || A || M)
//! with 80 random bytes T, and the private key is a uniform scalar mod L instead of a clamped
//! hash. Verification is plain Ed25519 (Java `RedDSAEngine` inherits `EdDSAEngine`'s verify; i2pd
//! `typedef EDDSA25519Verifier RedDSA25519Verifier`; spec encryptedleaseset.rst "Verification:
//! Same as for Ed25519"). The separate red25519.rst document describes a personalised,
//! length-prefixed hash ("I2P_Red25519H(x)"); its test vectors verify only under that hash and
//! are rejected by both deployed routers, so floodgate follows the deployed rule.
//!
//! # Ed25519ph (type 8)
//! Never used in RouterIdentities, Destinations or published su3 files, and the two router
//! implementations disagree on it: Java I2P (which defined the type in 0.9.25) signs
//! PureEd25519(SHA-512(M)) ("NonewithEdDSA" over the digest), while RFC 8032 Ed25519ph adds the
//! dom2 prefix. floodgate accepts a type-8 signature if it is valid under either construction:
//! both need the private key, and the dom2 prefix keeps the two hash inputs disjoint.

use super::SignatureError;
use crate::wire::keys::SigType;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha512};

/// RFC 8032 dom2(phflag = 1, context = empty).
const DOM2_PH_EMPTY: &[u8] = b"SigEd25519 no Ed25519 collisions\x01\x00";

/// Decode a 32-byte little-endian Ed25519 point.
pub(super) fn parse_key(sig_type: SigType, bytes: &[u8]) -> Result<VerifyingKey, SignatureError> {
    let bad = |why| SignatureError::BadPublicKey { sig_type, why };
    let arr: [u8; 32] = bytes.try_into().map_err(|_| bad("wrong length"))?;
    VerifyingKey::from_bytes(&arr).map_err(|_| bad("not a curve point"))
}

fn parse_sig(sig_type: SigType, sig: &[u8]) -> Result<Signature, SignatureError> {
    Signature::from_slice(sig).map_err(|_| SignatureError::BadSignatureLength {
        sig_type,
        got: sig.len(),
        expected: 64,
    })
}

/// Types 7 and 11: cofactorless PureEd25519 (see the module documentation).
pub(super) fn verify_pure(
    sig_type: SigType,
    vk: &VerifyingKey,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    let s = parse_sig(sig_type, sig)?;
    vk.verify(msg, &s)
        .map_err(|_| SignatureError::Invalid(sig_type))
}

/// Type 8: valid under Java I2P's construction or under RFC 8032 Ed25519ph.
pub(super) fn verify_ph(vk: &VerifyingKey, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
    let sig_type = SigType::EdDsaSha512Ed25519ph;
    let s = parse_sig(sig_type, sig)?;
    let prehash = Sha512::digest(msg);
    if vk.verify(&prehash, &s).is_ok() || rfc8032_ph_holds(vk, &prehash, sig) {
        Ok(())
    } else {
        Err(SignatureError::Invalid(sig_type))
    }
}

/// RFC 8032 §5.1.7 for Ed25519ph with an empty context, with the same cofactorless equation and
/// S < L rule as `verify_pure`. Written out because ed25519-dalek's prehash API needs a crate
/// feature this crate does not enable.
fn rfc8032_ph_holds(vk: &VerifyingKey, prehash: &[u8], sig: &[u8]) -> bool {
    let (Some(r_bytes), Some(s_bytes)) = (sig.get(..32), sig.get(32..64)) else {
        return false;
    };
    let Ok(s_arr) = <[u8; 32]>::try_from(s_bytes) else {
        return false;
    };
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_arr)) else {
        return false;
    };
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(DOM2_PH_EMPTY)
            .chain_update(r_bytes)
            .chain_update(vk.as_bytes())
            .chain_update(prehash),
    );
    let minus_a = -vk.to_edwards();
    let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &minus_a, &s);
    r_check.compress().as_bytes() == r_bytes
}

/// RANDOMIZE_PUBLIC / BLIND_PUBKEY of red25519.rst and encryptedleaseset.rst: A' = A + [alpha]B.
///
/// `unblinded` is a type 7 or 11 signing public key (the same encoding), `alpha` the 32-byte
/// little-endian blinding scalar (reduced mod L here, which does not change [alpha]B). Deriving
/// alpha from the destination and date (GENERATE_ALPHA) belongs to the encrypted-LeaseSet code.
pub fn blind_public_key(unblinded: &[u8], alpha: &[u8; 32]) -> Result<[u8; 32], SignatureError> {
    let bad = |why| SignatureError::BadPublicKey {
        sig_type: SigType::RedDsaSha512Ed25519,
        why,
    };
    let arr: [u8; 32] = unblinded.try_into().map_err(|_| bad("wrong length"))?;
    let a = CompressedEdwardsY(arr)
        .decompress()
        .ok_or_else(|| bad("not a curve point"))?;
    let alpha = Scalar::from_bytes_mod_order(*alpha);
    Ok((a + EdwardsPoint::mul_base(&alpha)).compress().to_bytes())
}

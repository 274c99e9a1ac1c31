//! KeysAndCert (common-structures "KeysAndCert"), used as RouterIdentity and Destination.
//!
//! Layout: a 384-byte key area, then a Certificate. Without a KEY certificate the area is a
//! 256-byte ElGamal key followed by a 128-byte DSA-SHA1 key. With one, the key area is read as
//! a 256-byte crypto field and a 128-byte signing field: the crypto key is aligned at the start
//! of its field, a signing key shorter than 128 bytes at the end of its field, and the bytes in
//! between are padding. A signing key longer than 128 bytes (P521, RSA) fills the signing field
//! and continues in the certificate's excess key data.

use super::certificate::{Certificate, KeyCertificate};
use super::keys::{CryptoType, SigType};
use super::{Reader, WireError};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Size of the key area that precedes the certificate.
pub const KEY_AREA_LEN: usize = 384;
const CRYPTO_FIELD_LEN: usize = 256;
const SIGNING_FIELD_LEN: usize = 128;

/// Alias used where the structure is a router's identity.
pub type RouterIdentity = KeysAndCert;
/// Alias used where the structure is a client destination.
pub type Destination = KeysAndCert;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysAndCert {
    area: Box<[u8; KEY_AREA_LEN]>,
    cert: Certificate,
    sig_type: SigType,
    crypto_type: CryptoType,
    crypto_len: usize,
    /// SHA-256 of the serialized structure: the router hash / destination hash. Cached because
    /// the netDb keys everything by it.
    hash: [u8; 32],
}

/// How a certificate lays out the key area; computed once and checked against the cert.
struct Layout {
    sig_type: SigType,
    crypto_type: CryptoType,
    crypto_len: usize,
}

fn layout(cert: &Certificate, cert_off: usize) -> Result<Layout, WireError> {
    let Certificate::Key(k) = cert else {
        // Every non-KEY certificate keeps the original ElGamal + DSA-SHA1 layout.
        return Ok(Layout {
            sig_type: SigType::DsaSha1,
            crypto_type: CryptoType::ElGamal2048,
            crypto_len: CRYPTO_FIELD_LEN,
        });
    };
    // Offsets of the two type fields inside the certificate: type(1) + length(2).
    let sig_off = cert_off + 3;
    let crypto_off = cert_off + 5;
    let sig_type = k.sig_type().ok_or_else(|| {
        WireError::unsupported(
            "key certificate signing key type",
            sig_off,
            format!("unknown signature type {}", k.sig_type_code()),
        )
    })?;
    let crypto_type = k.crypto_type();
    let crypto_len = crypto_type.public_key_len().ok_or_else(|| {
        WireError::unsupported(
            "key certificate crypto key type",
            crypto_off,
            format!(
                "crypto type {} is not defined for identities",
                k.crypto_type_code()
            ),
        )
    })?;
    // Every defined crypto key fits its 256-byte field; excess crypto data would need a
    // boundary rule the spec has not defined yet.
    if crypto_len > CRYPTO_FIELD_LEN {
        return Err(WireError::unsupported(
            "key certificate crypto key type",
            crypto_off,
            "crypto key longer than 256 bytes",
        ));
    }
    let excess_len = sig_type.public_key_len().saturating_sub(SIGNING_FIELD_LEN);
    if k.excess().len() != excess_len {
        // The spec asks to prohibit excess data in key certificates.
        return Err(WireError::invalid(
            "key certificate excess key data",
            cert_off + 7,
            format!(
                "{} bytes, {:?} needs {excess_len}",
                k.excess().len(),
                sig_type
            ),
        ));
    }
    Ok(Layout {
        sig_type,
        crypto_type,
        crypto_len,
    })
}

impl KeysAndCert {
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let area_bytes = r.array::<KEY_AREA_LEN>("keys and cert key area")?;
        let cert_off = r.offset();
        let cert = Certificate::read(r)?;
        let l = layout(&cert, cert_off)?;
        Ok(Self::assemble(Box::new(area_bytes), cert, l))
    }

    /// Parse exactly one KeysAndCert from `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let k = Self::read(&mut r)?;
        r.finish("keys and cert")?;
        Ok(k)
    }

    fn assemble(area: Box<[u8; KEY_AREA_LEN]>, cert: Certificate, l: Layout) -> Self {
        let mut s = Self {
            area,
            cert,
            sig_type: l.sig_type,
            crypto_type: l.crypto_type,
            crypto_len: l.crypto_len,
            hash: [0; 32],
        };
        s.hash = Sha256::digest(s.to_bytes()).into();
        s
    }

    /// Build a KeysAndCert from raw keys. Padding is filled by repeating `padding_block`, as
    /// the spec recommends since 0.9.57 (proposal 161): 32 random bytes give the hash all the
    /// entropy it needs and the repetition lets the structure compress in DatabaseStore, NTCP2
    /// and SSU2. A KEY certificate is used unless the types are ElGamal + DSA-SHA1, for which
    /// the spec wants the canonical NULL certificate.
    pub fn from_keys(
        crypto_type: CryptoType,
        crypto_key: &[u8],
        sig_type: SigType,
        signing_key: &[u8],
        padding_block: [u8; 32],
    ) -> Result<Self, KeysAndCertBuildError> {
        let crypto_len = crypto_type
            .public_key_len()
            .filter(|&l| l <= CRYPTO_FIELD_LEN)
            .ok_or(KeysAndCertBuildError::UnsupportedCryptoType(crypto_type))?;
        if crypto_key.len() != crypto_len {
            return Err(KeysAndCertBuildError::CryptoKeyLength {
                got: crypto_key.len(),
                expected: crypto_len,
            });
        }
        let sig_len = sig_type.public_key_len();
        if signing_key.len() != sig_len {
            return Err(KeysAndCertBuildError::SigningKeyLength {
                got: signing_key.len(),
                expected: sig_len,
            });
        }
        Ok(Self::build(
            crypto_type,
            crypto_key,
            sig_type,
            signing_key,
            padding_block,
        ))
    }

    /// Lay out checked keys: `crypto_key` has its type's length (at most 256) and
    /// `signing_key` has its type's length.
    fn build(
        crypto_type: CryptoType,
        crypto_key: &[u8],
        sig_type: SigType,
        signing_key: &[u8],
        padding_block: [u8; 32],
    ) -> Self {
        let crypto_len = crypto_key.len();
        let sig_len = signing_key.len();
        let mut area = Box::new([0u8; KEY_AREA_LEN]);
        area[..crypto_len].copy_from_slice(crypto_key);
        let in_field = sig_len.min(SIGNING_FIELD_LEN);
        let pad_end = KEY_AREA_LEN - in_field;
        for (i, b) in area[crypto_len..pad_end].iter_mut().enumerate() {
            *b = padding_block[i % 32];
        }
        area[pad_end..].copy_from_slice(&signing_key[..in_field]);
        let excess = signing_key[in_field..].to_vec();
        let cert = if crypto_type == CryptoType::ElGamal2048 && sig_type == SigType::DsaSha1 {
            Certificate::Null
        } else {
            Certificate::Key(KeyCertificate::new(sig_type, crypto_type, excess))
        };
        Self::assemble(
            area,
            cert,
            Layout {
                sig_type,
                crypto_type,
                crypto_len,
            },
        )
    }

    /// Our own router identity: X25519 encryption key (crypto type 4) and Ed25519 signing key
    /// (sig type 7), the combination the spec recommends for routers since 0.9.48.
    pub fn router_identity_x25519_ed25519(
        x25519_public: [u8; 32],
        ed25519_public: [u8; 32],
        padding_block: [u8; 32],
    ) -> Self {
        Self::build(
            CryptoType::X25519,
            &x25519_public,
            SigType::EdDsaSha512Ed25519,
            &ed25519_public,
            padding_block,
        )
    }

    pub fn sig_type(&self) -> SigType {
        self.sig_type
    }
    pub fn crypto_type(&self) -> CryptoType {
        self.crypto_type
    }
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }
    /// The 384 bytes before the certificate, exactly as on the wire.
    pub fn key_area(&self) -> &[u8; KEY_AREA_LEN] {
        &self.area
    }
    /// The encryption public key (start of the 256-byte crypto field).
    pub fn encryption_public_key(&self) -> &[u8] {
        &self.area[..self.crypto_len]
    }
    /// The signing public key, assembled from the key area and, for keys longer than 128
    /// bytes, the certificate's excess data (borrowed when no assembly is needed).
    pub fn signing_public_key(&self) -> Cow<'_, [u8]> {
        let sig_len = self.sig_type.public_key_len();
        if sig_len <= SIGNING_FIELD_LEN {
            Cow::Borrowed(&self.area[KEY_AREA_LEN - sig_len..])
        } else {
            let mut v = Vec::with_capacity(sig_len);
            v.extend_from_slice(&self.area[KEY_AREA_LEN - SIGNING_FIELD_LEN..]);
            v.extend_from_slice(cert_excess(&self.cert));
            Cow::Owned(v)
        }
    }
    /// The padding between the crypto key and the signing key.
    pub fn padding(&self) -> &[u8] {
        let in_field = self.sig_type.public_key_len().min(SIGNING_FIELD_LEN);
        &self.area[self.crypto_len..KEY_AREA_LEN - in_field]
    }
    /// SHA-256 of the serialized structure (router hash / destination hash, the netDb key).
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }
    /// Serialized length: 384 + certificate.
    pub fn len(&self) -> usize {
        KEY_AREA_LEN + self.cert.len()
    }
    /// Never true (at least 387 bytes); present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.area[..]);
        self.cert.write(out);
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.write(&mut v);
        v
    }
}

fn cert_excess(cert: &Certificate) -> &[u8] {
    match cert {
        Certificate::Key(k) => k.excess(),
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysAndCertBuildError {
    #[error("crypto type {0:?} cannot be used in an identity")]
    UnsupportedCryptoType(CryptoType),
    #[error("crypto key has {got} bytes, expected {expected}")]
    CryptoKeyLength { got: usize, expected: usize },
    #[error("signing key has {got} bytes, expected {expected}")]
    SigningKeyLength { got: usize, expected: usize },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireErrorKind;

    fn block(b: u8) -> [u8; 32] {
        std::array::from_fn(|i| b.wrapping_add(i as u8))
    }

    #[test]
    fn router_identity_layout_matches_spec() {
        let x = [0x11; 32];
        let ed = [0x22; 32];
        let pad = block(0x40);
        let k = KeysAndCert::router_identity_x25519_ed25519(x, ed, pad);
        let bytes = k.to_bytes();
        assert_eq!(bytes.len(), 391);
        assert_eq!(&bytes[..32], &x);
        // 10 copies of the block: 224 bytes of the crypto field + 96 of the signing field.
        for i in 0..10 {
            assert_eq!(&bytes[32 + 32 * i..64 + 32 * i], &pad);
        }
        assert_eq!(&bytes[352..384], &ed);
        assert_eq!(&bytes[384..], &[5, 0, 4, 0, 7, 0, 4]);
        assert_eq!(k.sig_type(), SigType::EdDsaSha512Ed25519);
        assert_eq!(k.crypto_type(), CryptoType::X25519);
        assert_eq!(k.encryption_public_key(), &x);
        assert_eq!(&*k.signing_public_key(), &ed);
        assert_eq!(k.padding().len(), 320);
        let expect: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(k.hash(), expect);
        let parsed = KeysAndCert::parse(&bytes).unwrap();
        assert_eq!(parsed, k);
    }

    #[test]
    fn null_cert_is_elgamal_dsa() {
        let mut bytes = vec![0xAA; 256];
        bytes.extend([0xBB; 128]);
        bytes.extend([0, 0, 0]);
        let k = KeysAndCert::parse(&bytes).unwrap();
        assert_eq!(k.sig_type(), SigType::DsaSha1);
        assert_eq!(k.crypto_type(), CryptoType::ElGamal2048);
        assert_eq!(k.encryption_public_key(), &[0xAA; 256][..]);
        assert_eq!(&*k.signing_public_key(), &[0xBB; 128][..]);
        assert!(k.padding().is_empty());
        assert_eq!(k.to_bytes(), bytes);
        let built = KeysAndCert::from_keys(
            CryptoType::ElGamal2048,
            &[0xAA; 256],
            SigType::DsaSha1,
            &[0xBB; 128],
            [0; 32],
        )
        .unwrap();
        assert_eq!(built, k);
    }

    #[test]
    fn p256_is_right_aligned_in_signing_field() {
        let sig: Vec<u8> = (0..64).collect();
        let k = KeysAndCert::from_keys(
            CryptoType::ElGamal2048,
            &[1; 256],
            SigType::EcdsaSha256P256,
            &sig,
            block(9),
        )
        .unwrap();
        let bytes = k.to_bytes();
        assert_eq!(&bytes[320..384], &sig[..]);
        assert_eq!(&bytes[256..320], &[block(9), block(9)].concat()[..]);
        assert_eq!(k.padding().len(), 64);
        assert_eq!(KeysAndCert::parse(&bytes).unwrap(), k);
    }

    #[test]
    fn p521_takes_excess_from_certificate() {
        let sig: Vec<u8> = (0..132).map(|i| i as u8).collect();
        let k = KeysAndCert::from_keys(
            CryptoType::ElGamal2048,
            &[1; 256],
            SigType::EcdsaSha512P521,
            &sig,
            [0; 32],
        )
        .unwrap();
        let bytes = k.to_bytes();
        assert_eq!(bytes.len(), 384 + 3 + 4 + 4);
        assert_eq!(&bytes[256..384], &sig[..128]);
        assert_eq!(&bytes[384..391], &[5, 0, 8, 0, 3, 0, 0]);
        assert_eq!(&bytes[391..], &sig[128..]);
        let parsed = KeysAndCert::parse(&bytes).unwrap();
        assert_eq!(&*parsed.signing_public_key(), &sig[..]);
        assert_eq!(parsed.to_bytes(), bytes);
        assert!(parsed.padding().is_empty());
    }

    #[test]
    fn rsa4096_excess() {
        let sig: Vec<u8> = (0..512).map(|i| (i * 7) as u8).collect();
        let k = KeysAndCert::from_keys(
            CryptoType::ElGamal2048,
            &[1; 256],
            SigType::RsaSha5124096,
            &sig,
            [0; 32],
        )
        .unwrap();
        let parsed = KeysAndCert::parse(&k.to_bytes()).unwrap();
        assert_eq!(&*parsed.signing_public_key(), &sig[..]);
        assert_eq!(parsed.certificate().len(), 3 + 4 + 384);
    }

    #[test]
    fn rejects_wrong_excess_and_unknown_types() {
        let mut bytes = vec![0; 384];
        // Ed25519 needs no excess, but the cert carries one byte.
        bytes.extend([5, 0, 5, 0, 7, 0, 4, 0xEE]);
        let e = KeysAndCert::parse(&bytes).unwrap_err();
        assert_eq!((e.what, e.offset), ("key certificate excess key data", 391));
        // P521 needs 4 bytes of excess, cert has none.
        let mut bytes = vec![0; 384];
        bytes.extend([5, 0, 4, 0, 3, 0, 0]);
        let e = KeysAndCert::parse(&bytes).unwrap_err();
        assert_eq!(e.what, "key certificate excess key data");
        // Unknown signing type.
        let mut bytes = vec![0; 384];
        bytes.extend([5, 0, 4, 0, 99, 0, 4]);
        let e = KeysAndCert::parse(&bytes).unwrap_err();
        assert_eq!(
            (e.what, e.offset),
            ("key certificate signing key type", 387)
        );
        assert!(matches!(e.kind, WireErrorKind::Unsupported(_)));
        // Hybrid crypto types are for leasesets only.
        let mut bytes = vec![0; 384];
        bytes.extend([5, 0, 4, 0, 7, 0, 5]);
        let e = KeysAndCert::parse(&bytes).unwrap_err();
        assert_eq!((e.what, e.offset), ("key certificate crypto key type", 389));
        // Truncated key area.
        let e = KeysAndCert::parse(&[0; 100]).unwrap_err();
        assert_eq!((e.what, e.offset), ("keys and cert key area", 0));
        assert_eq!(
            e.kind,
            WireErrorKind::Truncated {
                need: 384,
                have: 100
            }
        );
    }

    #[test]
    fn from_keys_checks_lengths() {
        assert_eq!(
            KeysAndCert::from_keys(
                CryptoType::X25519,
                &[0; 31],
                SigType::EdDsaSha512Ed25519,
                &[0; 32],
                [0; 32]
            ),
            Err(KeysAndCertBuildError::CryptoKeyLength {
                got: 31,
                expected: 32
            })
        );
        assert_eq!(
            KeysAndCert::from_keys(
                CryptoType::X25519,
                &[0; 32],
                SigType::EdDsaSha512Ed25519,
                &[0; 33],
                [0; 32]
            ),
            Err(KeysAndCertBuildError::SigningKeyLength {
                got: 33,
                expected: 32
            })
        );
    }
}

//! KeysAndCert (common-structures "KeysAndCert"), used as RouterIdentity and Destination.
//!
//! Layout: a 384-byte key area, then a Certificate. Without a KEY certificate the area is a
//! 256-byte ElGamal key followed by a 128-byte DSA-SHA1 key. With one, the key area is read as
//! a 256-byte crypto field and a 128-byte signing field: the crypto key is aligned at the start
//! of its field, a signing key shorter than 128 bytes at the end of its field, and the bytes in
//! between are padding. A signing key longer than 128 bytes (P521, RSA) fills the signing field
//! and continues in the certificate's excess key data.
//!
//! The ML-DSA types of proposal 169 (12-17) are laid out differently: the signing key starts
//! right after the crypto key, fills the rest of the key area without padding and continues in
//! the excess data. Destinations use crypto type NONE (255, no crypto key: "the entire 384-byte
//! main section is for the signing key"), router identities X25519 (the 352 bytes after the
//! X25519 key). No other crypto type is defined with them, and NONE with no other signing type.

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
    /// Offset in the key area where the signing key (or its first part) starts.
    sig_start: usize,
    /// SHA-256 of the serialized structure: the router hash / destination hash. Cached because
    /// the netDb keys everything by it.
    hash: [u8; 32],
}

/// How a certificate lays out the key area; computed once and checked against the cert.
struct Layout {
    sig_type: SigType,
    crypto_type: CryptoType,
    crypto_len: usize,
    sig_start: usize,
}

/// Where the signing key starts in the key area, given a crypto key of `crypto_len` bytes at its
/// start (see the module documentation), or why the combination has no layout. The signing key
/// always runs to the end of the area; what does not fit is excess data in the certificate.
fn signing_key_start(
    sig_type: SigType,
    crypto_type: CryptoType,
    crypto_len: usize,
) -> Result<usize, &'static str> {
    if sig_type.is_ml_dsa() {
        match crypto_type {
            CryptoType::None | CryptoType::X25519 => Ok(crypto_len),
            _ => Err("ML-DSA signing keys are defined with crypto type NONE (255) or X25519 only"),
        }
    } else if crypto_type == CryptoType::None {
        Err("crypto type NONE (255) is defined with ML-DSA signing keys only")
    } else {
        Ok(KEY_AREA_LEN - sig_type.public_key_len().min(SIGNING_FIELD_LEN))
    }
}

fn layout(cert: &Certificate, cert_off: usize) -> Result<Layout, WireError> {
    let Certificate::Key(k) = cert else {
        // Every non-KEY certificate keeps the original ElGamal + DSA-SHA1 layout.
        return Ok(Layout {
            sig_type: SigType::DsaSha1,
            crypto_type: CryptoType::ElGamal2048,
            crypto_len: CRYPTO_FIELD_LEN,
            sig_start: CRYPTO_FIELD_LEN,
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
    let sig_start = signing_key_start(sig_type, crypto_type, crypto_len).map_err(|why| {
        WireError::unsupported("key certificate crypto key type", crypto_off, why)
    })?;
    let excess_len = sig_type
        .public_key_len()
        .saturating_sub(KEY_AREA_LEN - sig_start);
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
        sig_start,
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
            sig_start: l.sig_start,
            hash: [0; 32],
        };
        s.hash = Sha256::digest(s.to_bytes()).into();
        s
    }

    /// Build a KeysAndCert from raw keys. Padding is filled by repeating `padding_block`, as
    /// the spec recommends since 0.9.57 (proposal 161): 32 random bytes give the hash all the
    /// entropy it needs and the repetition lets the structure compress in DatabaseStore, NTCP2
    /// and SSU2 (ML-DSA layouts have no padding). A KEY certificate is used unless the types are
    /// ElGamal + DSA-SHA1, for which the spec wants the canonical NULL certificate.
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
        let sig_start = signing_key_start(sig_type, crypto_type, crypto_len).map_err(|_| {
            KeysAndCertBuildError::UnsupportedCombination {
                crypto_type,
                sig_type,
            }
        })?;
        Ok(Self::build(
            crypto_key,
            signing_key,
            padding_block,
            Layout {
                sig_type,
                crypto_type,
                crypto_len,
                sig_start,
            },
        ))
    }

    /// Lay out checked keys: `crypto_key` has `l.crypto_len` bytes (at most 256),
    /// `signing_key` has its type's length, and `l.sig_start` is [`signing_key_start`]'s.
    fn build(crypto_key: &[u8], signing_key: &[u8], padding_block: [u8; 32], l: Layout) -> Self {
        let mut area = Box::new([0u8; KEY_AREA_LEN]);
        area[..l.crypto_len].copy_from_slice(crypto_key);
        for (i, b) in area[l.crypto_len..l.sig_start].iter_mut().enumerate() {
            *b = padding_block[i % 32];
        }
        let in_area = KEY_AREA_LEN - l.sig_start;
        area[l.sig_start..].copy_from_slice(&signing_key[..in_area]);
        let excess = signing_key[in_area..].to_vec();
        let cert = if l.crypto_type == CryptoType::ElGamal2048 && l.sig_type == SigType::DsaSha1 {
            Certificate::Null
        } else {
            Certificate::Key(KeyCertificate::new(l.sig_type, l.crypto_type, excess))
        };
        Self::assemble(area, cert, l)
    }

    /// Our own router identity: X25519 encryption key (crypto type 4) and Ed25519 signing key
    /// (sig type 7), the combination the spec recommends for routers since 0.9.48.
    pub fn router_identity_x25519_ed25519(
        x25519_public: [u8; 32],
        ed25519_public: [u8; 32],
        padding_block: [u8; 32],
    ) -> Self {
        Self::build(
            &x25519_public,
            &ed25519_public,
            padding_block,
            Layout {
                sig_type: SigType::EdDsaSha512Ed25519,
                crypto_type: CryptoType::X25519,
                crypto_len: 32,
                sig_start: KEY_AREA_LEN - 32,
            },
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
    /// The encryption public key (start of the 256-byte crypto field); empty for crypto type
    /// NONE.
    pub fn encryption_public_key(&self) -> &[u8] {
        &self.area[..self.crypto_len]
    }
    /// The signing public key, assembled from the key area and, for keys that do not fit there
    /// (P521, RSA, ML-DSA), the certificate's excess data (borrowed when no assembly is needed).
    pub fn signing_public_key(&self) -> Cow<'_, [u8]> {
        let in_area = &self.area[self.sig_start..];
        let excess = cert_excess(&self.cert);
        if excess.is_empty() {
            Cow::Borrowed(in_area)
        } else {
            Cow::Owned([in_area, excess].concat())
        }
    }
    /// The padding between the crypto key and the signing key.
    pub fn padding(&self) -> &[u8] {
        &self.area[self.crypto_len..self.sig_start]
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
    #[error("crypto type {crypto_type:?} and signature type {sig_type:?} have no defined layout")]
    UnsupportedCombination {
        crypto_type: CryptoType,
        sig_type: SigType,
    },
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

    fn ml_dsa_key(t: SigType) -> Vec<u8> {
        (0..t.public_key_len())
            .map(|i| (i * 13 + 1) as u8)
            .collect()
    }

    /// Proposal 169's example 1319-byte MLDSA44 destination:
    /// `skey[0:383] 5 (932 >> 8) (932 & 0xff) 00 12 00 255 skey[384:1311]`.
    #[test]
    fn ml_dsa44_destination_matches_proposal_169_example() {
        let skey = ml_dsa_key(SigType::MlDsa44);
        let k = KeysAndCert::from_keys(CryptoType::None, &[], SigType::MlDsa44, &skey, [0; 32])
            .unwrap();
        let bytes = k.to_bytes();
        let mut expect = skey[..384].to_vec();
        expect.extend([5, (932 >> 8) as u8, (932 & 0xff) as u8, 0, 12, 0, 255]);
        expect.extend_from_slice(&skey[384..]);
        assert_eq!(bytes, expect);
        assert_eq!(bytes.len(), 1319);
        let parsed = KeysAndCert::parse(&bytes).unwrap();
        assert_eq!(parsed, k);
        assert_eq!(parsed.sig_type(), SigType::MlDsa44);
        assert_eq!(parsed.crypto_type(), CryptoType::None);
        assert!(parsed.encryption_public_key().is_empty());
        assert!(parsed.padding().is_empty());
        assert_eq!(&*parsed.signing_public_key(), &skey[..]);
        let expect_hash: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(parsed.hash(), expect_hash);
    }

    /// Proposal 169's example 1351-byte MLDSA44 router identity:
    /// `enckey[0:31] skey[0:351] 5 (960 >> 8) (960 & 0xff) 00 12 00 4 skey[352:1311]`, except
    /// for the certificate length: 964, by the proposal's own rule ("Key certificate length is
    /// 4 + excess key length", excess 960) and as in its destination example (932 = 4 + 928).
    /// 960 would leave the last 4 key bytes outside the certificate.
    #[test]
    fn ml_dsa44_router_identity_matches_proposal_169_example() {
        let skey = ml_dsa_key(SigType::MlDsa44);
        let x = [0x11; 32];
        let k = KeysAndCert::from_keys(CryptoType::X25519, &x, SigType::MlDsa44, &skey, [0; 32])
            .unwrap();
        let bytes = k.to_bytes();
        let mut expect = x.to_vec();
        expect.extend_from_slice(&skey[..352]);
        expect.extend([5, (964 >> 8) as u8, (964 & 0xff) as u8, 0, 12, 0, 4]);
        expect.extend_from_slice(&skey[352..]);
        assert_eq!(bytes, expect);
        let parsed = KeysAndCert::parse(&bytes).unwrap();
        assert_eq!(parsed.encryption_public_key(), &x);
        assert_eq!(&*parsed.signing_public_key(), &skey[..]);
        assert!(parsed.padding().is_empty());
    }

    /// The "Total Dest Length" and "Total RouterIdent Length" columns of proposal 169.
    #[test]
    fn ml_dsa_identity_lengths_match_proposal_169_tables() {
        for (t, dest_len, ri_len) in [
            (SigType::MlDsa44, 1319, 1351),
            (SigType::MlDsa65, 1959, 1991),
            (SigType::MlDsa87, 2599, 2631),
            (SigType::MlDsa44EdDsaSha512Ed25519, 1351, 1383),
            (SigType::MlDsa65EdDsaSha512Ed25519, 1991, 2023),
            (SigType::MlDsa87EdDsaSha512Ed25519, 2631, 2663),
        ] {
            let skey = ml_dsa_key(t);
            let dest = KeysAndCert::from_keys(CryptoType::None, &[], t, &skey, [0; 32]).unwrap();
            assert_eq!(dest.len(), dest_len, "{t:?} destination");
            let ri =
                KeysAndCert::from_keys(CryptoType::X25519, &[7; 32], t, &skey, [0; 32]).unwrap();
            assert_eq!(ri.len(), ri_len, "{t:?} router identity");
            for k in [dest, ri] {
                let parsed = KeysAndCert::parse(&k.to_bytes()).unwrap();
                assert_eq!(&*parsed.signing_public_key(), &skey[..], "{t:?}");
                assert_eq!(parsed, k);
            }
        }
    }

    #[test]
    fn truncated_ml_dsa_key_certificate_is_a_typed_error() {
        let skey = ml_dsa_key(SigType::MlDsa65);
        let bytes = KeysAndCert::from_keys(CryptoType::None, &[], SigType::MlDsa65, &skey, [0; 32])
            .unwrap()
            .to_bytes();
        // Cut anywhere inside the certificate: the payload (or its header) is short.
        for cut in [384, 385, 386, 387, 390, 391, 392, 1000, bytes.len() - 1] {
            let e = KeysAndCert::parse(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(e.kind, WireErrorKind::Truncated { .. }),
                "cut {cut}: {e}"
            );
        }
        let e = KeysAndCert::parse(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_eq!((e.what, e.offset), ("certificate payload", 387));
        assert_eq!(
            e.kind,
            WireErrorKind::Truncated {
                need: 4 + 1568,
                have: 4 + 1567
            }
        );
        // A certificate that is complete but one byte short of the key: excess check.
        let mut short = bytes[..bytes.len() - 1].to_vec();
        short[385..387].copy_from_slice(&(4u16 + 1567).to_be_bytes());
        let e = KeysAndCert::parse(&short).unwrap_err();
        assert_eq!((e.what, e.offset), ("key certificate excess key data", 391));
        // One byte too many.
        let mut long = bytes.clone();
        long.push(0);
        long[385..387].copy_from_slice(&(4u16 + 1569).to_be_bytes());
        let e = KeysAndCert::parse(&long).unwrap_err();
        assert_eq!(e.what, "key certificate excess key data");
        // The key certificate of an Ed25519 identity, relabelled ML-DSA: no excess at all.
        let mut relabelled = vec![0; 384];
        relabelled.extend([5, 0, 4, 0, 12, 0, 255]);
        let e = KeysAndCert::parse(&relabelled).unwrap_err();
        assert_eq!(e.what, "key certificate excess key data");
    }

    #[test]
    fn ml_dsa_and_none_only_in_defined_combinations() {
        // ML-DSA with ElGamal (an early draft of proposal 169) has no layout now.
        let mut bytes = vec![0; 384];
        bytes.extend([5, (932 >> 8) as u8, (932 & 0xff) as u8, 0, 12, 0, 0]);
        bytes.extend([0; 928]);
        let e = KeysAndCert::parse(&bytes).unwrap_err();
        assert_eq!((e.what, e.offset), ("key certificate crypto key type", 389));
        assert!(matches!(e.kind, WireErrorKind::Unsupported(_)));
        // NONE with a classical signing key.
        let mut bytes = vec![0; 384];
        bytes.extend([5, 0, 4, 0, 7, 0, 255]);
        let e = KeysAndCert::parse(&bytes).unwrap_err();
        assert_eq!((e.what, e.offset), ("key certificate crypto key type", 389));
        assert_eq!(
            KeysAndCert::from_keys(
                CryptoType::ElGamal2048,
                &[0; 256],
                SigType::MlDsa44,
                &ml_dsa_key(SigType::MlDsa44),
                [0; 32]
            ),
            Err(KeysAndCertBuildError::UnsupportedCombination {
                crypto_type: CryptoType::ElGamal2048,
                sig_type: SigType::MlDsa44
            })
        );
        assert_eq!(
            KeysAndCert::from_keys(
                CryptoType::None,
                &[],
                SigType::EdDsaSha512Ed25519,
                &[0; 32],
                [0; 32]
            ),
            Err(KeysAndCertBuildError::UnsupportedCombination {
                crypto_type: CryptoType::None,
                sig_type: SigType::EdDsaSha512Ed25519
            })
        );
        // su3-only MLDSA44ph (18) stays unknown.
        let mut bytes = vec![0; 384];
        bytes.extend([5, 0, 4, 0, 18, 0, 255]);
        let e = KeysAndCert::parse(&bytes).unwrap_err();
        assert_eq!(
            (e.what, e.offset),
            ("key certificate signing key type", 387)
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

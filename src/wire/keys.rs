//! Key and signature type codes shared by the codecs and the crypto room
//! (common-structures: KeyCertificate, SigningPublicKey, PublicKey).

/// Signature type codes. The sizes decide how a KeysAndCert is laid out, so the codec needs them
/// even for types floodgate never signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum SigType {
    DsaSha1 = 0,
    EcdsaSha256P256 = 1,
    EcdsaSha384P384 = 2,
    EcdsaSha512P521 = 3,
    RsaSha2562048 = 4,
    RsaSha3843072 = 5,
    RsaSha5124096 = 6,
    EdDsaSha512Ed25519 = 7,
    EdDsaSha512Ed25519ph = 8,
    RedDsaSha512Ed25519 = 11,
    /// ML-DSA-44/65/87 (FIPS 204), proposal 169. Pure ML-DSA with an empty context, not the
    /// pre-hash variant; see `crypto::signature::ml_dsa`.
    MlDsa44 = 12,
    MlDsa65 = 13,
    MlDsa87 = 14,
    /// Ed25519 + ML-DSA hybrids of proposal 169, whose status there is "Preliminary": known so
    /// that a structure carrying one lays out and parses, but not verified (the proposal does not
    /// pin the signed message down beyond "as in" the IETF composite draft).
    MlDsa44EdDsaSha512Ed25519 = 15,
    MlDsa65EdDsaSha512Ed25519 = 16,
    MlDsa87EdDsaSha512Ed25519 = 17,
}

impl SigType {
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            0 => Self::DsaSha1,
            1 => Self::EcdsaSha256P256,
            2 => Self::EcdsaSha384P384,
            3 => Self::EcdsaSha512P521,
            4 => Self::RsaSha2562048,
            5 => Self::RsaSha3843072,
            6 => Self::RsaSha5124096,
            7 => Self::EdDsaSha512Ed25519,
            8 => Self::EdDsaSha512Ed25519ph,
            11 => Self::RedDsaSha512Ed25519,
            12 => Self::MlDsa44,
            13 => Self::MlDsa65,
            14 => Self::MlDsa87,
            15 => Self::MlDsa44EdDsaSha512Ed25519,
            16 => Self::MlDsa65EdDsaSha512Ed25519,
            17 => Self::MlDsa87EdDsaSha512Ed25519,
            // 18-20 (MLDSA44ph..87ph) are for su3 files only, never in key certificates or
            // netDb structures (proposal 169), so they stay unknown here.
            _ => return None,
        })
    }
    pub fn code(self) -> u16 {
        self as u16
    }
    /// Whether this is one of proposal 169's ML-DSA types (12-17). In a KeysAndCert their
    /// signing key starts right after the crypto key and fills the rest of the 384-byte key
    /// area before continuing in the certificate, instead of sitting in the 128-byte signing
    /// field.
    pub fn is_ml_dsa(self) -> bool {
        matches!(
            self,
            Self::MlDsa44
                | Self::MlDsa65
                | Self::MlDsa87
                | Self::MlDsa44EdDsaSha512Ed25519
                | Self::MlDsa65EdDsaSha512Ed25519
                | Self::MlDsa87EdDsaSha512Ed25519
        )
    }
    /// Length of the SigningPublicKey in bytes.
    pub fn public_key_len(self) -> usize {
        match self {
            Self::DsaSha1 => 128,
            Self::EcdsaSha256P256 => 64,
            Self::EcdsaSha384P384 => 96,
            Self::EcdsaSha512P521 => 132,
            Self::RsaSha2562048 => 256,
            Self::RsaSha3843072 => 384,
            Self::RsaSha5124096 => 512,
            Self::EdDsaSha512Ed25519 | Self::EdDsaSha512Ed25519ph | Self::RedDsaSha512Ed25519 => 32,
            // FIPS 204 table 2; the hybrids are the Ed25519 key followed by the ML-DSA key.
            Self::MlDsa44 => 1312,
            Self::MlDsa65 => 1952,
            Self::MlDsa87 => 2592,
            Self::MlDsa44EdDsaSha512Ed25519 => 32 + 1312,
            Self::MlDsa65EdDsaSha512Ed25519 => 32 + 1952,
            Self::MlDsa87EdDsaSha512Ed25519 => 32 + 2592,
        }
    }
    /// Length of a Signature in bytes.
    pub fn signature_len(self) -> usize {
        match self {
            Self::DsaSha1 => 40,
            Self::EcdsaSha256P256 => 64,
            Self::EcdsaSha384P384 => 96,
            Self::EcdsaSha512P521 => 132,
            Self::RsaSha2562048 => 256,
            Self::RsaSha3843072 => 384,
            Self::RsaSha5124096 => 512,
            Self::EdDsaSha512Ed25519 | Self::EdDsaSha512Ed25519ph | Self::RedDsaSha512Ed25519 => 64,
            // FIPS 204 table 2; the hybrids are the Ed25519 signature followed by the ML-DSA one.
            Self::MlDsa44 => 2420,
            Self::MlDsa65 => 3309,
            Self::MlDsa87 => 4627,
            Self::MlDsa44EdDsaSha512Ed25519 => 64 + 2420,
            Self::MlDsa65EdDsaSha512Ed25519 => 64 + 3309,
            Self::MlDsa87EdDsaSha512Ed25519 => 64 + 4627,
        }
    }
    /// A stable lowercase label (metrics, logs).
    pub fn label(self) -> &'static str {
        match self {
            Self::DsaSha1 => "dsa_sha1",
            Self::EcdsaSha256P256 => "ecdsa_p256",
            Self::EcdsaSha384P384 => "ecdsa_p384",
            Self::EcdsaSha512P521 => "ecdsa_p521",
            Self::RsaSha2562048 => "rsa_2048",
            Self::RsaSha3843072 => "rsa_3072",
            Self::RsaSha5124096 => "rsa_4096",
            Self::EdDsaSha512Ed25519 => "ed25519",
            Self::EdDsaSha512Ed25519ph => "ed25519ph",
            Self::RedDsaSha512Ed25519 => "reddsa_ed25519",
            Self::MlDsa44 => "mldsa44",
            Self::MlDsa65 => "mldsa65",
            Self::MlDsa87 => "mldsa87",
            Self::MlDsa44EdDsaSha512Ed25519 => "mldsa44_ed25519",
            Self::MlDsa65EdDsaSha512Ed25519 => "mldsa65_ed25519",
            Self::MlDsa87EdDsaSha512Ed25519 => "mldsa87_ed25519",
        }
    }
}

/// Encryption (crypto) type codes of a PublicKey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CryptoType {
    ElGamal2048,
    EcP256,
    EcP384,
    EcP521,
    X25519,
    /// NONE (255), proposal 169: no encryption key in the KeysAndCert. Only for Destinations
    /// with an ML-DSA signing key, whose leasesets carry the encryption keys.
    None,
    /// MLKEM hybrids (5, 6, 7) appear only in LeaseSet2 encryption keys; the key length is
    /// carried explicitly there, so they are kept as an opaque code.
    Other(u16),
}

impl CryptoType {
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => Self::ElGamal2048,
            1 => Self::EcP256,
            2 => Self::EcP384,
            3 => Self::EcP521,
            4 => Self::X25519,
            255 => Self::None,
            c => Self::Other(c),
        }
    }
    pub fn code(self) -> u16 {
        match self {
            Self::ElGamal2048 => 0,
            Self::EcP256 => 1,
            Self::EcP384 => 2,
            Self::EcP521 => 3,
            Self::X25519 => 4,
            Self::None => 255,
            Self::Other(c) => c,
        }
    }
    /// Length of the public key in a KeysAndCert, where the type fixes it.
    pub fn public_key_len(self) -> Option<usize> {
        match self {
            Self::ElGamal2048 => Some(256),
            Self::EcP256 => Some(64),
            Self::EcP384 => Some(96),
            Self::EcP521 => Some(132),
            Self::X25519 => Some(32),
            Self::None => Some(0),
            Self::Other(_) => None,
        }
    }
}

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
            _ => return None,
        })
    }
    pub fn code(self) -> u16 {
        self as u16
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
            Self::Other(_) => None,
        }
    }
}

//! Certificate and KeyCertificate (common-structures "Certificate", "Key Certificates").
//!
//! Wire form: 1 byte type, 2 byte payload length, payload. The spec asks implementers to
//! "prohibit excess data in Certificates" and to enforce the length of each type, so the parser
//! checks the payload length per type. Whether a KEY certificate's excess key data has the right
//! length depends on the key types, which only [`super::KeysAndCert`] knows; it checks that.

use super::keys::{CryptoType, SigType};
use super::{Reader, WireError, Writer};

pub const CERT_NULL: u8 = 0;
pub const CERT_HASHCASH: u8 = 1;
pub const CERT_HIDDEN: u8 = 2;
pub const CERT_SIGNED: u8 = 3;
pub const CERT_MULTIPLE: u8 = 4;
pub const CERT_KEY: u8 = 5;

/// Payload of a KEY certificate: the signing key type comes first (the spec warns the order is
/// the opposite of what one may expect), then the crypto key type, then excess key data.
///
/// Codes are kept raw so that a certificate with a type this build does not know still
/// round-trips; [`Self::sig_type`] says whether it is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyCertificate {
    sig_type_code: u16,
    crypto_type_code: u16,
    excess: Vec<u8>,
}

impl KeyCertificate {
    pub fn new(sig_type: SigType, crypto_type: CryptoType, excess: Vec<u8>) -> Self {
        Self {
            sig_type_code: sig_type.code(),
            crypto_type_code: crypto_type.code(),
            excess,
        }
    }
    pub fn sig_type_code(&self) -> u16 {
        self.sig_type_code
    }
    pub fn crypto_type_code(&self) -> u16 {
        self.crypto_type_code
    }
    /// `None` when the code is not a signature type floodgate knows.
    pub fn sig_type(&self) -> Option<SigType> {
        SigType::from_code(self.sig_type_code)
    }
    pub fn crypto_type(&self) -> CryptoType {
        CryptoType::from_code(self.crypto_type_code)
    }
    /// Excess signing key data followed by excess crypto key data.
    pub fn excess(&self) -> &[u8] {
        &self.excess
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Certificate {
    Null,
    /// Deprecated, unused; payload is an ASCII hashcash string, kept opaque.
    HashCash(Vec<u8>),
    /// Deprecated, unused.
    Hidden,
    /// Deprecated, unused; a 40-byte DSA signature optionally followed by a 32-byte Hash.
    Signed(Vec<u8>),
    /// Deprecated, unused; payload holds nested certificates, kept opaque.
    Multiple(Vec<u8>),
    Key(KeyCertificate),
}

impl Certificate {
    pub fn cert_type(&self) -> u8 {
        match self {
            Self::Null => CERT_NULL,
            Self::HashCash(_) => CERT_HASHCASH,
            Self::Hidden => CERT_HIDDEN,
            Self::Signed(_) => CERT_SIGNED,
            Self::Multiple(_) => CERT_MULTIPLE,
            Self::Key(_) => CERT_KEY,
        }
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let type_off = r.offset();
        let cert_type = r.u8("certificate type")?;
        let len_off = r.offset();
        let len = usize::from(r.u16("certificate length")?);
        let mut p = r.sub(len, "certificate payload")?;
        let bad_len = |why: &str| {
            WireError::invalid(
                "certificate length",
                len_off,
                format!("{why}, got {len} for type {cert_type}"),
            )
        };
        Ok(match cert_type {
            CERT_NULL => {
                if len != 0 {
                    return Err(bad_len("NULL certificate must be empty"));
                }
                Self::Null
            }
            CERT_HASHCASH => Self::HashCash(p.rest().to_vec()),
            CERT_HIDDEN => {
                if len != 0 {
                    return Err(bad_len("HIDDEN certificate must be empty"));
                }
                Self::Hidden
            }
            CERT_SIGNED => {
                if len != 40 && len != 72 {
                    return Err(bad_len("SIGNED certificate payload is 40 or 72 bytes"));
                }
                Self::Signed(p.rest().to_vec())
            }
            CERT_MULTIPLE => Self::Multiple(p.rest().to_vec()),
            CERT_KEY => {
                if len < 4 {
                    return Err(bad_len("KEY certificate payload is at least 4 bytes"));
                }
                let sig_type_code = p.u16("key certificate signing key type")?;
                let crypto_type_code = p.u16("key certificate crypto key type")?;
                Self::Key(KeyCertificate {
                    sig_type_code,
                    crypto_type_code,
                    excess: p.rest().to_vec(),
                })
            }
            other => {
                return Err(WireError::unsupported(
                    "certificate type",
                    type_off,
                    format!("unknown certificate type {other}"),
                ));
            }
        })
    }

    /// Parse exactly one certificate from `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let c = Self::read(&mut r)?;
        r.finish("certificate")?;
        Ok(c)
    }

    fn payload_len(&self) -> usize {
        match self {
            Self::Null | Self::Hidden => 0,
            Self::HashCash(p) | Self::Signed(p) | Self::Multiple(p) => p.len(),
            Self::Key(k) => 4 + k.excess.len(),
        }
    }

    /// Serialized length (3 + payload).
    pub fn len(&self) -> usize {
        3 + self.payload_len()
    }

    /// Never true: a certificate is at least 3 bytes. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Append the wire form. Payloads longer than 65535 bytes cannot come from parsing and are
    /// not built by floodgate; they are truncated to keep the length field truthful.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.cert_type());
        let len = u16::try_from(self.payload_len()).unwrap_or(u16::MAX);
        out.put_u16(len);
        let start = out.len();
        match self {
            Self::Null | Self::Hidden => {}
            Self::HashCash(p) | Self::Signed(p) | Self::Multiple(p) => out.put_bytes(p),
            Self::Key(k) => {
                out.put_u16(k.sig_type_code);
                out.put_u16(k.crypto_type_code);
                out.put_bytes(&k.excess);
            }
        }
        out.truncate(start + usize::from(len));
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.write(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireErrorKind;

    #[test]
    fn round_trips() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 0],
            vec![2, 0, 0],
            vec![1, 0, 3, b'a', b':', b'b'],
            {
                let mut v = vec![3, 0, 40];
                v.extend([7u8; 40]);
                v
            },
            {
                let mut v = vec![3, 0, 72];
                v.extend([7u8; 72]);
                v
            },
            vec![4, 0, 2, 9, 9],
            vec![5, 0, 4, 0, 7, 0, 4],
            vec![5, 0, 8, 0, 3, 0, 0, 1, 2, 3, 4],
        ];
        for c in cases {
            let cert = Certificate::parse(&c).unwrap();
            assert_eq!(cert.to_bytes(), c, "{cert:?}");
            assert_eq!(cert.len(), c.len());
        }
    }

    #[test]
    fn key_certificate_fields() {
        let cert = Certificate::parse(&[5, 0, 4, 0, 7, 0, 4]).unwrap();
        let Certificate::Key(k) = cert else {
            panic!("not a key cert")
        };
        assert_eq!(k.sig_type(), Some(SigType::EdDsaSha512Ed25519));
        assert_eq!(k.crypto_type(), CryptoType::X25519);
        assert!(k.excess().is_empty());
        let unknown = Certificate::parse(&[5, 0, 4, 0x12, 0x34, 0, 0]).unwrap();
        let Certificate::Key(k) = unknown else {
            panic!("not a key cert")
        };
        assert_eq!(k.sig_type(), None);
        assert_eq!(k.sig_type_code(), 0x1234);
    }

    #[test]
    fn rejects_bad_lengths() {
        let e = Certificate::parse(&[0, 0, 1, 0]).unwrap_err();
        assert_eq!((e.what, e.offset), ("certificate length", 1));
        let e = Certificate::parse(&[3, 0, 41]).unwrap_err();
        assert_eq!(e.what, "certificate payload");
        let mut s = vec![3, 0, 41];
        s.extend([0u8; 41]);
        let e = Certificate::parse(&s).unwrap_err();
        assert_eq!((e.what, e.offset), ("certificate length", 1));
        let e = Certificate::parse(&[5, 0, 3, 0, 7, 0]).unwrap_err();
        assert_eq!((e.what, e.offset), ("certificate length", 1));
        let e = Certificate::parse(&[5, 0, 4, 0, 7]).unwrap_err();
        assert_eq!(e.what, "certificate payload");
        assert!(matches!(
            e.kind,
            WireErrorKind::Truncated { need: 4, have: 2 }
        ));
        let e = Certificate::parse(&[6, 0, 0]).unwrap_err();
        assert_eq!((e.what, e.offset), ("certificate type", 0));
        assert!(matches!(e.kind, WireErrorKind::Unsupported(_)));
        let e = Certificate::parse(&[0, 0, 0, 1]).unwrap_err();
        assert_eq!((e.what, e.offset), ("certificate", 3));
        assert_eq!(e.kind, WireErrorKind::Trailing(1));
    }
}

//! Reseed signer certificates (`reseed.certificates`) and su3 signature verification.
//!
//! I2P routers ship one X.509 certificate per reseed operator, named after the su3 signer id
//! with `@` written as `_at_` (`someone_at_mail.i2p.crt`), whose subject CN is that same id.
//! floodgate embeds the public operators' set ([`super::embedded`], `reseed.builtin_certificates`)
//! so that a fresh router can join the network with no files around it; operators add more
//! with `reseed.certificates` (e.g. the folder Debian's i2pd package has,
//! `/usr/share/i2pd/certificates/reseed`). A certificate is reachable under its file
//! name id and under its subject CN and emailAddress; expiry is not checked, as neither Java
//! I2P nor i2pd does for reseed signers (several long-lived ones are past their notAfter).
//!
//! Signatures are "raw" (updates.rst, Signature Details): the hash of the signed bytes goes
//! straight into the signature primitive. For ECDSA that is ordinary ECDSA with the type's hash.
//! For RSA it means PKCS#1 v1.5 padding around the bare digest, *without* the DigestInfo prefix
//! that `SHA512withRSA` (and [`crate::crypto::signature::rsa_pkcs1v15_verify`]) use, because
//! Java signs with `NONEwithRSA`; so RSA is verified here with the unprefixed scheme.

use crate::crypto::signature::SigningPublicKey;
use crate::wire::keys::SigType;
use crate::wire::su3::Su3;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;
use x509_cert::Certificate;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{DecodePem, Encode};

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_EMAIL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// Largest certificate file read (real ones are 2-3 KiB).
const MAX_CERT_FILE: u64 = 64 * 1024;

#[derive(Debug, Error)]
pub enum CertError {
    #[error("reseed.certificates {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reseed.certificates {path}: not a PEM X.509 certificate: {why}")]
    Parse { path: PathBuf, why: String },
    #[error("reseed.certificates {path}: unsupported public key: {why}")]
    Key { path: PathBuf, why: String },
}

/// Why an su3 file's signature was not accepted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Su3VerifyError {
    #[error("su3 signer `{0}` has no certificate in reseed.certificates")]
    UnknownSigner(String),
    #[error(
        "su3 signer `{signer}`: its certificate ({path}) holds {have}, the file is signed {want}"
    )]
    KeyTypeMismatch {
        signer: String,
        path: PathBuf,
        have: &'static str,
        want: &'static str,
    },
    #[error("su3 signature by `{signer}` does not verify")]
    BadSignature { signer: String },
}

/// A signer's public key as taken from its certificate.
#[derive(Clone, Debug)]
enum SignerKey {
    Rsa(rsa::RsaPublicKey),
    /// Already a checked verifier of an ECDSA type.
    Ecdsa(SigningPublicKey),
}

impl SignerKey {
    fn describe(&self) -> &'static str {
        match self {
            Self::Rsa(k) => match k.size() {
                256 => "an RSA-2048 key",
                384 => "an RSA-3072 key",
                512 => "an RSA-4096 key",
                _ => "an RSA key of another size",
            },
            Self::Ecdsa(k) => match k.sig_type() {
                SigType::EcdsaSha256P256 => "a P-256 key",
                SigType::EcdsaSha384P384 => "a P-384 key",
                _ => "a P-521 key",
            },
        }
    }
}

#[derive(Clone, Debug)]
struct Signer {
    path: PathBuf,
    key: SignerKey,
}

/// The trusted reseed signers, by lower-case signer id.
#[derive(Clone, Debug, Default)]
pub struct CertStore {
    signers: HashMap<String, Signer>,
}

impl CertStore {
    /// Load every configured path: a PEM certificate file, or a folder whose `*.crt` files are
    /// read (other files are ignored). Any unreadable path or bad certificate is an error: it is
    /// configuration the operator wrote.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CertError> {
        let mut store = Self::default();
        for p in paths {
            let io = |source| CertError::Io {
                path: p.clone(),
                source,
            };
            if p.is_dir() {
                let mut files = Vec::new();
                for e in std::fs::read_dir(p).map_err(io)? {
                    let f = e.map_err(io)?.path();
                    if f.extension().is_some_and(|x| x == "crt") && f.is_file() {
                        files.push(f);
                    }
                }
                files.sort();
                for f in files {
                    store.add_file(&f)?;
                }
            } else {
                store.add_file(p)?;
            }
        }
        Ok(store)
    }

    /// The embedded public signers (when `builtin`), then every configured path; a configured
    /// certificate replaces an embedded one of the same signer id.
    pub fn load_with_builtin(builtin: bool, paths: &[PathBuf]) -> Result<Self, CertError> {
        let mut store = Self::default();
        if builtin {
            for (name, pem) in super::embedded::CERTIFICATES {
                let path = PathBuf::from(format!("(embedded)/{name}"));
                let id = name.strip_suffix(".crt").map(|s| s.replace("_at_", "@"));
                store.add_pem(&path, pem, id)?;
            }
        }
        let configured = Self::load(paths)?;
        store.signers.extend(configured.signers);
        Ok(store)
    }

    /// Number of signer ids (a certificate counts once per id it is reachable under).
    pub fn len(&self) -> usize {
        self.signers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.signers.is_empty()
    }

    fn add_file(&mut self, path: &Path) -> Result<(), CertError> {
        let io = |source| CertError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_CERT_FILE {
            return Err(CertError::Parse {
                path: path.to_path_buf(),
                why: format!("{len} bytes, more than {MAX_CERT_FILE}"),
            });
        }
        let pem = std::fs::read(path).map_err(io)?;
        let file_id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| s.replace("_at_", "@"));
        self.add_pem(path, &pem, file_id)
    }

    /// Add one PEM certificate, reachable under `file_id` (if any) and its subject CN and email.
    pub fn add_pem(
        &mut self,
        path: &Path,
        pem: &[u8],
        file_id: Option<String>,
    ) -> Result<(), CertError> {
        let cert = Certificate::from_pem(pem).map_err(|e| CertError::Parse {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        let key = signer_key(&cert).map_err(|why| CertError::Key {
            path: path.to_path_buf(),
            why,
        })?;
        let mut ids: Vec<String> = file_id.into_iter().collect();
        for rdn in &cert.tbs_certificate.subject.0 {
            for atv in rdn.0.iter() {
                if (atv.oid == OID_CN || atv.oid == OID_EMAIL)
                    && let Ok(s) = std::str::from_utf8(atv.value.value())
                {
                    ids.push(s.to_string());
                }
            }
        }
        for id in ids {
            self.signers.insert(
                id.to_ascii_lowercase(),
                Signer {
                    path: path.to_path_buf(),
                    key: key.clone(),
                },
            );
        }
        Ok(())
    }

    /// Check the su3 signature with its signer's certificate and hand out the verified file.
    pub fn verify<'a>(
        &self,
        su3: crate::wire::Unverified<Su3<'a>>,
    ) -> Result<Su3<'a>, Su3VerifyError> {
        let s = su3.dangerous_inner();
        let signer = self
            .signers
            .get(&s.signer_id.to_ascii_lowercase())
            .ok_or_else(|| Su3VerifyError::UnknownSigner(s.signer_id.to_string()))?;
        let mismatch = || Su3VerifyError::KeyTypeMismatch {
            signer: s.signer_id.to_string(),
            path: signer.path.clone(),
            have: signer.key.describe(),
            want: s.sig_type.label(),
        };
        let bad = || Su3VerifyError::BadSignature {
            signer: s.signer_id.to_string(),
        };
        match &signer.key {
            SignerKey::Rsa(k) => {
                let digest = match s.sig_type {
                    SigType::RsaSha2562048 => Sha256::digest(s.signed_bytes()).to_vec(),
                    SigType::RsaSha3843072 => Sha384::digest(s.signed_bytes()).to_vec(),
                    SigType::RsaSha5124096 => Sha512::digest(s.signed_bytes()).to_vec(),
                    _ => return Err(mismatch()),
                };
                // The modulus must be the type's size: the signature field is exactly that long.
                if k.size() != s.sig_type.signature_len() {
                    return Err(mismatch());
                }
                k.verify(rsa::Pkcs1v15Sign::new_unprefixed(), &digest, s.signature())
                    .map_err(|_| bad())?;
            }
            SignerKey::Ecdsa(k) => {
                if k.sig_type() != s.sig_type {
                    return Err(mismatch());
                }
                k.verify(s.signed_bytes(), s.signature())
                    .map_err(|_| bad())?;
            }
        }
        Ok(su3.dangerous_into_inner())
    }
}

/// The certificate's subject public key as a verifier.
fn signer_key(cert: &Certificate) -> Result<SignerKey, String> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid == OID_RSA {
        let der = spki.to_der().map_err(|e| e.to_string())?;
        let k = rsa::RsaPublicKey::from_public_key_der(&der).map_err(|e| e.to_string())?;
        return Ok(SignerKey::Rsa(k));
    }
    if spki.algorithm.oid == OID_EC {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .ok_or("EC key without a named curve")?;
        let sig_type = match curve {
            c if c == OID_P256 => SigType::EcdsaSha256P256,
            c if c == OID_P384 => SigType::EcdsaSha384P384,
            c if c == OID_P521 => SigType::EcdsaSha512P521,
            other => return Err(format!("EC curve {other}")),
        };
        // SEC1 uncompressed point 0x04 || x || y; I2P's key form is x || y.
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or("EC point is not a whole number of bytes")?;
        let xy = match point.split_first() {
            Some((0x04, xy)) => xy,
            _ => return Err("EC point is not in uncompressed form".into()),
        };
        let k = SigningPublicKey::from_bytes(sig_type, xy).map_err(|e| e.to_string())?;
        return Ok(SignerKey::Ecdsa(k));
    }
    Err(format!("algorithm {}", spki.algorithm.oid))
}

//! Router families: routers run by one operator declare it, so that peers can avoid putting two
//! of them into one tunnel (Java I2P 0.9.24+, `net.i2p.router.crypto.FamilyKeyCrypto`; i2pd
//! `libi2pd/Family.cpp`).
//!
//! # Wire format (RouterInfo options)
//!
//! | option       | value                                                                       |
//! |--------------|-----------------------------------------------------------------------------|
//! | `family`     | the family name, UTF-8                                                      |
//! | `family.key` | `<sig type code>:<I2P base64 of the family's SigningPublicKey>`             |
//! | `family.sig` | I2P base64 of the Signature over `UTF-8(name) ‖ router hash (32 bytes)`     |
//!
//! The key and signature use I2P's SigningPublicKey / Signature encodings for the type. The
//! type is ECDSA-SHA256-P256 (code 1: key x‖y, 64 bytes; signature r‖s, 64 bytes), as Java
//! generates (`DEFAULT_KEY_ALGORITHM = "EC"`, 256 bits; RSA would not fit the 255-byte Mapping
//! value) and as i2pd signs and verifies (it only handles prime256v1 keys). The signature binds
//! the name to one router hash, so a `family.sig` cannot be copied into another RouterInfo.
//!
//! Java publishes all three options and verifies a claim against a certificate it ships for
//! that family name (`certificates/family/*.crt`) or, failing that, against the `family.key` of
//! the same RouterInfo: self-certifying, anyone can found a family, but nobody can claim
//! membership of a family without its private key. i2pd publishes `family` and `family.sig`
//! only, and checks signatures only against the certificates it ships (`contrib/certificates/
//! family`); without one it accepts the claim unchecked.
//!
//! # What floodgate does
//!
//! - Signing: with `family.name` configured, the router publishes the three options, signed by
//!   the P-256 key in `family.key_file` (created on first start). Copy that file to every router
//!   of the family; i2pd can use the same file (`<datadir>/family/<name>.key`, PEM).
//! - Verification ([`verify`]) follows Java's `FamilyKeyCrypto.verify` and the netDb store
//!   policy of Java's `KademliaNetworkDatabaseFacade.validate`: a claim whose `family.key` or
//!   `family.sig` is malformed refuses the whole store ([`FamilyError::rejects_store`]); a
//!   well-formed signature that does not verify, a missing signature or key, or a key type we
//!   cannot check leaves the RouterInfo acceptable with its family claim ignored. floodgate ships
//!   no family certificates, so the names that Java or i2pd pin to a certificate are never
//!   confirmed from a RouterInfo's own key (the routers that pin them would check the pinned key
//!   instead, and an impostor's own key proves nothing).
//!
//! # Key file
//!
//! A PEM file holding the P-256 private key as PKCS#8 (`-----BEGIN PRIVATE KEY-----`), which
//! `openssl pkey -in family.key -noout -text` reads and which fits a Kubernetes Secret as is.
//! Loading also takes a SEC1 key (`-----BEGIN EC PRIVATE KEY-----`, what `openssl ecparam -name
//! prime256v1 -genkey` writes for i2pd, with or without the `EC PARAMETERS` block). It is
//! created with mode 0600; loading refuses a file that other users may read (group-readable is
//! allowed, because Kubernetes adds group read to Secret files when a pod sets `fsGroup`).

use super::{IdentityError, write_private};
use crate::crypto::{SignatureError, SigningPublicKey};
use crate::wire::RouterInfo;
use crate::wire::keys::SigType;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Default name of the key file in the data directory.
pub const KEY_FILE: &str = "family.key";

/// RouterInfo option names (Java `FamilyKeyCrypto.OPT_NAME`, `OPT_KEY`, `OPT_SIG`).
pub const OPT_NAME: &str = "family";
pub const OPT_KEY: &str = "family.key";
pub const OPT_SIG: &str = "family.sig";

/// Longest family name we configure. i2pd copies name ‖ hash into a 100-byte buffer and fails
/// the verification of any longer name (`Families::VerifyFamily`: "is too long"), and a failed
/// family verification makes i2pd mark the router unreachable.
pub const MAX_NAME_LEN: usize = 100 - 32;

/// Family names that Java I2P or i2pd pin to a certificate they ship (`installer/resources/
/// certificates/family` in Java, `contrib/certificates/family` in i2pd). Those routers verify a
/// claim of such a name against the pinned key only, so our own key could never verify there
/// (i2pd would even mark us unreachable), and we cannot confirm such a claim from a RouterInfo's
/// own key. Compared in lower case, because i2pd lowercases names before the lookup.
pub const PINNED_NAMES: &[&str] = &[
    "bandura",
    "gostcoin",
    "i2p-dev",
    "i2pd-dev",
    "mca2-i2p",
    "memcpy",
    "mibhq",
    "stormycloud",
    "sunysb",
    "volatile",
];

fn is_pinned(name: &str) -> bool {
    PINNED_NAMES.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// A family name: ours as configured (checked by [`FamilyName::new`]), or another router's as
/// confirmed by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FamilyName(String);

impl FamilyName {
    /// Check a name for our own RouterInfo. Java refuses only names that would escape its
    /// keystore folder (`/`, `\`, `..`, absolute paths) and empty names; we also keep to what
    /// every implementation handles the same way: lowercase ASCII letters, digits and `-_.@`
    /// (i2pd lowercases names before verifying, so a capital letter could never verify against
    /// a certificate i2pd ships for the name), at most [`MAX_NAME_LEN`] bytes, and no name that
    /// Java or i2pd pin to someone else's certificate.
    pub fn new(name: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.len() > MAX_NAME_LEN {
            return Err(format!(
                "is {} bytes; at most {MAX_NAME_LEN} (i2pd refuses longer family names)",
                name.len()
            ));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.' | '@'))
        {
            return Err(format!(
                "`{name}` contains {c:?}; use lowercase ASCII letters, digits and - _ . @ \
                 (i2pd lowercases family names before checking them)"
            ));
        }
        if name.starts_with('.') || name.contains("..") {
            return Err(format!(
                "`{name}` must not start with `.` or contain `..` (Java I2P refuses it)"
            ));
        }
        if is_pinned(name) {
            return Err(format!(
                "`{name}` belongs to a family whose certificate Java I2P or i2pd ship; \
                 their routers would check our signature against that certificate and fail"
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FamilyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Error)]
pub enum FamilyKeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a family key file ({why})")]
    Format { path: PathBuf, why: String },
    #[error(
        "{path}: permissions {mode:o} let other users read the family key; run `chmod 600` on it"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(transparent)]
    Write(#[from] IdentityError),
}

/// The family's ECDSA-P256 signing key. The secret scalar is zeroized on drop (by `p256`).
pub struct FamilyKey(p256::ecdsa::SigningKey);

// Hand-written so that the secret never reaches a log: only the public key is shown.
impl fmt::Debug for FamilyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FamilyKey")
            .field("public", &crate::wire::base64::encode(&self.public_bytes()))
            .finish()
    }
}

impl FamilyKey {
    pub fn generate() -> Self {
        Self(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// The public key as I2P encodes it for type 1: x ‖ y, 32 bytes each.
    pub fn public_bytes(&self) -> [u8; 64] {
        let point = self.0.verifying_key().to_encoded_point(false);
        let mut out = [0u8; 64];
        // An uncompressed SEC1 point is 0x04 ‖ x ‖ y; the key is never the identity point.
        if let Some(xy) = point.as_bytes().get(1..65) {
            out.copy_from_slice(xy);
        }
        out
    }

    /// The `family.key` option value: `1:<base64 x‖y>`.
    pub fn public_option(&self) -> String {
        format!(
            "{}:{}",
            SigType::EcdsaSha256P256.code(),
            crate::wire::base64::encode(&self.public_bytes())
        )
    }

    /// The three options that declare `router_hash` a member of `name`, in Mapping key order.
    /// ECDSA here is deterministic (RFC 6979), so republishing does not change `family.sig` and
    /// Java's per-router cache of verified signatures stays valid.
    pub fn sign(&self, name: &FamilyName, router_hash: &[u8; 32]) -> [(String, String); 3] {
        let sig: p256::ecdsa::Signature = self.0.sign(&signed_message(name.as_str(), router_hash));
        [
            (OPT_NAME.to_string(), name.as_str().to_string()),
            (OPT_KEY.to_string(), self.public_option()),
            (
                OPT_SIG.to_string(),
                crate::wire::base64::encode(&sig.to_bytes()),
            ),
        ]
    }

    /// The key file's content (PKCS#8 PEM).
    fn to_pem(&self, path: &Path) -> Result<zeroize::Zeroizing<String>, FamilyKeyError> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| FamilyKeyError::Format {
                path: path.to_path_buf(),
                why: format!("cannot encode: {e}"),
            })
    }

    /// Parse a key file: the first PKCS#8 or SEC1 P-256 private key block in `text`.
    fn from_pem(path: &Path, text: &str) -> Result<Self, FamilyKeyError> {
        let fmt = |why: String| FamilyKeyError::Format {
            path: path.to_path_buf(),
            why,
        };
        if pem_block(text, "ENCRYPTED PRIVATE KEY").is_some() {
            return Err(fmt(
                "the key is encrypted; store it unencrypted (`openssl pkey -in IN -out OUT`)"
                    .into(),
            ));
        }
        if let Some(block) = pem_block(text, "PRIVATE KEY") {
            return p256::ecdsa::SigningKey::from_pkcs8_pem(block)
                .map(Self)
                .map_err(|e| fmt(format!("PKCS#8 key is not a P-256 private key: {e}")));
        }
        if let Some(block) = pem_block(text, "EC PRIVATE KEY") {
            return p256::SecretKey::from_sec1_pem(block)
                .map(|k| Self(k.into()))
                .map_err(|e| fmt(format!("SEC1 key is not a P-256 private key: {e}")));
        }
        Err(fmt("no `PRIVATE KEY` or `EC PRIVATE KEY` PEM block".into()))
    }

    /// Load the key from `path`.
    pub fn load(path: &Path) -> Result<Self, FamilyKeyError> {
        let io = |source| FamilyKeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        check_not_world_readable(path)?;
        Self::from_pem(path, &text)
    }

    /// Write the key to `path` (mode 0600, atomically), creating the parent folder.
    pub fn save(&self, path: &Path) -> Result<(), FamilyKeyError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| FamilyKeyError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let pem = self.to_pem(path)?;
        write_private(path, pem.as_bytes())?;
        Ok(())
    }

    /// Load the key from `path`, or create it there if the file does not exist. Returns the key
    /// and whether it was created now.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), FamilyKeyError> {
        match Self::load(path) {
            Ok(k) => Ok((k, false)),
            Err(FamilyKeyError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let k = Self::generate();
                k.save(path)?;
                Ok((k, true))
            }
            Err(e) => Err(e),
        }
    }
}

/// The text from `-----BEGIN <label>-----` to the matching END line, if present.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    text.get(start..stop)
}

fn check_not_world_readable(path: &Path) -> Result<(), FamilyKeyError> {
    let mode = super::permission_bits(path).map_err(|source| FamilyKeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if mode & 0o007 != 0 {
        return Err(FamilyKeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Our family, as [`super::RouterInfoParams`] carries it into every RouterInfo we sign.
#[derive(Debug, Clone)]
pub struct FamilySigner {
    pub name: FamilyName,
    pub key: Arc<FamilyKey>,
}

impl FamilySigner {
    pub fn options(&self, router_hash: &[u8; 32]) -> [(String, String); 3] {
        self.key.sign(&self.name, router_hash)
    }
}

/// What a family signature covers: the name's UTF-8 bytes, then the router hash.
fn signed_message(name: &str, router_hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(name.len() + 32);
    m.extend_from_slice(name.as_bytes());
    m.extend_from_slice(router_hash);
    m
}

/// Why a family claim is not confirmed. Only [`FamilyError::rejects_store`] errors refuse the
/// RouterInfo; the others leave it acceptable without a family.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FamilyError {
    /// `family` without `family.sig` (Java `NO_SIG`: routers older than 0.9.54 that added a
    /// family and have not restarted publish that).
    #[error("family claim without {OPT_SIG}")]
    NoSignature,
    /// No `family.key`, which is how i2pd publishes families (Java `NO_KEY`).
    #[error("family claim without {OPT_KEY}")]
    NoKey,
    /// The name is pinned to a certificate we do not ship (see [`PINNED_NAMES`]).
    #[error("family {0:?} is pinned to a certificate floodgate does not ship")]
    Pinned(String),
    /// `family.key` names a signature type we do not know (Java: `NO_KEY` or
    /// `UNSUPPORTED_SIG`).
    #[error("{OPT_KEY} has unknown signature type {0}")]
    UnsupportedKeyType(String),
    /// `family.key` is not `<code>:<base64 key>` with a key of that type (Java `BAD_KEY`).
    #[error("{OPT_KEY} is malformed: {0}")]
    BadKey(&'static str),
    /// `family.sig` is not base64 or has the wrong length for the key type (Java
    /// `INVALID_SIG`).
    #[error("{OPT_SIG} is malformed: {0}")]
    MalformedSignature(&'static str),
    /// A well-formed signature that does not verify (Java `BAD_SIG`).
    #[error("{OPT_SIG} does not verify")]
    BadSignature,
}

impl FamilyError {
    /// Whether the RouterInfo carrying this claim must be refused. Java refuses the store for
    /// `BAD_KEY` and `INVALID_SIG` only, and keeps RouterInfos whose signature merely fails
    /// ("To be investigated" in `KademliaNetworkDatabaseFacade.validate`). A false claim only
    /// makes peers avoid the claimer together with the family, so ignoring it costs nothing,
    /// while refusing RouterInfos that every Java floodfill keeps would split the netDb.
    pub fn rejects_store(&self) -> bool {
        matches!(self, Self::BadKey(_) | Self::MalformedSignature(_))
    }

    /// A short stable label (metrics `reason`, logs).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoSignature => "family_no_signature",
            Self::NoKey => "family_no_key",
            Self::Pinned(_) => "family_pinned",
            Self::UnsupportedKeyType(_) => "family_unsupported_key",
            Self::BadKey(_) => "bad_family_key",
            Self::MalformedSignature(_) => "bad_family_signature",
            Self::BadSignature => "family_signature_invalid",
        }
    }
}

/// Check the family claim of a RouterInfo whose own signature has been verified. `Ok(None)`:
/// no claim; `Ok(Some(name))`: the claim verifies against the RouterInfo's `family.key`.
pub fn verify(ri: &RouterInfo) -> Result<Option<FamilyName>, FamilyError> {
    let opts = ri.options();
    let Some(name) = opts.get(OPT_NAME) else {
        return Ok(None);
    };
    // Same order as Java: the signature's presence first, then which key to use.
    let sig = opts.get(OPT_SIG).ok_or(FamilyError::NoSignature)?;
    if is_pinned(name) {
        return Err(FamilyError::Pinned(name.to_string()));
    }
    let key = parse_key(opts.get(OPT_KEY).ok_or(FamilyError::NoKey)?)?;
    let sig_type = key.sig_type();
    let sig = crate::wire::base64::decode(sig)
        .map_err(|_| FamilyError::MalformedSignature("not base64"))?;
    if sig.len() != sig_type.signature_len() {
        return Err(FamilyError::MalformedSignature(
            "wrong length for the key's signature type",
        ));
    }
    match key.verify(&signed_message(name, &ri.hash()), &sig) {
        Ok(()) => Ok(Some(FamilyName(name.to_string()))),
        Err(SignatureError::Unsupported(t)) => {
            Err(FamilyError::UnsupportedKeyType(t.code().to_string()))
        }
        Err(SignatureError::BadSignatureLength { .. }) => Err(FamilyError::MalformedSignature(
            "wrong length for the key's signature type",
        )),
        Err(_) => Err(FamilyError::BadSignature),
    }
}

/// Parse `<sig type code>:<base64 key>`. Java also takes `;` as the separator (used during its
/// development).
fn parse_key(value: &str) -> Result<SigningPublicKey, FamilyError> {
    let Some(sep) = value.find([':', ';']).filter(|&i| i > 0) else {
        return Err(FamilyError::BadKey("no `<type>:` prefix"));
    };
    let code: u16 = value[..sep]
        .parse()
        .map_err(|_| FamilyError::BadKey("signature type is not a number"))?;
    let Some(sig_type) = SigType::from_code(code) else {
        return Err(FamilyError::UnsupportedKeyType(code.to_string()));
    };
    let bytes = crate::wire::base64::decode(&value[sep + 1..])
        .map_err(|_| FamilyError::BadKey("key is not base64"))?;
    SigningPublicKey::from_bytes(sig_type, &bytes).map_err(|e| match e {
        SignatureError::Unsupported(t) => FamilyError::UnsupportedKeyType(t.code().to_string()),
        _ => FamilyError::BadKey("not a valid key of its signature type"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{RouterInfoParams, RouterKeys, build_router_info};

    fn name(s: &str) -> FamilyName {
        FamilyName::new(s).unwrap()
    }

    fn params(family: Option<FamilySigner>) -> RouterInfoParams {
        RouterInfoParams {
            net_id: 99,
            floodfill: true,
            shared_kbps: 8192,
            host: Some("198.18.0.100".parse().unwrap()),
            ntcp2_port: Some(12345),
            router_version: "0.9.67",
            congestion: None,
            family,
        }
    }

    /// A signed RouterInfo with `family` from `signer`, then `edit` applied to its options.
    /// Re-signed by the router, so only the family part is wrong.
    fn router_info_with(
        keys: &RouterKeys,
        signer: &FamilySigner,
        edit: impl FnOnce(&mut Vec<(String, String)>),
    ) -> RouterInfo {
        let ri = build_router_info(keys, &params(Some(signer.clone())), 1_700_000_000_000)
            .unwrap()
            .into_inner();
        crate::netdb::testkit::router_info_edited(keys, &ri, edit)
    }

    fn set(opts: &mut [(String, String)], key: &str, value: &str) {
        for (k, v) in opts.iter_mut() {
            if k == key {
                *v = value.to_string();
            }
        }
    }

    fn signer(n: &str) -> FamilySigner {
        FamilySigner {
            name: name(n),
            key: Arc::new(FamilyKey::generate()),
        }
    }

    #[test]
    fn signed_claim_round_trips_through_the_wire() {
        let keys = RouterKeys::generate();
        let s = signer("floodgate-test");
        let ri = build_router_info(&keys, &params(Some(s.clone())), 1).unwrap();
        let o = ri.options();
        assert_eq!(o.get(OPT_NAME), Some("floodgate-test"));
        let key = o.get(OPT_KEY).unwrap();
        assert!(key.starts_with("1:"), "{key}");
        assert_eq!(
            crate::wire::base64::decode(&key[2..]).unwrap(),
            s.key.public_bytes()
        );
        assert_eq!(
            crate::wire::base64::decode(o.get(OPT_SIG).unwrap())
                .unwrap()
                .len(),
            64
        );
        // Parsed back from bytes, as a peer sees it.
        let reparsed = RouterInfo::parse(ri.as_bytes()).unwrap().verify().unwrap();
        assert_eq!(verify(&reparsed), Ok(Some(name("floodgate-test"))));
        // Deterministic: republishing keeps the same family.sig.
        assert_eq!(s.options(&ri.hash()), s.options(&ri.hash()));
        // No claim, no family.
        let plain = build_router_info(&keys, &params(None), 1).unwrap();
        assert!(plain.options().get(OPT_NAME).is_none());
        assert_eq!(verify(&plain), Ok(None));
    }

    #[test]
    fn tampered_signature_is_ignored_not_refused() {
        let keys = RouterKeys::generate();
        let s = signer("fam");
        let good = s.options(&build_router_info(&keys, &params(None), 1).unwrap().hash());
        let mut sig = crate::wire::base64::decode(&good[2].1).unwrap();
        sig[10] ^= 1;
        let ri = router_info_with(&keys, &s, |o| {
            set(o, OPT_SIG, &crate::wire::base64::encode(&sig))
        });
        let e = verify(&ri).unwrap_err();
        assert_eq!(e, FamilyError::BadSignature);
        assert!(!e.rejects_store());
    }

    #[test]
    fn signature_of_another_router_does_not_verify() {
        let s = signer("fam");
        let other = RouterKeys::generate();
        let other_sig = build_router_info(&other, &params(Some(s.clone())), 1)
            .unwrap()
            .options()
            .get(OPT_SIG)
            .unwrap()
            .to_string();
        let ri = router_info_with(&RouterKeys::generate(), &s, |o| set(o, OPT_SIG, &other_sig));
        assert_eq!(verify(&ri), Err(FamilyError::BadSignature));
    }

    #[test]
    fn renamed_claim_does_not_verify() {
        let s = signer("fam");
        let ri = router_info_with(&RouterKeys::generate(), &s, |o| set(o, OPT_NAME, "fam2"));
        assert_eq!(verify(&ri), Err(FamilyError::BadSignature));
    }

    #[test]
    fn missing_key_or_signature_is_ignored() {
        let s = signer("fam");
        let keys = RouterKeys::generate();
        let ri = router_info_with(&keys, &s, |o| o.retain(|(k, _)| k != OPT_KEY));
        assert_eq!(verify(&ri), Err(FamilyError::NoKey));
        assert!(!FamilyError::NoKey.rejects_store());
        let ri = router_info_with(&keys, &s, |o| o.retain(|(k, _)| k != OPT_SIG));
        assert_eq!(verify(&ri), Err(FamilyError::NoSignature));
        assert!(!FamilyError::NoSignature.rejects_store());
        // A signature without a name claims nothing.
        let ri = router_info_with(&keys, &s, |o| o.retain(|(k, _)| k != OPT_NAME));
        assert_eq!(verify(&ri), Ok(None));
    }

    #[test]
    fn malformed_key_or_signature_refuses_the_store() {
        let s = signer("fam");
        let keys = RouterKeys::generate();
        let pk = crate::wire::base64::encode(&s.key.public_bytes());
        for bad_key in [
            pk.clone(),                                                  // no type prefix
            format!("x:{pk}"),                                           // type not a number
            "1:!!!".to_string(),                                         // not base64
            format!("1:{}", crate::wire::base64::encode(&[1u8; 32])),    // wrong length
            format!("1:{}", crate::wire::base64::encode(&[0xffu8; 64])), // not on the curve
        ] {
            let ri = router_info_with(&keys, &s, |o| set(o, OPT_KEY, &bad_key));
            let e = verify(&ri).unwrap_err();
            assert!(matches!(e, FamilyError::BadKey(_)), "{bad_key}: {e:?}");
            assert!(e.rejects_store());
            assert_eq!(e.reason(), "bad_family_key");
        }
        // Java's development-era separator still parses.
        let ri = router_info_with(&keys, &s, |o| set(o, OPT_KEY, &format!("1;{pk}")));
        assert_eq!(verify(&ri), Ok(Some(name("fam"))));
        for bad_sig in ["@@@@".to_string(), crate::wire::base64::encode(&[7u8; 40])] {
            let ri = router_info_with(&keys, &s, |o| set(o, OPT_SIG, &bad_sig));
            let e = verify(&ri).unwrap_err();
            assert!(matches!(e, FamilyError::MalformedSignature(_)), "{e:?}");
            assert!(e.rejects_store());
            assert_eq!(e.reason(), "bad_family_signature");
        }
        // A type we cannot check is ignored, as Java does with types it lacks.
        let ri = router_info_with(&keys, &s, |o| set(o, OPT_KEY, &format!("9:{pk}")));
        let e = verify(&ri).unwrap_err();
        assert_eq!(e, FamilyError::UnsupportedKeyType("9".into()));
        assert!(!e.rejects_store());
    }

    #[test]
    fn pinned_names_are_neither_configurable_nor_confirmed() {
        assert!(FamilyName::new("stormycloud").is_err());
        // A claim of a pinned name signed with the claimer's own key proves nothing.
        let s = FamilySigner {
            name: FamilyName("i2pd-dev".into()),
            key: Arc::new(FamilyKey::generate()),
        };
        let ri = build_router_info(&RouterKeys::generate(), &params(Some(s)), 1).unwrap();
        let e = verify(&ri).unwrap_err();
        assert_eq!(e, FamilyError::Pinned("i2pd-dev".into()));
        assert!(!e.rejects_store());
    }

    #[test]
    fn names_follow_the_rules() {
        for ok in ["a", "my-family", "ops_team.2", "noc@example.org"] {
            assert!(FamilyName::new(ok).is_ok(), "{ok}");
        }
        assert!(FamilyName::new(&"a".repeat(MAX_NAME_LEN)).is_ok());
        for bad in [
            "", "MyFamily", "a/b", "a\\b", "a..b", ".hidden", "sp ace", "ünï", "SUNYSB", "sunysb",
        ] {
            assert!(FamilyName::new(bad).is_err(), "{bad}");
        }
        assert!(FamilyName::new(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn key_file_is_created_0600_and_reloads_identically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(KEY_FILE);
        let (a, created) = FamilyKey::load_or_create(&path).unwrap();
        assert!(created);
        let (b, created) = FamilyKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(a.public_bytes(), b.public_bytes());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
        let n = name("fam");
        assert_eq!(a.sign(&n, &[5; 32]), b.sign(&n, &[5; 32]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            // Group-readable (a Kubernetes Secret with fsGroup) loads; world-readable does not.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            assert!(FamilyKey::load(&path).is_ok());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                FamilyKey::load(&path),
                Err(FamilyKeyError::Permissions { mode: 0o644, .. })
            ));
        }
        // The Debug form shows the public key only.
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }

    #[test]
    fn sec1_keys_as_openssl_writes_them_for_i2pd_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let key = FamilyKey::generate();
        let secret = p256::SecretKey::from(key.0.as_nonzero_scalar());
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        // `openssl ecparam -genkey` puts an EC PARAMETERS block first.
        let text = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            sec1.as_str()
        );
        write_private(&path, text.as_bytes()).unwrap();
        assert_eq!(
            FamilyKey::load(&path).unwrap().public_bytes(),
            key.public_bytes()
        );
    }

    /// i2pd reads the key file with OpenSSL (`SSL_CTX_use_PrivateKey_file`) and checks
    /// `family.sig` as r ‖ s over SHA-256(name ‖ hash) with OpenSSL's ECDSA: do the same here,
    /// independently of the RustCrypto code that signed.
    #[test]
    fn openssl_reads_the_key_file_and_verifies_the_signature() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let (key, _) = FamilyKey::load_or_create(&path).unwrap();
        let pkey = openssl::pkey::PKey::private_key_from_pem(&std::fs::read(&path).unwrap())
            .expect("OpenSSL reads the PKCS#8 PEM");
        let ec = pkey.ec_key().unwrap();
        let hash = [0x42u8; 32];
        let opts = key.sign(&name("fam"), &hash);
        let sig = crate::wire::base64::decode(&opts[2].1).unwrap();
        let r = openssl::bn::BigNum::from_slice(&sig[..32]).unwrap();
        let s = openssl::bn::BigNum::from_slice(&sig[32..]).unwrap();
        let sig = openssl::ecdsa::EcdsaSig::from_private_components(r, s).unwrap();
        let digest = openssl::sha::sha256(&signed_message("fam", &hash));
        assert!(sig.verify(&digest, &ec).unwrap());
        let other = openssl::sha::sha256(&signed_message("fam", &[0x43; 32]));
        assert!(!sig.verify(&other, &ec).unwrap());
    }

    #[test]
    fn broken_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        for text in [
            "not a key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        ] {
            write_private(&path, text.as_bytes()).unwrap();
            assert!(
                matches!(FamilyKey::load(&path), Err(FamilyKeyError::Format { .. })),
                "{text}"
            );
            // An existing but broken file is never replaced by a fresh key.
            assert!(FamilyKey::load_or_create(&path).is_err());
        }
    }
}

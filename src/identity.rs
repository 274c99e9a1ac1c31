//! The router's own long-term keys, kept in `<data_dir>/router.keys` (mode 0600).
//!
//! File layout (floodgate's own format, versioned so it can grow):
//! `"FLOODGATE-KEYS\0\x01"` (16-byte magic + version), Ed25519 signing secret (32), X25519 router
//! encryption secret (32), NTCP2 static X25519 secret (32), NTCP2 IV (16), identity padding block
//! (32). The padding is stored because the router hash covers it: regenerating it would change the
//! identity. The spec (since 0.9.57) recommends padding made of one random 32-byte block repeated,
//! so RouterInfos compress well in DatabaseStore messages; the block is all we need to keep.
//!
//! [`family`] holds the optional router family key (`<data_dir>/family.key`) and the check of
//! other routers' family claims.

pub mod family;

use crate::crypto::SigningPrivateKey;
use crate::wire::Verified;
use crate::wire::date::Date;
use crate::wire::keys_and_cert::KeysAndCert;
use crate::wire::mapping::Mapping;
use crate::wire::router_address::RouterAddress;
use crate::wire::router_info::{RouterInfo, RouterInfoBuilder};
use rand::RngCore;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;
use zeroize::Zeroizing;

pub const KEYS_FILE: &str = "router.keys";
pub const ROUTER_INFO_FILE: &str = "router.info";
const MAGIC: &[u8; 16] = b"FLOODGATE-KEYS\0\x01";
const FILE_LEN: usize = 16 + 32 + 32 + 32 + 16 + 32;

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("building our RouterInfo: {0}")]
    RouterInfo(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a floodgate key file ({why})")]
    Format { path: PathBuf, why: &'static str },
    #[error(
        "{path}: permissions {mode:o} let other users read the router keys; run `chmod 600` on it"
    )]
    Permissions { path: PathBuf, mode: u32 },
}

/// Secret material of the router. Secrets are zeroized on drop.
pub struct RouterKeys {
    pub signing: SigningPrivateKey,
    pub encryption_secret: Zeroizing<[u8; 32]>,
    pub ntcp2_static_secret: Zeroizing<[u8; 32]>,
    pub ntcp2_iv: [u8; 16],
    pub padding_block: [u8; 32],
}

impl RouterKeys {
    /// Fresh random keys.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let mut enc = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(enc.as_mut());
        let mut ntcp2 = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ntcp2.as_mut());
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        let mut padding_block = [0u8; 32];
        rng.fill_bytes(&mut padding_block);
        Self {
            signing: SigningPrivateKey::generate(),
            encryption_secret: enc,
            ntcp2_static_secret: ntcp2,
            ntcp2_iv: iv,
            padding_block,
        }
    }

    pub fn encryption_public(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*self.encryption_secret))
            .to_bytes()
    }

    pub fn ntcp2_static_public(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*self.ntcp2_static_secret))
            .to_bytes()
    }

    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(FILE_LEN));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&Zeroizing::new(self.signing.to_bytes())[..]);
        out.extend_from_slice(&self.encryption_secret[..]);
        out.extend_from_slice(&self.ntcp2_static_secret[..]);
        out.extend_from_slice(&self.ntcp2_iv);
        out.extend_from_slice(&self.padding_block);
        out
    }

    fn decode(path: &Path, data: &[u8]) -> Result<Self, IdentityError> {
        let fmt = |why| IdentityError::Format {
            path: path.to_path_buf(),
            why,
        };
        if data.len() != FILE_LEN {
            return Err(fmt("wrong length"));
        }
        if &data[..16] != MAGIC {
            return Err(fmt("bad magic or unknown version"));
        }
        let take32 = |off: usize| -> Zeroizing<[u8; 32]> {
            let mut a = Zeroizing::new([0u8; 32]);
            a.copy_from_slice(&data[off..off + 32]);
            a
        };
        let sig = take32(16);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&data[112..128]);
        let mut padding_block = [0u8; 32];
        padding_block.copy_from_slice(&data[128..]);
        Ok(Self {
            signing: SigningPrivateKey::from_bytes(&sig),
            encryption_secret: take32(48),
            ntcp2_static_secret: take32(80),
            ntcp2_iv: iv,
            padding_block,
        })
    }

    /// Load the keys from `data_dir`, creating them (and the directory) on first start.
    /// Returns the keys and whether they were created now.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, bool), IdentityError> {
        let path = data_dir.join(KEYS_FILE);
        match std::fs::read(&path) {
            Ok(data) => {
                check_private(&path)?;
                Ok((Self::decode(&path, &data)?, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self::generate();
                std::fs::create_dir_all(data_dir).map_err(|source| IdentityError::Io {
                    path: data_dir.to_path_buf(),
                    source,
                })?;
                write_private(&path, &keys.encode())?;
                Ok((keys, true))
            }
            Err(source) => Err(IdentityError::Io { path, source }),
        }
    }
}

/// What goes into our RouterInfo besides the keys.
#[derive(Debug, Clone)]
pub struct RouterInfoParams {
    pub net_id: u8,
    pub floodfill: bool,
    /// Shared bandwidth in KiB/s (bandwidth × share), which decides the bandwidth class letter.
    pub shared_kbps: u64,
    /// Published address; `None` means we are not reachable by inbound connections.
    pub host: Option<std::net::IpAddr>,
    /// NTCP2 port, when NTCP2 is enabled.
    pub ntcp2_port: Option<u16>,
    pub router_version: &'static str,
    /// Congestion cap letter (D, E or G) once the transit room reports load.
    pub congestion: Option<char>,
    /// Our router family (`family.name`): publishes `family`, `family.key` and `family.sig`.
    pub family: Option<family::FamilySigner>,
}

/// The `caps` option: floodfill `f`, a bandwidth class letter, reachability `R`/`U`, congestion.
/// Routers in class P or X also publish `O`, as the netDb page suggests for older routers that
/// only know the letters up to O.
pub fn caps(p: &RouterInfoParams) -> String {
    let class = match p.shared_kbps {
        0..12 => 'K',
        12..48 => 'L',
        48..64 => 'M',
        64..128 => 'N',
        128..256 => 'O',
        256..2000 => 'P',
        _ => 'X',
    };
    let mut c = String::new();
    if p.floodfill {
        c.push('f');
    }
    c.push(class);
    if class == 'P' || class == 'X' {
        c.push('O');
    }
    c.push(if p.host.is_some() && p.ntcp2_port.is_some() {
        'R'
    } else {
        'U'
    });
    if let Some(d) = p.congestion {
        c.push(d);
    }
    c
}

/// Build and sign our RouterInfo, published `now_ms`.
pub fn build_router_info(
    keys: &RouterKeys,
    p: &RouterInfoParams,
    now_ms: u64,
) -> Result<Verified<RouterInfo>, IdentityError> {
    let err = |e: &dyn std::fmt::Display| IdentityError::RouterInfo(e.to_string());
    let identity = KeysAndCert::router_identity_x25519_ed25519(
        keys.encryption_public(),
        keys.signing.public_bytes(),
        keys.padding_block,
    );
    // The family signature covers our router hash, which the identity alone determines.
    let family = p.family.as_ref().map(|f| f.options(&identity.hash()));
    let mut builder = RouterInfoBuilder::new(identity, Date::from_millis(now_ms));
    if let Some(port) = p.ntcp2_port {
        let s = crate::wire::base64::encode(&keys.ntcp2_static_public());
        let mut opts = vec![("s".to_string(), s), ("v".to_string(), "2".to_string())];
        // Without a published host the address only tells peers our static key and version
        // (ntcp2.rst: "unpublished" NTCP2 address, higher cost, no i/host/port).
        let cost = if let Some(h) = p.host {
            opts.push(("host".into(), h.to_string()));
            opts.push(("port".into(), port.to_string()));
            opts.push(("i".into(), crate::wire::base64::encode(&keys.ntcp2_iv)));
            NTCP2_COST_PUBLISHED
        } else {
            NTCP2_COST_UNPUBLISHED
        };
        let m = Mapping::from_pairs(opts).map_err(|e| err(&e))?;
        builder = builder
            .address(RouterAddress::new(cost, Date::UNDEFINED, "NTCP2", m).map_err(|e| err(&e))?);
    }
    let options = Mapping::from_pairs(
        [
            ("caps".to_string(), caps(p)),
            ("netId".to_string(), p.net_id.to_string()),
            ("router.version".to_string(), p.router_version.to_string()),
        ]
        .into_iter()
        .chain(family.into_iter().flatten()),
    )
    .map_err(|e| err(&e))?;
    builder
        .options(options)
        .sign(&keys.signing)
        .map_err(|e| err(&e))
}

/// Cost of a published NTCP2 address (the value i2pd and Java I2P use), and of an address that
/// only announces our key (higher, so peers prefer reachable addresses).
const NTCP2_COST_PUBLISHED: u8 = 3;
const NTCP2_COST_UNPUBLISHED: u8 = 14;

/// The permission bits of `path` (0 where the platform has none), for the checks that refuse
/// key files others can read.
pub(crate) fn permission_bits(path: &Path) -> std::io::Result<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).map(|_| 0)
    }
}

fn check_private(path: &Path) -> Result<(), IdentityError> {
    let mode = permission_bits(path).map_err(|source| IdentityError::Io {
        path: path.into(),
        source,
    })?;
    if mode & 0o077 != 0 {
        return Err(IdentityError::Permissions {
            path: path.into(),
            mode,
        });
    }
    Ok(())
}

/// Write a file readable only by its owner, atomically.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), IdentityError> {
    write_atomic(path, data, 0o600)
}

/// Write a file atomically (temp file + fsync + rename), so a crash never leaves a half-written
/// key file or RouterInfo behind. `mode` applies on Unix.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    // A leftover temp file from a crash would keep its old mode; start from scratch.
    let _ = std::fs::remove_file(&tmp);
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_across_restarts_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = RouterKeys::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (b, created) = RouterKeys::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(a.signing.public_bytes(), b.signing.public_bytes());
        assert_eq!(a.encryption_public(), b.encryption_public());
        assert_eq!(a.ntcp2_static_public(), b.ntcp2_static_public());
        assert_eq!(a.ntcp2_iv, b.ntcp2_iv);
        assert_eq!(a.padding_block, b.padding_block);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEYS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    fn params() -> RouterInfoParams {
        RouterInfoParams {
            net_id: 99,
            floodfill: true,
            shared_kbps: 8192,
            host: Some("198.18.0.100".parse().unwrap()),
            ntcp2_port: Some(12345),
            router_version: "0.9.67",
            congestion: None,
            family: None,
        }
    }

    #[test]
    fn caps_follow_config() {
        assert_eq!(caps(&params()), "fXOR");
        let p = RouterInfoParams {
            floodfill: false,
            shared_kbps: 100,
            host: None,
            ..params()
        };
        assert_eq!(caps(&p), "NU");
        let p = RouterInfoParams {
            shared_kbps: 300,
            congestion: Some('D'),
            ..params()
        };
        assert_eq!(caps(&p), "fPORD");
        assert_eq!(
            caps(&RouterInfoParams {
                shared_kbps: 0,
                ..params()
            }),
            "fKR"
        );
    }

    #[test]
    fn router_info_is_signed_and_complete() {
        let keys = RouterKeys::generate();
        let ri = build_router_info(&keys, &params(), 1_700_000_000_000).unwrap();
        assert_eq!(ri.net_id(), Some(99));
        assert!(ri.is_floodfill());
        assert_eq!(ri.version(), Some("0.9.67"));
        assert_eq!(ri.published().millis(), 1_700_000_000_000);
        let a = &ri.addresses()[0];
        assert_eq!(a.transport(), "NTCP2");
        assert_eq!(a.cost(), 3);
        assert_eq!(a.port(), Some(12345));
        assert_eq!(a.get("v"), Some("2"));
        let s = crate::wire::base64::decode(a.get("s").unwrap()).unwrap();
        assert_eq!(s, keys.ntcp2_static_public());
        let i = crate::wire::base64::decode(a.get("i").unwrap()).unwrap();
        assert_eq!(i, keys.ntcp2_iv);
        // What we write parses and verifies from bytes again.
        let reparsed = RouterInfo::parse(ri.as_bytes()).unwrap().verify().unwrap();
        assert_eq!(reparsed.hash(), ri.hash());
        // Without host: unpublished address, no i/host/port.
        let ri = build_router_info(
            &keys,
            &RouterInfoParams {
                host: None,
                ..params()
            },
            1,
        )
        .unwrap();
        let a = &ri.addresses()[0];
        assert_eq!(a.cost(), 14);
        assert!(a.get("host").is_none() && a.get("i").is_none() && a.get("port").is_none());
    }

    #[test]
    fn corrupt_or_readable_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEYS_FILE);
        write_private(&path, b"short").unwrap();
        assert!(matches!(
            RouterKeys::load_or_create(dir.path()),
            Err(IdentityError::Format { .. })
        ));
        let mut data = RouterKeys::generate().encode().to_vec();
        data[0] ^= 1;
        write_private(&path, &data).unwrap();
        assert!(matches!(
            RouterKeys::load_or_create(dir.path()),
            Err(IdentityError::Format { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            data[0] ^= 1;
            write_private(&path, &data).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                RouterKeys::load_or_create(dir.path()),
                Err(IdentityError::Permissions { mode: 0o644, .. })
            ));
        }
    }
}

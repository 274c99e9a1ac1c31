//! Bootstrap from local files (`reseed.files`): folders of `routerInfo-*.dat`, flat or in i2pd's
//! `r<char>/` layout. Every RouterInfo is parsed, signature-checked and must carry our network
//! id before it enters the netDb; files that fail are reported with the reason and skipped.

use super::NetDb;
use crate::wire::RouterInfo;
use std::path::{Path, PathBuf};
use thiserror::Error;
use tracing::{info, warn};

/// Largest file read as a RouterInfo (a RouterInfo is at most 3 KiB; more is not one).
const MAX_FILE_LEN: u64 = 64 * 1024;

#[derive(Debug, Error)]
pub enum ReseedError {
    #[error("reseed source {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "reseed source {0}: .zip and .su3 bundles are not supported yet; unpack it into a folder"
    )]
    UnsupportedBundle(PathBuf),
}

/// What a reseed did.
#[derive(Debug, Default)]
pub struct ReseedReport {
    pub loaded: usize,
    /// (file, reason) for every RouterInfo that was refused.
    pub rejected: Vec<(PathBuf, &'static str)>,
}

/// Collect `routerInfo-*.dat` files in `dir` and its one-level subfolders (`r?/`).
pub fn router_info_files(dir: &Path) -> Result<Vec<PathBuf>, ReseedError> {
    let io = |source| ReseedError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let ft = entry.file_type().map_err(io)?;
        if ft.is_dir() {
            for sub in std::fs::read_dir(&path).map_err(io)? {
                let sub = sub.map_err(io)?.path();
                if is_router_info_name(&sub) {
                    out.push(sub);
                }
            }
        } else if is_router_info_name(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn is_router_info_name(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("routerInfo-") && n.ends_with(".dat"))
}

/// Check one RouterInfo file's bytes: parse, signature, network id, not ourselves.
pub fn check_router_info(
    bytes: &[u8],
    net_id: u8,
    our_hash: &[u8; 32],
) -> Result<RouterInfo, &'static str> {
    let ri = RouterInfo::parse(bytes)
        .map_err(|_| "malformed")?
        .verify()
        .map_err(|_| "signature")?
        .into_inner();
    if ri.net_id() != Some(u32::from(net_id)) {
        return Err("net_id");
    }
    if &ri.hash() == our_hash {
        return Err("ours");
    }
    Ok(ri)
}

/// Load every configured source into `netdb`. Blocking file reads and signature checks run on
/// the blocking pool.
pub async fn reseed_from_files(
    netdb: &NetDb,
    sources: &[PathBuf],
    net_id: u8,
) -> Result<ReseedReport, ReseedError> {
    let our = netdb.our_hash();
    let sources = sources.to_vec();
    let checked = tokio::task::spawn_blocking(move || {
        let mut ok = Vec::new();
        let mut rejected = Vec::new();
        for src in &sources {
            let files = if src.is_dir() {
                router_info_files(src)?
            } else if src.extension().is_some_and(|e| e == "zip" || e == "su3") {
                return Err(ReseedError::UnsupportedBundle(src.clone()));
            } else {
                vec![src.clone()]
            };
            for f in files {
                let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
                if len > MAX_FILE_LEN {
                    rejected.push((f, "too_large"));
                    continue;
                }
                let bytes = std::fs::read(&f).map_err(|source| ReseedError::Io {
                    path: f.clone(),
                    source,
                })?;
                match check_router_info(&bytes, net_id, &our) {
                    Ok(ri) => ok.push(ri),
                    Err(why) => rejected.push((f, why)),
                }
            }
        }
        Ok((ok, rejected))
    })
    .await
    .map_err(|e| ReseedError::Io {
        path: PathBuf::new(),
        source: std::io::Error::other(e),
    })??;
    let (ok, rejected) = checked;
    let loaded = ok.len();
    for ri in ok {
        netdb.insert_verified_router_info(ri).await;
    }
    for (f, why) in &rejected {
        warn!(file = %f.display(), reason = why, "reseed: RouterInfo refused");
    }
    info!(loaded, rejected = rejected.len(), "reseed from files done");
    Ok(ReseedReport { loaded, rejected })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{RouterInfoParams, RouterKeys, build_router_info};

    fn ri(net_id: u8) -> Vec<u8> {
        let p = RouterInfoParams {
            net_id,
            floodfill: true,
            shared_kbps: 1000,
            host: Some("198.18.0.1".parse().unwrap()),
            ntcp2_port: Some(1),
            router_version: "0.9.67",
            congestion: None,
        };
        build_router_info(&RouterKeys::generate(), &p, 1_000)
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    #[test]
    fn finds_flat_and_nested_files_and_checks_each() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("routerInfo-a.dat"), ri(99)).unwrap();
        std::fs::create_dir(dir.path().join("rB")).unwrap();
        std::fs::write(dir.path().join("rB/routerInfo-b.dat"), ri(99)).unwrap();
        std::fs::write(dir.path().join("other.txt"), b"x").unwrap();
        let files = router_info_files(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        let our = [0u8; 32];
        assert!(check_router_info(&ri(99), 99, &our).is_ok());
        assert_eq!(check_router_info(&ri(2), 99, &our).unwrap_err(), "net_id");
        let mut bad = ri(99);
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(check_router_info(&bad, 99, &our).unwrap_err(), "signature");
        assert_eq!(
            check_router_info(b"junk", 99, &our).unwrap_err(),
            "malformed"
        );
    }
}

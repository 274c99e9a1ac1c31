//! Bootstrap the netDb when it holds too few RouterInfos.
//!
//! Sources, in order:
//! 1. `reseed.files`: folders of `routerInfo-*.dat` (flat or in i2pd's `r<char>/` layout),
//!    single RouterInfo files, `.zip` bundles of `routerInfo-*.dat`, and signed `.su3` bundles.
//! 2. `reseed.urls` (by default the public servers in [`embedded`], on net id 2 only): HTTPS
//!    reseed servers, tried in random order until the netDb is above the target *and*
//!    `reseed.min_servers` distinct hosts have each answered a valid bundle; each answers an su3
//!    bundle (see [`fetch`]). Asking several servers is the defence against one hostile or
//!    compromised server: alone it could hand a new router a netDb of its own routers only
//!    (Java I2P asks 12 servers for that reason).
//!
//! The router reseeds at start and again whenever the netDb has fallen below the target later
//! (a long partition, a wiped data dir); [`ReseedSchedule`] spaces the tries with a doubling
//! back-off so that a router that cannot reach the servers does not hammer them.
//!
//! An su3 bundle must be a reseed (content type 3) zip (file type 0) signed by a signer whose
//! certificate is in `reseed.certificates` ([`certs`]). Every RouterInfo, whatever its source,
//! is parsed, signature-checked and must carry our network id before it enters the netDb; the
//! ones that fail are counted and logged with the reason. A source that fails as a whole (cannot
//! be read, bad zip, bad signature, download error) is logged and the next one is tried: a
//! failed reseed never stops the router.

pub mod certs;
pub mod embedded;
pub mod fetch;

use super::NetDb;
use crate::ops::metrics::reg;
use crate::wire::RouterInfo;
use crate::wire::WireError;
use crate::wire::su3::{CONTENT_TYPE_RESEED, FILE_TYPE_ZIP, Su3};
use crate::wire::zip::{ZipLimits, read_zip};
use certs::{CertStore, Su3VerifyError};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tracing::{debug, info, warn};

/// Largest file read as a RouterInfo (a RouterInfo is at most 3 KiB; more is not one).
const MAX_FILE_LEN: u64 = 64 * 1024;
/// Largest .zip or .su3 bundle read from disk or the network.
const MAX_BUNDLE_LEN: usize = fetch::MAX_SU3_LEN;
/// Zip bounds: real bundles hold 50-150 RouterInfos of 1-3 KiB each.
pub const ZIP_LIMITS: ZipLimits = ZipLimits {
    max_entries: 2000,
    max_entry_size: MAX_FILE_LEN as usize,
    // 2000 entries of at most 64 KiB could not inflate further anyway; real bundles inflate to
    // well under 1 MiB.
    max_total_size: 16 * 1024 * 1024,
};

/// `source` label values.
pub const SOURCE_FILES: &str = "files";
pub const SOURCE_ZIP: &str = "zip";
pub const SOURCE_SU3: &str = "su3";
pub const SOURCE_HTTPS: &str = "https";

#[derive(Debug, Error)]
pub enum ReseedError {
    #[error("reseed source {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reseed source {origin}: {len} bytes, more than the {max} allowed")]
    TooLarge { origin: String, len: u64, max: u64 },
    #[error("reseed source {origin}: bad zip: {source}")]
    Zip { origin: String, source: WireError },
    #[error("reseed source {origin}: bad su3: {source}")]
    Su3 { origin: String, source: WireError },
    #[error("reseed source {origin}: {source}")]
    Su3Signature {
        origin: String,
        source: Su3VerifyError,
    },
    #[error(
        "reseed source {origin}: su3 is not a reseed bundle (file type {file_type}, content type {content_type}; want zip (0) and reseed (3))"
    )]
    Su3NotReseed {
        origin: String,
        file_type: u8,
        content_type: u8,
    },
    #[error("reseed server {0}")]
    Fetch(#[from] fetch::FetchError),
    #[error("reseed task failed: {0}")]
    Task(String),
}

impl ReseedError {
    /// A short stable label for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::TooLarge { .. } => "too_large",
            Self::Zip { .. } => "zip",
            Self::Su3 { .. } => "su3_format",
            Self::Su3Signature { .. } => "su3_signature",
            Self::Su3NotReseed { .. } => "su3_not_reseed",
            Self::Fetch(_) => "fetch",
            Self::Task(_) => "task",
        }
    }
}

/// Reseed metric families, registered in the router's registry.
#[derive(Clone)]
pub struct ReseedMetrics {
    /// RouterInfos met while reseeding, by source kind and result.
    pub router_infos: IntCounterVec,
    /// Reseed sources tried, by source kind and result.
    pub sources: IntCounterVec,
    /// Reseed runs, by result.
    pub runs: IntCounterVec,
    /// When the last reseed run ended.
    pub last_run_seconds: IntGauge,
    /// Distinct servers that answered a valid bundle in the last run.
    pub last_run_servers: IntGauge,
}

impl ReseedMetrics {
    pub fn register(r: &Registry) -> Self {
        Self {
            router_infos: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_reseed_router_infos_total",
                        "RouterInfos read while reseeding, by source (files, zip, su3, https) \
                         and result (loaded = checked and stored, rejected = malformed, bad \
                         signature, other network or our own).",
                    ),
                    &["source", "result"],
                )
                .expect("valid"),
            ),
            sources: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_reseed_sources_total",
                        "Reseed sources tried (a folder, file, bundle or server), by source kind \
                         (files, zip, su3, https) and result (ok, failed).",
                    ),
                    &["source", "result"],
                )
                .expect("valid"),
            ),
            runs: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "floodgate_reseed_runs_total",
                        "Reseed runs, by result: complete (netDb at the target and \
                         reseed.min_servers servers answered), partial (some RouterInfos \
                         loaded, not complete), failed (nothing loaded).",
                    ),
                    &["result"],
                )
                .expect("valid"),
            ),
            last_run_seconds: reg(
                r,
                IntGauge::new(
                    "floodgate_reseed_last_run_timestamp_seconds",
                    "Unix time in seconds when the last reseed run ended (0: none yet).",
                )
                .expect("valid"),
            ),
            last_run_servers: reg(
                r,
                IntGauge::new(
                    "floodgate_reseed_last_run_servers",
                    "Distinct HTTPS reseed servers (by host) that answered a valid bundle in the \
                     last reseed run.",
                )
                .expect("valid"),
            ),
        }
    }
}

/// When to reseed: below the target, and not sooner than the back-off after the last try.
/// Pure (time is passed in) so the spacing is tested without waiting.
#[derive(Debug, Clone)]
pub struct ReseedSchedule {
    retry_ms: u64,
    last_try_ms: Option<u64>,
    /// Consecutive runs that left the netDb below the target.
    misses: u32,
}

/// The longest wait between two reseed tries.
pub const MAX_RESEED_BACKOFF_MS: u64 = 6 * 3600 * 1000;

impl ReseedSchedule {
    pub fn new(retry_ms: u64) -> Self {
        Self {
            retry_ms: retry_ms.max(1),
            last_try_ms: None,
            misses: 0,
        }
    }

    /// The base wait between tries.
    pub fn retry_ms(&self) -> u64 {
        self.retry_ms
    }

    /// The wait after the last try: `retry` after a run that reached the target (the netDb can
    /// still shrink later), doubling per consecutive miss, at most [`MAX_RESEED_BACKOFF_MS`].
    pub fn backoff_ms(&self) -> u64 {
        let doublings = self.misses.saturating_sub(1).min(20);
        self.retry_ms
            .saturating_mul(1 << doublings)
            .min(MAX_RESEED_BACKOFF_MS)
    }

    /// Should a reseed start now, holding `held` RouterInfos against `target`?
    pub fn due(&self, now_ms: u64, held: usize, target: usize) -> bool {
        held < target
            && self
                .last_try_ms
                .is_none_or(|t| now_ms >= t.saturating_add(self.backoff_ms()))
    }

    /// Record a finished run; `reached` says whether the netDb got to the target.
    pub fn record(&mut self, now_ms: u64, reached: bool) {
        self.last_try_ms = Some(now_ms);
        self.misses = if reached {
            0
        } else {
            self.misses.saturating_add(1)
        };
    }
}

/// What a reseed did.
#[derive(Debug, Default)]
pub struct ReseedReport {
    pub loaded: usize,
    /// Distinct HTTPS servers (by host) that answered a valid bundle.
    pub servers_ok: usize,
    /// The netDb reached the target and enough servers answered.
    pub complete: bool,
    /// (file or entry, reason) for every RouterInfo that was refused.
    pub rejected: Vec<(String, &'static str)>,
    /// Sources that failed as a whole, with the reason.
    pub failed: Vec<String>,
}

/// RouterInfos of one source after checking.
#[derive(Debug, Default)]
pub struct Checked {
    pub ok: Vec<RouterInfo>,
    pub rejected: Vec<(String, &'static str)>,
}

impl Checked {
    fn check(&mut self, name: String, bytes: &[u8], expect: &Expect) {
        match check_router_info(bytes, expect) {
            Ok(ri) => self.ok.push(ri),
            Err(why) => self.rejected.push((name, why)),
        }
    }
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
        .is_some_and(is_router_info_file_name)
}

/// `routerInfo-<hash>.dat`, the only entries a reseed bundle is read for.
fn is_router_info_file_name(n: &str) -> bool {
    n.starts_with("routerInfo-") && n.ends_with(".dat")
}

/// What every reseeded RouterInfo must be: of our network, not ourselves, and recent.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub net_id: u8,
    pub our_hash: [u8; 32],
    /// Our clock, for the age checks.
    pub now_ms: u64,
}

/// Reseeded RouterInfos published longer ago than this are refused (`too_old`): a bundle of
/// routers that may have been gone for days fills the netDb with dead ends (Java I2P's
/// Reseeder skips RouterInfos older than its `MAX_FILE_AGE`, 3 days; reseed servers publish
/// what they saw in the last hours).
pub const MAX_RESEED_ROUTER_INFO_AGE_MS: u64 = 3 * 24 * 3600 * 1000;

/// Check one RouterInfo file's bytes by the rules every RouterInfo we take in follows
/// ([`super::validate::check_router_info`]: network id, published neither more than 3 days ago
/// here nor in the future, signature, family claim), and that it is not ourselves. The reasons
/// keep the reseed's own labels.
pub fn check_router_info(bytes: &[u8], expect: &Expect) -> Result<RouterInfo, &'static str> {
    use super::validate::{Rejection, ValidationContext};
    let unverified = RouterInfo::parse(bytes).map_err(|_| "malformed")?;
    let hash = unverified.dangerous_inner().hash();
    if hash == expect.our_hash {
        return Err("ours");
    }
    let ctx = ValidationContext {
        our_hash: expect.our_hash,
        net_id: expect.net_id,
        floodfill: false,
        router_info_max_age_ms: MAX_RESEED_ROUTER_INFO_AGE_MS,
    };
    super::validate::check_router_info(&ctx, &hash, unverified, None, expect.now_ms).map_err(|r| {
        match r {
            Rejection::Parse(_) | Rejection::Oversize { .. } => "malformed",
            Rejection::Signature(_) => "signature",
            Rejection::WrongNetId { .. } => "net_id",
            Rejection::Expired => "too_old",
            Rejection::Future(_) => "future",
            other => other.reason(),
        }
    })
}

/// The RouterInfos of a zip bundle (entries not named `routerInfo-*.dat` are ignored).
pub fn router_infos_from_zip(
    origin: &str,
    zip: &[u8],
    expect: &Expect,
) -> Result<Checked, ReseedError> {
    let entries = read_zip(zip, &ZIP_LIMITS).map_err(|source| ReseedError::Zip {
        origin: origin.to_string(),
        source,
    })?;
    let mut out = Checked::default();
    for e in entries {
        // Bundles are flat, but a folder prefix is harmless: only the base name is matched.
        let base = e.name.rsplit('/').next().unwrap_or_default();
        if !is_router_info_file_name(base) {
            debug!(origin, entry = %e.name, "reseed: zip entry is not a RouterInfo, skipped");
            continue;
        }
        out.check(format!("{origin}:{}", e.name), &e.data, expect);
    }
    Ok(out)
}

/// Parse an su3 bundle, verify its signer's signature, and read the zip it carries.
pub fn router_infos_from_su3(
    origin: &str,
    bytes: &[u8],
    certs: &CertStore,
    expect: &Expect,
) -> Result<Checked, ReseedError> {
    let parsed = Su3::parse(bytes).map_err(|source| ReseedError::Su3 {
        origin: origin.to_string(),
        source,
    })?;
    let su3 = certs
        .verify(parsed)
        .map_err(|source| ReseedError::Su3Signature {
            origin: origin.to_string(),
            source,
        })?;
    // The content type is the trust domain: a signer's valid router update is not reseed data.
    if su3.file_type != FILE_TYPE_ZIP || su3.content_type != CONTENT_TYPE_RESEED {
        return Err(ReseedError::Su3NotReseed {
            origin: origin.to_string(),
            file_type: su3.file_type,
            content_type: su3.content_type,
        });
    }
    debug!(
        origin,
        signer = su3.signer_id,
        version = %String::from_utf8_lossy(su3.version),
        "reseed: su3 signature verified"
    );
    router_infos_from_zip(origin, su3.content, expect)
}

/// Read a whole bundle file, refusing one above the size limit before reading it.
fn read_bundle(path: &Path) -> Result<Vec<u8>, ReseedError> {
    let io = |source| ReseedError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_BUNDLE_LEN as u64 {
        return Err(ReseedError::TooLarge {
            origin: path.display().to_string(),
            len,
            max: MAX_BUNDLE_LEN as u64,
        });
    }
    std::fs::read(path).map_err(io)
}

/// The `source` label of a `reseed.files` entry.
fn file_source_kind(src: &Path) -> &'static str {
    match src.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("zip") => SOURCE_ZIP,
        Some(e) if e.eq_ignore_ascii_case("su3") => SOURCE_SU3,
        _ => SOURCE_FILES,
    }
}

/// Read and check one `reseed.files` entry (blocking).
pub fn load_file_source(
    src: &Path,
    certs: &CertStore,
    expect: &Expect,
) -> Result<Checked, ReseedError> {
    let origin = src.display().to_string();
    if src.is_dir() {
        let mut out = Checked::default();
        for f in router_info_files(src)? {
            let name = f.display().to_string();
            let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            if len > MAX_FILE_LEN {
                out.rejected.push((name, "too_large"));
                continue;
            }
            let bytes = std::fs::read(&f).map_err(|source| ReseedError::Io {
                path: f.clone(),
                source,
            })?;
            out.check(name, &bytes, expect);
        }
        return Ok(out);
    }
    match file_source_kind(src) {
        SOURCE_ZIP => router_infos_from_zip(&origin, &read_bundle(src)?, expect),
        SOURCE_SU3 => router_infos_from_su3(&origin, &read_bundle(src)?, certs, expect),
        _ => {
            let mut out = Checked::default();
            let len = std::fs::metadata(src)
                .map_err(|source| ReseedError::Io {
                    path: src.to_path_buf(),
                    source,
                })?
                .len();
            if len > MAX_FILE_LEN {
                out.rejected.push((origin, "too_large"));
            } else {
                let bytes = std::fs::read(src).map_err(|source| ReseedError::Io {
                    path: src.to_path_buf(),
                    source,
                })?;
                out.check(origin, &bytes, expect);
            }
            Ok(out)
        }
    }
}

/// What to reseed from and how far.
pub struct ReseedPlan {
    pub files: Vec<PathBuf>,
    pub urls: Vec<String>,
    pub certs: Arc<CertStore>,
    pub net_id: u8,
    /// HTTPS servers are tried while the netDb holds fewer RouterInfos than this ...
    pub target: usize,
    /// ... or fewer than this many distinct servers have answered a valid bundle.
    pub min_servers: usize,
    /// Extra CA roots for the servers' TLS (`reseed.tls_roots`).
    pub tls_roots: Vec<reqwest::Certificate>,
}

/// Store checked RouterInfos, count them and log the rejected ones.
async fn absorb(
    netdb: &NetDb,
    metrics: &ReseedMetrics,
    kind: &'static str,
    checked: Checked,
    report: &mut ReseedReport,
) {
    let loaded = checked.ok.len();
    for ri in checked.ok {
        netdb.insert_verified_router_info(ri).await;
    }
    for (name, why) in &checked.rejected {
        warn!(source = name, reason = why, "reseed: RouterInfo refused");
    }
    metrics
        .router_infos
        .with_label_values(&[kind, "loaded"])
        .inc_by(loaded as u64);
    metrics
        .router_infos
        .with_label_values(&[kind, "rejected"])
        .inc_by(checked.rejected.len() as u64);
    metrics.sources.with_label_values(&[kind, "ok"]).inc();
    report.loaded += loaded;
    report.rejected.extend(checked.rejected);
}

fn failed(metrics: &ReseedMetrics, kind: &'static str, e: ReseedError, report: &mut ReseedReport) {
    warn!(source_kind = kind, reason = e.reason(), error = %e, "reseed source failed, trying the next one");
    metrics.sources.with_label_values(&[kind, "failed"]).inc();
    report.failed.push(e.to_string());
}

/// Reseed: every file source, then HTTPS servers in random order until the netDb reaches
/// `plan.target` RouterInfos and `plan.min_servers` distinct hosts have answered, or the list
/// is exhausted. Never fails: sources that fail are logged, counted and listed in the report.
pub async fn reseed(
    netdb: &NetDb,
    plan: &ReseedPlan,
    metrics: &ReseedMetrics,
    now_ms: u64,
) -> ReseedReport {
    let net_id = plan.net_id;
    let expect = Expect {
        net_id,
        our_hash: netdb.our_hash(),
        now_ms,
    };
    let mut report = ReseedReport::default();
    for src in &plan.files {
        let kind = if src.is_dir() {
            SOURCE_FILES
        } else {
            file_source_kind(src)
        };
        let (src2, certs) = (src.clone(), plan.certs.clone());
        // File reads, inflating and signature checks are blocking work.
        let r = tokio::task::spawn_blocking(move || load_file_source(&src2, &certs, &expect))
            .await
            .map_err(|e| ReseedError::Task(e.to_string()))
            .and_then(|r| r);
        match r {
            Ok(c) => {
                info!(source = %src.display(), loaded = c.ok.len(), rejected = c.rejected.len(), "reseed source read");
                absorb(netdb, metrics, kind, c, &mut report).await;
            }
            Err(e) => failed(metrics, kind, e, &mut report),
        }
    }

    let mut urls = plan.urls.clone();
    urls.shuffle(&mut rand::thread_rng());
    let mut client = None;
    // Hosts that already answered a valid bundle: another URL of the same host is the same
    // operator and does not count as a second source.
    let mut answered: Vec<String> = Vec::new();
    for base in urls {
        let held = netdb.counts().0;
        if held >= plan.target && answered.len() >= plan.min_servers {
            break;
        }
        let host = fetch::url_host(&base).unwrap_or_else(|| base.clone());
        if answered.contains(&host) {
            continue;
        }
        let url = fetch::su3_url(&base, net_id);
        if client.is_none() {
            match fetch::client(&plan.tls_roots) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    failed(metrics, SOURCE_HTTPS, e.into(), &mut report);
                    break;
                }
            }
        }
        let Some(c) = client.as_ref() else { break };
        info!(
            server = %host,
            held,
            target = plan.target,
            servers_ok = answered.len(),
            min_servers = plan.min_servers,
            "reseed: fetching"
        );
        let r = match fetch::fetch(c, &url, fetch::MAX_SU3_LEN).await {
            Ok(body) => {
                let (certs, origin) = (plan.certs.clone(), url.clone());
                tokio::task::spawn_blocking(move || {
                    router_infos_from_su3(&origin, &body, &certs, &expect)
                })
                .await
                .map_err(|e| ReseedError::Task(e.to_string()))
                .and_then(|r| r)
            }
            Err(e) => Err(e.into()),
        };
        match r {
            Ok(c) => {
                info!(
                    server = %host,
                    loaded = c.ok.len(),
                    rejected = c.rejected.len(),
                    "reseed server read"
                );
                // A correctly signed bundle without a single usable RouterInfo is no source.
                if !c.ok.is_empty() {
                    answered.push(host);
                }
                absorb(netdb, metrics, SOURCE_HTTPS, c, &mut report).await;
            }
            Err(e) => failed(metrics, SOURCE_HTTPS, e, &mut report),
        }
    }
    report.servers_ok = answered.len();
    let held = netdb.counts().0;
    // Without HTTPS servers configured, the file sources are all there is: reaching the target
    // from them completes the run.
    let enough_servers = plan.urls.is_empty() || report.servers_ok >= plan.min_servers;
    report.complete = held >= plan.target && enough_servers;
    let result = if report.complete {
        "complete"
    } else if report.loaded > 0 {
        "partial"
    } else {
        "failed"
    };
    metrics.runs.with_label_values(&[result]).inc();
    metrics
        .last_run_seconds
        .set((crate::tunnel::unix_now_ms() / 1000) as i64);
    metrics.last_run_servers.set(report.servers_ok as i64);
    info!(
        result,
        loaded = report.loaded,
        rejected = report.rejected.len(),
        failed_sources = report.failed.len(),
        servers_ok = report.servers_ok,
        held,
        "reseed done"
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{RouterInfoParams, RouterKeys, build_router_info};
    use crate::netdb::floodfill::NetDbOptions;
    use crate::wire::keys::SigType;
    use crate::wire::su3::unsigned_su3;
    use crate::wire::zip::write_zip;
    use rsa::pkcs8::DecodePrivateKey;
    use sha2::{Digest, Sha512};

    const NET: u8 = 99;
    const RSA_SIGNER: &str = "floodgate-test@mail.i2p";
    const EC_SIGNER: &str = "floodgate-ec-test@mail.i2p";

    fn ri(net_id: u8) -> Vec<u8> {
        ri_at(net_id, 1_000)
    }

    fn ri_at(net_id: u8, published_ms: u64) -> Vec<u8> {
        let p = RouterInfoParams {
            net_id,
            floodfill: true,
            shared_kbps: 1000,
            host: Some("198.18.0.1".parse().unwrap()),
            ntcp2_port: Some(1),
            router_version: "0.9.67",
            congestion: None,
            family: None,
        };
        build_router_info(&RouterKeys::generate(), &p, published_ms)
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    /// The test signer material, generated for this repository with openssl (see the report of
    /// the commit that added it); no real reseed certificate is involved.
    fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reseed")
    }

    fn certs() -> CertStore {
        CertStore::load(&[data_dir()]).unwrap()
    }

    /// A reseed zip: `good` RouterInfos of our network, one of another network, one non-entry.
    fn bundle(good: usize) -> Vec<u8> {
        let mut files: Vec<(String, Vec<u8>)> = (0..good)
            .map(|i| (format!("routerInfo-{i}.dat"), ri(NET)))
            .collect();
        files.push(("routerInfo-other.dat".into(), ri(2)));
        files.push(("README.txt".into(), b"not a RouterInfo".to_vec()));
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
        write_zip(&refs, true)
    }

    fn rsa_key() -> rsa::RsaPrivateKey {
        let pem = std::fs::read_to_string(data_dir().join("rsa4096-test.key.pem")).unwrap();
        rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()
    }

    fn su3_rsa(signer: &str, content_type: u8, zip: &[u8]) -> Vec<u8> {
        crate::netdb::testkit::rsa_su3(&rsa_key(), signer, content_type, zip)
    }

    fn su3_p256(zip: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        use p256::pkcs8::DecodePrivateKey as _;
        let pem = std::fs::read_to_string(data_dir().join("p256-test.key.pem")).unwrap();
        let k = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
        let mut f = unsigned_su3(
            SigType::EcdsaSha256P256,
            b"1700000000",
            EC_SIGNER,
            FILE_TYPE_ZIP,
            CONTENT_TYPE_RESEED,
            zip,
        );
        let sig: p256::ecdsa::Signature = k.sign(&f);
        f.extend_from_slice(&sig.to_bytes());
        f
    }

    /// The test RouterInfos are published at 1 s after the epoch; "now" is a day later.
    const EXPECT: Expect = Expect {
        net_id: NET,
        our_hash: [0u8; 32],
        now_ms: 86_400_000,
    };

    #[test]
    fn finds_flat_and_nested_files_and_checks_each() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("routerInfo-a.dat"), ri(99)).unwrap();
        std::fs::create_dir(dir.path().join("rB")).unwrap();
        std::fs::write(dir.path().join("rB/routerInfo-b.dat"), ri(99)).unwrap();
        std::fs::write(dir.path().join("other.txt"), b"x").unwrap();
        let files = router_info_files(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(check_router_info(&ri(99), &EXPECT).is_ok());
        assert_eq!(check_router_info(&ri(2), &EXPECT).unwrap_err(), "net_id");
        // Published at 1 s: fine a day later, too old after 3 days and a second, and from the
        // future for a clock 3 minutes behind it.
        let at = |now_ms| Expect { now_ms, ..EXPECT };
        let edge = 1_000 + MAX_RESEED_ROUTER_INFO_AGE_MS;
        assert!(check_router_info(&ri(99), &at(edge)).is_ok());
        assert_eq!(
            check_router_info(&ri(99), &at(edge + 1)).unwrap_err(),
            "too_old"
        );
        let later = ri_at(99, 10_000_000);
        let skew = crate::netdb::validate::MAX_PUBLISHED_FUTURE_MS;
        assert!(check_router_info(&later, &at(10_000_000 - skew)).is_ok());
        assert_eq!(
            check_router_info(&later, &at(10_000_000 - skew - 1)).unwrap_err(),
            "future"
        );
        let mut bad = ri(99);
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(check_router_info(&bad, &EXPECT).unwrap_err(), "signature");
        assert_eq!(
            check_router_info(b"junk", &EXPECT).unwrap_err(),
            "malformed"
        );
    }

    #[test]
    fn zip_bundle_loads_router_infos_and_refuses_others() {
        let c = router_infos_from_zip("t.zip", &bundle(3), &EXPECT).unwrap();
        assert_eq!(c.ok.len(), 3);
        assert_eq!(
            c.rejected,
            vec![("t.zip:routerInfo-other.dat".into(), "net_id")]
        );
        let e = router_infos_from_zip("t.zip", b"PK\x03\x04 broken", &EXPECT).unwrap_err();
        assert!(matches!(e, ReseedError::Zip { .. }), "{e}");
    }

    #[test]
    fn rsa_su3_good_flipped_wrong_signer_truncated() {
        let certs = certs();
        let f = su3_rsa(RSA_SIGNER, CONTENT_TYPE_RESEED, &bundle(2));
        let c = router_infos_from_su3("t.su3", &f, &certs, &EXPECT).unwrap();
        assert_eq!(c.ok.len(), 2);
        assert_eq!(c.rejected.len(), 1);

        // One flipped bit anywhere in header, content or signature breaks the signature.
        for at in [20, 200, f.len() - 100] {
            let mut bad = f.clone();
            bad[at] ^= 0x01;
            match router_infos_from_su3("t.su3", &bad, &certs, &EXPECT).unwrap_err() {
                ReseedError::Su3Signature {
                    source: Su3VerifyError::BadSignature { signer },
                    ..
                } => assert_eq!(signer, RSA_SIGNER),
                // Byte 20 is inside the content length: the file no longer adds up.
                ReseedError::Su3 { source, .. } if at == 20 => {
                    assert_eq!(source.what, "su3 content length")
                }
                e => panic!("byte {at}: {e}"),
            }
        }

        let other = su3_rsa("nobody@mail.i2p", CONTENT_TYPE_RESEED, &bundle(1));
        let e = router_infos_from_su3("t.su3", &other, &certs, &EXPECT).unwrap_err();
        assert!(e.to_string().contains("nobody@mail.i2p"), "{e}");
        assert!(matches!(
            e,
            ReseedError::Su3Signature {
                source: Su3VerifyError::UnknownSigner(_),
                ..
            }
        ));

        let e = router_infos_from_su3("t.su3", &f[..f.len() - 1], &certs, &EXPECT).unwrap_err();
        match e {
            ReseedError::Su3 { source, .. } => assert_eq!(source.what, "su3 content length"),
            e => panic!("{e}"),
        }
        let e = router_infos_from_su3("t.su3", &f[..30], &certs, &EXPECT).unwrap_err();
        assert!(matches!(e, ReseedError::Su3 { .. }), "{e}");
    }

    #[test]
    fn rsa_signature_with_digest_info_is_not_the_su3_scheme() {
        // A SHA512withRSA signature (DigestInfo prefix) over the same bytes is refused: su3
        // signatures are raw, and accepting both would make two encodings valid.
        let certs = certs();
        let mut f = unsigned_su3(
            SigType::RsaSha5124096,
            b"1",
            RSA_SIGNER,
            FILE_TYPE_ZIP,
            CONTENT_TYPE_RESEED,
            &bundle(0),
        );
        let sig = rsa_key()
            .sign(rsa::Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(&f))
            .unwrap();
        f.extend_from_slice(&sig);
        let e = router_infos_from_su3("t.su3", &f, &certs, &EXPECT).unwrap_err();
        assert!(matches!(
            e,
            ReseedError::Su3Signature {
                source: Su3VerifyError::BadSignature { .. },
                ..
            }
        ));
    }

    #[test]
    fn ecdsa_su3_and_type_and_content_checks() {
        let certs = certs();
        let f = su3_p256(&bundle(2));
        assert_eq!(
            router_infos_from_su3("t.su3", &f, &certs, &EXPECT)
                .unwrap()
                .ok
                .len(),
            2
        );
        // The RSA signer's certificate cannot verify a P-256 file claiming to be from it.
        let mut swapped = unsigned_su3(
            SigType::EcdsaSha256P256,
            b"1",
            RSA_SIGNER,
            FILE_TYPE_ZIP,
            CONTENT_TYPE_RESEED,
            b"",
        );
        swapped.extend_from_slice(&[1; 64]);
        let e = router_infos_from_su3("t.su3", &swapped, &certs, &EXPECT).unwrap_err();
        assert!(
            matches!(
                e,
                ReseedError::Su3Signature {
                    source: Su3VerifyError::KeyTypeMismatch { .. },
                    ..
                }
            ),
            "{e}"
        );
        // A correctly signed router update (content type 1) is not reseed data.
        let upd = su3_rsa(RSA_SIGNER, 1, &bundle(0));
        let e = router_infos_from_su3("t.su3", &upd, &certs, &EXPECT).unwrap_err();
        assert!(
            matches!(
                e,
                ReseedError::Su3NotReseed {
                    content_type: 1,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn certificates_by_file_name_and_cn_and_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let pem = std::fs::read(data_dir().join("floodgate-test_at_mail.i2p.crt")).unwrap();
        // File named for another id: reachable by that id and by its CN.
        std::fs::write(dir.path().join("alias_at_example.i2p.crt"), &pem).unwrap();
        std::fs::write(dir.path().join("ignored.txt"), b"x").unwrap();
        let s = CertStore::load(&[dir.path().to_path_buf()]).unwrap();
        let f = su3_rsa("ALIAS@example.i2p", CONTENT_TYPE_RESEED, &bundle(1));
        assert_eq!(
            router_infos_from_su3("t", &f, &s, &EXPECT)
                .unwrap()
                .ok
                .len(),
            1
        );
        let f = su3_rsa(RSA_SIGNER, CONTENT_TYPE_RESEED, &bundle(1));
        assert!(router_infos_from_su3("t", &f, &s, &EXPECT).is_ok());

        std::fs::write(
            dir.path().join("bad.crt"),
            b"-----BEGIN CERTIFICATE-----\nAAAA\n",
        )
        .unwrap();
        let e = CertStore::load(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(matches!(e, certs::CertError::Parse { .. }), "{e}");
        let e = CertStore::load(&[dir.path().join("missing.crt")]).unwrap_err();
        assert!(matches!(e, certs::CertError::Io { .. }), "{e}");
    }

    fn netdb() -> NetDb {
        NetDb::open(
            NetDbOptions {
                data_dir: None,
                net_id: NET,
                floodfill: true,
                our_hash: [7; 32],
                ready_min_router_infos: 1,
                floodfill_min_version: crate::netdb::index::MIN_FLOODFILL_VERSION,
            },
            &Registry::new(),
            Arc::new(crate::ops::status::RouterStatus::new()),
            1_000,
        )
        .unwrap()
    }

    fn metric(m: &ReseedMetrics, source: &str, result: &str) -> u64 {
        m.router_infos.with_label_values(&[source, result]).get()
    }

    #[tokio::test]
    async fn reseed_reads_every_file_source_and_survives_failures() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("ri");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("routerInfo-a.dat"), ri(NET)).unwrap();
        let zip = dir.path().join("b.zip");
        std::fs::write(&zip, bundle(2)).unwrap();
        let su3 = dir.path().join("c.su3");
        std::fs::write(&su3, su3_p256(&bundle(3))).unwrap();
        let broken = dir.path().join("d.su3");
        std::fs::write(&broken, b"I2Psu3 but nothing else").unwrap();
        let db = netdb();
        let m = ReseedMetrics::register(&Registry::new());
        let plan = ReseedPlan {
            files: vec![dir.path().join("missing"), folder, zip, broken, su3],
            // Nothing listens on port 1: the HTTPS attempt fails fast and is only logged.
            urls: vec!["https://127.0.0.1:1/".into()],
            certs: Arc::new(certs()),
            net_id: NET,
            target: 100,
            min_servers: 1,
            tls_roots: Vec::new(),
        };
        let report = reseed(&db, &plan, &m, EXPECT.now_ms).await;
        assert_eq!(report.loaded, 6);
        assert_eq!(db.counts().0, 6);
        assert_eq!(report.rejected.len(), 2, "{:?}", report.rejected);
        assert_eq!(report.failed.len(), 3, "{:?}", report.failed);
        assert!(
            report.failed[2].contains("127.0.0.1:1"),
            "{:?}",
            report.failed
        );
        assert_eq!(metric(&m, SOURCE_FILES, "loaded"), 1);
        assert_eq!(metric(&m, SOURCE_ZIP, "loaded"), 2);
        assert_eq!(metric(&m, SOURCE_ZIP, "rejected"), 1);
        assert_eq!(metric(&m, SOURCE_SU3, "loaded"), 3);
        assert_eq!(
            m.sources.with_label_values(&[SOURCE_SU3, "failed"]).get(),
            1
        );
        assert_eq!(
            m.sources.with_label_values(&[SOURCE_HTTPS, "failed"]).get(),
            1
        );

        assert!(!report.complete);
        assert_eq!(
            m.runs.with_label_values(&["partial"]).get(),
            1,
            "loaded some, below the target"
        );

        // At the target (and with no server minimum), servers are not contacted at all.
        let plan = ReseedPlan {
            files: vec![],
            target: 6,
            min_servers: 0,
            ..plan
        };
        let m2 = ReseedMetrics::register(&Registry::new());
        let report = reseed(&db, &plan, &m2, EXPECT.now_ms).await;
        assert!(report.failed.is_empty());
        assert!(report.complete);
        assert_eq!(
            m2.sources
                .with_label_values(&[SOURCE_HTTPS, "failed"])
                .get(),
            0
        );

        // At the target but short of servers: the servers are still asked (and here fail), so
        // the run is not complete and nothing was loaded.
        let plan = ReseedPlan {
            min_servers: 1,
            ..plan
        };
        let m3 = ReseedMetrics::register(&Registry::new());
        let report = reseed(&db, &plan, &m3, EXPECT.now_ms).await;
        assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
        assert!(!report.complete);
        assert_eq!(m3.runs.with_label_values(&["failed"]).get(), 1);
        assert_eq!(m3.last_run_servers.get(), 0);
        assert!(m3.last_run_seconds.get() > 1_700_000_000);
    }

    #[test]
    fn schedule_reseeds_below_target_and_backs_off_while_it_misses() {
        let mut s = ReseedSchedule::new(600_000);
        let t0 = 1_000_000;
        assert!(s.due(t0, 10, 50), "first run at once");
        assert!(!s.due(t0, 50, 50), "at the target: never");
        s.record(t0, false);
        assert!(!s.due(t0 + 599_999, 10, 50));
        assert!(s.due(t0 + 600_000, 10, 50));
        s.record(t0 + 600_000, false);
        assert_eq!(s.backoff_ms(), 1_200_000, "second miss doubles");
        for i in 0..30 {
            s.record(t0 + i, false);
        }
        assert_eq!(s.backoff_ms(), MAX_RESEED_BACKOFF_MS, "capped");
        // A run that reached the target resets the back-off: if the netDb shrinks later, the
        // next reseed waits only the base interval.
        s.record(t0, true);
        assert_eq!(s.backoff_ms(), 600_000);
        assert!(!s.due(t0 + 1, 10, 50));
        assert!(s.due(t0 + 600_000, 10, 50));
    }
}

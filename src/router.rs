//! Wires the rooms together: identity, ops surface, (later) transports, netDb and transit;
//! start-up, drain on SIGTERM and shutdown.

use crate::config::Config;
use crate::identity::{
    IdentityError, ROUTER_INFO_FILE, RouterInfoParams, RouterKeys, build_router_info, write_atomic,
};
use crate::ops::http::{OpsServer, OpsState};
use crate::ops::metrics::Metrics;
use crate::ops::status::{IdentitySummary, RouterStatus};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

/// The I2P router API version we announce in `router.version`. i2pd 2.45 and Java I2P use it to
/// decide which features (short tunnel builds need >= 0.9.51) a peer supports.
pub const ROUTER_API_VERSION: &str = "0.9.67";

#[derive(Debug, Error)]
pub enum RouterError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("http.listen {addr}: cannot listen: {source}")]
    HttpBind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("ops HTTP server failed: {0}")]
    HttpServe(std::io::Error),
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
}

/// The router's identity as prepared at start-up.
pub struct PreparedIdentity {
    pub keys: RouterKeys,
    pub router_hash_b64: String,
    pub router_info: Vec<u8>,
    pub summary: IdentitySummary,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Load (or create) the keys, build and sign our RouterInfo, and write it to
/// `<data_dir>/router.info`.
pub fn prepare_identity(cfg: &Config) -> Result<PreparedIdentity, RouterError> {
    let (keys, created) = RouterKeys::load_or_create(&cfg.data_dir)?;
    if created {
        info!(data_dir = %cfg.data_dir.display(), "created new router keys");
    }
    let params = RouterInfoParams {
        net_id: cfg.net_id,
        floodfill: cfg.floodfill,
        shared_kbps: u64::from(cfg.transit.bandwidth_kbps) * u64::from(cfg.transit.share_percent)
            / 100,
        host: cfg.host,
        ntcp2_port: cfg.ntcp2.enabled.then_some(cfg.ntcp2.port),
        router_version: ROUTER_API_VERSION,
        congestion: None,
    };
    let ri = build_router_info(&keys, &params, now_ms())?;
    // Public data: world-readable like i2pd's router.info.
    write_atomic(&cfg.data_dir.join(ROUTER_INFO_FILE), ri.as_bytes(), 0o644)?;
    let router_hash_b64 = crate::wire::base64::encode(&ri.hash());
    let summary = IdentitySummary {
        router_hash: router_hash_b64.clone(),
        net_id: cfg.net_id,
        caps: ri.caps().to_string(),
        version: ROUTER_API_VERSION.to_string(),
    };
    Ok(PreparedIdentity {
        keys,
        router_hash_b64,
        router_info: ri.as_bytes().to_vec(),
        summary,
    })
}

/// Run until SIGTERM/SIGINT.
pub async fn run(cfg: Config) -> Result<(), RouterError> {
    let shutdown = CancellationToken::new();
    let signals = spawn_signal_watcher(shutdown.clone())?;
    let result = run_until(cfg, shutdown).await;
    signals.abort();
    result
}

fn spawn_signal_watcher(
    token: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, RouterError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(RouterError::Signals)?;
        let mut int = signal(SignalKind::interrupt()).map_err(RouterError::Signals)?;
        Ok(tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => info!(signal = "SIGTERM", "shutdown requested"),
                _ = int.recv() => info!(signal = "SIGINT", "shutdown requested"),
            }
            token.cancel();
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            token.cancel();
        }))
    }
}

/// Run until `shutdown` is cancelled (tests drive this directly).
pub async fn run_until(cfg: Config, shutdown: CancellationToken) -> Result<(), RouterError> {
    let metrics = Metrics::new();
    let status = Arc::new(RouterStatus::new());
    metrics.start_time_seconds.set(status.started_unix() as i64);
    metrics
        .build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION"), ROUTER_API_VERSION])
        .set(1);
    status.set_condition("router_info", Err("not yet published".into()));

    // Bind the ops listener first: probes answer (livez) while the rest starts.
    let ops = OpsServer::bind(cfg.http.listen)
        .await
        .map_err(|source| RouterError::HttpBind {
            addr: cfg.http.listen,
            source,
        })?;
    let ops_addr = ops.local_addr().map_err(RouterError::HttpServe)?;
    let ops_state = OpsState {
        status: status.clone(),
        metrics: metrics.clone(),
    };
    let ops_task = tokio::spawn(ops.serve(ops_state, shutdown.child_token()));
    info!(%ops_addr, "ops HTTP server listening");

    let startup = async {
        let id = prepare_identity(&cfg)?;
        metrics
            .router_info_published_seconds
            .set((now_ms() / 1000) as i64);
        info!(
            router = crate::ops::telemetry::short_hash(&id.router_hash_b64),
            caps = %id.summary.caps,
            net_id = cfg.net_id,
            "router identity ready, RouterInfo written"
        );
        status.set_identity(id.summary.clone());
        status.set_condition("router_info", Ok(()));
        Ok::<_, RouterError>(id)
    }
    .instrument(info_span!("router.startup"))
    .await;
    let _identity = match startup {
        Ok(id) => id,
        Err(e) => {
            shutdown.cancel();
            let _ = ops_task.await;
            return Err(e);
        }
    };

    shutdown.cancelled().await;
    let drain = info_span!("router.drain");
    async {
        status.start_draining();
        info!("draining: readiness withdrawn");
    }
    .instrument(drain)
    .await;
    match ops_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "ops HTTP server ended with an error"),
        Err(e) => warn!(error = %e, "ops HTTP server task failed"),
    }
    info!("stopped");
    Ok(())
}

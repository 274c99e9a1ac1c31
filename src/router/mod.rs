//! Wires the rooms together: identity, ops surface, (later) transports, netDb and transit;
//! start-up, drain on SIGTERM and shutdown.

pub mod dispatch;
pub mod search;

use crate::config::Config;
use crate::identity::family::{FamilyKey, FamilyKeyError, FamilyName, FamilySigner};
use crate::identity::{
    IdentityError, ROUTER_INFO_FILE, RouterInfoParams, RouterKeys, build_router_info, write_atomic,
};
use crate::netdb::NetDb;
use crate::netdb::floodfill::{
    EXPIRY_SWEEP_INTERVAL, NetDbOptions, ROUTER_INFO_REPUBLISH_INTERVAL,
};
use crate::netdb::reseed::certs::CertStore;
use crate::netdb::reseed::{ReseedMetrics, ReseedPlan, ReseedSchedule, reseed};
use crate::ops::http::{OpsServer, OpsState};
use crate::ops::metrics::Metrics;
use crate::ops::status::{IdentitySummary, RouterStatus};
use crate::transport::limits::ConnectionLimits;
use crate::transport::manager::TransportManager;
use crate::transport::metrics::TransportMetrics;
use crate::transport::ntcp2::session::{Ntcp2Connector, Ntcp2Context, bind_listeners, serve};
use crate::transport::ntcp2::{LocalKeys, ReplayCache};
use crate::tunnel::shard::{Transit, TransitParams};
use bytes::Bytes;
use dispatch::{DispatchMetrics, Dispatcher, PendingAcks, TransitOutput};
use search::{NetDbDirectory, PeerSearch, SearchMetrics};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
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
    #[error("family key: {0}")]
    FamilyKey(#[from] FamilyKeyError),
    #[error("family.name {name:?}: {reason}")]
    FamilyName { name: String, reason: String },
    #[error("http.listen {addr}: cannot listen: {source}")]
    HttpBind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("ops HTTP server failed: {0}")]
    HttpServe(std::io::Error),
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("netDb: {0}")]
    NetDb(String),
    #[error("ntcp2.port {port}: cannot listen: {source}")]
    Ntcp2Bind { port: u16, source: std::io::Error },
    #[error(transparent)]
    ReseedCertificates(#[from] crate::netdb::reseed::certs::CertError),
    #[error(transparent)]
    ReseedTls(#[from] crate::netdb::reseed::fetch::FetchError),
}

/// The router's identity as prepared at start-up.
pub struct PreparedIdentity {
    pub keys: RouterKeys,
    pub params: RouterInfoParams,
    pub router_hash: [u8; 32],
    pub router_hash_b64: String,
    pub router_info: Vec<u8>,
    pub summary: IdentitySummary,
}

/// The router's clock: the same wall clock the transit room uses.
pub(crate) use crate::tunnel::unix_now_ms as now_ms;

/// Load (or create) the keys, build and sign our RouterInfo, and write it to
/// `<data_dir>/router.info`.
pub fn prepare_identity(cfg: &Config) -> Result<PreparedIdentity, RouterError> {
    let (keys, created) = RouterKeys::load_or_create(&cfg.data_dir)?;
    if created {
        info!(data_dir = %cfg.data_dir.display(), "created new router keys");
    }
    let family = prepare_family(cfg)?;
    let params = RouterInfoParams {
        net_id: cfg.net_id,
        floodfill: cfg.floodfill,
        shared_kbps: u64::from(cfg.transit.bandwidth_kbps) * u64::from(cfg.transit.share_percent)
            / 100,
        host: cfg.host,
        ntcp2_port: cfg.ntcp2.enabled.then_some(cfg.ntcp2.port),
        router_version: ROUTER_API_VERSION,
        congestion: None,
        family,
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
        family: cfg.family.name.clone(),
    };
    Ok(PreparedIdentity {
        keys,
        params,
        router_hash: ri.hash(),
        router_hash_b64,
        router_info: ri.as_bytes().to_vec(),
        summary,
    })
}

/// Load (or create) the family key when `family.name` is set.
fn prepare_family(cfg: &Config) -> Result<Option<FamilySigner>, RouterError> {
    let Some(name) = &cfg.family.name else {
        return Ok(None);
    };
    // Config validation already checked the name; checking again keeps this usable with a
    // Config built in code.
    let name = FamilyName::new(name).map_err(|reason| RouterError::FamilyName {
        name: name.clone(),
        reason,
    })?;
    let path = cfg.family_key_path();
    let (key, created) = FamilyKey::load_or_create(&path)?;
    if created {
        // Each router that creates its own key founds its own family; say how to share it.
        info!(
            family = %name,
            key_file = %path.display(),
            "created a new family key; copy this file to every other router of the family"
        );
    }
    Ok(Some(FamilySigner {
        name,
        key: Arc::new(key),
    }))
}

/// Run until SIGTERM/SIGINT (then drain transit tunnels; a second signal ends the drain).
pub async fn run(cfg: Config) -> Result<(), RouterError> {
    let shutdown = CancellationToken::new();
    let force = CancellationToken::new();
    let signals = spawn_signal_watcher(shutdown.clone(), force.clone())?;
    let result = run_until_with_drain(cfg, shutdown, force).await;
    signals.abort();
    result
}

fn spawn_signal_watcher(
    shutdown: CancellationToken,
    force: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, RouterError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(RouterError::Signals)?;
        let mut int = signal(SignalKind::interrupt()).map_err(RouterError::Signals)?;
        Ok(tokio::spawn(async move {
            // First signal: drain. Second: stop now.
            for token in [shutdown, force] {
                tokio::select! {
                    _ = term.recv() => info!(signal = "SIGTERM", "shutdown requested"),
                    _ = int.recv() => info!(signal = "SIGINT", "shutdown requested"),
                }
                token.cancel();
            }
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
            let _ = tokio::signal::ctrl_c().await;
            force.cancel();
        }))
    }
}

/// Run until `shutdown` is cancelled (tests drive this directly); no transit drain.
pub async fn run_until(cfg: Config, shutdown: CancellationToken) -> Result<(), RouterError> {
    let force = CancellationToken::new();
    force.cancel();
    run_until_with_drain(cfg, shutdown, force).await
}

/// Run until `shutdown` is cancelled, then drain: withdraw readiness, refuse new transit
/// tunnels (admission and our published congestion cap follow the drain flag) and keep
/// forwarding the existing ones until none is left, `transit.drain_seconds` pass or `force`
/// is cancelled.
pub async fn run_until_with_drain(
    cfg: Config,
    shutdown: CancellationToken,
    force: CancellationToken,
) -> Result<(), RouterError> {
    let metrics = Metrics::new();
    let status = Arc::new(RouterStatus::new());
    metrics.start_time_seconds.set(status.started_unix() as i64);
    metrics
        .build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION"), ROUTER_API_VERSION])
        .set(1);
    status.set_condition("router_info", Err("not yet published".into()));
    status.set_condition("peers", Err("no peer sessions yet".into()));
    if cfg.readiness.min_peers == 0 {
        status.set_condition("peers", Ok(()));
    }
    if cfg.ntcp2.enabled {
        status.set_condition("ntcp2", Err("not listening yet".into()));
    }

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
    // `shutdown` starts the drain; `stop` ends what must keep running during it: the ops
    // server (probes, metrics of the drain), sessions and listeners (transit still flows).
    let stop = CancellationToken::new();
    let ops_task = tokio::spawn(ops.serve(ops_state, stop.child_token()));
    info!(%ops_addr, "ops HTTP server listening");

    let started = start_rooms(&cfg, &metrics, &status, &stop)
        .instrument(info_span!("router.startup"))
        .await;
    let rooms = match started {
        Ok(r) => r,
        Err(e) => {
            stop.cancel();
            let _ = ops_task.await;
            return Err(e);
        }
    };

    shutdown.cancelled().await;
    let drain_for = std::time::Duration::from_secs(u64::from(cfg.transit.drain_seconds));
    async {
        status.start_draining();
        info!("draining: readiness withdrawn");
        drain_transit(&status, drain_for, &force).await;
        rooms.stop().await;
        stop.cancel();
    }
    .instrument(info_span!("router.drain"))
    .await;
    match ops_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "ops HTTP server ended with an error"),
        Err(e) => warn!(error = %e, "ops HTTP server task failed"),
    }
    info!("stopped");
    Ok(())
}

/// Wait while transit tunnels we carry are alive (they expire on their own; new ones are
/// refused while draining), at most `limit`, or until `force`.
async fn drain_transit(
    status: &RouterStatus,
    limit: std::time::Duration,
    force: &CancellationToken,
) {
    use std::sync::atomic::Ordering;
    let tunnels = || status.transit_tunnels.load(Ordering::Relaxed);
    if tunnels() == 0 || limit.is_zero() || force.is_cancelled() {
        return;
    }
    info!(
        tunnels = tunnels(),
        limit_s = limit.as_secs(),
        "draining transit tunnels (send the signal again to stop now)"
    );
    let deadline = tokio::time::Instant::now() + limit;
    let mut last_log = tokio::time::Instant::now();
    loop {
        let left = tunnels();
        if left == 0 {
            info!("drain complete: no transit tunnel left");
            return;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            info!(
                tunnels = left,
                "drain time is up; stopping with tunnels left"
            );
            return;
        }
        if now - last_log >= std::time::Duration::from_secs(30) {
            info!(tunnels = left, "draining transit tunnels");
            last_log = now;
        }
        tokio::select! {
            _ = force.cancelled() => {
                info!(tunnels = left, "drain cut short by a second signal");
                return;
            }
            _ = tokio::time::sleep(std::time::Duration::from_secs(1).min(deadline - now)) => {}
        }
    }
}

/// The running rooms, kept for an orderly stop.
struct Rooms {
    netdb: NetDb,
    manager: TransportManager,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    session_shutdown: CancellationToken,
}

impl Rooms {
    async fn stop(self) {
        // Tell peers we are going (termination reason 3), give sessions a moment to write it.
        self.manager
            .terminate_all(crate::transport::ntcp2::TerminationReason::RouterShutdown.code());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        self.session_shutdown.cancel();
        for t in &self.tasks {
            t.abort();
        }
        // Flush the netDb write-behind queue and close RocksDB off the runtime.
        let netdb = self.netdb;
        let _ = tokio::task::spawn_blocking(move || netdb.close()).await;
    }
}

async fn start_rooms(
    cfg: &Config,
    metrics: &Metrics,
    status: &Arc<RouterStatus>,
    shutdown: &CancellationToken,
) -> Result<Rooms, RouterError> {
    let id = prepare_identity(cfg)?;
    metrics
        .router_info_published_seconds
        .set((now_ms() / 1000) as i64);
    info!(
        router = crate::ops::telemetry::short_hash(&id.router_hash_b64),
        caps = %id.summary.caps,
        net_id = cfg.net_id,
        family = id.params.family.as_ref().map(|f| f.name.as_str()),
        "router identity ready, RouterInfo written"
    );
    status.set_identity(id.summary.clone());
    status.set_condition("router_info", Ok(()));
    let our_hash = id.router_hash;

    // netDb: opening re-verifies every stored entry, which is blocking work.
    let opts = NetDbOptions {
        data_dir: Some(cfg.data_dir.clone()),
        net_id: cfg.net_id,
        floodfill: cfg.floodfill,
        our_hash,
        ready_min_router_infos: cfg.readiness.min_router_infos as usize,
        floodfill_min_version: cfg.netdb.floodfill_min_version(),
    };
    let registry = metrics.registry().clone();
    let st = status.clone();
    let netdb = tokio::task::spawn_blocking(move || NetDb::open(opts, &registry, st, now_ms()))
        .await
        .map_err(|e| RouterError::NetDb(e.to_string()))?
        .map_err(|e| RouterError::NetDb(e.to_string()))?;

    // Reseed when the netDb is too small: files first, then HTTPS servers; later again whenever
    // it falls below the target (reseed_loop). Only an unusable certificate or TLS root
    // configuration stops the start; a reseed that finds nothing is a warning.
    let reseed_metrics = ReseedMetrics::register(metrics.registry());
    let (builtin, cert_paths) = (
        cfg.reseed.builtin_certificates,
        cfg.reseed.certificates.clone(),
    );
    let certs =
        tokio::task::spawn_blocking(move || CertStore::load_with_builtin(builtin, &cert_paths))
            .await
            .map_err(|e| RouterError::NetDb(e.to_string()))??;
    info!(signers = certs.len(), "reseed signer certificates loaded");
    let tls_roots = crate::netdb::reseed::fetch::load_tls_roots(&cfg.reseed.tls_roots)?;
    let urls = cfg.reseed.effective_urls(cfg.net_id);
    if !urls.is_empty() && certs.is_empty() {
        warn!(
            "reseed servers are configured but no su3 signer is trusted \
             (reseed.builtin_certificates is off and reseed.certificates is empty): every \
             bundle will be refused"
        );
    }
    let plan = Arc::new(ReseedPlan {
        files: cfg.reseed.files.clone(),
        urls,
        certs: Arc::new(certs),
        net_id: cfg.net_id,
        target: cfg.readiness.min_router_infos.max(cfg.reseed.threshold) as usize,
        min_servers: cfg.reseed.min_servers as usize,
        tls_roots,
    });
    let mut schedule = ReseedSchedule::new(u64::from(cfg.reseed.retry_seconds) * 1000);
    reseed_if_due(&netdb, &plan, &reseed_metrics, &mut schedule, status).await;

    // Transports.
    let session_shutdown = shutdown.child_token();
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(4096);
    let manager = TransportManager::new(
        our_hash,
        TransportMetrics::new(metrics.registry()),
        status.clone(),
        events_tx,
    );
    let search = PeerSearch::new(
        netdb.clone(),
        crate::netdb::search::SearchLimits::default(),
        SearchMetrics::new(metrics.registry()),
    );
    search.set_manager(manager.clone());
    manager.set_directory(Arc::new(NetDbDirectory {
        netdb: netdb.clone(),
        search: search.clone(),
    }));
    let local = Arc::new(LocalKeys::new(
        x25519_dalek::StaticSecret::from(*id.keys.ntcp2_static_secret),
        our_hash,
        id.keys.ntcp2_iv,
        cfg.net_id,
    ));
    let router_info = Arc::new(RwLock::new(Bytes::from(id.router_info.clone())));
    let ctx = Ntcp2Context {
        local,
        replay: Arc::new(ReplayCache::default()),
        manager: manager.clone(),
        limits: ConnectionLimits::new(
            cfg.ntcp2.max_sessions as usize,
            cfg.ntcp2.max_sessions_per_ip as usize,
        ),
        router_info: router_info.clone(),
        bind_ip: cfg.ntcp2.address.map(IpAddr::V4),
        shutdown: session_shutdown.clone(),
    };
    manager.set_connector(Arc::new(Ntcp2Connector::new(ctx.clone())));
    let mut tasks = Vec::new();
    if cfg.ntcp2.enabled {
        let listeners = bind_listeners(cfg.ntcp2.port, cfg.ntcp2.address, cfg.ntcp2.ipv6).map_err(
            |source| RouterError::Ntcp2Bind {
                port: cfg.ntcp2.port,
                source,
            },
        )?;
        for l in listeners {
            if let Ok(a) = l.local_addr() {
                info!(port = a.port(), ipv6 = a.is_ipv6(), "NTCP2 listening");
            }
            tasks.push(tokio::spawn(serve(l, ctx.clone())));
        }
        status.set_condition("ntcp2", Ok(()));
    }

    let transit = if cfg.transit.max_tunnels > 0 {
        let (transit, handles) = Transit::start(
            TransitParams::from_config(&cfg.transit),
            &id.keys.encryption_secret,
            our_hash,
            metrics.registry(),
            status.clone(),
            Arc::new(TransitOutput {
                manager: manager.clone(),
            }),
            session_shutdown.clone(),
        );
        tasks.extend(handles);
        Some(transit)
    } else {
        None
    };
    let dispatch_metrics = DispatchMetrics::new(metrics.registry());
    let intake = transit
        .as_ref()
        .map(|t| Arc::new(dispatch::TransitIntake::new(t.clone(), &dispatch_metrics)));
    if let Some(i) = &intake {
        manager.set_tunnel_intake(i.clone());
    }
    let dispatcher = Dispatcher {
        netdb: netdb.clone(),
        manager: manager.clone(),
        metrics: dispatch_metrics,
        acks: Arc::new(PendingAcks::default()),
        min_peers: cfg.readiness.min_peers as usize,
        status: status.clone(),
        garlic: Arc::new(crate::crypto::ecies_router::GarlicKeys::new(
            *id.keys.encryption_secret,
        )),
        intake,
        search: search.clone(),
    };
    tasks.push(tokio::spawn(dispatcher.clone().run(events_rx)));
    tasks.push(tokio::spawn(search_expiry_loop(search)));
    tasks.push(tokio::spawn(publish_loop(
        cfg.clone(),
        id,
        router_info,
        dispatcher.clone(),
        metrics.clone(),
    )));
    tasks.push(tokio::spawn(expiry_loop(netdb.clone())));
    tasks.push(tokio::spawn(reseed_loop(
        netdb.clone(),
        plan,
        reseed_metrics,
        schedule,
        status.clone(),
    )));
    Ok(Rooms {
        netdb,
        manager,
        tasks,
        session_shutdown,
    })
}

/// Publish our RouterInfo to the closest floodfills at start and periodically, re-signed with a
/// fresh published date each time (peers drop RouterInfos that look stale).
async fn publish_loop(
    cfg: Config,
    id: PreparedIdentity,
    current: Arc<RwLock<Bytes>>,
    dispatcher: Dispatcher,
    metrics: Metrics,
) {
    // A first publication once sessions had a moment to come up, then at the spec interval,
    // and sooner when our congestion cap (D/E/G) changes: a cap only helps creators avoid us
    // if it is current. Cap changes are republished at most every CONGESTION_REPUBLISH_MIN,
    // except the drain's G, which goes out at once.
    tokio::time::sleep(PUBLISH_FIRST_DELAY).await;
    let mut due = tokio::time::Instant::now();
    let mut last_publish: Option<tokio::time::Instant> = None;
    let mut last_cap: Option<char> = None;
    loop {
        let cap = dispatcher
            .intake
            .as_ref()
            .and_then(|i| i.transit().congestion_cap());
        let now = tokio::time::Instant::now();
        let cap_changed = last_publish.is_some() && cap != last_cap;
        let cap_due = cap_changed
            && (dispatcher.status.is_draining()
                || last_publish.is_some_and(|t| now - t >= CONGESTION_REPUBLISH_MIN));
        if now < due && !cap_due {
            tokio::time::sleep(PUBLISH_TICK.min(due - now)).await;
            continue;
        }
        if cap_due {
            info!(cap = ?cap, "congestion cap changed: republishing our RouterInfo");
        }
        last_publish = Some(now);
        last_cap = cap;
        due = now + ROUTER_INFO_REPUBLISH_INTERVAL;
        let mut params = id.params.clone();
        params.congestion = cap;
        let ri = match build_router_info(&id.keys, &params, now_ms()) {
            Ok(ri) => ri,
            Err(e) => {
                warn!(error = %e, "cannot re-sign our RouterInfo");
                continue;
            }
        };
        let bytes = Bytes::from(ri.as_bytes().to_vec());
        *current.write().unwrap_or_else(|p| p.into_inner()) = bytes.clone();
        if let Err(e) = write_atomic(&cfg.data_dir.join(ROUTER_INFO_FILE), &bytes, 0o644) {
            warn!(error = %e, "cannot write router.info");
        }
        metrics
            .router_info_published_seconds
            .set((ri.published().millis() / 1000) as i64);
        let publication = dispatcher.netdb.publish_router_info(&ri, now_ms());
        for (ff, token) in &publication.reply_tokens {
            dispatcher.acks.expect(*ff, token.get());
        }
        if publication.actions.is_empty() {
            // No floodfill known yet: try again soon rather than in half an hour.
            due = now + PUBLISH_RETRY_DELAY;
        }
        dispatcher.execute(publication.actions);
    }
}

/// How often the reseed loop looks at the netDb's size (the schedule decides whether to act).
const RESEED_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Run a reseed if the netDb is below the target and the back-off allows it.
async fn reseed_if_due(
    netdb: &NetDb,
    plan: &ReseedPlan,
    metrics: &ReseedMetrics,
    schedule: &mut ReseedSchedule,
    status: &RouterStatus,
) {
    let held = netdb.counts().0;
    if !schedule.due(now_ms(), held, plan.target) {
        return;
    }
    if plan.files.is_empty() && plan.urls.is_empty() {
        warn!(
            held,
            target = plan.target,
            "netDb is small and no reseed source is configured (reseed.files, reseed.urls)"
        );
        // Nothing to try; remember the miss so the warning is spaced like a real try.
        schedule.record(now_ms(), false);
        return;
    }
    info!(
        held,
        target = plan.target,
        "netDb below the reseed target: reseeding"
    );
    let report = reseed(netdb, plan, metrics, now_ms()).await;
    let held = netdb.counts().0;
    schedule.record(now_ms(), held >= plan.target);
    status.set_reseed(crate::ops::status::ReseedSummary {
        finished_unix_s: now_ms() / 1000,
        complete: report.complete,
        loaded: report.loaded as u64,
        servers_ok: report.servers_ok as u64,
        failed_sources: report.failed.len() as u64,
        next_try_in_s: (held < plan.target).then(|| schedule.backoff_ms() / 1000),
    });
    if held < plan.target {
        warn!(
            held,
            target = plan.target,
            loaded = report.loaded,
            failed_sources = report.failed.len(),
            retry_in_s = schedule.backoff_ms() / 1000,
            "netDb still below the reseed target after reseeding; continuing with what we have"
        );
    } else if !report.complete {
        warn!(
            servers_ok = report.servers_ok,
            min_servers = plan.min_servers,
            "reseed reached the target from fewer servers than reseed.min_servers"
        );
    }
}

/// Reseed again whenever the netDb falls below the target (a long partition, mass expiry).
async fn reseed_loop(
    netdb: NetDb,
    plan: Arc<ReseedPlan>,
    metrics: ReseedMetrics,
    mut schedule: ReseedSchedule,
    status: Arc<RouterStatus>,
) {
    // Look at least as often as the retry interval allows a try (short in tests).
    let every = RESEED_CHECK_INTERVAL.min(std::time::Duration::from_millis(
        schedule.retry_ms().max(100),
    ));
    loop {
        tokio::time::sleep(every).await;
        reseed_if_due(&netdb, &plan, &metrics, &mut schedule, &status).await;
    }
}

/// First RouterInfo publication after start (sessions from seeding come up meanwhile).
const PUBLISH_FIRST_DELAY: std::time::Duration = std::time::Duration::from_secs(5);
/// How often the publisher looks at the congestion cap.
const PUBLISH_TICK: std::time::Duration = std::time::Duration::from_secs(10);
/// Least time between two publications caused by congestion cap changes (a router oscillating
/// around a threshold must not flood the floodfills with RouterInfos).
const CONGESTION_REPUBLISH_MIN: std::time::Duration = std::time::Duration::from_secs(300);
/// Retry interval while no floodfill is known.
const PUBLISH_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(30);

/// Ends searches that ran past their deadline (their held messages are dropped).
async fn search_expiry_loop(search: Arc<PeerSearch>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        search.expire();
    }
}

async fn expiry_loop(netdb: NetDb) {
    loop {
        tokio::time::sleep(EXPIRY_SWEEP_INTERVAL).await;
        let r = netdb.expire(now_ms()).await;
        if r.router_infos + r.lease_sets > 0 {
            tracing::debug!(
                router_infos = r.router_infos,
                lease_sets = r.lease_sets,
                "netDb expiry"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::family::{self, OPT_NAME};

    #[test]
    fn identity_with_a_family_publishes_a_verifiable_claim() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        cfg.family.name = Some("fam".into());
        let id = prepare_identity(&cfg).unwrap();
        assert!(dir.path().join(family::KEY_FILE).exists());
        let ri = crate::wire::RouterInfo::parse(&id.router_info)
            .unwrap()
            .verify()
            .unwrap();
        assert_eq!(ri.options().get(OPT_NAME), Some("fam"));
        assert_eq!(
            family::verify(&ri).unwrap().map(|n| n.to_string()),
            Some("fam".into())
        );
        // A restart signs with the same key from the file.
        let again = prepare_identity(&cfg).unwrap();
        let ri2 = crate::wire::RouterInfo::parse(&again.router_info)
            .unwrap()
            .verify()
            .unwrap();
        assert_eq!(
            ri.options().get(family::OPT_KEY),
            ri2.options().get(family::OPT_KEY)
        );
        // Without a name, no key file and no claim.
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let id = prepare_identity(&cfg).unwrap();
        assert!(!dir.path().join(family::KEY_FILE).exists());
        let ri = crate::wire::RouterInfo::parse(&id.router_info)
            .unwrap()
            .verify()
            .unwrap();
        assert_eq!(family::verify(&ri), Ok(None));
    }
}

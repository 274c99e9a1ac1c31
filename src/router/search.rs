//! The router's searches for RouterInfos it needs (see [`crate::netdb::search`] for the state
//! machine): the transport manager asks through [`PeerDirectory::resolve`] when it must reach a
//! peer it holds no RouterInfo for (typically the next hop of a transit tunnel); lookups go out
//! as direct DatabaseLookups to the closest floodfills; the dispatcher reports
//! DatabaseSearchReplies and stored RouterInfos back; a timer ends searches that ran too long.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use prometheus::{IntCounterVec, Opts, Registry};
use tracing::debug;

use super::now_ms;
use crate::netdb::search::{LookupRequest, SearchEnd, SearchLimits, Searches, StartError};
use crate::netdb::{Hash, NetDb};
use crate::ops::metrics::reg;
use crate::transport::manager::{ConnectTarget, PeerDirectory, RouterHash, TransportManager};
use crate::wire::i2np::{DatabaseSearchReply, I2npBody, I2npMessage};

/// Lifetime of a lookup message we send.
const LOOKUP_EXPIRATION_MS: u64 = 10_000;

#[derive(Clone)]
pub struct SearchMetrics {
    /// Searches by result: found, not_found, timeout, refused (too many running), no_floodfill.
    pub searches: IntCounterVec,
    /// DatabaseLookups sent for searches.
    pub lookups_sent: prometheus::IntCounter,
}

impl SearchMetrics {
    pub fn new(registry: &Registry) -> Self {
        let searches = IntCounterVec::new(
            Opts::new(
                "floodgate_netdb_searches_total",
                "Searches for RouterInfos we needed but did not hold (e.g. a transit next hop), by result (found, not_found, timeout, refused, no_floodfill).",
            ),
            &["result"],
        )
        .expect("valid");
        let lookups_sent = prometheus::IntCounter::new(
            "floodgate_netdb_search_lookups_sent_total",
            "DatabaseLookup messages we sent to floodfills for our own searches.",
        )
        .expect("valid");
        let m = Self {
            searches: reg(registry, searches),
            lookups_sent: reg(registry, lookups_sent),
        };
        for r in ["found", "not_found", "timeout", "refused", "no_floodfill"] {
            m.searches.with_label_values(&[r]).inc_by(0);
        }
        m
    }
}

/// Searches plus what they need to act: the netDb (closest floodfills, where RouterInfos land)
/// and the transport manager (to send lookups and to release held messages).
pub struct PeerSearch {
    searches: Mutex<Searches>,
    netdb: NetDb,
    manager: OnceLock<TransportManager>,
    metrics: SearchMetrics,
}

impl PeerSearch {
    pub fn new(netdb: NetDb, limits: SearchLimits, metrics: SearchMetrics) -> Arc<Self> {
        Arc::new(Self {
            searches: Mutex::new(Searches::new(netdb.our_hash(), limits)),
            netdb,
            manager: OnceLock::new(),
            metrics,
        })
    }

    /// Set once at start-up (the manager is built before the directory is installed).
    pub fn set_manager(&self, m: TransportManager) {
        let _ = self.manager.set(m);
    }

    fn searches(&self) -> std::sync::MutexGuard<'_, Searches> {
        self.searches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send lookups; called without the searches lock (sending may start connections).
    fn send(&self, reqs: Vec<LookupRequest>) {
        let Some(manager) = self.manager.get() else {
            return;
        };
        let now = now_ms();
        for r in reqs {
            let msg = I2npMessage {
                msg_id: rand::random(),
                expiration_ms: now + LOOKUP_EXPIRATION_MS,
                body: I2npBody::DatabaseLookup(r.lookup),
            };
            match msg.to_short_bytes() {
                Ok(b) => {
                    self.metrics.lookups_sent.inc();
                    manager.send(&r.to, Bytes::from(b));
                }
                Err(e) => debug!(error = %e, "cannot encode a search lookup"),
            }
        }
    }

    fn ended(&self, key: &Hash, end: SearchEnd) {
        self.metrics
            .searches
            .with_label_values(&[end.label()])
            .inc();
        debug!(
            key = crate::ops::telemetry::short_hash(&crate::wire::base64::encode(key)),
            result = end.label(),
            "search ended"
        );
        if let Some(m) = self.manager.get() {
            match end {
                SearchEnd::Found => m.peer_resolved(key),
                SearchEnd::NotFound | SearchEnd::Timeout => m.resolve_failed(key),
            }
        }
    }

    /// Start (or join) a search for `key`. True while a search runs.
    pub fn start(&self, key: &Hash) -> bool {
        let now = now_ms();
        let started = {
            let netdb = &self.netdb;
            self.searches()
                .start(*key, now, |k, n, ex: &HashSet<Hash>| {
                    netdb.closest_floodfills(k, n, ex, now)
                })
        };
        match started {
            Ok(reqs) => {
                self.send(reqs);
                true
            }
            Err(StartError::Running) => true,
            Err(StartError::Full) => {
                self.metrics.searches.with_label_values(&["refused"]).inc();
                false
            }
            Err(StartError::NoFloodfill) => {
                self.metrics
                    .searches
                    .with_label_values(&["no_floodfill"])
                    .inc();
                false
            }
        }
    }

    /// A DatabaseSearchReply from session peer `from`. True when it belonged to one of our
    /// searches.
    pub fn on_search_reply(&self, from: &Hash, reply: &DatabaseSearchReply) -> bool {
        let netdb = &self.netdb;
        let answer = self.searches().on_search_reply(from, reply, |h| {
            netdb
                .router_info(h)
                .is_some_and(|ri| netdb.is_usable_floodfill(&ri))
        });
        let Some((next, end)) = answer else {
            return false;
        };
        self.send(next);
        if let Some(end) = end {
            self.ended(&reply.key, end);
        }
        true
    }

    /// A RouterInfo for `key` is now in the netDb: end its search, if any.
    pub fn on_router_info(&self, key: &Hash) {
        if self.searches().found(key) {
            self.ended(key, SearchEnd::Found);
        }
    }

    /// End the searches past their deadline.
    pub fn expire(&self) {
        let dead = self.searches().expire(now_ms());
        for k in dead {
            self.ended(&k, SearchEnd::Timeout);
        }
    }
}

/// The netDb as the transport manager's address book, with network search for unknown peers.
pub struct NetDbDirectory {
    pub netdb: NetDb,
    pub search: Arc<PeerSearch>,
}

impl PeerDirectory for NetDbDirectory {
    fn ntcp2_target(&self, peer: &RouterHash) -> Option<ConnectTarget> {
        let ri = self.netdb.router_info(peer)?;
        super::dispatch::ntcp2_target(&ri)
    }

    fn resolve(&self, peer: &RouterHash) -> bool {
        // A RouterInfo we hold but cannot use (no NTCP2 address) will not improve by asking.
        if self.netdb.router_info(peer).is_some() {
            return false;
        }
        self.search.start(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdb::testkit;
    use crate::ops::status::RouterStatus;
    use crate::transport::manager::{
        Connector, Direction, SESSION_QUEUE_LEN, SendOutcome, SessionCommand,
    };
    use crate::transport::metrics::TransportMetrics;
    use tokio::sync::mpsc;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<RouterHash>>);
    impl Connector for Recorder {
        fn connect(&self, t: ConnectTarget) {
            self.0.lock().unwrap().push(t.peer);
        }
    }

    struct Fixture {
        netdb: NetDb,
        manager: TransportManager,
        search: Arc<PeerSearch>,
        connects: Arc<Recorder>,
        registry: Registry,
        _events: mpsc::Receiver<crate::transport::manager::PeerEvent>,
    }

    fn fixture(limits: SearchLimits) -> Fixture {
        let now = now_ms();
        let me = testkit::router(2, true, now);
        let registry = Registry::new();
        let status = Arc::new(RouterStatus::new());
        let netdb = testkit::memory_netdb(me.hash(), &registry, status.clone(), now);
        let (tx, rx) = mpsc::channel(16);
        let manager =
            TransportManager::new(me.hash(), TransportMetrics::new(&registry), status, tx);
        let search = PeerSearch::new(netdb.clone(), limits, SearchMetrics::new(&registry));
        search.set_manager(manager.clone());
        manager.set_directory(Arc::new(NetDbDirectory {
            netdb: netdb.clone(),
            search: search.clone(),
        }));
        let connects = Arc::new(Recorder::default());
        manager.set_connector(connects.clone());
        Fixture {
            netdb,
            manager,
            search,
            connects,
            registry,
            _events: rx,
        }
    }

    fn counter(r: &Registry, name: &str, label: &str) -> u64 {
        r.gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric().iter())
            .filter(|m| m.get_label().iter().any(|l| l.value() == label))
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }

    /// The next DatabaseLookup a fake session to the floodfill received.
    fn next_lookup(rx: &mut mpsc::Receiver<SessionCommand>) -> crate::wire::i2np::DatabaseLookup {
        match rx.try_recv() {
            Ok(SessionCommand::Send(b)) => match I2npMessage::parse_short(&b).unwrap().body {
                I2npBody::DatabaseLookup(l) => l,
                other => panic!("not a lookup: {other:?}"),
            },
            other => panic!("no message: {other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_next_hop_is_searched_then_connected_or_dropped() {
        let f = fixture(SearchLimits::default());
        let now = now_ms();
        let ff = testkit::router(2, true, now);
        f.netdb.insert_verified_router_info(ff.info.clone()).await;
        let hop = testkit::router(2, false, now);

        // 1. A message for a router we do not know is held, and the floodfill is asked.
        assert_eq!(
            f.manager.send(&hop.hash(), Bytes::from_static(b"build")),
            SendOutcome::Connecting
        );
        assert_eq!(*f.connects.0.lock().unwrap(), vec![ff.hash()]);
        let (tx, mut ff_rx) = mpsc::channel(SESSION_QUEUE_LEN);
        let _ff_session = f
            .manager
            .register(ff.hash(), Direction::Outbound, tx)
            .unwrap();
        let lookup = next_lookup(&mut ff_rx);
        assert_eq!(lookup.key, hop.hash());
        assert_eq!(lookup.from, f.netdb.our_hash());
        assert_eq!(
            lookup.lookup_type,
            crate::wire::i2np::LookupType::RouterInfo
        );
        assert_eq!(lookup.reply_tunnel, None);

        // 2. The floodfill does not know it either: the held message is dropped.
        let reply = DatabaseSearchReply {
            key: hop.hash(),
            peers: vec![],
            from: ff.hash(),
        };
        assert!(f.search.on_search_reply(&ff.hash(), &reply));
        assert_eq!(
            counter(&f.registry, "floodgate_netdb_searches_total", "not_found"),
            1
        );
        assert_eq!(
            counter(
                &f.registry,
                "floodgate_ntcp2_queue_drops_total",
                "lookup_failed"
            ),
            1
        );
        // A reply nobody asked for is not ours.
        assert!(!f.search.on_search_reply(&ff.hash(), &reply));

        // 3. Again; this time the RouterInfo arrives and we connect to the hop.
        f.manager.send(&hop.hash(), Bytes::from_static(b"build2"));
        assert_eq!(next_lookup(&mut ff_rx).key, hop.hash());
        f.netdb.insert_verified_router_info(hop.info.clone()).await;
        f.search.on_router_info(&hop.hash());
        assert_eq!(*f.connects.0.lock().unwrap(), vec![ff.hash(), hop.hash()]);
        assert_eq!(
            counter(&f.registry, "floodgate_netdb_searches_total", "found"),
            1
        );
        // The held message goes out when the session comes up.
        let (tx, mut hop_rx) = mpsc::channel(SESSION_QUEUE_LEN);
        let _hop_session = f
            .manager
            .register(hop.hash(), Direction::Outbound, tx)
            .unwrap();
        assert!(matches!(hop_rx.try_recv(), Ok(SessionCommand::Send(b)) if &b[..] == b"build2"));
    }

    #[tokio::test]
    async fn searches_time_out_and_need_a_floodfill() {
        let f = fixture(SearchLimits {
            timeout_ms: 0,
            ..SearchLimits::default()
        });
        let now = now_ms();
        let hop = testkit::router(2, false, now);
        // No floodfill known: nothing to ask, dropped at once.
        assert_eq!(
            f.manager.send(&hop.hash(), Bytes::from_static(b"x")),
            SendOutcome::Dropped("no_address")
        );
        assert_eq!(
            counter(
                &f.registry,
                "floodgate_netdb_searches_total",
                "no_floodfill"
            ),
            1
        );
        let ff = testkit::router(2, true, now);
        f.netdb.insert_verified_router_info(ff.info.clone()).await;
        assert_eq!(
            f.manager.send(&hop.hash(), Bytes::from_static(b"x")),
            SendOutcome::Connecting
        );
        f.search.expire();
        assert_eq!(
            counter(&f.registry, "floodgate_netdb_searches_total", "timeout"),
            1
        );
        assert_eq!(
            counter(
                &f.registry,
                "floodgate_ntcp2_queue_drops_total",
                "lookup_failed"
            ),
            1
        );
    }
}

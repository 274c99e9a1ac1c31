//! The transport manager: one session per peer, connect on demand, a bounded send queue per
//! session with drop counting, and the stream of peer events the router dispatches.
//!
//! Sessions (NTCP2 tasks) register themselves here once their handshake completes; the manager
//! never touches sockets. Sending to a peer without a session queues a few messages while a
//! connection is made through the [`Connector`] (the NTCP2 transport), using the address the
//! [`PeerDirectory`] (the netDb) knows for that peer.

use super::metrics::TransportMetrics;
use crate::ops::status::RouterStatus;
use crate::wire::i2np::ShortHeader;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::mpsc;

pub type RouterHash = [u8; 32];

/// Per-session outbound queue depth (messages). Deep enough to absorb bursts of tunnel data,
/// shallow enough that a stalled peer cannot hold much memory: drops are counted instead.
pub const SESSION_QUEUE_LEN: usize = 1024;
/// Messages held per peer while its connection is being made.
pub const PENDING_PER_PEER: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

/// What a session task is asked to do.
#[derive(Debug, Clone)]
pub enum SessionCommand {
    /// Send one I2NP message, already encoded with the 9-byte short header.
    Send(Bytes),
    /// Send a RouterInfo block (uncompressed RouterInfo), optionally asking for a flood.
    SendRouterInfo { router_info: Bytes, flood: bool },
    /// Close with this NTCP2 termination reason code.
    Terminate(u8),
}

/// Where sessions hand tunnel messages (TunnelData, TunnelGateway, tunnel builds) straight
/// from the frame they arrived in, instead of queueing them as [`PeerEvent::Message`] for the
/// router's dispatcher task. Why: relayed tunnel messages are nearly all of a relay's traffic,
/// and the extra queue and task hop per message was a tenth of its CPU time. The intake must
/// not block (the transit room queues with `try_send`).
pub trait TunnelIntake: Send + Sync {
    /// Take the message, or give it back (`Some`) when it is not a tunnel message.
    fn offer(
        &self,
        peer: RouterHash,
        header: ShortHeader,
        body: Bytes,
    ) -> Option<(ShortHeader, Bytes)>;
}

/// Events sessions report to the router.
#[derive(Debug)]
pub enum PeerEvent {
    Established {
        peer: RouterHash,
        direction: Direction,
    },
    /// One received I2NP message: its short header and its body.
    Message {
        peer: RouterHash,
        header: ShortHeader,
        body: Bytes,
    },
    /// A RouterInfo block: the peer's own (in the handshake) or one sent in the data phase.
    RouterInfo {
        peer: RouterHash,
        router_info: Bytes,
        flood: bool,
    },
    Closed {
        peer: RouterHash,
        direction: Direction,
    },
}

/// Where and how to reach a peer over NTCP2, from its RouterInfo.
#[derive(Debug, Clone)]
pub struct ConnectTarget {
    pub peer: RouterHash,
    pub addr: std::net::SocketAddr,
    pub static_key: [u8; 32],
    pub iv: [u8; 16],
}

/// The netDb side: addresses of peers we may connect to.
pub trait PeerDirectory: Send + Sync {
    fn ntcp2_target(&self, peer: &RouterHash) -> Option<ConnectTarget>;

    /// We hold no address for `peer`: start searching the network for its RouterInfo. True
    /// when a search runs (new or already running); the manager then holds the peer's
    /// messages until [`TransportManager::peer_resolved`] or
    /// [`TransportManager::resolve_failed`]. Must not call back into the manager's send path
    /// synchronously with a lock held (it is called without the manager's locks).
    fn resolve(&self, _peer: &RouterHash) -> bool {
        false
    }
}

/// The transport side: start an outbound connection (non-blocking; the session registers itself
/// with the manager when established, or calls [`TransportManager::connect_failed`]).
pub trait Connector: Send + Sync {
    fn connect(&self, target: ConnectTarget);
}

#[derive(Debug, Clone)]
struct SessionEntry {
    id: u64,
    tx: mpsc::Sender<SessionCommand>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Queued,
    /// Held until the connection being made is up.
    Connecting,
    Dropped(&'static str),
}

/// Refusal to register a second session for a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateSession;

struct Inner {
    sessions: Mutex<HashMap<RouterHash, SessionEntry>>,
    pending: Mutex<HashMap<RouterHash, Vec<SessionCommand>>>,
    /// Peers whose RouterInfo is being searched; their messages wait in `pending`.
    resolving: Mutex<std::collections::HashSet<RouterHash>>,
    /// Set by [`TransportManager::terminate_all`]: no new sessions or connections after it.
    closing: std::sync::atomic::AtomicBool,
    next_id: AtomicU64,
    directory: OnceLock<Arc<dyn PeerDirectory>>,
    connector: OnceLock<Arc<dyn Connector>>,
    intake: OnceLock<Arc<dyn TunnelIntake>>,
    metrics: TransportMetrics,
    events: mpsc::Sender<PeerEvent>,
    our_hash: RouterHash,
    status: Arc<RouterStatus>,
}

#[derive(Clone)]
pub struct TransportManager {
    inner: Arc<Inner>,
}

/// Registration of an established session; dropping it unregisters the session.
pub struct Registration {
    manager: TransportManager,
    peer: RouterHash,
    id: u64,
    direction: Direction,
}

impl Registration {
    pub fn peer(&self) -> &RouterHash {
        &self.peer
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.manager.unregister(&self.peer, self.id, self.direction);
    }
}

impl TransportManager {
    /// `events` receives what sessions report; the router drains it.
    pub fn new(
        our_hash: RouterHash,
        metrics: TransportMetrics,
        status: Arc<RouterStatus>,
        events: mpsc::Sender<PeerEvent>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                resolving: Mutex::new(std::collections::HashSet::new()),
                closing: std::sync::atomic::AtomicBool::new(false),
                next_id: AtomicU64::new(1),
                directory: OnceLock::new(),
                connector: OnceLock::new(),
                intake: OnceLock::new(),
                metrics,
                events,
                our_hash,
                status,
            }),
        }
    }

    pub fn our_hash(&self) -> &RouterHash {
        &self.inner.our_hash
    }

    pub fn metrics(&self) -> &TransportMetrics {
        &self.inner.metrics
    }

    pub fn events(&self) -> &mpsc::Sender<PeerEvent> {
        &self.inner.events
    }

    /// Set once at start-up (the netDb and the NTCP2 transport are built after the manager).
    pub fn set_directory(&self, d: Arc<dyn PeerDirectory>) {
        let _ = self.inner.directory.set(d);
    }

    pub fn set_connector(&self, c: Arc<dyn Connector>) {
        let _ = self.inner.connector.set(c);
    }

    /// Set once at start-up by the router when it carries transit tunnels.
    pub fn set_tunnel_intake(&self, i: Arc<dyn TunnelIntake>) {
        let _ = self.inner.intake.set(i);
    }

    /// Offer a received message to the tunnel intake (see [`TunnelIntake`]); `Some` gives it
    /// back for the router's event queue.
    pub fn offer_to_tunnels(
        &self,
        peer: RouterHash,
        header: ShortHeader,
        body: Bytes,
    ) -> Option<(ShortHeader, Bytes)> {
        match self.inner.intake.get() {
            Some(i) => i.offer(peer, header, body),
            None => Some((header, body)),
        }
    }

    /// Queue several messages for one peer (drains `msgs`): one session lookup and one queue
    /// reservation for all of them instead of one each, which is what a transit shard's output
    /// per next hop needs. Messages the session queue has no room for are dropped and counted
    /// as `queue_full`; without a session each goes the way of [`send`](Self::send).
    pub fn send_many(&self, peer: &RouterHash, msgs: &mut Vec<Bytes>) {
        if msgs.is_empty() {
            return;
        }
        let tx = if peer == &self.inner.our_hash {
            None
        } else {
            self.sessions().get(peer).map(|e| e.tx.clone())
        };
        if let Some(tx) = tx {
            match tx.try_reserve_many(msgs.len()) {
                Ok(permits) => {
                    for (permit, m) in permits.zip(msgs.drain(..)) {
                        permit.send(SessionCommand::Send(m));
                    }
                    return;
                }
                Err(mpsc::error::TrySendError::Full(())) => {
                    // Not room for all: as many as fit, in order, then count the rest.
                    let mut dropped = 0u64;
                    for m in msgs.drain(..) {
                        if dropped > 0 || tx.try_send(SessionCommand::Send(m)).is_err() {
                            dropped += 1;
                        }
                    }
                    self.count_drops("queue_full", dropped);
                    return;
                }
                // The session is gone: the per-message path connects again.
                Err(mpsc::error::TrySendError::Closed(())) => {}
            }
        }
        for m in msgs.drain(..) {
            self.send(peer, m);
        }
    }

    /// Count `n` messages dropped for `reason` (`floodgate_ntcp2_queue_drops_total`).
    pub fn count_drops(&self, reason: &'static str, n: u64) {
        self.inner
            .metrics
            .queue_drops
            .with_label_values(&[reason])
            .inc_by(n);
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<RouterHash, SessionEntry>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<RouterHash, Vec<SessionCommand>>> {
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_connected(&self, peer: &RouterHash) -> bool {
        self.sessions().contains_key(peer)
    }

    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    pub fn connected_peers(&self) -> Vec<RouterHash> {
        self.sessions().keys().copied().collect()
    }

    /// Register an established session. One session per peer: a second one is refused and
    /// the caller terminates it (the established one keeps its queued traffic).
    pub fn register(
        &self,
        peer: RouterHash,
        direction: Direction,
        tx: mpsc::Sender<SessionCommand>,
    ) -> Result<Registration, DuplicateSession> {
        if self.inner.closing.load(Ordering::Relaxed) {
            // The router is stopping: a session that completes its handshake now is closed.
            return Err(DuplicateSession);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut s = self.sessions();
            if let Some(existing) = s.get(&peer)
                && !existing.tx.is_closed()
            {
                return Err(DuplicateSession);
            }
            s.insert(peer, SessionEntry { id, tx: tx.clone() });
            self.inner
                .status
                .peers_ntcp2
                .store(s.len() as u64, Ordering::Relaxed);
        }
        self.inner
            .metrics
            .sessions
            .with_label_values(&[direction.label()])
            .inc();
        // Flush what waited for this connection.
        let queued = self.pending().remove(&peer).unwrap_or_default();
        for cmd in queued {
            if tx.try_send(cmd).is_err() {
                self.count_drops("queue_full", 1);
            }
        }
        Ok(Registration {
            manager: self.clone(),
            peer,
            id,
            direction,
        })
    }

    fn unregister(&self, peer: &RouterHash, id: u64, direction: Direction) {
        let mut s = self.sessions();
        if s.get(peer).is_some_and(|e| e.id == id) {
            s.remove(peer);
        }
        self.inner
            .status
            .peers_ntcp2
            .store(s.len() as u64, Ordering::Relaxed);
        drop(s);
        self.inner
            .metrics
            .sessions
            .with_label_values(&[direction.label()])
            .dec();
    }

    /// An outbound connection attempt failed: drop what was waiting for it.
    pub fn connect_failed(&self, peer: &RouterHash) {
        if let Some(q) = self.pending().remove(peer) {
            self.count_drops("connect_failed", q.len() as u64);
        }
    }

    /// Send an I2NP message (short-header form) to `peer`, connecting if needed.
    pub fn send(&self, peer: &RouterHash, message: Bytes) -> SendOutcome {
        self.command(peer, SessionCommand::Send(message))
    }

    /// Queue a command for `peer`'s session, connecting if needed.
    pub fn command(&self, peer: &RouterHash, cmd: SessionCommand) -> SendOutcome {
        if peer == &self.inner.our_hash {
            self.count_drops("to_self", 1);
            return SendOutcome::Dropped("to_self");
        }
        let tx = self.sessions().get(peer).map(|e| e.tx.clone());
        if tx.is_none() && self.inner.closing.load(Ordering::Relaxed) {
            self.count_drops("shutting_down", 1);
            return SendOutcome::Dropped("shutting_down");
        }
        let cmd = match tx {
            Some(tx) => match tx.try_send(cmd) {
                Ok(()) => return SendOutcome::Queued,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.count_drops("queue_full", 1);
                    return SendOutcome::Dropped("queue_full");
                }
                // The session ended between lookup and send: connect again below.
                Err(mpsc::error::TrySendError::Closed(cmd)) => cmd,
            },
            None => cmd,
        };
        let mut pending = self.pending();
        if let Some(q) = pending.get_mut(peer) {
            if q.len() >= PENDING_PER_PEER {
                self.count_drops("pending_full", 1);
                return SendOutcome::Dropped("pending_full");
            }
            q.push(cmd);
            return SendOutcome::Connecting;
        }
        let target = self
            .inner
            .directory
            .get()
            .and_then(|d| d.ntcp2_target(peer));
        let Some(connector) = self.inner.connector.get() else {
            return self.drop_no_address();
        };
        let Some(target) = target else {
            // Unknown peer: hold the message while the netDb searches for its RouterInfo.
            // The directory is called without our locks (it sends lookups through us).
            let Some(directory) = self.inner.directory.get().cloned() else {
                return self.drop_no_address();
            };
            pending.insert(*peer, vec![cmd]);
            self.resolving_set().insert(*peer);
            drop(pending);
            if directory.resolve(peer) {
                return SendOutcome::Connecting;
            }
            self.resolving_set().remove(peer);
            let n = self.pending().remove(peer).map_or(0, |q| q.len() as u64);
            self.count_drops("no_address", n);
            return SendOutcome::Dropped("no_address");
        };
        pending.insert(*peer, vec![cmd]);
        drop(pending);
        connector.connect(target);
        SendOutcome::Connecting
    }

    fn drop_no_address(&self) -> SendOutcome {
        self.count_drops("no_address", 1);
        SendOutcome::Dropped("no_address")
    }

    fn resolving_set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<RouterHash>> {
        self.inner
            .resolving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The search for `peer`'s RouterInfo succeeded (it is in the directory now): connect and
    /// let the held messages follow.
    pub fn peer_resolved(&self, peer: &RouterHash) {
        if !self.resolving_set().remove(peer) {
            return;
        }
        if self.is_connected(peer) {
            // The peer connected to us meanwhile; registration flushed the queue.
            return;
        }
        let target = self
            .inner
            .directory
            .get()
            .and_then(|d| d.ntcp2_target(peer));
        match (target, self.inner.connector.get()) {
            (Some(t), Some(c)) => c.connect(t),
            _ => {
                // Found, but without an NTCP2 address we can use.
                if let Some(q) = self.pending().remove(peer) {
                    self.count_drops("no_address", q.len() as u64);
                }
            }
        }
    }

    /// The search for `peer`'s RouterInfo failed: drop what waited for it.
    pub fn resolve_failed(&self, peer: &RouterHash) {
        if !self.resolving_set().remove(peer) {
            return;
        }
        if let Some(q) = self.pending().remove(peer) {
            self.count_drops("lookup_failed", q.len() as u64);
        }
    }

    /// Ask every session to close (router shutdown).
    pub fn terminate_all(&self, reason: u8) {
        self.inner.closing.store(true, Ordering::Relaxed);
        for e in self.sessions().values() {
            let _ = e.tx.try_send(SessionCommand::Terminate(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(Option<ConnectTarget>);
    impl PeerDirectory for Dir {
        fn ntcp2_target(&self, _: &RouterHash) -> Option<ConnectTarget> {
            self.0.clone()
        }
    }
    #[derive(Default)]
    struct Recorder(Mutex<Vec<RouterHash>>);
    impl Connector for Recorder {
        fn connect(&self, t: ConnectTarget) {
            self.0.lock().unwrap().push(t.peer);
        }
    }

    fn manager() -> (TransportManager, Arc<Recorder>) {
        let (tx, _rx) = mpsc::channel(8);
        let m = TransportManager::new(
            [0; 32],
            TransportMetrics::new(&prometheus::Registry::new()),
            Arc::new(RouterStatus::new()),
            tx,
        );
        let rec = Arc::new(Recorder::default());
        m.set_connector(rec.clone());
        m.set_directory(Arc::new(Dir(Some(ConnectTarget {
            peer: [1; 32],
            addr: "198.18.0.1:1".parse().unwrap(),
            static_key: [0; 32],
            iv: [0; 16],
        }))));
        (m, rec)
    }

    #[test]
    fn send_many_queues_in_order_and_counts_what_does_not_fit() {
        let (m, rec) = manager();
        let peer = [1u8; 32];
        let drops = || {
            m.metrics()
                .queue_drops
                .with_label_values(&["queue_full"])
                .get()
        };
        // No session: every message takes the connect-and-hold path.
        let mut msgs = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        m.send_many(&peer, &mut msgs);
        assert!(msgs.is_empty());
        assert_eq!(rec.0.lock().unwrap().len(), 1);
        let (tx, mut rx) = mpsc::channel(4);
        let _reg = m.register(peer, Direction::Outbound, tx).unwrap();
        // The held two were flushed on register; two slots are left for three messages.
        let mut msgs: Vec<Bytes> = [&b"c"[..], b"d", b"e"].map(Bytes::from_static).to_vec();
        m.send_many(&peer, &mut msgs);
        assert!(msgs.is_empty());
        let got: Vec<Bytes> = std::iter::from_fn(|| match rx.try_recv() {
            Ok(SessionCommand::Send(b)) => Some(b),
            _ => None,
        })
        .collect();
        assert_eq!(got, [&b"a"[..], b"b", b"c", b"d"].map(Bytes::from_static));
        assert_eq!(drops(), 1);
        // Room for all: one reservation.
        let mut msgs: Vec<Bytes> = [&b"f"[..], b"g"].map(Bytes::from_static).to_vec();
        m.send_many(&peer, &mut msgs);
        assert!(matches!(rx.try_recv(), Ok(SessionCommand::Send(b)) if &b[..] == b"f"));
        assert!(matches!(rx.try_recv(), Ok(SessionCommand::Send(b)) if &b[..] == b"g"));
        assert_eq!(drops(), 1);
    }

    #[test]
    fn connect_on_demand_then_flush_on_register() {
        let (m, rec) = manager();
        let peer = [1u8; 32];
        assert_eq!(
            m.send(&peer, Bytes::from_static(b"a")),
            SendOutcome::Connecting
        );
        assert_eq!(
            m.send(&peer, Bytes::from_static(b"b")),
            SendOutcome::Connecting
        );
        assert_eq!(
            rec.0.lock().unwrap().len(),
            1,
            "one connection attempt per peer"
        );
        let (tx, mut rx) = mpsc::channel(SESSION_QUEUE_LEN);
        let reg = m.register(peer, Direction::Outbound, tx).unwrap();
        assert!(matches!(rx.try_recv(), Ok(SessionCommand::Send(b)) if &b[..] == b"a"));
        assert!(matches!(rx.try_recv(), Ok(SessionCommand::Send(b)) if &b[..] == b"b"));
        assert_eq!(m.send(&peer, Bytes::from_static(b"c")), SendOutcome::Queued);
        // One session per peer.
        let (tx2, _rx2) = mpsc::channel(1);
        assert!(m.register(peer, Direction::Inbound, tx2).is_err());
        drop(reg);
        assert!(!m.is_connected(&peer));
        assert_eq!(
            m.send(&[0; 32], Bytes::new()),
            SendOutcome::Dropped("to_self")
        );
    }

    #[test]
    fn full_queues_drop_and_count() {
        let (m, _) = manager();
        let peer = [1u8; 32];
        let (tx, _rx) = mpsc::channel(1);
        let _reg = m.register(peer, Direction::Inbound, tx).unwrap();
        assert_eq!(m.send(&peer, Bytes::new()), SendOutcome::Queued);
        assert_eq!(
            m.send(&peer, Bytes::new()),
            SendOutcome::Dropped("queue_full")
        );
        assert_eq!(
            m.metrics()
                .queue_drops
                .with_label_values(&["queue_full"])
                .get(),
            1
        );
        // Pending queue for a connecting peer is bounded too.
        let other = [2u8; 32];
        for _ in 0..PENDING_PER_PEER {
            assert_eq!(m.send(&other, Bytes::new()), SendOutcome::Connecting);
        }
        assert_eq!(
            m.send(&other, Bytes::new()),
            SendOutcome::Dropped("pending_full")
        );
        m.connect_failed(&other);
        assert_eq!(
            m.metrics()
                .queue_drops
                .with_label_values(&["connect_failed"])
                .get(),
            PENDING_PER_PEER as u64
        );
    }
}

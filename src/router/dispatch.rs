//! The I2NP dispatcher: takes what transport sessions report and hands each message to the room
//! that owns it (netDb now; transit tunnels plug in here next), then sends what those rooms
//! answer. This is the seam between transports and the protocol rooms.
//!
//! Garlic messages addressed to our router (ECIES-X25519 one-time messages, ecies-routers.rst)
//! are opened here: that is how routers hand a floodfill the LeaseSet stores and lookups of
//! their client destinations. Each LOCAL clove is dispatched as if its message had arrived
//! directly from the peer that delivered the garlic; ROUTER and TUNNEL cloves are forwarded;
//! DESTINATION cloves are dropped (we host no destinations).
//!
//! Opening a garlic costs one X25519 DH plus ChaCha20-Poly1305 over the message (tens of
//! microseconds for the usual 1-2 KiB). It runs inline on the dispatcher task on purpose:
//! that is about what a `spawn_blocking` hand-off costs by itself, DatabaseLookups are answered
//! inline at a similar cost already, and inline work stays back-pressured by the bounded peer
//! event channel, where a blocking-pool queue would grow without bound under a garlic flood.

use super::now_ms;
use crate::crypto::ecies_router::GarlicKeys;
use crate::netdb::{Action, NetDb};
use crate::ops::metrics::reg;
use crate::transport::manager::{
    ConnectTarget, PeerEvent, RouterHash, TransportManager, TunnelIntake,
};
use crate::tunnel::shard::{Submitted, Transit, TransitSink};
use crate::wire::Writer;
use crate::wire::garlic::{Clove, DeliveryInstructions};
use crate::wire::i2np::{I2npBody, I2npMessage, MessageType, ShortHeader, TunnelGateway};
use crate::wire::{Reader, RouterInfo};
use bytes::Bytes;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;
use tracing::{debug, info};

/// Messages whose expiration passed more than this long ago are dropped unread (clock skew
/// between routers is allowed up to 60 s; i2pd uses a similar margin).
pub const EXPIRATION_GRACE_SECS: u64 = 60;
/// Messages that expire more than this far ahead of our clock are refused (`future`): a peer
/// with a broken clock or a message kept alive to be replayed later (see
/// [`crate::wire::i2np::MAX_EXPIRATION_AHEAD_MS`]).
pub const MAX_FUTURE_SECS: u64 = crate::wire::i2np::MAX_EXPIRATION_AHEAD_MS / 1000;

#[derive(Clone)]
pub struct DispatchMetrics {
    /// Received I2NP messages by type and what became of them.
    pub messages: IntCounterVec,
    /// Acknowledgements (DeliveryStatus) of our RouterInfo publications, by result.
    pub publish_acks: IntCounterVec,
    /// Garlic messages to our router, by result (opened, refused) and refusal reason.
    pub garlic: IntCounterVec,
    /// Cloves out of opened garlic, by delivery type and what became of them.
    pub cloves: IntCounterVec,
}

impl DispatchMetrics {
    pub fn new(registry: &Registry) -> Self {
        let messages = IntCounterVec::new(
            Opts::new(
                "floodgate_i2np_received_total",
                "I2NP messages received from peers, by message type and outcome (handled, expired, future = expiring more than 60 s ahead, malformed, unhandled).",
            ),
            &["type", "outcome"],
        )
        .expect("valid");
        let publish_acks = IntCounterVec::new(
            Opts::new(
                "floodgate_router_info_publish_acks_total",
                "DeliveryStatus acknowledgements of our RouterInfo publications received from floodfills.",
            ),
            &["result"],
        )
        .expect("valid");
        let garlic = IntCounterVec::new(
            Opts::new(
                "floodgate_garlic_received_total",
                "Garlic messages addressed to our router, by result (opened, refused) and reason (none when opened; too_short, replay, replay_memory_full, weak_key, aead, malformed, stale, future).",
            ),
            &["result", "reason"],
        )
        .expect("valid");
        let cloves = IntCounterVec::new(
            Opts::new(
                "floodgate_garlic_cloves_total",
                "Cloves of opened garlic messages, by delivery type (local, router, tunnel, destination) and outcome (dispatched, forwarded, expired, dropped, unencodable).",
            ),
            &["delivery", "outcome"],
        )
        .expect("valid");
        Self {
            messages: reg(registry, messages),
            publish_acks: reg(registry, publish_acks),
            garlic: reg(registry, garlic),
            cloves: reg(registry, cloves),
        }
    }
}

/// Reply tokens of our RouterInfo publications still awaiting a DeliveryStatus.
#[derive(Default)]
pub struct PendingAcks {
    tokens: Mutex<HashMap<u32, (RouterHash, Instant)>>,
}

impl PendingAcks {
    pub fn expect(&self, floodfill: RouterHash, token: u32) {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        // Tokens older than an hour will never be answered; keep the map bounded.
        t.retain(|_, (_, at)| at.elapsed().as_secs() < 3600);
        t.insert(token, (floodfill, Instant::now()));
    }

    fn take(&self, token: u32) -> Option<RouterHash> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token)
            .map(|(h, _)| h)
    }
}

/// The first usable published NTCP2 address of a RouterInfo (host, port, `s`, `i`, version 2).
pub fn ntcp2_target(ri: &RouterInfo) -> Option<ConnectTarget> {
    ri.addresses()
        .iter()
        .filter(|a| a.transport() == "NTCP2")
        .find_map(|a| {
            if !a
                .version()
                .is_some_and(|v| v.split(',').any(|x| x.trim() == "2"))
            {
                return None;
            }
            let ip = a.ip()?;
            let port = a.port()?;
            Some(ConnectTarget {
                peer: ri.hash(),
                addr: std::net::SocketAddr::new(ip, port),
                static_key: a.static_key()?,
                iv: a.i_param()?.try_into().ok()?,
            })
        })
}

/// Everything the dispatcher works with.
#[derive(Clone)]
pub struct Dispatcher {
    pub netdb: NetDb,
    pub manager: TransportManager,
    pub metrics: DispatchMetrics,
    pub acks: Arc<PendingAcks>,
    pub min_peers: usize,
    pub status: Arc<crate::ops::status::RouterStatus>,
    /// Our router's X25519 encryption key (and replay memory) for garlic addressed to us.
    pub garlic: Arc<GarlicKeys>,
    /// The transit room's intake: tunnel data and build requests go there first (the same
    /// intake is installed in the transport manager for sessions).
    pub intake: Option<Arc<TransitIntake>>,
    /// Our own searches for RouterInfos (answers to them arrive here).
    pub search: Arc<super::search::PeerSearch>,
}

impl Dispatcher {
    /// Drain peer events until every session and the manager are gone.
    pub async fn run(self, mut events: mpsc::Receiver<PeerEvent>) {
        while let Some(ev) = events.recv().await {
            match ev {
                PeerEvent::Established { .. } | PeerEvent::Closed { .. } => {
                    self.update_peer_readiness()
                }
                PeerEvent::RouterInfo {
                    peer,
                    router_info,
                    flood: _,
                } => {
                    let d = self.clone();
                    tokio::spawn(async move { d.on_router_info(peer, router_info).await });
                }
                PeerEvent::Message { peer, header, body } => {
                    if let Some((header, body)) = self.to_transit(peer, header, body) {
                        self.on_message(peer, header, body, Via::Transport)
                    }
                }
            }
        }
    }

    /// Hand tunnel messages (data, gateway, build requests) to the transit room. Returns the
    /// message back when it is not transit's. Sessions do this themselves through the
    /// [`TransitIntake`] the router installs; this covers any tunnel message queued anyway.
    fn to_transit(
        &self,
        peer: RouterHash,
        header: ShortHeader,
        body: Bytes,
    ) -> Option<(ShortHeader, Bytes)> {
        match &self.intake {
            Some(intake) => intake.offer(peer, header, body),
            None => Some((header, body)),
        }
    }

    fn update_peer_readiness(&self) {
        let n = self.manager.session_count();
        self.status.set_condition(
            "peers",
            if n >= self.min_peers {
                Ok(())
            } else {
                Err(format!("{n} peer sessions, need {}", self.min_peers))
            },
        );
    }

    /// A RouterInfo block from a session: the peer's own. Verified here (off the runtime: the
    /// signature check is CPU work) and handed to the netDb as a local store.
    async fn on_router_info(&self, peer: RouterHash, bytes: Bytes) {
        let verified = tokio::task::spawn_blocking(move || {
            RouterInfo::parse(&bytes)
                .map_err(|_| "malformed")?
                .verify()
                .map_err(|_| "signature")
        })
        .await;
        match verified {
            Ok(Ok(ri)) if ri.hash() == peer => {
                self.netdb
                    .insert_verified_router_info(ri.into_inner())
                    .await;
                self.search.on_router_info(&peer);
            }
            Ok(Ok(_)) => {
                self.manager
                    .metrics()
                    .misbehaving
                    .with_label_values(&["router_info_not_peer"])
                    .inc();
            }
            Ok(Err(reason)) => {
                self.manager
                    .metrics()
                    .misbehaving
                    .with_label_values(&[match reason {
                        "malformed" => "router_info_malformed",
                        _ => "router_info_signature",
                    }])
                    .inc();
            }
            Err(_) => {}
        }
    }

    fn count(&self, ty: &str, outcome: &str) {
        self.metrics
            .messages
            .with_label_values(&[ty, outcome])
            .inc();
    }

    /// Handle one message from `peer`: straight off a transport, or out of a garlic clove
    /// (`via`) that `peer` delivered.
    fn on_message(&self, peer: RouterHash, header: ShortHeader, body: Bytes, via: Via) {
        let ty_label = MessageType::from_code(header.msg_type)
            .map(type_label)
            .unwrap_or("unknown");
        let now = now_ms();
        if u64::from(header.expiration_s) + EXPIRATION_GRACE_SECS < now / 1000 {
            self.count(ty_label, "expired");
            return;
        }
        if u64::from(header.expiration_s) > now / 1000 + MAX_FUTURE_SECS {
            self.count(ty_label, "future");
            return;
        }
        let Some(ty) = MessageType::from_code(header.msg_type) else {
            self.count(ty_label, "unhandled");
            return;
        };
        let parsed = {
            let mut r = Reader::new(&body);
            I2npBody::parse(ty, &mut r)
        };
        let body = match parsed {
            Ok(b) => b,
            Err(e) => {
                self.count(ty_label, "malformed");
                self.manager
                    .metrics()
                    .misbehaving
                    .with_label_values(&["i2np_malformed"])
                    .inc();
                debug!(msg_type = ty_label, error = %e, "malformed I2NP message");
                return;
            }
        };
        match body {
            I2npBody::DatabaseStore(store) => {
                self.count(ty_label, "handled");
                let d = self.clone();
                // Each store runs on its own task: it may wait for an fsync before its
                // DeliveryStatus, and that must not hold up other peers' messages.
                tokio::spawn(async move {
                    let key = store.key;
                    let out = d.netdb.on_database_store(peer, store, true, now_ms()).await;
                    d.execute(out.actions);
                    if d.netdb.router_info(&key).is_some() {
                        d.search.on_router_info(&key);
                    }
                });
            }
            I2npBody::DatabaseLookup(lookup) => {
                self.count(ty_label, "handled");
                let out = self.netdb.on_database_lookup(peer, lookup, now);
                self.execute(out.actions);
            }
            I2npBody::DeliveryStatus(ds) => {
                if let Some(ff) = self.acks.take(ds.msg_id) {
                    self.count(ty_label, "handled");
                    self.metrics.publish_acks.with_label_values(&["ok"]).inc();
                    info!(
                        floodfill =
                            crate::ops::telemetry::short_hash(&crate::wire::base64::encode(&ff)),
                        "RouterInfo publication acknowledged"
                    );
                } else {
                    self.count(ty_label, "unhandled");
                }
            }
            I2npBody::Garlic(garlic) => {
                if via == Via::Garlic {
                    // A garlic inside a garlic has no use for a router; refusing it keeps one
                    // message from costing more than one DH.
                    self.count(ty_label, "nested");
                    return;
                }
                self.count(ty_label, "handled");
                self.on_garlic(peer, &garlic.data, now);
            }
            I2npBody::DatabaseSearchReply(reply) => {
                let ours = self.search.on_search_reply(&peer, &reply);
                self.count(ty_label, if ours { "handled" } else { "unhandled" });
            }
            _ => self.count(ty_label, "unhandled"),
        }
    }

    /// Open a garlic message addressed to our router and deliver its cloves.
    fn on_garlic(&self, peer: RouterHash, data: &[u8], now_ms: u64) {
        let cloves = match self.garlic.open(data, now_ms) {
            Ok(c) => {
                self.metrics
                    .garlic
                    .with_label_values(&["opened", "none"])
                    .inc();
                c
            }
            Err(e) => {
                self.metrics
                    .garlic
                    .with_label_values(&["refused", e.reason()])
                    .inc();
                debug!(
                    peer = crate::ops::telemetry::short_hash(&crate::wire::base64::encode(&peer)),
                    error = %e,
                    "garlic refused"
                );
                return;
            }
        };
        for clove in cloves {
            self.deliver_clove(peer, clove, now_ms);
        }
    }

    /// A message out of a garlic clove for us. Tunnel build requests come this way when a
    /// creator builds an inbound tunnel whose first hop is us: the build travels its outbound
    /// tunnel and is garlic-wrapped to our router key so that the OBEP cannot read it
    /// (tunnel-creation-ecies.rst, "Garlic Encryption"). Those go to the transit room like
    /// builds that arrive directly; the rest is handled as a message from `peer`.
    fn on_clove_message(&self, peer: RouterHash, header: ShortHeader, body: Bytes) {
        let (header, body) = if matches!(header.msg_type, 23 | 25) {
            match self.to_transit(peer, header, body) {
                Some(not_transit) => not_transit,
                None => return,
            }
        } else {
            (header, body)
        };
        self.on_message(peer, header, body, Via::Garlic);
    }

    fn count_clove(&self, delivery: &DeliveryInstructions, outcome: &str) {
        self.metrics
            .cloves
            .with_label_values(&[delivery.label(), outcome])
            .inc();
    }

    fn deliver_clove(&self, peer: RouterHash, clove: Clove, now_ms: u64) {
        let Clove {
            delivery,
            header,
            body,
            ..
        } = clove;
        if u64::from(header.expiration_s) + EXPIRATION_GRACE_SECS < now_ms / 1000 {
            self.count_clove(&delivery, "expired");
            return;
        }
        match delivery {
            DeliveryInstructions::Local => {
                self.count_clove(&delivery, "dispatched");
                self.on_clove_message(peer, header, Bytes::from(body));
            }
            DeliveryInstructions::Router(to) if &to == self.manager.our_hash() => {
                // Addressed to us by hash: the same as LOCAL.
                self.count_clove(&delivery, "dispatched");
                self.on_clove_message(peer, header, Bytes::from(body));
            }
            DeliveryInstructions::Router(_) => {
                // Forwarding would let anyone make us send a message to any router of their
                // choosing (an anonymous relay outside tunnels); i2pd drops these too.
                self.count_clove(&delivery, "dropped");
            }
            DeliveryInstructions::Tunnel { gateway, tunnel_id } => {
                match tunnel_gateway_message(header, &body, tunnel_id) {
                    Ok(msg) => {
                        self.count_clove(&delivery, "forwarded");
                        self.send(&gateway, &msg);
                    }
                    Err(e) => {
                        self.count_clove(&delivery, "unencodable");
                        debug!(error = %e, "garlic clove does not fit a TunnelGateway message");
                    }
                }
            }
            DeliveryInstructions::Destination(_) => {
                // We host no client destinations, so nothing can take it.
                self.count_clove(&delivery, "dropped");
            }
        }
    }

    /// Send what a room asked for. Unreachable peers are counted by the manager, not retried.
    pub fn execute(&self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::SendDirect { to, msg }
                | Action::SendViaTunnel {
                    gateway: to, msg, ..
                } => self.send(&to, &msg),
                Action::Flood { to, msg } => {
                    for t in to {
                        self.send(&t, &msg);
                    }
                }
            }
        }
    }

    fn send(&self, to: &RouterHash, msg: &I2npMessage) {
        match msg.to_short_bytes() {
            Ok(b) => {
                self.manager.send(to, Bytes::from(b));
            }
            Err(e) => debug!(error = %e, "cannot encode outgoing I2NP message"),
        }
    }
}

/// The transit room's door for received tunnel messages (TunnelData, TunnelGateway, tunnel
/// builds), counted in `floodgate_i2np_received_total` like every received message. Sessions
/// call it directly ([`TunnelIntake`]), so relayed traffic skips the dispatcher's queue.
pub struct TransitIntake {
    transit: Transit,
    metrics: DispatchMetrics,
    /// `outcome="transit"` counters of the four types, looked up once (a label lookup per
    /// relayed message was measurable).
    queued: [IntCounter; 4],
}

const TRANSIT_TYPES: [u8; 4] = [18, 19, 23, 25];

impl TransitIntake {
    /// The transit room behind this intake.
    pub fn transit(&self) -> &Transit {
        &self.transit
    }

    pub fn new(transit: Transit, metrics: &DispatchMetrics) -> Self {
        let queued = TRANSIT_TYPES.map(|t| {
            let ty = MessageType::from_code(t)
                .map(type_label)
                .unwrap_or("unknown");
            metrics.messages.with_label_values(&[ty, "transit"])
        });
        Self {
            transit,
            metrics: metrics.clone(),
            queued,
        }
    }
}

impl TunnelIntake for TransitIntake {
    fn offer(
        &self,
        peer: RouterHash,
        header: ShortHeader,
        body: Bytes,
    ) -> Option<(ShortHeader, Bytes)> {
        let Some(i) = TRANSIT_TYPES.iter().position(|t| *t == header.msg_type) else {
            return Some((header, body));
        };
        // Transit takes the message in short-header form. The session split header and body,
        // so they are joined again here: one copy of at most one tunnel message (~1 KiB),
        // which also gives the shard a buffer of its own to transform in place.
        let mut full = Vec::with_capacity(ShortHeader::LEN + body.len());
        header.write(&mut full);
        full.extend_from_slice(&body);
        match self.transit.submit(peer, Bytes::from(full)) {
            Submitted::Queued => self.queued[i].inc(),
            Submitted::Dropped(reason) => {
                let ty = MessageType::from_code(header.msg_type)
                    .map(type_label)
                    .unwrap_or("unknown");
                self.metrics
                    .messages
                    .with_label_values(&[ty, reason.label()])
                    .inc();
            }
            Submitted::NotTransit(_) => return Some((header, body)),
        }
        None
    }
}

/// Where a message handed to [`Dispatcher::on_message`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Transport,
    Garlic,
}

/// The TunnelGateway message (type 19) that hands the clove's message to inbound tunnel
/// `tunnel_id` at its gateway: the embedded message gets the standard 16-byte header. The
/// wrapper gets a fresh random id (reusing the inner one would let the gateway link the two)
/// and the clove's expiration: it lives exactly as long as what it carries.
fn tunnel_gateway_message(
    header: ShortHeader,
    body: &[u8],
    tunnel_id: u32,
) -> Result<I2npMessage, crate::wire::WireError> {
    let std_header = header.to_standard(body)?;
    let mut data = Vec::with_capacity(16 + body.len());
    std_header.write(&mut data);
    data.put_bytes(body);
    Ok(I2npMessage {
        msg_id: rand::random(),
        expiration_ms: header.expiration_ms(),
        body: I2npBody::TunnelGateway(TunnelGateway { tunnel_id, data }),
    })
}

/// Metric label of a message type.
pub fn type_label(t: MessageType) -> &'static str {
    match t {
        MessageType::DatabaseStore => "database_store",
        MessageType::DatabaseLookup => "database_lookup",
        MessageType::DatabaseSearchReply => "database_search_reply",
        MessageType::DeliveryStatus => "delivery_status",
        MessageType::Garlic => "garlic",
        MessageType::TunnelData => "tunnel_data",
        MessageType::TunnelGateway => "tunnel_gateway",
        MessageType::Data => "data",
        MessageType::TunnelBuild => "tunnel_build",
        MessageType::TunnelBuildReply => "tunnel_build_reply",
        MessageType::VariableTunnelBuild => "variable_tunnel_build",
        MessageType::VariableTunnelBuildReply => "variable_tunnel_build_reply",
        MessageType::ShortTunnelBuild => "short_tunnel_build",
        MessageType::OutboundTunnelBuildReply => "outbound_tunnel_build_reply",
    }
}

/// Where transit sends its output: next hops through the transport manager; messages for our
/// own router back into the dispatcher's event stream.
pub struct TransitOutput {
    pub manager: TransportManager,
}

impl TransitSink for TransitOutput {
    fn send(&self, next_hop: RouterHash, msg: Bytes) {
        self.manager.send(&next_hop, msg);
    }

    fn send_batch(&self, next_hop: RouterHash, msgs: &mut Vec<Bytes>) {
        self.manager.send_many(&next_hop, msgs);
    }

    fn deliver_local(&self, msg: Bytes) {
        let mut r = Reader::new(&msg);
        let Ok(header) = ShortHeader::parse(&mut r) else {
            return;
        };
        let body = msg.slice(ShortHeader::LEN..);
        let peer = *self.manager.our_hash();
        // Never block a transit worker: if the dispatcher is saturated the message is dropped
        // like any other overload drop.
        if self
            .manager
            .events()
            .try_send(PeerEvent::Message { peer, header, body })
            .is_err()
        {
            self.manager
                .metrics()
                .queue_drops
                .with_label_values(&["local_delivery_full"])
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningPrivateKey;
    use crate::crypto::ecies_router::seal_router_garlic;
    use crate::netdb::testkit;
    use crate::transport::manager::{Direction, SessionCommand};
    use crate::transport::metrics::TransportMetrics;
    use crate::wire::i2np::{DeliveryStatus, StoreKind};
    use rand::SeedableRng;
    use std::time::Duration;

    struct Fixture {
        d: Dispatcher,
        registry: Registry,
        _events: mpsc::Receiver<PeerEvent>,
    }

    fn fixture() -> Fixture {
        let now = now_ms();
        let me = testkit::router(2, true, now);
        let registry = Registry::new();
        let status = Arc::new(crate::ops::status::RouterStatus::new());
        let netdb = testkit::memory_netdb(me.hash(), &registry, status.clone(), now);
        let (tx, rx) = mpsc::channel(16);
        let manager = TransportManager::new(
            me.hash(),
            TransportMetrics::new(&registry),
            status.clone(),
            tx,
        );
        let search = super::super::search::PeerSearch::new(
            netdb.clone(),
            crate::netdb::search::SearchLimits::default(),
            super::super::search::SearchMetrics::new(&registry),
        );
        search.set_manager(manager.clone());
        let d = Dispatcher {
            search,
            netdb,
            manager,
            metrics: DispatchMetrics::new(&registry),
            acks: Arc::new(PendingAcks::default()),
            min_peers: 0,
            status,
            garlic: Arc::new(GarlicKeys::new(*me.keys.encryption_secret)),
            intake: None,
        };
        Fixture {
            d,
            registry,
            _events: rx,
        }
    }

    fn counter(c: &IntCounterVec, labels: &[&str]) -> u64 {
        c.with_label_values(labels).get()
    }

    fn clove(delivery: DeliveryInstructions, msg: &I2npMessage) -> Clove {
        Clove {
            delivery,
            delay: None,
            header: ShortHeader {
                msg_type: msg.msg_type().code(),
                msg_id: msg.msg_id,
                expiration_s: msg.short_expiration(),
            },
            body: msg.body.to_bytes().unwrap(),
        }
    }

    fn garlic_event(d: &Dispatcher, cloves: &[Clove]) -> (ShortHeader, Bytes) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let data =
            seal_router_garlic(&mut rng, d.garlic.public(), cloves, Some(5), now_ms()).unwrap();
        let g = I2npMessage {
            msg_id: 1,
            expiration_ms: now_ms() + 60_000,
            body: I2npBody::Garlic(crate::wire::i2np::Garlic { data }),
        };
        let bytes = g.to_short_bytes().unwrap();
        let mut r = Reader::new(&bytes);
        let h = ShortHeader::parse(&mut r).unwrap();
        (h, Bytes::copy_from_slice(r.rest()))
    }

    /// A LeaseSet2 store wrapped in a garlic to our router ends up in the netDb; ROUTER and
    /// TUNNEL cloves are forwarded to the named routers in the right framing; DESTINATION
    /// cloves are dropped; a replayed garlic is refused and counted.
    #[tokio::test]
    async fn garlic_cloves_are_dispatched_forwarded_and_dropped() {
        let f = fixture();
        let d = &f.d;
        let now = now_ms();
        let signing = SigningPrivateKey::generate();
        let (key, ls) = testkit::lease_set2(&signing, (now / 1000) as u32, 600, 0);
        let store = I2npMessage {
            msg_id: 42,
            expiration_ms: now + 60_000,
            body: I2npBody::DatabaseStore(testkit::store_lease_set(
                key,
                StoreKind::LeaseSet2,
                ls,
                None,
            )),
        };
        let status = I2npMessage {
            msg_id: 43,
            expiration_ms: now + 60_000,
            body: I2npBody::DeliveryStatus(DeliveryStatus {
                msg_id: 9,
                timestamp: now,
            }),
        };
        let (router_peer, gw_peer) = ([0xa1; 32], [0xb2; 32]);
        let (rtx, mut rrx) = mpsc::channel(4);
        let (gtx, mut grx) = mpsc::channel(4);
        let _r1 = d
            .manager
            .register(router_peer, Direction::Outbound, rtx)
            .unwrap();
        let _r2 = d
            .manager
            .register(gw_peer, Direction::Outbound, gtx)
            .unwrap();

        let cloves = [
            clove(DeliveryInstructions::Local, &store),
            clove(DeliveryInstructions::Router(router_peer), &status),
            clove(
                DeliveryInstructions::Tunnel {
                    gateway: gw_peer,
                    tunnel_id: 777,
                },
                &status,
            ),
            clove(DeliveryInstructions::Destination([3; 32]), &status),
        ];
        let (h, body) = garlic_event(d, &cloves);
        let peer = [0x55; 32];
        d.on_message(peer, h, body.clone(), Via::Transport);

        // LOCAL: the store is validated on its own task; wait for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.netdb.lease_set(&key).is_none() {
            assert!(Instant::now() < deadline, "LeaseSet never stored");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(d.netdb.counts().2, 1);

        // ROUTER to another router: not forwarded (no relaying outside tunnels).
        assert!(rrx.try_recv().is_err(), "a ROUTER clove was forwarded");

        // TUNNEL: a TunnelGateway for tunnel 777 carrying the message with a standard header.
        let Some(SessionCommand::Send(fwd)) = grx.recv().await else {
            panic!("nothing forwarded to the gateway")
        };
        let tg = I2npMessage::parse_short(&fwd).unwrap();
        let I2npBody::TunnelGateway(tg) = tg.body else {
            panic!("not a TunnelGateway: {tg:?}")
        };
        assert_eq!(tg.tunnel_id, 777);
        assert_eq!(tg.embedded_message().unwrap(), {
            // Expiration travels in seconds inside a clove.
            let mut s = status.clone();
            s.expiration_ms = u64::from(s.short_expiration()) * 1000;
            s
        });

        let m = &d.metrics;
        assert_eq!(counter(&m.garlic, &["opened", "none"]), 1);
        assert_eq!(counter(&m.cloves, &["local", "dispatched"]), 1);
        assert_eq!(counter(&m.cloves, &["router", "dropped"]), 1);
        assert_eq!(counter(&m.cloves, &["tunnel", "forwarded"]), 1);
        assert_eq!(counter(&m.cloves, &["destination", "dropped"]), 1);
        assert_eq!(counter(&m.messages, &["database_store", "handled"]), 1);

        // The same garlic again: refused as a replay, nothing dispatched twice.
        d.on_message(peer, h, body, Via::Transport);
        assert_eq!(counter(&m.garlic, &["refused", "replay"]), 1);
        assert_eq!(counter(&m.cloves, &["local", "dispatched"]), 1);
        assert!(
            f.registry
                .gather()
                .iter()
                .any(|mf| mf.name() == "floodgate_garlic_received_total")
        );
    }

    /// Messages expiring more than a minute ahead are refused before they are parsed, as i2pd
    /// and Java I2P refuse them; one a minute ahead is still handled.
    #[tokio::test]
    async fn messages_expiring_too_far_ahead_are_refused_and_counted() {
        let f = fixture();
        let d = &f.d;
        let now = now_ms();
        let status_at = |expiration_ms| {
            let m = I2npMessage {
                msg_id: 5,
                expiration_ms,
                body: I2npBody::DeliveryStatus(DeliveryStatus {
                    msg_id: 77,
                    timestamp: now,
                }),
            };
            let bytes = m.to_short_bytes().unwrap();
            let mut r = Reader::new(&bytes);
            let h = ShortHeader::parse(&mut r).unwrap();
            (h, Bytes::copy_from_slice(r.rest()))
        };
        let m = &d.metrics;
        let (h, body) = status_at(now + (MAX_FUTURE_SECS + 5) * 1000);
        d.on_message([3; 32], h, body, Via::Transport);
        let past_the_check = |m: &DispatchMetrics| -> u64 {
            ["handled", "unhandled", "malformed"]
                .iter()
                .map(|o| counter(&m.messages, &["delivery_status", o]))
                .sum()
        };
        assert_eq!(counter(&m.messages, &["delivery_status", "future"]), 1);
        assert_eq!(past_the_check(m), 0, "refused before it is parsed");
        let (h, body) = status_at(now + MAX_FUTURE_SECS * 1000 - 1000);
        d.on_message([3; 32], h, body, Via::Transport);
        assert_eq!(counter(&m.messages, &["delivery_status", "future"]), 1);
        assert_eq!(past_the_check(m), 1, "a minute ahead is still taken");
    }

    #[tokio::test]
    async fn nested_garlic_and_expired_cloves_are_not_delivered() {
        let f = fixture();
        let d = &f.d;
        let now = now_ms();
        let inner_garlic = I2npMessage {
            msg_id: 5,
            expiration_ms: now + 60_000,
            body: I2npBody::Garlic(crate::wire::i2np::Garlic { data: vec![0; 100] }),
        };
        let old = I2npMessage {
            msg_id: 6,
            expiration_ms: now - (EXPIRATION_GRACE_SECS + 10) * 1000,
            body: I2npBody::DeliveryStatus(DeliveryStatus {
                msg_id: 1,
                timestamp: 0,
            }),
        };
        let (h, body) = garlic_event(
            d,
            &[
                clove(DeliveryInstructions::Local, &inner_garlic),
                clove(DeliveryInstructions::Local, &old),
            ],
        );
        d.on_message([1; 32], h, body, Via::Transport);
        let m = &d.metrics;
        assert_eq!(counter(&m.messages, &["garlic", "nested"]), 1);
        assert_eq!(counter(&m.cloves, &["local", "expired"]), 1);
        assert_eq!(counter(&m.garlic, &["refused", "aead"]), 0);

        // Garbage garlic is refused with a reason, not a panic.
        let junk = I2npMessage {
            msg_id: 7,
            expiration_ms: now + 60_000,
            body: I2npBody::Garlic(crate::wire::i2np::Garlic {
                data: vec![0x42; 200],
            }),
        };
        let bytes = junk.to_short_bytes().unwrap();
        let mut r = Reader::new(&bytes);
        let h = ShortHeader::parse(&mut r).unwrap();
        d.on_message([1; 32], h, Bytes::copy_from_slice(r.rest()), Via::Transport);
        assert_eq!(counter(&m.garlic, &["refused", "aead"]), 1);
    }
}

//! The I2NP dispatcher: takes what transport sessions report and hands each message to the room
//! that owns it (netDb now; transit tunnels plug in here next), then sends what those rooms
//! answer. This is the seam between transports and the protocol rooms.

use crate::netdb::{Action, NetDb};
use crate::transport::manager::{
    ConnectTarget, PeerDirectory, PeerEvent, RouterHash, TransportManager,
};
use crate::wire::i2np::{I2npBody, I2npMessage, MessageType, ShortHeader};
use crate::wire::{Reader, RouterInfo};
use bytes::Bytes;
use prometheus::{IntCounterVec, Opts, Registry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;
use tracing::{debug, info};

/// Messages whose expiration passed more than this long ago are dropped unread (clock skew
/// between routers is allowed up to 60 s; i2pd uses a similar margin).
pub const EXPIRATION_GRACE_SECS: u64 = 60;

#[derive(Clone)]
pub struct DispatchMetrics {
    /// Received I2NP messages by type and what became of them.
    pub messages: IntCounterVec,
    /// Acknowledgements (DeliveryStatus) of our RouterInfo publications, by result.
    pub publish_acks: IntCounterVec,
}

impl DispatchMetrics {
    pub fn new(registry: &Registry) -> Self {
        let messages = IntCounterVec::new(
            Opts::new(
                "floodgate_i2np_received_total",
                "I2NP messages received from peers, by message type and outcome (handled, expired, malformed, unhandled).",
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
        registry
            .register(Box::new(messages.clone()))
            .expect("unique");
        registry
            .register(Box::new(publish_acks.clone()))
            .expect("unique");
        Self {
            messages,
            publish_acks,
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

/// The netDb as the transport manager's address book.
pub struct NetDbDirectory(pub NetDb);

impl PeerDirectory for NetDbDirectory {
    fn ntcp2_target(&self, peer: &RouterHash) -> Option<ConnectTarget> {
        let ri = self.0.router_info(peer)?;
        ntcp2_target(&ri)
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
}

fn now_ms() -> u64 {
    crate::router::now_ms()
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
                PeerEvent::Message { peer, header, body } => self.on_message(peer, header, body),
            }
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

    fn on_message(&self, peer: RouterHash, header: ShortHeader, body: Bytes) {
        let ty_label = MessageType::from_code(header.msg_type)
            .map(type_label)
            .unwrap_or("unknown");
        let now = now_ms();
        if u64::from(header.expiration_s) + EXPIRATION_GRACE_SECS < now / 1000 {
            self.count(ty_label, "expired");
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
                    let out = d.netdb.on_database_store(peer, store, true, now_ms()).await;
                    d.execute(out.actions);
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
            _ => self.count(ty_label, "unhandled"),
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

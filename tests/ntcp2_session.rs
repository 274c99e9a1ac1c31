//! NTCP2 sessions between two in-process routers on 127.0.0.1, through the library API the
//! router itself uses (TransportManager + Ntcp2Connector + `serve`): connect on demand, ordered
//! delivery both ways, silence and failure accounting on bad handshakes, replay detection, clean
//! termination and per-IP admission limits.
//!
//! Metrics are read from each router's own Prometheus registry in the text exposition format,
//! so the tests also pin the series names operators see.

use bytes::{Bytes, BytesMut};
use floodgate::identity::{RouterInfoParams, RouterKeys, build_router_info};
use floodgate::ops::status::RouterStatus;
use floodgate::router::dispatch::ntcp2_target;
use floodgate::transport::limits::ConnectionLimits;
use floodgate::transport::manager::{
    ConnectTarget, Direction, PeerDirectory, PeerEvent, RouterHash, SendOutcome, TransportManager,
};
use floodgate::transport::metrics::TransportMetrics;
use floodgate::transport::ntcp2::session::{Ntcp2Connector, Ntcp2Context, bind_listeners, serve};
use floodgate::transport::ntcp2::{
    Block, Decoded, HandshakeRandom, Initiator, LocalKeys, PeerNtcp2Info, ReplayCache,
    parse_blocks, unix_time_secs,
};
use floodgate::wire::{RouterInfo, Verified};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const NET_ID: u8 = 2;
/// Generous: debug builds encrypt slowly and CI machines are shared.
const WAIT: Duration = Duration::from_secs(20);
/// Probing resistance keeps a bad socket open for at most 3 s; allow for scheduling.
const CLOSE_WAIT: Duration = Duration::from_secs(8);
/// The largest I2NP body floodgate puts in one frame: 65519 (frame payload) - 3 (block header)
/// - 9 (short header) - 3 - 32 (largest padding block it appends).
const LARGEST_BODY: usize = 65_472;
/// I2NP TunnelData: the message type and body size that dominate transit traffic.
const TUNNEL_DATA: u8 = 18;
const TUNNEL_DATA_BODY: usize = 1028;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn now_secs() -> u64 {
    unix_time_secs(SystemTime::now())
}

/// A router identity: keys, signed RouterInfo with an NTCP2 address on 127.0.0.1:`port`.
struct Identity {
    hash: RouterHash,
    ri: Verified<RouterInfo>,
    ri_bytes: Bytes,
    local: Arc<LocalKeys>,
    target: ConnectTarget,
}

fn identity(port: u16) -> Identity {
    let keys = RouterKeys::generate();
    let params = RouterInfoParams {
        net_id: NET_ID,
        floodfill: false,
        shared_kbps: 1000,
        host: Some(Ipv4Addr::LOCALHOST.into()),
        ntcp2_port: Some(port),
        router_version: floodgate::router::ROUTER_API_VERSION,
        congestion: None,
        family: None,
    };
    let ri = build_router_info(&keys, &params, now_ms()).unwrap();
    let target = ntcp2_target(&ri).expect("our RouterInfo publishes a usable NTCP2 address");
    assert_eq!(target.addr, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let local = Arc::new(LocalKeys::new(
        x25519_dalek::StaticSecret::from(*keys.ntcp2_static_secret),
        ri.hash(),
        keys.ntcp2_iv,
        NET_ID,
    ));
    Identity {
        hash: ri.hash(),
        ri_bytes: Bytes::from(ri.as_bytes().to_vec()),
        ri,
        local,
        target,
    }
}

/// The netDb stand-in: the RouterInfos a router knows, resolved with the router's own
/// `ntcp2_target`.
#[derive(Default)]
struct Directory(Mutex<HashMap<RouterHash, RouterInfo>>);

impl PeerDirectory for Directory {
    fn ntcp2_target(&self, peer: &RouterHash) -> Option<ConnectTarget> {
        self.0.lock().unwrap().get(peer).and_then(ntcp2_target)
    }
}

/// One in-process router: transport manager, NTCP2 listener and connector, own registry.
struct Node {
    id: Identity,
    registry: prometheus::Registry,
    status: Arc<RouterStatus>,
    manager: TransportManager,
    ctx: Ntcp2Context,
    events: mpsc::Receiver<PeerEvent>,
    addr: SocketAddr,
    directory: Arc<Directory>,
    listener: JoinHandle<()>,
}

impl Node {
    fn start(limits: ConnectionLimits) -> Self {
        // Port 0: the kernel picks a free port, which then goes into the RouterInfo.
        let mut listeners = bind_listeners(0, Some(Ipv4Addr::LOCALHOST), false).unwrap();
        assert_eq!(listeners.len(), 1);
        let listener = listeners.remove(0);
        let addr = listener.local_addr().unwrap();
        let id = identity(addr.port());
        let registry = prometheus::Registry::new();
        let status = Arc::new(RouterStatus::new());
        let (tx, events) = mpsc::channel(4096);
        let manager = TransportManager::new(
            id.hash,
            TransportMetrics::new(&registry),
            status.clone(),
            tx,
        );
        let directory = Arc::new(Directory::default());
        manager.set_directory(directory.clone());
        let ctx = Ntcp2Context {
            local: id.local.clone(),
            replay: Arc::new(ReplayCache::default()),
            manager: manager.clone(),
            limits,
            router_info: Arc::new(RwLock::new(id.ri_bytes.clone())),
            bind_ip: None,
            shutdown: CancellationToken::new(),
        };
        manager.set_connector(Arc::new(Ntcp2Connector::new(ctx.clone())));
        let listener = tokio::spawn(serve(listener, ctx.clone()));
        Self {
            id,
            registry,
            status,
            manager,
            ctx,
            events,
            addr,
            directory,
            listener,
        }
    }

    fn default_limits() -> ConnectionLimits {
        ConnectionLimits::new(64, 16)
    }

    fn learn(&self, other: &Identity) {
        self.directory
            .0
            .lock()
            .unwrap()
            .insert(other.hash, (*other.ri).clone());
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric(&self.registry, name, labels)
    }

    async fn next_event(&mut self) -> PeerEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("a peer event in time")
            .expect("event channel open")
    }

    /// The next I2NP message event, skipping session and RouterInfo events.
    async fn next_message(&mut self) -> (RouterHash, u8, u32, Bytes) {
        loop {
            if let PeerEvent::Message { peer, header, body } = self.next_event().await {
                return (peer, header.msg_type, header.msg_id, body);
            }
        }
    }
}

fn pair() -> (Node, Node) {
    let alice = Node::start(Node::default_limits());
    let bob = Node::start(Node::default_limits());
    alice.learn(&bob.id);
    bob.learn(&alice.id);
    (alice, bob)
}

/// Sum of the samples of `name` whose labels include all of `labels`, from the text exposition.
fn metric(registry: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let have: Vec<&str> = series_labels.split(',').collect();
        if labels
            .iter()
            .all(|(k, v)| have.contains(&format!("{k}=\"{v}\"").as_str()))
        {
            sum += value.parse::<f64>().unwrap();
        }
    }
    sum
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An I2NP message in the NTCP2 short-header form the manager takes: type, id, expiration (s),
/// body. The body is a pattern derived from the id so reordering or corruption shows.
fn message(msg_type: u8, id: u32, body_len: usize) -> Bytes {
    let mut m = Vec::with_capacity(9 + body_len);
    m.push(msg_type);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&((now_secs() + 60) as u32).to_be_bytes());
    m.extend((0..body_len).map(|j| (j as u32).wrapping_mul(31).wrapping_add(id) as u8));
    Bytes::from(m)
}

/// Mixed sizes: mostly TunnelData, some tiny, some medium, and every 50th the largest body a
/// frame can hold; a small LCG varies the rest.
fn body_len(i: u32) -> usize {
    let r = (i.wrapping_mul(1_103_515_245).wrapping_add(12_345) >> 8) as usize;
    match i % 50 {
        0 => LARGEST_BODY,
        1 => 0,
        2 => 1,
        3 => 16 * 1024,
        4..=9 => r % 8192,
        _ => TUNNEL_DATA_BODY,
    }
}

/// Read from a raw socket until the peer closes it. Panics if it sends a single byte or keeps
/// the socket open longer than `CLOSE_WAIT`.
async fn expect_closed_without_reply(stream: &mut TcpStream) {
    let mut buf = [0u8; 512];
    match tokio::time::timeout(CLOSE_WAIT, stream.read(&mut buf)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => panic!("the router answered a bad handshake with {n} bytes"),
        // Closing with our unread bytes still queued resets the connection: also a close.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("unexpected read error: {e}"),
        Err(_) => panic!("the router kept a bad connection open beyond {CLOSE_WAIT:?}"),
    }
}

/// Alice sends one message to Bob (connecting on demand) and Bob receives it.
async fn establish(alice: &mut Node, bob: &mut Node, id: u32) {
    let sent = message(TUNNEL_DATA, id, TUNNEL_DATA_BODY);
    alice.manager.send(&bob.id.hash, sent.clone());
    let (peer, ty, msg_id, body) = bob.next_message().await;
    assert_eq!((peer, ty, msg_id), (alice.id.hash, TUNNEL_DATA, id));
    assert_eq!(body, sent.slice(9..));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_on_demand_and_ordered_delivery_both_ways() {
    let (mut alice, mut bob) = pair();
    let bob_hash = bob.id.hash;
    let alice_hash = alice.id.hash;

    // No session yet: the first message waits while the connector dials Bob.
    let first = message(TUNNEL_DATA, 0, TUNNEL_DATA_BODY);
    assert_eq!(
        alice.manager.send(&bob_hash, first.clone()),
        SendOutcome::Connecting
    );
    match alice.next_event().await {
        PeerEvent::Established { peer, direction } => {
            assert_eq!((peer, direction), (bob_hash, Direction::Outbound));
        }
        e => panic!("expected Established first, got {e:?}"),
    }
    // Bob starts the data phase with his RouterInfo.
    match alice.next_event().await {
        PeerEvent::RouterInfo {
            peer,
            router_info,
            flood,
        } => {
            assert_eq!(peer, bob_hash);
            assert_eq!(router_info, bob.id.ri_bytes);
            assert!(!flood);
        }
        e => panic!("expected Bob's RouterInfo, got {e:?}"),
    }

    // Session up: the rest goes straight into the session queue (1024 deep; 999 fit).
    const N: u32 = 1000;
    let mut sent = vec![first];
    for i in 1..N {
        let ty = if body_len(i) == TUNNEL_DATA_BODY {
            TUNNEL_DATA
        } else {
            // DatabaseStore, DeliveryStatus, ...: the transport does not care about the type.
            (i % 30) as u8
        };
        let m = message(ty, i, body_len(i));
        assert_eq!(
            alice.manager.send(&bob_hash, m.clone()),
            SendOutcome::Queued,
            "message {i}"
        );
        sent.push(m);
    }

    // Bob: Alice's RouterInfo (from message 3) and Established, then every message in order.
    let mut saw_ri = false;
    let mut saw_established = false;
    for _ in 0..2 {
        match bob.next_event().await {
            PeerEvent::RouterInfo {
                peer,
                router_info,
                flood,
            } => {
                assert_eq!(peer, alice_hash);
                assert_eq!(router_info, alice.id.ri_bytes);
                assert!(!flood);
                saw_ri = true;
            }
            PeerEvent::Established { peer, direction } => {
                assert_eq!((peer, direction), (alice_hash, Direction::Inbound));
                saw_established = true;
            }
            e => panic!("expected RouterInfo and Established before messages, got {e:?}"),
        }
    }
    assert!(saw_ri && saw_established);
    let mut payload_bytes = 0usize;
    for (i, m) in sent.iter().enumerate() {
        match bob.next_event().await {
            PeerEvent::Message { peer, header, body } => {
                assert_eq!(peer, alice_hash);
                assert_eq!(header.msg_id, i as u32, "messages arrive in order");
                assert_eq!(header.msg_type, m[0]);
                assert_eq!(&header.expiration_s.to_be_bytes()[..], &m[5..9]);
                assert_eq!(body, m.slice(9..), "body of message {i}");
                payload_bytes += m.len();
            }
            e => panic!("expected message {i}, got {e:?}"),
        }
    }
    assert!(
        payload_bytes > 2 * 1024 * 1024,
        "the test moved real volume"
    );

    // Bob answers over the same (inbound) session: no second connection.
    for i in 0..100u32 {
        let len = if i == 7 {
            LARGEST_BODY
        } else {
            64 + i as usize
        };
        assert_eq!(
            bob.manager.send(&alice_hash, message(19, 10_000 + i, len)),
            SendOutcome::Queued
        );
    }
    for i in 0..100u32 {
        let (peer, ty, id, body) = alice.next_message().await;
        assert_eq!((peer, ty, id), (bob_hash, 19, 10_000 + i));
        let len = if i == 7 {
            LARGEST_BODY
        } else {
            64 + i as usize
        };
        assert_eq!(body, message(19, 10_000 + i, len).slice(9..));
    }

    // A message no frame can hold is dropped and counted; the session carries on.
    assert_eq!(
        alice
            .manager
            .send(&bob_hash, message(TUNNEL_DATA, 5000, 70_000)),
        SendOutcome::Queued
    );
    establish(&mut alice, &mut bob, 5001).await;
    assert_eq!(
        alice.metric(
            "floodgate_ntcp2_queue_drops_total",
            &[("reason", "too_large")]
        ),
        1.0
    );

    // One session each way round, visible in metrics and /status.
    assert_eq!(
        alice.metric("floodgate_ntcp2_sessions", &[("direction", "outbound")]),
        1.0
    );
    assert_eq!(
        alice.metric("floodgate_ntcp2_sessions", &[("direction", "inbound")]),
        0.0
    );
    assert_eq!(
        bob.metric("floodgate_ntcp2_sessions", &[("direction", "inbound")]),
        1.0
    );
    assert_eq!(
        bob.metric("floodgate_ntcp2_sessions", &[("direction", "outbound")]),
        0.0
    );
    assert_eq!(alice.status.peers_ntcp2.load(Ordering::Relaxed), 1);
    assert_eq!(bob.status.peers_ntcp2.load(Ordering::Relaxed), 1);
    assert_eq!(alice.manager.connected_peers(), vec![bob_hash]);
    assert_eq!(bob.manager.connected_peers(), vec![alice_hash]);
    assert_eq!(
        alice.metric(
            "floodgate_ntcp2_handshakes_total",
            &[("direction", "outbound"), ("result", "ok")]
        ),
        1.0
    );
    assert_eq!(
        bob.metric(
            "floodgate_ntcp2_handshakes_total",
            &[("direction", "inbound"), ("result", "ok")]
        ),
        1.0
    );
    for node in [&alice, &bob] {
        assert_eq!(
            node.metric("floodgate_ntcp2_handshakes_total", &[("result", "failed")]),
            0.0
        );
    }
    let msgs = |n: &Node, dir: &str| {
        n.metric(
            "floodgate_transport_messages_total",
            &[("transport", "ntcp2"), ("direction", dir)],
        )
    };
    // Senders count after their write returns, so the receiver may be first: wait for both.
    eventually("message counters", || {
        msgs(&alice, "out") == f64::from(N + 1) && msgs(&bob, "out") == 100.0
    })
    .await;
    assert_eq!(msgs(&bob, "in"), f64::from(N + 1));
    assert_eq!(msgs(&alice, "in"), 100.0);
    // Wire bytes: what one side wrote is what the other read, handshake included.
    let wire = |n: &Node, dir: &str| {
        n.metric(
            "floodgate_transport_bytes_total",
            &[("transport", "ntcp2"), ("direction", dir)],
        )
    };
    eventually("byte counters to agree", || {
        wire(&alice, "out") == wire(&bob, "in") && wire(&bob, "out") == wire(&alice, "in")
    })
    .await;
    assert!(wire(&alice, "out") > payload_bytes as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_handshakes_get_no_reply_and_are_counted() {
    let (mut alice, mut bob) = pair();

    // A well-formed message 1 whose MAC is broken: exactly an AEAD failure.
    let carol = identity(1);
    let mut init = initiator(&carol, &bob.id);
    let mut m1 = init.write_message1(now_secs()).unwrap();
    m1[40] ^= 0x01;
    let mut s = TcpStream::connect(bob.addr).await.unwrap();
    s.write_all(&m1).await.unwrap();
    s.write_all(&[0x55; 200]).await.unwrap();
    expect_closed_without_reply(&mut s).await;

    // Random bytes: a non-canonical key (bad_key) or, half the time, an AEAD failure.
    const RANDOM_PROBES: usize = 3;
    for _ in 0..RANDOM_PROBES {
        let mut junk = vec![0u8; 64 + 300];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut junk);
        let mut s = TcpStream::connect(bob.addr).await.unwrap();
        s.write_all(&junk).await.unwrap();
        expect_closed_without_reply(&mut s).await;
    }
    let failed = |reason: &str| {
        bob.metric(
            "floodgate_ntcp2_handshakes_total",
            &[
                ("direction", "inbound"),
                ("result", "failed"),
                ("reason", reason),
            ],
        )
    };
    assert!(failed("aead") >= 1.0, "the tampered MAC counts as aead");
    assert_eq!(
        failed("aead") + failed("bad_key"),
        (1 + RANDOM_PROBES) as f64
    );
    assert_eq!(
        bob.metric("floodgate_ntcp2_handshakes_total", &[("result", "failed")]),
        (1 + RANDOM_PROBES) as f64,
        "no other failure reasons"
    );
    assert_eq!(
        bob.metric("floodgate_ntcp2_replayed_handshakes_total", &[]),
        0.0
    );

    // The listener still serves real peers.
    establish(&mut alice, &mut bob, 1).await;
    assert_eq!(
        bob.metric(
            "floodgate_ntcp2_handshakes_total",
            &[("direction", "inbound"), ("result", "ok")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_handshake_is_counted_as_io() {
    let (mut alice, mut bob) = pair();
    let mut s = TcpStream::connect(bob.addr).await.unwrap();
    s.write_all(&[0xAA; 30]).await.unwrap();
    // Half-close: Bob sees end of stream 34 bytes short of message 1, we can still listen.
    s.shutdown().await.unwrap();
    expect_closed_without_reply(&mut s).await;
    eventually("the io failure to be counted", || {
        bob.metric(
            "floodgate_ntcp2_handshakes_total",
            &[
                ("direction", "inbound"),
                ("result", "failed"),
                ("reason", "io"),
            ],
        ) == 1.0
    })
    .await;
    assert_eq!(
        bob.metric("floodgate_ntcp2_handshakes_total", &[("result", "failed")]),
        1.0
    );
    eventually("the connection slot to be released", || {
        bob.ctx.limits.active() == 0
    })
    .await;
    establish(&mut alice, &mut bob, 1).await;
}

/// Alice's side of a handshake, driven by hand.
fn initiator(me: &Identity, bob: &Identity) -> Initiator {
    Initiator::new(
        me.local.clone(),
        PeerNtcp2Info {
            router_hash: bob.hash,
            static_key: bob.target.static_key,
            iv: bob.target.iv,
        },
        me.ri_bytes.clone(),
        None,
        0,
        HandshakeRandom::generate(&mut rand::rngs::OsRng, 32),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_message1_is_dropped_silently() {
    let (_alice, mut bob) = pair();
    let carol = identity(1);
    let mut init = initiator(&carol, &bob.id);
    let m1 = init.write_message1(now_secs()).unwrap();

    // First use: a complete handshake, so the captured message 1 was genuinely valid.
    let mut s1 = TcpStream::connect(bob.addr).await.unwrap();
    s1.write_all(&m1).await.unwrap();
    let mut m2 = [0u8; 64];
    s1.read_exact(&mut m2).await.unwrap();
    init.read_message2(&m2, now_secs(), &ReplayCache::default())
        .unwrap();
    let mut pad = vec![0u8; init.bytes_needed()];
    s1.read_exact(&mut pad).await.unwrap();
    let (m3, mut dp) = init.write_message3(&pad).unwrap();
    s1.write_all(&m3).await.unwrap();
    // Bob's first data frame carries his RouterInfo.
    let mut buf = BytesMut::new();
    let blocks = loop {
        match dp.decoder.decode(&buf).unwrap() {
            Decoded::Frame { consumed, payload } => {
                let _ = buf.split_to(consumed);
                break parse_blocks(&payload).unwrap();
            }
            Decoded::NeedMore { .. } => {
                let n = tokio::time::timeout(WAIT, s1.read_buf(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(n > 0, "Bob closed the session");
            }
        }
    };
    assert!(
        blocks.iter().any(
            |b| matches!(b, Block::RouterInfo { router_info, .. } if *router_info == bob.id.ri_bytes)
        ),
        "{blocks:?}"
    );
    loop {
        match bob.next_event().await {
            PeerEvent::RouterInfo {
                peer, router_info, ..
            } => {
                assert_eq!(peer, carol.hash);
                assert_eq!(router_info, carol.ri_bytes);
                break;
            }
            PeerEvent::Established { peer, .. } => assert_eq!(peer, carol.hash),
            e => panic!("{e:?}"),
        }
    }

    // The same message 1 again on a new connection: silence, and counted as a replay.
    let mut s2 = TcpStream::connect(bob.addr).await.unwrap();
    s2.write_all(&m1).await.unwrap();
    expect_closed_without_reply(&mut s2).await;
    assert_eq!(
        bob.metric("floodgate_ntcp2_replayed_handshakes_total", &[]),
        1.0
    );
    assert_eq!(
        bob.metric(
            "floodgate_ntcp2_handshakes_total",
            &[
                ("direction", "inbound"),
                ("result", "failed"),
                ("reason", "replay")
            ]
        ),
        1.0
    );
    // The genuine session is unaffected.
    assert!(bob.manager.is_connected(&carol.hash));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_shutdown_terminates_sessions_cleanly() {
    let (mut alice, mut bob) = pair();
    establish(&mut alice, &mut bob, 1).await;
    let bob_hash = bob.id.hash;
    assert!(alice.manager.is_connected(&bob_hash));

    bob.ctx.shutdown.cancel();
    // Alice reads Bob's Termination block and closes her side.
    loop {
        match alice.next_event().await {
            PeerEvent::Closed { peer, direction } => {
                assert_eq!((peer, direction), (bob_hash, Direction::Outbound));
                break;
            }
            PeerEvent::Established { .. } | PeerEvent::RouterInfo { .. } => {}
            e => panic!("{e:?}"),
        }
    }
    assert_eq!(
        alice.metric(
            "floodgate_ntcp2_terminations_total",
            &[("side", "remote"), ("reason", "router_shutdown")]
        ),
        1.0,
        "Alice got the reason from Bob's Termination block, not just a closed socket"
    );
    // Bob counts once his write of the Termination returned, which may be after Alice read it.
    eventually("Bob's termination to be counted", || {
        bob.metric(
            "floodgate_ntcp2_terminations_total",
            &[("side", "local"), ("reason", "router_shutdown")],
        ) == 1.0
    })
    .await;
    eventually("both sessions to unregister", || {
        !alice.manager.is_connected(&bob_hash) && bob.manager.session_count() == 0
    })
    .await;
    for (node, dir) in [(&alice, "outbound"), (&bob, "inbound")] {
        assert_eq!(
            node.metric("floodgate_ntcp2_sessions", &[("direction", dir)]),
            0.0
        );
        assert_eq!(node.status.peers_ntcp2.load(Ordering::Relaxed), 0);
    }
    // Bob's listener stopped with the router.
    tokio::time::timeout(WAIT, &mut bob.listener)
        .await
        .expect("serve returns on shutdown")
        .unwrap();
    assert!(TcpStream::connect(bob.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_limit_refuses_a_second_connection() {
    let mut alice = Node::start(Node::default_limits());
    let mut bob = Node::start(ConnectionLimits::new(64, 1));
    alice.learn(&bob.id);
    bob.learn(&alice.id);

    // A first connection from 127.0.0.1 holds the only slot while it (slowly) handshakes.
    let mut first = TcpStream::connect(bob.addr).await.unwrap();
    eventually("Bob to admit the first connection", || {
        bob.ctx.limits.active() == 1
    })
    .await;
    let refused = |bob: &Node| {
        bob.metric(
            "floodgate_ntcp2_connections_refused_total",
            &[("reason", "limit_per_ip")],
        )
    };

    // A second one is closed before any handshake.
    let mut second = TcpStream::connect(bob.addr).await.unwrap();
    let _ = second.write_all(&[0u8; 64]).await;
    expect_closed_without_reply(&mut second).await;
    assert_eq!(refused(&bob), 1.0);

    // So is Alice's connector, which gives up and drops what it queued.
    assert_eq!(
        alice
            .manager
            .send(&bob.id.hash, message(TUNNEL_DATA, 1, 100)),
        SendOutcome::Connecting
    );
    eventually("Alice's attempt to fail", || {
        alice.metric(
            "floodgate_ntcp2_queue_drops_total",
            &[("reason", "connect_failed")],
        ) == 1.0
    })
    .await;
    assert_eq!(refused(&bob), 2.0);
    assert_eq!(
        alice.metric(
            "floodgate_ntcp2_handshakes_total",
            &[("direction", "outbound"), ("result", "failed")]
        ),
        1.0
    );
    assert!(!alice.manager.is_connected(&bob.id.hash));

    // Once the first connection goes, its slot is free again.
    first.write_all(&[0u8; 10]).await.unwrap();
    drop(first);
    eventually("the slot to be released", || bob.ctx.limits.active() == 0).await;
    establish(&mut alice, &mut bob, 2).await;
    assert_eq!(refused(&bob), 2.0);
    assert_eq!(bob.ctx.limits.active(), 1);
}

//! NTCP2 throughput.
//!
//! * `ntcp2_session/*`: ONE established session over loopback between two in-process routers
//!   (TransportManager + Ntcp2Connector + `serve`, exactly as the router wires them). Alice's
//!   manager is fed I2NP messages; the clock stops when Bob's event stream has delivered every
//!   one. At most `WINDOW` messages are in flight so the 1024-deep session queue never drops.
//! * `ntcp2_frame/*`: the same blocks through `FrameEncoder::encrypt_blocks` +
//!   `FrameDecoder::decode` + `parse_blocks` in memory: the codec and crypto cost alone.
//! * `chacha20poly1305/*`: the bare AEAD as floodgate calls it, for the crypto floor: `seal` and
//!   `open` (ring: handshake and small frames), `data_phase_*_in_place` (what frames use: OpenSSL
//!   from 4 KiB up; the open case includes a copy of the frame into the buffer).
//!
//! * `ntcp2_cpu/*`: the session and frame cases again, timed in CPU time of the whole process
//!   (all threads: both routers and the driver) instead of wall time: bytes per CPU-second, the
//!   cost that matters on shared cores, and comparable between the socket and in-memory paths
//!   even when other work competes for the CPUs. Linux only (reads /proc/self/task/*/schedstat).
//!
//! Throughput is counted in I2NP bytes (9-byte short header + body), i.e. goodput.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use floodgate::crypto::noise::{DataPhaseAead, aead_decrypt, aead_encrypt};
use floodgate::identity::{RouterInfoParams, RouterKeys, build_router_info};
use floodgate::ops::status::RouterStatus;
use floodgate::router::dispatch::ntcp2_target;
use floodgate::transport::limits::ConnectionLimits;
use floodgate::transport::manager::{
    ConnectTarget, PeerDirectory, PeerEvent, RouterHash, SendOutcome, TransportManager,
};
use floodgate::transport::metrics::TransportMetrics;
use floodgate::transport::ntcp2::frame::DirectionKeys;
use floodgate::transport::ntcp2::session::{Ntcp2Connector, Ntcp2Context, bind_listeners, serve};
use floodgate::transport::ntcp2::{
    Block, Decoded, FrameDecoder, FrameEncoder, I2npBlock, LocalKeys, ReplayCache, parse_blocks,
};
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

const NET_ID: u8 = 2;
/// Messages in flight between Alice's manager and Bob's event stream (below the session queue's
/// 1024 so nothing is dropped; enough to keep the socket busy).
const WINDOW: usize = 512;
/// I2NP bytes pushed per benchmark iteration.
const BYTES_PER_ITER: usize = 4 << 20;
/// Message sizes: a TunnelData message (1028-byte body) and a 16 KiB one.
const SIZES: [(&str, usize); 2] = [("tunnel_data_1k", 1028), ("i2np_16k", 16 * 1024)];

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

struct Directory(RouterHash, ConnectTarget);

impl PeerDirectory for Directory {
    fn ntcp2_target(&self, peer: &RouterHash) -> Option<ConnectTarget> {
        (peer == &self.0).then(|| self.1.clone())
    }
}

struct Node {
    hash: RouterHash,
    target: ConnectTarget,
    manager: TransportManager,
    ctx: Ntcp2Context,
    events: mpsc::Receiver<PeerEvent>,
    registry: prometheus::Registry,
}

/// A router with its listener on 127.0.0.1 (must run inside the runtime).
fn node() -> Node {
    let listener = bind_listeners(0, Some(Ipv4Addr::LOCALHOST), false)
        .unwrap()
        .remove(0);
    let port = listener.local_addr().unwrap().port();
    let keys = RouterKeys::generate();
    let params = RouterInfoParams {
        net_id: NET_ID,
        floodfill: false,
        shared_kbps: 10_000,
        host: Some(Ipv4Addr::LOCALHOST.into()),
        ntcp2_port: Some(port),
        router_version: floodgate::router::ROUTER_API_VERSION,
        congestion: None,
        family: None,
    };
    let ri = build_router_info(&keys, &params, now_ms()).unwrap();
    let hash = ri.hash();
    let target = ntcp2_target(&ri).unwrap();
    let registry = prometheus::Registry::new();
    let (tx, events) = mpsc::channel(4096);
    let manager = TransportManager::new(
        hash,
        TransportMetrics::new(&registry),
        Arc::new(RouterStatus::new()),
        tx,
    );
    let ctx = Ntcp2Context {
        local: Arc::new(LocalKeys::new(
            x25519_dalek::StaticSecret::from(*keys.ntcp2_static_secret),
            hash,
            keys.ntcp2_iv,
            NET_ID,
        )),
        replay: Arc::new(ReplayCache::default()),
        manager: manager.clone(),
        limits: ConnectionLimits::new(16, 16),
        router_info: Arc::new(RwLock::new(Bytes::from(ri.as_bytes().to_vec()))),
        bind_ip: None,
        shutdown: CancellationToken::new(),
    };
    manager.set_connector(Arc::new(Ntcp2Connector::new(ctx.clone())));
    tokio::spawn(serve(listener, ctx.clone()));
    Node {
        hash,
        target,
        manager,
        ctx,
        events,
        registry,
    }
}

fn message(body_len: usize) -> Bytes {
    let mut m = vec![18u8];
    m.extend_from_slice(&7u32.to_be_bytes());
    m.extend_from_slice(&((now_ms() / 1000 + 3600) as u32).to_be_bytes());
    m.extend((0..body_len).map(|i| i as u8));
    Bytes::from(m)
}

/// Alice connected to Bob, session established both ways.
async fn connected_pair() -> (Node, Node) {
    let alice = node();
    let mut bob = node();
    alice
        .manager
        .set_directory(Arc::new(Directory(bob.hash, bob.target.clone())));
    alice.manager.send(&bob.hash, message(10));
    loop {
        match tokio::time::timeout(Duration::from_secs(10), bob.events.recv()).await {
            Ok(Some(PeerEvent::Message { .. })) => break,
            Ok(Some(_)) => {}
            e => panic!("no session: {e:?}"),
        }
    }
    (alice, bob)
}

/// Push `n` copies of `msg` from Alice to Bob and wait until Bob delivered all of them.
async fn push(alice: &Node, bob: &mut Node, msg: &Bytes, n: u64) {
    let window = Semaphore::new(WINDOW);
    let produce = async {
        for _ in 0..n {
            window.acquire().await.unwrap().forget();
            match alice.manager.send(&bob.hash, msg.clone()) {
                SendOutcome::Queued => {}
                other => panic!("send: {other:?}"),
            }
        }
    };
    let consume = async {
        let mut got = 0;
        while got < n {
            if let PeerEvent::Message { body, .. } = bob.events.recv().await.unwrap() {
                assert_eq!(body.len() + 9, msg.len());
                got += 1;
                window.add_permits(1);
            }
        }
    };
    tokio::join!(produce, consume);
}

fn session(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (alice, mut bob) = rt.block_on(connected_pair());
    let mut g = c.benchmark_group("ntcp2_session");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    for (name, body) in SIZES {
        let msg = message(body);
        let per_iter = (BYTES_PER_ITER / msg.len()) as u64;
        g.throughput(Throughput::Bytes(per_iter * msg.len() as u64));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    push(&alice, &mut bob, &msg, iters * per_iter).await;
                    start.elapsed()
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("ntcp2_cpu");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    for (name, body) in SIZES {
        let msg = message(body);
        let per_iter = (BYTES_PER_ITER / msg.len()) as u64;
        g.throughput(Throughput::Bytes(per_iter * msg.len() as u64));
        g.bench_function(BenchmarkId::new("session", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = process_cpu();
                    push(&alice, &mut bob, &msg, iters * per_iter).await;
                    process_cpu().saturating_sub(start)
                })
            })
        });
    }
    for (name, body, count) in FRAME_CASES {
        let blocks = frame_blocks(body, count);
        g.throughput(Throughput::Bytes(((9 + body) * count) as u64));
        let (mut enc, mut dec) = codec();
        g.bench_function(BenchmarkId::new("frame", name), |b| {
            b.iter_custom(|iters| {
                let start = process_cpu();
                for _ in 0..iters {
                    black_box(encrypt_decode_parse(&mut enc, &mut dec, &blocks));
                }
                process_cpu().saturating_sub(start)
            })
        });
    }
    g.finish();
    let exposition = prometheus::TextEncoder::new()
        .encode_to_string(&alice.registry.gather())
        .unwrap();
    assert!(
        !exposition.contains("floodgate_ntcp2_queue_drops_total{"),
        "the window kept the session queue from dropping"
    );
    alice.ctx.shutdown.cancel();
    bob.ctx.shutdown.cancel();
}

/// Keys for an in-memory encoder/decoder pair (both ends of one direction).
fn codec() -> (FrameEncoder, FrameDecoder) {
    let keys = DirectionKeys {
        cipher_key: [7; 32],
        sip_keys: [9; 32],
    };
    (FrameEncoder::new(&keys), FrameDecoder::new(&keys))
}

fn i2np_block(body_len: usize) -> Block {
    Block::I2np(I2npBlock {
        msg_type: 18,
        msg_id: 7,
        expiration: 0,
        body: Bytes::from(vec![0xA5; body_len]),
    })
}

/// What the session batches into one frame: ~16 KiB of TunnelData, or one 16 KiB message, or
/// one near the 64 KiB limit (each followed by a padding block).
const FRAME_CASES: [(&str, usize, usize); 3] = [
    ("tunnel_data_1k_x16", 1028, 16),
    ("i2np_16k_x1", 16 * 1024, 1),
    ("i2np_60k_x1", 60 * 1024, 1),
];

fn frame_blocks(body: usize, count: usize) -> Vec<Block> {
    let mut blocks: Vec<Block> = (0..count).map(|_| i2np_block(body)).collect();
    blocks.push(Block::Padding { len: 16 });
    blocks
}

fn encrypt_decode_parse(
    enc: &mut FrameEncoder,
    dec: &mut FrameDecoder,
    blocks: &[Block],
) -> Vec<Block> {
    let wire = enc.encrypt_blocks(black_box(blocks)).unwrap();
    let Decoded::Frame { consumed, payload } = dec.decode(&wire).unwrap() else {
        panic!("whole frame given")
    };
    assert_eq!(consumed, wire.len());
    parse_blocks(&payload).unwrap()
}

/// CPU time consumed so far by every live thread of this process, in nanoseconds resolution.
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").expect("Linux /proc") {
        let path = task.unwrap().path().join("schedstat");
        // A thread may exit between listing and reading; its time is then simply not counted.
        if let Ok(s) = std::fs::read_to_string(path) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

fn frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("ntcp2_frame");
    for (name, body, count) in FRAME_CASES {
        let blocks = frame_blocks(body, count);
        g.throughput(Throughput::Bytes(((9 + body) * count) as u64));
        let (mut enc, mut dec) = codec();
        g.bench_function(BenchmarkId::new("encrypt_decode_parse", name), |b| {
            b.iter(|| black_box(encrypt_decode_parse(&mut enc, &mut dec, &blocks)))
        });
        let (mut enc, _) = codec();
        g.bench_function(BenchmarkId::new("encrypt_only", name), |b| {
            b.iter(|| black_box(enc.encrypt_blocks(black_box(&blocks)).unwrap()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("chacha20poly1305");
    for len in [1024usize, 16 * 1024] {
        let pt = vec![0x5Au8; len];
        let key = [3u8; 32];
        let ct = aead_encrypt(&key, 1, &[], &pt);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(BenchmarkId::new("seal", len), |b| {
            b.iter(|| black_box(aead_encrypt(&key, 1, &[], black_box(&pt))))
        });
        g.bench_function(BenchmarkId::new("open", len), |b| {
            b.iter(|| black_box(aead_decrypt(&key, 1, &[], black_box(&ct)).unwrap()))
        });
        // The data phase's in-place AEAD (OpenSSL from 4 KiB up, ring below).
        let mut aead = DataPhaseAead::new().unwrap();
        let mut buf = pt.clone();
        g.bench_function(BenchmarkId::new("data_phase_seal_in_place", len), |b| {
            b.iter(|| {
                buf.truncate(len);
                aead.seal_in_place(&key, 1, black_box(&mut buf), 0).unwrap();
            })
        });
        let sealed = ct.clone();
        let mut buf = ct.clone();
        g.bench_function(BenchmarkId::new("data_phase_open_in_place", len), |b| {
            b.iter(|| {
                buf.copy_from_slice(&sealed);
                black_box(aead.open_in_place(&key, 1, black_box(&mut buf)).unwrap());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, frame, session);
criterion_main!(benches);

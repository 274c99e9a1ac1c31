//! netDb throughput with 100k real signed RouterInfos (6% floodfills, as on the live network):
//! building the index, validated stores through the engine (with and without the durable ack),
//! and lookups (found, not found -> closest floodfills, exploration -> closest of ~94k
//! non-floodfills).
//!
//! Run: `cargo bench --bench netdb`. Setup signs 100k+ RouterInfos on all cores first.

use criterion::{Criterion, criterion_group, criterion_main};
use floodgate::netdb::index::NetDbIndex;
use floodgate::netdb::testkit;
use floodgate::netdb::{NetDb, NetDbOptions};
use floodgate::ops::status::RouterStatus;
use floodgate::wire::i2np::{
    DatabaseLookup, DatabaseStore, LookupType, ReplyEncryption, StoreReply,
};
use floodgate::wire::{Date, RouterInfo};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const ROUTERS: usize = 100_000;
/// Extra RouterInfos consumed by the store benchmarks (each store must be a new entry).
const STORE_POOL: usize = 12_000;
const NET: u8 = 2;

/// `cargo bench` passes `--bench`; `cargo test --benches` does not and runs every benchmark
/// once as a smoke test, in a debug build: use 1% of the data there so it takes seconds.
fn scale(n: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        n
    } else {
        n / 100
    }
}

/// (RouterInfo, DatabaseStore without token) for `n` fresh routers, signed on all cores.
fn make_routers(n: usize, now: u64) -> Vec<(RouterInfo, DatabaseStore)> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let done = &done;
                s.spawn(move || {
                    let mine = n / threads + usize::from(t < n % threads);
                    (0..mine)
                        .map(|i| {
                            let r = testkit::router(NET, (i * threads + t) % 100 < 6, now);
                            let m = testkit::store_router_info(&r.info, None);
                            done.fetch_add(1, Ordering::Relaxed);
                            (r.info, m)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("generator thread"))
            .collect()
    })
}

fn lookup(key: [u8; 32], t: LookupType) -> DatabaseLookup {
    DatabaseLookup {
        key,
        from: [0x42; 32],
        reply_tunnel: None,
        lookup_type: t,
        excluded_peers: Vec::new(),
        reply_encryption: ReplyEncryption::None,
        reserved_flag_bits: 0,
    }
}

fn bench(c: &mut Criterion) {
    let now = Date::now().millis();
    let t = Instant::now();
    let (n_routers, n_pool) = (scale(ROUTERS), scale(STORE_POOL));
    let routers = make_routers(n_routers, now - 60_000);
    let pool = make_routers(n_pool, now - 60_000);
    eprintln!(
        "setup: signed {} RouterInfos in {:.1?}",
        n_routers + n_pool,
        t.elapsed()
    );

    // Index only: insert 100k verified RouterInfos.
    let infos: Vec<Arc<RouterInfo>> = routers.iter().map(|(ri, _)| Arc::new(ri.clone())).collect();
    let mut g = c.benchmark_group("index");
    g.sample_size(10);
    g.bench_function("insert_100k_router_infos", |b| {
        b.iter(|| {
            let mut idx = NetDbIndex::new();
            for ri in &infos {
                idx.insert_router(ri.clone());
            }
            black_box(idx.router_count())
        })
    });
    g.finish();

    // Engine with RocksDB: fill with the 100k through on_database_store (measured once).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = NetDb::open(
        NetDbOptions {
            data_dir: Some(dir.path().to_path_buf()),
            net_id: NET,
            floodfill: true,
            our_hash: [0xaa; 32],
            ready_min_router_infos: 25,
            floodfill_min_version: floodgate::netdb::index::MIN_FLOODFILL_VERSION,
        },
        &prometheus::Registry::new(),
        Arc::new(RouterStatus::new()),
        now,
    )
    .expect("open");
    let t = Instant::now();
    rt.block_on(async {
        // 64 stores in flight, as a dispatcher spawning a task per message would have.
        let sem = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = Vec::with_capacity(routers.len());
        for (_, m) in &routers {
            let permit = sem.clone().acquire_owned().await.expect("semaphore");
            let db = db.clone();
            let m = m.clone();
            tasks.push(tokio::spawn(async move {
                let o = db.on_database_store([1; 32], m, true, now).await;
                drop(permit);
                o.result.is_ok()
            }));
        }
        for t in tasks {
            assert!(t.await.expect("task"));
        }
    });
    let fill = t.elapsed();
    eprintln!(
        "fill: {} validated stores (gunzip + Ed25519 verify + index + RocksDB write-behind, 64 in flight) in {:.2?} = {:.0} stores/s",
        n_routers,
        fill,
        n_routers as f64 / fill.as_secs_f64()
    );
    let (ri, ff, _) = db.counts();
    eprintln!("index: {ri} RouterInfos, {ff} floodfills");

    // Stores into the full netDb, timed directly: each store must be a new entry, so a fixed
    // pool is consumed instead of letting criterion pick iteration counts.
    let mut pool = pool.into_iter().map(|(_, m)| m);
    let mut run = |label: &str, n: usize, in_flight: usize, acked: bool| {
        let msgs: Vec<DatabaseStore> = pool
            .by_ref()
            .take(n)
            .enumerate()
            .map(|(i, mut m)| {
                if acked {
                    m.reply = Some(StoreReply {
                        token: NonZeroU32::new(i as u32 + 1).expect("nonzero"),
                        tunnel_id: 0,
                        gateway: [3; 32],
                    });
                }
                m
            })
            .collect();
        let n = msgs.len();
        let t = Instant::now();
        rt.block_on(async {
            let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
            let mut tasks = Vec::with_capacity(n);
            for m in msgs {
                let permit = sem.clone().acquire_owned().await.expect("semaphore");
                let db = db.clone();
                tasks.push(tokio::spawn(async move {
                    let o = db.on_database_store([1; 32], m, true, now).await;
                    drop(permit);
                    (o.result.is_ok(), o.actions.len())
                }));
            }
            for t in tasks {
                let (ok, actions) = t.await.expect("task");
                assert!(ok);
                // Acked stores must come back with their DeliveryStatus (+ a flood).
                assert!(!acked || actions >= 1);
            }
        });
        let e = t.elapsed();
        eprintln!(
            "store/{label}: {n} stores in {e:.2?} = {:.0} stores/s, {:.1} us/store",
            n as f64 / e.as_secs_f64(),
            e.as_secs_f64() * 1e6 / n as f64
        );
    };
    run("no_ack_sequential", scale(4000), 1, false);
    run(
        "acked_sequential (waits for WAL fsync)",
        scale(1000),
        1,
        true,
    );
    run("acked_64_in_flight", scale(6000), 64, true);

    let mut g = c.benchmark_group("lookup");
    g.sample_size(20);
    let found = routers[n_routers / 2].0.hash();
    g.bench_function("router_info_found", |b| {
        b.iter(|| {
            black_box(db.on_database_lookup([1; 32], lookup(found, LookupType::RouterInfo), now))
        })
    });
    let mut k = 0u64;
    g.bench_function("not_found_closest_3_floodfills", |b| {
        b.iter(|| {
            k += 1;
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&k.to_be_bytes());
            black_box(db.on_database_lookup([1; 32], lookup(key, LookupType::LeaseSet), now))
        })
    });
    g.bench_function("exploration_closest_16_of_94k", |b| {
        b.iter(|| {
            k += 1;
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&k.to_be_bytes());
            black_box(db.on_database_lookup([1; 32], lookup(key, LookupType::Exploration), now))
        })
    });
    g.finish();
    db.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);

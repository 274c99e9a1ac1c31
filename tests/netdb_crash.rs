//! Crash safety: a child process (this test binary re-executed) stores an endless burst of
//! RouterInfos with reply tokens and prints every key whose DeliveryStatus the engine released;
//! the parent SIGKILLs it mid-burst, reopens the netDb and requires every acknowledged entry,
//! with every record on disk passing verification (nothing half-written).
#![cfg(feature = "store")]

use floodgate::netdb::testkit;
use floodgate::netdb::{Action, NetDb, NetDbOptions};
use floodgate::ops::status::RouterStatus;
use floodgate::wire::Date;
use floodgate::wire::i2np::{I2npBody, StoreReply};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::num::NonZeroU32;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "FLOODGATE_NETDB_CRASH_CHILD_DIR";
const CHILD_TEST: &str = "crash_child_process";
/// Acknowledgements the parent waits for before it kills the child.
const ACKS_BEFORE_KILL: usize = 300;
const NET: u8 = 2;
/// Entries the child stores; the parent kills it long before the end.
const BURST: u32 = 1000;

fn options(dir: &Path) -> NetDbOptions {
    NetDbOptions {
        data_dir: Some(dir.to_path_buf()),
        net_id: NET,
        floodfill: false,
        our_hash: [0xaa; 32],
        ready_min_router_infos: 1,
        floodfill_min_version: floodgate::netdb::index::MIN_FLOODFILL_VERSION,
    }
}

fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The child: only does something when re-executed by the parent.
#[test]
fn crash_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let db = NetDb::open(
            options(Path::new(&dir)),
            &prometheus::Registry::new(),
            Arc::new(RouterStatus::new()),
            Date::now().millis(),
        )
        .unwrap();
        // Sign the entries first so that the burst itself runs at validation + disk speed:
        // stores then outpace the writer, batches hold many entries, and the kill lands with
        // writes queued, in progress and acknowledged.
        let msgs: Vec<_> = (1..=BURST)
            .map(|token| {
                let r = testkit::router(NET, token % 10 == 0, Date::now().millis());
                let msg = testkit::store_router_info(
                    &r.info,
                    Some(StoreReply {
                        token: NonZeroU32::new(token).unwrap(),
                        tunnel_id: 0,
                        gateway: [0x55; 32],
                    }),
                );
                (token, r.hash(), msg)
            })
            .collect();
        let permits = Arc::new(tokio::sync::Semaphore::new(256));
        let mut tasks = Vec::new();
        for (token, key, msg) in msgs {
            let permit = permits.clone().acquire_owned().await.unwrap();
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let o = db
                    .on_database_store([0x66; 32], msg, true, Date::now().millis())
                    .await;
                let acked = o.actions.iter().any(|a| {
                    matches!(a, Action::SendDirect { msg, .. }
                        if matches!(&msg.body, I2npBody::DeliveryStatus(ds) if ds.msg_id == token))
                });
                if acked {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "ACK {}", hex(&key));
                    let _ = out.flush();
                }
                drop(permit);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        // Not killed yet (a very slow parent): stay alive until it happens.
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
}

#[test]
fn acknowledged_stores_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(k) = line.strip_prefix("ACK ") {
                let _ = tx.send(k.to_string());
            }
        }
    });
    let mut acked = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while acked.len() < ACKS_BEFORE_KILL {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(k) => {
                acked.insert(k);
            }
            Err(_) => {
                if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                    let _ = child.kill();
                    panic!("child produced only {} acks", acked.len());
                }
            }
        }
    }
    // SIGKILL: no destructor, no flush, no orderly writer shutdown.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    reader.join().unwrap();
    // Acks already written to the pipe before the kill count as well.
    acked.extend(rx.try_iter());

    let registry = prometheus::Registry::new();
    let db = NetDb::open(
        options(dir.path()),
        &registry,
        Arc::new(RouterStatus::new()),
        Date::now().millis(),
    )
    .unwrap();
    let (held, _, _) = db.counts();
    let present: HashSet<String> = acked
        .iter()
        .filter(|k| {
            let mut h = [0u8; 32];
            for (i, b) in h.iter_mut().enumerate() {
                *b = u8::from_str_radix(&k[i * 2..i * 2 + 2], 16).unwrap();
            }
            db.router_info(&h).is_some()
        })
        .cloned()
        .collect();
    assert_eq!(
        present.len(),
        acked.len(),
        "every acknowledged store must survive the crash"
    );
    assert!(held >= acked.len());
    // Every record on disk verified at load: nothing was dropped as damaged.
    let dropped: f64 = registry
        .gather()
        .iter()
        .filter(|f| f.name() == "floodgate_netdb_removed_total")
        .flat_map(|f| f.get_metric().iter())
        .map(|m| m.get_counter().get_value())
        .sum();
    assert_eq!(dropped, 0.0, "damaged records found after the crash");
    eprintln!(
        "crash test: {} acknowledged, {} held after restart",
        acked.len(),
        held
    );
    db.close();
}

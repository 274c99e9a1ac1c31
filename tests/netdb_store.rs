//! Persistence of the netDb: entries survive close and reopen, warm start re-verifies and drops
//! what has expired or is damaged, and those deletions reach the disk.
#![cfg(feature = "store")]

use floodgate::crypto::SigningPrivateKey;
use floodgate::netdb::store::Store;
use floodgate::netdb::testkit;
use floodgate::netdb::{Accepted, EntryKind, NetDb, NetDbOptions, metrics::NetDbMetrics};
use floodgate::ops::status::RouterStatus;
use floodgate::wire::i2np::{StoreKind, StoreReply};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;

const NOW: u64 = 1_749_988_800_000;
const NOW_S: u32 = (NOW / 1000) as u32;
const NET: u8 = 2;

fn open(dir: &Path, now: u64) -> (NetDb, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let db = NetDb::open(
        NetDbOptions {
            data_dir: Some(dir.to_path_buf()),
            net_id: NET,
            floodfill: true,
            our_hash: [0xaa; 32],
            ready_min_router_infos: 1,
            floodfill_min_version: floodgate::netdb::index::MIN_FLOODFILL_VERSION,
        },
        &registry,
        Arc::new(RouterStatus::new()),
        now,
    )
    .unwrap();
    (db, registry)
}

fn removed(reg: &prometheus::Registry, kind: &str, reason: &str) -> f64 {
    reg.gather()
        .iter()
        .filter(|f| f.name() == "floodgate_netdb_removed_total")
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            let l = m.get_label();
            l.iter().any(|l| l.name() == "kind" && l.value() == kind)
                && l.iter()
                    .any(|l| l.name() == "reason" && l.value() == reason)
        })
        .map(|m| m.get_counter().get_value())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path(), NOW);
    let mut routers = Vec::new();
    for i in 0..20u32 {
        let r = testkit::router(NET, i % 4 == 0, NOW - 60_000);
        // Half with a reply token (acknowledged, so durable before the call returns).
        let reply = (i % 2 == 0).then(|| StoreReply {
            token: NonZeroU32::new(i + 1).unwrap(),
            tunnel_id: 0,
            gateway: r.hash(),
        });
        let o = db
            .on_database_store(
                [1; 32],
                testkit::store_router_info(&r.info, reply),
                true,
                NOW,
            )
            .await;
        assert_eq!(o.result, Ok(Accepted::New));
        routers.push(r);
    }
    let k1 = SigningPrivateKey::generate();
    let k2 = SigningPrivateKey::generate();
    let k3 = SigningPrivateKey::generate();
    let (short_key, short_ls) = testkit::lease_set2(&k1, NOW_S - 10, 300, 0);
    let (long_key, long_ls) = testkit::lease_set2(&k2, NOW_S - 10, 890, 0);
    let (els_key, els) = testkit::encrypted_lease_set(&k3, NOW_S - 10, 890);
    for (k, kind, b) in [
        (short_key, StoreKind::LeaseSet2, short_ls.clone()),
        (long_key, StoreKind::LeaseSet2, long_ls.clone()),
        (els_key, StoreKind::EncryptedLeaseSet, els.clone()),
    ] {
        let o = db
            .on_database_store(
                [1; 32],
                testkit::store_lease_set(k, kind, b, None),
                true,
                NOW,
            )
            .await;
        assert_eq!(o.result, Ok(Accepted::New));
    }
    assert_eq!(db.counts(), (20, 5, 3));
    db.close();

    // Reopen two minutes later: everything is back, byte for byte.
    let (db, reg) = open(dir.path(), NOW + 120_000);
    assert_eq!(db.counts(), (20, 5, 3));
    for r in &routers {
        let got = db.router_info(&r.hash()).expect("RouterInfo survived");
        assert_eq!(got.as_bytes(), r.info.as_bytes());
    }
    assert_eq!(db.lease_set(&long_key), Some((3, long_ls.clone())));
    assert_eq!(db.lease_set(&els_key), Some((5, els.clone())));
    assert_eq!(removed(&reg, "lease_set", "expired"), 0.0);
    // A store after the restart is still compared with the loaded version.
    let o = db
        .on_database_store(
            [1; 32],
            testkit::store_router_info(&routers[0].info, None),
            true,
            NOW + 120_000,
        )
        .await;
    assert_eq!(o.result.unwrap_err().reason(), "not_newer");
    db.close();

    // Ten minutes after the first start the short LeaseSet has expired: dropped at load, and
    // from disk too.
    let (db, reg) = open(dir.path(), NOW + 600_000);
    assert_eq!(db.counts(), (20, 5, 2));
    assert!(db.lease_set(&short_key).is_none());
    assert_eq!(removed(&reg, "lease_set", "expired"), 1.0);
    db.close();
    let m = NetDbMetrics::unregistered();
    let (store, stored) = Store::open(dir.path(), &m).unwrap();
    assert_eq!(stored.router_infos.len(), 20);
    assert_eq!(stored.lease_sets.len(), 2);
    assert!(stored.lease_sets.iter().all(|(k, _, _)| *k != short_key));
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_records_are_dropped_at_warm_start() {
    let dir = tempfile::tempdir().unwrap();
    let good = testkit::router(NET, false, NOW - 60_000);
    let other = testkit::router(NET, false, NOW - 60_000);
    let m = NetDbMetrics::unregistered();
    {
        let (store, _) = Store::open(dir.path(), &m).unwrap();
        store
            .put(
                EntryKind::RouterInfo,
                good.hash(),
                good.info.as_bytes().to_vec(),
                false,
            )
            .await
            .unwrap();
        // A bit flip on disk: fails the signature.
        let mut flipped = other.info.as_bytes().to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        store
            .put(EntryKind::RouterInfo, other.hash(), flipped, false)
            .await
            .unwrap();
        // A valid RouterInfo under the wrong key.
        store
            .put(
                EntryKind::RouterInfo,
                [7; 32],
                good.info.as_bytes().to_vec(),
                false,
            )
            .await
            .unwrap();
        // Truncated bytes.
        store
            .put(
                EntryKind::RouterInfo,
                [8; 32],
                good.info.as_bytes()[..100].to_vec(),
                false,
            )
            .await
            .unwrap();
        // Our own RouterInfo is never loaded from the netDb.
        store
            .put(EntryKind::RouterInfo, [0xaa; 32], b"ours".to_vec(), false)
            .await
            .unwrap();
        store.barrier().await.unwrap().wait().await.unwrap();
        store.close();
    }
    let (db, reg) = open(dir.path(), NOW);
    assert_eq!(db.counts().0, 1);
    assert!(db.router_info(&good.hash()).is_some());
    assert_eq!(removed(&reg, "router_info", "bad_signature"), 1.0);
    assert_eq!(removed(&reg, "router_info", "key_mismatch"), 1.0);
    assert_eq!(removed(&reg, "router_info", "parse_error"), 1.0);
    assert_eq!(removed(&reg, "router_info", "own_router_info"), 1.0);
    db.close();
    let (store, stored) = Store::open(dir.path(), &m).unwrap();
    assert_eq!(
        stored
            .router_infos
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>(),
        vec![good.hash()],
        "dropped records are deleted from disk"
    );
    store.close();
}

//! The netDb engine end to end with real signed entries: poisoning attempts each rejected with
//! the right reason, stores acknowledged and flooded to the right floodfills, lookups answered
//! with the entry, a search reply or an ECIES-encrypted reply, expiry, readiness and metrics.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use floodgate::crypto::SigningPrivateKey;
use floodgate::netdb::index::{Distance, Hash, routing_key};
use floodgate::netdb::testkit::{self, TestRouter};
use floodgate::netdb::{Accepted, Action, LookupResult, NetDb, NetDbOptions, Rejection};
use floodgate::ops::status::RouterStatus;
use floodgate::wire::i2np::{
    DatabaseLookup, DatabaseStore, I2npBody, I2npMessage, LookupType, MessageType, ReplyEncryption,
    StoreKind, StoreReply,
};
use floodgate::wire::{Reader, RouterInfo};
use std::num::NonZeroU32;
use std::sync::Arc;

/// 2025-06-15 12:00:00 UTC, far from midnight so no next-day flooding happens.
const NOW: u64 = 1_749_988_800_000;
const NOW_S: u32 = (NOW / 1000) as u32;
const NET: u8 = 2;
const HOUR: u64 = 3_600_000;

struct Fixture {
    db: NetDb,
    status: Arc<RouterStatus>,
    registry: prometheus::Registry,
    me: TestRouter,
}

fn fixture(floodfill: bool) -> Fixture {
    let me = testkit::router(NET, floodfill, NOW);
    let status = Arc::new(RouterStatus::new());
    let registry = prometheus::Registry::new();
    let db = NetDb::open(
        NetDbOptions {
            data_dir: None,
            net_id: NET,
            floodfill,
            our_hash: me.hash(),
            ready_min_router_infos: 5,
            floodfill_min_version: floodgate::netdb::index::MIN_FLOODFILL_VERSION,
        },
        &registry,
        status.clone(),
        NOW,
    )
    .unwrap();
    Fixture {
        db,
        status,
        registry,
        me,
    }
}

fn reply(token: u32, tunnel_id: u32, gateway: Hash) -> Option<StoreReply> {
    Some(StoreReply {
        token: NonZeroU32::new(token).unwrap(),
        tunnel_id,
        gateway,
    })
}

fn counter(reg: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    for f in reg.gather() {
        if f.name() != name {
            continue;
        }
        for m in f.get_metric() {
            let ok = labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            });
            if ok {
                // The field that is not set reads as its default, 0.
                return m.get_counter().get_value() + m.get_gauge().get_value();
            }
        }
    }
    0.0
}

/// Store `n` routers (`floodfill` or not) without reply tokens, as floods from a peer would.
async fn populate(db: &NetDb, n: usize, floodfill: bool) -> Vec<TestRouter> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = testkit::router(NET, floodfill, NOW - 60_000);
        let o = db
            .on_database_store(
                [0xee; 32],
                testkit::store_router_info(&r.info, None),
                true,
                NOW,
            )
            .await;
        assert_eq!(o.result, Ok(Accepted::New));
        assert!(o.actions.is_empty(), "no token: no ack, no flood");
        out.push(r);
    }
    out
}

/// The `k` hashes closest to `key`'s routing key, computed independently of the index.
fn expected_closest(hashes: &[Hash], key: &Hash, k: usize, excluded: &[Hash]) -> Vec<Hash> {
    let rk = routing_key(key, NOW);
    let mut v: Vec<Hash> = hashes
        .iter()
        .copied()
        .filter(|h| !excluded.contains(h))
        .collect();
    v.sort_by_key(|h| Distance::between(h, &rk));
    v.truncate(k);
    v
}

async fn rejected(
    f: &Fixture,
    msg: DatabaseStore,
    direct: bool,
    now: u64,
    reason: &str,
) -> Vec<Action> {
    let before = counter(
        &f.registry,
        "floodgate_netdb_stores_total",
        &[("result", "rejected"), ("reason", reason)],
    );
    let o = f.db.on_database_store([0xee; 32], msg, direct, now).await;
    let rej = o.result.expect_err("must be rejected");
    assert_eq!(rej.reason(), reason, "{rej}");
    let after = counter(
        &f.registry,
        "floodgate_netdb_stores_total",
        &[("result", "rejected"), ("reason", reason)],
    );
    assert_eq!(after, before + 1.0, "metric for {reason}");
    o.actions
}

// ---------------------------------------------------------------------------------------------
// Poisoning

#[tokio::test]
async fn router_info_poisoning_is_rejected_with_reasons() {
    let f = fixture(true);
    let victim = testkit::router(NET, true, NOW - 60_000);
    let other = testkit::router(NET, false, NOW - 60_000);

    // Wrong key: a valid RouterInfo filed under another router's hash.
    let mut m = testkit::store_router_info(&victim.info, None);
    m.key = other.hash();
    rejected(&f, m, true, NOW, "key_mismatch").await;

    // Bad signature: one flipped byte inside the signed options, re-compressed.
    let mut bytes = victim.info.as_bytes().to_vec();
    let at = bytes.len() - 70;
    bytes[at] ^= 0x01;
    let forged = RouterInfo::parse(&bytes).unwrap().dangerous_into_inner();
    rejected(
        &f,
        testkit::store_router_info(&forged, None),
        true,
        NOW,
        "bad_signature",
    )
    .await;
    // ... and a flipped signature byte.
    let mut bytes = victim.info.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    let forged = RouterInfo::parse(&bytes).unwrap().dangerous_into_inner();
    rejected(
        &f,
        testkit::store_router_info(&forged, None),
        true,
        NOW,
        "bad_signature",
    )
    .await;

    // Future: published 3 minutes ahead (limit 2).
    let future = testkit::router_info_for(&victim.keys, NET, true, NOW + 3 * 60_000);
    rejected(
        &f,
        testkit::store_router_info(&future, None),
        true,
        NOW,
        "future",
    )
    .await;

    // Expired: 28 hours old during the first hour of uptime (limit 27 h) ...
    let old = testkit::router_info_for(&victim.keys, NET, true, NOW - 28 * HOUR);
    rejected(
        &f,
        testkit::store_router_info(&old, None),
        true,
        NOW,
        "expired",
    )
    .await;
    // ... and 2 hours old once a floodfill has been up for an hour (limit 1 h).
    let old = testkit::router_info_for(&victim.keys, NET, true, NOW);
    rejected(
        &f,
        testkit::store_router_info(&old, None),
        true,
        NOW + 2 * HOUR,
        "expired",
    )
    .await;

    // Wrong network id.
    let testnet = testkit::router(99, true, NOW - 60_000);
    rejected(
        &f,
        testkit::store_router_info(&testnet.info, None),
        true,
        NOW,
        "wrong_net_id",
    )
    .await;

    // Oversize: more compressed bytes than any RouterInfo may have ...
    let mut m = testkit::store_router_info(&victim.info, None);
    m.data = vec![0x1f; 4000];
    rejected(&f, m, true, NOW, "oversize").await;
    // ... and a small gzip bomb that inflates past the limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &vec![0u8; 100_000]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 3072);
    let mut m = testkit::store_router_info(&victim.info, None);
    m.data = bomb;
    rejected(&f, m, true, NOW, "oversize").await;

    // Not gzip at all.
    let mut m = testkit::store_router_info(&victim.info, None);
    m.data = b"definitely not gzip".to_vec();
    rejected(&f, m, true, NOW, "parse_error").await;

    // Nothing of the above got in.
    assert!(f.db.router_info(&victim.hash()).is_none());
    assert!(f.db.router_info(&testnet.hash()).is_none());

    // Stale: store a version, then an older and an equal one.
    let cur = testkit::router_info_for(&victim.keys, NET, true, NOW - 60_000);
    let o =
        f.db.on_database_store([1; 32], testkit::store_router_info(&cur, None), true, NOW)
            .await;
    assert_eq!(o.result, Ok(Accepted::New));
    let older = testkit::router_info_for(&victim.keys, NET, true, NOW - 120_000);
    rejected(
        &f,
        testkit::store_router_info(&older, None),
        true,
        NOW,
        "not_newer",
    )
    .await;
    rejected(
        &f,
        testkit::store_router_info(&cur, None),
        true,
        NOW,
        "not_newer",
    )
    .await;
    let held = f.db.router_info(&victim.hash()).unwrap();
    assert_eq!(held.published().millis(), NOW - 60_000);
    // A newer one replaces it.
    let newer = testkit::router_info_for(&victim.keys, NET, true, NOW - 30_000);
    let o =
        f.db.on_database_store([1; 32], testkit::store_router_info(&newer, None), true, NOW)
            .await;
    assert_eq!(o.result, Ok(Accepted::Updated));
    assert_eq!(
        f.db.router_info(&victim.hash())
            .unwrap()
            .published()
            .millis(),
        NOW - 30_000
    );
}

#[tokio::test]
async fn our_own_router_info_cannot_be_overwritten() {
    let f = fixture(true);
    let ours = f.me.info.clone();
    f.db.publish_router_info(&ours, NOW);
    // Someone replays a newer-looking copy of our RouterInfo (validly signed: say an old key
    // leak, or our own earlier flood echoed back) with a reply token.
    let newer = testkit::router_info_for(&f.me.keys, NET, true, NOW + 60_000);
    let actions = rejected(
        &f,
        testkit::store_router_info(&newer, reply(5, 0, [9; 32])),
        true,
        NOW,
        "own_router_info",
    )
    .await;
    assert!(actions.is_empty(), "no ack, no flood");
    assert_eq!(
        f.db.router_info(&f.me.hash()).unwrap().published().millis(),
        NOW
    );
}

#[tokio::test]
async fn lease_set_poisoning_is_rejected_with_reasons() {
    let f = fixture(true);
    let dk = SigningPrivateKey::generate();
    let (key, ls) = testkit::lease_set2(&dk, NOW_S - 30, 600, 0);

    // Down one of our tunnels: not for the floodfill netDb.
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, ls.clone(), None),
        false,
        NOW,
        "lease_set_via_tunnel",
    )
    .await;
    // Wrong key.
    rejected(
        &f,
        testkit::store_lease_set([3; 32], StoreKind::LeaseSet2, ls.clone(), None),
        true,
        NOW,
        "key_mismatch",
    )
    .await;
    // Bad signature.
    let mut bad = ls.clone();
    let at = bad.len() - 70;
    bad[at] ^= 0x04;
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, bad, None),
        true,
        NOW,
        "bad_signature",
    )
    .await;
    // Expired.
    let (k2, old) = testkit::lease_set2(&dk, NOW_S - 1200, 600, 0);
    assert_eq!(k2, key);
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, old, None),
        true,
        NOW,
        "expired",
    )
    .await;
    // Expiring too far ahead (16 minutes > 15).
    let (_, far) = testkit::lease_set2(&dk, NOW_S, 960, 0);
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, far, None),
        true,
        NOW,
        "future",
    )
    .await;
    // Published in the future.
    let (_, fut) = testkit::lease_set2(&dk, NOW_S + 300, 600, 0);
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, fut, None),
        true,
        NOW,
        "future",
    )
    .await;
    // Flagged unpublished.
    let (_, unpub) = testkit::lease_set2(&dk, NOW_S - 30, 600, 2);
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, unpub, None),
        true,
        NOW,
        "unpublished",
    )
    .await;
    // Oversize: one byte over the 8192 i2pd accepts since 2.57.
    let mut big = ls.clone();
    big.resize(floodgate::netdb::validate::MAX_LEASE_SET_SIZE + 1, 0);
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, big, None),
        true,
        NOW,
        "oversize",
    )
    .await;
    // Filed under the wrong type: a LeaseSet2 presented as a MetaLeaseSet does not parse as one
    // or fails its signature (the type byte is signed).
    let o =
        f.db.on_database_store(
            [0xee; 32],
            testkit::store_lease_set(key, StoreKind::MetaLeaseSet, ls.clone(), None),
            true,
            NOW,
        )
        .await;
    assert!(matches!(
        o.result,
        Err(Rejection::Parse(_)) | Err(Rejection::Signature(_))
    ));
    // An encrypted LeaseSet stored under the hash of the *unblinded* destination.
    let (ekey, els) = testkit::encrypted_lease_set(&dk, NOW_S - 30, 600);
    assert_ne!(ekey, key);
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::EncryptedLeaseSet, els.clone(), None),
        true,
        NOW,
        "key_mismatch",
    )
    .await;
    assert!(f.db.lease_set(&key).is_none());

    // The good ones get in; then stale copies are refused.
    for (k, kind, bytes) in [
        (key, StoreKind::LeaseSet2, ls.clone()),
        (ekey, StoreKind::EncryptedLeaseSet, els.clone()),
    ] {
        let o =
            f.db.on_database_store(
                [0xee; 32],
                testkit::store_lease_set(k, kind, bytes.clone(), None),
                true,
                NOW,
            )
            .await;
        assert_eq!(o.result, Ok(Accepted::New), "{kind:?}");
        rejected(
            &f,
            testkit::store_lease_set(k, kind, bytes, None),
            true,
            NOW,
            "not_newer",
        )
        .await;
    }
    let (_, older) = testkit::lease_set2(&dk, NOW_S - 60, 600, 0);
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, older, None),
        true,
        NOW,
        "not_newer",
    )
    .await;
    // A MetaLeaseSet of another destination, with a long (but bounded) lifetime.
    let mk = SigningPrivateKey::generate();
    let (mkey, meta) = testkit::meta_lease_set(&mk, NOW_S - 30, 8 * 3600);
    let o =
        f.db.on_database_store(
            [0xee; 32],
            testkit::store_lease_set(mkey, StoreKind::MetaLeaseSet, meta, None),
            true,
            NOW,
        )
        .await;
    assert_eq!(o.result, Ok(Accepted::New));
    assert_eq!(f.db.counts().2, 3);
    assert_eq!(
        counter(
            &f.registry,
            "floodgate_netdb_entries",
            &[("kind", "meta_lease_set")]
        ),
        1.0
    );
}

#[tokio::test]
async fn lease_sets_refused_when_not_floodfill() {
    let f = fixture(false);
    let dk = SigningPrivateKey::generate();
    let (key, ls) = testkit::lease_set2(&dk, NOW_S - 30, 600, 0);
    let actions = rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, ls, reply(7, 0, [9; 32])),
        true,
        NOW,
        "not_floodfill",
    )
    .await;
    assert!(actions.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Stores: ack and flood

fn delivery_status_of(a: &Action) -> (Hash, Option<u32>, u32) {
    match a {
        Action::SendDirect { to, msg } => match &msg.body {
            I2npBody::DeliveryStatus(ds) => (*to, None, ds.msg_id),
            other => panic!("not a DeliveryStatus: {other:?}"),
        },
        Action::SendViaTunnel {
            gateway,
            tunnel_id,
            msg,
        } => {
            let I2npBody::TunnelGateway(tgw) = &msg.body else {
                panic!("not a TunnelGateway")
            };
            assert_eq!(tgw.tunnel_id, *tunnel_id);
            let inner = tgw.embedded_message().unwrap();
            let I2npBody::DeliveryStatus(ds) = inner.body else {
                panic!("TunnelGateway does not carry a DeliveryStatus")
            };
            (*gateway, Some(*tunnel_id), ds.msg_id)
        }
        other => panic!("not a reply: {other:?}"),
    }
}

#[tokio::test]
async fn store_with_token_is_acked_and_flooded_to_the_three_closest() {
    let f = fixture(true);
    let ffs = populate(&f.db, 12, true).await;
    populate(&f.db, 8, false).await;
    let ff_hashes: Vec<Hash> = ffs.iter().map(|r| r.hash()).collect();
    let x = testkit::router(NET, false, NOW - 1000);
    // The sender is the floodfill closest to the key, so "not back to the sender" matters.
    let sender = expected_closest(&ff_hashes, &x.hash(), 1, &[])[0];
    let msg = testkit::store_router_info(&x.info, reply(0xabcdef, 0, x.hash()));
    let o = f.db.on_database_store(sender, msg.clone(), true, NOW).await;
    assert_eq!(o.result, Ok(Accepted::New));
    assert_eq!(o.actions.len(), 2, "{:?}", o.actions);
    let flood = o
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Flood { to, msg } => Some((to.clone(), msg.clone())),
            _ => None,
        })
        .expect("flooded");
    let expect = expected_closest(&ff_hashes, &x.hash(), 3, &[sender, f.me.hash(), x.hash()]);
    assert_eq!(flood.0, expect);
    assert!(!flood.0.contains(&sender));
    let I2npBody::DatabaseStore(fs) = &flood.1.body else {
        panic!("flood is not a DatabaseStore")
    };
    assert_eq!(fs.key, x.hash());
    assert_eq!(fs.reply, None, "floods carry no reply token");
    assert_eq!(fs.data, msg.data);
    let ack = o
        .actions
        .iter()
        .find(|a| !matches!(a, Action::Flood { .. }))
        .unwrap();
    assert_eq!(delivery_status_of(ack), (x.hash(), None, 0xabcdef));
    assert_eq!(
        counter(&f.registry, "floodgate_netdb_flood_sends_total", &[]),
        3.0
    );

    // A LeaseSet published through a client tunnel: ack goes to the reply tunnel's gateway.
    let dk = SigningPrivateKey::generate();
    let (key, ls) = testkit::lease_set2(&dk, NOW_S - 10, 600, 0);
    let gw = [0x42; 32];
    let o =
        f.db.on_database_store(
            [0x99; 32],
            testkit::store_lease_set(key, StoreKind::LeaseSet2, ls.clone(), reply(77, 4242, gw)),
            true,
            NOW,
        )
        .await;
    assert_eq!(o.result, Ok(Accepted::New));
    let ack = o
        .actions
        .iter()
        .find(|a| !matches!(a, Action::Flood { .. }))
        .unwrap();
    assert_eq!(delivery_status_of(ack), (gw, Some(4242), 77));
    let to = o
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Flood { to, .. } => Some(to.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        to,
        expected_closest(&ff_hashes, &key, 3, &[[0x99; 32], f.me.hash(), key])
    );

    // A duplicate with a token is acknowledged (the data is here) but not flooded again.
    let o =
        f.db.on_database_store(
            [0x99; 32],
            testkit::store_lease_set(key, StoreKind::LeaseSet2, ls, reply(78, 0, gw)),
            true,
            NOW,
        )
        .await;
    assert_eq!(o.result, Err(Rejection::NotNewer));
    assert_eq!(o.actions.len(), 1);
    assert_eq!(delivery_status_of(&o.actions[0]), (gw, None, 78));

    // Received down a tunnel: reply fields ignored, no flood.
    let y = testkit::router(NET, false, NOW - 1000);
    let o =
        f.db.on_database_store(
            sender,
            testkit::store_router_info(&y.info, reply(5, 0, y.hash())),
            false,
            NOW,
        )
        .await;
    assert_eq!(o.result, Ok(Accepted::New));
    assert!(o.actions.is_empty());

    // Without a token: stored, not flooded, not acked.
    let z = testkit::router(NET, false, NOW - 1000);
    let o =
        f.db.on_database_store(sender, testkit::store_router_info(&z.info, None), true, NOW)
            .await;
    assert_eq!(o.result, Ok(Accepted::New));
    assert!(o.actions.is_empty());

    // A rejected store is not acknowledged.
    let bad = testkit::router(99, false, NOW);
    let o =
        f.db.on_database_store(
            sender,
            testkit::store_router_info(&bad.info, reply(6, 0, bad.hash())),
            true,
            NOW,
        )
        .await;
    assert!(o.result.is_err());
    assert!(o.actions.is_empty());
}

#[tokio::test]
async fn non_floodfill_acks_router_infos_but_never_floods() {
    let f = fixture(false);
    populate(&f.db, 6, true).await;
    let x = testkit::router(NET, false, NOW - 1000);
    let o =
        f.db.on_database_store(
            [1; 32],
            testkit::store_router_info(&x.info, reply(9, 0, x.hash())),
            true,
            NOW,
        )
        .await;
    assert_eq!(o.result, Ok(Accepted::New));
    assert_eq!(o.actions.len(), 1);
    assert_eq!(delivery_status_of(&o.actions[0]), (x.hash(), None, 9));
}

// ---------------------------------------------------------------------------------------------
// Lookups

fn lookup(key: Hash, from: Hash, t: LookupType) -> DatabaseLookup {
    DatabaseLookup {
        key,
        from,
        reply_tunnel: None,
        lookup_type: t,
        excluded_peers: Vec::new(),
        reply_encryption: ReplyEncryption::None,
        reserved_flag_bits: 0,
    }
}

fn direct_reply(actions: &[Action], to: Hash) -> I2npBody {
    assert_eq!(actions.len(), 1, "{actions:?}");
    match &actions[0] {
        Action::SendDirect { to: t, msg } => {
            assert_eq!(*t, to);
            // It must survive the wire: encode and parse back.
            let bytes = msg.to_standard_bytes().unwrap();
            I2npMessage::parse_standard(&bytes).unwrap().body
        }
        other => panic!("not a direct reply: {other:?}"),
    }
}

#[tokio::test]
async fn lookups_return_entries_or_the_closest_floodfills() {
    let f = fixture(true);
    let ffs = populate(&f.db, 10, true).await;
    let plain = populate(&f.db, 10, false).await;
    let ff_hashes: Vec<Hash> = ffs.iter().map(|r| r.hash()).collect();
    let plain_hashes: Vec<Hash> = plain.iter().map(|r| r.hash()).collect();
    let requester = [0x5a; 32];

    // RouterInfo found.
    let target = &plain[3];
    let o = f.db.on_database_lookup(
        requester,
        lookup(target.hash(), requester, LookupType::RouterInfo),
        NOW,
    );
    assert_eq!(o.result, LookupResult::Found);
    let I2npBody::DatabaseStore(ds) = direct_reply(&o.actions, requester) else {
        panic!("not a DatabaseStore")
    };
    assert_eq!(ds.key, target.hash());
    assert_eq!(ds.kind, StoreKind::RouterInfo);
    let got = RouterInfo::from_gzip(&ds.data).unwrap().verify().unwrap();
    assert_eq!(got.as_bytes(), target.info.as_bytes());

    // LeaseSet found, by LS lookup and by ANY lookup.
    let dk = SigningPrivateKey::generate();
    let (key, ls) = testkit::lease_set2(&dk, NOW_S - 10, 600, 0);
    f.db.on_database_store(
        [1; 32],
        testkit::store_lease_set(key, StoreKind::LeaseSet2, ls.clone(), None),
        true,
        NOW,
    )
    .await
    .result
    .unwrap();
    for t in [LookupType::LeaseSet, LookupType::Any] {
        let o =
            f.db.on_database_lookup(requester, lookup(key, requester, t), NOW);
        assert_eq!(o.result, LookupResult::Found);
        let I2npBody::DatabaseStore(ds) = direct_reply(&o.actions, requester) else {
            panic!("not a DatabaseStore")
        };
        assert_eq!(
            (ds.key, ds.kind, ds.data.clone()),
            (key, StoreKind::LeaseSet2, ls.clone())
        );
    }
    // A RouterInfo lookup for a LeaseSet key does not return the LeaseSet.
    let o = f.db.on_database_lookup(
        requester,
        lookup(key, requester, LookupType::RouterInfo),
        NOW,
    );
    assert_eq!(o.result, LookupResult::NotFound);
    // Once expired it is not served even before the sweep.
    let o = f.db.on_database_lookup(
        requester,
        lookup(key, requester, LookupType::LeaseSet),
        NOW + 700_000,
    );
    assert_eq!(o.result, LookupResult::NotFound);

    // Not found: the 3 closest floodfills, honouring the exclude list, never ourselves.
    let missing = [0x77; 32];
    let mut l = lookup(missing, requester, LookupType::LeaseSet);
    let first = expected_closest(&ff_hashes, &missing, 1, &[]);
    l.excluded_peers = first.clone();
    let o = f.db.on_database_lookup(requester, l, NOW);
    assert_eq!(o.result, LookupResult::NotFound);
    let I2npBody::DatabaseSearchReply(sr) = direct_reply(&o.actions, requester) else {
        panic!("not a DatabaseSearchReply")
    };
    assert_eq!(sr.key, missing);
    assert_eq!(sr.from, f.me.hash());
    assert_eq!(sr.peers, expected_closest(&ff_hashes, &missing, 3, &first));

    // Exploration: non-floodfills only, excluded honoured.
    let mut l = lookup(missing, requester, LookupType::Exploration);
    l.excluded_peers = vec![plain_hashes[0]];
    let o = f.db.on_database_lookup(requester, l, NOW);
    let I2npBody::DatabaseSearchReply(sr) = direct_reply(&o.actions, requester) else {
        panic!("not a DatabaseSearchReply")
    };
    assert_eq!(
        sr.peers,
        expected_closest(&plain_hashes, &missing, 16, &[plain_hashes[0]])
    );
    assert!(sr.peers.iter().all(|p| !ff_hashes.contains(p)));
    // Old-style exploration: an all-zero excluded hash.
    let mut l = lookup(missing, requester, LookupType::Any);
    l.excluded_peers = vec![[0; 32]];
    let o = f.db.on_database_lookup(requester, l, NOW);
    let I2npBody::DatabaseSearchReply(sr) = direct_reply(&o.actions, requester) else {
        panic!("not a DatabaseSearchReply")
    };
    assert_eq!(sr.peers.len(), 10, "all 10 non-floodfills");

    // Reply through a tunnel.
    let mut l = lookup(target.hash(), [0x33; 32], LookupType::RouterInfo);
    l.reply_tunnel = Some(31337);
    let o = f.db.on_database_lookup(requester, l, NOW);
    match &o.actions[..] {
        [
            Action::SendViaTunnel {
                gateway,
                tunnel_id,
                msg,
            },
        ] => {
            assert_eq!((*gateway, *tunnel_id), ([0x33; 32], 31337));
            let I2npBody::TunnelGateway(tgw) = &msg.body else {
                panic!("not a TunnelGateway")
            };
            let inner = tgw.embedded_message().unwrap();
            assert_eq!(inner.msg_type(), MessageType::DatabaseStore);
        }
        other => panic!("{other:?}"),
    }

    assert_eq!(
        counter(
            &f.registry,
            "floodgate_netdb_lookups_total",
            &[("type", "exploration"), ("result", "not_found")]
        ),
        2.0
    );
}

#[tokio::test]
async fn ecies_encrypted_reply_through_a_tunnel() {
    let f = fixture(true);
    populate(&f.db, 5, true).await;
    let key = [0x21; 32];
    let tag = *b"reply-tg";
    let mut l = lookup([0x66; 32], [0x44; 32], LookupType::LeaseSet);
    l.reply_tunnel = Some(7);
    l.reply_encryption = ReplyEncryption::Ecies {
        reply_key: key,
        tag,
    };
    let o = f.db.on_database_lookup([0x44; 32], l, NOW);
    assert_eq!(o.result, LookupResult::NotFound);
    let [Action::SendViaTunnel { msg, .. }] = &o.actions[..] else {
        panic!("{:?}", o.actions)
    };
    let I2npBody::TunnelGateway(tgw) = &msg.body else {
        panic!("not a TunnelGateway")
    };
    let garlic = tgw.embedded_message().unwrap();
    let I2npBody::Garlic(g) = garlic.body else {
        panic!("reply is not encrypted into a Garlic message")
    };
    // Decrypt as the requester: tag || AEAD(key, n=0, ad=tag).
    assert_eq!(&g.data[..8], &tag);
    let pt = ChaCha20Poly1305::new(Key::from_slice(&key))
        .decrypt(
            Nonce::from_slice(&[0; 12]),
            Payload {
                msg: &g.data[8..],
                aad: &tag,
            },
        )
        .expect("decrypts with the requester's key");
    let mut r = Reader::new(&pt);
    assert_eq!(r.u8("block").unwrap(), 11, "garlic clove block");
    let len = usize::from(r.u16("len").unwrap());
    let mut c = r.sub(len, "clove").unwrap();
    assert_eq!(c.u8("delivery").unwrap(), 0, "local delivery");
    assert_eq!(
        c.u8("type").unwrap(),
        MessageType::DatabaseSearchReply.code()
    );
    c.u32("id").unwrap();
    assert!(u64::from(c.u32("exp").unwrap()) * 1000 > NOW);
    let body = I2npBody::parse(MessageType::DatabaseSearchReply, &mut c).unwrap();
    let I2npBody::DatabaseSearchReply(sr) = body else {
        unreachable!()
    };
    assert_eq!(sr.key, [0x66; 32]);
    assert_eq!(sr.peers.len(), 3);

    // ElGamal/AES replies are not implemented: refused and counted.
    let mut l = lookup([0x66; 32], [0x44; 32], LookupType::LeaseSet);
    l.reply_tunnel = Some(7);
    l.reply_encryption = ReplyEncryption::ElGamalAes {
        reply_key: key,
        tags: vec![[1; 32]],
    };
    let o = f.db.on_database_lookup([0x44; 32], l, NOW);
    assert_eq!(o.result, LookupResult::UnsupportedEncryption);
    assert!(o.actions.is_empty());
    assert_eq!(
        counter(
            &f.registry,
            "floodgate_netdb_lookups_total",
            &[("type", "lease_set"), ("result", "unsupported_encryption")]
        ),
        1.0
    );
}

#[tokio::test]
async fn non_floodfill_drops_lease_set_and_exploration_lookups() {
    let f = fixture(false);
    let o =
        f.db.on_database_lookup([1; 32], lookup([2; 32], [1; 32], LookupType::LeaseSet), NOW);
    assert!(matches!(o.result, LookupResult::Dropped(_)));
    let o = f.db.on_database_lookup(
        [1; 32],
        lookup([2; 32], [1; 32], LookupType::Exploration),
        NOW,
    );
    assert!(matches!(o.result, LookupResult::Dropped(_)));
    // RouterInfo lookups are answered (with a search reply here).
    let o = f.db.on_database_lookup(
        [1; 32],
        lookup([2; 32], [1; 32], LookupType::RouterInfo),
        NOW,
    );
    assert_eq!(o.result, LookupResult::NotFound);
}

// ---------------------------------------------------------------------------------------------
// Publication, expiry, readiness

#[tokio::test]
async fn our_router_info_is_published_to_the_closest_floodfills() {
    let f = fixture(true);
    let ffs = populate(&f.db, 8, true).await;
    let ff_hashes: Vec<Hash> = ffs.iter().map(|r| r.hash()).collect();
    let p = f.db.publish_router_info(&f.me.info, NOW);
    let expect = expected_closest(&ff_hashes, &f.me.hash(), 2, &[]);
    assert_eq!(p.actions.len(), 2);
    assert_eq!(
        p.reply_tokens.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        expect
    );
    for (a, (to, token)) in p.actions.iter().zip(&p.reply_tokens) {
        let Action::SendDirect { to: t, msg } = a else {
            panic!("{a:?}")
        };
        assert_eq!(t, to);
        let I2npBody::DatabaseStore(ds) = &msg.body else {
            panic!("not a store")
        };
        assert_eq!(ds.key, f.me.hash());
        let r = ds.reply.unwrap();
        assert_eq!((r.token, r.tunnel_id, r.gateway), (*token, 0, f.me.hash()));
        let ri = RouterInfo::from_gzip(&ds.data).unwrap().verify().unwrap();
        assert_eq!(ri.as_bytes(), f.me.info.as_bytes());
    }
    // Lookups for us are answered with our RouterInfo.
    let o = f.db.on_database_lookup(
        [1; 32],
        lookup(f.me.hash(), [1; 32], LookupType::RouterInfo),
        NOW,
    );
    assert_eq!(o.result, LookupResult::Found);
}

#[tokio::test]
async fn expiry_sweep_and_readiness() {
    let f = fixture(true);
    assert!(!f.status.readiness().ready);
    let r = f.status.readiness();
    assert!(
        r.reasons.iter().any(|x| x.starts_with("netdb: holding 0")),
        "{r:?}"
    );
    // 30 routers published 40 minutes ago.
    for _ in 0..30 {
        let r = testkit::router(NET, false, NOW - 40 * 60_000);
        f.db.on_database_store(
            [1; 32],
            testkit::store_router_info(&r.info, None),
            true,
            NOW,
        )
        .await
        .result
        .unwrap();
    }
    f.db.publish_router_info(&f.me.info, NOW);
    let dk = SigningPrivateKey::generate();
    let (key, ls) = testkit::lease_set2(&dk, NOW_S - 10, 600, 0);
    f.db.on_database_store(
        [1; 32],
        testkit::store_lease_set(key, StoreKind::LeaseSet2, ls, None),
        true,
        NOW,
    )
    .await
    .result
    .unwrap();
    assert_eq!(f.db.counts(), (31, 1, 1));
    assert!(f.status.readiness().ready, "{:?}", f.status.readiness());
    assert_eq!(
        f.status
            .netdb_router_infos
            .load(std::sync::atomic::Ordering::Relaxed),
        31
    );

    // Ten minutes later the LeaseSet is gone; RouterInfos stay (first hour of uptime).
    let rep = f.db.expire(NOW + 11 * 60_000).await;
    assert_eq!((rep.router_infos, rep.lease_sets), (0, 1));
    assert!(f.db.lease_set(&key).is_none());
    // After an hour of uptime the floodfill limit (1 h) applies: the 30 are 100 min old.
    let rep = f.db.expire(NOW + HOUR).await;
    assert_eq!((rep.router_infos, rep.lease_sets), (30, 0));
    assert_eq!(f.db.counts(), (1, 1, 0), "our own RouterInfo stays");
    assert!(!f.status.readiness().ready);
    assert_eq!(
        counter(
            &f.registry,
            "floodgate_netdb_removed_total",
            &[("kind", "router_info"), ("reason", "expired")]
        ),
        30.0
    );
}

#[tokio::test]
async fn no_router_info_expiry_with_few_entries() {
    let f = fixture(true);
    for _ in 0..10 {
        let r = testkit::router(NET, false, NOW - 50 * 60_000);
        f.db.on_database_store(
            [1; 32],
            testkit::store_router_info(&r.info, None),
            true,
            NOW,
        )
        .await
        .result
        .unwrap();
    }
    let rep = f.db.expire(NOW + 3 * HOUR).await;
    assert_eq!(rep.router_infos, 0, "25 or fewer RouterInfos never expire");
}

/// A LeaseSet2 of a post-quantum destination (proposal 169: crypto type NONE, ML-DSA-87, the
/// largest) with 16 leases and two encryption keys: about 7.9 KiB, over i2pd's old 4096-byte
/// limit and under today's 8192. It is verified, stored and served like any other; the same
/// leaseset with a flipped signature bit is refused.
#[tokio::test]
async fn ml_dsa_87_lease_sets_are_verified_stored_and_served() {
    use floodgate::wire::keys::{CryptoType, SigType};
    use floodgate::wire::lease_set::EncryptionKey;
    use floodgate::wire::{KeysAndCert, Lease2, LeaseSet2, LeaseSet2Header, Mapping};
    use ml_dsa::{ExpandedSigningKey, MlDsa87, SigningKey};
    let f = fixture(true);
    let sk = SigningKey::<MlDsa87>::from_seed(&[0x5d; 32].into());
    let sk: &ExpandedSigningKey<MlDsa87> = sk.expanded_key();
    let public = sk.verifying_key().encode().to_vec();
    let dest =
        KeysAndCert::from_keys(CryptoType::None, &[], SigType::MlDsa87, &public, [0; 32]).unwrap();
    let key = dest.hash();
    let header = LeaseSet2Header::new(dest, NOW_S - 5, 600, 0, None);
    let leases: Vec<Lease2> = (0..16u8)
        .map(|i| Lease2 {
            gateway: [i; 32],
            tunnel_id: 5000 + u32::from(i),
            end_date_secs: NOW_S + 590,
        })
        .collect();
    let keys = [
        EncryptionKey {
            crypto_type: CryptoType::X25519,
            key: vec![0x55; 32],
        },
        // MLKEM768_X25519 (type 6): carried at 32 bytes in LeaseSet2, as the peers publish it.
        EncryptionKey {
            crypto_type: CryptoType::from_code(6),
            key: vec![0x66; 32],
        },
    ];
    let mut ls = LeaseSet2::encode_unsigned(&header, &Mapping::new(), &keys, &leases);
    // Pure ML-DSA with an empty context over the store type byte and the leaseset, as i2pd signs.
    let mut signed = vec![LeaseSet2::STORE_TYPE];
    signed.extend_from_slice(&ls);
    let sig = sk.sign_deterministic(&signed, &[]).unwrap().encode();
    ls.extend_from_slice(&sig);
    assert!(
        ls.len() > 7_800 && ls.len() <= floodgate::netdb::validate::MAX_LEASE_SET_SIZE,
        "{} bytes",
        ls.len()
    );

    let mut forged = ls.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    rejected(
        &f,
        testkit::store_lease_set(key, StoreKind::LeaseSet2, forged, None),
        true,
        NOW,
        "bad_signature",
    )
    .await;

    f.db.on_database_store(
        [1; 32],
        testkit::store_lease_set(key, StoreKind::LeaseSet2, ls.clone(), None),
        true,
        NOW,
    )
    .await
    .result
    .expect("an ML-DSA-87 LeaseSet2 is accepted");
    let requester = [0x5b; 32];
    let o =
        f.db.on_database_lookup(requester, lookup(key, requester, LookupType::LeaseSet), NOW);
    assert_eq!(o.result, LookupResult::Found);
    let I2npBody::DatabaseStore(ds) = direct_reply(&o.actions, requester) else {
        panic!("not a DatabaseStore")
    };
    assert_eq!((ds.key, ds.data), (key, ls));
}

//! Floodfill load: how fast the router under test (a floodfill) stores LeaseSets and answers
//! lookups for them.
//!
//! Router A (this process, fresh identity, one NTCP2 session) sends DatabaseStores of freshly
//! signed LeaseSet2s, each with a reply token so the floodfill acknowledges it with a
//! DeliveryStatus straight back over the session (reply tunnel 0 = "to this router"). Then A
//! looks every one of them up (DatabaseLookup, LeaseSet type, direct reply, no encryption) and
//! checks that the DatabaseStore that comes back carries exactly the bytes stored.
//!
//! The LeaseSets are signed before the clock starts: signing is the bench's cost, not the
//! floodfill's. Verifying them is the floodfill's, and is part of what is measured.

use super::BenchError;
use super::proc::sample;
use super::session::{BenchRouter, FrameReader, Uut, push_i2np_block};
use crate::crypto::SigningPrivateKey;
use crate::netdb::testkit::lease_set2;
use crate::transport::ntcp2::Block;
use crate::tunnel::unix_now_ms;
use crate::wire::Reader;
use crate::wire::i2np::{
    DatabaseLookup, DatabaseStore, DeliveryStatus, LookupType, MessageType, ReplyEncryption,
    StoreKind, StoreReply,
};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Stores or lookups per frame A writes.
const PER_FRAME: usize = 16;

#[derive(Debug, Clone)]
pub struct NetdbParams {
    /// LeaseSets to store, then look up.
    pub entries: usize,
    /// Requests outstanding at once.
    pub window: usize,
    /// A request without an answer after this long counts as unanswered.
    pub timeout: Duration,
    /// Lookups go round the stored entries for this long (at least one full round), so that
    /// the rate is measured over more than a few milliseconds.
    pub lookup_duration: Duration,
    pub uut_pid: Option<u32>,
    pub a_ip: IpAddr,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetdbReport {
    pub uut_hash: String,
    pub entries: usize,
    pub stores_acked: usize,
    pub stores_unanswered: usize,
    pub store_seconds: f64,
    pub stores_per_s: f64,
    pub lookups_sent: usize,
    pub lookups_correct: usize,
    /// A DatabaseStore came back for the key, but not with the bytes stored.
    pub lookups_wrong: usize,
    /// A DatabaseSearchReply came back: the floodfill does not have the entry.
    pub lookups_not_found: usize,
    pub lookups_unanswered: usize,
    pub lookup_seconds: f64,
    pub lookups_per_s: f64,
    pub uut_cpu_store_s: Option<f64>,
    pub uut_cpu_lookup_s: Option<f64>,
}

/// What A's reader hands to the request loop.
enum Reply {
    Ack(u32),
    Store(DatabaseStore),
    NotFound([u8; 32]),
}

async fn read_replies(
    mut reader: FrameReader,
    tx: mpsc::UnboundedSender<Reply>,
    stop: CancellationToken,
) -> Result<(), BenchError> {
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            f = reader.next_frame() => f?,
        };
        let Some(blocks) = frame else {
            return Err(BenchError::Closed("A"));
        };
        for b in blocks {
            let Block::I2np(m) = b else { continue };
            let mut r = Reader::new(&m.body);
            // A reply that does not parse is simply not counted as an answer.
            let reply = match MessageType::from_code(m.msg_type) {
                Some(MessageType::DeliveryStatus) => DeliveryStatus::parse(&mut r)
                    .ok()
                    .map(|d| Reply::Ack(d.msg_id)),
                Some(MessageType::DatabaseStore) => {
                    DatabaseStore::parse(&mut r).ok().map(Reply::Store)
                }
                Some(MessageType::DatabaseSearchReply) => r
                    .array::<32>("DatabaseSearchReply key")
                    .ok()
                    .map(Reply::NotFound),
                _ => None,
            };
            if let Some(reply) = reply
                && tx.send(reply).is_err()
            {
                return Ok(());
            }
        }
    }
}

struct Entry {
    key: [u8; 32],
    bytes: Vec<u8>,
}

/// Run the store phase, then the lookup phase.
pub async fn run(uut: &Uut, p: &NetdbParams) -> Result<NetdbReport, BenchError> {
    if p.entries == 0 || p.window == 0 {
        return Err(BenchError::Params(
            "entries and window must be at least 1".into(),
        ));
    }
    if !uut.floodfill {
        tracing::warn!("the router under test does not publish the floodfill cap");
    }
    let now_s = (unix_now_ms() / 1000) as u32;
    let entries: Vec<Entry> = (0..p.entries)
        .map(|_| {
            let (key, bytes) = lease_set2(&SigningPrivateKey::generate(), now_s, 600, 0);
            Entry { key, bytes }
        })
        .collect();
    let a = BenchRouter::generate(uut.net_id, p.a_ip, 12346)?;
    let (mut w, r) = a.connect(uut).await?;
    let stop = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_replies(r, tx, stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = || p.uut_pid.map(sample).transpose();
    let exp = || (unix_now_ms() / 1000) as u32 + 60;

    // Stores: token i+1 acknowledges entry i.
    let cpu0 = cpu()?;
    let t0 = Instant::now();
    let mut outstanding: HashMap<u32, Instant> = HashMap::new();
    let (mut next, mut acked, mut store_lost) = (0usize, 0usize, 0usize);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while acked + store_lost < p.entries {
        let mut payload = Vec::new();
        while outstanding.len() < p.window && next < p.entries && payload.len() < PER_FRAME * 1024 {
            let e = &entries[next];
            let token = u32::try_from(next + 1)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| BenchError::Params("too many entries".into()))?;
            let msg = DatabaseStore {
                key: e.key,
                kind: StoreKind::LeaseSet2,
                type_reserved_bits: 0,
                reply: Some(StoreReply {
                    token,
                    tunnel_id: 0,
                    gateway: a.hash,
                }),
                data: e.bytes.clone(),
            };
            let mut body = Vec::new();
            msg.write(&mut body)?;
            push_i2np_block(
                &mut payload,
                MessageType::DatabaseStore.code(),
                rand::random(),
                exp(),
                &body,
            );
            outstanding.insert(token.get(), Instant::now());
            next += 1;
        }
        if !payload.is_empty() {
            w.send_payload(&payload).await?;
        }
        tokio::select! {
            m = rx.recv() => match m {
                Some(Reply::Ack(id)) => {
                    if outstanding.remove(&id).is_some() {
                        acked += 1;
                    }
                }
                Some(_) => {}
                None => return Err(BenchError::Closed("A")),
            },
            _ = tick.tick() => {
                let before = outstanding.len();
                outstanding.retain(|_, t| t.elapsed() < p.timeout);
                store_lost += before - outstanding.len();
            }
        }
    }
    let store_seconds = t0.elapsed().as_secs_f64();
    let cpu1 = cpu()?;

    // Lookups, keyed by the entry's key.
    let index: HashMap<[u8; 32], usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.key, i))
        .collect();
    let mut outstanding: HashMap<[u8; 32], Instant> = HashMap::new();
    let (mut sent, mut correct, mut wrong, mut not_found, mut lookup_lost) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let t1 = Instant::now();
    let sending = |sent: usize| sent < p.entries || t1.elapsed() < p.lookup_duration;
    while sending(sent) || !outstanding.is_empty() {
        let mut payload = Vec::new();
        let (mut n, mut skipped) = (0, 0);
        while outstanding.len() < p.window
            && sending(sent)
            && n < PER_FRAME * 8
            && skipped < entries.len()
        {
            let e = &entries[sent % entries.len()];
            sent += 1;
            // Going round again: a key whose last lookup is still unanswered waits its turn
            // (when every key is outstanding, wait for answers).
            if outstanding.contains_key(&e.key) {
                skipped += 1;
                continue;
            }
            let msg = DatabaseLookup {
                key: e.key,
                from: a.hash,
                reply_tunnel: None,
                lookup_type: LookupType::LeaseSet,
                excluded_peers: Vec::new(),
                reply_encryption: ReplyEncryption::None,
                reserved_flag_bits: 0,
            };
            let mut body = Vec::new();
            msg.write(&mut body)?;
            push_i2np_block(
                &mut payload,
                MessageType::DatabaseLookup.code(),
                rand::random(),
                exp(),
                &body,
            );
            outstanding.insert(e.key, Instant::now());
            n += 1;
        }
        if !payload.is_empty() {
            w.send_payload(&payload).await?;
        }
        tokio::select! {
            m = rx.recv() => match m {
                Some(Reply::Store(s)) => {
                    if outstanding.remove(&s.key).is_some() {
                        let ok = index.get(&s.key).is_some_and(|i| entries[*i].bytes == s.data);
                        if ok { correct += 1 } else { wrong += 1 }
                    }
                }
                Some(Reply::NotFound(key)) => {
                    if outstanding.remove(&key).is_some() {
                        not_found += 1;
                    }
                }
                Some(Reply::Ack(_)) => {}
                None => return Err(BenchError::Closed("A")),
            },
            _ = tick.tick() => {
                let before = outstanding.len();
                outstanding.retain(|_, t| t.elapsed() < p.timeout);
                lookup_lost += before - outstanding.len();
            }
        }
    }
    let lookup_seconds = t1.elapsed().as_secs_f64();
    let cpu2 = cpu()?;
    stop.cancel();
    let _ = reader.await;
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let delta = |a: Option<super::proc::ProcSample>, b: Option<super::proc::ProcSample>| {
        a.zip(b).map(|(a, b)| b.cpu_s - a.cpu_s)
    };
    Ok(NetdbReport {
        uut_hash: crate::wire::base64::encode(&uut.hash),
        entries: p.entries,
        stores_acked: acked,
        stores_unanswered: store_lost,
        store_seconds,
        stores_per_s: rate(acked, store_seconds),
        lookups_sent: correct + wrong + not_found + lookup_lost,
        lookups_correct: correct,
        lookups_wrong: wrong,
        lookups_not_found: not_found,
        lookups_unanswered: lookup_lost,
        lookup_seconds,
        lookups_per_s: rate(correct, lookup_seconds),
        uut_cpu_store_s: delta(cpu0, cpu1),
        uut_cpu_lookup_s: delta(cpu1, cpu2),
    })
}

impl NetdbReport {
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2} s"));
        let rows = [
            ("router under test", self.uut_hash.clone()),
            (
                "stores acked / sent",
                format!(
                    "{} / {} ({} unanswered)",
                    self.stores_acked, self.entries, self.stores_unanswered
                ),
            ),
            ("stores/s", format!("{:.0}", self.stores_per_s)),
            (
                "lookups correct / sent",
                format!("{} / {}", self.lookups_correct, self.lookups_sent),
            ),
            (
                "wrong / not found / unanswered",
                format!(
                    "{} / {} / {}",
                    self.lookups_wrong, self.lookups_not_found, self.lookups_unanswered
                ),
            ),
            ("lookups/s (correct)", format!("{:.0}", self.lookups_per_s)),
            ("UUT CPU during stores", opt(self.uut_cpu_store_s)),
            ("UUT CPU during lookups", opt(self.uut_cpu_lookup_s)),
        ];
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<w$}  {v}\n"))
            .collect()
    }
}

//! Persistent netDb in RocksDB at `<data_dir>/netdb`.
//!
//! Layout: column family `router_infos` (router hash -> RouterInfo bytes, uncompressed, exactly
//! as signed), `lease_sets` (store key -> DatabaseStore type byte || LeaseSet bytes) and `meta`
//! (`schema_version` -> u32 big-endian). A database written by a newer floodgate (higher schema
//! version) is refused with an error that names both versions, so a downgrade can never
//! misread or clobber it.
//!
//! Write-behind: the in-memory index is updated at once; disk writes go through a bounded
//! channel to one writer thread, which drains whatever is queued (up to [`MAX_BATCH_OPS`]) into
//! one `WriteBatch` and writes it with `sync = true`, so the WAL is fsynced once per batch, not
//! per entry. Each request can carry a completion sender that fires after the batch containing
//! it is durable; the engine waits for it before it sends a DeliveryStatus, so an acknowledged
//! store survives a crash. A [`Store::barrier`] completes once everything queued before it is
//! durable (used to acknowledge a duplicate whose first copy may still be queued).
//!
//! Option choices (values are ~0.5-3 KiB, keys 32 random bytes, reads are rare because the
//! in-memory index serves every lookup; RocksDB is read in full once at start):
//! - LZ4 on every level: cheap on CPU, and RouterInfos compress (repeated identity padding,
//!   text options); zstd would save a little more disk for noticeably more CPU on 2 cores.
//! - Bloom filters, 10 bits/key (~1% false positives), full (not block-based) filters with
//!   whole-key filtering: point `get`s of absent keys and the deletes' compaction lookups skip
//!   SST files without reading data blocks.
//! - A small shared LRU block cache (8 MiB) with index/filter blocks cached in it: hot reads go
//!   to the index, so a big cache would only duplicate memory.
//! - 4 KiB blocks (the default; a few entries per block suits point reads).
//! - 8 MiB write buffers and a 64 MiB WAL cap: the write rate is a few hundred entries per
//!   second at most, and a bounded WAL keeps recovery after a crash short.
//! - `max_background_jobs = 2`: the target machines have few cores.

use super::EntryKind;
use super::index::Hash;
use super::metrics::NetDbMetrics;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType, IteratorMode, Options,
    WriteBatch, WriteOptions,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};

/// Schema of the stored data; bump when the key or value format changes.
pub const SCHEMA_VERSION: u32 = 1;
pub const CF_ROUTER_INFOS: &str = "router_infos";
pub const CF_LEASE_SETS: &str = "lease_sets";
pub const CF_META: &str = "meta";
const KEY_SCHEMA_VERSION: &[u8] = b"schema_version";
/// Folder under the data directory.
pub const NETDB_DIR: &str = "netdb";

/// Requests queued for the writer before senders wait (back-pressure on the dispatcher).
pub const WRITE_QUEUE_CAPACITY: usize = 4096;
/// Most requests written in one batch.
pub const MAX_BATCH_OPS: usize = 1024;
/// How often the writer refreshes `floodgate_netdb_rocksdb_size_bytes`.
const SIZE_REFRESH: Duration = Duration::from_secs(10);
const BLOCK_CACHE_BYTES: usize = 8 << 20;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("netDb store {path}: {source}")]
    Rocks {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error(
        "netDb store {path} has schema version {found}, this floodgate supports up to \
         {supported}; it was written by a newer floodgate. Run that version, or move the \
         directory away to start with an empty netDb"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("netDb store {path}: schema version record is {len} bytes, expected 4")]
    BadSchemaRecord { path: PathBuf, len: usize },
    #[error("netDb store {path}: column family {cf} is missing")]
    MissingColumnFamily { path: PathBuf, cf: &'static str },
    #[error("netDb store writer has stopped")]
    WriterGone,
    #[error("netDb store write failed: {0}")]
    Write(String),
}

impl EntryKind {
    fn cf(self) -> &'static str {
        match self {
            Self::RouterInfo => CF_ROUTER_INFOS,
            Self::LeaseSet => CF_LEASE_SETS,
        }
    }
}

/// Everything found on disk at open.
#[derive(Debug, Default)]
pub struct StoredEntries {
    /// (router hash, RouterInfo bytes).
    pub router_infos: Vec<(Hash, Vec<u8>)>,
    /// (store key, DatabaseStore type, LeaseSet bytes).
    pub lease_sets: Vec<(Hash, u8, Vec<u8>)>,
    /// Records whose key or value framing is broken (kind, raw key); the caller deletes them.
    pub malformed: Vec<(EntryKind, Vec<u8>)>,
}

enum Op {
    Put {
        kind: EntryKind,
        key: Hash,
        value: Vec<u8>,
    },
    Delete {
        kind: EntryKind,
        key: Vec<u8>,
    },
    Barrier,
}

struct Request {
    op: Op,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Resolves when the write it belongs to is durable (WAL fsynced).
pub struct Durable(oneshot::Receiver<Result<(), String>>);

impl Durable {
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Write(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    /// Blocking wait, for code outside the async runtime.
    pub fn wait_blocking(self) -> Result<(), StoreError> {
        match self.0.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Write(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

/// The RocksDB store with its writer thread.
pub struct Store {
    db: Arc<DB>,
    path: PathBuf,
    tx: Option<mpsc::Sender<Request>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

fn rocks(path: &Path) -> impl Fn(rocksdb::Error) -> StoreError + use<> {
    let path = path.to_path_buf();
    move |source| StoreError::Rocks {
        path: path.clone(),
        source,
    }
}

fn cf_options(cache: &Cache) -> Options {
    let mut block = BlockBasedOptions::default();
    block.set_bloom_filter(10.0, false);
    block.set_whole_key_filtering(true);
    block.set_block_cache(cache);
    block.set_cache_index_and_filter_blocks(true);
    block.set_pin_l0_filter_and_index_blocks_in_cache(true);
    block.set_block_size(4096);
    let mut o = Options::default();
    o.set_block_based_table_factory(&block);
    o.set_compression_type(DBCompressionType::Lz4);
    o.set_write_buffer_size(8 << 20);
    o.set_level_compaction_dynamic_level_bytes(true);
    o
}

impl Store {
    /// Open (or create) `<data_dir>/netdb`, check the schema version, read every entry and start
    /// the writer thread.
    pub fn open(
        data_dir: &Path,
        metrics: &NetDbMetrics,
    ) -> Result<(Self, StoredEntries), StoreError> {
        let path = data_dir.join(NETDB_DIR);
        let err = rocks(&path);
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut db_opts = cf_options(&cache);
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_background_jobs(2);
        db_opts.set_max_total_wal_size(64 << 20);
        db_opts.set_keep_log_file_num(3);

        // Open every column family present (a newer version may have added some) so that the
        // open itself does not fail before we can read the schema version and say why.
        // An error here means there is no database yet.
        let mut names: Vec<String> = DB::list_cf(&Options::default(), &path).unwrap_or_default();
        for cf in [CF_ROUTER_INFOS, CF_LEASE_SETS, CF_META] {
            if !names.iter().any(|n| n == cf) {
                names.push(cf.to_string());
            }
        }
        let descriptors = names
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(n, cf_options(&cache)));
        let db = DB::open_cf_descriptors(&db_opts, &path, descriptors).map_err(&err)?;

        let meta = db
            .cf_handle(CF_META)
            .ok_or_else(|| StoreError::MissingColumnFamily {
                path: path.clone(),
                cf: CF_META,
            })?;
        match db.get_cf(meta, KEY_SCHEMA_VERSION).map_err(&err)? {
            Some(v) => {
                let arr: [u8; 4] =
                    v.as_slice()
                        .try_into()
                        .map_err(|_| StoreError::BadSchemaRecord {
                            path: path.clone(),
                            len: v.len(),
                        })?;
                let found = u32::from_be_bytes(arr);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        path,
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                // Versions below ours would be migrated here; 1 is the first.
            }
            None => {
                let mut wo = WriteOptions::default();
                wo.set_sync(true);
                db.put_cf_opt(meta, KEY_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes(), &wo)
                    .map_err(&err)?;
            }
        }

        let entries = load_all(&db, &path)?;
        let db = Arc::new(db);
        metrics.rocksdb_size_bytes.set(size_bytes(&db) as i64);
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_CAPACITY);
        let writer = {
            let db = db.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name("netdb-writer".into())
                .spawn(move || writer_loop(db, rx, metrics))
                .map_err(|e| StoreError::Write(format!("cannot start writer thread: {e}")))?
        };
        Ok((
            Self {
                db,
                path,
                tx: Some(tx),
                writer: Some(writer),
            },
            entries,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn submit(&self, op: Op, want_done: bool) -> Result<Option<Durable>, StoreError> {
        let tx = self.tx.as_ref().ok_or(StoreError::WriterGone)?;
        let (done, rx) = if want_done {
            let (s, r) = oneshot::channel();
            (Some(s), Some(Durable(r)))
        } else {
            (None, None)
        };
        tx.send(Request { op, done })
            .await
            .map_err(|_| StoreError::WriterGone)?;
        Ok(rx)
    }

    /// Queue a put. With `want_durable`, the returned [`Durable`] resolves once it is fsynced.
    pub async fn put(
        &self,
        kind: EntryKind,
        key: Hash,
        value: Vec<u8>,
        want_durable: bool,
    ) -> Result<Option<Durable>, StoreError> {
        self.submit(Op::Put { kind, key, value }, want_durable)
            .await
    }

    /// Queue a delete.
    pub async fn delete(&self, kind: EntryKind, key: Hash) -> Result<(), StoreError> {
        self.submit(
            Op::Delete {
                kind,
                key: key.to_vec(),
            },
            false,
        )
        .await
        .map(|_| ())
    }

    /// Resolves once everything queued before it is durable.
    pub async fn barrier(&self) -> Result<Durable, StoreError> {
        self.submit(Op::Barrier, true)
            .await?
            .ok_or(StoreError::WriterGone)
    }

    /// Delete records right away in one synced batch (warm-start cleanup, before serving).
    pub fn delete_now(&self, keys: &[(EntryKind, Vec<u8>)]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (kind, key) in keys {
            let cf = self.cf(*kind)?;
            batch.delete_cf(cf, key);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(rocks(&self.path))
    }

    fn cf(&self, kind: EntryKind) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(kind.cf())
            .ok_or_else(|| StoreError::MissingColumnFamily {
                path: self.path.clone(),
                cf: kind.cf(),
            })
    }

    /// Read one record straight from RocksDB (tests and diagnostics; lookups use the index).
    pub fn get(&self, kind: EntryKind, key: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.cf(kind)?;
        self.db.get_cf(cf, key).map_err(rocks(&self.path))
    }

    /// Stop accepting writes, let the writer flush what is queued, and wait for it.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take()
            && w.join().is_err()
        {
            error!("netDb writer thread panicked");
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn size_bytes(db: &DB) -> u64 {
    let mut total = 0u64;
    for cf in [CF_ROUTER_INFOS, CF_LEASE_SETS, CF_META] {
        if let Some(h) = db.cf_handle(cf) {
            for prop in [
                "rocksdb.live-sst-files-size",
                "rocksdb.cur-size-all-mem-tables",
            ] {
                if let Ok(Some(v)) = db.property_int_value_cf(h, prop) {
                    total = total.saturating_add(v);
                }
            }
        }
    }
    total
}

fn load_all(db: &DB, path: &Path) -> Result<StoredEntries, StoreError> {
    let err = rocks(path);
    let mut out = StoredEntries::default();
    let ri_cf = db
        .cf_handle(CF_ROUTER_INFOS)
        .ok_or_else(|| StoreError::MissingColumnFamily {
            path: path.to_path_buf(),
            cf: CF_ROUTER_INFOS,
        })?;
    for item in db.iterator_cf(ri_cf, IteratorMode::Start) {
        let (k, v) = item.map_err(&err)?;
        match <[u8; 32]>::try_from(&k[..]) {
            Ok(key) => out.router_infos.push((key, v.into_vec())),
            Err(_) => out.malformed.push((EntryKind::RouterInfo, k.into_vec())),
        }
    }
    let ls_cf = db
        .cf_handle(CF_LEASE_SETS)
        .ok_or_else(|| StoreError::MissingColumnFamily {
            path: path.to_path_buf(),
            cf: CF_LEASE_SETS,
        })?;
    for item in db.iterator_cf(ls_cf, IteratorMode::Start) {
        let (k, v) = item.map_err(&err)?;
        match (<[u8; 32]>::try_from(&k[..]), v.split_first()) {
            (Ok(key), Some((t, rest))) => out.lease_sets.push((key, *t, rest.to_vec())),
            _ => out.malformed.push((EntryKind::LeaseSet, k.into_vec())),
        }
    }
    Ok(out)
}

fn writer_loop(db: Arc<DB>, mut rx: mpsc::Receiver<Request>, metrics: NetDbMetrics) {
    let mut wo = WriteOptions::default();
    // fsync the WAL as part of every batch write: that is what makes an ack durable.
    wo.set_sync(true);
    let mut last_size = Instant::now();
    let mut reqs: Vec<Request> = Vec::with_capacity(MAX_BATCH_OPS);
    while let Some(first) = rx.blocking_recv() {
        reqs.push(first);
        while reqs.len() < MAX_BATCH_OPS {
            match rx.try_recv() {
                Ok(r) => reqs.push(r),
                Err(_) => break,
            }
        }
        let mut batch = WriteBatch::default();
        let mut missing_cf = false;
        for r in &reqs {
            let (cf_name, put) = match &r.op {
                Op::Put { kind, key, value } => (kind.cf(), Some((key.as_slice(), value))),
                Op::Delete { kind, .. } => (kind.cf(), None),
                Op::Barrier => continue,
            };
            let Some(cf) = db.cf_handle(cf_name) else {
                missing_cf = true;
                continue;
            };
            match (put, &r.op) {
                (Some((k, v)), _) => batch.put_cf(cf, k, v),
                (None, Op::Delete { key, .. }) => batch.delete_cf(cf, key),
                _ => {}
            }
        }
        let result = if missing_cf {
            Err("column family missing".to_string())
        } else if batch.is_empty() {
            Ok(())
        } else {
            let started = Instant::now();
            let r = db.write_opt(batch, &wo).map_err(|e| e.into_string());
            metrics
                .rocksdb_write_seconds
                .observe(started.elapsed().as_secs_f64());
            r
        };
        if let Err(e) = &result {
            error!(error = %e, ops = reqs.len(), "netDb batch write failed; entries stay in memory only");
        } else {
            debug!(ops = reqs.len(), "netDb batch written");
        }
        for r in reqs.drain(..) {
            if let Some(done) = r.done {
                // The waiter may have given up (its task was cancelled); nothing to do then.
                let _ = done.send(result.clone());
            }
        }
        if last_size.elapsed() >= SIZE_REFRESH {
            metrics.rocksdb_size_bytes.set(size_bytes(&db) as i64);
            last_size = Instant::now();
        }
    }
    // Channel closed: everything queued has been written. Flush memtables so the next open
    // does not have to replay the WAL.
    if let Err(e) = db.flush() {
        warn!(error = %e, "netDb flush at close failed; the WAL will be replayed at next open");
    }
    metrics.rocksdb_size_bytes.set(size_bytes(&db) as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn put_delete_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let m = NetDbMetrics::unregistered();
        let (store, loaded) = Store::open(dir.path(), &m).unwrap();
        assert!(loaded.router_infos.is_empty() && loaded.lease_sets.is_empty());
        rt().block_on(async {
            store
                .put(EntryKind::RouterInfo, [1; 32], b"ri-one".to_vec(), false)
                .await
                .unwrap();
            store
                .put(EntryKind::RouterInfo, [2; 32], b"ri-two".to_vec(), false)
                .await
                .unwrap();
            let d = store
                .put(EntryKind::LeaseSet, [3; 32], b"\x03ls".to_vec(), true)
                .await
                .unwrap()
                .unwrap();
            d.wait().await.unwrap();
            store.delete(EntryKind::RouterInfo, [2; 32]).await.unwrap();
            store.barrier().await.unwrap().wait().await.unwrap();
        });
        assert_eq!(
            store.get(EntryKind::RouterInfo, &[1; 32]).unwrap(),
            Some(b"ri-one".to_vec())
        );
        assert!(m.rocksdb_write_seconds.get_sample_count() >= 1);
        store.close();
        let (store, loaded) = Store::open(dir.path(), &m).unwrap();
        assert_eq!(loaded.router_infos, vec![([1; 32], b"ri-one".to_vec())]);
        assert_eq!(loaded.lease_sets, vec![([3; 32], 3u8, b"ls".to_vec())]);
        assert!(loaded.malformed.is_empty());
        drop(store);
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let m = NetDbMetrics::unregistered();
        let (store, _) = Store::open(dir.path(), &m).unwrap();
        let meta = store.db.cf_handle(CF_META).unwrap();
        store
            .db
            .put_cf(meta, KEY_SCHEMA_VERSION, (SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        store.close();
        let e = Store::open(dir.path(), &m).err().expect("must refuse");
        let msg = e.to_string();
        assert!(matches!(
            e,
            StoreError::NewerSchema {
                found: 2,
                supported: 1,
                ..
            }
        ));
        assert!(msg.contains("schema version 2"), "{msg}");
        assert!(msg.contains("supports up to 1"), "{msg}");
    }

    #[test]
    fn malformed_records_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let m = NetDbMetrics::unregistered();
        let (store, _) = Store::open(dir.path(), &m).unwrap();
        let cf = store.db.cf_handle(CF_ROUTER_INFOS).unwrap();
        store.db.put_cf(cf, b"short", b"x").unwrap();
        let cf = store.db.cf_handle(CF_LEASE_SETS).unwrap();
        store.db.put_cf(cf, [9u8; 32], b"").unwrap();
        store.close();
        let (store, loaded) = Store::open(dir.path(), &m).unwrap();
        assert_eq!(loaded.malformed.len(), 2);
        store.delete_now(&loaded.malformed).unwrap();
        store.close();
        let (_, loaded) = Store::open(dir.path(), &m).unwrap();
        assert!(loaded.malformed.is_empty());
    }
}

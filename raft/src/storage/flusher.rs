//! The flusher: one per process, shared by every group. It writes storage
//! changes in the order they were issued and makes them durable with one
//! fsync for everything written meanwhile, whichever groups it came from.
//!
//! - A **write** happens on the caller's thread, under one lock, as one
//!   RocksDB `WriteBatch` without sync: RocksDB keeps the write-ahead log in
//!   memory (manual WAL flush, see `db.rs`), so this is a memtable insert
//!   and costs no system call and no hand-off to another thread. When it
//!   returns the data is readable. Its durability waiter, if any, goes to
//!   the syncer.
//! - The **syncer** thread drains the waiters (up to
//!   [`MAX_WAITERS_PER_SYNC`]), writes out and syncs the write-ahead log
//!   once (`FlushWAL(sync = true)`), then completes every waiter: openraft's
//!   [`IOFlushed`] callback for appends, a oneshot for votes. (Snapshot
//!   records are stored beside it: see `snapshot_store.rs`.)
//!
//! A write without a waiter (the committed log id, a truncation, a purge)
//! is made durable by the next sync, which a later append's waiter asks for.
//!
//! Why write first and sync separately, rather than one `WriteBatch` with
//! `sync = true`: openraft requires appended entries to be *readable* when
//! `append` returns (replication reads them at once) but *durable* only
//! when the callback fires. Writing first gives readability without an
//! in-memory overlay of pending entries, and keeps the leader replicating
//! while its own fsync runs.
//!
//! Why this is safe: every write goes into the one write-ahead log under
//! the lock, so the log's order is the order writes were issued; a waiter
//! is handed to the syncer only after its write, so the sync that
//! completes it covers it and everything written before it. RocksDB
//! recovers the log up to the last intact record (point-in-time
//! recovery), so after a crash the disk holds a prefix of the write order:
//! a truncate or purge issued after an append is never applied without
//! it, and a durable write implies every earlier one is.

use std::io;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use rocksdb::{DB, WriteBatch, WriteOptions};
use tokio::sync::oneshot;

use crate::storage::db::ColumnFamily;
use crate::storage::disk_faults::DiskFaults;
use crate::storage::disk_metrics::DiskMetrics;
use crate::storage::error::StoreError;
use crate::type_config::TypeConfig;

/// Durability waiters queued for the syncer. Past this a writer waits for
/// room: backpressure instead of unbounded memory.
const SYNC_QUEUE_CAPACITY: usize = 4096;
/// Most waiters completed by one WAL sync.
const MAX_WAITERS_PER_SYNC: usize = 4096;

/// One change to the database.
#[derive(Debug)]
pub(crate) enum Op {
    /// Set `key` to `value`.
    Put { cf: ColumnFamily, key: Vec<u8>, value: Vec<u8> },
    /// Delete every key in `[from, to)`.
    DeleteRange { cf: ColumnFamily, from: Vec<u8>, to: Vec<u8> },
}

impl Op {
    fn bytes(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => key.len() + value.len(),
            Op::DeleteRange { from, to, .. } => from.len() + to.len(),
        }
    }
}

/// Who to tell once a write is durable.
pub(crate) enum Durable {
    /// openraft's append callback.
    Flushed(openraft::storage::IOFlushed<TypeConfig>),
    /// A caller awaiting durability (vote, committed).
    Notify(oneshot::Sender<Result<(), StoreError>>),
}

impl Durable {
    fn complete(self, result: Result<(), StoreError>) {
        match self {
            Durable::Flushed(callback) => callback.io_completed(result.map_err(io::Error::from)),
            // The receiver may have given up (its task was cancelled); nothing to tell then.
            Durable::Notify(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// The process's flusher. Stopping (or dropping) it makes later writes
/// fail, syncs what was written and joins the syncer.
pub(crate) struct Flusher {
    db: Arc<DB>,
    /// `None` once stopped. Held while writing, so that writes are in the
    /// log in the order they took it, and each waiter reaches the syncer
    /// after its write.
    waiters: Mutex<Option<std_mpsc::SyncSender<Durable>>>,
    syncer: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the syncer thread over `db`; every WAL sync runs under
    /// `faults` and is timed into `metrics`.
    pub(crate) fn start(db: Arc<DB>, faults: DiskFaults, metrics: DiskMetrics) -> io::Result<Self> {
        let (waiters, waiters_rx) = std_mpsc::sync_channel(SYNC_QUEUE_CAPACITY);
        let syncer = {
            let db = Arc::clone(&db);
            std::thread::Builder::new()
                .name("raft-syncer".into())
                .spawn(move || run_syncer(&db, &faults, &metrics, waiters_rx))?
        };
        Ok(Self { db, waiters: Mutex::new(Some(waiters)), syncer: Some(syncer) })
    }

    /// Writes `ops` now, after every earlier write, so readers see them on
    /// return. They are durable once `durable` (if any) is completed.
    pub(crate) fn write(&self, ops: Vec<Op>, durable: Option<Durable>) -> Result<(), StoreError> {
        let waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(waiters) = waiters.as_ref() else {
            if let Some(durable) = durable {
                durable.complete(Err(StoreError::FlusherStopped));
            }
            return Err(StoreError::FlusherStopped);
        };
        let result = write_batch(&self.db, &ops);
        tracing::trace!(ops = ops.len(), ok = result.is_ok(), "wrote batch");
        match (&result, durable) {
            (_, None) => {}
            (Ok(()), Some(durable)) => {
                if let Err(std_mpsc::SendError(durable)) = waiters.send(durable) {
                    durable.complete(Err(StoreError::FlusherStopped));
                }
            }
            (Err(error), Some(durable)) => durable.complete(Err(error.clone())),
        }
        if let Err(error) = &result {
            tracing::error!(%error, "write failed");
        }
        result
    }

    /// Writes `ops` and returns once they are durable.
    pub(crate) async fn write_durable(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let (durable, durable_rx) = oneshot::channel();
        self.write(ops, Some(Durable::Notify(durable)))?;
        durable_rx.await.map_err(|_| StoreError::FlusherStopped)?
    }

    /// Makes later writes fail with [`StoreError::FlusherStopped`], lets the
    /// syncer sync what is queued, and joins it. Idempotent.
    pub(crate) fn stop(&mut self) {
        // Closing the syncer's queue lets it finish what is queued and exit.
        drop(self.waiters.lock().unwrap_or_else(PoisonError::into_inner).take());
        if let Some(syncer) = self.syncer.take()
            && syncer.join().is_err()
        {
            tracing::error!("the flusher's syncer thread panicked");
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_batch(db: &DB, ops: &[Op]) -> Result<(), StoreError> {
    let bytes: usize = ops.iter().map(Op::bytes).sum();
    let mut batch = WriteBatch::with_capacity_bytes(bytes + 64 * ops.len());
    for op in ops {
        match op {
            Op::Put { cf, key, value } => batch.put_cf(cf.handle(db), key, value),
            Op::DeleteRange { cf, from, to } => batch.delete_range_cf(cf.handle(db), from, to),
        }
    }
    let mut options = WriteOptions::default();
    // Made durable by the syncer's one WAL sync for many writes; see the module docs.
    options.set_sync(false);
    db.write_opt(batch, &options)?;
    Ok(())
}

fn run_syncer(db: &DB, faults: &DiskFaults, metrics: &DiskMetrics, waiters: std_mpsc::Receiver<Durable>) {
    let _span = tracing::info_span!("flusher_syncer").entered();
    let mut taken: Vec<Durable> = Vec::with_capacity(MAX_WAITERS_PER_SYNC);
    while let Ok(first) = waiters.recv() {
        taken.push(first);
        while taken.len() < MAX_WAITERS_PER_SYNC {
            let Ok(waiter) = waiters.try_recv() else { break };
            taken.push(waiter);
        }
        let started = Instant::now();
        let result = faults.sync(|| db.flush_wal(true).map_err(StoreError::from));
        let took = started.elapsed();
        metrics.wal_sync_seconds.observe(took.as_secs_f64());
        let sync_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(waiters = taken.len(), sync_us, ok = result.is_ok(), "synced WAL");
        if let Err(error) = &result {
            tracing::error!(%error, "WAL sync failed");
        }
        for waiter in taken.drain(..) {
            waiter.complete(result.clone());
        }
    }
}

//! The flusher: one per process, shared by every group. It writes storage
//! changes in the order they were issued and makes them durable with one
//! fsync for everything queued, whichever groups it came from.
//!
//! Two threads, so writing never waits for an fsync in progress:
//!
//! - the **writer** drains the request queue (up to [`MAX_REQUESTS_PER_WRITE`]
//!   requests or [`MAX_BYTES_PER_WRITE`] bytes), writes all of it as one
//!   RocksDB `WriteBatch` without sync, answers each request "written" (the
//!   data is now readable), and hands each request's durability waiter to
//!   the syncer;
//! - the **syncer** drains the waiters (up to [`MAX_WAITERS_PER_SYNC`]),
//!   writes out and syncs the write-ahead log once (`FlushWAL(sync = true)`;
//!   RocksDB buffers the log in memory until then), then completes
//!   every waiter: openraft's [`IOFlushed`] callback for appends, a oneshot for
//!   votes and snapshots.
//!
//! A request may also be only submitted ([`Flusher::submit`]): it takes its
//! place in the write order and nobody waits for it (the committed log id).
//!
//! Why write first and sync separately, rather than one `WriteBatch` with
//! `sync = true`: openraft requires appended entries to be *readable* when
//! `append` returns (replication reads them at once) but *durable* only
//! when the callback fires. Writing first gives readability without an
//! in-memory overlay of pending entries, and keeps the leader replicating
//! while its own fsync runs.
//!
//! Why this is safe: all writes go through the writer, in queue order, into
//! the one write-ahead log; a waiter is handed to the syncer only after its
//! write, so the sync that completes it covers it and everything written
//! before it. RocksDB recovers the log up to the last intact record
//! (point-in-time recovery), so after a crash the disk holds a prefix of
//! the write order: a truncate or purge issued after an append is never
//! applied without it, and a durable write implies every earlier one is.

use std::io;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use rocksdb::{DB, WriteBatch, WriteOptions};
use tokio::sync::{mpsc, oneshot};

use crate::storage::db::ColumnFamily;
use crate::storage::disk_faults::DiskFaults;
use crate::storage::error::StoreError;
use crate::type_config::TypeConfig;

/// Requests waiting for the writer. Past this, callers wait (asynchronously)
/// for room: backpressure instead of unbounded memory.
const REQUEST_QUEUE_CAPACITY: usize = 1024;
/// Most requests merged into one `WriteBatch`.
const MAX_REQUESTS_PER_WRITE: usize = 1024;
/// Most bytes merged into one `WriteBatch` (a larger single request, such as
/// a snapshot, is written alone).
const MAX_BYTES_PER_WRITE: usize = 16 << 20;
/// Durability waiters queued for the syncer. Past this the writer waits.
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
    /// A caller awaiting durability (vote, committed, snapshot).
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

/// One caller's changes: written together, in the batch of their turn.
struct Request {
    ops: Vec<Op>,
    bytes: usize,
    written: oneshot::Sender<Result<(), StoreError>>,
    durable: Option<Durable>,
}

/// The process's flusher. Stopping (or dropping) it finishes the queued
/// work and joins both threads.
pub(crate) struct Flusher {
    /// `None` once stopped: closing it stops the writer.
    requests: Option<mpsc::Sender<Request>>,
    threads: Vec<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the writer and syncer threads over `db`; every WAL sync runs
    /// under `faults`.
    pub(crate) fn start(db: Arc<DB>, faults: DiskFaults) -> io::Result<Self> {
        let (requests, requests_rx) = mpsc::channel(REQUEST_QUEUE_CAPACITY);
        let (waiters, waiters_rx) = std_mpsc::sync_channel(SYNC_QUEUE_CAPACITY);
        let syncer = {
            let db = Arc::clone(&db);
            std::thread::Builder::new()
                .name("raft-syncer".into())
                .spawn(move || run_syncer(&db, &faults, waiters_rx))?
        };
        let writer = std::thread::Builder::new()
            .name("raft-writer".into())
            .spawn(move || run_writer(&db, requests_rx, waiters))?;
        Ok(Self { requests: Some(requests), threads: vec![writer, syncer] })
    }

    /// Queues `ops` and returns once they are written, so readers see them.
    /// They are durable once `durable` (if any) is completed. Changes are
    /// written in the order this is called.
    pub(crate) async fn write(&self, ops: Vec<Op>, durable: Option<Durable>) -> Result<(), StoreError> {
        let written = self.queue(ops, durable).await?;
        written.await.map_err(|_| StoreError::FlusherStopped)?
    }

    /// Queues `ops` behind every earlier request and returns without
    /// waiting for the write: for changes that need their place in the
    /// write order but no reader soon (the committed log id), so the caller
    /// never waits on the writer thread.
    pub(crate) async fn submit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.queue(ops, None).await.map(drop)
    }

    /// Queues one request; the receiver hears when it is written.
    async fn queue(
        &self,
        ops: Vec<Op>,
        durable: Option<Durable>,
    ) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let (written, written_rx) = oneshot::channel();
        let bytes = ops.iter().map(Op::bytes).sum();
        let request = Request { ops, bytes, written, durable };
        let sent = match &self.requests {
            Some(requests) => requests.send(request).await.map_err(|mpsc::error::SendError(request)| request),
            None => Err(request),
        };
        if let Err(request) = sent {
            if let Some(durable) = request.durable {
                durable.complete(Err(StoreError::FlusherStopped));
            }
            return Err(StoreError::FlusherStopped);
        }
        Ok(written_rx)
    }

    /// Writes `ops` and returns once they are durable.
    pub(crate) async fn write_durable(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let (durable, durable_rx) = oneshot::channel();
        self.write(ops, Some(Durable::Notify(durable))).await?;
        durable_rx.await.map_err(|_| StoreError::FlusherStopped)?
    }
}

impl Flusher {
    /// Finishes what is queued and joins both threads. Writes after this
    /// fail with [`StoreError::FlusherStopped`]. Idempotent.
    pub(crate) fn stop(&mut self) {
        // Closing the queue lets the writer finish what is queued and exit,
        // which closes the syncer's queue in turn.
        drop(self.requests.take());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a flusher thread panicked");
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_writer(db: &DB, mut requests: mpsc::Receiver<Request>, waiters: std_mpsc::SyncSender<Durable>) {
    let _span = tracing::info_span!("flusher_writer").entered();
    let mut taken: Vec<Request> = Vec::with_capacity(MAX_REQUESTS_PER_WRITE);
    while let Some(first) = requests.blocking_recv() {
        let mut bytes = first.bytes;
        taken.push(first);
        while taken.len() < MAX_REQUESTS_PER_WRITE && bytes < MAX_BYTES_PER_WRITE {
            let Ok(request) = requests.try_recv() else { break };
            bytes += request.bytes;
            taken.push(request);
        }
        let result = write_batch(db, &taken, bytes);
        tracing::trace!(requests = taken.len(), bytes, ok = result.is_ok(), "wrote batch");
        if let Err(error) = &result {
            tracing::error!(%error, "write failed");
        }
        for request in taken.drain(..) {
            // The caller may have been cancelled; its durability waiter still counts.
            let _ = request.written.send(result.clone());
            let Some(durable) = request.durable else { continue };
            match &result {
                Ok(()) => {
                    if let Err(std_mpsc::SendError(durable)) = waiters.send(durable) {
                        durable.complete(Err(StoreError::FlusherStopped));
                    }
                }
                Err(error) => durable.complete(Err(error.clone())),
            }
        }
    }
}

fn write_batch(db: &DB, requests: &[Request], bytes: usize) -> Result<(), StoreError> {
    let mut batch = WriteBatch::with_capacity_bytes(bytes + 64 * requests.len());
    for op in requests.iter().flat_map(|request| &request.ops) {
        match op {
            Op::Put { cf, key, value } => batch.put_cf(cf.handle(db), key, value),
            Op::DeleteRange { cf, from, to } => batch.delete_range_cf(cf.handle(db), from, to),
        }
    }
    let mut options = WriteOptions::default();
    // Made durable by the syncer's one WAL sync for many batches; see the module docs.
    options.set_sync(false);
    db.write_opt(batch, &options)?;
    Ok(())
}

fn run_syncer(db: &DB, faults: &DiskFaults, waiters: std_mpsc::Receiver<Durable>) {
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
        let sync_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(waiters = taken.len(), sync_us, ok = result.is_ok(), "synced WAL");
        if let Err(error) = &result {
            tracing::error!(%error, "WAL sync failed");
        }
        for waiter in taken.drain(..) {
            waiter.complete(result.clone());
        }
    }
}

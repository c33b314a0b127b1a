//! WatchLevels: the current levels, then every change as it is applied.
//!
//! A watch follows this replica's applied index (openraft's data metrics
//! watch channel, `last_applied`). Each time it moves, the watcher reads its
//! levels from the applied ledger and sends those that differ from what it
//! last sent, in `(warehouse, sku)` order, stamped with the index they were
//! read at. Nothing is buffered per entry: a watcher that falls behind
//! skips straight to the latest state, and several changes of one level
//! between two reads arrive as one (its latest value).
//!
//! **Cost:** every applied entry costs each watcher a read of its covered
//! levels, O(watched levels) under the ledger's read lock, however little
//! the entry changed. That is why a watch should name its SKUs; a watch of
//! every SKU of a big warehouse is as costly as a full level listing per
//! entry. [`MAX_WATCHERS`] bounds the total.
//!
//! A watcher whose client does not read fills its buffer
//! ([`WATCH_BUFFER`] updates) and is ended with `RESOURCE_EXHAUSTED`: it
//! should watch again (and start from a fresh snapshot). The watch ends when
//! the client goes away or the replica stops (`UNAVAILABLE`).

use std::collections::BTreeMap;
use std::sync::Arc;

use ledger::ids::{Sku, WarehouseId};
use ledger::stock::StockLevel;
use openraft::async_runtime::WatchReceiver;
use openraft::metrics::RaftDataMetrics;
use openraft::type_config::alias::WatchReceiverOf;
use protos::warehouse::{LevelUpdate, WatchLevelsRequest};
use raft::TypeConfig;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::levels::{Level, LevelQuery};
use crate::api::ApiContext;
use crate::api::convert::stock::stock_level;
use crate::auth::Principal;
use crate::region::{Consistency, Read};

/// Live updates one watcher may have unread before it is ended as too
/// slow.
pub const WATCH_BUFFER: usize = 1_024;

/// Most level watches one node serves at once; more are refused with
/// `RESOURCE_EXHAUSTED`.
pub const MAX_WATCHERS: usize = 1_024;

/// What a watch's stream yields.
type Update = Result<LevelUpdate, Status>;

/// This replica's applied progress, as openraft publishes it.
type Applied = WatchReceiverOf<TypeConfig, RaftDataMetrics<TypeConfig>>;

/// Serves WatchLevels: reads the opening snapshot (linearizably, so it
/// includes every acknowledged write), then hands the stream to a task that
/// follows the applied index.
pub(super) async fn watch_levels(
    ctx: &ApiContext,
    watchers: &Arc<Semaphore>,
    principal: &Principal,
    request: WatchLevelsRequest,
) -> Result<ReceiverStream<Update>, Status> {
    principal.may_read_warehouse(&request.warehouse_id)?;
    let query = LevelQuery::of(&request.warehouse_id, &request.skus)?;
    let permit = Arc::clone(watchers).try_acquire_owned().map_err(|_| {
        Status::resource_exhausted(format!("this node already serves {MAX_WATCHERS} level watches; retry later"))
    })?;
    let mut applied = ctx.region.raft().data_metrics();
    // Mark the current progress seen before reading the snapshot: whatever
    // applies after the read wakes the follower, so no change is missed.
    drop(applied.borrow_and_update());
    let snapshot = query.read(ctx, Consistency::Linearizable).await?;
    // One slot more than the buffer, kept for the status that ends the watch.
    let (sender, receiver) = mpsc::channel(WATCH_BUFFER + 1);
    let watcher = Watcher { query, sent: BTreeMap::new(), sender };
    tokio::spawn(follow(ctx.clone(), watcher, snapshot, applied, permit));
    Ok(ReceiverStream::new(receiver))
}

/// Sends the snapshot, then the changes after each applied entry, until the
/// watch ends. Holds its watcher permit while it runs.
#[tracing::instrument(skip_all, fields(group = %ctx.region.group(), node = ctx.region.node_id()))]
async fn follow(
    ctx: ApiContext,
    mut watcher: Watcher,
    snapshot: Read<Vec<Level>>,
    mut applied: Applied,
    _permit: OwnedSemaphorePermit,
) {
    let mut read_index = snapshot.applied_index;
    if watcher.open(snapshot).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            () = watcher.sender.closed() => return,
            changed = applied.changed() => {
                if changed.is_err() {
                    watcher.end(Status::unavailable("the replica stopped; watch again"));
                    return;
                }
            }
        }
        let last_applied = applied.borrow_watched().last_applied.map_or(0, |log_id| log_id.index);
        if last_applied <= read_index {
            continue;
        }
        let read = match watcher.query.read(&ctx, Consistency::Stale).await {
            Ok(read) => read,
            Err(status) => {
                watcher.end(status);
                return;
            }
        };
        read_index = read.applied_index;
        if watcher.changes(read).is_err() {
            tracing::debug!("level watch ended: client gone or too slow");
            return;
        }
    }
}

/// The watch has ended: the client went away, or it was told why.
#[derive(Debug, PartialEq, Eq)]
struct Ended;

/// One watch: what it covers, what it last sent, and where to.
#[derive(Debug)]
struct Watcher {
    query: LevelQuery,
    /// The last level sent for each `(warehouse, sku)`.
    sent: BTreeMap<(WarehouseId, Sku), StockLevel>,
    sender: mpsc::Sender<Update>,
}

impl Watcher {
    /// Sends every covered level as the snapshot. Waits for the client as
    /// long as it takes: a snapshot is larger than the buffer when many
    /// levels are covered, and it must arrive whole.
    async fn open(&mut self, snapshot: Read<Vec<Level>>) -> Result<(), Ended> {
        for (warehouse, sku, level) in snapshot.value {
            let update = update(snapshot.applied_index, &warehouse, &sku, &level, true);
            self.sender.send(Ok(update)).await.map_err(|_| Ended)?;
            self.sent.insert((warehouse, sku), level);
        }
        Ok(())
    }

    /// Sends each level of `read` that differs from the last one sent (a
    /// level not sent before counts as zeros). Never waits: with the buffer
    /// full, the watch ends with `RESOURCE_EXHAUSTED`.
    fn changes(&mut self, read: Read<Vec<Level>>) -> Result<(), Ended> {
        for (warehouse, sku, level) in read.value {
            let key = (warehouse, sku);
            if self.sent.get(&key).copied().unwrap_or_default() == level {
                self.sent.entry(key).or_insert(level);
                continue;
            }
            // Only this task sends, so the free slots can only grow between
            // this check and the send.
            if self.sender.capacity() <= 1 {
                self.end(Status::resource_exhausted(format!(
                    "the watcher fell {WATCH_BUFFER} updates behind; watch again"
                )));
                return Err(Ended);
            }
            let update = update(read.applied_index, &key.0, &key.1, &level, false);
            self.sender.try_send(Ok(update)).map_err(|_| Ended)?;
            self.sent.insert(key, level);
        }
        Ok(())
    }

    /// Ends the stream with `status`, into the slot kept for it.
    fn end(&self, status: Status) {
        // A client that is gone needs no reason.
        let _ = self.sender.try_send(Err(status));
    }
}

fn update(applied_index: u64, warehouse: &WarehouseId, sku: &Sku, level: &StockLevel, snapshot: bool) -> LevelUpdate {
    LevelUpdate { applied_index, level: Some(stock_level(warehouse, sku, level)), snapshot }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(on_hand: u64) -> StockLevel {
        StockLevel { on_hand, ..StockLevel::default() }
    }

    fn read(applied_index: u64, levels: &[(&str, &str, u64)]) -> Read<Vec<Level>> {
        let value = levels.iter().map(|(w, s, on_hand)| ((*w).into(), (*s).into(), level(*on_hand))).collect();
        Read { value, applied_index }
    }

    fn watcher(buffer: usize) -> (Watcher, mpsc::Receiver<Update>) {
        let (sender, receiver) = mpsc::channel(buffer + 1);
        let query = LevelQuery { warehouse: None, skus: Vec::new() };
        (Watcher { query, sent: BTreeMap::new(), sender }, receiver)
    }

    /// Everything queued: `(index, sku, on_hand, snapshot)` or the error code.
    fn drain(receiver: &mut mpsc::Receiver<Update>) -> Vec<Result<(u64, String, u64, bool), tonic::Code>> {
        let mut out = Vec::new();
        while let Ok(update) = receiver.try_recv() {
            out.push(
                update
                    .map(|u| {
                        let level = u.level.unwrap();
                        (u.applied_index, level.sku, level.on_hand, u.snapshot)
                    })
                    .map_err(|status| status.code()),
            );
        }
        out
    }

    #[tokio::test]
    async fn the_snapshot_comes_first_then_only_changes() {
        let (mut watcher, mut receiver) = watcher(8);
        watcher.open(read(5, &[("wh", "a", 1), ("wh", "b", 0)])).await.unwrap();
        assert_eq!(drain(&mut receiver), [Ok((5, "a".into(), 1, true)), Ok((5, "b".into(), 0, true))]);
        watcher.changes(read(6, &[("wh", "a", 1), ("wh", "b", 2), ("wh", "c", 0)])).unwrap();
        assert_eq!(drain(&mut receiver), [Ok((6, "b".into(), 2, false))]);
        watcher.changes(read(7, &[("wh", "a", 1), ("wh", "b", 2), ("wh", "c", 3)])).unwrap();
        assert_eq!(drain(&mut receiver), [Ok((7, "c".into(), 3, false))]);
        watcher.changes(read(8, &[("wh", "a", 1), ("wh", "b", 2), ("wh", "c", 3)])).unwrap();
        assert_eq!(drain(&mut receiver), []);
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_ended_with_resource_exhausted() {
        let (mut watcher, mut receiver) = watcher(2);
        watcher.open(read(1, &[])).await.unwrap();
        assert_eq!(watcher.changes(read(2, &[("wh", "a", 1), ("wh", "b", 1), ("wh", "c", 1)])), Err(Ended));
        assert_eq!(
            drain(&mut receiver),
            [Ok((2, "a".into(), 1, false)), Ok((2, "b".into(), 1, false)), Err(tonic::Code::ResourceExhausted)]
        );
    }

    #[tokio::test]
    async fn a_watch_whose_client_left_ends() {
        let (mut watcher, receiver) = watcher(2);
        drop(receiver);
        assert_eq!(watcher.open(read(1, &[("wh", "a", 1)])).await, Err(Ended));
        assert_eq!(watcher.changes(read(2, &[("wh", "a", 2)])), Err(Ended));
    }
}

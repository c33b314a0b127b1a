//! [`LogStore`]: one group's Raft log and vote, in the shared database.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::OptionalSend;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use rocksdb::ReadOptions;
use serde::de::DeserializeOwned;

use crate::group::GroupId;
use crate::storage::Shared;
use crate::storage::codec::{decode, encode};
use crate::storage::db::ColumnFamily;
use crate::storage::entry_cache::{ENTRY_CACHE_BYTES, EntryCache};
use crate::storage::error::StoreError;
use crate::storage::flusher::{Durable, Op};
use crate::storage::keys::{GroupKeys, MetaField};
use crate::type_config::{Entry, LogId, TypeConfig, Vote};

/// Most entry bytes [`RaftLogReader::limited_get_log_entries`] returns at
/// once (at least one entry, however large), so one replication message
/// stays bounded.
const MAX_READ_BYTES: usize = 4 << 20;

/// One group's Raft log storage: entries, vote, committed and last purged
/// log ids, under the group's key prefix in the process-wide database.
///
/// Cheap to clone; a clone is also the group's log reader, and shares the
/// [`EntryCache`] the newest entries are read from. Writes go
/// through the process's flusher, in call order: an append's entries are
/// readable when `append` returns and durable when openraft's callback
/// fires; a vote is durable when its save returns; a committed id is
/// durable with the next sync (see the crate docs on durability).
///
/// Open one per group per process: two Raft instances on one group's keys
/// would corrupt its log.
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
    group: GroupId,
    keys: Arc<GroupKeys>,
    appended: Arc<AtomicU64>,
    cache: Arc<Mutex<EntryCache>>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("group", &self.group).finish_non_exhaustive()
    }
}

impl LogStore {
    pub(crate) fn new(shared: Arc<Shared>, group: GroupId) -> Self {
        let keys = Arc::new(GroupKeys::new(&group));
        Self { shared, group, keys, appended: Arc::default(), cache: Arc::default() }
    }

    fn cache(&self) -> MutexGuard<'_, EntryCache> {
        // The cache is consistent between calls: a panic cannot leave it half-changed.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The group this log belongs to.
    pub fn group(&self) -> &GroupId {
        &self.group
    }

    /// Bytes of entries (as stored) appended to the group's log through
    /// this store and its clones since it was opened: how fast the log
    /// grows, which the snapshot schedule weighs against a snapshot's size.
    pub fn appended_bytes(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// The last log id purged from the group's log, if any: the stored
    /// snapshot must reach at least this far.
    pub(crate) fn last_purged(&self) -> Result<Option<LogId>, StoreError> {
        self.get_meta(MetaField::LastPurged, "last purged log id")
    }

    fn get_meta<T: DeserializeOwned>(&self, field: MetaField, what: &'static str) -> Result<Option<T>, StoreError> {
        let db = &self.shared.db;
        match db.get_pinned_cf(ColumnFamily::Meta.handle(db), self.keys.meta(field))? {
            Some(bytes) => decode(what, &self.group, &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn put_meta_durable<T: serde::Serialize>(&self, field: MetaField, value: &T) -> Result<(), StoreError> {
        let op = Op::Put { cf: ColumnFamily::Meta, key: self.keys.meta(field), value: encode(value) };
        self.shared.flusher.write_durable(vec![op]).await
    }

    /// The entries in `[start, end)` (`end` `None`: to the last), stopping
    /// after `max_bytes` of entries (but never before the first).
    fn read_entries(&self, start: u64, end: Option<u64>, max_bytes: usize) -> Result<Vec<Entry>, StoreError> {
        if let Some(entries) = self.cache().get(start, end, max_bytes) {
            return Ok(entries);
        }
        let db = &self.shared.db;
        let mut options = ReadOptions::default();
        options.set_iterate_upper_bound(end.map_or_else(|| self.keys.log_end(), |end| self.keys.log(end)));
        let mut iter = db.raw_iterator_cf_opt(ColumnFamily::Logs.handle(db), options);
        iter.seek(self.keys.log(start));
        let mut entries: Vec<Entry> = Vec::new();
        let mut bytes = 0;
        while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
            let entry: Entry = decode("log entry", &self.group, value)?;
            let index = self.keys.log_index(key);
            let expected = entries.last().map_or(index, |prev| Some(prev.index() + 1));
            if index != Some(entry.index()) || index != expected {
                return Err(self.corrupt_log(format!(
                    "entry {} stored under index {index:?}, expected {expected:?}",
                    entry.index()
                )));
            }
            bytes += value.len();
            entries.push(entry);
            if bytes >= max_bytes {
                break;
            }
            iter.next();
        }
        iter.status()?;
        Ok(entries)
    }

    /// The log id of the last entry present.
    fn last_entry_id(&self) -> Result<Option<LogId>, StoreError> {
        let db = &self.shared.db;
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(self.keys.log(0));
        let mut iter = db.raw_iterator_cf_opt(ColumnFamily::Logs.handle(db), options);
        iter.seek_for_prev(self.keys.log(u64::MAX));
        let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
            iter.status()?;
            return Ok(None);
        };
        let entry: Entry = decode("log entry", &self.group, value)?;
        if self.keys.log_index(key) != Some(entry.index()) {
            return Err(self.corrupt_log(format!("last entry {} stored under another index", entry.index())));
        }
        Ok(Some(entry.log_id()))
    }

    fn corrupt_log(&self, detail: String) -> StoreError {
        StoreError::Corrupt { what: "log", group: self.group.clone(), detail }
    }
}

/// `[start, end)` of a range of indexes; `end` `None` means unbounded.
fn index_bounds(range: &impl RangeBounds<u64>) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&start) => start,
        Bound::Excluded(&start) => start.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&end) => end.checked_add(1),
        Bound::Excluded(&end) => Some(end),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    #[tracing::instrument(level = "trace", skip_all, fields(group = %self.group, range = ?range))]
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = index_bounds(&range);
        Ok(self.read_entries(start, end, usize::MAX)?)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.get_meta(MetaField::Vote, "vote")?)
    }

    #[tracing::instrument(level = "trace", skip_all, fields(group = %self.group, start = start, end = end))]
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry>, io::Error> {
        Ok(self.read_entries(start, Some(end), MAX_READ_BYTES)?)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged_log_id = self.last_purged()?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, vote = %vote))]
    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        Ok(self.put_meta_durable(MetaField::Vote, vote).await?)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, index = committed.as_ref().map(|id| id.index)))]
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // Written in write order, its sync not waited for: openraft awaits
        // this in its core loop before every apply, so waiting for a sync
        // here would stall the whole group on each commit. The next append's
        // sync makes it durable; see the crate docs on durability for why a
        // committed id a little behind is safe.
        let op =
            Op::Put { cf: ColumnFamily::Meta, key: self.keys.meta(MetaField::Committed), value: encode(&committed) };
        Ok(self.shared.flusher.write(vec![op], None)?)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        // Every save returned after its write: the last one is readable.
        Ok(self.get_meta::<Option<LogId>>(MetaField::Committed, "committed log id")?.flatten())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, index))]
    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut ops = Vec::new();
        let mut cached = Vec::new();
        let mut last: Option<u64> = None;
        let mut bytes = 0_u64;
        for entry in entries {
            let index = entry.index();
            debug_assert!(last.is_none_or(|last| last + 1 == index), "appended entries are consecutive");
            let value = encode(&entry);
            bytes += value.len() as u64;
            cached.push((entry, value.len()));
            ops.push(Op::Put { cf: ColumnFamily::Logs, key: self.keys.log(index), value });
            last = Some(index);
        }
        self.appended.fetch_add(bytes, Ordering::Relaxed);
        tracing::Span::current().record("index", last);
        // Returns once written (readable); the callback fires once durable.
        self.shared.flusher.write(ops, Some(Durable::Flushed(callback)))?;
        self.cache().append(cached, ENTRY_CACHE_BYTES);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, index = last_log_id.as_ref().map(|id| id.index)))]
    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index + 1);
        self.cache().truncate_from(from);
        let op = Op::DeleteRange { cf: ColumnFamily::Logs, from: self.keys.log(from), to: self.keys.log_end() };
        // Not waited for: a later durable write (the next append's) makes
        // it durable too, and until then the removed entries were never
        // acknowledged by this node.
        Ok(self.shared.flusher.write(vec![op], None)?)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, index = upto.index))]
    async fn purge(&mut self, upto: LogId) -> Result<(), io::Error> {
        self.cache().purge_upto(upto.index);
        let to = upto.index.checked_add(1).map_or_else(|| self.keys.log_end(), |end| self.keys.log(end));
        // One batch: the last-purged id and the deletion land together.
        // Not waited for: losing a purge in a crash only leaves entries the
        // snapshot already covers, and openraft purges them again.
        let ops = vec![
            Op::Put { cf: ColumnFamily::Meta, key: self.keys.meta(MetaField::LastPurged), value: encode(&upto) },
            Op::DeleteRange { cf: ColumnFamily::Logs, from: self.keys.log(0), to },
        ];
        Ok(self.shared.flusher.write(ops, None)?)
    }
}

#[cfg(test)]
mod tests {
    use super::index_bounds;

    #[test]
    fn converts_range_bounds() {
        assert_eq!(index_bounds(&(3..7)), (3, Some(7)));
        assert_eq!(index_bounds(&(3..=7)), (3, Some(8)));
        assert_eq!(index_bounds(&(3..)), (3, None));
        assert_eq!(index_bounds(&(..)), (0, None));
        assert_eq!(index_bounds(&(..=u64::MAX)), (0, None));
    }
}

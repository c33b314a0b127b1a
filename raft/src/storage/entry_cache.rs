//! [`EntryCache`]: the newest entries of one group's log, kept in memory
//! as they were appended.
//!
//! Every entry is read back soon after it is appended: by the state
//! machine to apply it, and on a leader by each follower's replication.
//! Reading it from RocksDB decodes it again, allocating every id of every
//! command, once per reader (in `perf` under load this was 5-7% of each
//! replica's CPU). Entries share their commands (`LedgerBatch` holds them
//! behind an `Arc`), so serving a read from here copies no command.
//!
//! The cache holds a contiguous run of indexes ending at the log's last
//! entry, or nothing: every append, truncation and purge of the log goes
//! through it, and a read it cannot serve whole (older entries, a node
//! just restarted) goes to RocksDB.

use std::collections::VecDeque;

use openraft::entry::RaftEntry;

use crate::type_config::Entry;

/// Most bytes of entries (as encoded in the log) one group's cache keeps:
/// enough for every entry between append, commit and apply under load
/// (a few thousand entries of a few kilobytes), little beside a ledger's
/// state.
pub(crate) const ENTRY_CACHE_BYTES: usize = 16 << 20;

/// The newest entries of one group's log, oldest first, each with its
/// encoded size.
#[derive(Debug, Default)]
pub(crate) struct EntryCache {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl EntryCache {
    /// Index of the first cached entry.
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(entry, _)| entry.index())
    }

    /// Index of the last cached entry.
    fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|(entry, _)| entry.index())
    }

    /// Records entries just appended to the log (consecutive, each with its
    /// encoded size). openraft appends only after the log's last entry
    /// (conflicting entries are truncated first), so entries that do not
    /// follow the cached ones come after a purge past the whole log (a
    /// snapshot installed) and start the cache afresh. The oldest are
    /// dropped beyond `max_bytes`.
    pub(crate) fn append(&mut self, appended: Vec<(Entry, usize)>, max_bytes: usize) {
        let Some((first, _)) = appended.first() else { return };
        if let Some(last) = self.last_index() {
            debug_assert!(first.index() > last, "entry {} appended over cached entries", first.index());
            if last.checked_add(1) != Some(first.index()) {
                self.clear();
            }
        }
        for (entry, size) in appended {
            self.bytes += size;
            self.entries.push_back((entry, size));
        }
        while self.bytes > max_bytes {
            let Some((_, size)) = self.entries.pop_front() else { break };
            self.bytes -= size;
        }
    }

    /// Forgets the entries from `index` on: the log was truncated there.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        while self.last_index().is_some_and(|last| last >= index) {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    /// Forgets the entries up to and including `index`: the log was purged there.
    pub(crate) fn purge_upto(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first <= index) {
            if let Some((_, size)) = self.entries.pop_front() {
                self.bytes -= size;
            }
        }
    }

    /// Forgets everything.
    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The entries in `[start, end)` (`end` `None`: to the last), stopping
    /// after `max_bytes` (but never before the first), as the log would
    /// return them; `None` when the cache does not start at or before
    /// `start`, so the log must be read.
    pub(crate) fn get(&self, start: u64, end: Option<u64>, max_bytes: usize) -> Option<Vec<Entry>> {
        let first = self.first_index()?;
        if start < first {
            return None;
        }
        let skip = usize::try_from(start - first).unwrap_or(usize::MAX);
        let mut entries = Vec::new();
        let mut bytes = 0;
        for (entry, size) in self.entries.iter().skip(skip) {
            if end.is_some_and(|end| entry.index() >= end) {
                break;
            }
            entries.push(entry.clone());
            bytes += size;
            if bytes >= max_bytes {
                break;
            }
        }
        Some(entries)
    }
}

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;
    use openraft::impls::leader_id_adv::LeaderId;

    use super::EntryCache;
    use crate::type_config::{Entry, LogId};

    fn entry(index: u64) -> (Entry, usize) {
        (Entry::new_blank(LogId::new(LeaderId { term: 1, node_id: 1 }, index)), 10)
    }

    fn appended(range: std::ops::Range<u64>) -> Vec<(Entry, usize)> {
        range.map(entry).collect()
    }

    fn indexes(entries: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        entries.map(|entries| entries.iter().map(RaftEntry::index).collect())
    }

    #[test]
    fn serves_reads_it_covers_and_defers_the_rest_to_the_log() {
        let mut cache = EntryCache::default();
        assert_eq!(indexes(cache.get(1, None, usize::MAX)), None, "empty: read the log");
        cache.append(appended(5..10), usize::MAX);
        assert_eq!(indexes(cache.get(4, Some(7), usize::MAX)), None, "starts before the cache");
        assert_eq!(indexes(cache.get(5, Some(7), usize::MAX)), Some(vec![5, 6]));
        assert_eq!(indexes(cache.get(8, None, usize::MAX)), Some(vec![8, 9]));
        assert_eq!(indexes(cache.get(8, Some(100), usize::MAX)), Some(vec![8, 9]), "the log ends at 9 too");
        assert_eq!(indexes(cache.get(10, None, usize::MAX)), Some(vec![]), "past the end, as the log");
        assert_eq!(indexes(cache.get(5, None, 25)), Some(vec![5, 6, 7]), "stops after the byte limit");
        assert_eq!(indexes(cache.get(5, None, 1)), Some(vec![5]), "always at least one");
    }

    #[test]
    fn follows_truncation_purge_and_gaps() {
        let mut cache = EntryCache::default();
        cache.append(appended(1..10), usize::MAX);
        cache.truncate_from(7);
        assert_eq!(indexes(cache.get(1, None, usize::MAX)), Some(vec![1, 2, 3, 4, 5, 6]));
        cache.append(appended(7..9), usize::MAX);
        cache.purge_upto(3);
        assert_eq!(indexes(cache.get(4, None, usize::MAX)), Some(vec![4, 5, 6, 7, 8]));
        assert_eq!(cache.bytes, 50);
        // Entries that do not follow (a snapshot installed past the log) start afresh.
        cache.append(appended(20..22), usize::MAX);
        assert_eq!(indexes(cache.get(4, None, usize::MAX)), None);
        assert_eq!(indexes(cache.get(20, None, usize::MAX)), Some(vec![20, 21]));
        cache.truncate_from(0);
        assert_eq!((indexes(cache.get(20, None, usize::MAX)), cache.bytes), (None, 0));
    }

    #[test]
    fn keeps_the_newest_entries_within_its_bytes() {
        let mut cache = EntryCache::default();
        cache.append(appended(1..6), 30);
        assert_eq!(indexes(cache.get(3, None, usize::MAX)), Some(vec![3, 4, 5]));
        assert_eq!(indexes(cache.get(2, None, usize::MAX)), None);
        assert_eq!(cache.bytes, 30);
    }
}

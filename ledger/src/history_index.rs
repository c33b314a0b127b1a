//! [`HistoryIndex`]: where each item of a [`crate::history::History`] is,
//! by its id, without keeping the id.
//!
//! Every command looks up its id among the idempotency records, and every
//! reservation its hold id among the ended holds: millions of items, kept
//! a day. Keyed by the ids themselves, the tables kept every id alive as
//! its own heap string, two per command: with the history encoded, 2
//! million reservations took 312 bytes a command that way, 197 this way
//! (an example run like `cargo bench -p ledger --bench history`). The
//! ids are in the history's bytes already; the table keeps a 64-bit hash
//! of each and its position, and a lookup that finds the hash reads the
//! item to compare ids. Lookups of ids the history does not hold (nearly
//! all of them: a retry or a reused hold id is rare) end at the hash.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::history::{History, Position};
use crate::sharded_map::ShardedMap;

/// Positions of a history's items by a hash of their ids. Derived from the
/// history and rebuilt with it, never replicated: the hash's seed differs
/// per process, and only the positions found, never the hashes, decide
/// anything.
#[derive(Clone, Debug)]
pub(crate) struct HistoryIndex<Id> {
    hasher: foldhash::fast::RandomState,
    /// The position of each hash held by one item.
    single: ShardedMap<u64, Position>,
    /// The positions of each hash held by several items, oldest first: two
    /// ids of equal hash (one in 2^64 pairs), or one id twice in a damaged
    /// history that the audit is about to refuse.
    shared: HashMap<u64, Vec<Position>>,
    ids: PhantomData<fn(&Id)>,
}

impl<Id> Default for HistoryIndex<Id> {
    fn default() -> Self {
        Self {
            hasher: foldhash::fast::RandomState::default(),
            single: ShardedMap::default(),
            shared: HashMap::new(),
            ids: PhantomData,
        }
    }
}

impl<Id: Hash> HistoryIndex<Id> {
    /// Records that the item with `id` is at `position`.
    pub(crate) fn insert(&mut self, id: &Id, position: Position) {
        let hash = self.hasher.hash_one(id);
        if let Some(positions) = self.shared.get_mut(&hash) {
            positions.push(position);
        } else if let Some(earlier) = self.single.insert(hash, position) {
            self.single.remove(&hash);
            self.shared.insert(hash, vec![earlier, position]);
        }
    }

    /// Forgets the item with `id` at `position` (dropped from the history).
    pub(crate) fn remove(&mut self, id: &Id, position: Position) {
        let hash = self.hasher.hash_one(id);
        if self.single.get(&hash) == Some(&position) {
            self.single.remove(&hash);
        } else if let Some(positions) = self.shared.get_mut(&hash) {
            positions.retain(|&p| p != position);
            if positions.is_empty() {
                self.shared.remove(&hash);
            }
        }
    }

    /// The position of the oldest item with `id`: among the items whose id
    /// hashes alike, the first for which `has_id` (which reads the item at
    /// a position) says the id is its own.
    pub(crate) fn find(&self, id: &Id, mut has_id: impl FnMut(Position) -> bool) -> Option<Position> {
        let hash = self.hasher.hash_one(id);
        if let Some(&position) = self.single.get(&hash) {
            return has_id(position).then_some(position);
        }
        self.shared.get(&hash)?.iter().copied().find(|&position| has_id(position))
    }
}

impl<Id: Hash + Eq> HistoryIndex<Id> {
    /// The oldest item of `history` with `id` and its position, read
    /// through this index of it; `id_of` says what an item's id is.
    pub(crate) fn look_up<T: Serialize + DeserializeOwned>(
        &self,
        history: &History<T>,
        id: &Id,
        id_of: impl Fn(&T) -> &Id,
    ) -> Option<(Position, T)> {
        let mut found = None;
        self.find(id, |position| {
            let item = history.get(position);
            let held = id_of(&item) == id;
            if held {
                found = Some((position, item));
            }
            held
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index whose hash is the id itself modulo 4: most ids collide.
    fn colliding(ids: &[u64]) -> (HistoryIndex<u64>, Vec<(u64, Position)>) {
        let mut index = HistoryIndex::default();
        let items: Vec<(u64, Position)> = ids.iter().enumerate().map(|(at, &id)| (id, at as Position * 10)).collect();
        for &(id, position) in &items {
            index.insert(&(id % 4), position);
        }
        (index, items)
    }

    /// `has_id` for ids stored as `items` (position → id), hashed mod 4.
    fn reads(items: &[(u64, Position)], id: u64) -> impl FnMut(Position) -> bool + '_ {
        move |position| items.iter().any(|&(i, p)| p == position && i == id)
    }

    #[test]
    fn ids_of_equal_hash_are_told_apart_by_reading_the_items() {
        let (mut index, items) = colliding(&[1, 5, 9, 2]);
        assert_eq!(index.find(&1, reads(&items, 1)), Some(0));
        assert_eq!(index.find(&1, reads(&items, 5)), Some(10));
        assert_eq!(index.find(&1, reads(&items, 9)), Some(20));
        assert_eq!(index.find(&2, reads(&items, 2)), Some(30));
        assert_eq!(index.find(&1, reads(&items, 13)), None, "same hash, not held");
        index.remove(&1, 10);
        assert_eq!(index.find(&1, reads(&items, 5)), None);
        assert_eq!(index.find(&1, reads(&items, 9)), Some(20));
        index.remove(&1, 0);
        index.remove(&1, 20);
        assert_eq!(index.find(&1, |_| true), None, "every position of the hash is gone");
        assert!(index.shared.is_empty());
        index.remove(&2, 30);
        assert_eq!(index.find(&2, |_| true), None);
    }

    #[test]
    fn an_id_held_twice_is_found_at_its_oldest_item() {
        let (index, items) = colliding(&[6, 6]);
        assert_eq!(index.find(&2, reads(&items, 6)), Some(0));
    }
}

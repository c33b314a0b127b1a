//! [`ShardedMap`]: a hash map kept in many small tables, so that growing it
//! never moves more than one of them.
//!
//! The ledger looks up its retention history (ended holds and idempotency
//! records, millions at 15,000 commands/s) by id on every command, through
//! a table of a hash of each id (`history_index.rs`). Those
//! lookups are derived from the history and never part of a snapshot's
//! cut, so they need no persistent map: a flat table probes one or two
//! cache lines where the hash trie walked five levels. With 3 million
//! reservations (an example run on the 2-core VM) apply took 3.2-3.6 µs a
//! command against 4.9-5.3 µs, and the process grew 523 bytes a command
//! against 776. One flat table doubles all at once, a pause that grows
//! with it (170 ms at 900,000 holds) at the same command on every
//! replica; in [`SHARDS`] tables each doubling moves a 256th of the map.
//! Tables of equal shares would still double together, one after another
//! within a few commands (a 3.2 ms Raft entry at 930,000 holds), so their
//! shares differ: table `i` gets a share proportional to 2^(i/256), and
//! as the map grows from `n` to `2n` entries each table doubles once, at
//! its own point of the way.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::LazyLock;

/// Tables per map. At 3 million entries each holds about 12,000, and
/// doubling one copies a few hundred kilobytes.
const SHARDS: usize = 256;
/// Slots of [`TABLE_OF_SLOT`]: a key's hash picks a slot, the slot a table.
const SLOTS: usize = 4096;

/// The table of each slot: table `i` owns a run of slots proportional to
/// 2^(i/256), so the tables' shares spread evenly over a factor of two.
static TABLE_OF_SLOT: LazyLock<[u8; SLOTS]> = LazyLock::new(|| {
    let weights: Vec<f64> = (0..SHARDS).map(|i| (i as f64 / SHARDS as f64).exp2()).collect();
    let total: f64 = weights.iter().sum();
    let mut table = [0_u8; SLOTS];
    let (mut owner, mut owned_up_to) = (0, weights[0] / total * SLOTS as f64);
    for (slot, entry) in table.iter_mut().enumerate() {
        while slot as f64 >= owned_up_to && owner + 1 < SHARDS {
            owner += 1;
            owned_up_to += weights[owner] / total * SLOTS as f64;
        }
        *entry = u8::try_from(owner).expect("fewer than 256 tables");
    }
    table
});

/// A hash map in [`SHARDS`] tables, chosen by bits of the key's hash that
/// the tables themselves do not use (they take the low bits for the
/// bucket and the top seven as a tag).
#[derive(Clone, Debug)]
pub(crate) struct ShardedMap<K, V> {
    hasher: foldhash::fast::RandomState,
    shards: Box<[HashMap<K, V, foldhash::fast::RandomState>]>,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        let hasher = foldhash::fast::RandomState::default();
        let shards = (0..SHARDS).map(|_| HashMap::with_hasher(hasher.clone())).collect();
        Self { hasher, shards }
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    fn shard_of(&self, key: &K) -> usize {
        usize::from(TABLE_OF_SLOT[(self.hasher.hash_one(key) >> 32) as usize % SLOTS])
    }

    /// The value of `key`, if any.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.shards[self.shard_of(key)].get(key)
    }

    /// Sets the value of `key`, returning the one it replaces.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let shard = self.shard_of(&key);
        self.shards[shard].insert(key, value)
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let shard = self.shard_of(key);
        self.shards[shard].remove(key)
    }

    #[cfg(test)]
    /// How many entries it holds (counts every table).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::{SHARDS, ShardedMap};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any sequence of inserts and removes gives what one `HashMap` gives.
        #[test]
        fn behaves_as_a_hash_map(ops in prop::collection::vec((any::<bool>(), 0u16..2_000, any::<u32>()), 0..4_000)) {
            let mut map = ShardedMap::default();
            let mut model = HashMap::new();
            for (insert, key, value) in ops {
                let key = format!("id-{key}");
                if insert {
                    prop_assert_eq!(map.insert(key.clone(), value), model.insert(key.clone(), value));
                } else {
                    prop_assert_eq!(map.remove(&key), model.remove(&key));
                }
                prop_assert_eq!(map.get(&key), model.get(&key));
            }
            prop_assert_eq!(map.len(), model.len());
            for (key, value) in &model {
                prop_assert_eq!(map.get(key), Some(value));
            }
        }
    }

    #[test]
    fn every_table_has_its_share_and_they_double_apart() {
        let mut map = ShardedMap::default();
        // Doublings within each window of 2,000 inserts, from 250,000 on.
        let (mut doublings, mut most_in_a_window) = (0, 0);
        for n in 0..1_000_000_u32 {
            let key = format!("hold-{n}");
            let shard = map.shard_of(&key);
            let before = map.shards[shard].capacity();
            map.insert(key, n);
            if n >= 250_000 && map.shards[shard].capacity() != before {
                doublings += 1;
            }
            if n % 2_000 == 0 {
                most_in_a_window = most_in_a_window.max(doublings);
                doublings = 0;
            }
        }
        // From 250,000 to a million entries each table doubles twice: 512
        // doublings over 375 windows, at most 9 in one in 40 runs here;
        // with equal shares, 26.
        assert!(most_in_a_window <= 14, "{most_in_a_window} tables doubled within 2,000 inserts");
        let sizes: Vec<usize> = map.shards.iter().map(HashMap::len).collect();
        let (first, last) = (sizes[0] as f64, sizes[SHARDS - 1] as f64);
        assert!((1.6..2.4).contains(&(last / first)), "shares from {first} to {last}");
    }
}

//! The replicated state's large collections: persistent (copy-on-write)
//! structures from imbl, and their canonical encoding.
//!
//! Two things a flat table does at a cost that grows with it, these do at
//! a constant one; either would stop the apply loop on every replica:
//!
//! - A snapshot's consistent cut ([`crate::Ledger::cut`]) is a pointer
//!   copy: the cut and the live ledger share nodes, and an apply copies only
//!   the nodes it changes while a cut holds them. Cloning flat tables of a
//!   million holds and records took about a second.
//! - Growing never rebuilds a table: a std hash map that doubles at once
//!   stopped the apply loop for 170 ms at 900,000 holds (`cargo bench -p
//!   ledger --bench growth`), at the same log index on every replica.
//!
//! Vectors (the journal) are encoded in their order, which the log made
//! and every replica shares; so is the retention history, which is kept
//! already encoded (`history.rs`). Encoding writes maps in a canonical order, so the bytes (and
//! the state hash) depend only on the content: by a fixed hash of each key, ties by
//! key. Not by key alone: sorting string ids reads each through a pointer
//! at every comparison, a cache miss each in maps of millions, where a
//! hash is read once per key and compared as a number. Encoding a million
//! holds and records (`cargo bench -p ledger --bench growth`, fastest of
//! five) took 3.1 s in key order, 2.1 s in this one (2.5 s with BLAKE3 as
//! the hash). Decoding reads entry by entry and never
//! reserves room for a declared length: a forged snapshot that passes its
//! checksum still cannot make the decoder allocate what it does not hold.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The hash map of the replicated state: a persistent hash trie.
///
/// foldhash is several times faster than SipHash on short string keys and
/// still seeded per process, so client-chosen ids cannot be crafted to
/// collide; the seed only affects iteration order, which nothing
/// observable depends on.
pub(crate) type HashMap<K, V> =
    imbl::GenericHashMap<K, V, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;

/// The vector of the replicated state: a persistent RRB tree. Pushing at
/// the back and popping at the front are amortized constant time, so it
/// serves as the queue of the time-ordered history too, and a clone
/// shares every node.
pub(crate) type Vector<T> = imbl::Vector<T>;

/// A hash map's entries in key order (for listings people read).
pub(crate) fn by_key<K: Ord, V>(map: &HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut entries: Vec<(&K, &V)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Encodes a hash map as a map in canonical order: by [`order_hash`] of
/// each key, ties (equal hashes of different keys) by key.
pub(crate) fn canonical<S: Serializer, K: Ord + Serialize, V: Serialize>(
    map: &HashMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut scratch = Vec::new();
    let mut entries: Vec<(u64, &K, &V)> = map.iter().map(|(k, v)| (order_hash(k, &mut scratch), k, v)).collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    serializer.collect_map(entries.into_iter().map(|(_, k, v)| (k, v)))
}

/// The XXH3 hash of `key`'s encoding: fixed across processes, machines
/// and versions, unlike the maps' own seeded hasher. `scratch` is a
/// reusable buffer.
fn order_hash<K: Serialize>(key: &K, scratch: &mut Vec<u8>) -> u64 {
    scratch.clear();
    let encoded = postcard::to_extend(key, std::mem::take(scratch)).expect("encoding into memory cannot fail");
    let hash = xxhash_rust::xxh3::xxh3_64(&encoded);
    *scratch = encoded;
    hash
}

/// Decodes what [`canonical`] encoded.
pub(crate) fn map<'de, D, K, V>(deserializer: D) -> Result<HashMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Hash + Eq + Clone,
    V: Deserialize<'de> + Clone,
{
    struct Entries<K, V>(PhantomData<(K, V)>);

    impl<'de, K, V> Visitor<'de> for Entries<K, V>
    where
        K: Deserialize<'de> + Hash + Eq + Clone,
        V: Deserialize<'de> + Clone,
    {
        type Value = HashMap<K, V>;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = HashMap::default();
            while let Some((key, value)) = access.next_entry()? {
                map.insert(key, value);
            }
            Ok(map)
        }
    }

    deserializer.deserialize_map(Entries(PhantomData))
}

/// Encodes a vector as a sequence, first to last.
pub(crate) fn in_order<S: Serializer, T: Serialize + Clone>(
    vector: &Vector<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(vector.iter())
}

/// Decodes what [`in_order`] encoded.
pub(crate) fn vector<'de, D, T>(deserializer: D) -> Result<Vector<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Clone,
{
    struct Elements<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de> + Clone> Visitor<'de> for Elements<T> {
        type Value = Vector<T>;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a sequence")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut vector = Vector::new();
            while let Some(element) = access.next_element()? {
                vector.push_back(element);
            }
            Ok(vector)
        }
    }

    deserializer.deserialize_seq(Elements(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(serialize_with = "canonical", deserialize_with = "map")]
        map: HashMap<String, u64>,
        #[serde(serialize_with = "in_order", deserialize_with = "vector")]
        vector: imbl::Vector<u64>,
    }

    fn sample(keys: impl Iterator<Item = u64>) -> Sample {
        Sample { map: keys.map(|k| (format!("key-{k}"), k)).collect(), vector: (0..50).collect() }
    }

    #[test]
    fn the_encoding_depends_only_on_the_content_and_decodes_back() {
        let forward = postcard::to_allocvec(&sample(0..200)).unwrap();
        let backward = postcard::to_allocvec(&sample((0..200).rev())).unwrap();
        assert_eq!(forward, backward, "insertion order does not show");
        assert_eq!(postcard::from_bytes::<Sample>(&forward).unwrap(), sample(0..200));
    }

    #[test]
    fn the_order_is_fixed_by_the_keys_alone() {
        #[derive(Serialize)]
        struct Map(#[serde(serialize_with = "canonical")] HashMap<String, u64>);
        let map = Map((1..=6).map(|k| (format!("hold-{k}"), k)).collect());
        // A map encodes as a sequence of pairs: read back, its order shows.
        let pairs: Vec<(String, u64)> = postcard::from_bytes(&postcard::to_allocvec(&map).unwrap()).unwrap();
        let order: Vec<u64> = pairs.into_iter().map(|(_, v)| v).collect();
        // Pinned: a change here changes every snapshot's bytes and state hash.
        assert_eq!(order, [4, 1, 5, 2, 6, 3]);
    }

    #[test]
    fn a_forged_length_is_an_error_not_an_allocation() {
        // A map claiming about 2^62 entries and holding one.
        let mut forged = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
        forged.extend_from_slice(&[1, b'k', 7]);
        assert!(postcard::from_bytes::<Sample>(&forged).is_err());
        // An empty map, then the forged vector.
        let forged_vector = [0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 3];
        assert!(postcard::from_bytes::<Sample>(&forged_vector).is_err());
    }
}

//! Key encoding: every group's keys live under one prefix in shared column
//! families.
//!
//! A group's prefix is `[len][id bytes]` with `len` one byte (ids are at
//! most 255 bytes). The encoding is prefix-free: two different ids never
//! produce prefixes where one starts the other, so a scan of one group can
//! never read another's keys, even for ids like `eu` and `eu-west`. Keys
//! starting with byte `0` (an impossible length) belong to no group; the
//! node's identity record is one.
//!
//! - `logs` column family: `prefix ++ index (u64 big-endian)`, so a range
//!   scan returns entries in index order.
//! - `meta` column family: `prefix ++ field tag` (vote, committed, last purged).

use crate::group::{GroupId, MAX_GROUP_ID_BYTES};

/// The key of the process-wide identity record in the `meta` column family.
pub(crate) const IDENTITY: &[u8] = b"\x00identity";

/// A per-group field in the `meta` column family.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MetaField {
    Vote = 1,
    Committed = 2,
    LastPurged = 3,
}

/// The keys of one group.
#[derive(Clone, Debug)]
pub(crate) struct GroupKeys {
    prefix: Vec<u8>,
}

impl GroupKeys {
    pub(crate) fn new(group: &GroupId) -> Self {
        let id = group.as_str().as_bytes();
        assert!(!id.is_empty() && id.len() <= MAX_GROUP_ID_BYTES, "GroupId validated its length");
        let mut prefix = Vec::with_capacity(1 + id.len() + 8);
        prefix.push(u8::try_from(id.len()).expect("at most 255 bytes"));
        prefix.extend_from_slice(id);
        Self { prefix }
    }

    /// The key of the log entry at `index`.
    pub(crate) fn log(&self, index: u64) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 8);
        key.extend_from_slice(&self.prefix);
        key.extend_from_slice(&index.to_be_bytes());
        key
    }

    /// A key above every log key of this group and below every key of any
    /// other group that sorts after it: the exclusive end of "all my logs".
    pub(crate) fn log_end(&self) -> Vec<u8> {
        let mut key = self.log(u64::MAX);
        key.push(0);
        key
    }

    /// The index a log key of this group encodes, or `None` if the key is
    /// not one (another group's key, or malformed).
    pub(crate) fn log_index(&self, key: &[u8]) -> Option<u64> {
        let index = key.strip_prefix(self.prefix.as_slice())?;
        Some(u64::from_be_bytes(index.try_into().ok()?))
    }

    /// The key of a per-group field in the `meta` column family.
    pub(crate) fn meta(&self, field: MetaField) -> Vec<u8> {
        let mut key = self.prefix.clone();
        key.push(field as u8);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(id: &str) -> GroupKeys {
        GroupKeys::new(&GroupId::new(id).unwrap())
    }

    #[test]
    fn log_keys_sort_by_index_and_round_trip() {
        let g = keys("region/eu-west");
        let indexes = [0, 1, 255, 256, 1 << 40, u64::MAX];
        for pair in indexes.windows(2) {
            assert!(g.log(pair[0]) < g.log(pair[1]));
        }
        for index in indexes {
            assert_eq!(g.log_index(&g.log(index)), Some(index));
            assert!(g.log(index) < g.log_end());
        }
    }

    #[test]
    fn groups_never_share_a_prefix() {
        // Ids where one is a prefix of the other, in both orders, and an id
        // whose length byte (101) is the character `e` that starts the others.
        let long = "e".repeat(101);
        let ids = ["eu", "eu-west", "eu-west-1", "e", "region/eu-west", long.as_str()];
        for a in ids {
            for b in ids {
                if a == b {
                    continue;
                }
                let (ga, gb) = (keys(a), keys(b));
                for index in [0, 7, u64::MAX] {
                    assert_eq!(gb.log_index(&ga.log(index)), None, "{a} log key read as {b}'s");
                    let key = ga.log(index);
                    assert!(!(gb.log(0) <= key && key < gb.log_end()), "{a}'s key {index} inside {b}'s range");
                }
                assert_ne!(ga.meta(MetaField::Vote), gb.meta(MetaField::Vote));
            }
        }
    }

    #[test]
    fn identity_key_is_outside_every_group() {
        let g = keys("a");
        assert!(IDENTITY < g.log(0).as_slice());
        assert!(IDENTITY < g.meta(MetaField::Vote).as_slice());
    }
}

//! The witness: a small file beside the database recording, per group, the
//! highest vote term and committed index the replica had reached, written
//! at every open and every clean stop. Both only ever grow, so on the next
//! open the database must hold at least as much; if it holds less, its
//! files lost acknowledged state and the replica must not serve it.
//!
//! Why a file of our own: some damage RocksDB does not report. A bit flip
//! in the last record of the MANIFEST makes it drop that record as a torn
//! tail and open an older version of the database, up to an empty one,
//! without an error. The witness is outside RocksDB, so the same damage
//! cannot also rewind it; it carries a BLAKE3 digest, so its own damage is
//! seen.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rocksdb::DB;
use serde::{Deserialize, Serialize};

use crate::storage::db::ColumnFamily;
use crate::storage::keys::{self, MetaField};
use crate::type_config::{LogId, Vote};

/// The file's name in the data dir.
const FILE: &str = "WITNESS.inventory-ledger";
/// First bytes of the file.
const MAGIC: &[u8; 4] = b"ILWT";

/// How far one group had come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Mark {
    /// The term of its saved vote.
    pub(crate) term: u64,
    /// The index of its saved committed log id.
    pub(crate) committed: u64,
}

/// Every group's mark, by key prefix (see `keys`), and whether the
/// database held the identity record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Witness {
    pub(crate) identity: bool,
    pub(crate) groups: BTreeMap<Vec<u8>, Mark>,
}

impl Witness {
    /// What the database holds now.
    pub(crate) fn of(db: &DB) -> Result<Self, String> {
        let mut witness = Witness::default();
        let meta = ColumnFamily::Meta.handle(db);
        for item in db.iterator_cf(meta, rocksdb::IteratorMode::Start) {
            let (key, value) = item.map_err(|e| e.to_string())?;
            if *key == *keys::IDENTITY {
                witness.identity = true;
                continue;
            }
            let Some((field, prefix)) = key.split_last() else { continue };
            let mark = witness.groups.entry(prefix.to_vec()).or_default();
            let undecodable = |what: &str, e: postcard::Error| format!("the stored {what} does not decode: {e}");
            if *field == MetaField::Vote as u8 {
                let vote: Vote = postcard::from_bytes(&value).map_err(|e| undecodable("vote", e))?;
                mark.term = vote.leader_id.term;
            } else if *field == MetaField::Committed as u8 {
                let committed: Option<LogId> =
                    postcard::from_bytes(&value).map_err(|e| undecodable("committed log id", e))?;
                mark.committed = committed.map_or(0, |id| id.index);
            }
        }
        Ok(witness)
    }

    /// Why `self` (the database now) holds less than `recorded` (the
    /// witness of an earlier open or stop), if it does.
    pub(crate) fn shortfall(&self, recorded: &Witness) -> Option<String> {
        if recorded.identity && !self.identity {
            return Some("the identity record is gone".into());
        }
        for (prefix, was) in &recorded.groups {
            let now = self.groups.get(prefix).copied().unwrap_or_default();
            let group = group_name(prefix);
            if now.term < was.term {
                return Some(format!(
                    "group {group} holds a vote of term {}, but had voted in term {}",
                    now.term, was.term
                ));
            }
            if now.committed < was.committed {
                return Some(format!(
                    "group {group} holds committed index {}, but had committed up to {}",
                    now.committed, was.committed
                ));
            }
        }
        None
    }

    /// Reads the data dir's witness; `Ok(None)` when it has none (a new
    /// data dir, or one from before witnesses). A damaged file is an error.
    pub(crate) fn read(dir: &Path) -> Result<Option<Self>, String> {
        let bytes = match std::fs::read(path(dir)) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("cannot read {}: {error}", path(dir).display())),
        };
        let damaged = |why: &str| format!("{} is damaged: {why}", path(dir).display());
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(|| damaged("bad magic"))?;
        let (digest, body) = rest.split_first_chunk::<32>().ok_or_else(|| damaged("cut short"))?;
        if blake3::hash(body).as_bytes() != digest {
            return Err(damaged("digest mismatch"));
        }
        postcard::from_bytes(body).map(Some).map_err(|e| damaged(&e.to_string()))
    }

    /// Replaces the data dir's witness, durably: written to a temporary
    /// file, synced, renamed over the old one, and the directory synced.
    pub(crate) fn write(&self, dir: &Path) -> std::io::Result<()> {
        let body = postcard::to_stdvec(self).expect("encoding into memory cannot fail");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(blake3::hash(&body).as_bytes());
        bytes.extend_from_slice(&body);
        let temporary = dir.join(format!("{FILE}.tmp"));
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path(dir))?;
        std::fs::File::open(dir)?.sync_all()
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// A group's id from its key prefix (`[len][id]`), for messages.
fn group_name(prefix: &[u8]) -> String {
    String::from_utf8_lossy(prefix.get(1..).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn witness(term: u64, committed: u64) -> Witness {
        Witness { identity: true, groups: BTreeMap::from([(b"\x02eu".to_vec(), Mark { term, committed })]) }
    }

    #[test]
    fn less_than_recorded_is_a_shortfall_and_more_is_not() {
        assert_eq!(witness(3, 10).shortfall(&witness(3, 10)), None);
        assert_eq!(witness(4, 12).shortfall(&witness(3, 10)), None);
        assert!(witness(2, 10).shortfall(&witness(3, 10)).is_some_and(|why| why.contains("term 3")));
        assert!(witness(3, 9).shortfall(&witness(3, 10)).is_some_and(|why| why.contains("up to 10")));
        assert!(Witness::default().shortfall(&witness(3, 10)).is_some_and(|why| why.contains("identity")));
    }

    #[test]
    fn the_file_round_trips_and_damage_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Witness::read(dir.path()), Ok(None));
        witness(5, 40).write(dir.path()).unwrap();
        assert_eq!(Witness::read(dir.path()), Ok(Some(witness(5, 40))));
        let mut bytes = std::fs::read(path(dir.path())).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(path(dir.path()), bytes).unwrap();
        assert!(Witness::read(dir.path()).is_err_and(|why| why.contains("digest mismatch")));
    }
}

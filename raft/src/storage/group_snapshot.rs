//! The bytes of a group's snapshot: a short fixed header with what the
//! group's applied state keeps beside its ledger, then the ledger's own
//! self-checking snapshot bytes ([`Ledger::snapshot`]).
//!
//! ```text
//! "INVG" | version (u16 LE) | highest node id used (u64 LE) | checksum (8 bytes) | ledger snapshot
//! ```
//!
//! The checksum is the first 8 bytes of the BLAKE3 hash of the 14 bytes
//! before it. The header needs its own because the ledger's checksum covers
//! only the ledger part, and a damaged highest node id would quietly let a
//! retired id back into the group. Every snapshot a group builds, stores,
//! sends, installs or loads is in this format, and this module is the only
//! code that writes or reads it.

use std::ops::ControlFlow;

use ledger::Ledger;
use ledger::snapshot::{SnapshotError, StateCut};

const MAGIC: [u8; 4] = *b"INVG";
const FORMAT_VERSION: u16 = 1;
/// Magic, version and highest node id: what the checksum covers.
const FIELDS_BYTES: usize = MAGIC.len() + 2 + 8;
const CHECKSUM_BYTES: usize = 8;
/// The header's length: the ledger's bytes start here.
const HEADER_BYTES: usize = FIELDS_BYTES + CHECKSUM_BYTES;

/// A group's snapshot, decoded and checked: its ledger and what the
/// applied state keeps beside it.
#[derive(Debug)]
pub struct GroupSnapshot {
    /// The highest node id any membership entry applied up to the
    /// snapshot's position named (0 if none): ids at or below it are taken
    /// or retired. Carried because a snapshot replaces the log it covers,
    /// and with it the membership entries that named the ids.
    pub highest_node_id_used: u64,
    /// The group's ledger at the snapshot's position.
    pub ledger: Ledger,
}

/// Why bytes are not an intact group snapshot. Nothing is restored from them.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotDamage {
    /// Shorter than the header.
    #[error("{len} bytes, fewer than the {HEADER_BYTES}-byte group snapshot header")]
    CutShort {
        /// The length found.
        len: usize,
    },
    /// The bytes do not start with the group snapshot magic.
    #[error("not a group snapshot: it starts with `{}`, not `INVG`", .found.escape_ascii())]
    NotAGroupSnapshot {
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// Written in a header format this build does not read.
    #[error("group snapshot header version {0} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion(u16),
    /// The header's checksum does not match its fields.
    #[error("the group snapshot header's checksum does not match: the header is damaged")]
    HeaderChecksum,
    /// The ledger part does not restore (its own format, checksum or invariants).
    #[error("the ledger part: {0}")]
    Ledger(#[source] SnapshotError),
}

impl GroupSnapshot {
    /// The snapshot's bytes: the header, then [`Ledger::snapshot`]. Walks
    /// the whole ledger: CPU work, keep it off the async threads.
    pub fn encode(&self) -> Vec<u8> {
        encode(self.highest_node_id_used, &self.ledger.cut(), 0, &mut || ControlFlow::Continue(()))
            .expect("an unpaced encoding never stops")
    }

    /// Decodes [`GroupSnapshot::encode`] bytes, checking the header (magic,
    /// version, checksum), then restoring the ledger part with
    /// [`Ledger::restore`] (its format, checksum and invariants).
    pub fn decode(bytes: &[u8]) -> Result<Self, SnapshotDamage> {
        let (header, ledger) =
            bytes.split_first_chunk::<HEADER_BYTES>().ok_or(SnapshotDamage::CutShort { len: bytes.len() })?;
        let [m0, m1, m2, m3, v0, v1, n0, n1, n2, n3, n4, n5, n6, n7, stored @ ..] = *header;
        if [m0, m1, m2, m3] != MAGIC {
            return Err(SnapshotDamage::NotAGroupSnapshot { found: [m0, m1, m2, m3] });
        }
        let version = u16::from_le_bytes([v0, v1]);
        if version != FORMAT_VERSION {
            return Err(SnapshotDamage::UnsupportedVersion(version));
        }
        if checksum(&header[..FIELDS_BYTES]) != stored {
            return Err(SnapshotDamage::HeaderChecksum);
        }
        let ledger = Ledger::restore(ledger).map_err(SnapshotDamage::Ledger)?;
        Ok(Self { highest_node_id_used: u64::from_le_bytes([n0, n1, n2, n3, n4, n5, n6, n7]), ledger })
    }
}

/// A group snapshot's bytes from its parts: the header, then the ledger
/// cut's own bytes ([`StateCut::snapshot`]), written into one buffer with
/// room for `expected_bytes` (a guess; 0 for none), calling `pace` every
/// so many bytes ([`StateCut::snapshot_after`]); `None` if `pace` broke
/// off. Walks the whole ledger: CPU work, keep it off the async threads.
pub(crate) fn encode(
    highest_node_id_used: u64,
    ledger: &StateCut,
    expected_bytes: usize,
    pace: &mut dyn FnMut() -> ControlFlow<()>,
) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(expected_bytes.max(HEADER_BYTES));
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&highest_node_id_used.to_le_bytes());
    bytes.extend_from_slice(&checksum(&bytes));
    ledger.snapshot_after(bytes, pace)
}

/// The header checksum: BLAKE3 of `fields`, cut to [`CHECKSUM_BYTES`].
fn checksum(fields: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let hash = blake3::hash(fields);
    let mut checksum = [0; CHECKSUM_BYTES];
    checksum.copy_from_slice(&hash.as_bytes()[..CHECKSUM_BYTES]);
    checksum
}

#[cfg(test)]
mod tests {
    use ledger::LedgerConfig;

    use super::*;

    fn snapshot(highest_node_id_used: u64) -> GroupSnapshot {
        GroupSnapshot { highest_node_id_used, ledger: Ledger::new(LedgerConfig::new("eu-west")) }
    }

    #[test]
    fn a_snapshot_round_trips_with_its_highest_node_id() {
        for highest in [0, 1, 7, u64::MAX] {
            let original = snapshot(highest);
            let bytes = original.encode();
            assert_eq!(&bytes[HEADER_BYTES..], original.ledger.snapshot(), "the ledger's own bytes follow the header");
            let decoded = GroupSnapshot::decode(&bytes).expect("intact");
            assert_eq!(decoded.highest_node_id_used, highest);
            assert_eq!(decoded.ledger, original.ledger);
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_in_the_header_is_refused() {
        let bytes = snapshot(3).encode();
        for at in 0..HEADER_BYTES {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                let error = GroupSnapshot::decode(&damaged).expect_err("a damaged header");
                let expected = match at {
                    0..4 => matches!(error, SnapshotDamage::NotAGroupSnapshot { .. }),
                    4..6 => matches!(error, SnapshotDamage::UnsupportedVersion(_)),
                    _ => matches!(error, SnapshotDamage::HeaderChecksum),
                };
                assert!(expected, "byte {at}, bit {bit}: {error}");
            }
        }
    }

    #[test]
    fn a_truncated_snapshot_is_refused() {
        let bytes = snapshot(3).encode();
        for len in 0..HEADER_BYTES {
            let error = GroupSnapshot::decode(&bytes[..len]).expect_err("cut inside the header");
            assert!(matches!(error, SnapshotDamage::CutShort { len: found } if found == len), "{len}: {error}");
        }
        for len in HEADER_BYTES..bytes.len() {
            let error = GroupSnapshot::decode(&bytes[..len]).expect_err("cut inside the ledger part");
            assert!(matches!(error, SnapshotDamage::Ledger(_)), "{len}: {error}");
        }
    }

    #[test]
    fn the_ledger_part_is_still_verified() {
        let bytes = snapshot(3).encode();
        for at in [HEADER_BYTES, HEADER_BYTES + 6, bytes.len() - 1] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let error = GroupSnapshot::decode(&damaged).expect_err("a damaged ledger part");
            assert!(matches!(error, SnapshotDamage::Ledger(_)), "byte {at}: {error}");
        }
        // A bare ledger snapshot, as stored before the header existed, is not one.
        let bare = snapshot(3).ledger.snapshot();
        let error = GroupSnapshot::decode(&bare).expect_err("no header");
        assert!(matches!(error, SnapshotDamage::NotAGroupSnapshot { found } if &found == b"INVL"), "{error}");
        assert!(error.to_string().contains("starts with `INVL`"), "{error}");
    }
}

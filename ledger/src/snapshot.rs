//! Snapshots and the canonical state hash.
//!
//! A snapshot is the replicated `State` in postcard's encoding with every
//! map in a canonical order and the retention history in the order it was
//! made (so the bytes depend only on the state),
//! framed by a magic, a format version and a BLAKE3 checksum. Restoring
//! checks all three, then the ledger's invariants, before the state is used:
//! a damaged snapshot is refused, never served.

use std::ops::ControlFlow;

use crate::invariants::InvariantViolation;
use crate::ledger::{Ledger, State};

const MAGIC: &[u8; 4] = b"INVL";
const FORMAT_VERSION: u16 = 2;
const HEADER_BYTES: usize = MAGIC.len() + 2;
const CHECKSUM_BYTES: usize = 32;

/// Why snapshot bytes could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not a ledger snapshot, or cut short.
    #[error("not a ledger snapshot (bad magic or too short)")]
    NotASnapshot,
    /// Written by a format this build does not read.
    #[error("snapshot format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion(u16),
    /// The bytes were altered after writing.
    #[error("snapshot checksum mismatch: the bytes are corrupt")]
    ChecksumMismatch,
    /// The checksum matched but the payload does not decode.
    #[error("snapshot payload does not decode: {0}")]
    Decode(#[from] postcard::Error),
    /// The payload decodes to a state that breaks an invariant.
    #[error("snapshot state is inconsistent: {0}")]
    Inconsistent(#[from] InvariantViolation),
}

/// The replicated state as it was at one point of the log, for a snapshot
/// to encode while the ledger goes on applying.
///
/// Taking one ([`Ledger::cut`]) costs next to nothing whatever the state's
/// size: the large collections are persistent (copy-on-write) structures,
/// so the cut shares their nodes with the live ledger and later applies
/// copy only what they change. Cloning hash maps of a million holds and
/// records instead took about a second, during which apply waited.
#[derive(Clone, Debug)]
pub struct StateCut {
    state: State,
}

impl StateCut {
    /// The state as self-checking bytes, as [`Ledger::snapshot`] encodes
    /// it. Walks the whole state: CPU work for a blocking thread.
    pub fn snapshot(&self) -> Vec<u8> {
        encode_whole(&self.state)
    }

    /// [`StateCut::snapshot`]'s bytes appended to `bytes`, calling `pace`
    /// after every [`PACE_EVERY`] bytes written, where the caller may pause
    /// to spread the encoding over time, or stop it: `None` if `pace`
    /// broke off (a node that is stopping need not finish a snapshot that
    /// takes seconds). Given room for the bytes, the buffer never regrows:
    /// regrowing copies what was written so far into new memory, each
    /// time, and a snapshot is 100 MB at a few hundred thousand holds.
    pub fn snapshot_after(&self, bytes: Vec<u8>, pace: &mut dyn FnMut() -> ControlFlow<()>) -> Option<Vec<u8>> {
        encode_after(&self.state, bytes, pace)
    }
}

/// How many encoded bytes [`StateCut::snapshot_after`] writes between
/// calls to its `pace`: about a millisecond of encoding.
pub const PACE_EVERY: usize = 64 * 1024;

/// postcard's output for a snapshot: appends to a `Vec`, calling `pace`
/// every [`PACE_EVERY`] bytes, and fails once `pace` breaks off.
struct Paced<'a> {
    bytes: Vec<u8>,
    next_pace_at: usize,
    pace: &'a mut dyn FnMut() -> ControlFlow<()>,
    stopped: &'a mut bool,
}

impl Paced<'_> {
    fn written(&mut self) -> postcard::Result<()> {
        if self.bytes.len() >= self.next_pace_at {
            self.next_pace_at = self.bytes.len() + PACE_EVERY;
            if (self.pace)().is_break() {
                *self.stopped = true;
                // Any error ends postcard's walk; `stopped` tells it from a real one.
                return Err(postcard::Error::SerializeBufferFull);
            }
        }
        Ok(())
    }
}

impl postcard::ser_flavors::Flavor for Paced<'_> {
    type Output = Vec<u8>;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.bytes.push(byte);
        self.written()
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.bytes.extend_from_slice(data);
        self.written()
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.bytes)
    }
}

/// The snapshot bytes of `state`, unpaced.
fn encode_whole(state: &State) -> Vec<u8> {
    encode_after(state, Vec::new(), &mut || ControlFlow::Continue(())).expect("an unpaced encoding never stops")
}

/// Appends to `bytes`: magic, version, the canonical encoding of `state`,
/// checksum (of those three); `None` if `pace` broke off.
fn encode_after(state: &State, mut bytes: Vec<u8>, pace: &mut dyn FnMut() -> ControlFlow<()>) -> Option<Vec<u8>> {
    let start = bytes.len();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let next_pace_at = bytes.len() + PACE_EVERY;
    let mut stopped = false;
    let output = Paced { bytes, next_pace_at, pace, stopped: &mut stopped };
    let encoded = postcard::serialize_with_flavor(state, output);
    if stopped {
        return None;
    }
    let mut bytes = encoded.expect("encoding into memory cannot fail");
    let checksum = blake3::hash(&bytes[start..]);
    bytes.extend_from_slice(checksum.as_bytes());
    Some(bytes)
}

impl Ledger {
    /// The state as self-checking bytes, for Raft snapshots.
    pub fn snapshot(&self) -> Vec<u8> {
        encode_whole(&self.state)
    }

    /// The state as it is now, to encode later without holding up apply.
    pub fn cut(&self) -> StateCut {
        StateCut { state: self.state.clone() }
    }

    /// A ledger from [`Ledger::snapshot`] bytes, after checking them and the
    /// invariants of the state they hold.
    pub fn restore(bytes: &[u8]) -> Result<Self, SnapshotError> {
        if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        if blake3::hash(body).as_bytes() != checksum {
            return Err(SnapshotError::ChecksumMismatch);
        }
        let state: State = postcard::from_bytes(&body[HEADER_BYTES..])?;
        let ledger = Ledger::from_state(state);
        ledger.check_invariants()?;
        Ok(ledger)
    }

    /// A BLAKE3 hash of the canonical encoding of the whole replicated
    /// state. Replicas that applied the same log have equal hashes.
    pub fn state_hash(&self) -> [u8; 32] {
        // Buffered: postcard hands the history's bytes over one at a time.
        let mut hasher = std::io::BufWriter::with_capacity(PACE_EVERY, blake3::Hasher::new());
        postcard::to_io(&self.state, &mut hasher).expect("hashing into memory cannot fail");
        let hasher = hasher.into_inner().expect("hashing into memory cannot fail");
        *hasher.finalize().as_bytes()
    }
}

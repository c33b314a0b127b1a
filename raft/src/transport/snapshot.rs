//! A snapshot on the wire: cut into chunks by the sender, put back together
//! and checked by the receiver.
//!
//! openraft hands the leader's transport a whole snapshot (`Vec<u8>`) and
//! expects the receiver to install a whole one. In between, `raft.proto`'s
//! `InstallSnapshot` stream carries a header, then data chunks of at most
//! [`MAX_CHUNK_BYTES`] with their offsets, the last one flagged `done` and
//! carrying a BLAKE3 digest of the whole snapshot. The receiver accepts only
//! contiguous chunks, in order, adding up to the announced size and matching
//! the digest: openraft's `install_full_snapshot` trusts what it is given,
//! so a damaged transfer must never reach it.

use protos::raft as pb;

/// Largest chunk of snapshot data in one message: small enough to keep
/// gRPC messages far below any size limit and to interleave with other
/// traffic on the shared connection, large enough for few round trips.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// Length of the BLAKE3 digest on the last chunk.
const DIGEST_BYTES: usize = blake3::OUT_LEN;

/// The data chunks of one snapshot, produced lazily so that only one chunk
/// is copied out at a time. Always at least one chunk: an empty snapshot is
/// one empty `done` chunk.
pub(crate) struct Chunks {
    data: Vec<u8>,
    chunk_bytes: usize,
    offset: usize,
    hasher: blake3::Hasher,
    finished: bool,
}

impl Chunks {
    /// Chunks of at most `chunk_bytes` (clamped to `1..=MAX_CHUNK_BYTES`).
    pub(crate) fn new(data: Vec<u8>, chunk_bytes: usize) -> Self {
        let chunk_bytes = chunk_bytes.clamp(1, MAX_CHUNK_BYTES);
        Self { data, chunk_bytes, offset: 0, hasher: blake3::Hasher::new(), finished: false }
    }
}

impl Iterator for Chunks {
    type Item = pb::SnapshotData;

    fn next(&mut self) -> Option<pb::SnapshotData> {
        if self.finished {
            return None;
        }
        let end = self.data.len().min(self.offset + self.chunk_bytes);
        let data = self.data[self.offset..end].to_vec();
        self.hasher.update(&data);
        let offset = self.offset as u64;
        self.offset = end;
        self.finished = end == self.data.len();
        let blake3_digest = if self.finished { self.hasher.finalize().as_bytes().to_vec() } else { Vec::new() };
        Some(pb::SnapshotData { offset, data, done: self.finished, blake3_digest })
    }
}

/// Why a snapshot stream's data was refused. Nothing is installed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChunkError {
    /// A chunk that does not start where the previous one ended.
    #[error("snapshot chunk at offset {offset}, expected offset {expected}: chunks must be contiguous and in order")]
    OutOfOrder { offset: u64, expected: u64 },
    /// A chunk over [`MAX_CHUNK_BYTES`].
    #[error("snapshot chunk of {len} bytes; at most {MAX_CHUNK_BYTES} are allowed")]
    ChunkTooLarge { len: usize },
    /// More data than the header announced.
    #[error("snapshot data passes the {total} bytes its header announced")]
    Overrun { total: u64 },
    /// The last chunk came before all announced data.
    #[error("the last snapshot chunk ends at {received} of the {total} bytes its header announced")]
    Short { received: u64, total: u64 },
    /// The last chunk's digest is missing or has the wrong length.
    #[error("the last snapshot chunk carries a {len}-byte digest; a {DIGEST_BYTES}-byte BLAKE3 digest is required")]
    DigestLength { len: usize },
    /// The data does not hash to the digest.
    #[error("the snapshot's BLAKE3 digest does not match its data: it was damaged in transit")]
    DigestMismatch,
}

/// Whether a snapshot's data is complete.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// More chunks must follow.
    More,
    /// The last chunk arrived and the data checked out.
    Complete,
}

/// A snapshot being received: its data so far, checked chunk by chunk.
pub(crate) struct Reassembly {
    total: u64,
    data: Vec<u8>,
    hasher: blake3::Hasher,
}

impl Reassembly {
    /// Most bytes reserved up front: the header's size is the sender's claim,
    /// so memory grows with data actually received beyond this.
    const RESERVE_BYTES_MAX: u64 = 64 << 20;

    /// Expects `total` bytes; the caller has checked it against its limit.
    pub(crate) fn new(total: u64) -> Self {
        let reserve = usize::try_from(total.min(Self::RESERVE_BYTES_MAX)).unwrap_or(0);
        Self { total, data: Vec::with_capacity(reserve), hasher: blake3::Hasher::new() }
    }

    /// Takes the next chunk.
    pub(crate) fn push(&mut self, chunk: pb::SnapshotData) -> Result<Progress, ChunkError> {
        let received = self.data.len() as u64;
        if chunk.offset != received {
            return Err(ChunkError::OutOfOrder { offset: chunk.offset, expected: received });
        }
        if chunk.data.len() > MAX_CHUNK_BYTES {
            return Err(ChunkError::ChunkTooLarge { len: chunk.data.len() });
        }
        let received = received + chunk.data.len() as u64;
        if received > self.total {
            return Err(ChunkError::Overrun { total: self.total });
        }
        self.hasher.update(&chunk.data);
        self.data.extend_from_slice(&chunk.data);
        if !chunk.done {
            return Ok(Progress::More);
        }
        if received != self.total {
            return Err(ChunkError::Short { received, total: self.total });
        }
        let digest: [u8; DIGEST_BYTES] = chunk
            .blake3_digest
            .as_slice()
            .try_into()
            .map_err(|_| ChunkError::DigestLength { len: chunk.blake3_digest.len() })?;
        // `blake3::Hash` compares in constant time; not needed here, but free.
        if self.hasher.finalize() != blake3::Hash::from_bytes(digest) {
            return Err(ChunkError::DigestMismatch);
        }
        Ok(Progress::Complete)
    }

    /// The snapshot's data, once [`Progress::Complete`].
    pub(crate) fn into_data(self) -> Vec<u8> {
        debug_assert_eq!(self.data.len() as u64, self.total, "taken before the last chunk");
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Sends `len` bytes in chunks of `chunk_bytes` through `tamper`, and
    /// checks what the receiver makes of them.
    fn check(
        len: usize,
        chunk_bytes: usize,
        tamper: impl Fn(&mut Vec<pb::SnapshotData>),
        expect: Result<(), ChunkError>,
    ) {
        let mut chunks: Vec<_> = Chunks::new(data(len), chunk_bytes).collect();
        tamper(&mut chunks);
        let mut reassembly = Reassembly::new(len as u64);
        let mut outcome = Err(ChunkError::Short { received: 0, total: len as u64 });
        for chunk in chunks {
            match reassembly.push(chunk) {
                Ok(Progress::More) => continue,
                Ok(Progress::Complete) => outcome = Ok(()),
                Err(error) => outcome = Err(error),
            }
            break;
        }
        assert_eq!(outcome, expect, "len {len}, chunks of {chunk_bytes}");
        if outcome.is_ok() {
            assert_eq!(reassembly.into_data(), data(len));
        }
    }

    fn untouched(_: &mut Vec<pb::SnapshotData>) {}

    #[test]
    fn chunks_carry_offsets_and_the_digest_on_the_last() {
        let chunks: Vec<_> = Chunks::new(data(10), 4).collect();
        assert_eq!(
            chunks.iter().map(|c| (c.offset, c.data.len(), c.done)).collect::<Vec<_>>(),
            [(0, 4, false), (4, 4, false), (8, 2, true)]
        );
        assert!(chunks[..2].iter().all(|c| c.blake3_digest.is_empty()));
        assert_eq!(chunks[2].blake3_digest, blake3::hash(&data(10)).as_bytes());

        let empty: Vec<_> = Chunks::new(Vec::new(), 4).collect();
        assert_eq!(empty.len(), 1);
        assert!(empty[0].done && empty[0].data.is_empty());
        assert_eq!(Chunks::new(data(3 * MAX_CHUNK_BYTES), usize::MAX).count(), 3, "chunks never pass the limit");
    }

    #[test]
    fn reassembly_accepts_intact_transfers() {
        check(0, 4, untouched, Ok(()));
        check(10, 4, untouched, Ok(()));
        check(12, 4, untouched, Ok(()));
        check(5_000, 1_000, untouched, Ok(()));
    }

    #[test]
    fn reassembly_refuses_damaged_transfers() {
        check(12, 4, |c| c.swap(0, 1), Err(ChunkError::OutOfOrder { offset: 4, expected: 0 }));
        check(12, 4, |c| drop(c.remove(1)), Err(ChunkError::OutOfOrder { offset: 8, expected: 4 }));
        check(12, 4, |c| c[1].data.push(0), Err(ChunkError::OutOfOrder { offset: 8, expected: 9 }));
        check(12, 4, |c| c[2].data.push(0), Err(ChunkError::Overrun { total: 12 }));
        check(12, 4, |c| c[1].done = true, Err(ChunkError::Short { received: 8, total: 12 }));
        check(
            12,
            4,
            |c| {
                c[2].blake3_digest.pop();
            },
            Err(ChunkError::DigestLength { len: 31 }),
        );
        check(12, 4, |c| c[0].data[0] ^= 1, Err(ChunkError::DigestMismatch));
        check(
            MAX_CHUNK_BYTES + 1,
            MAX_CHUNK_BYTES,
            |c| {
                let tail = c.pop().unwrap();
                c[0].data.extend(tail.data);
            },
            Err(ChunkError::ChunkTooLarge { len: MAX_CHUNK_BYTES + 1 }),
        );
    }
}

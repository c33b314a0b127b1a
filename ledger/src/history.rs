//! [`History`]: the retention history (ended holds, idempotency records)
//! kept as the bytes a snapshot writes for it.
//!
//! Nearly all of a busy state is history: one or two items per command,
//! kept for the 24 h retention window, never changed once written, and
//! dropped oldest first. Kept as values, each item was several heap
//! allocations (651 bytes a command in all, `cargo bench -p ledger --bench
//! history`) and a snapshot had to walk and encode every one of them again
//! at every build: at 15,000 commands/s a replica's snapshot reached
//! 200-250 MB within three minutes.
//! Kept as their postcard encoding, appended to chunks, items cost their
//! encoded size, a snapshot copies the chunks' bytes as they are, and a
//! consistent cut shares every full chunk. An item is decoded only when
//! it is read: a retry's stored result, a lookup of an ended hold, a
//! listing, the audit.
//!
//! The bytes written are exactly postcard's encoding of the items as a
//! sequence, so snapshots and the state hash are what they were when the
//! history was a vector of values.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where an item starts in its history: a byte offset counted from the
/// history's creation (or restore), never reused. Kept by the lookup
/// tables instead of the item.
pub(crate) type Position = u64;

/// Bytes after which the open chunk is closed and shared: small enough
/// that a cut copies little (the open chunk is copied, full ones shared),
/// large enough that a history of 250 MB is a few thousand chunks.
const CHUNK_BYTES: usize = 64 * 1024;

/// A closed run of whole items' encodings.
#[derive(Debug)]
struct Chunk {
    /// The position of its first byte.
    start: Position,
    bytes: Vec<u8>,
}

impl Chunk {
    fn end(&self) -> Position {
        self.start + self.bytes.len() as Position
    }
}

/// A queue of items, oldest first, stored as their postcard encodings:
/// appended at the back, dropped at the front, read by position.
///
/// Cloning shares every closed chunk and copies the open one (at most
/// about 64 KiB), so a snapshot's cut costs the same whatever the
/// history's size.
pub(crate) struct History<T> {
    /// Closed chunks, oldest first; the first may begin with dropped items.
    closed: imbl::Vector<Arc<Chunk>>,
    /// The chunk being appended to.
    open: Vec<u8>,
    /// The position of `open`'s first byte.
    open_start: Position,
    /// The position of the oldest item kept.
    front: Position,
    /// Items kept.
    len: usize,
    items: PhantomData<fn() -> T>,
}

impl<T> Clone for History<T> {
    fn clone(&self) -> Self {
        Self {
            closed: self.closed.clone(),
            open: self.open.clone(),
            open_start: self.open_start,
            front: self.front,
            len: self.len,
            items: PhantomData,
        }
    }
}

impl<T> Default for History<T> {
    fn default() -> Self {
        Self { closed: imbl::Vector::new(), open: Vec::new(), open_start: 0, front: 0, len: 0, items: PhantomData }
    }
}

impl<T: Serialize + DeserializeOwned> History<T> {
    /// Appends an item; returns where it starts.
    pub(crate) fn push_back(&mut self, item: &T) -> Position {
        let size = postcard::experimental::serialized_size(item).expect("encoding into memory cannot fail");
        if !self.open.is_empty() && self.open.len() + size > CHUNK_BYTES {
            let chunk = Chunk { start: self.open_start, bytes: std::mem::take(&mut self.open) };
            self.open_start = chunk.end();
            self.closed.push_back(Arc::new(chunk));
        }
        if self.open.is_empty() {
            // An item larger than a chunk gets a chunk of its own size.
            self.open.reserve_exact(size.max(CHUNK_BYTES));
        }
        let position = self.open_start + self.open.len() as Position;
        self.open =
            postcard::to_extend(item, std::mem::take(&mut self.open)).expect("encoding into memory cannot fail");
        self.len += 1;
        position
    }

    /// The item at `position`, which must be one [`History::push_back`]
    /// returned and not yet dropped.
    pub(crate) fn get(&self, position: Position) -> T {
        debug_assert!(position >= self.front, "a dropped item is not read");
        let (chunk_start, bytes) = self.chunk_at(position);
        decode(&bytes[(position - chunk_start) as usize..]).0
    }

    /// Drops the oldest item if `drop` says so, and returns it with the
    /// position it had.
    pub(crate) fn pop_front_if(&mut self, drop: impl FnOnce(&T) -> bool) -> Option<(Position, T)> {
        if self.len == 0 {
            return None;
        }
        let (chunk_start, bytes) = self.chunk_at(self.front);
        let (item, rest) = decode(&bytes[(self.front - chunk_start) as usize..]);
        if !drop(&item) {
            return None;
        }
        let position = self.front;
        self.front = chunk_start + (bytes.len() - rest.len()) as Position;
        self.len -= 1;
        if self.closed.front().is_some_and(|chunk| chunk.end() == self.front) {
            self.closed.pop_front();
        }
        if self.len == 0 && self.closed.is_empty() {
            // Nothing kept: the open chunk starts over where the next item goes.
            self.open_start = self.front;
            self.open.clear();
        }
        Some((position, item))
    }

    /// Every item kept, oldest first, with its position.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Position, T)> + '_ {
        self.runs().flat_map(|(start, run)| {
            let mut rest = run;
            std::iter::from_fn(move || {
                if rest.is_empty() {
                    return None;
                }
                let position = start + (run.len() - rest.len()) as Position;
                let (item, after) = decode(rest);
                rest = after;
                Some((position, item))
            })
        })
    }
}

impl<T> History<T> {
    /// Items kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The chunk holding `position`: its first byte's position and its bytes.
    fn chunk_at(&self, position: Position) -> (Position, &[u8]) {
        if position >= self.open_start {
            return (self.open_start, &self.open);
        }
        let at = match self.closed.binary_search_by(|chunk| chunk.start.cmp(&position)) {
            Ok(at) => at,
            Err(after) => after - 1,
        };
        let chunk = &self.closed[at];
        (chunk.start, &chunk.bytes)
    }

    /// The kept items' bytes, as runs of whole items with the position of
    /// each run's first byte, oldest first.
    fn runs(&self) -> impl Iterator<Item = (Position, &[u8])> + '_ {
        let closed = self.closed.iter().map(|chunk| (chunk.start, chunk.bytes.as_slice()));
        let open = std::iter::once((self.open_start, self.open.as_slice()));
        closed.chain(open).filter_map(move |(start, bytes)| {
            let skip = self.front.saturating_sub(start) as usize;
            (skip < bytes.len()).then(|| (start + skip as Position, &bytes[skip..]))
        })
    }
}

/// Decodes one item from the front of `bytes`, which the history wrote.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> (T, &[u8]) {
    postcard::take_from_bytes(bytes).expect("a history holds only whole items it encoded")
}

impl<T> PartialEq for History<T> {
    /// The same items in the same order (encodings are canonical, so equal
    /// bytes are equal items).
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.runs().flat_map(|(_, b)| b.iter()).eq(other.runs().flat_map(|(_, b)| b.iter()))
    }
}

impl<T> Eq for History<T> {}

impl<T> fmt::Debug for History<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: usize = self.runs().map(|(_, b)| b.len()).sum();
        f.debug_struct("History").field("items", &self.len).field("bytes", &bytes).finish()
    }
}

/// Written as postcard writes a sequence of the items: their count, then
/// each item's encoding, which are the bytes kept, copied as they are.
/// Postcard writes a tuple of `u8`s as those bytes, with no length or tag,
/// which is how the runs are handed over; no other format reads this.
impl<T> Serialize for History<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sequence = serializer.serialize_seq(Some(self.len))?;
        for (_, bytes) in self.runs() {
            sequence.serialize_element(&Raw(bytes))?;
        }
        sequence.end()
    }
}

/// Bytes that postcard writes as they are.
struct Raw<'a>(&'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(self.0.len())?;
        for byte in self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

/// Read as a sequence of items, each decoded (checking it) and appended.
/// Never reserves room for a declared length: a forged count that passes
/// the snapshot's checksum still cannot make it allocate what is not there.
impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for History<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T>(PhantomData<T>);

        impl<'de, T: Serialize + DeserializeOwned> Visitor<'de> for Items<T> {
            type Value = History<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a sequence")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                std::iter::from_fn(|| access.next_element::<T>().transpose()).collect()
            }
        }

        deserializer.deserialize_seq(Items(PhantomData))
    }
}

impl<T: Serialize + DeserializeOwned> FromIterator<T> for History<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut history = History::default();
        for item in items {
            history.push_back(&item);
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    /// An item of `size` bytes or so, numbered.
    type Item = (u64, String);

    fn item(n: u64, size: usize) -> Item {
        (n, "x".repeat(size))
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Append an item of about this many bytes.
        Push(usize),
        /// Drop up to this many of the oldest items.
        Pop(usize),
        /// Take a cut, which later changes must not reach.
        Cut,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let op = prop_oneof![
            6 => (0usize..3_000).prop_map(Op::Push),
            1 => (CHUNK_BYTES..CHUNK_BYTES * 2).prop_map(Op::Push),
            3 => (0usize..200).prop_map(Op::Pop),
            1 => Just(Op::Cut),
        ];
        proptest::collection::vec(op, 1..400)
    }

    /// Checks `history` against the items it should hold, `model`, with
    /// the positions `push_back` returned for them.
    fn assert_holds(history: &History<Item>, model: &VecDeque<(Position, Item)>) -> Result<(), TestCaseError> {
        let items: Vec<&Item> = model.iter().map(|(_, item)| item).collect();
        prop_assert_eq!(history.len(), model.len());
        prop_assert_eq!(history.iter().collect::<Vec<_>>(), model.iter().cloned().collect::<Vec<_>>());
        for (position, item) in model {
            prop_assert_eq!(&history.get(*position), item);
        }
        // The bytes are postcard's encoding of the items as a sequence.
        let encoded = postcard::to_allocvec(history).unwrap();
        prop_assert_eq!(&encoded, &postcard::to_allocvec(&items).unwrap());
        let decoded: History<Item> = postcard::from_bytes(&encoded).unwrap();
        prop_assert_eq!(postcard::to_allocvec(&decoded).unwrap(), encoded);
        prop_assert!(&decoded == history);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn holds_what_was_pushed_and_not_dropped_and_encodes_it_as_a_sequence(ops in ops()) {
            let mut history = History::default();
            let mut model = VecDeque::new();
            let mut cuts = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push(size) => {
                        let item = item(n as u64, size);
                        model.push_back((history.push_back(&item), item));
                    }
                    Op::Pop(count) => {
                        for _ in 0..count {
                            let Some(popped) = history.pop_front_if(|_| true) else { break };
                            prop_assert_eq!(Some(popped), model.pop_front());
                        }
                    }
                    Op::Cut => cuts.push((history.clone(), model.clone())),
                }
            }
            assert_holds(&history, &model)?;
            for (cut, then) in &cuts {
                assert_holds(cut, then)?;
            }
        }
    }

    #[test]
    fn an_item_is_dropped_only_when_asked() {
        let mut history: History<Item> = [item(1, 10), item(2, 10)].into_iter().collect();
        assert_eq!(history.pop_front_if(|(n, _)| *n == 2), None);
        assert_eq!(history.len(), 2);
        assert_eq!(history.pop_front_if(|(n, _)| *n == 1), Some((0, item(1, 10))));
        assert_eq!(history.iter().map(|(_, item)| item).collect::<Vec<_>>(), [item(2, 10)]);
    }

    #[test]
    fn full_chunks_are_shared_and_the_open_one_is_reused_once_empty() {
        let mut history: History<Item> = (0..100).map(|n| item(n, 2_000)).collect();
        let cut = history.clone();
        assert!(history.closed.len() > 1);
        assert!(history.closed.iter().zip(cut.closed.iter()).all(|(a, b)| Arc::ptr_eq(a, b)), "closed chunks shared");
        while history.pop_front_if(|_| true).is_some() {}
        assert!(history.closed.is_empty() && history.open.is_empty() && history.len() == 0);
        let position = history.push_back(&item(7, 1));
        assert_eq!(history.get(position), item(7, 1));
        assert_eq!(cut.len(), 100, "the cut kept everything");
    }

    #[test]
    fn a_forged_count_is_an_error_not_an_allocation() {
        // A sequence claiming about 2^62 items and holding one.
        let forged = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, 1, b'x'];
        assert!(postcard::from_bytes::<History<Item>>(&forged).is_err());
    }
}

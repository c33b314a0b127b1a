//! [`ChunkedQueue`]: a first-in first-out queue kept in fixed-size chunks,
//! so that growing it never moves what it holds.
//!
//! The ledger's time-ordered indexes (idempotency records and ended holds,
//! each by time) hold an item per command for the whole retention window:
//! millions. A `VecDeque` doubles its buffer as it grows, copying every
//! item at once, and every replica reaches the same length on the same
//! command: at 2^18 and 2^19 items the copy stalled apply on all three
//! replicas together (the slowest calls of `bench --rate 15000` rose to
//! 50-90 ms at exactly those points), and each doubling costs twice the
//! last. Here a push allocates at most one chunk; only the small list of
//! chunks is ever copied.

use std::collections::VecDeque;

/// Items per chunk: big enough that the list of chunks stays small (one
/// pointer per 4,096 items), small enough that allocating one is cheap.
const CHUNK: usize = 4096;

/// A FIFO queue in chunks of [`CHUNK`] items.
#[derive(Clone, Debug)]
pub(crate) struct ChunkedQueue<T> {
    chunks: VecDeque<VecDeque<T>>,
}

impl<T> Default for ChunkedQueue<T> {
    fn default() -> Self {
        Self { chunks: VecDeque::new() }
    }
}

impl<T> ChunkedQueue<T> {
    /// Adds `item` at the back.
    pub(crate) fn push_back(&mut self, item: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push_back(item),
            _ => {
                let mut chunk = VecDeque::with_capacity(CHUNK);
                chunk.push_back(item);
                self.chunks.push_back(chunk);
            }
        }
    }

    /// The oldest item.
    pub(crate) fn front(&self) -> Option<&T> {
        self.chunks.front()?.front()
    }

    /// The newest item.
    pub(crate) fn back(&self) -> Option<&T> {
        self.chunks.back()?.back()
    }

    /// Removes and returns the oldest item.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let first = self.chunks.front_mut()?;
        let item = first.pop_front();
        if first.is_empty() {
            self.chunks.pop_front();
        }
        item
    }
}

impl<T> FromIterator<T> for ChunkedQueue<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut queue = Self::default();
        for item in items {
            queue.push_back(item);
        }
        queue
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::{CHUNK, ChunkedQueue};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Any sequence of pushes and pops gives what a `VecDeque` gives,
        /// across chunk boundaries.
        #[test]
        fn behaves_as_a_vecdeque(ops in prop::collection::vec(prop_oneof![3 => Just(true), 2 => Just(false)], 0..3 * CHUNK)) {
            let mut queue = ChunkedQueue::default();
            let mut model = VecDeque::new();
            for (n, push) in ops.into_iter().enumerate() {
                if push {
                    queue.push_back(n);
                    model.push_back(n);
                } else {
                    prop_assert_eq!(queue.pop_front(), model.pop_front());
                }
                prop_assert_eq!(queue.front(), model.front());
                prop_assert_eq!(queue.back(), model.back());
            }
            while let Some(item) = model.pop_front() {
                prop_assert_eq!(queue.pop_front(), Some(item));
            }
            prop_assert_eq!(queue.pop_front(), None);
            prop_assert!(queue.chunks.is_empty(), "emptied chunks are dropped");
        }
    }

    #[test]
    fn growing_never_reallocates_a_chunk() {
        let mut queue: ChunkedQueue<u64> = (0..CHUNK as u64).collect();
        let first_chunk = queue.chunks[0].as_slices().0.as_ptr();
        for n in 0..(4 * CHUNK) as u64 {
            queue.push_back(n);
        }
        assert_eq!(queue.chunks[0].as_slices().0.as_ptr(), first_chunk, "items already queued never move");
        assert_eq!(queue.chunks.len(), 5);
    }
}

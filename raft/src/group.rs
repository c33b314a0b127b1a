//! [`GroupId`]: the name of one Raft group, opaque to this crate.

use std::fmt;
use std::sync::Arc;

/// Longest group id accepted, in bytes. Storage keys carry the id behind a
/// one-byte length, so this is also the encoding's limit.
pub const MAX_GROUP_ID_BYTES: usize = 255;

/// The id of a Raft group, e.g. `region/eu-west` or `catalog`.
///
/// Opaque on purpose: a region may later be split into several groups (by
/// SKU hash) without any protocol or storage change, so nothing here parses
/// it. Every storage key and every Raft RPC carries it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(Arc<str>);

/// Why a string is not a valid [`GroupId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidGroupId {
    /// The id is the empty string.
    #[error("group id is empty; name the group, e.g. `region/eu-west`")]
    Empty,
    /// The id is longer than [`MAX_GROUP_ID_BYTES`].
    #[error("group id is {len} bytes; at most {MAX_GROUP_ID_BYTES} are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The id contains a control character (it would garble logs and CLIs).
    #[error("group id contains a control character at byte {at}; use printable characters only")]
    ControlCharacter {
        /// Byte offset of the first control character.
        at: usize,
    },
}

impl GroupId {
    /// Validates and wraps a group id: 1 to [`MAX_GROUP_ID_BYTES`] bytes, no
    /// control characters.
    pub fn new(id: impl AsRef<str>) -> Result<Self, InvalidGroupId> {
        let id = id.as_ref();
        if id.is_empty() {
            return Err(InvalidGroupId::Empty);
        }
        if id.len() > MAX_GROUP_ID_BYTES {
            return Err(InvalidGroupId::TooLong { len: id.len() });
        }
        if let Some((at, _)) = id.char_indices().find(|(_, c)| c.is_control()) {
            return Err(InvalidGroupId::ControlCharacter { at });
        }
        Ok(Self(id.into()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<(), InvalidGroupId>) {
        assert_eq!(GroupId::new(input).map(|id| assert_eq!(id.as_str(), input)), expect, "input {input:?}");
    }

    #[test]
    fn validates() {
        check("region/eu-west", Ok(()));
        check("catalog", Ok(()));
        check(&"g".repeat(MAX_GROUP_ID_BYTES), Ok(()));
        check("", Err(InvalidGroupId::Empty));
        check(&"g".repeat(MAX_GROUP_ID_BYTES + 1), Err(InvalidGroupId::TooLong { len: MAX_GROUP_ID_BYTES + 1 }));
        check("region/\neu", Err(InvalidGroupId::ControlCharacter { at: 7 }));
    }
}

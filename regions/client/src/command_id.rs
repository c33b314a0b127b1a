//! Command ids: the idempotency keys of mutating requests.
//!
//! The region's state machine remembers each command id with its payload for
//! 24 hours, so resending a request with the same id is always safe: that is
//! what lets the client retry a write whose outcome it does not know. A fresh
//! id therefore has to be unique across every client of a region, without
//! coordination.

use std::fmt;
use std::hash::{BuildHasher as _, Hasher as _, RandomState};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ParseError;

/// Longest command id the ledger accepts, in bytes (see `common.proto`).
pub const COMMAND_ID_LEN_MAX: usize = 255;

/// A command id: non-empty, at most 255 bytes, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommandId(String);

impl CommandId {
    /// A fresh id, `<prefix>-<unix ms, hex>-<64 random bits, hex>`, e.g.
    /// `ctl-19a3f0c2b1e-5f1c0d9e8a7b6c5d`.
    ///
    /// The random part comes from the standard library's randomly keyed
    /// hasher (seeded from the OS once per thread, then stepped for each
    /// state) over a process-wide counter, the process id and the clock: no
    /// two calls in one process collide, and two processes collide only by a
    /// 64-bit chance within the same millisecond. The time in front keeps ids
    /// roughly sortable in logs.
    ///
    /// `prefix` must be short ASCII without control characters (at most 32
    /// bytes); it names the tool that made the id.
    pub fn generate(prefix: &str) -> Self {
        assert!(!prefix.is_empty() && prefix.len() <= 32, "command id prefix must be 1..=32 bytes");
        assert!(prefix.bytes().all(|b| b.is_ascii_graphic()), "command id prefix must be visible ASCII");
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let id = format!("{prefix}-{now_ms:x}-{:016x}", random_u64());
        debug_assert!(id.len() <= COMMAND_ID_LEN_MAX);
        Self(id)
    }

    /// Checks an id someone chose (e.g. `--command-id`): non-empty, at most
    /// 255 bytes, no control characters, as the ledger requires.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let invalid = |reason: &str| ParseError::CommandId { reason: reason.to_owned() };
        if text.is_empty() {
            return Err(invalid("is empty"));
        }
        if text.len() > COMMAND_ID_LEN_MAX {
            return Err(invalid("is longer than 255 bytes"));
        }
        if text.chars().any(char::is_control) {
            return Err(invalid("contains a control character"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CommandId {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<CommandId> for String {
    fn from(id: CommandId) -> Self {
        id.0
    }
}

/// 64 random bits without a dependency: a freshly keyed SipHash over a
/// counter, the process id and the clock. Good for ids and backoff jitter,
/// not for secrets.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let ids: HashSet<CommandId> = (0..10_000).map(|_| CommandId::generate("ctl")).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(10) {
            assert!(id.as_str().starts_with("ctl-"));
            assert_eq!(CommandId::parse(id.as_str()).as_ref(), Ok(id));
        }
    }

    #[test]
    fn chosen_ids_are_checked() {
        assert!(CommandId::parse("order-42/retry").is_ok());
        assert!(CommandId::parse("").is_err());
        assert!(CommandId::parse("a\nb").is_err());
        assert!(CommandId::parse(&"x".repeat(COMMAND_ID_LEN_MAX)).is_ok());
        assert!(CommandId::parse(&"x".repeat(COMMAND_ID_LEN_MAX + 1)).is_err());
    }
}

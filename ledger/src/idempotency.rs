//! The idempotency table: `command id -> (payload digest, result)`, kept for
//! a retention window. It is what makes a client's retry after a timeout or
//! leader change safe: the retry returns the first attempt's result instead
//! of applying twice.

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::ids::Actor;
use crate::outcome::CommandResult;

/// A 256-bit BLAKE3 digest of a command's payload.
pub type Digest = [u8; 32];

/// What the ledger remembers of an applied command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Digest of `(actor, command)`: a retry must match it.
    pub digest: Digest,
    /// The result returned the first time.
    pub result: CommandResult,
    /// When it was applied; purged once older than the retention window.
    pub at_ms: u64,
}

/// Digest of what a command asks for: the actor and the command, but not
/// the leader's time stamp (a retry is stamped anew) nor the id itself.
///
/// `scratch` is a reusable buffer, so the apply path does not allocate for it.
pub fn payload_digest(actor: &Actor, command: &Command, scratch: &mut Vec<u8>) -> Digest {
    scratch.clear();
    let encoded =
        postcard::to_extend(&(actor, command), std::mem::take(scratch)).expect("encoding into memory cannot fail");
    let digest = *blake3::hash(&encoded).as_bytes();
    *scratch = encoded;
    digest
}

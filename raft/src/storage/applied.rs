//! The applied state of a group: its ledger, the last applied log id and
//! the last membership, behind one lock, and [`LedgerReader`] to query it.

use std::fmt::Debug;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use ledger::Ledger;
use openraft::EntryPayload;
use openraft::entry::RaftEntry;

use crate::type_config::{BatchResponse, Entry, LogId, StoredMembership};

const POISONED: &str = "a panic while applying left the ledger in an unknown state; restart the node to recover it";

/// Everything applying changes, kept together so that a snapshot is a
/// consistent cut: the ledger exactly as of `last_applied`.
#[derive(Debug)]
pub(crate) struct AppliedState {
    pub(crate) ledger: Ledger,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership,
}

impl AppliedState {
    /// Applies one committed entry and returns what to answer its proposer.
    pub(crate) fn apply(&mut self, entry: Entry) -> BatchResponse {
        let log_id = entry.log_id();
        // Applying an entry twice would apply its commands twice (a retry
        // within the idempotency window is answered, but an `Expire` or an
        // expired record is not): entries only ever move forward.
        debug_assert!(
            self.last_applied.is_none_or(|last| last.index < log_id.index),
            "entry {log_id} applied after {:?}",
            self.last_applied
        );
        let response = match entry.payload {
            EntryPayload::Blank => BatchResponse::default(),
            EntryPayload::Normal(batch) => BatchResponse {
                results: batch.envelopes.iter().map(|envelope| self.ledger.apply(envelope).into()).collect(),
            },
            EntryPayload::Membership(membership) => {
                self.membership = StoredMembership::new(Some(log_id), membership);
                BatchResponse::default()
            }
        };
        self.last_applied = Some(log_id);
        response
    }
}

/// The lock around [`AppliedState`], shared by the state machine, its
/// snapshot builders and readers.
#[derive(Debug)]
pub(crate) struct AppliedCell(RwLock<AppliedState>);

impl AppliedCell {
    pub(crate) fn new(state: AppliedState) -> Self {
        Self(RwLock::new(state))
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, AppliedState> {
        self.0.read().expect(POISONED)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, AppliedState> {
        self.0.write().expect(POISONED)
    }
}

/// Read access to a group's applied ledger, for queries. Cheap to clone.
///
/// It shows the applied state, not necessarily the latest committed one:
/// for a linearizable read, await openraft's `ensure_linearizable` first
/// (it returns once the read's log position is applied), then read.
#[derive(Clone)]
pub struct LedgerReader {
    pub(crate) cell: std::sync::Arc<AppliedCell>,
}

impl Debug for LedgerReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerReader").field("last_applied", &self.last_applied()).finish_non_exhaustive()
    }
}

impl LedgerReader {
    /// Runs `f` on the ledger. Apply waits while `f` runs: keep it short.
    pub fn read<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.cell.read().ledger)
    }

    /// Runs `f` on the applied ledger and returns its value with the log id
    /// of the last entry applied to that ledger, both under one lock.
    pub fn read_at<T>(&self, f: impl FnOnce(&Ledger) -> T) -> (T, Option<LogId>) {
        let applied = self.cell.read();
        (f(&applied.ledger), applied.last_applied)
    }

    /// The log id of the last applied entry.
    pub fn last_applied(&self) -> Option<LogId> {
        self.cell.read().last_applied
    }
}

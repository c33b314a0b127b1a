//! The applied state of a group: its ledger, the last applied log id, the
//! last membership and the highest node id ever a member, behind one lock,
//! and [`LedgerReader`] to query it.

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
    /// The highest node id any applied membership entry named, voter or
    /// learner (0 before the first): ids are never reused, and once a node
    /// is removed no current membership remembers its id. Like the ledger,
    /// a function of the applied log, carried by snapshots.
    pub(crate) highest_node_id_used: u64,
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
                // `nodes` holds every voter and learner (openraft keeps voters a subset).
                let highest = membership.nodes().map(|(id, _)| *id).max().unwrap_or(0);
                self.highest_node_id_used = self.highest_node_id_used.max(highest);
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

    /// The highest node id any membership entry applied so far has named,
    /// voter or learner, the bootstrap membership included (0 before the
    /// first is applied). Ids at or below it are taken or retired, so a new
    /// node's id must exceed it: a removed node's old process, with its old
    /// vote and log, must never be counted as a new node, and a fresh node
    /// under an old id could vote twice in one term. Survives restarts and
    /// snapshots (which carry it), unlike the ids of the current membership.
    pub fn highest_node_id_used(&self) -> u64 {
        self.cell.read().highest_node_id_used
    }
}

//! [`StateMachineStore`]: one group's ledger as openraft's state machine.
//!
//! The applied state lives in memory (`applied`). It is made durable by
//! snapshots (`snapshot_store`) plus the log: on restart the state is the
//! stored snapshot, and openraft re-applies the committed entries after it;
//! the ledger is deterministic, so this rebuilds the exact state. See the
//! crate docs, "Durability and recovery".

use std::fmt::Debug;
use std::io;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use ledger::{Ledger, LedgerConfig};
use openraft::OptionalSend;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::type_config::TypeConfigExt;

use crate::group::GroupId;
use crate::storage::Shared;
use crate::storage::applied::{AppliedCell, AppliedState, LedgerReader};
use crate::storage::db::OpenError;
use crate::storage::error::StoreError;
use crate::storage::snapshot_builder::{LedgerSnapshotBuilder, SnapshotBuilds};
use crate::storage::snapshot_check::{SnapshotRejected, verify_snapshot};
use crate::storage::snapshot_store::{Saved, SnapshotStore, StoredSnapshotSize};
use crate::type_config::{LogId, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};

/// One group's state machine: its [`Ledger`] and snapshots. Hand it to
/// `openraft::Raft::new`; keep a [`LedgerReader`] for queries.
pub struct StateMachineStore {
    group: GroupId,
    /// The group's region: a snapshot of any other region's ledger is refused.
    region: String,
    cell: Arc<AppliedCell>,
    snapshots: Arc<SnapshotStore>,
    builds: SnapshotBuilds,
}

impl Drop for StateMachineStore {
    /// openraft drops its state machine when Raft stops: a build still
    /// running is abandoned rather than awaited.
    fn drop(&mut self) {
        self.builds.abandon();
    }
}

impl Debug for StateMachineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachineStore").field("group", &self.group).finish_non_exhaustive()
    }
}

impl StateMachineStore {
    /// Opens the group's state machine: the stored snapshot's state if there
    /// is one (checked, and refused if damaged or another region's), else an
    /// empty ledger with `config`. With the log purged up to `purged`, the
    /// snapshot must reach that far: otherwise the entries in between are
    /// gone from this node, and it is refused.
    pub(crate) fn open(
        shared: Arc<Shared>,
        group: GroupId,
        config: LedgerConfig,
        purged: Option<LogId>,
    ) -> Result<Self, OpenError> {
        let (snapshots, stored) = SnapshotStore::open(shared, group.clone()).map_err(|error| match error {
            StoreError::Corrupt { .. } => OpenError::CorruptSnapshot { group: group.clone(), source: Box::new(error) },
            error => OpenError::Read(error),
        })?;
        let snapshot_index = stored.as_ref().and_then(|snapshot| snapshot.meta.last_log_id);
        if purged > snapshot_index {
            return Err(OpenError::SnapshotMissing {
                group,
                purged: purged.map_or(0, |id| id.index),
                snapshot: snapshot_index.map(|id| id.index),
            });
        }
        let region = config.region.clone();
        let state = match stored {
            None => AppliedState {
                ledger: Ledger::new(config),
                last_applied: None,
                membership: StoredMembership::default(),
                highest_node_id_used: 0,
            },
            Some(snapshot) => {
                let verified = verify_snapshot(&region, &snapshot.snapshot).map_err(|rejected| match rejected {
                    SnapshotRejected::WrongRegion { expected, found } => {
                        OpenError::ForeignSnapshot { group: group.clone(), expected, found }
                    }
                    rejected => OpenError::CorruptSnapshot { group: group.clone(), source: Box::new(rejected) },
                })?;
                tracing::info!(%group, index = snapshot.meta.last_log_id.map(|id| id.index), "loaded the stored snapshot");
                AppliedState {
                    ledger: verified.ledger,
                    last_applied: snapshot.meta.last_log_id,
                    membership: snapshot.meta.last_membership,
                    highest_node_id_used: verified.highest_node_id_used,
                }
            }
        };
        Ok(Self {
            group,
            region,
            cell: Arc::new(AppliedCell::new(state)),
            snapshots: Arc::new(snapshots),
            builds: SnapshotBuilds::default(),
        })
    }

    /// The group this state machine belongs to.
    pub fn group(&self) -> &GroupId {
        &self.group
    }

    /// A handle for reading the ledger while openraft owns the state machine.
    pub fn reader(&self) -> LedgerReader {
        LedgerReader { cell: Arc::clone(&self.cell) }
    }

    /// A handle on the group's snapshot builds on this node.
    pub fn snapshot_builds(&self) -> SnapshotBuilds {
        self.builds.clone()
    }

    /// A handle on the size of the group's stored snapshot.
    pub fn stored_snapshot_size(&self) -> StoredSnapshotSize {
        self.snapshots.size.clone()
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = LedgerSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let state = self.cell.read();
        Ok((state.last_applied, state.membership.clone()))
    }

    /// Its span records the first and last index applied, which joins it to
    /// the proposing API call's span (that records its command's index).
    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.group, first, last))]
    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut first = None;
        let mut last = None;
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            first.get_or_insert(entry.log_id.index);
            last = Some(entry.log_id.index);
            // One entry per lock: readers and snapshot builders get in between entries.
            let response = self.cell.write().apply(entry);
            // Every responder is answered: it is what `client_write` waits for.
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        tracing::Span::current().record("first", first).record("last", last);
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> LedgerSnapshotBuilder {
        LedgerSnapshotBuilder {
            group: self.group.clone(),
            cell: Arc::clone(&self.cell),
            snapshots: Arc::clone(&self.snapshots),
            builds: self.builds.clone(),
        }
    }

    #[tracing::instrument(level = "info", skip_all, fields(group = %self.group, index = meta.last_log_id.map(|id| id.index)))]
    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: Vec<u8>) -> Result<(), io::Error> {
        let current = self.cell.read().last_applied;
        if meta.last_log_id < current {
            return Err(SnapshotRejected::Stale { offered: meta.last_log_id, current }.into());
        }
        // Restoring decodes and checks the whole state: CPU work, off the async threads.
        let region = self.region.clone();
        let (verified, snapshot) = TypeConfig::spawn_blocking(move || {
            let verified = verify_snapshot(&region, &snapshot);
            (verified, snapshot)
        })
        .await?;
        let verified = verified?;
        // Durable before the state is replaced: once this returns, openraft
        // may report the snapshot's entries as held by this replica.
        match self.snapshots.save_if_newer(meta, snapshot).await?.0 {
            Saved::Written => {}
            // openraft re-installs the stored snapshot on startup when it is
            // ahead of the applied state; nothing to store then.
            Saved::KeptStored(stored) if stored == meta.last_log_id => {}
            Saved::KeptStored(stored) => {
                return Err(SnapshotRejected::Stale { offered: meta.last_log_id, current: stored }.into());
            }
        }
        // The snapshot is at or past the applied state on the same log, so
        // its highest node id covers every membership applied here.
        *self.cell.write() = AppliedState {
            ledger: verified.ledger,
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            highest_node_id_used: verified.highest_node_id_used,
        };
        tracing::info!("installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self.snapshots.load()?)
    }
}

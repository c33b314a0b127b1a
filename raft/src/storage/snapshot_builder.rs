//! [`LedgerSnapshotBuilder`]: builds a group's snapshot beside apply.

use std::sync::Arc;

use openraft::storage::RaftSnapshotBuilder;

use crate::group::GroupId;
use crate::storage::applied::AppliedCell;
use crate::storage::background::{self, DutyCycle};
use crate::storage::group_snapshot;
use crate::storage::snapshot_store::SnapshotStore;
use crate::type_config::{Snapshot, SnapshotMeta, TypeConfig};

/// Builds a group's snapshot without stopping apply: it takes a cut of the
/// ledger ([`ledger::Ledger::cut`], constant time) and copies the highest
/// node id used under the lock (a consistent cut, and the only time apply
/// waits), then encodes them as a group snapshot on a thread in the idle
/// scheduling class, paced to a quarter of the time, and stores it without
/// the lock.
pub struct LedgerSnapshotBuilder {
    pub(crate) group: GroupId,
    pub(crate) cell: Arc<AppliedCell>,
    pub(crate) snapshots: Arc<SnapshotStore>,
}

impl RaftSnapshotBuilder<TypeConfig> for LedgerSnapshotBuilder {
    type SnapshotData = Vec<u8>;

    #[tracing::instrument(level = "info", skip_all, fields(group = %self.group, index))]
    async fn build_snapshot(&mut self) -> Result<Snapshot, std::io::Error> {
        let (highest_node_id_used, cut, meta) = {
            let state = self.cell.read();
            let meta = SnapshotMeta { last_log_id: state.last_applied, last_membership: state.membership.clone() };
            (state.highest_node_id_used, state.ledger.cut(), meta)
        };
        tracing::Span::current().record("index", meta.last_log_id.map(|id| id.index));
        // Room for the last snapshot and an eighth more: the state rarely
        // grows faster between snapshots, and the buffer then never regrows.
        let last = usize::try_from(self.snapshots.size.bytes()).unwrap_or(usize::MAX);
        let expected_bytes = last.saturating_add(last / 8);
        // Encoding walks the whole state: seconds of CPU, in the idle
        // class and spread out to a quarter of the time.
        let data = background::run("snapshot-encoder", move || {
            let mut duty = DutyCycle::new();
            group_snapshot::encode(highest_node_id_used, &cut, expected_bytes, &mut || duty.pause())
        })
        .await?;
        // If a newer snapshot was installed meanwhile, it stays stored; this
        // one is still a valid snapshot of its own position.
        self.snapshots.save_if_newer(&meta, &data).await?;
        Ok(Snapshot { meta, snapshot: data })
    }
}

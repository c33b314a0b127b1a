//! [`LedgerSnapshotBuilder`]: builds a group's snapshot beside apply, and
//! [`SnapshotBuilds`]: whether one is being built, and the signal that
//! abandons builds when the state machine goes away.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use openraft::storage::RaftSnapshotBuilder;

use crate::group::GroupId;
use crate::storage::applied::AppliedCell;
use crate::storage::background::{self, DutyCycle};
use crate::storage::group_snapshot;
use crate::storage::snapshot_store::SnapshotStore;
use crate::type_config::{Snapshot, SnapshotMeta};

/// Builds a group's snapshot without stopping apply: it takes a cut of the
/// ledger ([`ledger::Ledger::cut`], constant time) and copies the highest
/// node id used under the lock (a consistent cut, and the only time apply
/// waits), then encodes them as a group snapshot on a thread in the idle
/// scheduling class, paced to a quarter of the time, and stores it without
/// the lock. Abandoned, with an error, once its state machine is dropped.
pub struct LedgerSnapshotBuilder {
    pub(crate) group: GroupId,
    pub(crate) cell: Arc<AppliedCell>,
    pub(crate) snapshots: Arc<SnapshotStore>,
    pub(crate) builds: SnapshotBuilds,
}

impl RaftSnapshotBuilder<crate::TypeConfig> for LedgerSnapshotBuilder {
    type SnapshotData = Vec<u8>;

    #[tracing::instrument(level = "info", skip_all, fields(group = %self.group, index))]
    async fn build_snapshot(&mut self) -> Result<Snapshot, std::io::Error> {
        let _building = self.builds.started();
        let started = Instant::now();
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
        let builds = self.builds.clone();
        let data = background::run("snapshot-encoder", move || {
            let mut duty = DutyCycle::new();
            group_snapshot::encode(highest_node_id_used, &cut, expected_bytes, &mut || {
                if builds.abandoned() {
                    return ControlFlow::Break(());
                }
                duty.pause();
                ControlFlow::Continue(())
            })
        })
        .await?
        .ok_or_else(|| std::io::Error::other("snapshot abandoned: the state machine is shutting down"))?;
        // If a newer snapshot was installed meanwhile, it stays stored; this
        // one is still a valid snapshot of its own position.
        let (_, data) = self.snapshots.save_if_newer(&meta, data).await?;
        self.snapshots.disk_metrics().snapshot_build_seconds.observe(started.elapsed().as_secs_f64());
        Ok(Snapshot { meta, snapshot: data })
    }
}

/// A group's snapshot builds on this node, as the snapshot schedule and
/// the state machine see them: whether one is running (a replica that
/// leads while it builds slows every write, so the schedule hands
/// leadership over), and the signal that abandons them. A build takes
/// tens of seconds when paced, and holds the database open until it ends:
/// a stopping node must not wait for it. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct SnapshotBuilds(Arc<BuildFlags>);

#[derive(Debug, Default)]
struct BuildFlags {
    /// Builds started so far.
    started: AtomicU64,
    /// Builds running now.
    running: AtomicU64,
    /// Set once the state machine is gone: running builds stop.
    abandoned: AtomicBool,
}

impl SnapshotBuilds {
    /// Whether a build is running.
    pub fn running(&self) -> bool {
        self.0.running.load(Ordering::Acquire) > 0
    }

    /// How many builds have started: tells one build from the next.
    pub fn started_count(&self) -> u64 {
        self.0.started.load(Ordering::Acquire)
    }

    /// Counts a build as running until the guard is dropped.
    fn started(&self) -> Running {
        self.0.started.fetch_add(1, Ordering::AcqRel);
        self.0.running.fetch_add(1, Ordering::AcqRel);
        Running(Arc::clone(&self.0))
    }

    /// Abandons every running and later build.
    pub(crate) fn abandon(&self) {
        self.0.abandoned.store(true, Ordering::Release);
    }

    fn abandoned(&self) -> bool {
        self.0.abandoned.load(Ordering::Acquire)
    }
}

/// One running build: counted out when dropped, however the build ends.
struct Running(Arc<BuildFlags>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

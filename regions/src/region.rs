//! [`Region`]: what the API services need of the group replica this node
//! hosts: propose a command (through the batching [`Proposer`]) and read the
//! applied ledger, linearizably by default.

use std::sync::Arc;
use std::time::Duration;

use ledger::Command;
use ledger::ids::{Actor, CommandId};
use ledger::{Ledger, LedgerConfig};
use openraft::ReadPolicy;
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{LinearizableReadError, RaftError};
use raft::GroupId;
use raft::storage::LedgerReader;
use raft::transport::LedgerRaft;

use crate::metrics::Metrics;
use crate::proposer::{Committed, LeaderHint, ProposeError, Proposer};

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Reflects every write acknowledged before the read began: served by
    /// the leader after confirming its leadership with a quorum (read index).
    #[default]
    Linearizable,
    /// Whatever this replica has applied, possibly behind the leader; only
    /// when the caller asks for it.
    Stale,
}

/// A read's value and the log index it was read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read<T> {
    /// What the read function returned.
    pub value: T,
    /// Last log index applied when the value was read.
    pub applied_index: u64,
}

/// Why a read could not be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A linearizable read reached a replica that does not lead.
    #[error("this replica is not the group's leader")]
    NotLeader(LeaderHint),
    /// The leader could not confirm its leadership with a quorum in time.
    #[error("the leader could not reach a quorum within {0:?}")]
    NoQuorum(Duration),
    /// The group's Raft stopped on this node.
    #[error("the replica has stopped: {0}")]
    Stopped(String),
}

/// The group replica hosted by this node, as the API services use it.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Region {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    group: GroupId,
    region: String,
    node_id: u64,
    raft: LedgerRaft,
    reader: LedgerReader,
    proposer: Proposer,
    metrics: Metrics,
    deadline: Duration,
    /// The ledger's settings, read once: no command changes them.
    limits: LedgerConfig,
}

impl Region {
    /// The replica of `group` (region `region`) on node `node_id`. Writes and
    /// linearizable reads wait at most `deadline` for a quorum.
    pub fn new(
        group: GroupId,
        region: String,
        raft: LedgerRaft,
        reader: LedgerReader,
        proposer: Proposer,
        metrics: Metrics,
        deadline: Duration,
    ) -> Self {
        let node_id = raft.metrics().borrow_watched().id;
        let limits = reader.read(|ledger| ledger.config().clone());
        Self { inner: Arc::new(Inner { group, region, node_id, raft, reader, proposer, metrics, deadline, limits }) }
    }

    /// The group's id.
    pub fn group(&self) -> &GroupId {
        &self.inner.group
    }

    /// The region whose stock the group owns.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.inner.node_id
    }

    /// The group's Raft on this node, for the admin API.
    pub fn raft(&self) -> &LedgerRaft {
        &self.inner.raft
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The group's replicated limits (lines per command, hold TTL, cart line
    /// size). They are part of the ledger's state but no command changes
    /// them, so the copy read at start-up is exact and the request path
    /// checks against it without touching the ledger's lock.
    pub fn limits(&self) -> &LedgerConfig {
        &self.inner.limits
    }

    /// How long writes and linearizable reads wait for a quorum.
    pub fn deadline(&self) -> Duration {
        self.inner.deadline
    }

    /// Proposes `command` and waits, at most the deadline, until it applied.
    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.inner.group, command_id = %id))]
    pub async fn propose(&self, id: CommandId, actor: Actor, command: Command) -> Result<Committed, ProposeError> {
        let deadline = self.inner.deadline;
        tokio::time::timeout(deadline, self.inner.proposer.propose(id, actor, command))
            .await
            .unwrap_or(Err(ProposeError::TimedOut(deadline)))
    }

    /// Reads the applied ledger with `consistency`.
    #[tracing::instrument(level = "debug", skip_all, fields(group = %self.inner.group, ?consistency))]
    pub async fn read<T>(&self, consistency: Consistency, f: impl FnOnce(&Ledger) -> T) -> Result<Read<T>, ReadError> {
        if consistency == Consistency::Linearizable {
            let deadline = self.inner.deadline;
            let confirmed = tokio::time::timeout(deadline, self.inner.raft.ensure_linearizable(ReadPolicy::ReadIndex))
                .await
                .map_err(|_elapsed| ReadError::NoQuorum(deadline))?;
            match confirmed {
                Ok(_) => {}
                Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(forward))) => {
                    return Err(ReadError::NotLeader((&forward).into()));
                }
                Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {
                    return Err(ReadError::NoQuorum(deadline));
                }
                Err(RaftError::Fatal(fatal)) => return Err(ReadError::Stopped(fatal.to_string())),
            }
        }
        let (value, applied) = self.inner.reader.read_at(f);
        Ok(Read { value, applied_index: applied.map_or(0, |id| id.index) })
    }

    /// The index of the last entry this replica applied (0 before any).
    pub fn applied_index(&self) -> u64 {
        self.inner.reader.last_applied().map_or(0, |id| id.index)
    }

    /// The highest node id any membership entry applied here named (see
    /// [`LedgerReader::highest_node_id_used`]): a new node's id must exceed it.
    pub fn highest_node_id_used(&self) -> u64 {
        self.inner.reader.highest_node_id_used()
    }

    /// Who leads the group, as far as this replica knows.
    pub fn leader_hint(&self) -> LeaderHint {
        let metrics = self.inner.raft.metrics().borrow_watched().clone();
        let node = metrics.current_leader.and_then(|id| metrics.membership_config.membership().get_node(&id).cloned());
        LeaderHint { node_id: metrics.current_leader, api_addr: node.map(|n| n.api_addr).filter(|a| !a.is_empty()) }
    }
}

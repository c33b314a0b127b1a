//! The Raft type configuration: what a log entry carries, what applying it
//! answers, and how a node is addressed.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// openraft's type configuration for a ledger group.
    ///
    /// Node ids are `u64` and never reused (a removed node's id stays
    /// retired: the applied state keeps the highest id ever a member, see
    /// [`LedgerReader::highest_node_id_used`](crate::storage::LedgerReader::highest_node_id_used));
    /// an entry's payload is a [`LedgerBatch`]; applying it answers a
    /// [`BatchResponse`].
    pub TypeConfig:
        D = LedgerBatch,
        R = BatchResponse,
        NodeId = u64,
        Node = NodeInfo,
);

/// A Raft log id of a ledger group (leader id and index).
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
/// A vote of a ledger group.
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
/// A log entry of a ledger group.
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
/// A membership config with the log id that introduced it.
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
/// What a snapshot covers: last log id and membership.
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// A snapshot: its meta and the group snapshot's bytes
/// ([`GroupSnapshot::encode`](crate::storage::GroupSnapshot::encode): a
/// checked header, then the ledger's self-checking snapshot bytes).
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, Vec<u8>>;

/// How to reach a node: what membership configs record for each node id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's gRPC address (`host:port`), serving the Raft transport of
    /// every group it hosts. Empty only in openraft's own test fixtures.
    pub grpc_addr: String,
    /// The node's client-facing gRPC address (`host:port`): what a follower
    /// tells clients in a leader hint. Empty when the node serves no clients.
    pub api_addr: String,
}

/// The payload of one log entry: ledger commands to apply in order.
///
/// The leader batches many concurrent proposals into one entry, so they
/// share one append, one replication round trip and one fsync. The
/// commands are shared, not copied, by clones of the entry: the log's
/// entry cache hands the same entry to the state machine and to every
/// follower's replication. Encoded as a sequence, as a `Vec` is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerBatch {
    /// The commands, each with its idempotency id and the leader's time stamp.
    pub envelopes: Arc<[ledger::Envelope]>,
}

impl fmt::Display for LedgerBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LedgerBatch({} commands)", self.envelopes.len())
    }
}

/// What applying one entry answered: one result per envelope of its
/// [`LedgerBatch`], in the same order. Empty for blank and membership entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One result per envelope, in order.
    pub results: Vec<EnvelopeResult>,
}

/// The result of applying one envelope: [`ledger::Applied`] in a form that
/// can cross the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeResult {
    /// What the command did, or why it did nothing.
    pub result: ledger::CommandResult,
    /// Whether this was a retry answered from the idempotency record.
    pub replayed: bool,
}

impl From<ledger::Applied> for EnvelopeResult {
    fn from(applied: ledger::Applied) -> Self {
        Self { result: applied.result, replayed: applied.replayed }
    }
}

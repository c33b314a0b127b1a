//! openraft glue for the inventory ledger: the Raft type configuration and
//! RocksDB storage for every Raft group a node hosts.
//!
//! Each region's ledger ([`ledger::Ledger`]) is replicated by one Raft group
//! (openraft `0.10.0-alpha.37`). A node process hosts several groups (its
//! region's and, later, the catalog's), each its own `openraft::Raft`, all
//! sharing one RocksDB and one flusher that makes many groups' writes
//! durable with one fsync.
//!
//! # Layout
//! - [`type_config`]: [`TypeConfig`]; an entry carries a [`LedgerBatch`]
//!   of commands, applying it answers a [`BatchResponse`].
//! - [`group`]: [`GroupId`], the opaque name of a group.
//! - [`leadership`]: handing a group's leadership to another voter.
//! - [`snapshot_schedule`]: when each replica takes its snapshots.
//! - [`storage`]: [`Storage`] (the process-wide database), and per group
//!   a [`LogStore`] (`RaftLogStorage`) and a [`StateMachineStore`]
//!   (`RaftStateMachine`).
//!
//! # Durability and recovery
//! - **Log and vote.** An append's entries are readable when `append`
//!   returns and durable (WAL synced) before openraft's `IOFlushed`
//!   callback fires; `save_vote` returns only once durable. Writes reach
//!   the disk in the order they were issued, so after a crash the log is a
//!   prefix of what was written: a truncate or purge is never applied
//!   without the appends issued before it.
//! - **Committed** is written in that order but its sync not waited for: openraft
//!   awaits `save_committed` inside its core loop before applying, so a
//!   synced save there cost every commit (on every replica) one more fsync
//!   on the path of every write. It becomes durable with the next sync
//!   (the next append's). A crash, of the process or of the OS, can leave
//!   it a little behind what was applied; nothing is lost (the entries are
//!   in the log of a quorum), the replica only replays less on restart and
//!   catches up from the leader. That is safe because a restarted leader
//!   never resumes its old term (`enable_leader_restore` is off in
//!   `regiond`): it stands for election, and a new term's leader serves a
//!   linearizable read only after committing its own first entry, which
//!   covers every entry committed before.
//! - **Write-ahead log.** RocksDB buffers the log in memory (manual WAL
//!   flush) and the flusher's syncer writes and syncs it in one call, so a
//!   write costs no system call of its own. Everything acknowledged was
//!   synced first; a crash of either kind drops only unsynced writes, and
//!   always a suffix of the write order.
//! - **Applied state** is not written per entry. It is the group's latest
//!   stored snapshot plus the committed log after it; the ledger is
//!   deterministic, so replaying the same entries rebuilds the same state,
//!   bit for bit. Logs are purged only up to a durable snapshot, so every
//!   entry ever applied is either in the snapshot or in the log.
//! - **Restart.** [`Storage::state_machine`] loads the stored snapshot (and
//!   refuses a damaged one). `openraft::Raft::new` then runs
//!   `StorageHelper::get_initial_state`, which re-applies the log from the
//!   snapshot's last log id up to the saved `committed` *before* `new`
//!   returns: after a clean stop the state machine is where it was before
//!   the restart; after a crash, at most the unsynced tail of `committed`
//!   behind, which the leader's next entries bring back.
//!   `Raft::wait_for_recovery` is only needed by a node that must not
//!   serve even a stale read older than the cluster's current commit;
//!   linearizable reads (`ensure_linearizable`) are correct either way.
//! - **Snapshots** are encoded beside apply, on a thread in the idle
//!   scheduling class, from a cut of the ledger taken under its lock in
//!   constant time ([`ledger::Ledger::cut`]: its large collections are
//!   persistent), when [`snapshot_schedule`] asks for them,
//!   stored atomically as `(meta, bytes)`, and never
//!   replaced by an older one. The bytes are a
//!   [`GroupSnapshot`](storage::GroupSnapshot): a checksummed header with
//!   what the applied state keeps beside the ledger (the highest node id
//!   ever a member), then the ledger's own bytes. An installed or loaded
//!   snapshot is checked (header, format, checksum, invariants, region)
//!   before it replaces anything.
//!
//! The node (`regiond`) opens one [`Storage`], then for each group it hosts:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use ledger::LedgerConfig;
//! use openraft::network::{NetSnapshot, RaftNetworkFactory};
//! use raft::storage::{IfMissing, NodeIdentity, StorageConfig};
//! use raft::{GroupId, Storage, TypeConfig};
//!
//! async fn host_group<N>(network: N) -> Result<(), Box<dyn std::error::Error>>
//! where
//!     N: RaftNetworkFactory<TypeConfig>,
//!     N::Network: NetSnapshot<TypeConfig, SnapshotData = Vec<u8>>,
//! {
//!     let storage = Storage::open(&StorageConfig {
//!         data_dir: "/var/lib/regiond".into(),
//!         identity: NodeIdentity { cluster_id: "prod".into(), node_id: 1 },
//!         if_missing: IfMissing::Refuse,
//!     })?;
//!     let group = GroupId::new("region/eu-west")?;
//!     let log_store = storage.log_store(group.clone());
//!     let state_machine = storage.state_machine(group, LedgerConfig::new("eu-west"))?;
//!     let reader = state_machine.reader();
//!     let config = Arc::new(openraft::Config::default().validate()?);
//!     // Recovery runs inside `new`: when it returns, the ledger is where it was.
//!     let raft = openraft::Raft::new(1, config, network, log_store, state_machine).await?;
//!     raft.ensure_linearizable(openraft::ReadPolicy::ReadIndex).await?;
//!     let stock_levels = reader.read(|ledger| ledger.levels().len());
//!     # let _ = stock_levels;
//!     Ok(())
//! }
//! ```
#![deny(missing_docs)]

pub mod group;
pub mod group_builds;
pub mod leadership;
pub mod snapshot_schedule;
pub mod storage;
pub mod transport;
pub mod type_config;

pub use crate::group::GroupId;
pub use crate::storage::{LogStore, StateMachineStore, Storage};
pub use crate::transport::{Faults, Transport, TransportConfig};
pub use crate::type_config::{BatchResponse, EnvelopeResult, LedgerBatch, NodeInfo, TypeConfig};

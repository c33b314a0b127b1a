//! [`FaultHooks`]: everything a chaos test may disturb on one node (its
//! Raft links, its disk syncs, its leader clock), handed to the admin API
//! only when the node's config enables fault injection. A node started
//! without it has no hooks at all, so `Admin.SetFaults` cannot reach them.

use std::sync::Arc;

use raft::Transport;
use raft::storage::{DiskFaultConfig, DiskFaults};
use raft::transport::{FaultsError, LinkFaults};

use crate::clock::LeaderClock;

/// One node's fault switches.
#[derive(Clone, Debug)]
pub struct FaultHooks {
    transport: Transport,
    disk: DiskFaults,
    clock: Arc<LeaderClock>,
}

/// Every fault a node can be put under at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFaults {
    /// Raft link rules (drop, delay, one-way) and their seed.
    pub links: LinkFaults,
    /// Slow or failing WAL syncs.
    pub disk: DiskFaultConfig,
    /// Shift of the leader clock, in milliseconds.
    pub clock_offset_ms: i64,
}

impl FaultHooks {
    /// The hooks over a node's transport, storage and leader clock.
    pub fn new(transport: Transport, disk: DiskFaults, clock: Arc<LeaderClock>) -> Self {
        Self { transport, disk, clock }
    }

    /// Replaces every fault at once and returns what is now in force.
    pub fn set(&self, faults: NodeFaults) -> Result<NodeFaults, FaultsError> {
        self.transport.faults().set(faults.links)?;
        self.disk.set(faults.disk);
        self.clock.set_offset_ms(faults.clock_offset_ms);
        self.current()
    }

    /// The faults in force.
    pub fn current(&self) -> Result<NodeFaults, FaultsError> {
        Ok(NodeFaults {
            links: self.transport.faults().current()?,
            disk: self.disk.current(),
            clock_offset_ms: self.clock.offset_ms(),
        })
    }
}

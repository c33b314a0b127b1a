//! [`GroupRegistry`]: which Raft groups this node hosts, so one server
//! serves them all.
//!
//! Every Raft RPC names its group; the server looks the group up here and
//! hands the request to that group's `openraft::Raft`, and tells the
//! group's [`GroupBuilds`] what the sender said about snapshot builds. Lookups take a read
//! lock for a hash-map probe and a handle clone, never across an await, so
//! requests for different groups (or the same group) run concurrently.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::group::GroupId;
use crate::group_builds::GroupBuilds;
use crate::storage::StateMachineStore;
use crate::type_config::TypeConfig;

/// A ledger group's Raft instance, as the node creates it with
/// `openraft::Raft::new(node_id, config, transport.network(group, builds), log_store, state_machine)`.
pub type LedgerRaft = openraft::Raft<TypeConfig, StateMachineStore>;

/// Why a group could not be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The group already has a replica on this node: a second would share
    /// its storage and split its traffic.
    #[error("group `{0}` already has a replica on this node; deregister it first")]
    AlreadyHosted(GroupId),
}

/// The groups this node hosts, by id. Cheap to clone; clones share the map.
#[derive(Clone, Default)]
pub struct GroupRegistry {
    groups: Arc<RwLock<HashMap<GroupId, Hosted>>>,
}

/// A hosted group: its Raft, and what this node knows of its builds.
#[derive(Clone)]
pub(crate) struct Hosted {
    pub(crate) raft: LedgerRaft,
    pub(crate) builds: GroupBuilds,
}

impl std::fmt::Debug for GroupRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupRegistry").field("groups", &self.groups()).finish()
    }
}

impl GroupRegistry {
    /// Starts serving `group`'s RPCs with `raft`; `builds` is the same
    /// knowledge of the group's snapshot builds its network was made with.
    pub fn register(&self, group: GroupId, raft: LedgerRaft, builds: GroupBuilds) -> Result<(), RegistryError> {
        let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
        if groups.contains_key(&group) {
            return Err(RegistryError::AlreadyHosted(group));
        }
        tracing::info!(%group, "hosting group");
        groups.insert(group, Hosted { raft, builds });
        Ok(())
    }

    /// Stops serving `group`: its RPCs are answered NOT_FOUND from now on.
    /// Returns its Raft for the caller to shut down.
    pub fn deregister(&self, group: &GroupId) -> Option<LedgerRaft> {
        let removed = self.groups.write().unwrap_or_else(PoisonError::into_inner).remove(group);
        if removed.is_some() {
            tracing::info!(%group, "no longer hosting group");
        }
        removed.map(|hosted| hosted.raft)
    }

    /// `group`, if this node hosts it.
    pub(crate) fn get(&self, group: &GroupId) -> Option<Hosted> {
        self.groups.read().unwrap_or_else(PoisonError::into_inner).get(group).cloned()
    }

    /// The hosted groups' ids, sorted.
    pub fn groups(&self) -> Vec<GroupId> {
        let mut ids: Vec<_> = self.groups.read().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        ids.sort();
        ids
    }
}

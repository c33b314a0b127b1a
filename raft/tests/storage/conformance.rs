//! openraft's storage conformance suite, run for two families of groups at
//! once over one shared database: every group id of one family is a prefix
//! of ids of both families (`region/eu-1` of `region/eu-10` and of
//! `region/eu-1-3`), so any leak between key prefixes shows up as a failure.

use std::sync::atomic::{AtomicUsize, Ordering};

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use raft::{LogStore, StateMachineStore, Storage, TypeConfig};

use super::support;

/// Builds the stores of a new group on every call, in one shared storage.
struct GroupBuilder {
    storage: Storage,
    family: &'static str,
    built: AtomicUsize,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore> for GroupBuilder {
    async fn build(&self) -> Result<((), LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let n = self.built.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", self.family);
        let state_machine = self
            .storage
            .state_machine(support::group(&id), support::ledger_config())
            .map_err(|e| StorageError::read(TypeConfig::err_from_error(&e)))?;
        Ok(((), self.storage.log_store(support::group(&id)), state_machine))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_suite_passes_for_groups_sharing_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let storage = support::open(dir.path());
    let builder = |family| GroupBuilder { storage: storage.clone(), family, built: AtomicUsize::new(0) };
    let (first, second) = tokio::join!(Suite::test_all(builder("region/eu")), Suite::test_all(builder("region/eu-1")));
    first.expect("suite, family region/eu");
    second.expect("suite, family region/eu-1");
}

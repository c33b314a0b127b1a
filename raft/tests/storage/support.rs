//! Fixtures shared by the storage tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use futures_util::stream;
use ledger::command::{AdjustStock, Adjustment, HoldLine, RegisterWarehouse, Reserve, Split};
use ledger::{Command, Envelope, LedgerConfig};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::type_config::TypeConfigExt;
use openraft::{Membership, impls::leader_id_adv::LeaderId};
use raft::storage::{IfMissing, NodeIdentity, StorageConfig};
use raft::type_config::{Entry, LogId};
use raft::{GroupId, LedgerBatch, LogStore, NodeInfo, StateMachineStore, Storage, TypeConfig};

pub(crate) const CLUSTER: &str = "test-cluster";
pub(crate) const NODE: u64 = 1;
pub(crate) const REGION: &str = "eu-west";

pub(crate) fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        identity: NodeIdentity { cluster_id: CLUSTER.into(), node_id: NODE },
        if_missing: IfMissing::Create,
    }
}

pub(crate) fn open(dir: &Path) -> Storage {
    Storage::open(&config(dir)).expect("open storage")
}

pub(crate) fn group(id: &str) -> GroupId {
    GroupId::new(id).expect("valid group id")
}

pub(crate) fn ledger_config() -> LedgerConfig {
    LedgerConfig::new(REGION)
}

pub(crate) fn stores(storage: &Storage, id: &str) -> (LogStore, StateMachineStore) {
    let state_machine = storage.state_machine(group(id), ledger_config()).expect("open state machine");
    (storage.log_store(group(id)), state_machine)
}

pub(crate) fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(LeaderId { term, node_id: NODE }, index)
}

pub(crate) fn blank(term: u64, index: u64) -> Entry {
    Entry::new_blank(log_id(term, index))
}

pub(crate) fn membership(term: u64, index: u64) -> Entry {
    let nodes = BTreeMap::from([(NODE, NodeInfo { grpc_addr: "127.0.0.1:7001".into(), ..Default::default() })]);
    let membership = Membership::new(vec![BTreeSet::from([NODE])], nodes).expect("valid membership");
    Entry::new_membership(log_id(term, index), membership)
}

/// A membership entry with `voters` (one config) and `learners`.
pub(crate) fn members(term: u64, index: u64, voters: &[u64], learners: &[u64]) -> Entry {
    let node = |id: &u64| (*id, NodeInfo { grpc_addr: format!("127.0.0.1:{}", 7000 + id), ..Default::default() });
    let nodes = voters.iter().chain(learners).map(node).collect::<BTreeMap<_, _>>();
    let membership = Membership::new(vec![voters.iter().copied().collect()], nodes).expect("valid membership");
    Entry::new_membership(log_id(term, index), membership)
}

pub(crate) fn normal(term: u64, index: u64, envelopes: Vec<Envelope>) -> Entry {
    Entry::new_normal(log_id(term, index), LedgerBatch { envelopes: envelopes.into() })
}

pub(crate) fn envelope(id: &str, now_ms: u64, command: Command) -> Envelope {
    Envelope { id: id.into(), now_ms, actor: "test".into(), command }
}

pub(crate) fn register(warehouse: &str) -> Command {
    Command::RegisterWarehouse(RegisterWarehouse {
        warehouse: warehouse.into(),
        region: REGION.into(),
        name: warehouse.to_uppercase(),
        location: String::new(),
        priority: 1,
    })
}

pub(crate) fn receive(warehouse: &str, sku: &str, qty: u64) -> Command {
    Command::AdjustStock(AdjustStock {
        warehouse: warehouse.into(),
        sku: sku.into(),
        adjustment: Adjustment::Received { qty },
        expected_on_hand: None,
        reference: "receipt-1".into(),
    })
}

pub(crate) fn reserve(hold: &str, sku: &str, qty: u64) -> Command {
    Command::Reserve(Reserve {
        hold_id: hold.into(),
        lines: vec![HoldLine { sku: sku.into(), qty }],
        preferred_warehouses: Vec::new(),
        split: Split::Allowed,
        ttl_ms: 60_000,
        owner: None,
    })
}

/// A log of entries `0..=last` (so `log[i]` has index `i`), as a freshly
/// initialized group writes it: the initial membership, the new leader's
/// blank, then batches that register a warehouse, stock it and reserve from it.
pub(crate) fn ledger_log(term: u64, last: u64) -> Vec<Entry> {
    (0..=last)
        .map(|index| match index {
            0 => membership(term, index),
            1 => blank(term, index),
            2 => normal(
                term,
                index,
                vec![
                    envelope("c-reg", 1_000, register("wh-1")),
                    envelope("c-recv", 1_000, receive("wh-1", "apple", 1_000)),
                ],
            ),
            _ => normal(
                term,
                index,
                vec![
                    envelope(&format!("c-hold-{index}"), 1_000 + index, reserve(&format!("h-{index}"), "apple", 1)),
                    envelope(&format!("c-recv-{index}"), 1_000 + index, receive("wh-1", "pear", index)),
                ],
            ),
        })
        .collect()
}

/// Opens the database directly, as another program would, and runs `f` on
/// it. The names are the on-disk layout documented in `storage::db` and
/// `storage::keys`.
pub(crate) fn with_raw_db(path: &Path, f: impl FnOnce(&rocksdb::DB)) {
    with_raw_db_families(path, &["logs", "meta"], f);
}

/// [`with_raw_db`] with the column families `families`, created if missing.
pub(crate) fn with_raw_db_families(path: &Path, families: &[&str], f: impl FnOnce(&rocksdb::DB)) {
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    let db = rocksdb::DB::open_cf(&options, path, families).unwrap();
    f(&db);
}

/// Appends and waits until openraft would be told the entries are durable.
pub(crate) async fn append(store: &mut LogStore, entries: Vec<Entry>) {
    let (tx, rx) = TypeConfig::oneshot();
    store.append(entries, IOFlushed::signal(tx)).await.expect("append");
    rx.await.expect("callback fired").expect("append durable");
}

/// Applies committed entries as openraft does, without client responders.
pub(crate) async fn apply(state_machine: &mut StateMachineStore, entries: Vec<Entry>) {
    let items = entries.into_iter().map(|entry| Ok((entry, None)));
    state_machine.apply(stream::iter(items)).await.expect("apply");
}

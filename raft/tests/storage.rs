//! Storage tests against real RocksDB databases in temp dirs, one module
//! per area under `storage/`.

mod storage {
    mod conformance;
    mod corruption;
    mod groups;
    mod node_ids;
    mod open;
    mod raft_node;
    mod restart;
    mod snapshots;
    mod support;
}

//! A region of real `regiond` nodes inside the test process: real RocksDB
//! in temp dirs, real gRPC on 127.0.0.1, reached through the leader-aware
//! client as the gateway and `ledgerctl` reach them.

mod cluster {
    mod expiry;
    mod failover;
    mod ledgerctl;
    mod membership;
    mod node_ids;
    mod partition;
    mod rebuild;
    mod snapshot;
    mod snapshot_schedule;
    mod support;
}

//! Transport tests: real RocksDB stores in temp dirs, real gRPC servers on
//! 127.0.0.1, several nodes in this one process; one module per area under
//! `transport/`.

mod transport {
    mod builds;
    mod groups;
    mod links;
    mod partition;
    mod rejects;
    mod replication;
    mod snapshot;
    mod support;
}

//! openraft glue for the inventory ledger (not built yet: issue #3).
//!
//! This crate will hold the Raft type configuration with [`ledger`'s]
//! state machine, RocksDB log and state-machine storage, snapshot
//! streaming and the gRPC transport that carries a group id in every call,
//! so one process hosts replicas of several groups. Until then it is empty
//! on purpose: nothing here pretends to replicate.
//!
//! [`ledger`'s]: https://docs.rs/ledger
#![deny(missing_docs)]

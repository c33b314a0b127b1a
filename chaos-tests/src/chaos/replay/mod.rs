//! The model-replay checker (TigerBeetle style): the committed Raft log of
//! a replica, read after healing, replayed in index order against the
//! `ledger` crate's own [`ledger::Ledger`], must reproduce the replicas'
//! state digests and agree with what the clients saw.
//!
//! # Layout
//!
//! - [`ledger_replay`]: the replay and its checks, pure.
//! - [`holds`]: the life of each hold in the replay (at most one end).
//! - [`read`]: reading a replica's committed log (`Admin.ReadLog`).

pub mod holds;
pub mod ledger_replay;
pub mod read;

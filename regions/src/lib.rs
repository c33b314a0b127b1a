//! The region node, `regiond`, and its leader-aware client (not built yet:
//! issue #3).
//!
//! It will host a region's Raft group replica (and later the catalog
//! group's), stamp leader time on proposals, propose `Expire` ticks, and
//! serve the warehouse, reservation and admin gRPC APIs defined in `protos`.
#![deny(missing_docs)]

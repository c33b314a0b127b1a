//! Tests of the region client and ledgerctl against scripted replicas: small
//! real tonic servers on 127.0.0.1 whose answers come from a script (see
//! `client/support.rs`). They exercise the client's protocol handling only;
//! end-to-end tests against real `regiond` nodes live with the node.
//!
//! - `retry`: the retry engine (hints, rotation, NoQuorum, deadlines,
//!   rejections, resends, metadata).
//! - `cli`: ledgerctl in-process (flags, output formats, exit codes).

mod client {
    mod cli;
    mod retry;
    mod support;
}

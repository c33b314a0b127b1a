//! The linearizability checker: is there one order of the hot SKU's
//! availability reads, reservations and receipts, consistent with real time,
//! in which every result is what a single integer `available` would give?
//!
//! A Wing–Gong search with memoization (as in Porcupine and Knossos) over
//! one object, so no partitioning is needed: [`search`] does the search over
//! its own small [`search::Event`]s, [`model`] is the sequential model.
//!
//! # Layout
//!
//! - [`model`]: the actions and the model's transition.
//! - [`search`]: the search, its limits and its answer.

pub mod model;
pub mod search;

//! Conversions between the wire types of `protos` and the ledger's domain
//! types, shared by the warehouse and reservation services: one function per
//! message type, so both services answer with the same shapes and validate
//! the same fields the same way.
//!
//! - [`input`]: request fields to validated domain values (ids, quantities,
//!   text, list sizes), each error naming the field as the proto spells it.
//! - [`page`]: `PageRequest` to a validated [`page::Page`], opaque cursors,
//!   `PageInfo`.
//! - [`stock`]: `StockLevel`, `JournalEntry`, `JournalReason`.
//! - [`holds`]: `Hold`, `Allocation`, `HoldState`.
//! - [`orders`]: `Order`, `OrderLine`, `OrderEvent`, `OrderStatus`.
//! - [`carts`]: `Cart`, `CartLine`.
//! - [`checkouts`]: `Checkout`, `CheckoutLine`, `CheckoutStep` and its
//!   variants.
//!
//! Domain values come from the applied ledger, which keeps every quantity
//! within `0..=10^12` and every amount within `0..=10^15`: converting them
//! to the wire's signed types cannot fail, and a failure would be a broken
//! ledger invariant, asserted as such. Request values are untrusted: every
//! conversion from the wire is checked and answers a status naming the
//! field.
//!
//! Both services also answer a write the same way: [`read_back`] finds what
//! the write created on this replica, and [`unexpected`] reports an outcome
//! the command cannot have (a bug) as `INTERNAL` instead of panicking.

pub mod carts;
pub mod checkouts;
pub mod holds;
pub mod input;
pub mod orders;
pub mod page;
pub mod stock;

use ledger::{Ledger, Outcome};
use tonic::Status;

use crate::api::ApiContext;
use crate::region::Consistency;

/// Reads back what a write just applied (the order a commit created, the
/// journal entry a posting wrote): `find` looks it up in the ledger.
///
/// The read is local, without a quorum round: this replica applied the
/// write before answering it, so its ledger already holds the result. A
/// miss is a bug, reported as `INTERNAL` naming `what`.
pub async fn read_back<T>(
    ctx: &ApiContext,
    what: &'static str,
    find: impl FnOnce(&Ledger) -> Option<T>,
) -> Result<T, Status> {
    let found = ctx.read(Consistency::Stale, find).await?.value;
    found.ok_or_else(|| Status::internal(format!("{what} was written but cannot be read back")))
}

/// `INTERNAL`: the ledger answered a command with an outcome that command
/// cannot produce. A bug, reported to the caller rather than panicking the
/// server; the write itself did apply.
pub fn unexpected(outcome: &Outcome) -> Status {
    Status::internal(format!("the ledger answered with an unexpected outcome: {outcome:?}"))
}

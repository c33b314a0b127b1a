//! What an applied command did. Stored with the command id, so a retry
//! gets back exactly what the first attempt got.

use serde::{Deserialize, Serialize};

use crate::carts::Cart;
use crate::checkouts::CheckoutStatus;
use crate::holds::Allocation;
use crate::ids::OrderId;
use crate::orders::OrderStatus;
use crate::quantity::MoneyMinor;
use crate::rejection::Rejection;
use crate::stock::StockLevel;

/// The effect of a command that was accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The warehouse now exists.
    WarehouseRegistered,
    /// The posting was journaled.
    StockAdjusted {
        /// The level after the posting.
        level: StockLevel,
        /// The journal entry's sequence number.
        journal_seq: u64,
    },
    /// Both postings of a transfer were journaled.
    StockTransferred {
        /// The source's level after.
        from: StockLevel,
        /// The destination's level after.
        to: StockLevel,
    },
    /// The hold was placed.
    Reserved {
        /// Where each line's units are held, per `(sku, warehouse)`.
        allocations: Vec<Allocation>,
        /// The first instant the hold no longer counts.
        expires_at_ms: u64,
    },
    /// The hold became an order.
    HoldCommitted {
        /// The new order.
        order_id: OrderId,
    },
    /// The hold ended and its stock is available again.
    HoldReleased,
    /// The order moved to a new status.
    OrderUpdated {
        /// Its status now.
        status: OrderStatus,
    },
    /// The cart as it is now.
    CartUpdated {
        /// The cart.
        cart: Cart,
    },
    /// The checkout record moved.
    CheckoutRecorded {
        /// Its status now.
        status: CheckoutStatus,
        /// Its total, in minor units.
        total_minor: MoneyMinor,
    },
    /// Time advanced and old records were purged.
    Expired {
        /// Holds whose deadline passed with this command.
        holds_expired: u64,
        /// Idempotency records older than the retention window, dropped.
        records_purged: u64,
        /// Ended holds older than the retention window, dropped.
        holds_purged: u64,
    },
}

/// A command's result: what it did, or why it did nothing.
pub type CommandResult = Result<Outcome, Rejection>;

/// What [`crate::Ledger::apply`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The command's result.
    pub result: CommandResult,
    /// Whether this was a retry answered from the idempotency record
    /// (nothing changed this time).
    pub replayed: bool,
}

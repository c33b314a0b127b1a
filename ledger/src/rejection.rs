//! Why a command was rejected. Rejections are deterministic results, stored
//! with the command's id like any outcome, never panics: every replica
//! rejects the same command for the same reason.

use serde::{Deserialize, Serialize};

use crate::ids::{CheckoutId, CommandId, HoldId, OrderId, ShopperId, Sku, WarehouseId};
use crate::quantity::Quantity;

/// A line that could not be filled, and by how much.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShortLine {
    /// The SKU that is short.
    pub sku: Sku,
    /// The warehouse, when the shortfall is at one warehouse (postings);
    /// `None` when it is across the region (reservations).
    pub warehouse: Option<WarehouseId>,
    /// Units the command needed.
    pub requested: Quantity,
    /// Units that were available.
    pub available: Quantity,
}

/// A deterministic reason a command changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    /// A field of the command is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Path of the field, e.g. `lines[2].qty`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The command id was used before with a different payload.
    #[error("command id {command_id} was already used with a different payload")]
    IdempotencyConflict {
        /// The reused id.
        command_id: CommandId,
    },
    /// The warehouse is not registered in this region.
    #[error("unknown warehouse {warehouse}")]
    UnknownWarehouse {
        /// The warehouse named by the command.
        warehouse: WarehouseId,
    },
    /// A warehouse with this id is already registered.
    #[error("warehouse {warehouse} already exists")]
    WarehouseExists {
        /// The duplicate id.
        warehouse: WarehouseId,
    },
    /// The warehouse belongs to another region's group.
    #[error("warehouse is in region {got}, this ledger is region {expected}")]
    WrongRegion {
        /// This ledger's region.
        expected: String,
        /// The region the command named.
        got: String,
    },
    /// Compare-and-set failed: on-hand was not what the caller expected.
    #[error("on_hand of {sku} at {warehouse} is {actual}, expected {expected}")]
    QuantityMismatch {
        /// The SKU adjusted.
        sku: Sku,
        /// The warehouse adjusted.
        warehouse: WarehouseId,
        /// What the caller expected.
        expected: Quantity,
        /// What is there now.
        actual: Quantity,
    },
    /// Not enough available stock; nothing was held or posted.
    #[error("insufficient stock on {} line(s)", lines.len())]
    InsufficientStock {
        /// Every short line, with the shortfall.
        lines: Vec<ShortLine>,
    },
    /// The change would push a quantity past [`crate::quantity::MAX_QUANTITY`].
    #[error("{field} of {sku} at {warehouse} would exceed the maximum quantity")]
    QuantityOverflow {
        /// The bucket that would overflow (`on_hand`, `damaged`, ...).
        field: String,
        /// The SKU.
        sku: Sku,
        /// The warehouse.
        warehouse: WarehouseId,
    },
    /// A hold with this id exists already.
    #[error("hold {hold_id} already exists")]
    HoldExists {
        /// The duplicate id.
        hold_id: HoldId,
    },
    /// No hold with this id (never placed, or purged after retention).
    #[error("unknown hold {hold_id}")]
    UnknownHold {
        /// The id named.
        hold_id: HoldId,
    },
    /// The hold already ended (committed, released or expired).
    #[error("hold {hold_id} is {status}, not pending")]
    HoldNotPending {
        /// The hold.
        hold_id: HoldId,
        /// How it ended.
        status: String,
    },
    /// An order with this id exists already.
    #[error("order {order_id} already exists")]
    OrderExists {
        /// The duplicate id.
        order_id: OrderId,
    },
    /// No order with this id.
    #[error("unknown order {order_id}")]
    UnknownOrder {
        /// The id named.
        order_id: OrderId,
    },
    /// The entity's status machine does not allow this step from where it is.
    #[error("{entity} {id} cannot go from {from} to {to}")]
    InvalidTransition {
        /// `order` or `checkout`.
        entity: String,
        /// The entity id.
        id: String,
        /// Its current status.
        from: String,
        /// The status the command asked for.
        to: String,
    },
    /// The order has no unshipped line at this warehouse.
    #[error("order {order_id} has nothing left to ship from {warehouse}")]
    NothingToShip {
        /// The order.
        order_id: OrderId,
        /// The warehouse asked to ship.
        warehouse: WarehouseId,
    },
    /// More units returned than were shipped (and not yet returned).
    #[error("return of {requested} {sku} from {warehouse} exceeds the {returnable} returnable")]
    ReturnExceedsShipped {
        /// The SKU returned.
        sku: Sku,
        /// The warehouse it shipped from.
        warehouse: WarehouseId,
        /// Units the command returns.
        requested: Quantity,
        /// Units shipped and not yet returned.
        returnable: Quantity,
    },
    /// The cart would have more lines than allowed.
    #[error("cart of {shopper} would exceed {max_lines} lines")]
    CartFull {
        /// The cart's shopper.
        shopper: ShopperId,
        /// The limit.
        max_lines: u32,
    },
    /// A checkout with this id exists already.
    #[error("checkout {checkout_id} already exists")]
    CheckoutExists {
        /// The duplicate id.
        checkout_id: CheckoutId,
    },
    /// No checkout with this id.
    #[error("unknown checkout {checkout_id}")]
    UnknownCheckout {
        /// The id named.
        checkout_id: CheckoutId,
    },
}

impl Rejection {
    /// An [`Rejection::InvalidInput`] naming `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field: field.into(), reason: reason.into() }
    }
}

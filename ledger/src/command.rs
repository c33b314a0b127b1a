//! The commands a region's Raft group replicates: the ledger's whole input
//! language. Each arrives wrapped in an [`Envelope`] carrying the client's
//! idempotency id and the leader-stamped time.

use serde::{Deserialize, Serialize};

use crate::ids::{Actor, CheckoutId, CommandId, HoldId, OrderId, ShopperId, Sku, WarehouseId};
use crate::quantity::{MoneyMinor, Quantity};

/// One log entry's command, as the leader proposes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Client-chosen idempotency id: a retry must reuse it.
    pub id: CommandId,
    /// Milliseconds since the Unix epoch, stamped by the leader when proposing.
    /// The ledger never reads a clock; it keeps the highest `now_ms` seen, so
    /// time never runs backwards across leader changes.
    pub now_ms: u64,
    /// Who issued the command; recorded in the journal and timelines.
    pub actor: Actor,
    /// What to do.
    pub command: Command,
}

impl Envelope {
    /// A run of envelopes (one log entry's) in the workspace's wire format,
    /// postcard: what `Admin.ReadLog` carries, so an auditor replays the log
    /// with this crate's own types.
    pub fn encode_all(envelopes: &[Envelope]) -> Vec<u8> {
        postcard::to_stdvec(envelopes).expect("encoding into memory cannot fail")
    }

    /// Reads back what [`Envelope::encode_all`] wrote.
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<Envelope>, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

/// Everything a region's group can be asked to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Add a warehouse to this region.
    RegisterWarehouse(RegisterWarehouse),
    /// Post a stock change at one `(sku, warehouse)`.
    AdjustStock(AdjustStock),
    /// Move units between two warehouses of the region.
    TransferStock(TransferStock),
    /// Hold stock for several lines at once, all or nothing.
    Reserve(Reserve),
    /// Turn a pending hold into an order with allocated stock.
    CommitHold(CommitHold),
    /// End a pending hold, returning its stock.
    ReleaseHold(ReleaseHold),
    /// Move an order along its fulfilment status machine.
    AdvanceOrder(AdvanceOrder),
    /// Ship an order's lines from one warehouse.
    ShipOrder(ShipOrder),
    /// Cancel an order before anything shipped, returning its allocation.
    CancelOrder(CancelOrder),
    /// Take shipped units back into stock.
    ReturnOrder(ReturnOrder),
    /// Change a shopper's cart.
    Cart(CartCommand),
    /// Record the start of a checkout saga.
    StartCheckout(StartCheckout),
    /// Record a step of a checkout saga.
    RecordCheckoutStep(RecordCheckoutStep),
    /// Advance time: end holds past their deadline, purge idempotency
    /// records and ended holds older than the retention window. Proposed by
    /// the leader about once a second. Holds stop counting at their deadline
    /// whether or not this runs; it only records and cleans up.
    Expire,
}

/// Add a warehouse to this region's ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterWarehouse {
    /// The new warehouse's id.
    pub warehouse: WarehouseId,
    /// The region it is in; must be this ledger's region.
    pub region: String,
    /// Display name.
    pub name: String,
    /// Free-form location (address, city), for people.
    pub location: String,
    /// Allocation priority: lower is tried first when no preference is given.
    pub priority: u32,
}

/// A stock posting at one `(sku, warehouse)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustStock {
    /// Where.
    pub warehouse: WarehouseId,
    /// What.
    pub sku: Sku,
    /// The change and its reason.
    pub adjustment: Adjustment,
    /// Compare-and-set: the on-hand the caller believes is there now
    /// (Shopify's `changeFromQuantity`). On mismatch nothing changes and the
    /// rejection carries the actual value.
    pub expected_on_hand: Option<Quantity>,
    /// The document behind the change (receipt, count sheet, RMA), for audit.
    pub reference: String,
}

/// A stock change with its reason. Each maps to one journal entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Adjustment {
    /// Units arrived: on-hand grows.
    Received {
        /// Units received.
        qty: Quantity,
    },
    /// A physical count: on-hand is set to `counted`.
    CycleCount {
        /// Units counted.
        counted: Quantity,
    },
    /// Sellable units found damaged: they move to the non-sellable damaged
    /// bucket (still on hand, no longer available).
    Damaged {
        /// Units damaged.
        qty: Quantity,
    },
    /// Damaged units written off: they leave on-hand and the damaged bucket.
    DisposeDamaged {
        /// Units disposed of.
        qty: Quantity,
    },
    /// Units lost or stolen: on-hand shrinks.
    Shrink {
        /// Units lost.
        qty: Quantity,
    },
    /// Units returned outside an order (e.g. a found package).
    Returned {
        /// Units returned.
        qty: Quantity,
        /// Whether they go to the damaged bucket instead of sellable stock.
        damaged: bool,
    },
    /// A signed correction of on-hand.
    Correction {
        /// Units added (positive) or removed (negative).
        delta: i64,
    },
    /// Sets the safety stock: units on hand that are never offered for sale.
    SetSafetyStock {
        /// The new safety stock.
        qty: Quantity,
    },
}

/// Move units between two warehouses of the region in one atomic step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferStock {
    /// Source warehouse.
    pub from: WarehouseId,
    /// Destination warehouse.
    pub to: WarehouseId,
    /// The SKU moved.
    pub sku: Sku,
    /// Units moved.
    pub qty: Quantity,
    /// The transfer document, for audit.
    pub reference: String,
}

/// One line of a reservation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldLine {
    /// The SKU wanted.
    pub sku: Sku,
    /// Units wanted.
    pub qty: Quantity,
}

/// Place a hold: every line is allocated across the region's warehouses in
/// one apply, or nothing is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserve {
    /// The new hold's id.
    pub hold_id: HoldId,
    /// What to hold. Several lines of one SKU (a bundle) sum their demand.
    pub lines: Vec<HoldLine>,
    /// Warehouses to draw from first, in order; the rest follow by priority.
    pub preferred_warehouses: Vec<WarehouseId>,
    /// Whether the hold may be spread over several warehouses.
    pub split: Split,
    /// How long the hold lives, from the command's time.
    pub ttl_ms: u64,
    /// Whose hold this is (a checkout or shopper id), kept on the order.
    pub owner: Option<ShopperId>,
}

/// How a reservation may spread over the region's warehouses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// Each SKU's demand is taken from warehouses in preference order,
    /// several if one is not enough.
    Allowed,
    /// Every line comes from one warehouse (one parcel): the first in
    /// preference order that can fill the whole hold.
    SingleWarehouse,
}

/// Turn a pending hold into an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitHold {
    /// The pending hold.
    pub hold_id: HoldId,
    /// The id of the order to create.
    pub order_id: OrderId,
}

/// End a pending hold and return its stock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseHold {
    /// The pending hold.
    pub hold_id: HoldId,
}

/// A fulfilment step that moves stock nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStep {
    /// The warehouse started picking (from confirmed).
    Picking,
    /// The carrier delivered (from shipped).
    Delivered,
}

/// Move an order to `Picking` or `Delivered`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceOrder {
    /// The order.
    pub order_id: OrderId,
    /// The step.
    pub step: OrderStep,
}

/// Ship every unshipped line of an order allocated at one warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipOrder {
    /// The order.
    pub order_id: OrderId,
    /// The shipping warehouse.
    pub warehouse: WarehouseId,
}

/// Cancel an order before any line shipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOrder {
    /// The order.
    pub order_id: OrderId,
    /// Why, for the timeline.
    pub reason: String,
}

/// One returned line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    /// The SKU.
    pub sku: Sku,
    /// The warehouse it shipped from (and is restocked to).
    pub warehouse: WarehouseId,
    /// Units returned.
    pub qty: Quantity,
    /// Whether they go to the damaged bucket.
    pub damaged: bool,
}

/// Restock shipped units of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnOrder {
    /// The order.
    pub order_id: OrderId,
    /// What came back.
    pub lines: Vec<ReturnLine>,
}

/// A change to a shopper's cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartCommand {
    /// Add units of a SKU (summed with any already there).
    Add {
        /// The cart's owner.
        shopper: ShopperId,
        /// The SKU.
        sku: Sku,
        /// Units to add.
        qty: Quantity,
    },
    /// Set a line's quantity; zero removes it.
    Set {
        /// The cart's owner.
        shopper: ShopperId,
        /// The SKU.
        sku: Sku,
        /// The new quantity.
        qty: Quantity,
    },
    /// Remove a line (no-op if absent).
    Remove {
        /// The cart's owner.
        shopper: ShopperId,
        /// The SKU.
        sku: Sku,
    },
    /// Empty the cart.
    Clear {
        /// The cart's owner.
        shopper: ShopperId,
    },
    /// Fold a guest cart into a shopper's cart on login; the guest cart is
    /// deleted. Quantities add up, capped at the per-line limit.
    Merge {
        /// The guest session's cart.
        guest: ShopperId,
        /// The signed-in shopper's cart.
        shopper: ShopperId,
    },
}

/// One line of a checkout, priced by the gateway from the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutLine {
    /// The SKU bought.
    pub sku: Sku,
    /// Units bought.
    pub qty: Quantity,
    /// Unit price in minor units, from the catalog at checkout time.
    pub unit_price_minor: MoneyMinor,
}

/// Record the start of a checkout saga.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartCheckout {
    /// The checkout's id (the gateway derives it from the Idempotency-Key).
    pub checkout_id: CheckoutId,
    /// The buyer.
    pub shopper: ShopperId,
    /// ISO 4217 code, three upper-case letters.
    pub currency: String,
    /// What is bought.
    pub lines: Vec<CheckoutLine>,
}

/// A hold placed in some region for a checkout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionHold {
    /// The region whose group holds the stock.
    pub region: String,
    /// The hold there.
    pub hold_id: HoldId,
}

/// An order created in some region for a checkout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionOrder {
    /// The region whose group owns the order.
    pub region: String,
    /// The order there.
    pub order_id: OrderId,
}

/// A step of the checkout saga, recorded before the gateway moves on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutStep {
    /// Every line is held (possibly across regions).
    HoldsPlaced {
        /// The holds.
        holds: Vec<RegionHold>,
    },
    /// The payment provider authorized the amount.
    PaymentAuthorized {
        /// The provider's authorization reference.
        payment_ref: String,
        /// Amount authorized; must equal the checkout total.
        amount_minor: MoneyMinor,
    },
    /// The payment provider declined; the saga failed.
    PaymentDeclined {
        /// The provider's reason.
        reason: String,
    },
    /// Every hold was committed; the checkout is done.
    Completed {
        /// The orders created.
        orders: Vec<RegionOrder>,
    },
    /// The saga gave up (stock short, holds expired, ...).
    Failed {
        /// Why.
        reason: String,
    },
    /// An authorization of a failed checkout was voided.
    PaymentVoided,
}

/// Record a step of a checkout saga.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCheckoutStep {
    /// The checkout.
    pub checkout_id: CheckoutId,
    /// The step.
    pub step: CheckoutStep,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_damage_is_an_error() {
        let envelopes = vec![
            Envelope { id: "a".into(), now_ms: 7, actor: "test".into(), command: Command::Expire },
            Envelope { id: "b".into(), now_ms: 9, actor: "test".into(), command: Command::Expire },
        ];
        let bytes = Envelope::encode_all(&envelopes);
        assert_eq!(Envelope::decode_all(&bytes).expect("decodes"), envelopes);
        assert!(Envelope::decode_all(&bytes[..bytes.len() - 1]).is_err(), "a truncated record is refused");
    }
}

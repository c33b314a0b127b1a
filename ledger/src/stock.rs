//! Warehouses, stock levels and the journal of postings, and the commands
//! that post to them: adjustments and transfers.
//!
//! Every change to `on_hand`, `damaged` or `safety_stock` is a
//! [`JournalEntry`]; those balances always equal the sum of the journal.
//! `held` and `allocated` are owned by holds and orders (see `holds`,
//! `orders`) and are not journaled: they are claims on stock, not stock.

use serde::{Deserialize, Serialize};

use crate::command::{AdjustStock, Adjustment, RegisterWarehouse, TransferStock};
use crate::ids::{Actor, CommandId, Sku, WarehouseId, validate_id};
use crate::ledger::Ledger;
use crate::outcome::Outcome;
use crate::quantity::{MAX_QUANTITY, Quantity, validate_count, validate_positive};
use crate::rejection::{Rejection, ShortLine};

/// Longest free-text field (names, references, reasons), in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;

/// A stock location of this region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warehouse {
    /// Its id.
    pub id: WarehouseId,
    /// Display name.
    pub name: String,
    /// Where it is, for people.
    pub location: String,
    /// Lower is tried first when a reservation states no preference.
    pub priority: u32,
}

/// The quantities of one SKU at one warehouse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// Units physically there (including damaged and safety stock).
    pub on_hand: Quantity,
    /// Units on hand that are damaged: never sellable.
    pub damaged: Quantity,
    /// Units on hand kept back as a buffer: never sellable.
    pub safety_stock: Quantity,
    /// Units claimed by pending holds.
    pub held: Quantity,
    /// Units claimed by confirmed orders not yet shipped.
    pub allocated: Quantity,
}

impl StockLevel {
    /// Units a new hold may take: on-hand less every non-sellable bucket and claim.
    ///
    /// The ledger's central invariant is that this never goes below zero;
    /// every command that would make it so is rejected.
    pub fn available(&self) -> Quantity {
        self.signed_available().try_into().expect("invariant: available >= 0 after every apply")
    }

    /// `available` without the invariant: used to test a proposed level.
    fn signed_available(&self) -> i128 {
        i128::from(self.on_hand)
            - i128::from(self.damaged)
            - i128::from(self.safety_stock)
            - i128::from(self.held)
            - i128::from(self.allocated)
    }
}

/// Why a journal entry was posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// Units arrived.
    Received,
    /// A physical count set on-hand.
    CycleCount,
    /// Sellable units moved to the damaged bucket.
    Damaged,
    /// Damaged units written off.
    DisposeDamaged,
    /// Units lost or stolen.
    Shrink,
    /// Units came back (from an order or otherwise).
    Returned,
    /// A manual correction.
    Correction,
    /// Safety stock changed.
    SafetyStock,
    /// Units left for another warehouse of the region.
    TransferOut,
    /// Units arrived from another warehouse of the region.
    TransferIn,
    /// Units left with a shipment.
    Shipped,
}

/// The journal: every posting, oldest first, entry `seq` at index
/// `seq - 1`. It only grows, so it is a persistent vector (imbl): a
/// snapshot's cut shares it instead of copying every entry.
pub type Journal = imbl::Vector<JournalEntry>;

/// One posting: an append-only, auditable change of the stock buckets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the journal, from 1.
    pub seq: u64,
    /// The command that posted it.
    pub command_id: CommandId,
    /// Where.
    pub warehouse: WarehouseId,
    /// What.
    pub sku: Sku,
    /// Why.
    pub reason: Reason,
    /// Change of `on_hand`.
    pub on_hand_delta: i64,
    /// Change of `damaged`.
    pub damaged_delta: i64,
    /// Change of `safety_stock`.
    pub safety_stock_delta: i64,
    /// Who.
    pub actor: Actor,
    /// The document behind it (receipt, order id, count sheet).
    pub reference: String,
    /// When (leader time, ms since the epoch).
    pub at_ms: u64,
}

/// A proposed change of one level's journaled buckets.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Deltas {
    pub(crate) on_hand: i64,
    pub(crate) damaged: i64,
    pub(crate) safety_stock: i64,
}

/// A validated posting, ready to write: the new level and its journal entry's facts.
pub(crate) struct Posting {
    pub(crate) sku: Sku,
    pub(crate) warehouse: WarehouseId,
    pub(crate) level: StockLevel,
    pub(crate) reason: Reason,
    pub(crate) deltas: Deltas,
}

/// Checks a free-text field's length.
pub(crate) fn validate_text(field: &str, value: &str) -> Result<(), Rejection> {
    if value.len() > MAX_TEXT_BYTES { Err(Rejection::invalid(field, "must be at most 1024 bytes")) } else { Ok(()) }
}

/// Converts a validated quantity (at most 10^12) to a signed delta.
pub(crate) fn signed(qty: Quantity) -> i64 {
    debug_assert!(qty <= MAX_QUANTITY);
    i64::try_from(qty).expect("quantities are bounded by MAX_QUANTITY")
}

impl Ledger {
    pub(crate) fn register_warehouse(&mut self, cmd: &RegisterWarehouse) -> Result<Outcome, Rejection> {
        validate_id("warehouse", cmd.warehouse.as_str())?;
        validate_text("name", &cmd.name)?;
        validate_text("location", &cmd.location)?;
        if cmd.region != self.state.config.region {
            return Err(Rejection::WrongRegion { expected: self.state.config.region.clone(), got: cmd.region.clone() });
        }
        if self.state.warehouses.contains_key(&cmd.warehouse) {
            return Err(Rejection::WarehouseExists { warehouse: cmd.warehouse.clone() });
        }
        self.state.warehouses.insert(
            cmd.warehouse.clone(),
            Warehouse {
                id: cmd.warehouse.clone(),
                name: cmd.name.clone(),
                location: cmd.location.clone(),
                priority: cmd.priority,
            },
        );
        self.index.add_warehouse(&self.state.warehouses);
        Ok(Outcome::WarehouseRegistered)
    }

    pub(crate) fn adjust_stock(
        &mut self,
        cmd: &AdjustStock,
        command_id: &CommandId,
        actor: &Actor,
        now_ms: u64,
    ) -> Result<Outcome, Rejection> {
        validate_id("sku", cmd.sku.as_str())?;
        validate_text("reference", &cmd.reference)?;
        self.require_warehouse(&cmd.warehouse)?;
        let level = self.level(&cmd.sku, &cmd.warehouse);
        if let Some(expected) = cmd.expected_on_hand {
            validate_count("expected_on_hand", expected)?;
            if expected != level.on_hand {
                return Err(Rejection::QuantityMismatch {
                    sku: cmd.sku.clone(),
                    warehouse: cmd.warehouse.clone(),
                    expected,
                    actual: level.on_hand,
                });
            }
        }
        let (reason, deltas) = adjustment_deltas(&cmd.adjustment, &level)?;
        let posting = propose(&cmd.sku, &cmd.warehouse, level, reason, deltas)?;
        let level = posting.level;
        self.post(posting, command_id, actor, &cmd.reference, now_ms);
        Ok(Outcome::StockAdjusted { level, journal_seq: self.state.journal.len() as u64 })
    }

    pub(crate) fn transfer_stock(
        &mut self,
        cmd: &TransferStock,
        command_id: &CommandId,
        actor: &Actor,
        now_ms: u64,
    ) -> Result<Outcome, Rejection> {
        validate_id("sku", cmd.sku.as_str())?;
        validate_positive("qty", cmd.qty)?;
        validate_text("reference", &cmd.reference)?;
        self.require_warehouse(&cmd.from)?;
        self.require_warehouse(&cmd.to)?;
        if cmd.from == cmd.to {
            return Err(Rejection::invalid("to", "must differ from `from`"));
        }
        let qty = signed(cmd.qty);
        let out = propose(
            &cmd.sku,
            &cmd.from,
            self.level(&cmd.sku, &cmd.from),
            Reason::TransferOut,
            Deltas { on_hand: -qty, ..Deltas::default() },
        )?;
        let into = propose(
            &cmd.sku,
            &cmd.to,
            self.level(&cmd.sku, &cmd.to),
            Reason::TransferIn,
            Deltas { on_hand: qty, ..Deltas::default() },
        )?;
        let (from, to) = (out.level, into.level);
        self.post(out, command_id, actor, &cmd.reference, now_ms);
        self.post(into, command_id, actor, &cmd.reference, now_ms);
        Ok(Outcome::StockTransferred { from, to })
    }

    /// The level of `(sku, warehouse)`; all zero if nothing was ever posted there.
    pub fn level(&self, sku: &Sku, warehouse: &WarehouseId) -> StockLevel {
        self.state.levels.get(sku).and_then(|by_warehouse| by_warehouse.get(warehouse)).copied().unwrap_or_default()
    }

    pub(crate) fn require_warehouse(&self, warehouse: &WarehouseId) -> Result<(), Rejection> {
        if self.state.warehouses.contains_key(warehouse) {
            Ok(())
        } else {
            Err(Rejection::UnknownWarehouse { warehouse: warehouse.clone() })
        }
    }

    /// Writes a validated posting: the new level and its journal entry.
    pub(crate) fn post(
        &mut self,
        posting: Posting,
        command_id: &CommandId,
        actor: &Actor,
        reference: &str,
        now_ms: u64,
    ) {
        let seq = self.state.journal.len() as u64 + 1;
        self.state.journal.push_back(JournalEntry {
            seq,
            command_id: command_id.clone(),
            warehouse: posting.warehouse.clone(),
            sku: posting.sku.clone(),
            reason: posting.reason,
            on_hand_delta: posting.deltas.on_hand,
            damaged_delta: posting.deltas.damaged,
            safety_stock_delta: posting.deltas.safety_stock,
            actor: actor.clone(),
            reference: reference.to_owned(),
            at_ms: now_ms,
        });
        self.set_level(posting.sku, posting.warehouse, posting.level);
    }

    /// Stores a level that has passed [`propose`]. The warehouse id is the
    /// registered one's allocation, so allocation-order lookups compare
    /// pointers, not strings.
    pub(crate) fn set_level(&mut self, sku: Sku, warehouse: WarehouseId, level: StockLevel) {
        debug_assert!(level.signed_available() >= 0);
        let (warehouse, _) = self
            .state
            .warehouses
            .get_key_value(&warehouse)
            .expect("invariant: levels exist only at registered warehouses");
        let warehouse = warehouse.clone();
        self.state.levels.entry(sku).or_default().insert(warehouse, level);
    }

    /// A mutable level that is known to exist (it carries a claim).
    pub(crate) fn level_mut(&mut self, sku: &Sku, warehouse: &WarehouseId) -> &mut StockLevel {
        self.state
            .levels
            .get_mut(sku)
            .and_then(|by_warehouse| by_warehouse.get_mut(warehouse))
            .expect("invariant: a level with claims exists")
    }
}

/// The journal deltas of an adjustment, given the current level.
fn adjustment_deltas(adjustment: &Adjustment, level: &StockLevel) -> Result<(Reason, Deltas), Rejection> {
    let field = "adjustment.qty";
    let only_on_hand = |on_hand| Deltas { on_hand, ..Deltas::default() };
    Ok(match *adjustment {
        Adjustment::Received { qty } => {
            validate_positive(field, qty)?;
            (Reason::Received, only_on_hand(signed(qty)))
        }
        Adjustment::CycleCount { counted } => {
            validate_count("adjustment.counted", counted)?;
            (Reason::CycleCount, only_on_hand(signed(counted) - signed(level.on_hand)))
        }
        Adjustment::Damaged { qty } => {
            validate_positive(field, qty)?;
            let deltas = Deltas { damaged: signed(qty), ..Deltas::default() };
            (Reason::Damaged, deltas)
        }
        Adjustment::DisposeDamaged { qty } => {
            validate_positive(field, qty)?;
            if qty > level.damaged {
                return Err(Rejection::invalid(field, format!("exceeds the {} damaged units on hand", level.damaged)));
            }
            let deltas = Deltas { on_hand: -signed(qty), damaged: -signed(qty), ..Deltas::default() };
            (Reason::DisposeDamaged, deltas)
        }
        Adjustment::Shrink { qty } => {
            validate_positive(field, qty)?;
            (Reason::Shrink, only_on_hand(-signed(qty)))
        }
        Adjustment::Returned { qty, damaged } => {
            validate_positive(field, qty)?;
            let deltas =
                Deltas { on_hand: signed(qty), damaged: if damaged { signed(qty) } else { 0 }, ..Deltas::default() };
            (Reason::Returned, deltas)
        }
        Adjustment::Correction { delta } => {
            if delta == 0 || delta.unsigned_abs() > MAX_QUANTITY {
                return Err(Rejection::invalid("adjustment.delta", "must be non-zero and at most 10^12 in magnitude"));
            }
            (Reason::Correction, only_on_hand(delta))
        }
        Adjustment::SetSafetyStock { qty } => {
            validate_count(field, qty)?;
            let deltas = Deltas { safety_stock: signed(qty) - signed(level.safety_stock), ..Deltas::default() };
            (Reason::SafetyStock, deltas)
        }
    })
}

/// Applies `deltas` to `level` on paper and checks the result: every bucket
/// within `0..=MAX_QUANTITY` and `available >= 0`. Nothing is written.
pub(crate) fn propose(
    sku: &Sku,
    warehouse: &WarehouseId,
    level: StockLevel,
    reason: Reason,
    deltas: Deltas,
) -> Result<Posting, Rejection> {
    let on_hand = i128::from(level.on_hand) + i128::from(deltas.on_hand);
    let damaged = i128::from(level.damaged) + i128::from(deltas.damaged);
    let safety_stock = i128::from(level.safety_stock) + i128::from(deltas.safety_stock);
    debug_assert!(damaged >= 0 && safety_stock >= 0, "callers never drain a bucket below zero");
    let available_next = on_hand - damaged - safety_stock - i128::from(level.held) - i128::from(level.allocated);
    if available_next < 0 {
        let available = level.available();
        return Err(Rejection::InsufficientStock {
            lines: vec![ShortLine {
                sku: sku.clone(),
                warehouse: Some(warehouse.clone()),
                requested: u64::try_from(i128::from(available) - available_next)
                    .expect("a difference of bounded quantities"),
                available,
            }],
        });
    }
    let bucket =
        |field: &str, value: i128| {
            Quantity::try_from(value).ok().filter(|&qty| qty <= MAX_QUANTITY).ok_or_else(|| {
                Rejection::QuantityOverflow { field: field.to_owned(), sku: sku.clone(), warehouse: warehouse.clone() }
            })
        };
    let next = StockLevel {
        on_hand: bucket("on_hand", on_hand)?,
        damaged: bucket("damaged", damaged)?,
        safety_stock: bucket("safety_stock", safety_stock)?,
        ..level
    };
    Ok(Posting { sku: sku.clone(), warehouse: warehouse.clone(), level: next, reason, deltas })
}

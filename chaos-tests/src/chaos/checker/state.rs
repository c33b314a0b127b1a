//! What the final read phase found in one region after the faults were
//! healed: the levels, every hold and order the history named, the stock
//! journal and each replica's status. Plain data, so the checkers stay
//! pure and the tests can write bad states by hand.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::chaos::history::Level;

/// Where a hold ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Still holding stock.
    Pending,
    /// Turned into an order (its stock is now allocated, or shipped).
    Committed,
    /// Given back.
    Released,
    /// Timed out.
    Expired,
}

impl HoldStatus {
    /// Whether it still claims stock (a committed hold through its order).
    pub fn claims_stock(self) -> bool {
        matches!(self, Self::Pending | Self::Committed)
    }
}

/// Units of one SKU at one warehouse, claimed by a hold or an order line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// The SKU.
    pub sku: String,
    /// The warehouse.
    pub warehouse: String,
    /// Units.
    pub quantity: u64,
}

/// A hold as read after healing (`GetHold`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FinalHold {
    /// Its state.
    pub status: HoldStatus,
    /// What it claims where.
    pub allocations: Vec<Claim>,
}

impl FinalHold {
    /// Units it holds over every allocation.
    pub fn quantity(&self) -> u64 {
        self.allocations.iter().fold(0u64, |sum, a| sum.saturating_add(a.quantity))
    }
}

/// A line of an order as read after healing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FinalOrderLine {
    /// The stock it takes.
    pub claim: Claim,
    /// Whether it left the warehouse.
    pub shipped: bool,
}

/// An order as read after healing (`GetOrder`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FinalOrder {
    /// The hold it was committed from.
    pub hold_id: String,
    /// Its lines.
    pub lines: Vec<FinalOrderLine>,
}

/// One posting of the stock journal (`ListJournal`), as much as the
/// checkers need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JournalRecord {
    /// The command that posted it.
    pub command_id: String,
    /// The warehouse.
    pub warehouse: String,
    /// The SKU.
    pub sku: String,
    /// Change of on_hand.
    pub on_hand_delta: i64,
    /// Change of damaged.
    pub damaged_delta: i64,
}

/// One replica's view, from its own `Admin.ClusterStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicaView {
    /// The node.
    pub node: u64,
    /// Its applied index; `None` if it did not answer.
    pub applied_index: Option<u64>,
    /// Its state digest, hex.
    pub digest: String,
}

/// What was read in one region after the faults were healed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FinalState {
    /// Every level of the region's catalog (each SKU at each warehouse).
    pub levels: Vec<Level>,
    /// Every hold id the history reserved, read with `GetHold`: `None` when
    /// the ledger has no such hold.
    pub holds: BTreeMap<String, Option<FinalHold>>,
    /// Every order id the history tried to commit, read with `GetOrder`:
    /// `None` when the ledger has no such order.
    pub orders: BTreeMap<String, Option<FinalOrder>>,
    /// The region's whole stock journal.
    pub journal: Vec<JournalRecord>,
    /// Every replica's last status (from the convergence poll).
    pub replicas: Vec<ReplicaView>,
    /// A replica's committed log, for the model replay (not in the JSON).
    #[serde(skip)]
    pub log: crate::chaos::replay::LogRead,
}

impl FinalState {
    /// The hold `hold_id` if it was read and exists.
    pub fn hold(&self, hold_id: &str) -> Option<&FinalHold> {
        self.holds.get(hold_id).and_then(Option::as_ref)
    }

    /// The order `order_id` if it was read and exists.
    pub fn order(&self, order_id: &str) -> Option<&FinalOrder> {
        self.orders.get(order_id).and_then(Option::as_ref)
    }

    /// The journal entries `command_id` posted.
    pub fn posted_by<'s>(&'s self, command_id: &'s str) -> impl Iterator<Item = &'s JournalRecord> {
        self.journal.iter().filter(move |entry| entry.command_id == command_id)
    }
}

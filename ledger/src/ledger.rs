//! The [`Ledger`]: one region's state, and `apply`, the only way to change it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::carts::Cart;
use crate::checkouts::Checkout;
use crate::command::{Command, Envelope};
use crate::history::History;
use crate::history_index::HistoryIndex;
use crate::holds::Hold;
use crate::idempotency::{IdempotencyRecord, payload_digest};
use crate::ids::{CheckoutId, CommandId, HoldId, OrderId, ShopperId, Sku, WarehouseId, validate_id};
use crate::orders::Order;
use crate::outcome::{Applied, CommandResult, Outcome};
use crate::persistent::{self, HashMap, by_key};
use crate::quantity::Quantity;
use crate::rejection::Rejection;
use crate::stock::{Journal, JournalEntry, StockLevel, Warehouse};

/// Settings every replica of a group must share. Part of the replicated
/// state (and of snapshots), so replicas cannot disagree on them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerConfig {
    /// The region this ledger owns stock for; warehouses of other regions are refused.
    pub region: String,
    /// How long idempotency records and ended holds are kept.
    pub retention_ms: u64,
    /// The longest a hold may live.
    pub max_hold_ttl_ms: u64,
    /// Most lines one reservation, return or checkout may carry.
    pub max_lines_per_command: u32,
    /// Most lines one cart may hold.
    pub max_cart_lines: u32,
    /// Most units one cart line may hold.
    pub max_cart_line_qty: Quantity,
}

impl LedgerConfig {
    /// Production defaults for `region`: 24 h retention (Stripe's window for
    /// idempotency keys), holds of at most one hour, 100 lines per command
    /// and per cart, 999 units per cart line.
    pub fn new(region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            retention_ms: 24 * 60 * 60 * 1000,
            max_hold_ttl_ms: 60 * 60 * 1000,
            max_lines_per_command: 100,
            max_cart_lines: 100,
            max_cart_line_qty: 999,
        }
    }
}

/// The replicated state: exactly what snapshots carry and the state hash covers.
///
/// Values of the maps that grow with traffic are behind `Arc`s: a node the
/// live ledger shares with a snapshot's cut is copied by bumping counts,
/// not by copying every hold and record in it, and a value is copied only
/// when an apply changes it while a cut still holds it.
///
/// The large keyed collections are persistent hash maps and the journal a
/// persistent vector (see [`crate::persistent`]: a snapshot's cut and
/// growth cost constant time). Hash maps, because the apply path does a
/// handful of lookups per command in maps of up to millions of entries,
/// and a B-tree of string keys costs a cache miss per comparison. Nothing
/// that decides a result iterates them; where order is observable,
/// entries are sorted first: listings by key, the encoding in a canonical
/// order (see [`crate::persistent`]), so the encoding, and with it the
/// state hash, depends only on the content.
///
/// The history kept for the retention window (ended holds and idempotency
/// records, one or two per command: nearly all of a busy state) is held in
/// the order it was made, which every replica shares because they apply
/// the same log, and encoded in that order. Encoding it in a canonical
/// order meant hashing and sorting millions of keys and then reading each
/// value at a random place in memory: a snapshot of 2.7 million commands
/// took seconds of CPU on every replica, under load, for every build. It
/// is kept as those encoded bytes ([`History`]), which a snapshot copies
/// as they are. Lookups by id go through [`Index`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) config: LedgerConfig,
    /// Highest leader time seen; the ledger's only notion of "now".
    pub(crate) clock_ms: u64,
    pub(crate) warehouses: BTreeMap<WarehouseId, Warehouse>,
    #[serde(serialize_with = "persistent::canonical", deserialize_with = "persistent::map")]
    pub(crate) levels: HashMap<Sku, BTreeMap<WarehouseId, StockLevel>>,
    #[serde(serialize_with = "persistent::in_order", deserialize_with = "persistent::vector")]
    pub(crate) journal: Journal,
    /// Holds that claim stock now.
    #[serde(serialize_with = "persistent::canonical", deserialize_with = "persistent::map")]
    pub(crate) pending_holds: HashMap<HoldId, Arc<Hold>>,
    /// Holds that ended within the retention window, in the order they
    /// ended (so by end time: the clock never goes back).
    pub(crate) ended_holds: History<Hold>,
    #[serde(serialize_with = "persistent::canonical", deserialize_with = "persistent::map")]
    pub(crate) orders: HashMap<OrderId, Arc<Order>>,
    #[serde(serialize_with = "persistent::canonical", deserialize_with = "persistent::map")]
    pub(crate) carts: HashMap<ShopperId, Cart>,
    #[serde(serialize_with = "persistent::canonical", deserialize_with = "persistent::map")]
    pub(crate) checkouts: HashMap<CheckoutId, Checkout>,
    /// The idempotency records of the retention window, in the order their
    /// commands were applied (so by time).
    pub(crate) records: History<(CommandId, IdempotencyRecord)>,
}

/// Lookups derived from [`State`], rebuilt after a restore; never
/// replicated, nor held by a snapshot's cut (so they need not be
/// persistent: flat tables cost fewer cache misses a lookup).
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    /// Warehouses by `(priority, id)`: the default allocation order.
    warehouse_order: Vec<WarehouseId>,
    /// Holds by deadline, earliest first; one deadline's holds in the order
    /// they were tracked. Keyed by the deadline alone: the holds of one
    /// Raft entry share their deadline (one leader time, one TTL), and a
    /// heap of `(deadline, hold id)` spent most of every apply comparing
    /// their ids. Entries are not removed when a hold ends early (finding
    /// them costs more than skipping them); [`Index::take_due`]'s caller
    /// skips those.
    deadlines: BTreeMap<u64, Vec<HoldId>>,
    /// Where each of [`State::ended_holds`] is, by id.
    pub(crate) ended_holds: HistoryIndex<HoldId>,
    /// Where each of [`State::records`] is, by command id.
    pub(crate) records: HistoryIndex<CommandId>,
}

impl Index {
    fn rebuild(state: &State) -> Self {
        let mut index = Index::default();
        index.add_warehouse(&state.warehouses);
        for hold in state.pending_holds.values() {
            index.track_pending(hold.expires_at_ms, &hold.id);
        }
        for (position, hold) in state.ended_holds.iter() {
            index.ended_holds.insert(&hold.id, position);
        }
        for (position, (id, _)) in state.records.iter() {
            index.records.insert(&id, position);
        }
        index
    }

    pub(crate) fn add_warehouse(&mut self, warehouses: &BTreeMap<WarehouseId, Warehouse>) {
        let mut order: Vec<&Warehouse> = warehouses.values().collect();
        order.sort_by_key(|w| (w.priority, &w.id));
        self.warehouse_order = order.into_iter().map(|w| w.id.clone()).collect();
    }

    /// The preferred warehouses (first occurrence of each), then every other
    /// warehouse by priority.
    pub(crate) fn allocation_order<'a>(
        &'a self,
        preferred: &'a [WarehouseId],
    ) -> impl Iterator<Item = &'a WarehouseId> + 'a {
        let firsts = preferred.iter().enumerate().filter(move |(i, w)| !preferred[..*i].contains(w)).map(|(_, w)| w);
        let rest = self.warehouse_order.iter().filter(move |w| !preferred.contains(w));
        firsts.chain(rest)
    }

    pub(crate) fn track_pending(&mut self, expires_at_ms: u64, hold_id: &HoldId) {
        self.deadlines.entry(expires_at_ms).or_default().push(hold_id.clone());
    }

    /// Removes and returns the earliest deadline at or before `now_ms` with
    /// the holds tracked under it. A hold may have ended already, or (once
    /// purged) been replaced by a newer hold of the same id: the caller
    /// checks that each is pending with this deadline. Which of one
    /// deadline's holds ends first changes nothing: each returns its own
    /// stock, and ended holds are purged by time, all of one time together.
    pub(crate) fn take_due(&mut self, now_ms: u64) -> Option<(u64, Vec<HoldId>)> {
        let earliest = self.deadlines.first_entry()?;
        if *earliest.key() > now_ms {
            return None;
        }
        Some(earliest.remove_entry())
    }
}

/// One region's inventory ledger: a deterministic state machine.
///
/// Feed every replica the same [`Envelope`]s in the same order and they
/// reach the same state, bit for bit ([`Ledger::state_hash`]). It does no
/// I/O, reads no clock and draws no random numbers.
///
/// A clone copies the lookup tables of the retention history, in time
/// linear in it (tests and diagnostics only); a snapshot takes
/// [`Ledger::cut`], which costs constant time.
#[derive(Clone, Debug)]
pub struct Ledger {
    pub(crate) state: State,
    pub(crate) index: Index,
    /// Reused buffer for encoding commands to digest them.
    scratch: Vec<u8>,
}

impl PartialEq for Ledger {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
    }
}

impl Ledger {
    /// An empty ledger for a region.
    pub fn new(config: LedgerConfig) -> Self {
        Self::from_state(State {
            config,
            clock_ms: 0,
            warehouses: BTreeMap::new(),
            levels: HashMap::default(),
            journal: Journal::new(),
            pending_holds: HashMap::default(),
            ended_holds: History::default(),
            orders: HashMap::default(),
            carts: HashMap::default(),
            checkouts: HashMap::default(),
            records: History::default(),
        })
    }

    pub(crate) fn from_state(state: State) -> Self {
        let index = Index::rebuild(&state);
        Self { state, index, scratch: Vec::new() }
    }

    /// Applies one command. Never panics on any input: a command that cannot
    /// be carried out is rejected, deterministically, and changes nothing
    /// except the passage of time (holds past their deadline end whatever
    /// the command).
    ///
    /// A command whose id was seen within the retention window is not run
    /// again: with the same payload it returns the stored result
    /// (`replayed`), with a different one [`Rejection::IdempotencyConflict`].
    pub fn apply(&mut self, envelope: &Envelope) -> Applied {
        self.state.clock_ms = self.state.clock_ms.max(envelope.now_ms);
        let now_ms = self.state.clock_ms;
        let holds_expired = self.expire_due_holds(now_ms);
        if let Command::Expire = envelope.command {
            // Naturally idempotent, and proposed every second: not recorded.
            let result = Ok(self.purge(now_ms, holds_expired));
            return Applied { result, replayed: false };
        }
        if let Err(rejection) =
            validate_id("id", envelope.id.as_str()).and_then(|()| validate_id("actor", envelope.actor.as_str()))
        {
            return Applied { result: Err(rejection), replayed: false };
        }
        let digest = payload_digest(&envelope.actor, &envelope.command, &mut self.scratch);
        if let Some(record) = self.idempotency_record(&envelope.id) {
            return if record.digest == digest {
                Applied { result: record.result.clone(), replayed: true }
            } else {
                Applied {
                    result: Err(Rejection::IdempotencyConflict { command_id: envelope.id.clone() }),
                    replayed: false,
                }
            };
        }
        let result = self.execute(envelope, now_ms);
        let record = (envelope.id.clone(), IdempotencyRecord { digest, result, at_ms: now_ms });
        let position = self.state.records.push_back(&record);
        self.index.records.insert(&record.0, position);
        Applied { result: record.1.result, replayed: false }
    }

    fn execute(&mut self, envelope: &Envelope, now_ms: u64) -> CommandResult {
        let (id, actor) = (&envelope.id, &envelope.actor);
        match &envelope.command {
            Command::RegisterWarehouse(cmd) => self.register_warehouse(cmd),
            Command::AdjustStock(cmd) => self.adjust_stock(cmd, id, actor, now_ms),
            Command::TransferStock(cmd) => self.transfer_stock(cmd, id, actor, now_ms),
            Command::Reserve(cmd) => self.reserve(cmd, now_ms),
            Command::CommitHold(cmd) => self.commit_hold(cmd, actor, now_ms),
            Command::ReleaseHold(cmd) => self.release_hold(cmd, now_ms),
            Command::AdvanceOrder(cmd) => self.advance_order(cmd, actor, now_ms),
            Command::ShipOrder(cmd) => self.ship_order(cmd, id, actor, now_ms),
            Command::CancelOrder(cmd) => self.cancel_order(cmd, actor, now_ms),
            Command::ReturnOrder(cmd) => self.return_order(cmd, id, actor, now_ms),
            Command::Cart(cmd) => self.apply_cart(cmd),
            Command::StartCheckout(cmd) => self.start_checkout(cmd, now_ms),
            Command::RecordCheckoutStep(cmd) => self.record_checkout_step(cmd, now_ms),
            Command::Expire => unreachable!("Expire is handled before idempotency"),
        }
    }

    /// Drops idempotency records and ended holds older than the retention window.
    fn purge(&mut self, now_ms: u64, holds_expired: u64) -> Outcome {
        let cutoff = now_ms.saturating_sub(self.state.config.retention_ms);
        let mut records_purged = 0;
        while let Some((position, (id, _))) = self.state.records.pop_front_if(|(_, record)| record.at_ms < cutoff) {
            self.index.records.remove(&id, position);
            records_purged += 1;
        }
        let mut holds_purged = 0;
        while let Some((position, hold)) =
            self.state.ended_holds.pop_front_if(|hold| hold.ended_at_ms.is_some_and(|at| at < cutoff))
        {
            self.index.ended_holds.remove(&hold.id, position);
            holds_purged += 1;
        }
        Outcome::Expired { holds_expired, records_purged, holds_purged }
    }

    /// Checks the number of lines of a reservation, return or checkout.
    pub(crate) fn check_line_count(&self, lines: usize) -> Result<(), Rejection> {
        let max_lines = self.state.config.max_lines_per_command;
        if lines == 0 || lines > max_lines as usize {
            return Err(Rejection::invalid("lines", format!("must have between 1 and {max_lines} lines")));
        }
        Ok(())
    }

    /// The shared settings.
    pub fn config(&self) -> &LedgerConfig {
        &self.state.config
    }

    /// The ledger's time: the highest leader time seen, in ms since the epoch.
    pub fn clock_ms(&self) -> u64 {
        self.state.clock_ms
    }

    /// The region's warehouses, by id.
    pub fn warehouses(&self) -> impl Iterator<Item = &Warehouse> {
        self.state.warehouses.values()
    }

    /// Every `(sku, warehouse, level)` ever posted, ordered by SKU then warehouse.
    pub fn levels(&self) -> Vec<(&Sku, &WarehouseId, &StockLevel)> {
        by_key(&self.state.levels)
            .into_iter()
            .flat_map(|(sku, by_warehouse)| by_warehouse.iter().map(move |(w, level)| (sku, w, level)))
            .collect()
    }

    /// The levels of one SKU at every warehouse that ever stocked it.
    pub fn levels_of(&self, sku: &Sku) -> Option<&BTreeMap<WarehouseId, StockLevel>> {
        self.state.levels.get(sku)
    }

    /// The journal, oldest first; entry `seq` is at index `seq - 1`.
    pub fn journal(&self) -> &Journal {
        &self.state.journal
    }

    /// The journal from index `start` on (nothing past its end), found
    /// without walking the entries before it.
    pub fn journal_from(&self, start: usize) -> impl Iterator<Item = &JournalEntry> {
        let journal = &self.state.journal;
        journal.focus().narrow(start.min(journal.len())..).into_iter()
    }

    /// The index of the first journal entry for which `before` is false,
    /// the journal being ordered so that it holds for a prefix (as
    /// `slice::partition_point`): a binary search.
    pub fn journal_partition_point(&self, mut before: impl FnMut(&JournalEntry) -> bool) -> usize {
        let found = self.state.journal.binary_search_by(|entry| {
            if before(entry) { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater }
        });
        found.unwrap_or_else(|index| index)
    }

    /// Every hold still kept (pending, or ended within the retention
    /// window), by id. Ended holds are decoded from the history: a listing
    /// of the whole window is for audits, not for the request path.
    pub fn holds(&self) -> Vec<Cow<'_, Hold>> {
        let pending = self.state.pending_holds.values().map(|hold| Cow::Borrowed(&**hold));
        let ended = self.state.ended_holds.iter().map(|(_, hold)| Cow::Owned(hold));
        let mut holds: Vec<Cow<'_, Hold>> = pending.chain(ended).collect();
        holds.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        holds
    }

    /// Every order, by id.
    pub fn orders(&self) -> Vec<&Order> {
        by_key(&self.state.orders).into_iter().map(|(_, order)| &**order).collect()
    }

    /// Every non-empty cart, by shopper.
    pub fn carts(&self) -> Vec<(&ShopperId, &Cart)> {
        by_key(&self.state.carts)
    }

    /// Every checkout record, by id.
    pub fn checkouts(&self) -> Vec<&Checkout> {
        by_key(&self.state.checkouts).into_iter().map(|(_, checkout)| checkout).collect()
    }

    /// The idempotency record of a command id, if still retained (decoded
    /// from the history).
    pub fn idempotency_record(&self, id: &CommandId) -> Option<IdempotencyRecord> {
        let (_, (_, record)) = self.index.records.look_up(&self.state.records, id, |(id, _)| id)?;
        Some(record)
    }
}

//! Each command's accepted behaviour and every rejection path, one case at a
//! time. Every rejection is also checked to change nothing but the
//! idempotency table: no partial state change.

use std::ops::ControlFlow;

use ledger::carts::Cart;
use ledger::checkouts::CheckoutStatus;
use ledger::command::{
    AdjustStock, Adjustment, AdvanceOrder, CancelOrder, CartCommand, CheckoutLine, CheckoutStep, CommitHold, HoldLine,
    OrderStep, RecordCheckoutStep, RegionHold, RegisterWarehouse, ReleaseHold, Reserve, ReturnLine, ReturnOrder,
    ShipOrder, Split, StartCheckout, TransferStock,
};
use ledger::holds::{Allocation, HoldStatus};
use ledger::orders::OrderStatus;
use ledger::quantity::MAX_QUANTITY;
use ledger::rejection::ShortLine;
use ledger::stock::StockLevel;
use ledger::{Applied, Command, CommandResult, Envelope, Ledger, LedgerConfig, Outcome, Rejection};

const T0: u64 = 1_700_000_000_000;

/// A region `eu` with warehouses `north` (priority 1) and `south` (priority 2).
struct Region {
    ledger: Ledger,
    next_id: u64,
    now_ms: u64,
}

impl Region {
    fn new() -> Self {
        let mut region = Region { ledger: Ledger::new(LedgerConfig::new("eu")), next_id: 0, now_ms: T0 };
        region.ok(register("north", 1));
        region.ok(register("south", 2));
        region
    }

    /// A region where `north` has 10 `apple` and `south` has 5.
    fn stocked() -> Self {
        let mut region = Self::new();
        region.ok(adjust("north", "apple", Adjustment::Received { qty: 10 }));
        region.ok(adjust("south", "apple", Adjustment::Received { qty: 5 }));
        region
    }

    fn envelope(&mut self, command: Command) -> Envelope {
        self.next_id += 1;
        Envelope { id: format!("cmd-{}", self.next_id).into(), now_ms: self.now_ms, actor: "test".into(), command }
    }

    fn apply(&mut self, command: Command) -> CommandResult {
        let envelope = self.envelope(command);
        self.ledger.apply(&envelope).result
    }

    fn ok(&mut self, command: Command) -> Outcome {
        match self.apply(command.clone()) {
            Ok(outcome) => outcome,
            Err(rejection) => panic!("{command:?} was rejected: {rejection}"),
        }
    }

    /// Applies `command`, expects `expected`, and checks nothing changed
    /// but the idempotency record.
    fn rejects(&mut self, command: Command, expected: Rejection) {
        let before = observable(&self.ledger);
        assert_eq!(self.apply(command), Err(expected));
        assert_eq!(observable(&self.ledger), before, "a rejected command changed state");
        self.ledger.check_invariants().unwrap();
    }

    fn level(&self, warehouse: &str, sku: &str) -> StockLevel {
        self.ledger.level(&sku.into(), &warehouse.into())
    }
}

/// Everything but the idempotency table, for before/after comparisons.
fn observable(ledger: &Ledger) -> String {
    format!(
        "{:?}",
        (
            ledger.levels(),
            ledger.journal(),
            ledger.holds(),
            ledger.orders(),
            ledger.carts(),
            ledger.checkouts(),
            ledger.warehouses().collect::<Vec<_>>(),
        )
    )
}

fn register(warehouse: &str, priority: u32) -> Command {
    Command::RegisterWarehouse(RegisterWarehouse {
        warehouse: warehouse.into(),
        region: "eu".into(),
        name: warehouse.to_uppercase(),
        location: String::new(),
        priority,
    })
}

fn adjust(warehouse: &str, sku: &str, adjustment: Adjustment) -> Command {
    Command::AdjustStock(AdjustStock {
        warehouse: warehouse.into(),
        sku: sku.into(),
        adjustment,
        expected_on_hand: None,
        reference: "doc-1".into(),
    })
}

fn reserve(hold: &str, lines: &[(&str, u64)]) -> Command {
    Command::Reserve(Reserve {
        hold_id: hold.into(),
        lines: lines.iter().map(|&(sku, qty)| HoldLine { sku: sku.into(), qty }).collect(),
        preferred_warehouses: Vec::new(),
        split: Split::Allowed,
        ttl_ms: 60_000,
        owner: Some("ana".into()),
    })
}

fn commit(hold: &str, order: &str) -> Command {
    Command::CommitHold(CommitHold { hold_id: hold.into(), order_id: order.into() })
}

fn ship(order: &str, warehouse: &str) -> Command {
    Command::ShipOrder(ShipOrder { order_id: order.into(), warehouse: warehouse.into() })
}

fn short(sku: &str, warehouse: Option<&str>, requested: u64, available: u64) -> ShortLine {
    ShortLine { sku: sku.into(), warehouse: warehouse.map(Into::into), requested, available }
}

fn invalid(field: &str, reason: &str) -> Rejection {
    Rejection::invalid(field, reason)
}

#[test]
fn reserve_takes_preferred_order_then_priority_and_splits() {
    let mut region = Region::stocked();
    let outcome = region.ok(reserve("h1", &[("apple", 12)]));
    let Outcome::Reserved { allocations, expires_at_ms } = outcome else { panic!("{outcome:?}") };
    assert_eq!(expires_at_ms, T0 + 60_000);
    assert_eq!(
        allocations,
        vec![
            Allocation { sku: "apple".into(), warehouse: "north".into(), qty: 10 },
            Allocation { sku: "apple".into(), warehouse: "south".into(), qty: 2 },
        ]
    );
    let mut preferring_south = Region::stocked();
    let Command::Reserve(mut cmd) = reserve("h1", &[("apple", 6)]) else { unreachable!() };
    cmd.preferred_warehouses = vec!["south".into(), "south".into()];
    let Outcome::Reserved { allocations, .. } = preferring_south.ok(Command::Reserve(cmd)) else { panic!() };
    assert_eq!(allocations[0], Allocation { sku: "apple".into(), warehouse: "south".into(), qty: 5 });
    assert_eq!(allocations[1], Allocation { sku: "apple".into(), warehouse: "north".into(), qty: 1 });
}

#[test]
fn a_single_warehouse_hold_takes_the_first_warehouse_that_fills_every_line() {
    let mut region = Region::stocked();
    region.ok(adjust("south", "pear", Adjustment::Received { qty: 2 }));
    let single = |hold: &str, lines: &[(&str, u64)]| {
        let Command::Reserve(mut cmd) = reserve(hold, lines) else { unreachable!() };
        cmd.split = Split::SingleWarehouse;
        Command::Reserve(cmd)
    };
    // `north` comes first by priority but has no pear: the hold goes south whole.
    let Outcome::Reserved { allocations, .. } = region.ok(single("h1", &[("apple", 3), ("pear", 2)])) else { panic!() };
    assert_eq!(
        allocations,
        vec![
            Allocation { sku: "apple".into(), warehouse: "south".into(), qty: 3 },
            Allocation { sku: "pear".into(), warehouse: "south".into(), qty: 2 },
        ]
    );
    // 10 apples are left in north and 2 in south, but no one warehouse has 11:
    // the short line is reported at the warehouse that came closest.
    region.rejects(
        single("h2", &[("apple", 11)]),
        Rejection::InsufficientStock { lines: vec![short("apple", Some("north"), 11, 10)] },
    );
    region.ok(reserve("h3", &[("apple", 11)]));
}

#[test]
fn reserve_is_all_or_nothing_and_names_every_short_line() {
    let mut region = Region::stocked();
    region.rejects(
        reserve("h1", &[("apple", 3), ("pear", 1), ("apple", 13)]),
        Rejection::InsufficientStock { lines: vec![short("apple", None, 16, 15), short("pear", None, 1, 0)] },
    );
    assert_eq!(region.level("north", "apple").available(), 10);
}

#[test]
fn bundles_sum_their_demand() {
    let mut region = Region::stocked();
    region.ok(reserve("h1", &[("apple", 8), ("apple", 7)]));
    assert_eq!(region.level("north", "apple").held + region.level("south", "apple").held, 15);
    region.rejects(
        reserve("h2", &[("apple", 1)]),
        Rejection::InsufficientStock { lines: vec![short("apple", None, 1, 0)] },
    );
}

#[test]
fn a_hold_stops_counting_at_its_deadline_without_a_reaper() {
    let mut region = Region::stocked();
    region.ok(reserve("h1", &[("apple", 15)]));
    region.now_ms += 59_999;
    assert!(matches!(region.apply(reserve("h2", &[("apple", 1)])), Err(Rejection::InsufficientStock { .. })));
    region.now_ms += 1;
    // No Expire was proposed: the next command already sees the stock back.
    region.ok(reserve("h3", &[("apple", 15)]));
    assert_eq!(region.ledger.hold(&"h1".into()).unwrap().status, HoldStatus::Expired);
    region.rejects(commit("h1", "o1"), Rejection::HoldNotPending { hold_id: "h1".into(), status: "expired".into() });
}

#[test]
fn time_never_runs_backwards() {
    let mut region = Region::stocked();
    region.ok(reserve("h1", &[("apple", 1)]));
    region.now_ms = T0 - 1_000_000;
    region.ok(reserve("h2", &[("apple", 1)]));
    assert_eq!(region.ledger.clock_ms(), T0);
    assert_eq!(region.ledger.hold(&"h2".into()).unwrap().expires_at_ms, T0 + 60_000);
}

#[test]
fn hold_lifecycle_commit_ship_deliver_return() {
    let mut region = Region::stocked();
    region.ok(reserve("h1", &[("apple", 12)]));
    assert_eq!(region.ok(commit("h1", "o1")), Outcome::HoldCommitted { order_id: "o1".into() });
    assert_eq!(region.level("north", "apple"), StockLevel { on_hand: 10, allocated: 10, ..StockLevel::default() });
    region.rejects(commit("h1", "o2"), Rejection::HoldNotPending { hold_id: "h1".into(), status: "committed".into() });
    region.ok(Command::AdvanceOrder(AdvanceOrder { order_id: "o1".into(), step: OrderStep::Picking }));
    assert_eq!(region.ok(ship("o1", "north")), Outcome::OrderUpdated { status: OrderStatus::PartiallyShipped });
    assert_eq!(region.level("north", "apple"), StockLevel::default());
    region.rejects(ship("o1", "north"), Rejection::NothingToShip { order_id: "o1".into(), warehouse: "north".into() });
    assert_eq!(region.ok(ship("o1", "south")), Outcome::OrderUpdated { status: OrderStatus::Shipped });
    assert_eq!(region.level("south", "apple"), StockLevel { on_hand: 3, ..StockLevel::default() });
    region.ok(Command::AdvanceOrder(AdvanceOrder { order_id: "o1".into(), step: OrderStep::Delivered }));
    let returned = Command::ReturnOrder(ReturnOrder {
        order_id: "o1".into(),
        lines: vec![ReturnLine { sku: "apple".into(), warehouse: "north".into(), qty: 4, damaged: true }],
    });
    assert_eq!(region.ok(returned), Outcome::OrderUpdated { status: OrderStatus::PartiallyReturned });
    assert_eq!(region.level("north", "apple"), StockLevel { on_hand: 4, damaged: 4, ..StockLevel::default() });
    let too_many = Command::ReturnOrder(ReturnOrder {
        order_id: "o1".into(),
        lines: vec![ReturnLine { sku: "apple".into(), warehouse: "north".into(), qty: 7, damaged: false }],
    });
    region.rejects(
        too_many,
        Rejection::ReturnExceedsShipped { sku: "apple".into(), warehouse: "north".into(), requested: 7, returnable: 6 },
    );
    let order = region.ledger.order(&"o1".into()).unwrap();
    let statuses: Vec<_> = order.timeline.iter().map(|change| change.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::Confirmed,
            OrderStatus::Picking,
            OrderStatus::PartiallyShipped,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::PartiallyReturned
        ]
    );
    region.ledger.check_invariants().unwrap();
}

#[test]
fn cancel_returns_the_allocation_only_before_shipping() {
    let mut region = Region::stocked();
    region.ok(reserve("h1", &[("apple", 12)]));
    region.ok(commit("h1", "o1"));
    let cancel =
        |order: &str| Command::CancelOrder(CancelOrder { order_id: order.into(), reason: "changed mind".into() });
    region.ok(cancel("o1"));
    assert_eq!(region.level("north", "apple").available(), 10);
    let not_from = |id: &str, from: &str| Rejection::InvalidTransition {
        entity: "order".into(),
        id: id.into(),
        from: from.into(),
        to: "cancelled".into(),
    };
    region.rejects(cancel("o1"), not_from("o1", "cancelled"));
    region.ok(reserve("h2", &[("apple", 1)]));
    region.ok(commit("h2", "o2"));
    region.ok(ship("o2", "north"));
    region.rejects(cancel("o2"), not_from("o2", "shipped"));
    region.rejects(
        Command::AdvanceOrder(AdvanceOrder { order_id: "o9".into(), step: OrderStep::Picking }),
        Rejection::UnknownOrder { order_id: "o9".into() },
    );
}

#[test]
fn release_returns_stock_and_a_hold_ends_once() {
    let mut region = Region::stocked();
    region.ok(reserve("h1", &[("apple", 15)]));
    let release = Command::ReleaseHold(ReleaseHold { hold_id: "h1".into() });
    assert_eq!(region.ok(release.clone()), Outcome::HoldReleased);
    assert_eq!(region.level("north", "apple").available(), 10);
    region.rejects(release, Rejection::HoldNotPending { hold_id: "h1".into(), status: "released".into() });
    region.rejects(
        Command::ReleaseHold(ReleaseHold { hold_id: "nope".into() }),
        Rejection::UnknownHold { hold_id: "nope".into() },
    );
    region.rejects(reserve("h1", &[("apple", 1)]), Rejection::HoldExists { hold_id: "h1".into() });
    region.ok(reserve("h2", &[("apple", 1)]));
    region.ok(commit("h2", "o1"));
    region.ok(reserve("h3", &[("apple", 1)]));
    region.rejects(commit("h3", "o1"), Rejection::OrderExists { order_id: "o1".into() });
}

#[test]
fn reserve_validates_every_field() {
    let mut region = Region::stocked();
    let cases: Vec<(Command, Rejection)> = vec![
        (reserve("", &[("apple", 1)]), invalid("hold_id", "must not be empty")),
        (reserve(&"h".repeat(256), &[("apple", 1)]), invalid("hold_id", "must be at most 255 bytes")),
        (reserve("h\n1", &[("apple", 1)]), invalid("hold_id", "must not contain control characters")),
        (reserve("h1", &[]), invalid("lines", "must have between 1 and 100 lines")),
        (reserve("h1", &[("apple", 1); 101]), invalid("lines", "must have between 1 and 100 lines")),
        (reserve("h1", &[("apple", 1), ("pear", 0)]), invalid("lines[1].qty", "must be at least 1")),
        (reserve("h1", &[("apple", u64::MAX)]), invalid("lines[0].qty", "exceeds the maximum quantity 10^12")),
        (
            reserve("h1", &[("apple", MAX_QUANTITY), ("apple", MAX_QUANTITY)]),
            invalid("lines[1].qty", "the SKU's total demand exceeds the maximum quantity 10^12"),
        ),
        (reserve("h1", &[("", 1)]), invalid("lines[0].sku", "must not be empty")),
    ];
    for (command, expected) in cases {
        region.rejects(command, expected);
    }
    let Command::Reserve(mut cmd) = reserve("h1", &[("apple", 1)]) else { unreachable!() };
    cmd.ttl_ms = 0;
    region.rejects(Command::Reserve(cmd.clone()), invalid("ttl_ms", "must be between 1 and 3600000"));
    cmd.ttl_ms = 3_600_001;
    region.rejects(Command::Reserve(cmd.clone()), invalid("ttl_ms", "must be between 1 and 3600000"));
    cmd.ttl_ms = 1_000;
    cmd.preferred_warehouses = vec!["north".into(), "east".into()];
    region.rejects(Command::Reserve(cmd), invalid("preferred_warehouses[1]", "unknown warehouse east"));
}

#[test]
fn adjustments_post_to_the_journal() {
    let mut region = Region::stocked();
    region.ok(adjust("north", "apple", Adjustment::Damaged { qty: 2 }));
    region.ok(adjust("north", "apple", Adjustment::SetSafetyStock { qty: 3 }));
    assert_eq!(region.level("north", "apple").available(), 5);
    region.ok(adjust("north", "apple", Adjustment::DisposeDamaged { qty: 1 }));
    region.ok(adjust("north", "apple", Adjustment::Shrink { qty: 1 }));
    region.ok(adjust("north", "apple", Adjustment::Returned { qty: 2, damaged: false }));
    region.ok(adjust("north", "apple", Adjustment::Correction { delta: -1 }));
    let outcome = region.ok(adjust("north", "apple", Adjustment::CycleCount { counted: 20 }));
    let level = StockLevel { on_hand: 20, damaged: 1, safety_stock: 3, ..StockLevel::default() };
    assert_eq!(outcome, Outcome::StockAdjusted { level, journal_seq: 9 });
    let entry = &region.ledger.journal()[8];
    assert_eq!((entry.on_hand_delta, entry.actor.as_str(), entry.reference.as_str()), (11, "test", "doc-1"));
    region.ledger.check_invariants().unwrap();
}

#[test]
fn the_journal_is_read_from_a_position_and_searched_by_time() {
    let mut region = Region::new();
    for step in 0..6_u64 {
        region.now_ms = T0 + step / 2 * 1_000;
        region.ok(adjust("north", "apple", Adjustment::Received { qty: step + 1 }));
    }
    let seqs = |start: usize| region.ledger.journal_from(start).map(|entry| entry.seq).collect::<Vec<_>>();
    assert_eq!(seqs(0), [1, 2, 3, 4, 5, 6]);
    assert_eq!(seqs(4), [5, 6]);
    assert_eq!(seqs(6), Vec::<u64>::new(), "from the end: nothing");
    assert_eq!(seqs(1_000), Vec::<u64>::new(), "past the end: nothing");
    // Two entries per second: T0, T0 + 1 s, T0 + 2 s.
    let first_at = |at_ms: u64| region.ledger.journal_partition_point(|entry| entry.at_ms < at_ms);
    assert_eq!(first_at(T0), 0);
    assert_eq!(first_at(T0 + 1), 2);
    assert_eq!(first_at(T0 + 1_000), 2);
    assert_eq!(first_at(T0 + 2_000), 4);
    assert_eq!(first_at(T0 + 3_000), 6, "after the last: the journal's length");
}

#[test]
fn adjustments_never_make_available_negative() {
    let mut region = Region::stocked();
    region.ok(reserve("h1", &[("apple", 8)]));
    let short_north =
        |requested| Rejection::InsufficientStock { lines: vec![short("apple", Some("north"), requested, 2)] };
    region.rejects(adjust("north", "apple", Adjustment::Shrink { qty: 3 }), short_north(3));
    region.rejects(adjust("north", "apple", Adjustment::Damaged { qty: 3 }), short_north(3));
    region.rejects(adjust("north", "apple", Adjustment::CycleCount { counted: 7 }), short_north(3));
    region.rejects(adjust("north", "apple", Adjustment::SetSafetyStock { qty: 5 }), short_north(5));
    region.rejects(adjust("north", "apple", Adjustment::Correction { delta: -11 }), short_north(11));
    region.rejects(
        adjust("north", "apple", Adjustment::DisposeDamaged { qty: 1 }),
        invalid("adjustment.qty", "exceeds the 0 damaged units on hand"),
    );
}

#[test]
fn adjustments_validate_numbers_and_ids() {
    let mut region = Region::stocked();
    let cases = vec![
        (adjust("north", "apple", Adjustment::Received { qty: 0 }), invalid("adjustment.qty", "must be at least 1")),
        (
            adjust("north", "apple", Adjustment::Received { qty: MAX_QUANTITY + 1 }),
            invalid("adjustment.qty", "exceeds the maximum quantity 10^12"),
        ),
        (
            adjust("north", "apple", Adjustment::Received { qty: MAX_QUANTITY }),
            Rejection::QuantityOverflow { field: "on_hand".into(), sku: "apple".into(), warehouse: "north".into() },
        ),
        (
            adjust("north", "apple", Adjustment::Correction { delta: i64::MIN }),
            invalid("adjustment.delta", "must be non-zero and at most 10^12 in magnitude"),
        ),
        (
            adjust("north", "apple", Adjustment::Correction { delta: 0 }),
            invalid("adjustment.delta", "must be non-zero and at most 10^12 in magnitude"),
        ),
        (
            adjust("north", "apple", Adjustment::CycleCount { counted: u64::MAX }),
            invalid("adjustment.counted", "exceeds the maximum quantity 10^12"),
        ),
        (
            adjust("east", "apple", Adjustment::Received { qty: 1 }),
            Rejection::UnknownWarehouse { warehouse: "east".into() },
        ),
        (adjust("north", "", Adjustment::Received { qty: 1 }), invalid("sku", "must not be empty")),
    ];
    for (command, expected) in cases {
        region.rejects(command, expected);
    }
    let Command::AdjustStock(mut cmd) = adjust("north", "apple", Adjustment::Received { qty: 1 }) else {
        unreachable!()
    };
    cmd.reference = "x".repeat(1025);
    region.rejects(Command::AdjustStock(cmd.clone()), invalid("reference", "must be at most 1024 bytes"));
}

#[test]
fn compare_and_set_rejects_with_the_actual_quantity() {
    let mut region = Region::stocked();
    let Command::AdjustStock(mut cmd) = adjust("north", "apple", Adjustment::Received { qty: 1 }) else {
        unreachable!()
    };
    cmd.expected_on_hand = Some(9);
    region.rejects(
        Command::AdjustStock(cmd.clone()),
        Rejection::QuantityMismatch { sku: "apple".into(), warehouse: "north".into(), expected: 9, actual: 10 },
    );
    cmd.expected_on_hand = Some(10);
    region.ok(Command::AdjustStock(cmd));
    assert_eq!(region.level("north", "apple").on_hand, 11);
}

#[test]
fn transfers_move_stock_atomically() {
    let mut region = Region::stocked();
    let transfer = |from: &str, to: &str, qty| {
        Command::TransferStock(TransferStock {
            from: from.into(),
            to: to.into(),
            sku: "apple".into(),
            qty,
            reference: "t-1".into(),
        })
    };
    region.ok(transfer("north", "south", 4));
    assert_eq!((region.level("north", "apple").on_hand, region.level("south", "apple").on_hand), (6, 9));
    region.rejects(
        transfer("north", "south", 7),
        Rejection::InsufficientStock { lines: vec![short("apple", Some("north"), 7, 6)] },
    );
    region.rejects(transfer("north", "north", 1), invalid("to", "must differ from `from`"));
    region.rejects(transfer("north", "east", 1), Rejection::UnknownWarehouse { warehouse: "east".into() });
    region.rejects(transfer("north", "south", 0), invalid("qty", "must be at least 1"));
}

#[test]
fn warehouses_register_once_in_their_region() {
    let mut region = Region::new();
    region.rejects(register("north", 5), Rejection::WarehouseExists { warehouse: "north".into() });
    let Command::RegisterWarehouse(mut cmd) = register("east", 3) else { unreachable!() };
    cmd.region = "us".into();
    region.rejects(Command::RegisterWarehouse(cmd), Rejection::WrongRegion { expected: "eu".into(), got: "us".into() });
}

#[test]
fn a_retry_returns_the_first_result_and_a_reused_id_is_refused() {
    let mut region = Region::stocked();
    let envelope = region.envelope(reserve("h1", &[("apple", 3)]));
    let first = region.ledger.apply(&envelope);
    assert!(!first.replayed);
    let before = observable(&region.ledger);
    let retry = Envelope { now_ms: envelope.now_ms + 5_000, ..envelope.clone() };
    assert_eq!(region.ledger.apply(&retry), Applied { result: first.result, replayed: true });
    assert_eq!(observable(&region.ledger), before);
    let other_payload = Envelope { command: reserve("h1", &[("apple", 4)]), ..envelope.clone() };
    assert_eq!(
        region.ledger.apply(&other_payload).result,
        Err(Rejection::IdempotencyConflict { command_id: envelope.id.clone() })
    );
    let other_actor = Envelope { actor: "mallory".into(), ..envelope.clone() };
    assert!(matches!(region.ledger.apply(&other_actor).result, Err(Rejection::IdempotencyConflict { .. })));
    assert_eq!(observable(&region.ledger), before);
    let bad_id = Envelope { id: "".into(), ..envelope };
    assert_eq!(region.ledger.apply(&bad_id).result, Err(invalid("id", "must not be empty")));
}

#[test]
fn expire_purges_records_and_ended_holds_after_retention() {
    let mut region = Region::stocked();
    let envelope = region.envelope(reserve("h1", &[("apple", 3)]));
    region.ledger.apply(&envelope);
    region.now_ms += 24 * 60 * 60 * 1000;
    assert_eq!(region.ok(Command::Expire), Outcome::Expired { holds_expired: 1, records_purged: 0, holds_purged: 0 });
    // The hold ended just now: it is kept a full retention window from here.
    region.now_ms += 24 * 60 * 60 * 1000 - 1;
    assert_eq!(region.ok(Command::Expire), Outcome::Expired { holds_expired: 0, records_purged: 5, holds_purged: 0 });
    region.now_ms += 2;
    assert_eq!(region.ok(Command::Expire), Outcome::Expired { holds_expired: 0, records_purged: 0, holds_purged: 1 });
    assert!(region.ledger.hold(&"h1".into()).is_none());
    assert!(region.ledger.idempotency_record(&envelope.id).is_none());
    region.ledger.check_invariants().unwrap();
}

#[test]
fn carts_add_set_remove_merge() {
    let mut region = Region::new();
    let cart = |lines: &[(&str, u64)]| Outcome::CartUpdated {
        cart: Cart { lines: lines.iter().map(|&(sku, qty)| (sku.into(), qty)).collect() },
    };
    let add = |shopper: &str, sku: &str, qty| {
        Command::Cart(CartCommand::Add { shopper: shopper.into(), sku: sku.into(), qty })
    };
    region.ok(add("guest-1", "apple", 2));
    region.ok(add("guest-1", "pear", 990));
    region.ok(add("ana", "pear", 20));
    let merge = Command::Cart(CartCommand::Merge { guest: "guest-1".into(), shopper: "ana".into() });
    assert_eq!(region.ok(merge), cart(&[("apple", 2), ("pear", 999)]));
    assert!(region.ledger.cart(&"guest-1".into()).is_none());
    let set = Command::Cart(CartCommand::Set { shopper: "ana".into(), sku: "apple".into(), qty: 0 });
    assert_eq!(region.ok(set), cart(&[("pear", 999)]));
    region.rejects(add("ana", "pear", 1), invalid("qty", "a cart line holds at most 999 units"));
    region.rejects(add("ana", "pear", 0), invalid("qty", "must be at least 1"));
    region.rejects(
        Command::Cart(CartCommand::Merge { guest: "ana".into(), shopper: "ana".into() }),
        invalid("guest", "must differ from `shopper`"),
    );
    for i in 0..99 {
        region.ok(add("ana", &format!("sku-{i}"), 1));
    }
    region.rejects(add("ana", "one-too-many", 1), Rejection::CartFull { shopper: "ana".into(), max_lines: 100 });
    region.ok(Command::Cart(CartCommand::Clear { shopper: "ana".into() }));
    assert!(region.ledger.cart(&"ana".into()).is_none());
}

#[test]
fn checkout_records_follow_the_saga() {
    let mut region = Region::new();
    let start = |id: &str, price| {
        Command::StartCheckout(StartCheckout {
            checkout_id: id.into(),
            shopper: "ana".into(),
            currency: "EUR".into(),
            lines: vec![CheckoutLine { sku: "apple".into(), qty: 3, unit_price_minor: price }],
        })
    };
    let step = |id: &str, step| Command::RecordCheckoutStep(RecordCheckoutStep { checkout_id: id.into(), step });
    assert_eq!(
        region.ok(start("c1", 250)),
        Outcome::CheckoutRecorded { status: CheckoutStatus::Started, total_minor: 750 }
    );
    region.rejects(start("c1", 250), Rejection::CheckoutExists { checkout_id: "c1".into() });
    region.rejects(
        step("c1", CheckoutStep::PaymentAuthorized { payment_ref: "pay-1".into(), amount_minor: 750 }),
        Rejection::InvalidTransition {
            entity: "checkout".into(),
            id: "c1".into(),
            from: "started".into(),
            to: "payment_authorized".into(),
        },
    );
    let holds = vec![RegionHold { region: "eu".into(), hold_id: "h1".into() }];
    region.ok(step("c1", CheckoutStep::HoldsPlaced { holds }));
    region.rejects(
        step("c1", CheckoutStep::PaymentAuthorized { payment_ref: "pay-1".into(), amount_minor: 749 }),
        invalid("step.amount_minor", "must equal the checkout total 750"),
    );
    region.ok(step("c1", CheckoutStep::PaymentAuthorized { payment_ref: "pay-1".into(), amount_minor: 750 }));
    region.ok(step("c1", CheckoutStep::Failed { reason: "holds expired".into() }));
    region.ok(step("c1", CheckoutStep::PaymentVoided));
    region.rejects(
        step("c1", CheckoutStep::PaymentVoided),
        Rejection::InvalidTransition {
            entity: "checkout".into(),
            id: "c1".into(),
            from: "failed".into(),
            to: "payment_voided".into(),
        },
    );
    let checkout = region.ledger.checkout(&"c1".into()).unwrap();
    assert_eq!((checkout.status, checkout.payment_voided, checkout.steps.len()), (CheckoutStatus::Failed, true, 4));
    region.rejects(step("c9", CheckoutStep::PaymentVoided), Rejection::UnknownCheckout { checkout_id: "c9".into() });
    let Command::StartCheckout(mut bad) = start("c2", 1) else { unreachable!() };
    bad.currency = "eur".into();
    region.rejects(Command::StartCheckout(bad.clone()), invalid("currency", "must be a three-letter ISO 4217 code"));
    bad.currency = "EUR".into();
    bad.lines = vec![CheckoutLine { sku: "apple".into(), qty: MAX_QUANTITY, unit_price_minor: 1_000_000 }];
    region.rejects(Command::StartCheckout(bad.clone()), invalid("lines", "the total exceeds the maximum amount 10^15"));
    bad.lines[0].unit_price_minor = u64::MAX;
    region
        .rejects(Command::StartCheckout(bad), invalid("lines[0].unit_price_minor", "exceeds the maximum amount 10^15"));
}

#[test]
fn snapshots_restore_exactly_and_refuse_corruption() {
    let mut region = Region::stocked();
    region.ok(reserve("h1", &[("apple", 12)]));
    region.ok(commit("h1", "o1"));
    region.ok(reserve("h2", &[("apple", 1)]));
    let bytes = region.ledger.snapshot();
    let restored = Ledger::restore(&bytes).unwrap();
    assert_eq!(restored.state_hash(), region.ledger.state_hash());
    assert_eq!(restored, region.ledger);
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    assert!(Ledger::restore(&flipped).is_err());
    assert!(Ledger::restore(&bytes[..bytes.len() - 1]).is_err());
    assert!(Ledger::restore(b"").is_err());

    // A cut's bytes are the same, alone or after a caller's header.
    let cut = region.ledger.cut();
    assert_eq!(cut.snapshot(), bytes);
    let after = cut.snapshot_after(b"header".to_vec(), &mut || ControlFlow::Continue(())).unwrap();
    assert_eq!(after.strip_prefix(b"header".as_slice()), Some(bytes.as_slice()));
}

#[test]
fn a_paced_snapshot_calls_its_pace_every_so_many_bytes_and_encodes_the_same() {
    let mut region = Region::new();
    region.ok(adjust("north", "apple", Adjustment::Received { qty: 5_000 }));
    for hold in 0..3_000 {
        region.ok(reserve(&format!("hold-{hold}"), &[("apple", 1)]));
    }
    let cut = region.ledger.cut();
    let mut paces = 0;
    let paced = cut
        .snapshot_after(Vec::new(), &mut || {
            paces += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(paced, region.ledger.snapshot());
    let expected = paced.len() / ledger::snapshot::PACE_EVERY;
    assert!(expected >= 2, "a state of {} bytes is big enough to pace", paced.len());
    assert!((expected - 1..=expected).contains(&paces), "{paces} paces for {} bytes", paced.len());

    // A pace that breaks off stops the walk there: no bytes, no more paces.
    let mut paces = 0;
    let stopped = cut.snapshot_after(Vec::new(), &mut || {
        paces += 1;
        if paces == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    assert_eq!((stopped, paces), (None, 2));
}

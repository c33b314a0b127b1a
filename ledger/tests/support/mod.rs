//! Generators shared by the ledger's property tests (`properties.rs`,
//! `model.rs`): random command logs over a deliberately small universe, so
//! that ids collide and commands interact often.
//!
//! The universe: three warehouses (two registered by a generated prelude,
//! the third only if a generated command registers it), four SKUs, five
//! hold ids, four order ids, three shoppers, three checkout ids, two actors.
//! Every id pool also yields, rarely, a valid id nothing uses (`zz`), a
//! 255-byte id (the longest valid) and invalid ids (empty, 256 bytes,
//! control characters). Quantities are mostly small, sometimes 0, 10^12,
//! 10^12 + 1, u64::MAX or just under 10^12; corrections include i64::MIN
//! and i64::MAX. Time moves by small and large steps (past hold TTLs, past
//! the retention window), sometimes backwards (the ledger must clamp it),
//! and rarely jumps to the end of `u64` time, or lands exactly on (or 1 ms
//! either side of) a hold's deadline or a retention boundary. Logs also
//! re-send earlier envelopes verbatim or with a new time, reuse earlier ids
//! with a new command or from another actor, and contain "flows": runs of
//! commands on the same ids (a hold reserved, committed, shipped, returned;
//! a checkout saga with the right amount; a level pushed to the 10^12
//! bound and posted into) that independent random commands rarely form.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use ledger::command::{
    AdjustStock, Adjustment, AdvanceOrder, CancelOrder, CartCommand, CheckoutLine, CheckoutStep, CommitHold, HoldLine,
    OrderStep, RecordCheckoutStep, RegionHold, RegionOrder, RegisterWarehouse, ReleaseHold, Reserve, ReturnLine,
    ReturnOrder, ShipOrder, Split, StartCheckout, TransferStock,
};
use ledger::quantity::{MAX_MONEY_MINOR, MAX_QUANTITY};
use ledger::{Command, Envelope, LedgerConfig};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config as ProptestConfig;

/// The region every generated ledger owns.
pub(crate) const REGION: &str = "eu";
/// The time of the first command (ms since the epoch).
pub(crate) const T0: u64 = 1_700_000_000_000;

pub(crate) const WAREHOUSES: &[&str] = &["w1", "w2", "w3"];
pub(crate) const SKUS: &[&str] = &["a", "b", "c", "d"];
pub(crate) const HOLDS: &[&str] = &["h1", "h2", "h3", "h4", "h5"];
pub(crate) const ORDERS: &[&str] = &["o1", "o2", "o3", "o4"];
pub(crate) const SHOPPERS: &[&str] = &["s1", "s2", "guest"];
pub(crate) const CHECKOUTS: &[&str] = &["k1", "k2", "k3"];

/// A proptest config running `cases` cases, unless `PROPTEST_CASES` is set.
///
/// `ProptestConfig::default()` already reads `PROPTEST_CASES` (and the other
/// `PROPTEST_*` variables); overriding `cases` unconditionally would hide it,
/// so the per-test count applies only when the variable is absent.
pub(crate) fn proptest_config(cases: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() { base } else { ProptestConfig { cases, ..base } }
}

/// Either the production settings or tight ones (short retention and TTLs,
/// few lines per command and per cart) that make limits and purges common.
pub(crate) fn ledger_config() -> BoxedStrategy<LedgerConfig> {
    let tight = LedgerConfig {
        retention_ms: 120_000,
        max_hold_ttl_ms: 60_000,
        max_lines_per_command: 4,
        max_cart_lines: 2,
        max_cart_line_qty: 20,
        ..LedgerConfig::new(REGION)
    };
    prop_oneof![Just(LedgerConfig::new(REGION)), Just(tight)].boxed()
}

/// How the leader's time moves between two commands.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TimeStep {
    /// Forward by this many ms (0: the same instant).
    Forward(u64),
    /// A stamp this many ms behind the latest one (a deposed leader's clock).
    Back(u64),
    /// To this many ms before `u64::MAX`.
    EndOfTime(u64),
    /// To a deadline of a hold asked for earlier, give or take `offset_ms`:
    /// random steps almost never land on the exact instant a hold ends.
    Deadline { pick: Index, offset_ms: i64 },
}

/// The generator's view of the ledger's clock: the latest time stamped
/// (the ledger's clock is the highest stamp) and the deadlines of holds.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    pub(crate) latest_ms: u64,
    pub(crate) deadlines_ms: Vec<u64>,
}

/// The instant a `Expire` purges what was recorded (or ended) at `at_ms`
/// is the first one past `at_ms + retention_ms`; `offset_ms` in -1..=1 and
/// `at_ms` picked among those times lands an `Expire` on either side of it.
pub(crate) fn purge_boundary_ms(at_ms: u64, retention_ms: u64, offset_ms: i64) -> u64 {
    at_ms.saturating_add(retention_ms).saturating_add_signed(offset_ms)
}

impl Clock {
    /// The time to stamp on the next command; moves the latest time forward
    /// (never backwards).
    pub(crate) fn stamp(&mut self, step: TimeStep) -> u64 {
        match step {
            TimeStep::Forward(step_ms) => self.latest_ms = self.latest_ms.saturating_add(step_ms),
            TimeStep::Back(step_ms) => return self.latest_ms.saturating_sub(step_ms),
            TimeStep::EndOfTime(before_ms) => self.latest_ms = self.latest_ms.max(u64::MAX - before_ms),
            TimeStep::Deadline { pick, offset_ms } => {
                let ahead: Vec<u64> = self.deadlines_ms.iter().copied().filter(|&at| at >= self.latest_ms).collect();
                if !ahead.is_empty() {
                    let target_ms = pick.get(&ahead).saturating_add_signed(offset_ms);
                    self.latest_ms = self.latest_ms.max(target_ms);
                }
            }
        }
        self.latest_ms
    }

    /// Remembers the deadline a reservation asks for (if it is accepted).
    fn note(&mut self, command: &Command) {
        if let Command::Reserve(reserve) = command {
            self.deadlines_ms.push(self.latest_ms.saturating_add(reserve.ttl_ms));
        }
    }
}

/// Mostly small steps (hold TTLs are mostly 3 to 60 s), some past the tight
/// retention window, a few past a day, some backwards, some to a hold's
/// deadline (or 1 ms either side), rarely to the end of time.
pub(crate) fn time_step() -> BoxedStrategy<TimeStep> {
    prop_oneof![
        240 => Just(TimeStep::Forward(0)),
        320 => (1u64..=1_000).prop_map(TimeStep::Forward),
        60 => (1_000u64..=20_000).prop_map(TimeStep::Forward),
        16 => (60_000u64..=300_000).prop_map(TimeStep::Forward),
        4 => (86_400_000u64..=90_000_000).prop_map(TimeStep::Forward),
        60 => (1u64..=50_000).prop_map(TimeStep::Back),
        1 => (0u64..=5_000).prop_map(TimeStep::EndOfTime),
        48 => (any::<Index>(), -1i64..=1).prop_map(|(pick, offset_ms)| TimeStep::Deadline { pick, offset_ms }),
    ]
    .boxed()
}

/// Ids that must be rejected: empty, too long, control characters.
pub(crate) fn bad_id() -> BoxedStrategy<String> {
    select(vec![String::new(), "x".repeat(256), "tab\tid".to_owned(), "nul\0".to_owned(), "nel\u{85}".to_owned()])
        .boxed()
}

/// An id from `pool`, or rarely one nothing uses, the longest valid one, or an invalid one.
fn pick(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        40 => select(pool).prop_map(str::to_owned),
        1 => Just("zz".to_owned()),
        1 => Just("y".repeat(255)),
        2 => bad_id(),
    ]
    .boxed()
}

fn warehouse() -> BoxedStrategy<String> {
    pick(WAREHOUSES)
}

fn sku() -> BoxedStrategy<String> {
    pick(SKUS)
}

fn hold() -> BoxedStrategy<String> {
    pick(HOLDS)
}

fn order() -> BoxedStrategy<String> {
    pick(ORDERS)
}

fn shopper() -> BoxedStrategy<String> {
    pick(SHOPPERS)
}

fn checkout() -> BoxedStrategy<String> {
    pick(CHECKOUTS)
}

/// Who sends a command: mostly valid actors, rarely an invalid one.
pub(crate) fn actor() -> BoxedStrategy<String> {
    prop_oneof![
        12 => Just("ops".to_owned()),
        4 => Just("gateway".to_owned()),
        1 => select(vec![String::new(), "bell\u{7}".to_owned()]),
    ]
    .boxed()
}

/// Free text: short, or at (1024) or just past (1025) the limit.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        30 => Just("note".to_owned()),
        1 => Just("n".repeat(1024)),
        1 => Just("n".repeat(1025)),
    ]
    .boxed()
}

/// A quantity a command moves: mostly small, sometimes invalid or huge.
fn qty() -> BoxedStrategy<u64> {
    prop_oneof![
        40 => 1u64..=8,
        3 => Just(0u64),
        1 => Just(MAX_QUANTITY),
        1 => Just(MAX_QUANTITY + 1),
        1 => Just(u64::MAX),
        1 => (MAX_QUANTITY - 10)..=MAX_QUANTITY,
    ]
    .boxed()
}

/// A received quantity: larger than what holds take, so holds usually fit;
/// sometimes the most a level can hold, so that later postings overflow.
fn received_qty() -> BoxedStrategy<u64> {
    prop_oneof![16 => 1u64..=30, 2 => qty(), 1 => Just(MAX_QUANTITY)].boxed()
}

/// A quantity a command sets: zero allowed.
fn count() -> BoxedStrategy<u64> {
    prop_oneof![
        20 => 0u64..=30,
        1 => Just(MAX_QUANTITY),
        1 => Just(MAX_QUANTITY + 1),
        1 => Just(u64::MAX),
    ]
    .boxed()
}

/// A signed correction, including zero and every extreme.
fn delta() -> BoxedStrategy<i64> {
    let max = i64::try_from(MAX_QUANTITY).expect("10^12 fits an i64");
    prop_oneof![
        20 => -15i64..=15,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => select(vec![max, -max, max + 1, -max - 1]),
    ]
    .boxed()
}

fn register() -> BoxedStrategy<Command> {
    let region = prop_oneof![20 => Just(REGION.to_owned()), 1 => Just("us".to_owned())];
    (warehouse(), region, text(), text(), 0u32..=3)
        .prop_map(|(warehouse, region, name, location, priority)| {
            Command::RegisterWarehouse(RegisterWarehouse {
                warehouse: warehouse.into(),
                region,
                name,
                location,
                priority,
            })
        })
        .boxed()
}

fn adjustment() -> BoxedStrategy<Adjustment> {
    prop_oneof![
        12 => received_qty().prop_map(|qty| Adjustment::Received { qty }),
        2 => count().prop_map(|counted| Adjustment::CycleCount { counted }),
        2 => qty().prop_map(|qty| Adjustment::Damaged { qty }),
        2 => qty().prop_map(|qty| Adjustment::DisposeDamaged { qty }),
        2 => qty().prop_map(|qty| Adjustment::Shrink { qty }),
        2 => (qty(), any::<bool>()).prop_map(|(qty, damaged)| Adjustment::Returned { qty, damaged }),
        2 => delta().prop_map(|delta| Adjustment::Correction { delta }),
        2 => count().prop_map(|qty| Adjustment::SetSafetyStock { qty }),
    ]
    .boxed()
}

fn adjust() -> BoxedStrategy<Command> {
    let expected = prop_oneof![8 => Just(None), 2 => (0u64..=30).prop_map(Some), 1 => Just(Some(u64::MAX))];
    (warehouse(), sku(), adjustment(), expected, text())
        .prop_map(|(warehouse, sku, adjustment, expected_on_hand, reference)| {
            Command::AdjustStock(AdjustStock {
                warehouse: warehouse.into(),
                sku: sku.into(),
                adjustment,
                expected_on_hand,
                reference,
            })
        })
        .boxed()
}

fn transfer() -> BoxedStrategy<Command> {
    (warehouse(), warehouse(), sku(), qty(), text())
        .prop_map(|(from, to, sku, qty, reference)| {
            Command::TransferStock(TransferStock { from: from.into(), to: to.into(), sku: sku.into(), qty, reference })
        })
        .boxed()
}

fn split() -> BoxedStrategy<Split> {
    prop_oneof![2 => Just(Split::Allowed), 1 => Just(Split::SingleWarehouse)].boxed()
}

fn reserve() -> BoxedStrategy<Command> {
    let line = (sku(), qty()).prop_map(|(sku, qty)| HoldLine { sku: sku.into(), qty });
    let lines = prop_oneof![
        20 => vec(line.clone(), 1..=3),
        1 => Just(Vec::new()),
        1 => vec(line, 5..=6),
    ];
    let preferred = prop_oneof![3 => Just(Vec::new()), 2 => vec(warehouse(), 1..=3)];
    let ttl_ms = prop_oneof![
        4 => 1u64..=3_000,
        12 => 3_000u64..=60_000,
        1 => 60_001u64..=120_000,
        1 => Just(0u64),
        1 => Just(3_600_000u64),
        1 => Just(3_600_001u64),
        1 => Just(u64::MAX),
    ];
    (hold(), lines, preferred, split(), ttl_ms, prop::option::of(shopper()))
        .prop_map(|(hold_id, lines, preferred, split, ttl_ms, owner)| {
            Command::Reserve(Reserve {
                hold_id: hold_id.into(),
                lines,
                preferred_warehouses: preferred.into_iter().map(Into::into).collect(),
                split,
                ttl_ms,
                owner: owner.map(Into::into),
            })
        })
        .boxed()
}

fn commit() -> BoxedStrategy<Command> {
    (hold(), order())
        .prop_map(|(hold_id, order_id)| {
            Command::CommitHold(CommitHold { hold_id: hold_id.into(), order_id: order_id.into() })
        })
        .boxed()
}

fn release() -> BoxedStrategy<Command> {
    hold().prop_map(|hold_id| Command::ReleaseHold(ReleaseHold { hold_id: hold_id.into() })).boxed()
}

fn advance() -> BoxedStrategy<Command> {
    (order(), prop_oneof![Just(OrderStep::Picking), Just(OrderStep::Delivered)])
        .prop_map(|(order_id, step)| Command::AdvanceOrder(AdvanceOrder { order_id: order_id.into(), step }))
        .boxed()
}

fn ship() -> BoxedStrategy<Command> {
    (order(), warehouse())
        .prop_map(|(order_id, warehouse)| {
            Command::ShipOrder(ShipOrder { order_id: order_id.into(), warehouse: warehouse.into() })
        })
        .boxed()
}

fn cancel() -> BoxedStrategy<Command> {
    (order(), text())
        .prop_map(|(order_id, reason)| Command::CancelOrder(CancelOrder { order_id: order_id.into(), reason }))
        .boxed()
}

fn return_order() -> BoxedStrategy<Command> {
    let line = (sku(), warehouse(), qty(), any::<bool>()).prop_map(|(sku, warehouse, qty, damaged)| ReturnLine {
        sku: sku.into(),
        warehouse: warehouse.into(),
        qty,
        damaged,
    });
    let lines = prop_oneof![
        20 => vec(line.clone(), 1..=3),
        1 => Just(Vec::new()),
        1 => vec(line, 5..=6),
    ];
    (order(), lines)
        .prop_map(|(order_id, lines)| Command::ReturnOrder(ReturnOrder { order_id: order_id.into(), lines }))
        .boxed()
}

fn cart() -> BoxedStrategy<Command> {
    let cart_qty = prop_oneof![20 => 0u64..=25, 1 => qty()];
    let command = prop_oneof![
        4 => (shopper(), sku(), cart_qty.clone())
            .prop_map(|(shopper, sku, qty)| CartCommand::Add { shopper: shopper.into(), sku: sku.into(), qty }),
        3 => (shopper(), sku(), cart_qty)
            .prop_map(|(shopper, sku, qty)| CartCommand::Set { shopper: shopper.into(), sku: sku.into(), qty }),
        1 => (shopper(), sku())
            .prop_map(|(shopper, sku)| CartCommand::Remove { shopper: shopper.into(), sku: sku.into() }),
        1 => shopper().prop_map(|shopper| CartCommand::Clear { shopper: shopper.into() }),
        2 => (shopper(), shopper())
            .prop_map(|(guest, shopper)| CartCommand::Merge { guest: guest.into(), shopper: shopper.into() }),
    ];
    command.prop_map(Command::Cart).boxed()
}

fn start_checkout() -> BoxedStrategy<Command> {
    let price = prop_oneof![
        20 => select(vec![0u64, 100, 250]),
        1 => Just(MAX_MONEY_MINOR),
        1 => Just(MAX_MONEY_MINOR + 1),
    ];
    let line_qty = prop_oneof![10 => 1u64..=2, 1 => qty()];
    let line = (sku(), line_qty, price).prop_map(|(sku, qty, unit_price_minor)| CheckoutLine {
        sku: sku.into(),
        qty,
        unit_price_minor,
    });
    let lines = prop_oneof![
        20 => vec(line.clone(), 1..=2),
        1 => Just(Vec::new()),
        1 => vec(line, 5..=6),
    ];
    let currency = prop_oneof![
        10 => Just("EUR".to_owned()),
        1 => select(vec!["eur".to_owned(), "EURO".to_owned(), String::new(), "E1R".to_owned()]),
    ];
    (checkout(), shopper(), currency, lines)
        .prop_map(|(checkout_id, shopper, currency, lines)| {
            Command::StartCheckout(StartCheckout {
                checkout_id: checkout_id.into(),
                shopper: shopper.into(),
                currency,
                lines,
            })
        })
        .boxed()
}

fn checkout_step() -> BoxedStrategy<Command> {
    let region = || prop_oneof![10 => Just(REGION.to_owned()), 1 => Just("us".to_owned()), 1 => Just(String::new())];
    let holds =
        vec((region(), hold()).prop_map(|(region, hold_id)| RegionHold { region, hold_id: hold_id.into() }), 0..=2);
    let orders = vec(
        (region(), order()).prop_map(|(region, order_id)| RegionOrder { region, order_id: order_id.into() }),
        0..=2,
    );
    let payment_ref = prop_oneof![10 => Just("pay-1".to_owned()), 1 => bad_id()];
    // Totals of generated checkouts are mostly among these.
    let amount_minor = select(vec![0u64, 100, 200, 250, 500, 7]);
    let step = prop_oneof![
        3 => holds.prop_map(|holds| CheckoutStep::HoldsPlaced { holds }),
        3 => (payment_ref, amount_minor)
            .prop_map(|(payment_ref, amount_minor)| CheckoutStep::PaymentAuthorized { payment_ref, amount_minor }),
        1 => text().prop_map(|reason| CheckoutStep::PaymentDeclined { reason }),
        2 => orders.prop_map(|orders| CheckoutStep::Completed { orders }),
        2 => text().prop_map(|reason| CheckoutStep::Failed { reason }),
        1 => Just(CheckoutStep::PaymentVoided),
    ];
    (checkout(), step)
        .prop_map(|(checkout_id, step)| {
            Command::RecordCheckoutStep(RecordCheckoutStep { checkout_id: checkout_id.into(), step })
        })
        .boxed()
}

/// Any command, weighted towards the ones that move stock.
pub(crate) fn command() -> BoxedStrategy<Command> {
    prop_oneof![
        3 => register(),
        12 => adjust(),
        3 => transfer(),
        10 => reserve(),
        6 => commit(),
        3 => release(),
        2 => advance(),
        5 => ship(),
        2 => cancel(),
        3 => return_order(),
        6 => cart(),
        2 => start_checkout(),
        4 => checkout_step(),
        3 => Just(Command::Expire),
    ]
    .boxed()
}

fn reserve_command(hold_id: &str, lines: Vec<(&str, u64)>, split: Split, ttl_ms: u64) -> Command {
    Command::Reserve(Reserve {
        hold_id: hold_id.into(),
        lines: lines.into_iter().map(|(sku, qty)| HoldLine { sku: sku.into(), qty }).collect(),
        preferred_warehouses: Vec::new(),
        split,
        ttl_ms,
        owner: None,
    })
}

/// A hold's life on one hold id and one order id: reserve stocked SKUs,
/// commit (or release), ship from `w1` and `w2` (or cancel), deliver,
/// return some units; cut short at a random stage.
fn hold_flow() -> BoxedStrategy<Vec<Command>> {
    let lines = vec((select(&SKUS[..3]), 1u64..=4), 1..=2);
    // For each reserved line: the warehouse it comes back to, units, damaged.
    let returns = vec((select(&WAREHOUSES[..2]), 1u64..=3, any::<bool>()), 2);
    let ending = prop_oneof![4 => Just("ship"), 1 => Just("release"), 1 => Just("cancel")];
    (select(HOLDS), select(ORDERS), (lines, split()), 3_000u64..=60_000, ending, returns, 1usize..=6)
        .prop_map(|(hold_id, order_id, (lines, split), ttl_ms, ending, returns, stages)| {
            let returns: Vec<_> = lines
                .iter()
                .zip(returns)
                .map(|(&(sku, _), (warehouse, qty, damaged))| (sku, warehouse, qty, damaged))
                .collect();
            let ship = |warehouse: &str| {
                Command::ShipOrder(ShipOrder { order_id: order_id.into(), warehouse: warehouse.into() })
            };
            let mut commands = vec![reserve_command(hold_id, lines, split, ttl_ms)];
            if ending == "release" {
                commands.push(Command::ReleaseHold(ReleaseHold { hold_id: hold_id.into() }));
            } else {
                commands.push(Command::CommitHold(CommitHold { hold_id: hold_id.into(), order_id: order_id.into() }));
            }
            if ending == "cancel" {
                let step = OrderStep::Picking;
                commands.push(Command::AdvanceOrder(AdvanceOrder { order_id: order_id.into(), step }));
                let reason = "changed mind".to_owned();
                commands.push(Command::CancelOrder(CancelOrder { order_id: order_id.into(), reason }));
            }
            commands.extend([ship("w1"), ship("w2")]);
            let step = OrderStep::Delivered;
            commands.push(Command::AdvanceOrder(AdvanceOrder { order_id: order_id.into(), step }));
            let lines = returns
                .into_iter()
                .map(|(sku, warehouse, qty, damaged)| ReturnLine {
                    sku: sku.into(),
                    warehouse: warehouse.into(),
                    qty,
                    damaged,
                })
                .collect();
            commands.push(Command::ReturnOrder(ReturnOrder { order_id: order_id.into(), lines }));
            commands.truncate(stages + 1);
            commands
        })
        .boxed()
}

/// A checkout saga on one checkout id, with the right payment amount:
/// started, holds placed, then completed, declined, or failed after
/// authorization and voided; cut short at a random stage.
fn checkout_flow() -> BoxedStrategy<Vec<Command>> {
    let lines = vec((select(&SKUS[..3]), 1u64..=2, select(vec![0u64, 100, 250])), 1..=2);
    let ending = select(vec!["complete", "decline", "void"]);
    (select(CHECKOUTS), select(SHOPPERS), lines, select(HOLDS), select(ORDERS), ending, 1usize..=5)
        .prop_map(|(checkout_id, shopper, lines, hold_id, order_id, ending, stages)| {
            let lines: Vec<CheckoutLine> = lines
                .into_iter()
                .map(|(sku, qty, unit_price_minor)| CheckoutLine { sku: sku.into(), qty, unit_price_minor })
                .collect();
            let amount_minor = lines.iter().map(|line| line.qty * line.unit_price_minor).sum();
            let start = StartCheckout {
                checkout_id: checkout_id.into(),
                shopper: shopper.into(),
                currency: "EUR".to_owned(),
                lines,
            };
            let holds = vec![RegionHold { region: REGION.to_owned(), hold_id: hold_id.into() }];
            let mut steps = vec![CheckoutStep::HoldsPlaced { holds }];
            let authorized = CheckoutStep::PaymentAuthorized { payment_ref: "pay-1".to_owned(), amount_minor };
            match ending {
                "complete" => {
                    let orders = vec![RegionOrder { region: REGION.to_owned(), order_id: order_id.into() }];
                    steps.extend([authorized, CheckoutStep::Completed { orders }]);
                }
                "decline" => steps.push(CheckoutStep::PaymentDeclined { reason: "declined".to_owned() }),
                _ => steps.extend([
                    authorized,
                    CheckoutStep::Failed { reason: "holds expired".to_owned() },
                    CheckoutStep::PaymentVoided,
                ]),
            }
            let record =
                |step| Command::RecordCheckoutStep(RecordCheckoutStep { checkout_id: checkout_id.into(), step });
            let mut commands = vec![Command::StartCheckout(start)];
            commands.extend(steps.into_iter().map(record));
            commands.truncate(stages + 1);
            commands
        })
        .boxed()
}

/// A level pushed to just under the 10^12 bound by a count, then posted
/// into by a transfer from the other warehouse, a receipt, a return or a
/// correction: the postings that overflow a bucket must be refused whole.
fn limit_flow() -> BoxedStrategy<Vec<Command>> {
    let into = prop_oneof![
        3 => Just(None),
        1 => (1u64..=20).prop_map(|qty| Some(Adjustment::Received { qty })),
        1 => (1u64..=20, any::<bool>()).prop_map(|(qty, damaged)| Some(Adjustment::Returned { qty, damaged })),
        1 => (1i64..=20).prop_map(|delta| Some(Adjustment::Correction { delta })),
    ];
    (select(&SKUS[..3]), any::<bool>(), 0u64..=10, 1u64..=20, into)
        .prop_map(|(sku, first, below, qty, into)| {
            let (to, from) = if first { ("w1", "w2") } else { ("w2", "w1") };
            let adjust = |adjustment| {
                Command::AdjustStock(AdjustStock {
                    warehouse: to.into(),
                    sku: sku.into(),
                    adjustment,
                    expected_on_hand: None,
                    reference: "limit".to_owned(),
                })
            };
            let mut commands = vec![adjust(Adjustment::CycleCount { counted: MAX_QUANTITY - below })];
            commands.push(match into {
                None => Command::TransferStock(TransferStock {
                    from: from.into(),
                    to: to.into(),
                    sku: sku.into(),
                    qty,
                    reference: "limit".to_owned(),
                }),
                Some(adjustment) => adjust(adjustment),
            });
            commands
        })
        .boxed()
}

/// Consecutive commands on the same ids that get far along a status
/// machine, which independent random commands rarely do.
pub(crate) fn flow() -> BoxedStrategy<Vec<Command>> {
    prop_oneof![3 => hold_flow(), 1 => checkout_flow(), 1 => limit_flow()].boxed()
}

/// Registers `w1` and `w2` (random priorities) and receives some stock of
/// `a`, `b`, `c` there, so that the random commands after it find stock.
pub(crate) fn prelude() -> BoxedStrategy<Vec<Envelope>> {
    let receipt = (select(&SKUS[..3]), select(&WAREHOUSES[..2]), 1u64..=25);
    (0u32..=3, 0u32..=3, vec(receipt, 0..=6))
        .prop_map(|(priority_1, priority_2, receipts)| {
            let register = |warehouse: &str, priority| {
                Command::RegisterWarehouse(RegisterWarehouse {
                    warehouse: warehouse.into(),
                    region: REGION.to_owned(),
                    name: warehouse.to_owned(),
                    location: String::new(),
                    priority,
                })
            };
            let receive = |(sku, warehouse, qty): (&str, &str, u64)| {
                Command::AdjustStock(AdjustStock {
                    warehouse: warehouse.into(),
                    sku: sku.into(),
                    adjustment: Adjustment::Received { qty },
                    expected_on_hand: None,
                    reference: "receipt".to_owned(),
                })
            };
            [register("w1", priority_1), register("w2", priority_2)]
                .into_iter()
                .chain(receipts.into_iter().map(receive))
                .enumerate()
                .map(|(i, command)| Envelope {
                    id: format!("pre-{i}").into(),
                    now_ms: T0,
                    actor: "ops".into(),
                    command,
                })
                .collect()
        })
        .boxed()
}

/// A fresh envelope's id: the next of a counter, or (rarely) an invalid one.
pub(crate) fn fresh_id(bad: Option<String>, counter: &mut u64) -> String {
    *counter += 1;
    bad.unwrap_or_else(|| format!("c{counter}"))
}

/// One entry of a generated log, before ids and times are resolved.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// A new command under a new id (or, rarely, an invalid id).
    Fresh { command: Command, actor: String, time: TimeStep, bad_id: Option<String> },
    /// An earlier envelope again: verbatim (`None`: its old time stamp, which
    /// the ledger clamps) or re-stamped, as a client retry is.
    Resend { pick: Index, time: Option<TimeStep> },
    /// An earlier envelope's id with a new command and actor: almost always
    /// a different payload.
    Reuse { pick: Index, command: Command, actor: String, time: TimeStep },
    /// An earlier envelope's id and command from another actor (mostly):
    /// also a different payload.
    Reissue { pick: Index, actor: String, time: TimeStep },
    /// A [`flow`]: fresh ids, `step_ms` apart.
    Flow { commands: Vec<Command>, step_ms: u64 },
    /// `Expire` at the retention boundary of an earlier entry (see
    /// [`purge_boundary_ms`]), if that is not in the past.
    ExpireAtBoundary { pick: Index, offset_ms: i64 },
}

pub(crate) fn op() -> BoxedStrategy<Op> {
    prop_oneof![
        20 => (command(), actor(), time_step(), prop::option::weighted(0.03, bad_id()))
            .prop_map(|(command, actor, time, bad_id)| Op::Fresh { command, actor, time, bad_id }),
        2 => (any::<Index>(), prop::option::of(time_step())).prop_map(|(pick, time)| Op::Resend { pick, time }),
        1 => (any::<Index>(), command(), actor(), time_step())
            .prop_map(|(pick, command, actor, time)| Op::Reuse { pick, command, actor, time }),
        1 => (any::<Index>(), actor(), time_step()).prop_map(|(pick, actor, time)| Op::Reissue { pick, actor, time }),
        3 => (flow(), 0u64..=500).prop_map(|(commands, step_ms)| Op::Flow { commands, step_ms }),
        1 => (any::<Index>(), -1i64..=1).prop_map(|(pick, offset_ms)| Op::ExpireAtBoundary { pick, offset_ms }),
    ]
    .boxed()
}

/// A ledger's settings and the log to feed it.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub(crate) config: LedgerConfig,
    pub(crate) log: Vec<Envelope>,
}

/// A prelude then up to `max_ops` generated entries.
pub(crate) fn scenario(max_ops: usize) -> impl Strategy<Value = Scenario> {
    (ledger_config(), prelude(), vec(op(), 1..=max_ops))
        .prop_map(|(config, prelude, ops)| Scenario { log: resolve(prelude, ops, config.retention_ms), config })
}

/// Turns ops into envelopes: assigns ids and times, picks what to re-send.
fn resolve(prelude: Vec<Envelope>, ops: Vec<Op>, retention_ms: u64) -> Vec<Envelope> {
    let mut clock = Clock { latest_ms: T0, deadlines_ms: Vec::new() };
    let mut counter = 0;
    let mut log = prelude;
    for op in ops {
        let envelopes = match op {
            Op::Flow { commands, step_ms } => commands
                .into_iter()
                .map(|command| Envelope {
                    id: fresh_id(None, &mut counter).into(),
                    now_ms: clock.stamp(TimeStep::Forward(step_ms)),
                    actor: "ops".into(),
                    command,
                })
                .collect(),
            Op::Fresh { command, actor, time, bad_id } => vec![Envelope {
                id: fresh_id(bad_id, &mut counter).into(),
                now_ms: clock.stamp(time),
                actor: actor.into(),
                command,
            }],
            Op::Resend { pick, time } => {
                let earlier = pick.get(&log).clone();
                let now_ms = time.map_or(earlier.now_ms, |time| clock.stamp(time));
                vec![Envelope { now_ms, ..earlier }]
            }
            Op::Reuse { pick, command, actor, time } => {
                let id = pick.get(&log).id.clone();
                vec![Envelope { id, now_ms: clock.stamp(time), actor: actor.into(), command }]
            }
            Op::Reissue { pick, actor, time } => {
                let earlier = pick.get(&log).clone();
                vec![Envelope { now_ms: clock.stamp(time), actor: actor.into(), ..earlier }]
            }
            Op::ExpireAtBoundary { pick, offset_ms } => {
                // The ledger's time when that entry was applied: the latest stamp then.
                let at_ms = log[..=pick.index(log.len())].iter().map(|envelope| envelope.now_ms).max().unwrap_or(T0);
                let now_ms = purge_boundary_ms(at_ms, retention_ms, offset_ms).max(clock.latest_ms);
                clock.latest_ms = now_ms;
                let id = fresh_id(None, &mut counter).into();
                vec![Envelope { id, now_ms, actor: "ops".into(), command: Command::Expire }]
            }
        };
        for envelope in envelopes {
            clock.note(&envelope.command);
            log.push(envelope);
        }
    }
    log
}

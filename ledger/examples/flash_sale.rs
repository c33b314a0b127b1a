//! A flash sale against one region's ledger: 100,000 shoppers race for
//! 1,000 units spread over three warehouses. Each shopper's reservation is
//! one command; some retry (same id), some abandon their hold and let it
//! expire, some release it, the rest buy. The ledger never sells a unit it
//! does not have, and a retry never holds twice.
//!
//! Run: `cargo run --release -p ledger --example flash_sale`

#![allow(clippy::print_stdout)]

use std::time::Instant;

use ledger::command::{AdjustStock, Adjustment, CommitHold, HoldLine, RegisterWarehouse, ReleaseHold, Reserve, Split};
use ledger::{Command, Envelope, Ledger, LedgerConfig, Outcome, Rejection};

const SHOPPERS: u64 = 100_000;
const UNITS_PER_WAREHOUSE: [(&str, u64); 3] = [("berlin", 500), ("paris", 300), ("madrid", 200)];
const SKU: &str = "console-x";
const HOLD_TTL_MS: u64 = 10 * 60 * 1000;
const START_MS: u64 = 1_767_225_600_000;

fn envelope(id: String, now_ms: u64, actor: &str, command: Command) -> Envelope {
    Envelope { id: id.into(), now_ms, actor: actor.into(), command }
}

fn main() {
    let mut ledger = Ledger::new(LedgerConfig::new("eu-west"));
    for (priority, (warehouse, units)) in UNITS_PER_WAREHOUSE.into_iter().enumerate() {
        let register = Command::RegisterWarehouse(RegisterWarehouse {
            warehouse: warehouse.into(),
            region: "eu-west".into(),
            name: format!("{warehouse} fulfilment centre"),
            location: warehouse.into(),
            priority: priority as u32,
        });
        ledger.apply(&envelope(format!("register-{warehouse}"), START_MS, "ops", register)).result.expect("register");
        let receive = Command::AdjustStock(AdjustStock {
            warehouse: warehouse.into(),
            sku: SKU.into(),
            adjustment: Adjustment::Received { qty: units },
            expected_on_hand: Some(0),
            reference: "PO-2026-001".into(),
        });
        ledger.apply(&envelope(format!("receive-{warehouse}"), START_MS, "ops", receive)).result.expect("receive");
    }

    let (mut held, mut sold_out, mut retries_replayed, mut bought, mut released) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut commands = 0u64;
    let started = Instant::now();
    for shopper in 0..SHOPPERS {
        let now_ms = START_MS + shopper; // one arrival per millisecond
        let hold_id = format!("hold-{shopper}");
        let reserve = envelope(
            format!("reserve-{shopper}"),
            now_ms,
            "gateway",
            Command::Reserve(Reserve {
                hold_id: hold_id.clone().into(),
                lines: vec![HoldLine { sku: SKU.into(), qty: 1 }],
                preferred_warehouses: Vec::new(),
                split: Split::Allowed,
                ttl_ms: HOLD_TTL_MS,
                owner: Some(format!("shopper-{shopper}").into()),
            }),
        );
        let applied = ledger.apply(&reserve);
        commands += 1;
        // Every tenth shopper's client timed out and retried with the same id.
        if shopper % 10 == 0 {
            let retry = ledger.apply(&Envelope { now_ms: now_ms + 1, ..reserve.clone() });
            commands += 1;
            assert_eq!(retry.result, applied.result, "a retry returns the first result");
            retries_replayed += u64::from(retry.replayed);
        }
        match applied.result {
            Ok(Outcome::Reserved { .. }) => held += 1,
            Err(Rejection::InsufficientStock { .. }) => {
                sold_out += 1;
                continue;
            }
            other => panic!("unexpected result {other:?}"),
        }
        // Of those holding: one in five releases, one in five abandons (the
        // hold expires after 10 minutes), the rest pay and commit.
        let command = match shopper % 5 {
            0 => Command::ReleaseHold(ReleaseHold { hold_id: hold_id.into() }),
            1 => continue,
            _ => {
                Command::CommitHold(CommitHold { hold_id: hold_id.into(), order_id: format!("order-{shopper}").into() })
            }
        };
        let result = ledger.apply(&envelope(format!("finish-{shopper}"), now_ms + 2, "gateway", command)).result;
        commands += 1;
        match result {
            Ok(Outcome::HoldReleased) => released += 1,
            Ok(Outcome::HoldCommitted { .. }) => bought += 1,
            other => panic!("unexpected result {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    ledger
        .apply(&envelope("tick".into(), START_MS + SHOPPERS + HOLD_TTL_MS, "leader", Command::Expire))
        .result
        .unwrap();
    ledger.check_invariants().expect("invariants hold");

    let on_hand: u64 = UNITS_PER_WAREHOUSE.iter().map(|(_, units)| units).sum();
    let allocated: u64 = ledger.levels().into_iter().map(|(_, _, level)| level.allocated).sum();
    println!("flash sale: {SHOPPERS} shoppers, {on_hand} units of {SKU} in 3 warehouses");
    println!("  holds placed        {held}");
    println!("  turned away         {sold_out} (sold out, told how many were left)");
    println!("  retries replayed    {retries_replayed} (same id: answered from the idempotency table)");
    println!("  released            {released}");
    println!("  bought              {bought} (units allocated to orders: {allocated})");
    println!("  abandoned, expired  {}", held - released - bought);
    for (sku, warehouse, level) in ledger.levels() {
        println!(
            "  {sku} @ {warehouse:<7} on_hand {:>4}  allocated {:>4}  available {:>4}",
            level.on_hand,
            level.allocated,
            level.available()
        );
    }
    assert!(allocated <= on_hand, "never oversold");
    println!(
        "  {commands} commands applied in {:.1} ms on one thread; state hash {}",
        elapsed.as_secs_f64() * 1000.0,
        ledger.state_hash().iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    );
}

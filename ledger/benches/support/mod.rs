//! What the ledger's benches share: a region of one warehouse holding one
//! hot SKU, and reservations of a unit of it.

use ledger::command::{AdjustStock, Adjustment, HoldLine, RegisterWarehouse, Reserve, Split};
use ledger::{Command, Envelope, Ledger, LedgerConfig};

/// Leader time at the start of a run.
pub(crate) const NOW_MS: u64 = 1_700_000_000_000;

/// A command as the leader would stamp it.
fn envelope(id: String, now_ms: u64, command: Command) -> Envelope {
    Envelope { id: id.into(), now_ms, actor: "bench".into(), command }
}

/// A ledger with warehouse `wh-0` holding `units` of `sku-hot`.
pub(crate) fn seeded(units: u64) -> Ledger {
    let mut ledger = Ledger::new(LedgerConfig::new("bench"));
    let register = Command::RegisterWarehouse(RegisterWarehouse {
        warehouse: "wh-0".into(),
        region: "bench".into(),
        name: "Warehouse 0".into(),
        location: String::new(),
        priority: 0,
    });
    assert!(ledger.apply(&envelope("register".into(), NOW_MS, register)).result.is_ok());
    let receive = Command::AdjustStock(AdjustStock {
        warehouse: "wh-0".into(),
        sku: "sku-hot".into(),
        adjustment: Adjustment::Received { qty: units },
        expected_on_hand: None,
        reference: "seed".into(),
    });
    assert!(ledger.apply(&envelope("seed".into(), NOW_MS, receive)).result.is_ok());
    ledger
}

/// Reservation number `i` of one unit of `sku-hot`, stamped `now_ms`, its
/// hold living `ttl_ms`.
pub(crate) fn reserve(i: u64, now_ms: u64, ttl_ms: u64) -> Envelope {
    envelope(
        format!("reserve-{i:012}"),
        now_ms,
        Command::Reserve(Reserve {
            hold_id: format!("hold-{i:012}").into(),
            lines: vec![HoldLine { sku: "sku-hot".into(), qty: 1 }],
            preferred_warehouses: Vec::new(),
            split: Split::Allowed,
            ttl_ms,
            owner: None,
        }),
    )
}

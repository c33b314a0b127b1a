//! Stock levels and the journal: `StockLevel`, `JournalEntry`,
//! `JournalReason`.

use ledger::ids::{Sku, WarehouseId};
use ledger::stock::{JournalEntry, Reason, StockLevel};
use protos::warehouse as pb;
use tonic::Status;

use super::input::{Field, enum_value, unspecified};

/// A level of `sku` at `warehouse` on the wire.
pub fn stock_level(warehouse: &WarehouseId, sku: &Sku, level: &StockLevel) -> pb::StockLevel {
    pb::StockLevel {
        warehouse_id: warehouse.to_string(),
        sku: sku.to_string(),
        on_hand: level.on_hand,
        damaged: level.damaged,
        safety_stock: level.safety_stock,
        held: level.held,
        allocated: level.allocated,
        available: level.available(),
    }
}

/// A journal entry on the wire.
pub fn journal_entry(entry: &JournalEntry) -> pb::JournalEntry {
    pb::JournalEntry {
        seq: entry.seq,
        command_id: entry.command_id.to_string(),
        warehouse_id: entry.warehouse.to_string(),
        sku: entry.sku.to_string(),
        reason: journal_reason(entry.reason).into(),
        on_hand_delta: entry.on_hand_delta,
        damaged_delta: entry.damaged_delta,
        safety_stock_delta: entry.safety_stock_delta,
        actor: entry.actor.to_string(),
        reference: entry.reference.clone(),
        at_ms: entry.at_ms,
    }
}

/// Why a journal entry was posted, on the wire.
pub fn journal_reason(reason: Reason) -> pb::JournalReason {
    match reason {
        Reason::Received => pb::JournalReason::Received,
        Reason::CycleCount => pb::JournalReason::CycleCount,
        Reason::Damaged => pb::JournalReason::Damaged,
        Reason::DisposeDamaged => pb::JournalReason::DisposeDamaged,
        Reason::Shrink => pb::JournalReason::Shrink,
        Reason::Returned => pb::JournalReason::Returned,
        Reason::Correction => pb::JournalReason::Correction,
        Reason::SafetyStock => pb::JournalReason::SafetyStock,
        Reason::TransferOut => pb::JournalReason::TransferOut,
        Reason::TransferIn => pb::JournalReason::TransferIn,
        Reason::Shipped => pb::JournalReason::Shipped,
    }
}

/// A journal reason from a request (a filter): known and specified.
pub fn journal_reason_of<'a>(field: impl Into<Field<'a>>, value: i32) -> Result<Reason, Status> {
    let field = field.into();
    Ok(match enum_value(field, value)? {
        pb::JournalReason::Unspecified => return Err(unspecified(field)),
        pb::JournalReason::Received => Reason::Received,
        pb::JournalReason::CycleCount => Reason::CycleCount,
        pb::JournalReason::Damaged => Reason::Damaged,
        pb::JournalReason::DisposeDamaged => Reason::DisposeDamaged,
        pb::JournalReason::Shrink => Reason::Shrink,
        pb::JournalReason::Returned => Reason::Returned,
        pb::JournalReason::Correction => Reason::Correction,
        pb::JournalReason::SafetyStock => Reason::SafetyStock,
        pb::JournalReason::TransferOut => Reason::TransferOut,
        pb::JournalReason::TransferIn => Reason::TransferIn,
        pb::JournalReason::Shipped => Reason::Shipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_journal_reason_round_trips() {
        for raw in 1..=11 {
            let reason = journal_reason_of("reasons[0]", raw).unwrap();
            assert_eq!(i32::from(journal_reason(reason)), raw);
        }
        assert!(journal_reason_of("reasons[0]", 0).is_err());
        assert!(journal_reason_of("reasons[0]", 12).is_err());
    }

    #[test]
    fn levels_carry_every_bucket_and_available() {
        let level = StockLevel { on_hand: 10, damaged: 1, safety_stock: 2, held: 3, allocated: 4 };
        let wire = stock_level(&"wh-1".into(), &"sku-1".into(), &level);
        assert_eq!(
            wire,
            pb::StockLevel {
                warehouse_id: "wh-1".into(),
                sku: "sku-1".into(),
                on_hand: 10,
                damaged: 1,
                safety_stock: 2,
                held: 3,
                allocated: 4,
                available: 0,
            }
        );
    }
}

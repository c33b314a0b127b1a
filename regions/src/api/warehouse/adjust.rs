//! AdjustStock and CycleCount: one posting at one `(warehouse, sku)`.
//! CycleCount is AdjustStock with `CYCLE_COUNT`, so both build the same
//! ledger command (and a retry may use either).

use ledger::command::{AdjustStock, Adjustment};
use ledger::{Command, Outcome};
use protos::warehouse::adjust_stock_request::Amount;
use protos::warehouse::{
    AdjustStockRequest, AdjustStockResponse, AdjustmentReason, CycleCountRequest, CycleCountResponse, JournalEntry,
    StockLevel,
};
use tonic::Status;

use crate::api::ApiContext;
use crate::api::convert::input::{count, delta, enum_value, id, invalid, positive, text, unspecified};
use crate::api::convert::stock::{journal_entry, stock_level};
use crate::api::convert::{read_back, unexpected};
use crate::auth::Principal;

/// Serves AdjustStock.
pub(super) async fn adjust_stock(
    ctx: &ApiContext,
    principal: &Principal,
    request: AdjustStockRequest,
) -> Result<AdjustStockResponse, Status> {
    principal.may_change_warehouse(&request.warehouse_id)?;
    let reason = enum_value("reason", request.reason)?;
    let command = AdjustStock {
        warehouse: id("warehouse_id", &request.warehouse_id)?,
        sku: id("sku", &request.sku)?,
        adjustment: adjustment_of(reason, request.amount, request.to_damaged)?,
        expected_on_hand: request.expected_on_hand.map(|expected| count("expected_on_hand", expected)).transpose()?,
        reference: text("reference", &request.reference)?,
    };
    let posted = post(ctx, principal, &request.command_id, command).await?;
    Ok(AdjustStockResponse {
        level: Some(posted.level),
        entry: Some(posted.entry),
        applied_index: posted.applied_index,
    })
}

/// Serves CycleCount.
pub(super) async fn cycle_count(
    ctx: &ApiContext,
    principal: &Principal,
    request: CycleCountRequest,
) -> Result<CycleCountResponse, Status> {
    principal.may_change_warehouse(&request.warehouse_id)?;
    let command = AdjustStock {
        warehouse: id("warehouse_id", &request.warehouse_id)?,
        sku: id("sku", &request.sku)?,
        adjustment: Adjustment::CycleCount { counted: count("counted", request.counted)? },
        expected_on_hand: request.expected_on_hand.map(|expected| count("expected_on_hand", expected)).transpose()?,
        reference: text("reference", &request.reference)?,
    };
    let posted = post(ctx, principal, &request.command_id, command).await?;
    Ok(CycleCountResponse { level: Some(posted.level), entry: Some(posted.entry), applied_index: posted.applied_index })
}

/// What a posting answers: the level after it, its journal entry and the
/// entry's log index.
struct Posted {
    level: StockLevel,
    entry: JournalEntry,
    applied_index: u64,
}

/// Proposes `command` and reads back the journal entry it posted. The entry
/// is immutable once written, so reading it from this replica (which has
/// applied the write) is exact, also for a replayed retry.
async fn post(
    ctx: &ApiContext,
    principal: &Principal,
    command_id: &str,
    command: AdjustStock,
) -> Result<Posted, Status> {
    let (warehouse, sku) = (command.warehouse.clone(), command.sku.clone());
    let written = ctx.write(principal, command_id, Command::AdjustStock(command)).await?;
    let Outcome::StockAdjusted { level, journal_seq } = written.outcome else {
        return Err(unexpected(&written.outcome));
    };
    let entry = read_back(ctx, "the journal entry of the posting", |ledger| {
        let at = usize::try_from(journal_seq).ok()?.checked_sub(1)?;
        ledger.journal().get(at).map(journal_entry)
    })
    .await?;
    Ok(Posted { level: stock_level(&warehouse, &sku, &level), entry, applied_index: written.applied_index })
}

/// The ledger's adjustment for `reason`, from the `amount` variant the
/// reason takes: a signed `delta` for CORRECTION, an unsigned `quantity`
/// for every other reason (at least 1 where it moves units, any count where
/// it sets a value).
fn adjustment_of(reason: AdjustmentReason, amount: Option<Amount>, to_damaged: bool) -> Result<Adjustment, Status> {
    use AdjustmentReason as R;
    let adjustment = match (reason, amount) {
        (R::Unspecified, _) => return Err(unspecified("reason")),
        (R::Correction, Some(Amount::Delta(value))) => Adjustment::Correction { delta: delta("delta", value)? },
        (R::Correction, _) => return Err(invalid("delta", "must be set: CORRECTION takes a signed `delta`")),
        (_, None | Some(Amount::Delta(_))) => {
            let reason = reason.as_str_name();
            return Err(invalid(
                "quantity",
                format!("must be set: {reason} takes an unsigned `quantity`, not `delta`"),
            ));
        }
        (R::Received, Some(Amount::Quantity(qty))) => Adjustment::Received { qty: positive("quantity", qty)? },
        (R::CycleCount, Some(Amount::Quantity(qty))) => Adjustment::CycleCount { counted: count("quantity", qty)? },
        (R::Damaged, Some(Amount::Quantity(qty))) => Adjustment::Damaged { qty: positive("quantity", qty)? },
        (R::DisposeDamaged, Some(Amount::Quantity(qty))) => {
            Adjustment::DisposeDamaged { qty: positive("quantity", qty)? }
        }
        (R::Shrink, Some(Amount::Quantity(qty))) => Adjustment::Shrink { qty: positive("quantity", qty)? },
        (R::Returned, Some(Amount::Quantity(qty))) => {
            Adjustment::Returned { qty: positive("quantity", qty)?, damaged: to_damaged }
        }
        (R::SetSafetyStock, Some(Amount::Quantity(qty))) => Adjustment::SetSafetyStock { qty: count("quantity", qty)? },
    };
    if to_damaged && !matches!(adjustment, Adjustment::Returned { .. }) {
        return Err(invalid("to_damaged", "applies to RETURNED only"));
    }
    Ok(adjustment)
}

#[cfg(test)]
mod tests {
    use ledger::quantity::MAX_QUANTITY;
    use tonic::Code;

    use super::*;

    /// `adjustment_of`'s answer: the adjustment, or the error's code and
    /// message.
    fn check(
        reason: AdjustmentReason,
        amount: Option<Amount>,
        to_damaged: bool,
        expect: Result<Adjustment, (Code, &str)>,
    ) {
        let got = adjustment_of(reason, amount, to_damaged);
        match (got, expect) {
            (Ok(got), Ok(expect)) => assert_eq!(got, expect),
            (Err(status), Err((code, field))) => {
                assert_eq!(status.code(), code, "{status:?}");
                assert!(status.message().contains(field), "{status:?} should name {field}");
            }
            (got, expect) => panic!("{reason:?} {amount:?}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn each_reason_takes_its_amount() {
        use AdjustmentReason as R;
        let qty = |q| Some(Amount::Quantity(q));
        check(R::Received, qty(5), false, Ok(Adjustment::Received { qty: 5 }));
        check(R::CycleCount, qty(0), false, Ok(Adjustment::CycleCount { counted: 0 }));
        check(R::Damaged, qty(1), false, Ok(Adjustment::Damaged { qty: 1 }));
        check(R::DisposeDamaged, qty(2), false, Ok(Adjustment::DisposeDamaged { qty: 2 }));
        check(R::Shrink, qty(3), false, Ok(Adjustment::Shrink { qty: 3 }));
        check(R::Returned, qty(4), true, Ok(Adjustment::Returned { qty: 4, damaged: true }));
        check(R::SetSafetyStock, qty(0), false, Ok(Adjustment::SetSafetyStock { qty: 0 }));
        check(R::Correction, Some(Amount::Delta(-7)), false, Ok(Adjustment::Correction { delta: -7 }));
    }

    #[test]
    fn wrong_missing_or_out_of_range_amounts_are_refused() {
        use AdjustmentReason as R;
        let qty = |q| Some(Amount::Quantity(q));
        check(R::Unspecified, qty(1), false, Err((Code::InvalidArgument, "reason")));
        check(R::Received, None, false, Err((Code::InvalidArgument, "quantity")));
        check(R::Received, Some(Amount::Delta(1)), false, Err((Code::InvalidArgument, "quantity")));
        check(R::Correction, qty(1), false, Err((Code::InvalidArgument, "delta")));
        check(R::Correction, Some(Amount::Delta(0)), false, Err((Code::InvalidArgument, "delta")));
        check(R::Received, qty(0), false, Err((Code::InvalidArgument, "quantity")));
        check(R::Shrink, qty(MAX_QUANTITY + 1), false, Err((Code::OutOfRange, "quantity")));
        check(R::CycleCount, qty(u64::MAX), false, Err((Code::OutOfRange, "quantity")));
        check(R::Correction, Some(Amount::Delta(i64::MAX)), false, Err((Code::OutOfRange, "delta")));
        check(R::Received, qty(1), true, Err((Code::InvalidArgument, "to_damaged")));
    }
}

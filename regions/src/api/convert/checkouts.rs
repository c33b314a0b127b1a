//! Checkout records: `Checkout`, `CheckoutState`, `CheckoutLine`,
//! `CheckoutStep` and the messages inside it (`PlacedHold`, `RegionOrder`).

use ledger::checkouts::{Checkout, CheckoutStatus, RecordedStep};
use ledger::command::{CheckoutLine, CheckoutStep, RegionHold, RegionOrder};
use ledger::quantity::MoneyMinor;
use protos::reservation as pb;
use protos::reservation::checkout_step::Step;
use tonic::Status;

use super::input::{Field, id, invalid, list_len, money, positive, text};

/// Most holds or orders one saga step may list: one per region, and no
/// deployment has this many regions.
pub const MAX_STEP_ENTRIES: usize = 100;

/// A checkout record on the wire.
pub fn checkout(checkout: &Checkout) -> pb::Checkout {
    pb::Checkout {
        checkout_id: checkout.id.to_string(),
        shopper_id: checkout.shopper.to_string(),
        currency: checkout.currency.clone(),
        lines: checkout.lines.iter().map(checkout_line).collect(),
        total_minor: signed_money(checkout.total_minor),
        state: checkout_state(checkout.status).into(),
        holds: checkout.holds.iter().map(placed_hold).collect(),
        payment_ref: checkout.payment_ref.clone().unwrap_or_default(),
        payment_voided: checkout.payment_voided,
        orders: checkout.orders.iter().map(region_order).collect(),
        failure: checkout.failure.clone().unwrap_or_default(),
        steps: checkout.steps.iter().map(checkout_step).collect(),
        created_at_ms: checkout.created_at_ms,
    }
}

/// Where a checkout saga is, on the wire.
pub fn checkout_state(status: CheckoutStatus) -> pb::CheckoutState {
    match status {
        CheckoutStatus::Started => pb::CheckoutState::Started,
        CheckoutStatus::HoldsPlaced => pb::CheckoutState::HoldsPlaced,
        CheckoutStatus::PaymentAuthorized => pb::CheckoutState::PaymentAuthorized,
        CheckoutStatus::Completed => pb::CheckoutState::Completed,
        CheckoutStatus::Failed => pb::CheckoutState::Failed,
    }
}

/// A priced line on the wire.
pub fn checkout_line(line: &CheckoutLine) -> pb::CheckoutLine {
    pb::CheckoutLine {
        sku: line.sku.to_string(),
        quantity: line.qty,
        unit_price_minor: signed_money(line.unit_price_minor),
    }
}

/// Line `index` of a `StartCheckoutRequest`, validated.
pub fn checkout_line_of(index: usize, line: &pb::CheckoutLine) -> Result<CheckoutLine, Status> {
    Ok(CheckoutLine {
        sku: id(Field::Member("lines", index, "sku"), &line.sku)?,
        qty: positive(Field::Member("lines", index, "quantity"), line.quantity)?,
        unit_price_minor: money(Field::Member("lines", index, "unit_price_minor"), line.unit_price_minor)?,
    })
}

/// An ISO 4217 currency code from a request: three upper-case letters.
pub fn currency_of(field: &str, value: &str) -> Result<String, Status> {
    if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(field, "must be an ISO 4217 code: three upper-case letters"));
    }
    Ok(value.to_owned())
}

/// A recorded saga step on the wire.
pub fn checkout_step(recorded: &RecordedStep) -> pb::CheckoutStep {
    let step = match &recorded.step {
        CheckoutStep::HoldsPlaced { holds } => {
            Step::HoldsPlaced(pb::HoldsPlaced { holds: holds.iter().map(placed_hold).collect() })
        }
        CheckoutStep::PaymentAuthorized { payment_ref, amount_minor } => {
            Step::PaymentAuthorized(pb::PaymentAuthorized {
                payment_ref: payment_ref.clone(),
                amount_minor: signed_money(*amount_minor),
            })
        }
        CheckoutStep::PaymentDeclined { reason } => {
            Step::PaymentDeclined(pb::PaymentDeclined { reason: reason.clone() })
        }
        CheckoutStep::Completed { orders } => {
            Step::Completed(pb::Completed { orders: orders.iter().map(region_order).collect() })
        }
        CheckoutStep::Failed { reason } => Step::Failed(pb::Failed { reason: reason.clone() }),
        CheckoutStep::PaymentVoided => Step::PaymentVoided(pb::PaymentVoided {}),
    };
    pb::CheckoutStep { at_ms: recorded.at_ms, step: Some(step) }
}

/// The step of a `RecordCheckoutStepRequest` (its `at_ms` is ignored: the
/// leader stamps the time), validated; errors name `step.<variant>.<field>`.
pub fn checkout_step_of(step: Option<&pb::CheckoutStep>) -> Result<CheckoutStep, Status> {
    let step = step.and_then(|step| step.step.as_ref()).ok_or_else(|| invalid("step", "must name a step"))?;
    Ok(match step {
        Step::HoldsPlaced(placed) => {
            let field = "step.holds_placed.holds";
            list_len(field, placed.holds.len(), 1, MAX_STEP_ENTRIES)?;
            let holds = placed.holds.iter().enumerate().map(|(i, hold)| placed_hold_of(field, i, hold));
            CheckoutStep::HoldsPlaced { holds: holds.collect::<Result<_, _>>()? }
        }
        Step::PaymentAuthorized(authorized) => CheckoutStep::PaymentAuthorized {
            payment_ref: id("step.payment_authorized.payment_ref", &authorized.payment_ref)?,
            amount_minor: money("step.payment_authorized.amount_minor", authorized.amount_minor)?,
        },
        Step::PaymentDeclined(declined) => {
            CheckoutStep::PaymentDeclined { reason: text("step.payment_declined.reason", &declined.reason)? }
        }
        Step::Completed(completed) => {
            let field = "step.completed.orders";
            list_len(field, completed.orders.len(), 1, MAX_STEP_ENTRIES)?;
            let orders = completed.orders.iter().enumerate().map(|(i, order)| region_order_of(field, i, order));
            CheckoutStep::Completed { orders: orders.collect::<Result<_, _>>()? }
        }
        Step::Failed(failed) => CheckoutStep::Failed { reason: text("step.failed.reason", &failed.reason)? },
        Step::PaymentVoided(pb::PaymentVoided {}) => CheckoutStep::PaymentVoided,
    })
}

/// A hold placed in some region, on the wire.
pub fn placed_hold(hold: &RegionHold) -> pb::PlacedHold {
    pb::PlacedHold { region: hold.region.clone(), hold_id: hold.hold_id.to_string() }
}

/// Element `index` of the repeated `PlacedHold` field `list`, validated.
pub fn placed_hold_of(list: &str, index: usize, hold: &pb::PlacedHold) -> Result<RegionHold, Status> {
    Ok(RegionHold {
        region: id(Field::Member(list, index, "region"), &hold.region)?,
        hold_id: id(Field::Member(list, index, "hold_id"), &hold.hold_id)?,
    })
}

/// An order created in some region, on the wire.
pub fn region_order(order: &RegionOrder) -> pb::RegionOrder {
    pb::RegionOrder { region: order.region.clone(), order_id: order.order_id.to_string() }
}

/// Element `index` of the repeated `RegionOrder` field `list`, validated.
pub fn region_order_of(list: &str, index: usize, order: &pb::RegionOrder) -> Result<RegionOrder, Status> {
    Ok(RegionOrder {
        region: id(Field::Member(list, index, "region"), &order.region)?,
        order_id: id(Field::Member(list, index, "order_id"), &order.order_id)?,
    })
}

/// An amount the ledger holds (at most 10^15) as the wire's `int64`.
fn signed_money(amount: MoneyMinor) -> i64 {
    i64::try_from(amount).expect("invariant: the ledger keeps amounts within 10^15")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: Step) -> Result<CheckoutStep, Status> {
        checkout_step_of(Some(&pb::CheckoutStep { at_ms: 0, step: Some(step) }))
    }

    fn bad_field(result: Result<CheckoutStep, Status>) -> String {
        result.unwrap_err().message().to_owned()
    }

    #[test]
    fn steps_round_trip_through_the_wire() {
        let steps = [
            Step::HoldsPlaced(pb::HoldsPlaced {
                holds: vec![pb::PlacedHold { region: "eu-west".into(), hold_id: "h-1".into() }],
            }),
            Step::PaymentAuthorized(pb::PaymentAuthorized { payment_ref: "pay-1".into(), amount_minor: 1_999 }),
            Step::PaymentDeclined(pb::PaymentDeclined { reason: "card declined".into() }),
            Step::Completed(pb::Completed {
                orders: vec![pb::RegionOrder { region: "eu-west".into(), order_id: "o-1".into() }],
            }),
            Step::Failed(pb::Failed { reason: "short".into() }),
            Step::PaymentVoided(pb::PaymentVoided {}),
        ];
        for wire in steps {
            let domain = step(wire.clone()).unwrap();
            let back = checkout_step(&RecordedStep { step: domain, at_ms: 7 });
            assert_eq!(back, pb::CheckoutStep { at_ms: 7, step: Some(wire) });
        }
    }

    #[test]
    fn bad_steps_name_their_field() {
        assert!(bad_field(checkout_step_of(None)).contains("step"));
        let empty = Step::HoldsPlaced(pb::HoldsPlaced { holds: vec![] });
        assert!(bad_field(step(empty)).contains("step.holds_placed.holds"));
        let nameless = Step::Completed(pb::Completed {
            orders: vec![pb::RegionOrder { region: "eu-west".into(), order_id: String::new() }],
        });
        assert!(bad_field(step(nameless)).contains("step.completed.orders[0].order_id"));
        let negative = Step::PaymentAuthorized(pb::PaymentAuthorized { payment_ref: "p".into(), amount_minor: -1 });
        assert!(bad_field(step(negative)).contains("step.payment_authorized.amount_minor"));
        let long = Step::Failed(pb::Failed { reason: "x".repeat(1025) });
        assert!(bad_field(step(long)).contains("step.failed.reason"));
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        assert_eq!(currency_of("currency", "EUR").unwrap(), "EUR");
        for bad in ["", "eur", "EURO", "E1R", "ÉUR"] {
            assert!(currency_of("currency", bad).is_err(), "{bad}");
        }
    }
}

//! Checkout records: the durable log of the gateway's checkout saga. The
//! gateway records each step here before acting on it, so any gateway can
//! resume a checkout another left half-done.
//!
//! ```text
//! started ─► holds placed ─► payment authorized ─► completed
//!    │            │                 │
//!    └────────────┴─────────────────┴─► failed (─► payment voided)
//! ```

use serde::{Deserialize, Serialize};

use crate::command::{CheckoutLine, CheckoutStep, RecordCheckoutStep, RegionHold, RegionOrder, StartCheckout};
use crate::ids::{CheckoutId, ShopperId, validate_id};
use crate::ledger::Ledger;
use crate::outcome::Outcome;
use crate::quantity::{MAX_MONEY_MINOR, MoneyMinor, validate_money, validate_positive};
use crate::rejection::Rejection;
use crate::stock::validate_text;

/// Where a checkout saga is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutStatus {
    /// Recorded, nothing held yet.
    Started,
    /// Every line is held.
    HoldsPlaced,
    /// Payment is authorized; the holds are about to be committed.
    PaymentAuthorized,
    /// Orders exist; the saga is done.
    Completed,
    /// The saga gave up; its holds are released or expire.
    Failed,
}

impl CheckoutStatus {
    /// A short lowercase name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            CheckoutStatus::Started => "started",
            CheckoutStatus::HoldsPlaced => "holds_placed",
            CheckoutStatus::PaymentAuthorized => "payment_authorized",
            CheckoutStatus::Completed => "completed",
            CheckoutStatus::Failed => "failed",
        }
    }
}

/// A step as recorded, with its time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedStep {
    /// The step.
    pub step: CheckoutStep,
    /// When it was recorded (leader time).
    pub at_ms: u64,
}

/// One checkout saga's durable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    /// Its id.
    pub id: CheckoutId,
    /// The buyer.
    pub shopper: ShopperId,
    /// ISO 4217 currency of every amount.
    pub currency: String,
    /// What is bought, at the prices fixed when it started.
    pub lines: Vec<CheckoutLine>,
    /// Sum of `qty × unit_price_minor` over the lines.
    pub total_minor: MoneyMinor,
    /// Where the saga is.
    pub status: CheckoutStatus,
    /// Holds placed for it.
    pub holds: Vec<RegionHold>,
    /// The payment authorization, once there is one.
    pub payment_ref: Option<String>,
    /// Whether that authorization was voided.
    pub payment_voided: bool,
    /// Orders created, once completed.
    pub orders: Vec<RegionOrder>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// Every step, in order.
    pub steps: Vec<RecordedStep>,
    /// When it started.
    pub created_at_ms: u64,
}

impl Ledger {
    pub(crate) fn start_checkout(&mut self, cmd: &StartCheckout, now_ms: u64) -> Result<Outcome, Rejection> {
        validate_id("checkout_id", cmd.checkout_id.as_str())?;
        validate_id("shopper", cmd.shopper.as_str())?;
        let valid_currency = cmd.currency.len() == 3 && cmd.currency.bytes().all(|b| b.is_ascii_uppercase());
        if !valid_currency {
            return Err(Rejection::invalid("currency", "must be a three-letter ISO 4217 code"));
        }
        self.check_line_count(cmd.lines.len())?;
        let mut total: u128 = 0;
        for (i, line) in cmd.lines.iter().enumerate() {
            validate_id(("lines", i, "sku"), line.sku.as_str())?;
            validate_positive(("lines", i, "qty"), line.qty)?;
            validate_money(("lines", i, "unit_price_minor"), line.unit_price_minor)?;
            total += u128::from(line.qty) * u128::from(line.unit_price_minor);
        }
        let total_minor = MoneyMinor::try_from(total)
            .ok()
            .filter(|&total| total <= MAX_MONEY_MINOR)
            .ok_or_else(|| Rejection::invalid("lines", "the total exceeds the maximum amount 10^15"))?;
        if self.state.checkouts.contains_key(&cmd.checkout_id) {
            return Err(Rejection::CheckoutExists { checkout_id: cmd.checkout_id.clone() });
        }
        self.state.checkouts.insert(
            cmd.checkout_id.clone(),
            Checkout {
                id: cmd.checkout_id.clone(),
                shopper: cmd.shopper.clone(),
                currency: cmd.currency.clone(),
                lines: cmd.lines.clone(),
                total_minor,
                status: CheckoutStatus::Started,
                holds: Vec::new(),
                payment_ref: None,
                payment_voided: false,
                orders: Vec::new(),
                failure: None,
                steps: Vec::new(),
                created_at_ms: now_ms,
            },
        );
        Ok(Outcome::CheckoutRecorded { status: CheckoutStatus::Started, total_minor })
    }

    pub(crate) fn record_checkout_step(&mut self, cmd: &RecordCheckoutStep, now_ms: u64) -> Result<Outcome, Rejection> {
        validate_id("checkout_id", cmd.checkout_id.as_str())?;
        validate_step(&cmd.step)?;
        let checkout = self
            .state
            .checkouts
            .get_mut(&cmd.checkout_id)
            .ok_or_else(|| Rejection::UnknownCheckout { checkout_id: cmd.checkout_id.clone() })?;
        let from = checkout.status;
        let to = match (&cmd.step, from) {
            (CheckoutStep::HoldsPlaced { .. }, CheckoutStatus::Started) => CheckoutStatus::HoldsPlaced,
            (CheckoutStep::PaymentAuthorized { amount_minor, .. }, CheckoutStatus::HoldsPlaced) => {
                if *amount_minor != checkout.total_minor {
                    return Err(Rejection::invalid(
                        "step.amount_minor",
                        format!("must equal the checkout total {}", checkout.total_minor),
                    ));
                }
                CheckoutStatus::PaymentAuthorized
            }
            (CheckoutStep::PaymentDeclined { .. }, CheckoutStatus::HoldsPlaced) => CheckoutStatus::Failed,
            (CheckoutStep::Completed { .. }, CheckoutStatus::PaymentAuthorized) => CheckoutStatus::Completed,
            (
                CheckoutStep::Failed { .. },
                CheckoutStatus::Started | CheckoutStatus::HoldsPlaced | CheckoutStatus::PaymentAuthorized,
            ) => CheckoutStatus::Failed,
            (CheckoutStep::PaymentVoided, CheckoutStatus::Failed)
                if checkout.payment_ref.is_some() && !checkout.payment_voided =>
            {
                CheckoutStatus::Failed
            }
            (step, from) => {
                return Err(Rejection::InvalidTransition {
                    entity: "checkout".to_owned(),
                    id: cmd.checkout_id.to_string(),
                    from: from.name().to_owned(),
                    to: step_name(step).to_owned(),
                });
            }
        };
        match &cmd.step {
            CheckoutStep::HoldsPlaced { holds } => checkout.holds = holds.clone(),
            CheckoutStep::PaymentAuthorized { payment_ref, .. } => checkout.payment_ref = Some(payment_ref.clone()),
            CheckoutStep::PaymentDeclined { reason } | CheckoutStep::Failed { reason } => {
                checkout.failure = Some(reason.clone());
            }
            CheckoutStep::Completed { orders } => checkout.orders = orders.clone(),
            CheckoutStep::PaymentVoided => checkout.payment_voided = true,
        }
        checkout.status = to;
        checkout.steps.push(RecordedStep { step: cmd.step.clone(), at_ms: now_ms });
        Ok(Outcome::CheckoutRecorded { status: to, total_minor: checkout.total_minor })
    }

    /// The checkout with this id.
    pub fn checkout(&self, checkout_id: &CheckoutId) -> Option<&Checkout> {
        self.state.checkouts.get(checkout_id)
    }
}

/// Checks a step's own fields (ids, lengths), independent of the checkout.
fn validate_step(step: &CheckoutStep) -> Result<(), Rejection> {
    match step {
        CheckoutStep::HoldsPlaced { holds } => {
            if holds.is_empty() {
                return Err(Rejection::invalid("step.holds", "must not be empty"));
            }
            for (i, hold) in holds.iter().enumerate() {
                validate_id(("step.holds", i, "region"), &hold.region)?;
                validate_id(("step.holds", i, "hold_id"), hold.hold_id.as_str())?;
            }
        }
        CheckoutStep::PaymentAuthorized { payment_ref, .. } => validate_id("step.payment_ref", payment_ref)?,
        CheckoutStep::PaymentDeclined { reason } | CheckoutStep::Failed { reason } => {
            validate_text("step.reason", reason)?;
        }
        CheckoutStep::Completed { orders } => {
            if orders.is_empty() {
                return Err(Rejection::invalid("step.orders", "must not be empty"));
            }
            for (i, order) in orders.iter().enumerate() {
                validate_id(("step.orders", i, "region"), &order.region)?;
                validate_id(("step.orders", i, "order_id"), order.order_id.as_str())?;
            }
        }
        CheckoutStep::PaymentVoided => {}
    }
    Ok(())
}

fn step_name(step: &CheckoutStep) -> &'static str {
    match step {
        CheckoutStep::HoldsPlaced { .. } => "holds_placed",
        CheckoutStep::PaymentAuthorized { .. } => "payment_authorized",
        CheckoutStep::PaymentDeclined { .. } => "payment_declined",
        CheckoutStep::Completed { .. } => "completed",
        CheckoutStep::Failed { .. } => "failed",
        CheckoutStep::PaymentVoided => "payment_voided",
    }
}

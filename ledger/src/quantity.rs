//! Quantities and money: unsigned integers with hard upper bounds, so that
//! every sum the ledger forms fits in a `u64` and every bad number is a
//! rejection, never a wrap-around.

use crate::ids::FieldName;
use crate::rejection::Rejection;

/// A count of units. Never negative; at most [`MAX_QUANTITY`].
pub type Quantity = u64;

/// An amount of money in the currency's minor unit (cents). At most [`MAX_MONEY_MINOR`].
pub type MoneyMinor = u64;

/// Largest quantity any bucket or command may carry: 10^12 units.
///
/// Keeping every bucket under this bound means `on_hand + held + allocated`
/// and similar sums never overflow a `u64`.
pub const MAX_QUANTITY: Quantity = 1_000_000_000_000;

/// Largest amount of money (10^15 minor units) a price or total may be.
pub const MAX_MONEY_MINOR: MoneyMinor = 1_000_000_000_000_000;

/// Checks a quantity a command asks to move: `1..=MAX_QUANTITY`.
pub fn validate_positive(field: impl FieldName, qty: Quantity) -> Result<(), Rejection> {
    if qty == 0 {
        Err(Rejection::invalid(field.name(), "must be at least 1"))
    } else if qty > MAX_QUANTITY {
        Err(Rejection::invalid(field.name(), "exceeds the maximum quantity 10^12"))
    } else {
        Ok(())
    }
}

/// Checks a quantity a command sets (a count): `0..=MAX_QUANTITY`.
pub fn validate_count(field: impl FieldName, qty: Quantity) -> Result<(), Rejection> {
    if qty > MAX_QUANTITY {
        Err(Rejection::invalid(field.name(), "exceeds the maximum quantity 10^12"))
    } else {
        Ok(())
    }
}

/// Checks a price: `0..=MAX_MONEY_MINOR`.
pub fn validate_money(field: impl FieldName, amount: MoneyMinor) -> Result<(), Rejection> {
    if amount > MAX_MONEY_MINOR {
        Err(Rejection::invalid(field.name(), "exceeds the maximum amount 10^15"))
    } else {
        Ok(())
    }
}

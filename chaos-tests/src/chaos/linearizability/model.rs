//! The sequential model one SKU's operations are checked against: a single
//! integer, the units available to new holds.

use std::fmt;

/// What an operation asked and, where it matters, what it was told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A read of the SKU's availability that returned `available`.
    Read {
        /// The units the read reported available.
        available: u64,
    },
    /// A reservation of `quantity` units.
    Reserve {
        /// Units asked for.
        quantity: u64,
        /// What the client was told.
        result: ReserveResult,
    },
    /// A receipt of `quantity` units (it cannot be refused for stock).
    Receive {
        /// Units received.
        quantity: u64,
    },
}

/// How a reservation ended, as far as the model cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReserveResult {
    /// The hold was placed: there were `quantity` units at its point.
    Granted,
    /// Refused for insufficient stock: fewer than `quantity` units at its
    /// point.
    Insufficient,
    /// No answer was seen: wherever it takes effect it does what the
    /// ledger would (take the units if there are enough, else nothing).
    Unseen,
}

/// The model's transition: the availability after `action` at a point where
/// `available` units are available, or `None` when the action's result is
/// impossible there.
pub fn step(available: u64, action: Action) -> Option<u64> {
    match action {
        Action::Read { available: seen } => (seen == available).then_some(available),
        Action::Reserve { quantity, result } => match result {
            ReserveResult::Granted => available.checked_sub(quantity),
            ReserveResult::Insufficient => (available < quantity).then_some(available),
            ReserveResult::Unseen => Some(available.checked_sub(quantity).unwrap_or(available)),
        },
        Action::Receive { quantity } => available.checked_add(quantity),
    }
}

impl Action {
    /// Whether no point changes the availability: a read, or a refusal. Such
    /// an operation, once it fits at some point, may be placed there for
    /// good: any order placing it later can move it back to that point, as
    /// nothing it passes over sees it and every operation it must follow
    /// is already placed.
    pub fn preserves_state(self) -> bool {
        matches!(self, Action::Read { .. } | Action::Reserve { result: ReserveResult::Insufficient, .. })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Read { available } => write!(f, "read saw {available} available"),
            Action::Reserve { quantity, result: ReserveResult::Granted } => write!(f, "reserve {quantity} granted"),
            Action::Reserve { quantity, result: ReserveResult::Insufficient } => {
                write!(f, "reserve {quantity} refused for insufficient stock")
            }
            Action::Reserve { quantity, result: ReserveResult::Unseen } => {
                write!(f, "reserve {quantity} with no answer seen")
            }
            Action::Receive { quantity } => write!(f, "receive {quantity}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(available: u64, action: Action, expect: Option<u64>) {
        assert_eq!(step(available, action), expect, "{action} at {available}");
    }

    #[test]
    fn each_action_moves_the_availability_as_the_ledger_would() {
        check(3, Action::Read { available: 3 }, Some(3));
        check(3, Action::Read { available: 2 }, None);
        let reserve = |result| Action::Reserve { quantity: 2, result };
        check(3, reserve(ReserveResult::Granted), Some(1));
        check(1, reserve(ReserveResult::Granted), None);
        check(1, reserve(ReserveResult::Insufficient), Some(1));
        check(2, reserve(ReserveResult::Insufficient), None);
        check(2, reserve(ReserveResult::Unseen), Some(0));
        check(1, reserve(ReserveResult::Unseen), Some(1));
        check(1, Action::Receive { quantity: 4 }, Some(5));
        check(u64::MAX, Action::Receive { quantity: 1 }, None);
    }
}

//! Identifiers: client-chosen strings, typed so a SKU can never be passed
//! where a warehouse id is expected.
//!
//! Every id is validated when a command is applied (see [`validate_id`]):
//! non-empty, at most [`MAX_ID_BYTES`] bytes, no control characters. The
//! limit keeps idempotency records and indexes bounded.
//!
//! Ids are shared (`Arc<str>`): the same SKU or hold id sits in a level's
//! key, a hold, an allocation, an index and an idempotency record, and
//! copying it there must not allocate on the apply path.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::rejection::Rejection;

/// Longest id accepted, in bytes (Stripe's idempotency keys allow 255).
pub const MAX_ID_BYTES: usize = 255;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        // Equal ids are often the same allocation (warehouse ids are
        // interned when a level is created): compare pointers first.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
            }
        }

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state)
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                if Arc::ptr_eq(&self.0, &other.0) {
                    std::cmp::Ordering::Equal
                } else {
                    self.0.cmp(&other.0)
                }
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(Arc::from(value))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(Arc::from(value))
            }
        }
    };
}

string_id!(
    /// A stock-keeping unit: one sellable variant of a product.
    Sku
);
string_id!(
    /// A warehouse (stock location). Each belongs to exactly one region.
    WarehouseId
);
string_id!(
    /// A hold (reservation) chosen by the client that places it.
    HoldId
);
string_id!(
    /// An order, created when a hold is committed.
    OrderId
);
string_id!(
    /// A shopper (or a guest session) owning a cart, checkouts and orders.
    ShopperId
);
string_id!(
    /// A checkout: the durable record of one run of the checkout saga.
    CheckoutId
);
string_id!(
    /// The client-chosen id of a command; the idempotency key.
    CommandId
);
string_id!(
    /// Who issued a command (`warehouse:wh-1`, `gateway:eu-1`, `ledgerctl:ana`), kept in the journal.
    Actor
);

/// Checks an id field: non-empty, at most [`MAX_ID_BYTES`], no control characters.
pub fn validate_id(field: impl FieldName, value: &str) -> Result<(), Rejection> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > MAX_ID_BYTES {
        "must be at most 255 bytes"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(Rejection::invalid(field.name(), reason))
}

/// The name of a command field, built only when a rejection needs it so
/// that validating a valid command allocates nothing.
pub trait FieldName {
    /// The field's path, e.g. `lines[2].qty`.
    fn name(self) -> String;
}

impl FieldName for &str {
    fn name(self) -> String {
        self.to_owned()
    }
}

/// `(list, index, member)` names `list[index].member`.
impl FieldName for (&str, usize, &str) {
    fn name(self) -> String {
        let (list, index, member) = self;
        format!("{list}[{index}].{member}")
    }
}

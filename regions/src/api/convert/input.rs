//! Request fields to validated domain values. Every check names the field as
//! the proto spells it (`lines[2].quantity`, `policy.mode`), so a client can
//! fix exactly what is wrong; nothing here reads state, so a request that
//! fails here never reaches the Raft log.

use std::fmt;

use ledger::ids::MAX_ID_BYTES;
use ledger::quantity::{MAX_MONEY_MINOR, MAX_QUANTITY, MoneyMinor, Quantity};
use ledger::stock::MAX_TEXT_BYTES;
use tonic::Status;

use crate::api::status::invalid_field;

/// Most SKUs one level read, journal filter or watch may name (see
/// `warehouse.proto`).
pub const MAX_SKUS: usize = 1_000;

/// The path of a request field, formatted only when an error reports it, so
/// that validating a valid request allocates no names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// A top-level or dotted field: `warehouse_id`, `policy.mode`.
    Name(&'a str),
    /// An element of a repeated scalar field: `skus[3]`.
    Item(&'a str, usize),
    /// A member of an element of a repeated message field:
    /// `lines[2].quantity`.
    Member(&'a str, usize, &'a str),
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Name(name) => f.write_str(name),
            Field::Item(list, index) => write!(f, "{list}[{index}]"),
            Field::Member(list, index, member) => write!(f, "{list}[{index}].{member}"),
        }
    }
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(name: &'a str) -> Self {
        Field::Name(name)
    }
}

/// `INVALID_ARGUMENT` naming `field`, with a `BadRequest` detail.
pub fn invalid<'a>(field: impl Into<Field<'a>>, reason: impl Into<String>) -> Status {
    invalid_field(field.into().to_string(), reason)
}

/// `OUT_OF_RANGE` naming `field`: a quantity or amount past the ledger's
/// bound. The status carries no detail (a `BadRequest` goes with
/// `INVALID_ARGUMENT` only); the message names the field.
pub fn out_of_range<'a>(field: impl Into<Field<'a>>, bound: &str) -> Status {
    Status::out_of_range(format!("invalid {}: exceeds the maximum {bound}", field.into()))
}

/// A required id: non-empty, at most 255 bytes, no control characters.
pub fn id<'f, 'v, T: From<&'v str>>(field: impl Into<Field<'f>>, value: &'v str) -> Result<T, Status> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.len() > MAX_ID_BYTES {
        "must be at most 255 bytes"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(T::from(value));
    };
    Err(invalid(field, reason))
}

/// An optional id: empty means none; otherwise as [`id`].
pub fn optional_id<'f, 'v, T: From<&'v str>>(field: impl Into<Field<'f>>, value: &'v str) -> Result<Option<T>, Status> {
    if value.is_empty() { Ok(None) } else { id(field, value).map(Some) }
}

/// Free text (references, reasons): at most 1024 bytes.
pub fn text<'a>(field: impl Into<Field<'a>>, value: &str) -> Result<String, Status> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(invalid(field, format!("must be at most {MAX_TEXT_BYTES} bytes")));
    }
    Ok(value.to_owned())
}

/// Units a request moves: `1..=10^12`. Zero is `INVALID_ARGUMENT`, more than
/// the ledger's bound `OUT_OF_RANGE`.
pub fn positive<'a>(field: impl Into<Field<'a>>, value: u64) -> Result<Quantity, Status> {
    if value == 0 {
        return Err(invalid(field, "must be at least 1"));
    }
    count(field, value)
}

/// Units a request sets or compares (a count): `0..=10^12`; more is
/// `OUT_OF_RANGE`.
pub fn count<'a>(field: impl Into<Field<'a>>, value: u64) -> Result<Quantity, Status> {
    if value > MAX_QUANTITY {
        return Err(out_of_range(field, "quantity 10^12"));
    }
    Ok(value)
}

/// A signed change of units: non-zero, at most 10^12 in magnitude (more is
/// `OUT_OF_RANGE`).
pub fn delta<'a>(field: impl Into<Field<'a>>, value: i64) -> Result<i64, Status> {
    if value == 0 {
        return Err(invalid(field, "must not be 0"));
    }
    if value.unsigned_abs() > MAX_QUANTITY {
        return Err(out_of_range(field, "magnitude 10^12"));
    }
    Ok(value)
}

/// An amount of money in minor units: `0..=10^15`. Negative is
/// `INVALID_ARGUMENT`, more than the bound `OUT_OF_RANGE`.
pub fn money<'a>(field: impl Into<Field<'a>>, value: i64) -> Result<MoneyMinor, Status> {
    let field = field.into();
    let amount = MoneyMinor::try_from(value).map_err(|_| invalid(field, "must not be negative"))?;
    if amount > MAX_MONEY_MINOR {
        return Err(out_of_range(field, "amount 10^15"));
    }
    Ok(amount)
}

/// A repeated field's length: at least `min`, at most `max` elements.
pub fn list_len<'a>(field: impl Into<Field<'a>>, len: usize, min: usize, max: usize) -> Result<(), Status> {
    if len < min {
        return Err(invalid(field, format!("must have at least {min} element(s)")));
    }
    if len > max {
        return Err(invalid(field, format!("must have at most {max} elements, got {len}")));
    }
    Ok(())
}

/// A list of SKUs: at most [`MAX_SKUS`], each a valid id; sorted and without
/// duplicates, so that reads answer each SKU once and in order.
pub fn skus(field: &str, values: &[String]) -> Result<Vec<ledger::ids::Sku>, Status> {
    list_len(field, values.len(), 0, MAX_SKUS)?;
    let mut skus = values
        .iter()
        .enumerate()
        .map(|(i, sku)| id(Field::Item(field, i), sku))
        .collect::<Result<Vec<ledger::ids::Sku>, Status>>()?;
    skus.sort_unstable();
    skus.dedup();
    Ok(skus)
}

/// A proto3 enum field's value, if it is one the contract knows (possibly
/// `UNSPECIFIED`, which the caller refuses with [`unspecified`] where a
/// value is required).
pub fn enum_value<'a, E: TryFrom<i32>>(field: impl Into<Field<'a>>, value: i32) -> Result<E, Status> {
    E::try_from(value).map_err(|_| invalid(field, format!("unknown value {value}")))
}

/// `INVALID_ARGUMENT`: a required enum field was left `UNSPECIFIED` (0).
pub fn unspecified<'a>(field: impl Into<Field<'a>>) -> Status {
    invalid(field, "must be set (0 is UNSPECIFIED)")
}

#[cfg(test)]
mod tests {
    use ledger::ids::Sku;
    use protos::status::ErrorDetail;
    use tonic::Code;

    use super::*;

    /// The code of `result`'s error and the field its `BadRequest` detail
    /// names (empty without a detail), or `None` if it succeeded.
    fn failure<T: fmt::Debug>(result: Result<T, Status>) -> Option<(Code, String)> {
        let status = result.err()?;
        let field = match ErrorDetail::from_status(&status) {
            Ok(Some(ErrorDetail::BadRequest(bad))) => bad.field_violations[0].field.clone(),
            _ => String::new(),
        };
        Some((status.code(), field))
    }

    fn check<T: fmt::Debug>(result: Result<T, Status>, expect: Option<(Code, &str)>) {
        assert_eq!(failure(result), expect.map(|(code, field)| (code, field.to_owned())));
    }

    #[test]
    fn fields_are_named_as_the_proto_spells_them() {
        assert_eq!(Field::Name("policy.mode").to_string(), "policy.mode");
        assert_eq!(Field::Item("skus", 3).to_string(), "skus[3]");
        assert_eq!(Field::Member("lines", 2, "quantity").to_string(), "lines[2].quantity");
    }

    #[test]
    fn ids_are_non_empty_short_and_printable() {
        check(id::<Sku>("sku", "sku-1"), None);
        check(id::<Sku>("sku", &"x".repeat(255)), None);
        check(id::<Sku>("sku", ""), Some((Code::InvalidArgument, "sku")));
        check(id::<Sku>("sku", &"x".repeat(256)), Some((Code::InvalidArgument, "sku")));
        check(id::<Sku>(Field::Member("lines", 1, "sku"), "a\nb"), Some((Code::InvalidArgument, "lines[1].sku")));
        assert_eq!(optional_id::<Sku>("owner", "").unwrap(), None);
        check(optional_id::<Sku>("owner", &"é".repeat(128)), Some((Code::InvalidArgument, "owner")));
    }

    #[test]
    fn quantities_are_bounded_by_the_ledger() {
        check(positive("quantity", 1), None);
        check(positive("quantity", MAX_QUANTITY), None);
        check(positive("quantity", 0), Some((Code::InvalidArgument, "quantity")));
        check(positive("quantity", MAX_QUANTITY + 1), Some((Code::OutOfRange, "")));
        check(positive("quantity", u64::MAX), Some((Code::OutOfRange, "")));
        check(count("counted", 0), None);
        check(count("counted", MAX_QUANTITY + 1), Some((Code::OutOfRange, "")));
        check(delta("delta", -5), None);
        check(delta("delta", 0), Some((Code::InvalidArgument, "delta")));
        check(delta("delta", i64::MIN), Some((Code::OutOfRange, "")));
        check(money("unit_price_minor", 0), None);
        check(money("unit_price_minor", -1), Some((Code::InvalidArgument, "unit_price_minor")));
        check(money("unit_price_minor", i64::MAX), Some((Code::OutOfRange, "")));
    }

    #[test]
    fn text_and_lists_are_bounded() {
        check(text("reference", &"r".repeat(1024)), None);
        check(text("reference", &"r".repeat(1025)), Some((Code::InvalidArgument, "reference")));
        check(list_len("lines", 0, 1, 10), Some((Code::InvalidArgument, "lines")));
        check(list_len("lines", 11, 1, 10), Some((Code::InvalidArgument, "lines")));
        let many: Vec<String> = (0..=MAX_SKUS).map(|i| format!("sku-{i}")).collect();
        check(skus("skus", &many), Some((Code::InvalidArgument, "skus")));
        check(skus("skus", &["a".into(), String::new()]), Some((Code::InvalidArgument, "skus[1]")));
        let sorted = skus("skus", &["b".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(sorted, vec![Sku::from("a"), Sku::from("b")]);
    }

    #[test]
    fn enums_must_be_known() {
        use protos::common::OrderStatus;
        check(enum_value::<OrderStatus>("status", 1), None);
        check(enum_value::<OrderStatus>("status", 0), None);
        check(enum_value::<OrderStatus>("status", 99), Some((Code::InvalidArgument, "status")));
        check(enum_value::<OrderStatus>("status", -1), Some((Code::InvalidArgument, "status")));
    }
}

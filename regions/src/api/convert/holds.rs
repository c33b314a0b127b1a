//! Holds (reservations): `Hold`, `Allocation`, `HoldState`, `SplitMode`.

use ledger::command::Split;
use ledger::holds::{Allocation, Hold, HoldStatus};
use protos::reservation as pb;
use tonic::Status;

use super::input::{Field, enum_value, unspecified};

/// A hold on the wire, its allocations sorted by `(sku, warehouse)` as the
/// contract promises (the ledger keeps them in the order it drew them).
pub fn hold(hold: &Hold) -> pb::Hold {
    let mut allocations: Vec<&Allocation> = hold.allocations.iter().collect();
    allocations.sort_by(|a, b| (&a.sku, &a.warehouse).cmp(&(&b.sku, &b.warehouse)));
    let order_id = match &hold.status {
        HoldStatus::Committed { order_id } => order_id.to_string(),
        HoldStatus::Pending | HoldStatus::Released | HoldStatus::Expired => String::new(),
    };
    pb::Hold {
        hold_id: hold.id.to_string(),
        owner: hold.owner.as_ref().map(ToString::to_string).unwrap_or_default(),
        state: hold_state(&hold.status).into(),
        allocations: allocations.into_iter().map(allocation).collect(),
        created_at_ms: hold.created_at_ms,
        expires_at_ms: hold.expires_at_ms,
        ended_at_ms: hold.ended_at_ms,
        order_id,
    }
}

/// Units of one SKU claimed at one warehouse, on the wire.
pub fn allocation(allocation: &Allocation) -> pb::Allocation {
    pb::Allocation {
        sku: allocation.sku.to_string(),
        warehouse_id: allocation.warehouse.to_string(),
        quantity: allocation.qty,
    }
}

/// Where a hold is in its life, on the wire.
pub fn hold_state(status: &HoldStatus) -> pb::HoldState {
    match status {
        HoldStatus::Pending => pb::HoldState::Pending,
        HoldStatus::Committed { .. } => pb::HoldState::Committed,
        HoldStatus::Released => pb::HoldState::Released,
        HoldStatus::Expired => pb::HoldState::Expired,
    }
}

/// How a reservation may split, from a request: known and specified.
pub fn split_mode_of<'a>(field: impl Into<Field<'a>>, value: i32) -> Result<Split, Status> {
    let field = field.into();
    match enum_value(field, value)? {
        pb::SplitMode::Unspecified => Err(unspecified(field)),
        pb::SplitMode::SplitAllowed => Ok(Split::Allowed),
        pb::SplitMode::SingleWarehouse => Ok(Split::SingleWarehouse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_lists_its_allocations_sorted_and_names_its_order() {
        let claim = |sku: &str, warehouse: &str, qty| Allocation { sku: sku.into(), warehouse: warehouse.into(), qty };
        let committed = Hold {
            id: "h-1".into(),
            owner: None,
            allocations: vec![claim("b", "wh-2", 1), claim("b", "wh-1", 2), claim("a", "wh-9", 3)],
            created_at_ms: 10,
            expires_at_ms: 20,
            status: HoldStatus::Committed { order_id: "o-1".into() },
            ended_at_ms: Some(15),
        };
        let wire = hold(&committed);
        let order: Vec<(&str, &str)> =
            wire.allocations.iter().map(|a| (a.sku.as_str(), a.warehouse_id.as_str())).collect();
        assert_eq!(order, [("a", "wh-9"), ("b", "wh-1"), ("b", "wh-2")]);
        assert_eq!((wire.state(), wire.order_id.as_str(), wire.owner.as_str()), (pb::HoldState::Committed, "o-1", ""));
        assert_eq!((wire.created_at_ms, wire.expires_at_ms, wire.ended_at_ms), (10, 20, Some(15)));
    }

    #[test]
    fn split_modes_must_be_specified() {
        assert_eq!(split_mode_of("policy.mode", 1).unwrap(), Split::Allowed);
        assert_eq!(split_mode_of("policy.mode", 2).unwrap(), Split::SingleWarehouse);
        for bad in [0, 3, -1] {
            assert_eq!(split_mode_of("policy.mode", bad).unwrap_err().code(), tonic::Code::InvalidArgument);
        }
    }
}

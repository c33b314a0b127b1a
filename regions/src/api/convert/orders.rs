//! Orders: `Order`, `OrderLine`, `OrderEvent`, `OrderStatus` (shared with
//! the warehouse API's shipments), `ReturnLine`.

use ledger::command::ReturnLine;
use ledger::orders::{Order, OrderLine, OrderStatus, StatusChange};
use protos::common::OrderStatus as WireStatus;
use protos::reservation as pb;
use tonic::Status;

use super::input::{Field, enum_value, id, positive, unspecified};

/// An order on the wire.
pub fn order(order: &Order) -> pb::Order {
    pb::Order {
        order_id: order.id.to_string(),
        hold_id: order.hold_id.to_string(),
        owner: order.owner.as_ref().map(ToString::to_string).unwrap_or_default(),
        lines: order.lines.iter().map(order_line).collect(),
        status: order_status(order.status).into(),
        timeline: order.timeline.iter().map(order_event).collect(),
    }
}

/// One line of an order on the wire.
pub fn order_line(line: &OrderLine) -> pb::OrderLine {
    pb::OrderLine {
        sku: line.sku.to_string(),
        warehouse_id: line.warehouse.to_string(),
        quantity: line.qty,
        shipped: line.shipped,
        returned_quantity: line.returned,
    }
}

/// One entry of an order's timeline on the wire.
pub fn order_event(change: &StatusChange) -> pb::OrderEvent {
    pb::OrderEvent {
        status: order_status(change.status).into(),
        at_ms: change.at_ms,
        actor: change.actor.to_string(),
        note: change.note.clone(),
    }
}

/// Where an order is, on the wire.
pub fn order_status(status: OrderStatus) -> WireStatus {
    match status {
        OrderStatus::Confirmed => WireStatus::Confirmed,
        OrderStatus::Picking => WireStatus::Picking,
        OrderStatus::PartiallyShipped => WireStatus::PartiallyShipped,
        OrderStatus::Shipped => WireStatus::Shipped,
        OrderStatus::Delivered => WireStatus::Delivered,
        OrderStatus::Cancelled => WireStatus::Cancelled,
        OrderStatus::PartiallyReturned => WireStatus::PartiallyReturned,
        OrderStatus::Returned => WireStatus::Returned,
    }
}

/// An order status from a request (a filter or a target): known and
/// specified.
pub fn order_status_of<'a>(field: impl Into<Field<'a>>, value: i32) -> Result<OrderStatus, Status> {
    let field = field.into();
    Ok(match enum_value(field, value)? {
        WireStatus::Unspecified => return Err(unspecified(field)),
        WireStatus::Confirmed => OrderStatus::Confirmed,
        WireStatus::Picking => OrderStatus::Picking,
        WireStatus::PartiallyShipped => OrderStatus::PartiallyShipped,
        WireStatus::Shipped => OrderStatus::Shipped,
        WireStatus::Delivered => OrderStatus::Delivered,
        WireStatus::Cancelled => OrderStatus::Cancelled,
        WireStatus::PartiallyReturned => OrderStatus::PartiallyReturned,
        WireStatus::Returned => OrderStatus::Returned,
    })
}

/// Line `index` of a return request, validated.
pub fn return_line_of(index: usize, line: &pb::ReturnLine) -> Result<ReturnLine, Status> {
    Ok(ReturnLine {
        sku: id(Field::Member("lines", index, "sku"), &line.sku)?,
        warehouse: id(Field::Member("lines", index, "warehouse_id"), &line.warehouse_id)?,
        qty: positive(Field::Member("lines", index, "quantity"), line.quantity)?,
        damaged: line.damaged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_status_round_trips() {
        for raw in 1..=8 {
            let status = order_status_of("statuses[0]", raw).unwrap();
            assert_eq!(i32::from(order_status(status)), raw);
        }
        for bad in [0, 9] {
            assert_eq!(order_status_of("statuses[0]", bad).unwrap_err().code(), tonic::Code::InvalidArgument);
        }
    }

    #[test]
    fn return_lines_name_their_bad_field() {
        let line = pb::ReturnLine { sku: "s".into(), warehouse_id: "wh".into(), quantity: 2, damaged: true };
        let ok = return_line_of(0, &line).unwrap();
        assert_eq!((ok.qty, ok.damaged), (2, true));
        let zero = pb::ReturnLine { quantity: 0, ..line.clone() };
        assert!(return_line_of(3, &zero).unwrap_err().message().contains("lines[3].quantity"));
        let nameless = pb::ReturnLine { warehouse_id: String::new(), ..line };
        assert!(return_line_of(1, &nameless).unwrap_err().message().contains("lines[1].warehouse_id"));
    }
}

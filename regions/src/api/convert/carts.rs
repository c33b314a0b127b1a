//! Carts: `Cart`, `CartLine`.

use ledger::carts::Cart;
use ledger::ids::{ShopperId, Sku};
use ledger::quantity::Quantity;
use protos::reservation as pb;

/// `shopper`'s cart on the wire, lines by SKU. A cart never written (or
/// emptied) is `None` in the ledger and reads as no lines.
pub fn cart(shopper: &ShopperId, cart: Option<&Cart>) -> pb::Cart {
    pb::Cart {
        shopper_id: shopper.to_string(),
        lines: cart.map(|cart| cart.lines.iter().map(|(sku, qty)| cart_line(sku, *qty)).collect()).unwrap_or_default(),
    }
}

/// One cart line on the wire.
pub fn cart_line(sku: &Sku, qty: Quantity) -> pb::CartLine {
    pb::CartLine { sku: sku.to_string(), quantity: qty }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_cart_reads_as_empty() {
        let shopper = ShopperId::from("s-1");
        assert_eq!(cart(&shopper, None), pb::Cart { shopper_id: "s-1".into(), lines: vec![] });
        let mut full = Cart::default();
        full.lines.insert("b".into(), 2);
        full.lines.insert("a".into(), 1);
        let skus: Vec<String> = cart(&shopper, Some(&full)).lines.into_iter().map(|l| l.sku).collect();
        assert_eq!(skus, ["a", "b"]);
    }
}

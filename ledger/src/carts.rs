//! Carts: per shopper, durable, merged from a guest session on login.
//!
//! A cart claims no stock; it is what the shopper intends to buy. Stock is
//! held only at checkout, by a hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::CartCommand;
use crate::ids::{ShopperId, Sku, validate_id};
use crate::ledger::Ledger;
use crate::outcome::Outcome;
use crate::quantity::{Quantity, validate_count, validate_positive};
use crate::rejection::Rejection;

/// A shopper's cart: quantity per SKU.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// Units of each SKU, all at least 1.
    pub lines: BTreeMap<Sku, Quantity>,
}

impl Ledger {
    pub(crate) fn apply_cart(&mut self, cmd: &CartCommand) -> Result<Outcome, Rejection> {
        let max_line_qty = self.state.config.max_cart_line_qty;
        let (shopper, cart) = match cmd {
            CartCommand::Add { shopper, sku, qty } => {
                validate_positive("qty", *qty)?;
                let mut cart = self.cart_for(shopper, sku)?;
                let line = cart.lines.entry(sku.clone()).or_default();
                *line = line.saturating_add(*qty);
                if *line > max_line_qty {
                    return Err(line_limit(max_line_qty));
                }
                (shopper, cart)
            }
            CartCommand::Set { shopper, sku, qty } => {
                validate_count("qty", *qty)?;
                if *qty > max_line_qty {
                    return Err(line_limit(max_line_qty));
                }
                let mut cart = self.cart_for(shopper, sku)?;
                if *qty == 0 {
                    cart.lines.remove(sku);
                } else {
                    cart.lines.insert(sku.clone(), *qty);
                }
                (shopper, cart)
            }
            CartCommand::Remove { shopper, sku } => {
                let mut cart = self.cart_for(shopper, sku)?;
                cart.lines.remove(sku);
                (shopper, cart)
            }
            CartCommand::Clear { shopper } => {
                validate_id("shopper", shopper.as_str())?;
                (shopper, Cart::default())
            }
            CartCommand::Merge { guest, shopper } => {
                validate_id("guest", guest.as_str())?;
                validate_id("shopper", shopper.as_str())?;
                if guest == shopper {
                    return Err(Rejection::invalid("guest", "must differ from `shopper`"));
                }
                let mut cart = self.cart(shopper).cloned().unwrap_or_default();
                for (sku, qty) in self.cart(guest).map(|c| c.lines.clone()).unwrap_or_default() {
                    let line = cart.lines.entry(sku).or_default();
                    *line = line.saturating_add(qty).min(max_line_qty);
                }
                self.check_cart_size(shopper, &cart)?;
                self.state.carts.remove(guest);
                (shopper, cart)
            }
        };
        self.check_cart_size(shopper, &cart)?;
        if cart.lines.is_empty() {
            self.state.carts.remove(shopper);
        } else {
            self.state.carts.insert(shopper.clone(), cart.clone());
        }
        Ok(Outcome::CartUpdated { cart })
    }

    /// The shopper's cart, if it has any line.
    pub fn cart(&self, shopper: &ShopperId) -> Option<&Cart> {
        self.state.carts.get(shopper)
    }

    /// A copy of the cart to edit, after validating the ids.
    fn cart_for(&self, shopper: &ShopperId, sku: &Sku) -> Result<Cart, Rejection> {
        validate_id("shopper", shopper.as_str())?;
        validate_id("sku", sku.as_str())?;
        Ok(self.cart(shopper).cloned().unwrap_or_default())
    }

    fn check_cart_size(&self, shopper: &ShopperId, cart: &Cart) -> Result<(), Rejection> {
        let max_lines = self.state.config.max_cart_lines;
        if cart.lines.len() > max_lines as usize {
            return Err(Rejection::CartFull { shopper: shopper.clone(), max_lines });
        }
        Ok(())
    }
}

fn line_limit(max_line_qty: Quantity) -> Rejection {
    Rejection::invalid("qty", format!("a cart line holds at most {max_line_qty} units"))
}

//! AddToCart, SetCartLine, RemoveFromCart, ClearCart, MergeCarts, GetCart.
//! Every mutation answers the cart as the ledger left it (the outcome
//! carries it).

use ledger::command::CartCommand;
use ledger::ids::ShopperId;
use ledger::quantity::Quantity;
use ledger::{Command, Outcome};
use protos::reservation as pb;
use tonic::Status;

use crate::api::ApiContext;
use crate::api::convert::carts::cart;
use crate::api::convert::input::{count, id, invalid, positive};
use crate::api::convert::unexpected;
use crate::auth::Principal;
use crate::region::Consistency;

/// Serves AddToCart.
pub(super) async fn add_to_cart(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::AddToCartRequest,
) -> Result<pb::CartResponse, Status> {
    let qty = line_quantity(ctx, positive("quantity", request.quantity)?).await?;
    let command =
        CartCommand::Add { shopper: id("shopper_id", &request.shopper_id)?, sku: id("sku", &request.sku)?, qty };
    change(ctx, principal, &request.command_id, command).await
}

/// Serves SetCartLine (0 removes the line).
pub(super) async fn set_cart_line(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::SetCartLineRequest,
) -> Result<pb::CartResponse, Status> {
    let qty = line_quantity(ctx, count("quantity", request.quantity)?).await?;
    let command =
        CartCommand::Set { shopper: id("shopper_id", &request.shopper_id)?, sku: id("sku", &request.sku)?, qty };
    change(ctx, principal, &request.command_id, command).await
}

/// Serves RemoveFromCart.
pub(super) async fn remove_from_cart(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::RemoveFromCartRequest,
) -> Result<pb::CartResponse, Status> {
    let command =
        CartCommand::Remove { shopper: id("shopper_id", &request.shopper_id)?, sku: id("sku", &request.sku)? };
    change(ctx, principal, &request.command_id, command).await
}

/// Serves ClearCart.
pub(super) async fn clear_cart(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::ClearCartRequest,
) -> Result<pb::CartResponse, Status> {
    let command = CartCommand::Clear { shopper: id("shopper_id", &request.shopper_id)? };
    change(ctx, principal, &request.command_id, command).await
}

/// Serves MergeCarts: answers the shopper's cart.
pub(super) async fn merge_carts(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::MergeCartsRequest,
) -> Result<pb::CartResponse, Status> {
    let guest: ShopperId = id("guest_id", &request.guest_id)?;
    let shopper: ShopperId = id("shopper_id", &request.shopper_id)?;
    if guest == shopper {
        return Err(invalid("guest_id", "must differ from shopper_id"));
    }
    change(ctx, principal, &request.command_id, CartCommand::Merge { guest, shopper }).await
}

/// Serves GetCart: a cart never written reads as empty.
pub(super) async fn get_cart(ctx: &ApiContext, request: pb::GetCartRequest) -> Result<pb::Cart, Status> {
    let shopper: ShopperId = id("shopper_id", &request.shopper_id)?;
    Ok(ctx.read(Consistency::Linearizable, |ledger| cart(&shopper, ledger.cart(&shopper))).await?.value)
}

/// Proposes a cart change and answers the cart it left.
async fn change(
    ctx: &ApiContext,
    principal: &Principal,
    command_id: &str,
    command: CartCommand,
) -> Result<pb::CartResponse, Status> {
    let shopper = match &command {
        CartCommand::Add { shopper, .. }
        | CartCommand::Set { shopper, .. }
        | CartCommand::Remove { shopper, .. }
        | CartCommand::Clear { shopper }
        | CartCommand::Merge { shopper, .. } => shopper.clone(),
    };
    let written = ctx.write(principal, command_id, Command::Cart(command)).await?;
    let Outcome::CartUpdated { cart: updated } = &written.outcome else { return Err(unexpected(&written.outcome)) };
    Ok(pb::CartResponse { cart: Some(cart(&shopper, Some(updated))), applied_index: written.applied_index })
}

/// `quantity`, if one cart line may hold it (the region's limit, 999 by
/// default). A sum past the limit (AddToCart onto an existing line) is the
/// ledger's to refuse.
async fn line_quantity(ctx: &ApiContext, quantity: Quantity) -> Result<Quantity, Status> {
    let max = ctx.region.limits().max_cart_line_qty;
    if quantity > max {
        return Err(invalid("quantity", format!("a cart line holds at most {max} units")));
    }
    Ok(quantity)
}

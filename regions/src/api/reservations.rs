//! `Reservations`: the region API the gateway calls (`reservation.proto`):
//! holds, carts, checkout records and orders.
//!
//! **API Boundary.** Only service (gateway) and admin tokens may call it:
//! every call authenticates its bearer token and checks that first, then
//! validates every field, and only then proposes a command (writes) or
//! reads the applied ledger (linearizably on the leader). A request refused
//! at any of those steps changes nothing.
//!
//! - `holds`: Reserve, ReserveMany, CommitHold, ReleaseHold, GetHold.
//! - `carts`: AddToCart, SetCartLine, RemoveFromCart, ClearCart,
//!   MergeCarts, GetCart.
//! - `checkouts`: StartCheckout, RecordCheckoutStep, GetCheckout.
//! - `orders`: GetOrder, ListOrders, AdvanceOrder, CancelOrder,
//!   ReturnOrder.
//!
//! A write answers with what it did (the hold, the order, the cart, the
//! checkout) and the log index it applied at. The ledger's outcomes carry
//! little, so most answers are read back from this replica right after the
//! write: exact for what the command created, and for state that later
//! commands may change (an order's status), the state as of that read.

mod carts;
mod checkouts;
mod holds;
mod orders;

use ledger::Ledger;
use protos::reservation::reservations_server::Reservations;
use protos::reservation::{
    AddToCartRequest, AdvanceOrderRequest, CancelOrderRequest, Cart, CartResponse, Checkout, CheckoutResponse,
    ClearCartRequest, CommitHoldRequest, CommitHoldResponse, GetCartRequest, GetCheckoutRequest, GetHoldRequest,
    GetOrderRequest, Hold, ListOrdersRequest, ListOrdersResponse, MergeCartsRequest, Order, OrderResponse,
    RecordCheckoutStepRequest, ReleaseHoldRequest, ReleaseHoldResponse, RemoveFromCartRequest, ReserveManyRequest,
    ReserveManyResponse, ReserveRequest, ReserveResponse, ReturnOrderRequest, SetCartLineRequest, StartCheckoutRequest,
};
use tonic::{Request, Response, Status};

use crate::api::ApiContext;
use crate::auth::Principal;
use crate::region::Consistency;

/// The `Reservations` service of a node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReservationService {
    /// The hosted region and the accepted tokens.
    ctx: ApiContext,
}

impl ReservationService {
    /// The service over `ctx`'s region, accepting `ctx`'s tokens.
    pub fn new(ctx: ApiContext) -> Self {
        Self { ctx }
    }

    /// The caller of `request`, if it may call this API at all (a service
    /// or an operator).
    fn caller<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        let principal = self.ctx.authenticate(request)?;
        principal.require_service()?;
        Ok(principal)
    }
}

/// A linearizable read of the `kind` (hold, cart, ...) with id `id`, which
/// `find` looks up; `NOT_FOUND` when it is not there.
async fn get<T>(
    ctx: &ApiContext,
    kind: &'static str,
    id: &str,
    find: impl FnOnce(&Ledger) -> Option<T>,
) -> Result<T, Status> {
    let found = ctx.read(Consistency::Linearizable, find).await?.value;
    found.ok_or_else(|| Status::not_found(format!("unknown {kind} `{id}`")))
}

#[tonic::async_trait]
impl Reservations for ReservationService {
    async fn reserve(&self, request: Request<ReserveRequest>) -> Result<Response<ReserveResponse>, Status> {
        let principal = self.caller(&request)?;
        holds::reserve(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn reserve_many(
        &self,
        request: Request<ReserveManyRequest>,
    ) -> Result<Response<ReserveManyResponse>, Status> {
        let principal = self.caller(&request)?;
        holds::reserve_many(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn commit_hold(&self, request: Request<CommitHoldRequest>) -> Result<Response<CommitHoldResponse>, Status> {
        let principal = self.caller(&request)?;
        holds::commit_hold(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn release_hold(
        &self,
        request: Request<ReleaseHoldRequest>,
    ) -> Result<Response<ReleaseHoldResponse>, Status> {
        let principal = self.caller(&request)?;
        holds::release_hold(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn get_hold(&self, request: Request<GetHoldRequest>) -> Result<Response<Hold>, Status> {
        self.caller(&request)?;
        holds::get_hold(&self.ctx, request.into_inner()).await.map(Response::new)
    }

    async fn add_to_cart(&self, request: Request<AddToCartRequest>) -> Result<Response<CartResponse>, Status> {
        let principal = self.caller(&request)?;
        carts::add_to_cart(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn set_cart_line(&self, request: Request<SetCartLineRequest>) -> Result<Response<CartResponse>, Status> {
        let principal = self.caller(&request)?;
        carts::set_cart_line(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn remove_from_cart(
        &self,
        request: Request<RemoveFromCartRequest>,
    ) -> Result<Response<CartResponse>, Status> {
        let principal = self.caller(&request)?;
        carts::remove_from_cart(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn clear_cart(&self, request: Request<ClearCartRequest>) -> Result<Response<CartResponse>, Status> {
        let principal = self.caller(&request)?;
        carts::clear_cart(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn merge_carts(&self, request: Request<MergeCartsRequest>) -> Result<Response<CartResponse>, Status> {
        let principal = self.caller(&request)?;
        carts::merge_carts(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn get_cart(&self, request: Request<GetCartRequest>) -> Result<Response<Cart>, Status> {
        self.caller(&request)?;
        carts::get_cart(&self.ctx, request.into_inner()).await.map(Response::new)
    }

    async fn start_checkout(
        &self,
        request: Request<StartCheckoutRequest>,
    ) -> Result<Response<CheckoutResponse>, Status> {
        let principal = self.caller(&request)?;
        checkouts::start_checkout(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn record_checkout_step(
        &self,
        request: Request<RecordCheckoutStepRequest>,
    ) -> Result<Response<CheckoutResponse>, Status> {
        let principal = self.caller(&request)?;
        checkouts::record_checkout_step(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn get_checkout(&self, request: Request<GetCheckoutRequest>) -> Result<Response<Checkout>, Status> {
        self.caller(&request)?;
        checkouts::get_checkout(&self.ctx, request.into_inner()).await.map(Response::new)
    }

    async fn get_order(&self, request: Request<GetOrderRequest>) -> Result<Response<Order>, Status> {
        self.caller(&request)?;
        orders::get_order(&self.ctx, request.into_inner()).await.map(Response::new)
    }

    async fn list_orders(&self, request: Request<ListOrdersRequest>) -> Result<Response<ListOrdersResponse>, Status> {
        self.caller(&request)?;
        orders::list_orders(&self.ctx, request.into_inner()).await.map(Response::new)
    }

    async fn advance_order(&self, request: Request<AdvanceOrderRequest>) -> Result<Response<OrderResponse>, Status> {
        let principal = self.caller(&request)?;
        orders::advance_order(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn cancel_order(&self, request: Request<CancelOrderRequest>) -> Result<Response<OrderResponse>, Status> {
        let principal = self.caller(&request)?;
        orders::cancel_order(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn return_order(&self, request: Request<ReturnOrderRequest>) -> Result<Response<OrderResponse>, Status> {
        let principal = self.caller(&request)?;
        orders::return_order(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }
}

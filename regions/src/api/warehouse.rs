//! `WarehouseInventory`: the warehouse API (`warehouse.proto`).
//!
//! **API Boundary.** Every call authenticates its bearer token, then checks
//! the caller may touch the warehouse it names (a warehouse token only its
//! own; for a transfer, the sender), then validates every field, and only
//! then proposes a command (writes) or reads the applied ledger
//! (linearizably on the leader). A request refused at any of those steps
//! changes nothing.
//!
//! - `adjust`: AdjustStock and CycleCount, one posting each.
//! - `levels`: GetLevels, and the level query WatchLevels shares.
//! - `journal`: ListJournal, and finding the entries a command posted.
//! - `shipment`: ConfirmShipment.
//! - `transfer`: Transfer.
//! - `watch`: WatchLevels, the level stream.
//!
//! Quantities past the ledger's bound (10^12) fail with `OUT_OF_RANGE`,
//! as `warehouse.proto` says of any change past it; a missing or zero
//! quantity with `INVALID_ARGUMENT`.

mod adjust;
mod journal;
mod levels;
mod shipment;
mod transfer;
mod watch;

use std::sync::Arc;

use protos::warehouse::warehouse_inventory_server::WarehouseInventory;
use protos::warehouse::{
    AdjustStockRequest, AdjustStockResponse, ConfirmShipmentRequest, ConfirmShipmentResponse, CycleCountRequest,
    CycleCountResponse, GetLevelsRequest, GetLevelsResponse, LevelUpdate, ListJournalRequest, ListJournalResponse,
    TransferRequest, TransferResponse, WatchLevelsRequest,
};
use tokio::sync::Semaphore;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::api::ApiContext;

pub use watch::{MAX_WATCHERS, WATCH_BUFFER};

/// The `WarehouseInventory` service of a node. Cheap to clone: clones share
/// the node's context and its limit on concurrent watchers.
#[derive(Clone, Debug)]
pub struct WarehouseService {
    /// The hosted region and the accepted tokens.
    ctx: ApiContext,
    /// One permit per open WatchLevels stream: each costs a task and a diff
    /// per applied entry, so their number is bounded ([`MAX_WATCHERS`]).
    watchers: Arc<Semaphore>,
}

impl WarehouseService {
    /// The service over `ctx`'s region, accepting `ctx`'s tokens.
    pub fn new(ctx: ApiContext) -> Self {
        Self { ctx, watchers: Arc::new(Semaphore::new(MAX_WATCHERS)) }
    }
}

#[tonic::async_trait]
impl WarehouseInventory for WarehouseService {
    async fn adjust_stock(
        &self,
        request: Request<AdjustStockRequest>,
    ) -> Result<Response<AdjustStockResponse>, Status> {
        let principal = self.ctx.authenticate(&request)?;
        adjust::adjust_stock(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn cycle_count(&self, request: Request<CycleCountRequest>) -> Result<Response<CycleCountResponse>, Status> {
        let principal = self.ctx.authenticate(&request)?;
        adjust::cycle_count(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn get_levels(&self, request: Request<GetLevelsRequest>) -> Result<Response<GetLevelsResponse>, Status> {
        let principal = self.ctx.authenticate(&request)?;
        levels::get_levels(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn list_journal(
        &self,
        request: Request<ListJournalRequest>,
    ) -> Result<Response<ListJournalResponse>, Status> {
        let principal = self.ctx.authenticate(&request)?;
        journal::list_journal(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn confirm_shipment(
        &self,
        request: Request<ConfirmShipmentRequest>,
    ) -> Result<Response<ConfirmShipmentResponse>, Status> {
        let principal = self.ctx.authenticate(&request)?;
        shipment::confirm_shipment(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    async fn transfer(&self, request: Request<TransferRequest>) -> Result<Response<TransferResponse>, Status> {
        let principal = self.ctx.authenticate(&request)?;
        transfer::transfer(&self.ctx, &principal, request.into_inner()).await.map(Response::new)
    }

    type WatchLevelsStream = ReceiverStream<Result<LevelUpdate, Status>>;

    async fn watch_levels(
        &self,
        request: Request<WatchLevelsRequest>,
    ) -> Result<Response<Self::WatchLevelsStream>, Status> {
        let principal = self.ctx.authenticate(&request)?;
        watch::watch_levels(&self.ctx, &self.watchers, &principal, request.into_inner()).await.map(Response::new)
    }
}

//! Opening a region for the workloads: register its warehouses and receive
//! the opening stock, each receipt recorded like any other op (so the
//! checkers account for every unit).

use anyhow::Context as _;
use protos::admin::Warehouse;
use region_client::RegionClient;

use super::Worker;
use crate::chaos::history::{Adjustment, Outcome};
use crate::seed;

/// Registers every warehouse of `worker`'s catalog (with `admin`, the admin
/// token) and receives its opening stock through `worker`, `hot_stock`
/// units of the hot SKU. Fails unless every receipt was acknowledged.
pub async fn open_region(admin: &RegionClient, worker: &Worker, hot_stock: u64) -> anyhow::Result<()> {
    let catalog = worker.catalog.clone();
    for (priority, warehouse_id) in (1..).zip(&catalog.warehouses) {
        let warehouse = Warehouse {
            warehouse_id: warehouse_id.clone(),
            region: catalog.region.clone(),
            name: format!("Chaos warehouse {priority}"),
            location: "127.0.0.1".into(),
            priority,
        };
        seed::register_warehouse(admin, &format!("register-{warehouse_id}"), warehouse)
            .await
            .with_context(|| format!("registering {warehouse_id}"))?;
    }
    for (warehouse, sku, quantity) in catalog.opening_stock(hot_stock) {
        let kind = worker.adjustment(Adjustment::Receive, &warehouse, &sku, quantity);
        let done = worker.submit(kind).await;
        anyhow::ensure!(
            done.op.outcome == Outcome::Ok,
            "the opening stock of {sku} at {warehouse} could not be received ({})",
            done.op.error.unwrap_or_default()
        );
    }
    Ok(())
}

//! The final read phase of one region, after the faults are healed: wait
//! until the short-lived holds have ended, then read every hold and order
//! the history named, every level of the catalog and the whole stock
//! journal. All reads are linearizable reads on the leader; with the load
//! stopped and the short holds ended, nothing changes between them.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use protos::common::PageRequest;
use protos::reservation::reservations_client::ReservationsClient;
use protos::reservation::{GetHoldRequest, GetOrderRequest, HoldState};
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;
use protos::warehouse::{GetLevelsRequest, ListJournalRequest};
use region_client::{ClientError, RegionClient};

use super::checker::lifecycle::SHORT_TTL_MAX_MS;
use super::checker::{Claim, FinalHold, FinalOrder, FinalOrderLine, FinalState, HoldStatus, JournalRecord};
use super::history::{Op, OpKind};
use super::workload::Catalog;
use super::workload::calls::level_of;

/// Concurrent `GetHold` / `GetOrder` reads.
const READ_CONCURRENCY: usize = 16;

/// Journal entries asked for per page (the most a page may hold).
const JOURNAL_PAGE: u32 = 500;

/// Most journal pages read (a bound on the loop, far above any run's).
const JOURNAL_PAGES_MAX: usize = 10_000;

/// How long past the longest short TTL the phase waits for short holds to
/// end (the leader's expiry tick runs about every second).
const EXPIRY_SLACK: Duration = Duration::from_secs(10);

/// Pause between polls of the short holds still pending.
const EXPIRY_POLL: Duration = Duration::from_millis(250);

/// Reads `catalog`'s region through `reader` (admin token) after `history`
/// ran there. The replicas are left empty: the caller polls them.
pub async fn read(reader: &RegionClient, catalog: &Catalog, history: &[Op]) -> anyhow::Result<FinalState> {
    let region = history.iter().filter(|op| op.region == catalog.region);
    let mut hold_ids = Vec::new();
    let mut order_ids = Vec::new();
    let mut short = Vec::new();
    let mut short_ttl_ms = 0;
    for op in region {
        match &op.kind {
            OpKind::Reserve { hold_id, ttl_ms, .. } => {
                hold_ids.push(hold_id.clone());
                if *ttl_ms <= SHORT_TTL_MAX_MS {
                    short.push(hold_id.clone());
                    short_ttl_ms = short_ttl_ms.max(*ttl_ms);
                }
            }
            OpKind::Commit { order_id, .. } => order_ids.push(order_id.clone()),
            _ => {}
        }
    }
    for ids in [&mut hold_ids, &mut order_ids, &mut short] {
        ids.sort();
        ids.dedup();
    }
    wait_short_holds(reader, short, Duration::from_millis(short_ttl_ms)).await?;
    let holds = read_each(reader, hold_ids, read_hold).await?;
    let orders = read_each(reader, order_ids, read_order).await?;
    let levels = read_levels(reader, catalog).await?;
    let journal = read_journal(reader).await?;
    Ok(FinalState { levels, holds, orders, journal, ..FinalState::default() })
}

/// Polls the short holds until none is pending, for at most `ttl` (the
/// longest of theirs) plus [`EXPIRY_SLACK`]; the hold-lifecycle checker
/// judges any still pending after that.
async fn wait_short_holds(reader: &RegionClient, mut pending: Vec<String>, ttl: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + ttl + EXPIRY_SLACK;
    while !pending.is_empty() && Instant::now() < deadline {
        let read = read_each(reader, pending, read_hold).await?;
        pending = read
            .into_iter()
            .filter(|(_, hold)| hold.as_ref().is_some_and(|h| h.status == HoldStatus::Pending))
            .map(|(id, _)| id)
            .collect();
        if !pending.is_empty() {
            tokio::time::sleep(EXPIRY_POLL).await;
        }
    }
    Ok(())
}

/// Reads every id with `read_one`, [`READ_CONCURRENCY`] at a time.
async fn read_each<T, F, Fut>(
    reader: &RegionClient,
    ids: Vec<String>,
    read_one: F,
) -> anyhow::Result<BTreeMap<String, Option<T>>>
where
    T: Send + 'static,
    F: Fn(RegionClient, String) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = anyhow::Result<Option<T>>> + Send,
{
    let mut tasks = tokio::task::JoinSet::new();
    let chunk = ids.len().div_ceil(READ_CONCURRENCY).max(1);
    for part in ids.chunks(chunk) {
        let (reader, part) = (reader.clone(), part.to_vec());
        tasks.spawn(async move {
            let mut found = Vec::with_capacity(part.len());
            for id in part {
                let value = read_one(reader.clone(), id.clone()).await?;
                found.push((id, value));
            }
            anyhow::Ok(found)
        });
    }
    let mut all = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.context("a read task failed")??);
    }
    Ok(all)
}

/// `None` for a `NOT_FOUND` answer; the error otherwise.
fn found<T>(result: Result<T, ClientError>, what: &str) -> anyhow::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ClientError::Rejected { status, .. }) if status.code() == tonic::Code::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {what}")),
    }
}

async fn read_hold(reader: RegionClient, hold_id: String) -> anyhow::Result<Option<FinalHold>> {
    let request = GetHoldRequest { hold_id: hold_id.clone() };
    let result = reader
        .call("Reservations/GetHold", request, |channel, request| async move {
            ReservationsClient::new(channel).get_hold(request).await
        })
        .await;
    let Some(hold) = found(result, &format!("hold {hold_id}"))? else { return Ok(None) };
    let status = match HoldState::try_from(hold.state) {
        Ok(HoldState::Pending) => HoldStatus::Pending,
        Ok(HoldState::Committed) => HoldStatus::Committed,
        Ok(HoldState::Released) => HoldStatus::Released,
        Ok(HoldState::Expired) => HoldStatus::Expired,
        other => anyhow::bail!("hold {hold_id} has an unknown state {other:?}"),
    };
    let allocations = hold
        .allocations
        .into_iter()
        .map(|a| Claim { sku: a.sku, warehouse: a.warehouse_id, quantity: a.quantity })
        .collect();
    Ok(Some(FinalHold { status, allocations }))
}

async fn read_order(reader: RegionClient, order_id: String) -> anyhow::Result<Option<FinalOrder>> {
    let request = GetOrderRequest { order_id: order_id.clone() };
    let result = reader
        .call("Reservations/GetOrder", request, |channel, request| async move {
            ReservationsClient::new(channel).get_order(request).await
        })
        .await;
    let Some(order) = found(result, &format!("order {order_id}"))? else { return Ok(None) };
    let lines = order
        .lines
        .into_iter()
        .map(|l| FinalOrderLine {
            claim: Claim { sku: l.sku, warehouse: l.warehouse_id, quantity: l.quantity },
            shipped: l.shipped,
        })
        .collect();
    Ok(Some(FinalOrder { hold_id: order.hold_id, lines }))
}

/// Every SKU of the catalog at every warehouse of it.
async fn read_levels(reader: &RegionClient, catalog: &Catalog) -> anyhow::Result<Vec<super::history::Level>> {
    let skus: Vec<String> = std::iter::once(catalog.hot_sku.clone()).chain(catalog.skus.iter().cloned()).collect();
    let mut levels = Vec::new();
    for warehouse in &catalog.warehouses {
        let request =
            GetLevelsRequest { warehouse_id: warehouse.clone(), skus: skus.clone(), page: None, stale: false };
        let response = reader
            .call("WarehouseInventory/GetLevels", request, |channel, request| async move {
                WarehouseInventoryClient::new(channel).get_levels(request).await
            })
            .await
            .with_context(|| format!("reading the levels of {warehouse}"))?;
        for sku in &skus {
            let level = response
                .levels
                .iter()
                .find(|l| l.sku == *sku && l.warehouse_id == *warehouse)
                .with_context(|| format!("the levels of {warehouse} do not include {sku}"))?;
            levels.push(level_of(level.clone()));
        }
    }
    Ok(levels)
}

/// The region's whole journal, every warehouse, page by page.
async fn read_journal(reader: &RegionClient) -> anyhow::Result<Vec<JournalRecord>> {
    let mut journal = Vec::new();
    let mut cursor = String::new();
    for _ in 0..JOURNAL_PAGES_MAX {
        let request = ListJournalRequest {
            page: Some(PageRequest { cursor: cursor.clone(), limit: JOURNAL_PAGE }),
            ..ListJournalRequest::default()
        };
        let response = reader
            .call("WarehouseInventory/ListJournal", request, |channel, request| async move {
                WarehouseInventoryClient::new(channel).list_journal(request).await
            })
            .await
            .context("reading the journal")?;
        journal.extend(response.entries.into_iter().map(|e| JournalRecord {
            command_id: e.command_id,
            warehouse: e.warehouse_id,
            sku: e.sku,
            on_hand_delta: e.on_hand_delta,
            damaged_delta: e.damaged_delta,
        }));
        match response.page {
            Some(page) if page.has_more => cursor = page.next_cursor,
            _ => return Ok(journal),
        }
    }
    anyhow::bail!("the journal has more than {JOURNAL_PAGES_MAX} pages")
}

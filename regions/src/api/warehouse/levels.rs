//! GetLevels, and [`LevelQuery`], the set of levels a read or a watch
//! covers.

use ledger::Ledger;
use ledger::ids::{Sku, WarehouseId};
use ledger::stock::StockLevel;
use protos::common::PageInfo;
use protos::warehouse::{GetLevelsRequest, GetLevelsResponse};
use tonic::Status;

use crate::api::ApiContext;
use crate::api::convert::input::{optional_id, skus};
use crate::api::convert::page::{CursorKey, cut, page};
use crate::api::convert::stock::stock_level;
use crate::auth::Principal;
use crate::region::{Consistency, Read};

/// One level: where, what, how much.
pub(super) type Level = (WarehouseId, Sku, StockLevel);

/// Which levels a read or a watch covers: one warehouse or all of the
/// region's, and named SKUs or every SKU ever posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LevelQuery {
    /// `None`: every warehouse of the region.
    pub(super) warehouse: Option<WarehouseId>,
    /// Sorted, without duplicates; empty: every SKU with a level.
    pub(super) skus: Vec<Sku>,
}

impl LevelQuery {
    /// The query of a request's `warehouse_id` (empty: all) and `skus`
    /// (empty: all, at most 1000).
    pub(super) fn of(warehouse_id: &str, requested: &[String]) -> Result<Self, Status> {
        Ok(Self { warehouse: optional_id("warehouse_id", warehouse_id)?, skus: skus("skus", requested)? })
    }

    /// The levels the query covers, ordered by `(warehouse, sku)`. Named
    /// SKUs read as zeros where nothing was ever posted; without SKUs, only
    /// levels that exist are listed. A named warehouse that is not
    /// registered is `NOT_FOUND`.
    ///
    /// Runs under the ledger's read lock (apply waits): it only collects,
    /// at O(covered levels); callers sort and convert after.
    fn collect(&self, ledger: &Ledger) -> Result<Vec<Level>, Status> {
        if let Some(named) = &self.warehouse {
            require_warehouse(ledger, named)?;
        }
        let covered = |warehouse: &WarehouseId| self.warehouse.as_ref().is_none_or(|named| named == warehouse);
        if self.skus.is_empty() {
            return Ok(ledger
                .levels()
                .into_iter()
                .filter(|(_, warehouse, _)| covered(warehouse))
                .map(|(sku, warehouse, level)| (warehouse.clone(), sku.clone(), *level))
                .collect());
        }
        Ok(ledger
            .warehouses()
            .map(|w| &w.id)
            .filter(|warehouse| covered(warehouse))
            .flat_map(|warehouse| {
                self.skus.iter().map(|sku| (warehouse.clone(), sku.clone(), ledger.level(sku, warehouse)))
            })
            .collect())
    }

    /// Reads the covered levels with `consistency`, ordered by
    /// `(warehouse, sku)`, and the log index they were read at.
    pub(super) async fn read(&self, ctx: &ApiContext, consistency: Consistency) -> Result<Read<Vec<Level>>, Status> {
        let Read { value, applied_index } = ctx.read(consistency, |ledger| self.collect(ledger)).await?;
        let mut levels = value?;
        // Outside the lock: apply need not wait for the sort.
        levels.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(Read { value: levels, applied_index })
    }
}

/// Serves GetLevels: the named SKUs' levels at once, or every level page by
/// page (ordered by `(warehouse, sku)`, the cursor naming the last pair).
pub(super) async fn get_levels(
    ctx: &ApiContext,
    principal: &Principal,
    request: GetLevelsRequest,
) -> Result<GetLevelsResponse, Status> {
    principal.may_read_warehouse(&request.warehouse_id)?;
    let query = LevelQuery::of(&request.warehouse_id, &request.skus)?;
    // The page is ignored when SKUs are named (the contract says so).
    let page = if query.skus.is_empty() { Some(page::<LevelKey>(request.page.as_ref())?) } else { None };
    let consistency = if request.stale { Consistency::Stale } else { Consistency::Linearizable };
    let Read { value: levels, applied_index } = query.read(ctx, consistency).await?;
    let (levels, info) = match page {
        None => (levels, PageInfo::default()),
        Some(page) => {
            let start = page.after.map_or(0, |after| levels.partition_point(|level| LevelKey::of(level) <= after));
            cut(levels.into_iter().skip(start), page.limit, LevelKey::of)
        }
    };
    Ok(GetLevelsResponse {
        levels: levels.iter().map(|(warehouse, sku, level)| stock_level(warehouse, sku, level)).collect(),
        page: Some(info),
        applied_index,
    })
}

/// `NOT_FOUND` unless `warehouse` is registered in the region.
pub(super) fn require_warehouse(ledger: &Ledger, warehouse: &WarehouseId) -> Result<(), Status> {
    if ledger.warehouses().any(|known| &known.id == warehouse) {
        Ok(())
    } else {
        Err(Status::not_found(format!("unknown warehouse `{warehouse}`")))
    }
}

/// The sort key of the level listing: `(warehouse, sku)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct LevelKey {
    warehouse: String,
    sku: String,
}

impl LevelKey {
    fn of(level: &Level) -> Self {
        Self { warehouse: level.0.to_string(), sku: level.1.to_string() }
    }
}

impl CursorKey for LevelKey {
    const LISTING: &'static str = "levels";

    fn to_parts(&self) -> Vec<String> {
        vec![self.warehouse.clone(), self.sku.clone()]
    }

    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [warehouse, sku] => Some(Self { warehouse: warehouse.clone(), sku: sku.clone() }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use ledger::LedgerConfig;
    use ledger::command::{AdjustStock, Adjustment, RegisterWarehouse};
    use ledger::{Command, Envelope};

    use super::*;

    fn ledger_with(postings: &[(&str, &str, u64)]) -> Ledger {
        let mut ledger = Ledger::new(LedgerConfig::new("eu"));
        let mut apply = |n: usize, command: Command| {
            let envelope = Envelope { id: format!("c-{n}").into(), now_ms: 1, actor: "test".into(), command };
            ledger.apply(&envelope).result.expect("applies");
        };
        for (n, warehouse) in ["wh-a", "wh-b"].into_iter().enumerate() {
            let register = RegisterWarehouse {
                warehouse: warehouse.into(),
                region: "eu".into(),
                name: String::new(),
                location: String::new(),
                priority: 0,
            };
            apply(n, Command::RegisterWarehouse(register));
        }
        for (n, (warehouse, sku, qty)) in postings.iter().enumerate() {
            let adjust = AdjustStock {
                warehouse: (*warehouse).into(),
                sku: (*sku).into(),
                adjustment: Adjustment::Received { qty: *qty },
                expected_on_hand: None,
                reference: String::new(),
            };
            apply(n + 10, Command::AdjustStock(adjust));
        }
        ledger
    }

    fn keys(levels: &[Level]) -> Vec<(String, String, u64)> {
        let mut keys: Vec<_> = levels.iter().map(|(w, s, l)| (w.to_string(), s.to_string(), l.on_hand)).collect();
        keys.sort();
        keys
    }

    fn row(warehouse: &str, sku: &str, on_hand: u64) -> (String, String, u64) {
        (warehouse.into(), sku.into(), on_hand)
    }

    #[test]
    fn named_skus_read_as_zeros_where_never_posted() {
        let ledger = ledger_with(&[("wh-a", "s-1", 3)]);
        let query = LevelQuery::of("", &["s-2".into(), "s-1".into()]).unwrap();
        assert_eq!(
            keys(&query.collect(&ledger).unwrap()),
            [row("wh-a", "s-1", 3), row("wh-a", "s-2", 0), row("wh-b", "s-1", 0), row("wh-b", "s-2", 0)]
        );
        let one = LevelQuery::of("wh-b", &["s-1".into()]).unwrap();
        assert_eq!(keys(&one.collect(&ledger).unwrap()), [row("wh-b", "s-1", 0)]);
    }

    #[test]
    fn without_skus_only_existing_levels_of_the_warehouse_are_listed() {
        let ledger = ledger_with(&[("wh-a", "s-1", 3), ("wh-b", "s-2", 4), ("wh-a", "s-3", 5)]);
        let query = LevelQuery::of("wh-a", &[]).unwrap();
        assert_eq!(keys(&query.collect(&ledger).unwrap()), [row("wh-a", "s-1", 3), row("wh-a", "s-3", 5)]);
        let all = LevelQuery::of("", &[]).unwrap();
        assert_eq!(all.collect(&ledger).unwrap().len(), 3);
    }

    #[test]
    fn an_unknown_warehouse_is_not_found() {
        let ledger = ledger_with(&[]);
        let query = LevelQuery::of("wh-z", &[]).unwrap();
        assert_eq!(query.collect(&ledger).unwrap_err().code(), tonic::Code::NotFound);
    }
}

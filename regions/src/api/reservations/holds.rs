//! Reserve, ReserveMany, CommitHold, ReleaseHold, GetHold.

use futures_util::future::join_all;
use ledger::command::{CommitHold, HoldLine, ReleaseHold, Reserve};
use ledger::holds::{Hold, HoldStatus};
use ledger::ids::{HoldId, WarehouseId};
use ledger::{Command, LedgerConfig, Outcome};
use protos::common::ItemError;
use protos::reservation as pb;
use protos::reservation::reserve_result::Outcome as ReserveOutcome;
use tonic::{Code, Status};
use tracing::Instrument as _;

use super::get;
use crate::api::ApiContext;
use crate::api::convert::holds::{hold, split_mode_of};
use crate::api::convert::input::{Field, id, invalid, list_len, optional_id, positive};
use crate::api::convert::orders::order;
use crate::api::convert::{read_back, unexpected};
use crate::auth::Principal;
use crate::region::Consistency;

/// Most warehouses a reservation's policy may prefer.
const MAX_PREFERRED_WAREHOUSES: usize = 1_000;

/// Serves Reserve. The answer is built from the request and the ledger's
/// outcome alone (the hold as placed), so a replayed retry answers exactly
/// what the first attempt did, even if the hold has ended since.
pub(super) async fn reserve(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::ReserveRequest,
) -> Result<pb::ReserveResponse, Status> {
    let command = reserve_of(&request, ctx.region.limits())?;
    require_registered(ctx, &command.preferred_warehouses).await?;
    let (hold_id, owner, ttl_ms) = (command.hold_id.clone(), command.owner.clone(), command.ttl_ms);
    let written = ctx.write(principal, &request.command_id, Command::Reserve(command)).await?;
    let Outcome::Reserved { allocations, expires_at_ms } = written.outcome else {
        return Err(unexpected(&written.outcome));
    };
    let placed = Hold {
        id: hold_id,
        owner,
        allocations,
        // The ledger set the deadline to its time plus the TTL.
        created_at_ms: expires_at_ms.saturating_sub(ttl_ms),
        expires_at_ms,
        status: HoldStatus::Pending,
        ended_at_ms: None,
    };
    Ok(pb::ReserveResponse { hold: Some(hold(&placed)), applied_index: written.applied_index })
}

/// Serves ReserveMany: every item as [`reserve`] would, all proposed at
/// once so that they share Raft entries. An item refused for a reason of
/// its own is answered alone; a failure that concerns the region (see
/// [`fails_the_call`]) fails the whole call, so the client resends it whole
/// under the same command ids.
pub(super) async fn reserve_many(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::ReserveManyRequest,
) -> Result<pb::ReserveManyResponse, Status> {
    list_len("reservations", request.reservations.len(), 1, pb::RESERVE_MANY_MAX)?;
    let items = request.reservations.into_iter().map(|item| {
        let span =
            tracing::debug_span!("reserve_item", command_id = tracing::field::Empty, index = tracing::field::Empty);
        reserve(ctx, principal, item).instrument(span)
    });
    let mut results = Vec::with_capacity(items.len());
    for answer in join_all(items).await {
        let outcome = match answer {
            Ok(reserved) => ReserveOutcome::Reserved(reserved),
            Err(status) if fails_the_call(&status) => return Err(status),
            Err(status) => ReserveOutcome::Error(ItemError::from(&status)),
        };
        results.push(pb::ReserveResult { outcome: Some(outcome) });
    }
    Ok(pb::ReserveManyResponse { results })
}

/// Whether an item's failure is the region's rather than the item's: not
/// the leader, no quorum, an outcome left open. A client retries those, and
/// the item's batch-mates met the same condition, so the call fails whole.
fn fails_the_call(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled)
}

/// Serves CommitHold: answers the order it created.
pub(super) async fn commit_hold(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::CommitHoldRequest,
) -> Result<pb::CommitHoldResponse, Status> {
    let command =
        CommitHold { hold_id: id("hold_id", &request.hold_id)?, order_id: id("order_id", &request.order_id)? };
    let written = ctx.write(principal, &request.command_id, Command::CommitHold(command)).await?;
    let Outcome::HoldCommitted { order_id } = &written.outcome else { return Err(unexpected(&written.outcome)) };
    let created = read_back(ctx, "the committed order", |ledger| ledger.order(order_id).map(order)).await?;
    Ok(pb::CommitHoldResponse { order: Some(created), applied_index: written.applied_index })
}

/// Serves ReleaseHold: answers the hold, now released.
pub(super) async fn release_hold(
    ctx: &ApiContext,
    principal: &Principal,
    request: pb::ReleaseHoldRequest,
) -> Result<pb::ReleaseHoldResponse, Status> {
    let hold_id: HoldId = id("hold_id", &request.hold_id)?;
    let command = ReleaseHold { hold_id: hold_id.clone() };
    let written = ctx.write(principal, &request.command_id, Command::ReleaseHold(command)).await?;
    let Outcome::HoldReleased = written.outcome else { return Err(unexpected(&written.outcome)) };
    let released = read_back(ctx, "the released hold", |ledger| ledger.hold(&hold_id).as_deref().map(hold)).await?;
    Ok(pb::ReleaseHoldResponse { hold: Some(released), applied_index: written.applied_index })
}

/// Serves GetHold: pending holds, and ended ones within the retention
/// window.
pub(super) async fn get_hold(ctx: &ApiContext, request: pb::GetHoldRequest) -> Result<pb::Hold, Status> {
    let hold_id: HoldId = id("hold_id", &request.hold_id)?;
    get(ctx, "hold", &request.hold_id, |ledger| ledger.hold(&hold_id).as_deref().map(hold)).await
}

/// `INVALID_ARGUMENT` naming the first preferred warehouse the region does
/// not have. Warehouses are never removed, so this replica's applied state
/// (the leader's, where writes go) answers exactly; the ledger checks again
/// when it applies, and this check only names the field as the proto does.
async fn require_registered(ctx: &ApiContext, preferred: &[WarehouseId]) -> Result<(), Status> {
    if preferred.is_empty() {
        // Nothing to check: the common case takes no lock.
        return Ok(());
    }
    let unknown = ctx
        .read(Consistency::Stale, |ledger| {
            preferred.iter().position(|warehouse| !ledger.warehouses().any(|known| &known.id == warehouse))
        })
        .await?
        .value;
    match unknown {
        None => Ok(()),
        Some(i) => Err(invalid(
            Field::Item("policy.preferred_warehouse_ids", i),
            format!("unknown warehouse `{}` in region `{}`", preferred[i], ctx.region.region()),
        )),
    }
}

/// The ledger's command for a Reserve request, every field checked against
/// the contract and the region's limits.
fn reserve_of(request: &pb::ReserveRequest, limits: &LedgerConfig) -> Result<Reserve, Status> {
    let max_lines = usize::try_from(limits.max_lines_per_command).unwrap_or(usize::MAX);
    list_len("lines", request.lines.len(), 1, max_lines)?;
    let lines = request.lines.iter().enumerate().map(|(i, line)| {
        Ok(HoldLine {
            sku: id(Field::Member("lines", i, "sku"), &line.sku)?,
            qty: positive(Field::Member("lines", i, "quantity"), line.quantity)?,
        })
    });
    // No policy: any warehouse of the region, by priority, split allowed.
    let policy = request.policy.clone().unwrap_or(pb::AllocationPolicy {
        preferred_warehouse_ids: Vec::new(),
        mode: pb::SplitMode::SplitAllowed as i32,
    });
    let preferred = "policy.preferred_warehouse_ids";
    list_len(preferred, policy.preferred_warehouse_ids.len(), 0, MAX_PREFERRED_WAREHOUSES)?;
    let preferred_warehouses = policy
        .preferred_warehouse_ids
        .iter()
        .enumerate()
        .map(|(i, warehouse)| id(Field::Item(preferred, i), warehouse));
    if request.ttl_ms == 0 || request.ttl_ms > limits.max_hold_ttl_ms {
        return Err(invalid(
            "ttl_ms",
            format!("must be between 1 and {} (the region's maximum)", limits.max_hold_ttl_ms),
        ));
    }
    Ok(Reserve {
        hold_id: id("hold_id", &request.hold_id)?,
        lines: lines.collect::<Result<_, Status>>()?,
        preferred_warehouses: preferred_warehouses.collect::<Result<Vec<WarehouseId>, Status>>()?,
        split: split_mode_of("policy.mode", policy.mode)?,
        ttl_ms: request.ttl_ms,
        owner: optional_id("owner", &request.owner)?,
    })
}

#[cfg(test)]
mod tests {
    use ledger::command::Split;

    use super::*;

    fn request() -> pb::ReserveRequest {
        pb::ReserveRequest {
            command_id: "c-1".into(),
            hold_id: "h-1".into(),
            lines: vec![pb::ReserveLine { sku: "s-1".into(), quantity: 2 }],
            policy: Some(pb::AllocationPolicy {
                preferred_warehouse_ids: vec!["wh-2".into()],
                mode: pb::SplitMode::SplitAllowed.into(),
            }),
            ttl_ms: 60_000,
            owner: String::new(),
        }
    }

    /// The field a bad request's error names (from its message).
    fn refused(change: impl FnOnce(&mut pb::ReserveRequest)) -> String {
        let mut request = request();
        change(&mut request);
        let status = reserve_of(&request, &LedgerConfig::new("eu")).unwrap_err();
        status.message().to_owned()
    }

    #[test]
    fn a_valid_request_becomes_the_ledgers_command() {
        let command = reserve_of(&request(), &LedgerConfig::new("eu")).unwrap();
        assert_eq!(command.lines, vec![HoldLine { sku: "s-1".into(), qty: 2 }]);
        assert_eq!(command.preferred_warehouses, vec![WarehouseId::from("wh-2")]);
        assert_eq!((command.split, command.ttl_ms, command.owner), (Split::Allowed, 60_000, None));
        let mut without_policy = request();
        without_policy.policy = None;
        let command = reserve_of(&without_policy, &LedgerConfig::new("eu")).unwrap();
        assert_eq!((command.split, command.preferred_warehouses), (Split::Allowed, Vec::new()), "the default policy");
    }

    #[test]
    fn every_bad_field_is_named() {
        assert!(refused(|r| r.lines.clear()).contains("lines"));
        assert!(refused(|r| r.lines[0].quantity = 0).contains("lines[0].quantity"));
        assert!(
            refused(|r| r.lines.push(pb::ReserveLine { sku: String::new(), quantity: 1 })).contains("lines[1].sku")
        );
        assert!(refused(|r| r.lines = vec![pb::ReserveLine { sku: "s".into(), quantity: 1 }; 101]).contains("lines"));
        assert!(refused(|r| r.policy.as_mut().unwrap().mode = 0).contains("policy.mode"));
        assert!(refused(|r| r.policy.as_mut().unwrap().mode = 7).contains("policy.mode"));
        let empty_preferred =
            |r: &mut pb::ReserveRequest| r.policy.as_mut().unwrap().preferred_warehouse_ids.push(String::new());
        assert!(refused(empty_preferred).contains("policy.preferred_warehouse_ids[1]"));
        assert!(refused(|r| r.ttl_ms = 0).contains("ttl_ms"));
        assert!(refused(|r| r.ttl_ms = 60 * 60 * 1000 + 1).contains("ttl_ms"));
        assert!(refused(|r| r.hold_id = "h".repeat(256)).contains("hold_id"));
        assert!(refused(|r| r.owner = "\u{7}".into()).contains("owner"));
    }
}

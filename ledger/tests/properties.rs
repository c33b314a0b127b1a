//! Properties of the ledger over random command logs (see `support` for what
//! the logs contain). Each test proves, for every generated log:
//!
//! - `every_command_keeps_the_invariants`: after every command
//!   `check_invariants()` is Ok, every level's `available()` works, and an
//!   independent recount agrees (on-hand, damaged and safety stock equal the
//!   journal's sums; held equals the pending holds' allocations; allocated
//!   equals live orders' unshipped lines); the journal only grows (earlier
//!   entries never change) and a rejected command posts nothing.
//! - `a_rejected_or_retried_command_changes_nothing_but_time`: compared with
//!   a copy of the ledger that was only moved to the command's time, a
//!   retry (`replayed`), an id conflict or an invalid id/actor leaves the
//!   state bit-identical; any other rejection differs only by its own
//!   idempotency record, which stores exactly the result returned. A retry
//!   returns the stored result.
//! - `a_hold_ends_exactly_once`: a hold appears only by a successful
//!   `Reserve`, pending; it ends by a successful `CommitHold`/`ReleaseHold`
//!   of it or, at the latest, by the first command at or past its deadline,
//!   at the ledger's time; once ended it never changes again and disappears
//!   only when `Expire` purges it after the retention window.
//! - `replicas_fed_the_same_log_agree`: a second replica fed the log through
//!   its wire encoding returns the same results and reaches the same state
//!   hash after every command.
//! - `snapshot_and_restore_are_invisible`: replacing a replica by the restore
//!   of its own snapshot, at random points, changes neither its state hash
//!   nor any later result.
//! - `damaged_snapshots_are_refused`: every single-byte corruption, every
//!   truncation and an appended byte make `restore` return the matching
//!   error; a corrupted payload with a recomputed checksum never panics and
//!   is accepted only if it passes the invariant audit.

mod support;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use ledger::command::{CommitHold, ReleaseHold};
use ledger::holds::{Hold, HoldStatus};
use ledger::idempotency::{IdempotencyRecord, payload_digest};
use ledger::ids::{CommandId, HoldId, Sku, WarehouseId};
use ledger::orders::OrderStatus;
use ledger::snapshot::SnapshotError;
use ledger::stock::{JournalEntry, StockLevel, Warehouse};
use ledger::{Applied, Command, Envelope, Ledger, Outcome, Rejection};
use proptest::prelude::*;
use proptest::sample::Index;
use support::{Scenario, scenario};

/// Commands per generated log (after the prelude).
const MAX_OPS: usize = 80;
/// A snapshot's frame: magic (4 bytes) and format version (2) ahead of the
/// payload, a BLAKE3 checksum of both behind it.
const HEADER_BYTES: usize = 6;
const CHECKSUM_BYTES: usize = 32;

proptest! {
    #![proptest_config(support::proptest_config(128))]

    #[test]
    fn every_command_keeps_the_invariants(scenario in scenario(MAX_OPS)) {
        let mut ledger = Ledger::new(scenario.config.clone());
        for envelope in &scenario.log {
            let journal_before = ledger.journal().clone();
            let applied = ledger.apply(envelope);
            ledger.check_invariants().map_err(|violation| {
                TestCaseError::fail(format!("after {envelope:?} -> {applied:?}: {violation}"))
            })?;
            for (_, _, level) in ledger.levels() {
                let _ = level.available();
            }
            recount(&ledger)?;
            prop_assert!(ledger.journal().take(journal_before.len()) == journal_before, "the journal was rewritten by {envelope:?}");
            if applied.result.is_err() || applied.replayed {
                prop_assert_eq!(ledger.journal().len(), journal_before.len(), "{:?} posted and was rejected", envelope);
            }
        }
    }

    #[test]
    fn a_rejected_or_retried_command_changes_nothing_but_time(scenario in scenario(MAX_OPS)) {
        let mut ledger = Ledger::new(scenario.config.clone());
        let mut known_ids = BTreeSet::new();
        for envelope in &scenario.log {
            known_ids.insert(envelope.id.clone());
            let before = ledger.clone();
            let advanced = moved_to(&before, envelope.now_ms);
            let applied = ledger.apply(envelope);
            check_unchanged_but_time(envelope, &applied, &before, &advanced, &ledger, &known_ids)?;
        }
    }

    #[test]
    fn a_hold_ends_exactly_once(scenario in scenario(MAX_OPS)) {
        let mut ledger = Ledger::new(scenario.config.clone());
        let mut seen: BTreeMap<HoldId, Hold> = BTreeMap::new();
        for envelope in &scenario.log {
            let applied = ledger.apply(envelope);
            let now: BTreeMap<HoldId, Hold> = ledger.holds().into_iter().map(|h| (h.id.clone(), h.into_owned())).collect();
            check_hold_transitions(envelope, &applied, &seen, &now, &ledger)?;
            seen = now;
        }
    }

    #[test]
    fn replicas_fed_the_same_log_agree(scenario in scenario(MAX_OPS)) {
        let mut leader = Ledger::new(scenario.config.clone());
        let mut follower = Ledger::new(scenario.config.clone());
        for envelope in &scenario.log {
            let wire = postcard::to_allocvec(envelope).expect("an envelope encodes");
            let received: Envelope = postcard::from_bytes(&wire).expect("an envelope decodes");
            prop_assert_eq!(&received, envelope);
            let on_leader = leader.apply(envelope);
            let on_follower = follower.apply(&received);
            prop_assert_eq!(&on_leader, &on_follower, "results differ on {:?}", envelope);
            prop_assert_eq!(leader.state_hash(), follower.state_hash(), "states differ after {:?}", envelope);
        }
        prop_assert!(leader == follower);
    }

    #[test]
    fn snapshot_and_restore_are_invisible(scenario in scenario(MAX_OPS), every in 1usize..=15) {
        let mut plain = Ledger::new(scenario.config.clone());
        let mut restored = Ledger::new(scenario.config.clone());
        for (i, envelope) in scenario.log.iter().enumerate() {
            if i % every == 0 {
                let bytes = restored.snapshot();
                restored = Ledger::restore(&bytes).map_err(|error| {
                    TestCaseError::fail(format!("a fresh snapshot was refused before {envelope:?}: {error}"))
                })?;
                prop_assert!(restored == plain, "restore changed the state");
                prop_assert_eq!(restored.state_hash(), plain.state_hash());
                prop_assert_eq!(restored.snapshot(), bytes, "a restored snapshot re-encodes differently");
            }
            let on_plain = plain.apply(envelope);
            let on_restored = restored.apply(envelope);
            prop_assert_eq!(&on_plain, &on_restored, "results differ on {:?}", envelope);
            prop_assert_eq!(plain.state_hash(), restored.state_hash(), "states differ after {:?}", envelope);
        }
    }
}

proptest! {
    // Every case tries every byte of a snapshot: fewer, shorter logs.
    #![proptest_config(support::proptest_config(24))]

    #[test]
    fn damaged_snapshots_are_refused(
        scenario in scenario(40),
        mask in 1u8..=255,
        payload_flips in proptest::collection::vec((any::<Index>(), 1u8..=255), 1..=16),
    ) {
        let ledger = replay(&scenario);
        let bytes = ledger.snapshot();
        let checksum_at = bytes.len() - CHECKSUM_BYTES;
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= mask;
            let error = Ledger::restore(&damaged).err();
            let expected = match at {
                0..4 => matches!(error, Some(SnapshotError::NotASnapshot)),
                4..6 => matches!(error, Some(SnapshotError::UnsupportedVersion(_))),
                _ => matches!(error, Some(SnapshotError::ChecksumMismatch)),
            };
            prop_assert!(expected, "flipping byte {at} of {} with {mask:#x} gave {error:?}", bytes.len());
        }
        for len in 0..bytes.len() {
            let error = Ledger::restore(&bytes[..len]).err();
            let expected = if len < HEADER_BYTES + CHECKSUM_BYTES {
                matches!(error, Some(SnapshotError::NotASnapshot))
            } else {
                matches!(error, Some(SnapshotError::ChecksumMismatch))
            };
            prop_assert!(expected, "truncating to {len} of {} bytes gave {error:?}", bytes.len());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(matches!(Ledger::restore(&longer), Err(SnapshotError::ChecksumMismatch)));
        // Past the checksum: the decoder and the invariant audit must cope
        // with any payload, refusing it or yielding a consistent state.
        for (at, flip) in payload_flips {
            let mut forged = bytes[..checksum_at].to_vec();
            let at = HEADER_BYTES + at.index(checksum_at - HEADER_BYTES);
            forged[at] ^= flip;
            let checksum = blake3::hash(&forged);
            forged.extend_from_slice(checksum.as_bytes());
            if let Ok(accepted) = Ledger::restore(&forged) {
                prop_assert!(accepted.check_invariants().is_ok());
            }
        }
        prop_assert!(Ledger::restore(&bytes).is_ok_and(|restored| restored == ledger));
    }
}

fn replay(scenario: &Scenario) -> Ledger {
    let mut ledger = Ledger::new(scenario.config.clone());
    for envelope in &scenario.log {
        ledger.apply(envelope);
    }
    ledger
}

/// Recounts every level from the journal, the holds and the orders.
fn recount(ledger: &Ledger) -> Result<(), TestCaseError> {
    let mut expected: BTreeMap<(Sku, WarehouseId), [i128; 5]> = BTreeMap::new();
    for entry in ledger.journal() {
        let sums = expected.entry((entry.sku.clone(), entry.warehouse.clone())).or_default();
        sums[0] += i128::from(entry.on_hand_delta);
        sums[1] += i128::from(entry.damaged_delta);
        sums[2] += i128::from(entry.safety_stock_delta);
    }
    for hold in ledger.holds().into_iter().filter(|hold| hold.status == HoldStatus::Pending) {
        prop_assert!(hold.expires_at_ms > ledger.clock_ms(), "hold {} is pending past its deadline", hold.id);
        for allocation in &hold.allocations {
            expected.entry((allocation.sku.clone(), allocation.warehouse.clone())).or_default()[3] +=
                i128::from(allocation.qty);
        }
    }
    for order in ledger.orders().into_iter().filter(|order| order.status != OrderStatus::Cancelled) {
        for line in order.lines.iter().filter(|line| !line.shipped) {
            expected.entry((line.sku.clone(), line.warehouse.clone())).or_default()[4] += i128::from(line.qty);
        }
    }
    let actual: BTreeMap<(Sku, WarehouseId), [i128; 5]> = ledger
        .levels()
        .into_iter()
        .map(|(sku, warehouse, level)| {
            let buckets = [level.on_hand, level.damaged, level.safety_stock, level.held, level.allocated];
            ((sku.clone(), warehouse.clone()), buckets.map(i128::from))
        })
        .collect();
    prop_assert_eq!(actual, expected, "levels (on_hand, damaged, safety, held, allocated) differ from the recount");
    Ok(())
}

/// A copy of `ledger` that only saw time move to `now_ms`: an envelope with
/// an empty id is refused before the idempotency table is touched, after
/// the clock moved and due holds expired.
fn moved_to(ledger: &Ledger, now_ms: u64) -> Ledger {
    let mut advanced = ledger.clone();
    let probe = Envelope {
        id: CommandId::from(""),
        now_ms,
        actor: "probe".into(),
        command: Command::ReleaseHold(ReleaseHold { hold_id: "probe".into() }),
    };
    let applied = advanced.apply(&probe);
    assert!(matches!(applied.result, Err(Rejection::InvalidInput { ref field, .. }) if field == "id"));
    advanced
}

/// Everything a reader can see, with the idempotency records of `ids`
/// (every id the log used: no other can have a record) except `except`.
#[derive(Debug, PartialEq)]
struct Observed {
    clock_ms: u64,
    warehouses: Vec<Warehouse>,
    levels: Vec<(Sku, WarehouseId, StockLevel)>,
    journal: Vec<JournalEntry>,
    holds: Vec<Hold>,
    orders: Vec<ledger::orders::Order>,
    carts: Vec<(ledger::ids::ShopperId, ledger::carts::Cart)>,
    checkouts: Vec<ledger::checkouts::Checkout>,
    records: Vec<(CommandId, Option<IdempotencyRecord>)>,
}

fn observe(ledger: &Ledger, ids: &BTreeSet<CommandId>, except: &CommandId) -> Observed {
    Observed {
        clock_ms: ledger.clock_ms(),
        warehouses: ledger.warehouses().cloned().collect(),
        levels: ledger
            .levels()
            .into_iter()
            .map(|(sku, warehouse, level)| (sku.clone(), warehouse.clone(), *level))
            .collect(),
        journal: ledger.journal().iter().cloned().collect(),
        holds: ledger.holds().into_iter().map(Cow::into_owned).collect(),
        orders: ledger.orders().into_iter().cloned().collect(),
        carts: ledger.carts().into_iter().map(|(shopper, cart)| (shopper.clone(), cart.clone())).collect(),
        checkouts: ledger.checkouts().into_iter().cloned().collect(),
        records: ids.iter().filter(|id| *id != except).map(|id| (id.clone(), ledger.idempotency_record(id))).collect(),
    }
}

fn check_unchanged_but_time(
    envelope: &Envelope,
    applied: &Applied,
    before: &Ledger,
    advanced: &Ledger,
    after: &Ledger,
    known_ids: &BTreeSet<CommandId>,
) -> Result<(), TestCaseError> {
    if envelope.command == Command::Expire {
        prop_assert!(!applied.replayed && applied.result.is_ok(), "Expire gave {applied:?}");
        return Ok(());
    }
    let identical = || -> Result<(), TestCaseError> {
        prop_assert!(after == advanced, "{envelope:?} -> {applied:?} changed more than time");
        prop_assert_eq!(after.state_hash(), advanced.state_hash());
        Ok(())
    };
    match (before.idempotency_record(&envelope.id), &applied.result) {
        // Checked before the idempotency table is consulted, known id or not.
        (_, Err(Rejection::InvalidInput { field, .. })) if !applied.replayed && (field == "id" || field == "actor") => {
            identical()?;
        }
        (Some(record), _) if applied.replayed => {
            prop_assert_eq!(&applied.result, &record.result, "a retry must return the stored result");
            identical()?;
        }
        (Some(_), Err(Rejection::IdempotencyConflict { command_id })) => {
            prop_assert_eq!(command_id, &envelope.id);
            identical()?;
        }
        (Some(record), result) => {
            prop_assert!(false, "a known id gave {result:?} (replayed: {}); its record: {record:?}", applied.replayed);
        }
        (None, result) => {
            prop_assert!(!applied.replayed, "a new id cannot be a retry");
            let record = after.idempotency_record(&envelope.id);
            let expected = IdempotencyRecord {
                digest: payload_digest(&envelope.actor, &envelope.command, &mut Vec::new()),
                result: result.clone(),
                at_ms: after.clock_ms(),
            };
            prop_assert_eq!(record, Some(expected), "the record of {:?}", envelope);
            if result.is_err() {
                let (after, advanced) =
                    (observe(after, known_ids, &envelope.id), observe(advanced, known_ids, &envelope.id));
                prop_assert_eq!(after, advanced, "rejected {:?} -> {:?} changed more than time", envelope, result);
            }
        }
    }
    Ok(())
}

fn check_hold_transitions(
    envelope: &Envelope,
    applied: &Applied,
    seen: &BTreeMap<HoldId, Hold>,
    now: &BTreeMap<HoldId, Hold>,
    ledger: &Ledger,
) -> Result<(), TestCaseError> {
    let clock_ms = ledger.clock_ms();
    let executed_ok = applied.result.is_ok() && !applied.replayed;
    let names_hold = |hold_id: &HoldId| match &envelope.command {
        Command::CommitHold(CommitHold { hold_id: id, .. }) | Command::ReleaseHold(ReleaseHold { hold_id: id }) => {
            id == hold_id
        }
        Command::Reserve(reserve) => &reserve.hold_id == hold_id,
        _ => false,
    };
    for (id, old) in seen {
        let Some(new) = now.get(id) else {
            let cutoff = clock_ms.saturating_sub(ledger.config().retention_ms);
            prop_assert!(
                envelope.command == Command::Expire && old.ended_at_ms.is_some_and(|ended| ended < cutoff),
                "hold {id} ({:?}) vanished on {envelope:?}",
                old.status
            );
            continue;
        };
        if old.status != HoldStatus::Pending {
            prop_assert_eq!(new, old, "ended hold {} changed on {:?}", id, envelope);
            continue;
        }
        prop_assert_eq!(
            (&new.id, &new.owner, &new.allocations, new.created_at_ms, new.expires_at_ms),
            (&old.id, &old.owner, &old.allocations, old.created_at_ms, old.expires_at_ms)
        );
        let ended_now = new.ended_at_ms == Some(clock_ms);
        match &new.status {
            HoldStatus::Pending => {
                prop_assert!(new.ended_at_ms.is_none() && new.expires_at_ms > clock_ms, "{new:?} at {clock_ms}");
            }
            HoldStatus::Expired => prop_assert!(ended_now && new.expires_at_ms <= clock_ms, "{new:?} at {clock_ms}"),
            HoldStatus::Committed { order_id } => {
                prop_assert!(ended_now && executed_ok && names_hold(id), "{new:?} on {envelope:?}");
                prop_assert_eq!(&applied.result, &Ok(Outcome::HoldCommitted { order_id: order_id.clone() }));
            }
            HoldStatus::Released => {
                prop_assert!(ended_now && executed_ok && names_hold(id), "{new:?} on {envelope:?}");
                prop_assert!(matches!(envelope.command, Command::ReleaseHold(_)));
            }
        }
    }
    for (id, new) in now.iter().filter(|(id, _)| !seen.contains_key(*id)) {
        prop_assert!(
            executed_ok && names_hold(id) && matches!(envelope.command, Command::Reserve(_)),
            "hold {id} appeared on {envelope:?}"
        );
        prop_assert_eq!(&new.status, &HoldStatus::Pending);
        prop_assert_eq!(new.created_at_ms, clock_ms);
    }
    Ok(())
}

//! Conservation: for every (sku, warehouse), the final on_hand and damaged
//! equal what the history's stock commands put there: receipts, damage,
//! shrink, transfers in and out, shipments. Commands the final read
//! settled count exactly; any left unknown count either way (the final
//! value must lie in the range), and are counted in the verdict. The
//! journal must also explain each balance (its deltas sum to it).

use std::collections::BTreeMap;

use super::settle::{self, Settled};
use super::{FinalState, Verdict};
use crate::chaos::history::Op;

/// Bounds of one bucket: `(low, high)`.
type Range = (i64, i64);

/// The conservation checker.
pub fn conservation(history: &[Op], state: &FinalState) -> Verdict {
    let mut expected: BTreeMap<(String, String), (Range, Range)> = BTreeMap::new();
    let mut unknown = 0;
    for command in settle::commands(history, state) {
        if command.settled == Settled::NotApplied {
            continue;
        }
        let certain = command.settled == Settled::Applied;
        unknown += usize::from(!certain);
        for effect in settle::effects(command.kind, state) {
            let (on_hand, damaged) = expected.entry((effect.sku, effect.warehouse)).or_default();
            widen(on_hand, effect.on_hand, certain);
            widen(damaged, effect.damaged, certain);
        }
    }
    let mut journaled: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for entry in &state.journal {
        let sums = journaled.entry((&entry.sku, &entry.warehouse)).or_default();
        sums.0 = sums.0.saturating_add(entry.on_hand_delta);
        sums.1 = sums.1.saturating_add(entry.damaged_delta);
    }

    let mut violations = Vec::new();
    for level in &state.levels {
        let key = (level.sku.clone(), level.warehouse.clone());
        let (on_hand, damaged) = expected.remove(&key).unwrap_or_default();
        let place = format!("{} at {}", level.sku, level.warehouse);
        let found = |units: u64| i64::try_from(units).unwrap_or(i64::MAX);
        for (bucket, range, value) in [("on_hand", on_hand, level.on_hand), ("damaged", damaged, level.damaged)] {
            if !(range.0..=range.1).contains(&found(value)) {
                violations
                    .push(format!("{place}: {bucket} {value} but the history puts it at {}..={}", range.0, range.1));
            }
        }
        let sums = journaled.get(&(level.sku.as_str(), level.warehouse.as_str())).copied().unwrap_or_default();
        if sums != (found(level.on_hand), found(level.damaged)) {
            violations.push(format!(
                "{place}: the journal sums to on_hand {} damaged {}, the level says {} and {}",
                sums.0, sums.1, level.on_hand, level.damaged
            ));
        }
    }
    for ((sku, warehouse), _) in expected {
        violations.push(format!("{sku} at {warehouse}: the history moved stock there but its level was not read"));
    }
    Verdict::new(
        "conservation",
        violations,
        format!(
            "{} levels equal their history and journal ({})",
            state.levels.len(),
            if unknown == 0 { "exact".to_owned() } else { format!("{unknown} unsettled commands counted either way") }
        ),
    )
}

/// Adds `delta` to `range`: to both ends when certain, else to the end it
/// moves away from (so the range covers applied and not applied).
fn widen(range: &mut Range, delta: i64, certain: bool) {
    if certain || delta < 0 {
        range.0 = range.0.saturating_add(delta);
    }
    if certain || delta > 0 {
        range.1 = range.1.saturating_add(delta);
    }
}

//! From histories to events, and the verdict over whole histories: a good
//! flash sale passes; a stale read, a double grant and a history beyond
//! the model are each reported.

use super::*;
use crate::chaos::checker::{Claim, FinalHold, HoldStatus, JournalRecord, Verdict};
use crate::chaos::history::Level;
use crate::chaos::linearizability::linearizable;

const SKU: &str = "r-flash";
const HOME: &str = "r-wh-1";

fn op(id: u64, from: u64, to: u64, kind: OpKind, outcome: Outcome, error: Option<&str>) -> Op {
    Op {
        id,
        region: "r".into(),
        client: 0,
        kind,
        invoke_us: from,
        complete_us: to,
        outcome,
        error: error.map(str::to_owned),
    }
}

fn receive(id: u64, from: u64, to: u64, quantity: u64, outcome: Outcome) -> Op {
    let kind = OpKind::Adjust {
        command_id: format!("adjust-{id}"),
        warehouse: HOME.into(),
        sku: SKU.into(),
        reason: Adjustment::Receive,
        quantity,
    };
    op(id, from, to, kind, outcome, None)
}

fn reserve_kind(hold: u64) -> OpKind {
    let hold_id = format!("hold-{hold}");
    OpKind::Reserve { command_id: hold_id.clone(), hold_id, sku: SKU.into(), quantity: 1, ttl_ms: 30 * 60 * 1000 }
}

fn reserve(id: u64, from: u64, to: u64, outcome: Outcome, error: Option<&str>) -> Op {
    op(id, from, to, reserve_kind(id), outcome, error)
}

fn read(id: u64, from: u64, to: u64, available: u64) -> Op {
    let level = Level { sku: SKU.into(), warehouse: HOME.into(), available, ..Level::default() };
    let kind = OpKind::Read { sku: SKU.into(), warehouse: HOME.into(), level: Some(level) };
    op(id, from, to, kind, Outcome::Ok, None)
}

fn with_holds(ids: &[u64]) -> FinalState {
    let hold = FinalHold {
        status: HoldStatus::Pending,
        allocations: vec![Claim { sku: SKU.into(), warehouse: HOME.into(), quantity: 1 }],
    };
    let holds = ids.iter().map(|id| (format!("hold-{id}"), Some(hold.clone()))).collect();
    FinalState { holds, ..FinalState::default() }
}

/// Opening stock 2; a grant, a read of 1, a grant, a refusal, a read of 0.
fn flash_sale() -> Vec<Op> {
    vec![
        receive(1, 0, 10, 2, Outcome::Ok),
        reserve(2, 20, 30, Outcome::Ok, None),
        read(3, 40, 50, 1),
        reserve(4, 60, 70, Outcome::Ok, None),
        reserve(5, 80, 90, Outcome::Fail, Some(INSUFFICIENT)),
        read(6, 100, 110, 0),
    ]
}

fn verdict(history: &[Op], state: &FinalState) -> Verdict {
    linearizable(history, state)
}

#[test]
fn every_submission_of_a_command_is_one_event() {
    let mut history = flash_sale();
    // Hold 2 sent twice more: once answered late from its record, once
    // never delivered.
    history.push(op(7, 25, 200, reserve_kind(2), Outcome::Ok, None));
    history.push(op(8, 15, 300, reserve_kind(2), Outcome::Fail, Some("UNREACHABLE")));
    let events = events_of(&history, &with_holds(&[2, 4]), SKU).expect("in the model");
    let reserve_2: Vec<&Event> = events.iter().filter(|e| e.id == 2 || e.id == 7 || e.id == 8).collect();
    assert_eq!(reserve_2.len(), 1, "{events:?}");
    // Invoked with its first submission, done at its first acknowledgement.
    assert_eq!((reserve_2[0].id, reserve_2[0].invoke_us, reserve_2[0].end), (8, 15, End::Returned { at_us: 30 }));
    assert_eq!(events.len(), 6);
    assert!(verdict(&history, &with_holds(&[2, 4])).passed);
}

#[test]
fn indeterminate_operations_are_settled_or_left_open() {
    let history = vec![
        receive(1, 0, 10, 2, Outcome::Ok),
        reserve(2, 20, 30, Outcome::Indeterminate, Some("INDETERMINATE")),
        reserve(3, 20, 30, Outcome::Indeterminate, Some("INDETERMINATE")),
        receive(4, 20, 30, 5, Outcome::Indeterminate),
        reserve(5, 20, 30, Outcome::Fail, Some("PERMISSION_DENIED")),
    ];
    let mut state = with_holds(&[2]);
    let ends = |state: &FinalState| -> Vec<(u64, End)> {
        events_of(&history, state, SKU).expect("in the model").iter().map(|e| (e.id, e.end)).collect()
    };
    // Hold 2 exists: applied. Hold 3 was read absent, the receipt posted
    // nothing and the rejected reserve did nothing.
    state.holds.insert("hold-3".into(), None);
    assert_eq!(ends(&state), [(1, End::Returned { at_us: 10 }), (2, End::Applied)]);
    // Hold 3 not read: open.
    state.holds.remove("hold-3");
    assert_eq!(ends(&state), [(1, End::Returned { at_us: 10 }), (2, End::Applied), (3, End::Unknown)]);
    state.holds.insert("hold-3".into(), None);
    // The receipt's journal entry shows it applied.
    let posting = JournalRecord {
        command_id: "adjust-4".into(),
        warehouse: HOME.into(),
        sku: SKU.into(),
        on_hand_delta: 5,
        damaged_delta: 0,
    };
    state.journal.push(posting);
    assert_eq!(ends(&state), [(1, End::Returned { at_us: 10 }), (2, End::Applied), (4, End::Applied)]);
}

#[test]
fn a_good_flash_sale_is_linearizable() {
    let found = verdict(&flash_sale(), &with_holds(&[2, 4]));
    assert!(found.passed && found.detail.contains("all 6 operations linearizable"), "{found:?}");
}

#[test]
fn a_stale_read_and_a_double_grant_fail_the_verdict() {
    let mut stale = flash_sale();
    stale[5] = read(6, 100, 110, 1);
    let found = verdict(&stale, &with_holds(&[2, 4]));
    assert!(!found.passed && found.detail.contains("op 6 (read saw 1 available"), "{found:?}");

    // Two concurrent grants of the last unit.
    let history = vec![
        receive(1, 0, 10, 1, Outcome::Ok),
        reserve(2, 20, 40, Outcome::Ok, None),
        reserve(3, 25, 45, Outcome::Ok, None),
        read(4, 50, 60, 0),
    ];
    assert!(!verdict(&history, &with_holds(&[2, 3])).passed);
}

#[test]
fn histories_beyond_the_model_are_reported_not_checked() {
    let check = |extra: Op, reason: &str| {
        let mut history = flash_sale();
        history.push(extra);
        let found = verdict(&history, &with_holds(&[2, 4]));
        assert!(found.passed && found.detail.contains(reason), "{found:?} should say {reason:?}");
    };
    let damage = OpKind::Adjust {
        command_id: "d".into(),
        warehouse: HOME.into(),
        sku: SKU.into(),
        reason: Adjustment::Damage,
        quantity: 1,
    };
    check(op(9, 200, 210, damage, Outcome::Ok, None), "Damage adjustments");
    let elsewhere = OpKind::Read { sku: SKU.into(), warehouse: "r-wh-2".into(), level: None };
    check(op(9, 200, 210, elsewhere, Outcome::Fail, None), "read or stocked at r-wh-1 and r-wh-2");
    let commit = OpKind::Commit { command_id: "c".into(), hold_id: "hold-2".into(), order_id: "o".into() };
    check(op(9, 200, 210, commit, Outcome::Ok, None), "hold hold-2 of r-flash is committed");
    let short =
        OpKind::Reserve { command_id: "s".into(), hold_id: "s".into(), sku: SKU.into(), quantity: 1, ttl_ms: 0 };
    check(op(9, 200, 210, short, Outcome::Ok, None), "may expire");
    let mut expired = with_holds(&[2, 4]);
    if let Some(Some(hold)) = expired.holds.get_mut("hold-4") {
        hold.status = HoldStatus::Expired;
    }
    let found = verdict(&flash_sale(), &expired);
    assert!(found.passed && found.detail.contains("hold hold-4 of r-flash ended (Expired)"), "{found:?}");

    let unread: Vec<Op> = flash_sale().into_iter().filter(|op| !matches!(op.kind, OpKind::Read { .. })).collect();
    let found = verdict(&unread, &with_holds(&[2, 4]));
    assert!(found.passed && found.detail.contains("no availability was read"), "{found:?}");
}

#[test]
fn a_long_history_is_checked_on_a_sound_window() {
    // Sequential operations, then a straddling reserve invoked before the
    // window's last return, and a late read that only it explains.
    let mut events: Vec<Event> = (0..6)
        .map(|i| Event {
            id: i,
            invoke_us: i * 10,
            end: End::Returned { at_us: i * 10 + 5 },
            action: Action::Receive { quantity: 1 },
        })
        .collect();
    events[3].end = End::Applied;
    let (window_events, cut) = window(events.clone(), 4);
    assert!(cut);
    assert_eq!(window_events.len(), 4, "the fifth was invoked after the window's last return");
    assert_eq!(window_events[3].end, End::Unknown, "known only to have applied: optional in a window");

    // A return late in the window: the fifth straddles it.
    events[1].end = End::Returned { at_us: 45 };
    let (window_events, _) = window(events.clone(), 4);
    assert_eq!(window_events.len(), 5);
    assert_eq!(window_events[4], Event { end: End::Unknown, ..events[4] });
    assert_eq!(window(events.clone(), 6), (events, false));
}

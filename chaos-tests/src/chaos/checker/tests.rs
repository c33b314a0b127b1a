//! The checkers fed hand-made histories: one good region that passes every
//! checker, then each kind of bad history (an oversell, a lost ack, a
//! double-applied retry, a phantom, lost stock, a hold ended twice, a
//! diverged replica) and the checker that must catch it.

use super::*;
use crate::chaos::history::{Adjustment, Level, OpKind, Outcome};

fn op(id: u64, kind: OpKind, outcome: Outcome) -> Op {
    let error = match outcome {
        Outcome::Ok => None,
        Outcome::Fail => Some("FAILED_PRECONDITION".to_owned()),
        Outcome::Indeterminate => Some("INDETERMINATE".to_owned()),
    };
    Op { id, region: "r".into(), client: 0, kind, invoke_us: id * 10, complete_us: id * 10 + 5, outcome, error }
}

fn adjust(id: &str, warehouse: &str, reason: Adjustment, quantity: u64) -> OpKind {
    OpKind::Adjust { command_id: id.into(), warehouse: warehouse.into(), sku: "s".into(), reason, quantity }
}

fn reserve(hold: &str, quantity: u64, ttl_ms: u64) -> OpKind {
    OpKind::Reserve { command_id: hold.into(), hold_id: hold.into(), sku: "s".into(), quantity, ttl_ms }
}

fn commit(hold: &str) -> OpKind {
    OpKind::Commit { command_id: format!("commit-{hold}"), hold_id: hold.into(), order_id: format!("order-{hold}") }
}

fn claim(warehouse: &str, quantity: u64) -> Claim {
    Claim { sku: "s".into(), warehouse: warehouse.into(), quantity }
}

fn hold(status: HoldStatus, warehouse: &str, quantity: u64) -> Option<FinalHold> {
    Some(FinalHold { status, allocations: vec![claim(warehouse, quantity)] })
}

fn entry(command_id: &str, warehouse: &str, on_hand_delta: i64, damaged_delta: i64) -> JournalRecord {
    JournalRecord {
        command_id: command_id.into(),
        warehouse: warehouse.into(),
        sku: "s".into(),
        on_hand_delta,
        damaged_delta,
    }
}

fn level(warehouse: &str, on_hand: u64, damaged: u64, held: u64, allocated: u64) -> Level {
    Level {
        sku: "s".into(),
        warehouse: warehouse.into(),
        on_hand,
        damaged,
        safety_stock: 0,
        held,
        allocated,
        available: on_hand - damaged - held - allocated,
    }
}

fn replicas(views: &[(u64, u64, &str)]) -> Vec<ReplicaView> {
    views
        .iter()
        .map(|&(node, index, digest)| ReplicaView { node, applied_index: Some(index), digest: digest.into() })
        .collect()
}

const LONG: u64 = 1_800_000;

/// One SKU at two warehouses. Receipts 3 at w1 and 2 at w2 (the second
/// sent twice); h1 pending at w1; h2 committed at w1 and shipped; h3
/// released at w2; h4 refused; h5 indeterminate and not applied; h6 a short
/// indeterminate hold that applied and expired; one indeterminate transfer
/// w2 -> w1 that applied; one unit damaged at w2; one read.
fn good() -> (Vec<Op>, FinalState) {
    let history = vec![
        op(1, adjust("adj-1", "w1", Adjustment::Receive, 3), Outcome::Ok),
        op(2, adjust("adj-2", "w2", Adjustment::Receive, 2), Outcome::Ok),
        op(3, adjust("adj-2", "w2", Adjustment::Receive, 2), Outcome::Indeterminate),
        op(4, reserve("h1", 1, LONG), Outcome::Ok),
        op(5, reserve("h2", 2, LONG), Outcome::Ok),
        op(6, reserve("h3", 1, LONG), Outcome::Ok),
        op(7, reserve("h4", 5, LONG), Outcome::Fail),
        op(8, reserve("h5", 1, LONG), Outcome::Indeterminate),
        op(9, reserve("h6", 1, 1_000), Outcome::Indeterminate),
        op(10, commit("h2"), Outcome::Ok),
        op(11, OpKind::Release { command_id: "release-h3".into(), hold_id: "h3".into() }, Outcome::Ok),
        op(
            12,
            OpKind::Transfer {
                command_id: "t1".into(),
                from: "w2".into(),
                to: "w1".into(),
                sku: "s".into(),
                quantity: 1,
            },
            Outcome::Indeterminate,
        ),
        op(13, adjust("d1", "w2", Adjustment::Damage, 1), Outcome::Ok),
        op(
            14,
            OpKind::Ship { command_id: "ship-1".into(), warehouse: "w1".into(), order_id: "order-h2".into() },
            Outcome::Ok,
        ),
        op(
            15,
            OpKind::Read { sku: "s".into(), warehouse: "w1".into(), level: Some(level("w1", 4, 0, 1, 2)) },
            Outcome::Ok,
        ),
    ];
    let holds = [
        ("h1", hold(HoldStatus::Pending, "w1", 1)),
        ("h2", hold(HoldStatus::Committed, "w1", 2)),
        ("h3", hold(HoldStatus::Released, "w2", 1)),
        ("h4", None),
        ("h5", None),
        ("h6", hold(HoldStatus::Expired, "w2", 1)),
    ];
    let order =
        FinalOrder { hold_id: "h2".into(), lines: vec![FinalOrderLine { claim: claim("w1", 2), shipped: true }] };
    let state = FinalState {
        levels: vec![level("w1", 2, 0, 1, 0), level("w2", 1, 1, 0, 0)],
        holds: holds.into_iter().map(|(id, hold)| (id.to_owned(), hold)).collect(),
        orders: [("order-h2".to_owned(), Some(order))].into_iter().collect(),
        journal: vec![
            entry("adj-1", "w1", 3, 0),
            entry("adj-2", "w2", 2, 0),
            entry("t1", "w2", -1, 0),
            entry("t1", "w1", 1, 0),
            entry("d1", "w2", 0, 1),
            entry("ship-1", "w1", -2, 0),
        ],
        replicas: replicas(&[(1, 40, "ab"), (2, 40, "ab"), (3, 40, "ab")]),
        ..FinalState::default()
    };
    (history, state)
}

fn failed(history: &[Op], state: &FinalState) -> Vec<&'static str> {
    check_all(history, state).into_iter().filter(|v| !v.passed).map(|v| v.name).collect()
}

fn detail(verdict: Verdict) -> String {
    assert!(!verdict.passed, "{verdict:?}");
    verdict.detail
}

#[test]
fn a_good_run_passes_every_checker() {
    let (history, state) = good();
    let verdicts = check_all(&history, &state);
    assert!(verdicts.iter().all(|v| v.passed), "{verdicts:#?}");
    // adj-2's copy, h5, h6 and t1 were indeterminate: h5 did not apply.
    assert_eq!(settled_indeterminate(&history, &state), (3, 1, 0));
    assert!(verdicts[1].detail.contains("exact"), "{verdicts:?}");
}

#[test]
fn an_oversell_is_caught() {
    // A fourth and fifth unit acknowledged at w1 with only four put in
    // (five received, one damaged), and the level agreeing.
    let (mut history, mut state) = good();
    history.push(op(20, reserve("h7", 2, LONG), Outcome::Ok));
    state.holds.insert("h7".into(), hold(HoldStatus::Pending, "w1", 2));
    state.levels[0].held = 3;
    assert_eq!(failed(&history, &state), ["no-oversell"]);
    assert!(detail(oversell::no_oversell(&history, &state)).contains("claim 5 units but at most 4"));

    // A final level that claims more than is on hand.
    let (history, mut state) = good();
    state.levels[1].allocated = 1;
    assert!(detail(oversell::no_oversell(&history, &state)).contains("final level s at w2"));

    // A read during the run that saw more claimed than on hand.
    let (mut history, state) = good();
    let seen = Level { allocated: 1, ..level("w1", 1, 0, 1, 0) };
    history.push(op(21, OpKind::Read { sku: "s".into(), warehouse: "w1".into(), level: Some(seen) }, Outcome::Ok));
    assert!(detail(oversell::no_oversell(&history, &state)).contains("op 21 read"));
}

#[test]
fn a_lost_ack_is_caught_for_every_kind() {
    // An acknowledged hold that does not exist.
    let (history, mut state) = good();
    state.holds.insert("h1".into(), None);
    state.levels[0].held = 0;
    assert_eq!(failed(&history, &state), ["no-lost-ack"]);
    assert!(detail(lost_ack::no_lost_ack(&history, &state)).contains("hold h1 does not exist"));

    // An acknowledged receipt missing from the journal.
    let (history, mut state) = good();
    state.journal.retain(|e| e.command_id != "adj-1");
    assert!(detail(lost_ack::no_lost_ack(&history, &state)).contains("adj-1"));

    // An acknowledged release whose hold is still pending.
    let (history, mut state) = good();
    state.holds.insert("h3".into(), hold(HoldStatus::Pending, "w2", 1));
    state.levels[1].held = 1;
    assert!(detail(lost_ack::no_lost_ack(&history, &state)).contains("h3 is not released"));

    // An acknowledged commit whose order is gone.
    let (history, mut state) = good();
    state.orders.insert("order-h2".into(), None);
    assert!(failed(&history, &state).contains(&"no-lost-ack"));
}

#[test]
fn a_double_applied_retry_is_caught() {
    // adj-2 was sent twice; the journal shows it applied twice.
    let (history, mut state) = good();
    state.journal.push(entry("adj-2", "w2", 2, 0));
    state.levels[1].on_hand += 2;
    let names = failed(&history, &state);
    assert!(names.contains(&"idempotent-retries") && names.contains(&"conservation"), "{names:?}");
    assert!(detail(idempotence::idempotent_retries(&history, &state)).contains("applied twice"));

    // A reserve copy ran again and was refused because the first made the hold.
    let (mut history, state) = good();
    let mut copy = op(22, reserve("h1", 1, LONG), Outcome::Fail);
    copy.error = Some("ALREADY_EXISTS".into());
    history.push(copy);
    assert_eq!(failed(&history, &state), ["idempotent-retries"]);

    // A copy refused before reaching the ledger says nothing.
    let (mut history, state) = good();
    let mut shed = op(22, reserve("h1", 1, LONG), Outcome::Fail);
    shed.error = Some("RESOURCE_EXHAUSTED".into());
    history.push(shed);
    assert!(failed(&history, &state).is_empty());
}

#[test]
fn a_phantom_is_caught() {
    // A journal entry no client's command posted.
    let (history, mut state) = good();
    state.journal.push(entry("ghost", "w1", 0, 0));
    assert_eq!(failed(&history, &state), ["no-phantom"]);

    // A definitely refused reserve that left a hold.
    let (history, mut state) = good();
    state.holds.insert("h4".into(), hold(HoldStatus::Expired, "w1", 5));
    assert!(detail(phantom::no_phantom(&history, &state)).contains("h4 failed every time"));

    // Held units nobody in the history asked for.
    let (history, mut state) = good();
    state.levels[0].held = 2;
    assert!(detail(phantom::no_phantom(&history, &state)).contains("held 2"));
}

#[test]
fn lost_or_made_up_stock_breaks_conservation() {
    let (history, mut state) = good();
    state.levels[0].on_hand = 3;
    state.journal.push(entry("adj-1", "w1", 1, 0));
    assert!(detail(conservation::conservation(&history, &state)).contains("on_hand 3"));

    // The level and the journal disagree.
    let (history, mut state) = good();
    state.journal.retain(|e| e.command_id != "d1");
    assert!(detail(conservation::conservation(&history, &state)).contains("journal sums"));
}

#[test]
fn what_the_final_read_missed_is_unknown() {
    // An indeterminate reserve whose hold was not read stays unknown and
    // fails nothing; an acknowledged one is a lost ack until read.
    let (mut history, state) = good();
    history.push(op(23, reserve("h8", 1, LONG), Outcome::Indeterminate));
    assert_eq!(settled_indeterminate(&history, &state), (3, 1, 1));
    assert!(failed(&history, &state).is_empty());
    history.push(op(24, reserve("h9", 1, LONG), Outcome::Ok));
    assert!(detail(lost_ack::no_lost_ack(&history, &state)).contains("did not cover"));
}

#[test]
fn a_hold_ended_twice_is_caught() {
    // The released h3 was also committed, both acknowledged.
    let (mut history, mut state) = good();
    history.push(op(24, commit("h3"), Outcome::Ok));
    let order =
        FinalOrder { hold_id: "h3".into(), lines: vec![FinalOrderLine { claim: claim("w2", 1), shipped: false }] };
    state.orders.insert("order-h3".into(), Some(order));
    let found = detail(lifecycle::holds_end_once(&history, &state));
    assert!(found.contains("ended twice") && found.contains("yet order order-h3"), "{found}");

    // A short hold still pending at the final read.
    let (history, mut state) = good();
    state.holds.insert("h6".into(), hold(HoldStatus::Pending, "w2", 1));
    state.levels[1].held = 1;
    assert!(detail(lifecycle::holds_end_once(&history, &state)).contains("still pending"));

    // A committed hold whose order claims other units.
    let (history, mut state) = good();
    if let Some(Some(order)) = state.orders.get_mut("order-h2") {
        order.lines[0].claim.quantity = 1;
    }
    assert!(detail(lifecycle::holds_end_once(&history, &state)).contains("does not match"));
}

#[test]
fn a_diverged_replica_is_caught() {
    let (history, mut state) = good();
    state.replicas = replicas(&[(1, 40, "ab"), (2, 40, "cd"), (3, 40, "ab")]);
    assert!(detail(convergence::convergence(&state)).contains("diverged"));
    assert_eq!(failed(&history, &state), ["convergence"]);

    state.replicas = replicas(&[(1, 40, "ab"), (2, 39, "ab"), (3, 40, "ab")]);
    assert!(detail(convergence::convergence(&state)).contains("not converged"));

    state.replicas[2].applied_index = None;
    assert!(detail(convergence::convergence(&state)).contains("did not answer"));

    state.replicas.clear();
    assert!(!convergence::convergence(&state).passed);
}

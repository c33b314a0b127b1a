//! The checkers: pure functions over a run's history and the state read
//! after healing, each giving a [`Verdict`].
//!
//! Indeterminate operations are settled by the final state: a reserve whose
//! hold exists was applied, one whose hold is absent was not; neither is a
//! failure. Receipts cannot be settled by a read, so the checkers bound the
//! stock received between the acknowledged receipts and the acknowledged
//! plus indeterminate ones.
//!
//! Not checked here (yet): phantoms in general. The API cannot list holds,
//! so "no phantom" is checked as: no definitely failed reserve left a hold,
//! and the held units of the SKU are exactly the pending holds this history
//! created (a hold nobody asked for would show as unexplained held units).

use std::collections::BTreeMap;

use serde::Serialize;

use super::history::{Op, Outcome};

/// The stock level of the hot SKU in its warehouse, read after healing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FinalLevel {
    /// Units physically present.
    pub on_hand: u64,
    /// Units claimed by pending holds.
    pub held: u64,
    /// Units claimed by confirmed orders.
    pub allocated: u64,
}

/// Where a hold ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Still holding stock.
    Pending,
    /// Turned into an order (still claims stock, as allocated).
    Committed,
    /// Given back.
    Released,
    /// Timed out.
    Expired,
}

impl HoldStatus {
    /// Whether it still claims stock.
    pub fn claims_stock(self) -> bool {
        matches!(self, Self::Pending | Self::Committed)
    }
}

/// A hold as read after healing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FinalHold {
    /// Its state.
    pub status: HoldStatus,
    /// Units it holds (over every allocation).
    pub quantity: u64,
}

/// One replica's view, from its own `Admin.ClusterStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicaView {
    /// The node.
    pub node: u64,
    /// Its applied index; `None` if it did not answer.
    pub applied_index: Option<u64>,
    /// Its state digest, hex.
    pub digest: String,
}

/// What was read after the faults were healed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FinalState {
    /// The hot SKU's level.
    pub level: FinalLevel,
    /// Every hold id the history reserved, read with `GetHold`: `None` when
    /// the ledger has no such hold.
    pub holds: BTreeMap<String, Option<FinalHold>>,
    /// Every replica's last status (from the convergence poll).
    pub replicas: Vec<ReplicaView>,
}

/// One checker's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The checker's name.
    pub name: &'static str,
    /// Whether the property held.
    pub passed: bool,
    /// What was found (the first violations when it failed).
    pub detail: String,
}

impl Verdict {
    fn new(name: &'static str, violations: Vec<String>, ok_detail: String) -> Self {
        const SHOWN: usize = 5;
        if violations.is_empty() {
            return Self { name, passed: true, detail: ok_detail };
        }
        let mut detail = violations.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
        if violations.len() > SHOWN {
            detail.push_str(&format!("; and {} more", violations.len() - SHOWN));
        }
        Self { name, passed: false, detail }
    }
}

/// `(acknowledged, acknowledged + indeterminate)` units received.
pub fn received_bounds(history: &[Op]) -> (u64, u64) {
    let sum = |pred: &dyn Fn(Outcome) -> bool| {
        history.iter().filter(|op| pred(op.outcome)).filter_map(Op::receive).fold(0u64, u64::saturating_add)
    };
    (sum(&|o| o == Outcome::Ok), sum(&|o| o != Outcome::Fail))
}

/// How the indeterminate reserves settled: `(applied, not applied, not read)`.
pub fn settled_indeterminate(history: &[Op], state: &FinalState) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for (hold_id, _) in history.iter().filter(|op| op.outcome == Outcome::Indeterminate).filter_map(Op::reserve) {
        match state.holds.get(hold_id) {
            Some(Some(_)) => counts.0 += 1,
            Some(None) => counts.1 += 1,
            None => counts.2 += 1,
        }
    }
    counts
}

/// No oversell: the units claimed by holds (every acknowledged reserve, and
/// every hold that still claims stock) never exceed the units received, and
/// the final level has `held + allocated <= on_hand`.
pub fn no_oversell(history: &[Op], state: &FinalState) -> Verdict {
    let (_, received_max) = received_bounds(history);
    let mut claimed: BTreeMap<&str, u64> = BTreeMap::new();
    for op in history {
        let Some((hold_id, quantity)) = op.reserve() else { continue };
        let live = state.holds.get(hold_id).copied().flatten().filter(|h| h.status.claims_stock());
        if let Some(hold) = live {
            claimed.insert(hold_id, hold.quantity);
        } else if op.outcome == Outcome::Ok {
            claimed.insert(hold_id, quantity);
        }
    }
    let taken = claimed.values().fold(0u64, |a, &b| a.saturating_add(b));
    let level = state.level;
    let mut violations = Vec::new();
    if taken > received_max {
        violations.push(format!("{taken} units reserved but at most {received_max} received"));
    }
    if level.held.saturating_add(level.allocated) > level.on_hand {
        violations.push(format!(
            "final level held {} + allocated {} > on_hand {}",
            level.held, level.allocated, level.on_hand
        ));
    }
    Verdict::new(
        "no-oversell",
        violations,
        format!(
            "{taken} units reserved of at most {received_max} received; final held {} + allocated {} <= on_hand {}",
            level.held, level.allocated, level.on_hand
        ),
    )
}

/// Conservation: the final `on_hand` lies between the acknowledged receipts
/// and the acknowledged plus indeterminate ones (nothing is shipped).
pub fn conservation(history: &[Op], state: &FinalState) -> Verdict {
    let (low, high) = received_bounds(history);
    let on_hand = state.level.on_hand;
    let violations = if (low..=high).contains(&on_hand) {
        Vec::new()
    } else {
        vec![format!("on_hand {on_hand} outside the received range {low}..={high}")]
    };
    Verdict::new("conservation", violations, format!("on_hand {on_hand} within received {low}..={high}"))
}

/// No lost acknowledgement: every acknowledged reserve's hold exists.
pub fn no_lost_ack(history: &[Op], state: &FinalState) -> Verdict {
    let mut checked = 0;
    let mut violations = Vec::new();
    for op in history.iter().filter(|op| op.outcome == Outcome::Ok) {
        let Some((hold_id, _)) = op.reserve() else { continue };
        checked += 1;
        match state.holds.get(hold_id) {
            Some(Some(_)) => {}
            Some(None) => violations.push(format!("op {} acknowledged hold {hold_id}, which does not exist", op.id)),
            None => violations.push(format!("op {} acknowledged hold {hold_id}, which was not read back", op.id)),
        }
    }
    Verdict::new("no-lost-ack", violations, format!("all {checked} acknowledged holds exist"))
}

/// No phantom (as far as the API allows): no definitely failed reserve
/// left a hold, and the SKU's held units equal the pending holds this
/// history created.
pub fn no_phantom(history: &[Op], state: &FinalState) -> Verdict {
    let mut violations = Vec::new();
    let mut failed = 0;
    for op in history.iter().filter(|op| op.outcome == Outcome::Fail) {
        let Some((hold_id, _)) = op.reserve() else { continue };
        failed += 1;
        if let Some(Some(hold)) = state.holds.get(hold_id) {
            violations.push(format!("op {} failed, yet hold {hold_id} exists ({:?})", op.id, hold.status));
        }
    }
    let pending = state
        .holds
        .values()
        .flatten()
        .filter(|h| h.status == HoldStatus::Pending)
        .fold(0u64, |a, h| a.saturating_add(h.quantity));
    if pending != state.level.held {
        violations.push(format!("held is {} but this history's pending holds hold {pending}", state.level.held));
    }
    Verdict::new(
        "no-phantom",
        violations,
        format!("no hold from {failed} failed reserves; held {} = pending holds", state.level.held),
    )
}

/// Replica convergence: every replica answered and all report the same
/// `state_digest` at the same `applied_index`.
pub fn convergence(state: &FinalState) -> Verdict {
    let mut violations = Vec::new();
    if state.replicas.is_empty() {
        violations.push("no replica status was read".to_owned());
    }
    for replica in &state.replicas {
        if replica.applied_index.is_none() {
            violations.push(format!("node {} did not answer", replica.node));
        }
    }
    if let Some(first) = state.replicas.first()
        && violations.is_empty()
    {
        for other in &state.replicas[1..] {
            if other.applied_index != first.applied_index {
                violations.push(format!(
                    "node {} applied {:?} but node {} applied {:?} (not converged)",
                    first.node, first.applied_index, other.node, other.applied_index
                ));
            } else if other.digest != first.digest {
                violations.push(format!(
                    "at index {:?} node {} has digest {} but node {} has {} (diverged)",
                    first.applied_index, first.node, first.digest, other.node, other.digest
                ));
            }
        }
    }
    let ok = state
        .replicas
        .first()
        .map(|r| {
            format!(
                "{} replicas at index {} with digest {}",
                state.replicas.len(),
                r.applied_index.unwrap_or_default(),
                short(&r.digest)
            )
        })
        .unwrap_or_default();
    Verdict::new("convergence", violations, ok)
}

fn short(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}

/// Every checker, in report order.
pub fn check_all(history: &[Op], state: &FinalState) -> Vec<Verdict> {
    vec![
        no_oversell(history, state),
        conservation(history, state),
        no_lost_ack(history, state),
        no_phantom(history, state),
        convergence(state),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::history::OpKind;

    fn op(id: u64, kind: OpKind, outcome: Outcome) -> Op {
        Op { id, client: 0, kind, invoke_us: id * 10, complete_us: id * 10 + 5, outcome }
    }

    fn reserve(id: u64, outcome: Outcome) -> Op {
        op(id, OpKind::Reserve { hold_id: format!("h{id}"), quantity: 1 }, outcome)
    }

    fn receive(id: u64, quantity: u64, outcome: Outcome) -> Op {
        op(id, OpKind::Receive { quantity }, outcome)
    }

    fn pending() -> Option<FinalHold> {
        Some(FinalHold { status: HoldStatus::Pending, quantity: 1 })
    }

    fn replicas(views: &[(u64, u64, &str)]) -> Vec<ReplicaView> {
        views
            .iter()
            .map(|&(node, index, digest)| ReplicaView { node, applied_index: Some(index), digest: digest.into() })
            .collect()
    }

    /// Stock 2; reserves: ok, ok, failed (sold out), indeterminate that did
    /// not apply, indeterminate after a receipt of 1 that did apply.
    fn good() -> (Vec<Op>, FinalState) {
        let history = vec![
            receive(1, 2, Outcome::Ok),
            reserve(2, Outcome::Ok),
            reserve(3, Outcome::Ok),
            reserve(4, Outcome::Fail),
            reserve(5, Outcome::Indeterminate),
            receive(6, 1, Outcome::Ok),
            reserve(7, Outcome::Indeterminate),
        ];
        let holds = [("h2", pending()), ("h3", pending()), ("h4", None), ("h5", None), ("h7", pending())]
            .into_iter()
            .map(|(id, hold)| (id.to_owned(), hold))
            .collect();
        let state = FinalState {
            level: FinalLevel { on_hand: 3, held: 3, allocated: 0 },
            holds,
            replicas: replicas(&[(1, 40, "ab"), (2, 40, "ab"), (3, 40, "ab")]),
        };
        (history, state)
    }

    fn failed(verdicts: &[Verdict]) -> Vec<&'static str> {
        verdicts.iter().filter(|v| !v.passed).map(|v| v.name).collect()
    }

    #[test]
    fn a_good_run_passes_every_checker() {
        let (history, state) = good();
        let verdicts = check_all(&history, &state);
        assert!(failed(&verdicts).is_empty(), "{verdicts:#?}");
        assert_eq!(settled_indeterminate(&history, &state), (1, 1, 0));
    }

    #[test]
    fn an_oversell_is_caught() {
        let (mut history, mut state) = good();
        // A fourth unit acknowledged with only three received.
        history.push(reserve(8, Outcome::Ok));
        state.holds.insert("h8".into(), pending());
        state.level.held = 4;
        assert!(failed(&check_all(&history, &state)).contains(&"no-oversell"));

        // A level that claims more than is on hand.
        let (history, mut state) = good();
        state.level.allocated = 1;
        let verdict = no_oversell(&history, &state);
        assert!(!verdict.passed && verdict.detail.contains("on_hand"), "{verdict:?}");
    }

    #[test]
    fn an_indeterminate_receipt_widens_the_stock_bound() {
        let (mut history, mut state) = good();
        history.push(receive(8, 1, Outcome::Indeterminate));
        history.push(reserve(9, Outcome::Ok));
        state.holds.insert("h9".into(), pending());
        state.level = FinalLevel { on_hand: 4, held: 4, allocated: 0 };
        assert!(failed(&check_all(&history, &state)).is_empty());
    }

    #[test]
    fn a_lost_ack_is_caught() {
        let (history, mut state) = good();
        state.holds.insert("h3".into(), None);
        state.level.held = 2;
        let verdict = no_lost_ack(&history, &state);
        assert!(!verdict.passed && verdict.detail.contains("h3"), "{verdict:?}");
        assert_eq!(failed(&check_all(&history, &state)), ["no-lost-ack"]);
    }

    #[test]
    fn a_phantom_is_caught() {
        // A failed reserve that left a hold.
        let (history, mut state) = good();
        state.holds.insert("h4".into(), pending());
        state.level.held = 4;
        state.level.on_hand = 4;
        assert!(failed(&check_all(&history, &state)).contains(&"no-phantom"));
        // Held units nobody in the history asked for.
        let (history, mut state) = good();
        state.level.held = 3 - 1;
        let verdict = no_phantom(&history, &state);
        assert!(!verdict.passed && verdict.detail.contains("held is 2"), "{verdict:?}");
    }

    #[test]
    fn lost_stock_breaks_conservation() {
        let (history, mut state) = good();
        state.level.on_hand = 5;
        assert!(!conservation(&history, &state).passed);
    }

    #[test]
    fn a_diverged_replica_is_caught() {
        let (history, mut state) = good();
        state.replicas = replicas(&[(1, 40, "ab"), (2, 40, "cd"), (3, 40, "ab")]);
        let verdict = convergence(&state);
        assert!(!verdict.passed && verdict.detail.contains("diverged"), "{verdict:?}");
        assert_eq!(failed(&check_all(&history, &state)), ["convergence"]);

        state.replicas = replicas(&[(1, 40, "ab"), (2, 39, "ab"), (3, 40, "ab")]);
        assert!(convergence(&state).detail.contains("not converged"));

        state.replicas[2].applied_index = None;
        assert!(convergence(&state).detail.contains("did not answer"));

        state.replicas.clear();
        assert!(!convergence(&state).passed);
    }
}

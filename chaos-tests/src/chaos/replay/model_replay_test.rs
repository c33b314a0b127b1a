//! The model-replay verdict over a run's history and the log read: the
//! history says what was issued and acknowledged, the admin's registrations
//! are the harness's own.

use ledger::Envelope;

use super::*;
use crate::chaos::checker::ReplicaView;
use crate::chaos::history::{Adjustment, OpKind};
use crate::chaos::replay::test_log::{REGION, digest_after, log_of, receive, register, reserve};

fn op(id: u64, kind: OpKind, outcome: Outcome) -> Op {
    Op {
        id,
        region: REGION.into(),
        client: 0,
        kind,
        invoke_us: id * 10,
        complete_us: id * 10 + 5,
        outcome,
        error: None,
    }
}

fn receipt(command_id: &str) -> OpKind {
    OpKind::Adjust {
        command_id: command_id.into(),
        warehouse: "wh".into(),
        sku: "sku".into(),
        reason: Adjustment::Receive,
        quantity: 2,
    }
}

fn hold(hold_id: &str) -> OpKind {
    OpKind::Reserve {
        command_id: hold_id.into(),
        hold_id: hold_id.into(),
        sku: "sku".into(),
        quantity: 1,
        ttl_ms: 60_000,
    }
}

/// The state after a log: every replica at its end, with its digest.
fn state_of(envelopes: Vec<Envelope>) -> FinalState {
    let entries = log_of(envelopes);
    let (index, digest) = (entries.len() as u64, digest_after(&entries, entries.len()));
    let replicas =
        (1..=3).map(|node| ReplicaView { node, applied_index: Some(index), digest: digest.clone() }).collect();
    FinalState { replicas, log: LogRead::Read { region: REGION.into(), entries }, ..FinalState::default() }
}

fn history() -> Vec<Op> {
    vec![op(1, receipt("receive-1"), Outcome::Ok), op(2, hold("hold-1"), Outcome::Ok)]
}

fn good_log() -> Vec<Envelope> {
    vec![register("register-wh"), receive("receive-1", 10, 2), reserve("hold-1", 20, 1)]
}

#[test]
fn a_run_whose_log_replays_to_its_digests_passes() {
    let verdict = model_replay(&history(), &state_of(good_log()));
    assert!(verdict.passed, "{verdict:?}");
    assert!(verdict.detail.contains("all 2 acknowledged commands executed once"), "{verdict:?}");
}

#[test]
fn a_lost_ack_or_a_phantom_fails_the_verdict() {
    let mut history = history();
    history.push(op(3, hold("hold-2"), Outcome::Ok));
    let verdict = model_replay(&history, &state_of(good_log()));
    assert!(!verdict.passed && verdict.detail.contains("hold-2 is not in the log (lost)"), "{verdict:?}");

    // A registration, but not the harness's (another actor), nor a client's.
    let mut log = good_log();
    log.push(Envelope { actor: "warehouse:wh".into(), ..register("register-other") });
    let verdict = model_replay(&self::history(), &state_of(log));
    assert!(!verdict.passed && verdict.detail.contains("register-other"), "{verdict:?}");
}

#[test]
fn a_log_not_read_or_purged_is_said_and_one_that_could_not_be_read_fails() {
    let mut state = state_of(good_log());
    state.log = LogRead::NotRead;
    let verdict = model_replay(&history(), &state);
    assert!(verdict.passed && verdict.detail.starts_with("not checked"), "{verdict:?}");
    state.log = LogRead::Purged("node 1: entries before 40 were purged".into());
    let verdict = model_replay(&history(), &state);
    assert!(
        verdict.passed && verdict.detail.starts_with("not checked") && verdict.detail.contains("before 40"),
        "{verdict:?}"
    );
    state.log = LogRead::Failed("node 1: connection refused".into());
    let verdict = model_replay(&history(), &state);
    assert!(!verdict.passed && verdict.detail.contains("connection refused"), "{verdict:?}");
}

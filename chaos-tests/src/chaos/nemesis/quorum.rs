//! The check that belongs to the majority kill: while a majority of the
//! members is down the group has no quorum, so no operation invoked after
//! the kill and completed before the restart may be acknowledged. (That the
//! region serves again afterwards is the final phase's job: it waits for a
//! leader and reads.)

use super::FaultWindow;
use super::fault::Fault;
use crate::chaos::checker::Verdict;
use crate::chaos::history::{Op, Outcome};

/// The checker's name in reports.
pub const NAME: &str = "no-ack-without-quorum";

/// What the check needs of an op: its id, when it was invoked and
/// completed (microseconds since the run started), whether it was
/// acknowledged.
type Span = (u64, u64, u64, bool);

/// Acknowledged ops wholly inside a [`Fault::MajorityKill`] window of
/// `windows` (the windows of the region `history` ran against); `None` when
/// there is no such window.
pub fn no_ack_without_quorum(history: &[Op], windows: &[FaultWindow]) -> Option<Verdict> {
    let spans: Vec<Span> =
        history.iter().map(|op| (op.id, op.invoke_us, op.complete_us, op.outcome == Outcome::Ok)).collect();
    judge(&spans, windows)
}

fn judge(spans: &[Span], windows: &[FaultWindow]) -> Option<Verdict> {
    let majority: Vec<&FaultWindow> =
        windows.iter().filter(|window| window.fault == Fault::MajorityKill.name()).collect();
    if majority.is_empty() {
        return None;
    }
    let inside = |(_, invoke, complete, _): &&Span| {
        majority.iter().any(|window| *invoke >= window.start_us && *complete <= window.end_us)
    };
    let during: Vec<&Span> = spans.iter().filter(inside).collect();
    let acked: Vec<String> = during
        .iter()
        .filter(|(.., acked)| *acked)
        .map(|(id, _, complete, _)| format!("op {id} acknowledged at {complete} us without a quorum"))
        .collect();
    let passed = acked.is_empty();
    let detail = if passed {
        format!(
            "{} majority-down window(s): {} op(s) ran wholly inside them, none acknowledged",
            majority.len(),
            during.len()
        )
    } else {
        let shown: Vec<&str> = acked.iter().take(5).map(String::as_str).collect();
        format!(
            "{} of {} op(s) inside majority-down windows acknowledged: {}",
            acked.len(),
            during.len(),
            shown.join("; ")
        )
    };
    Some(Verdict { name: NAME, passed, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(fault: Fault, start_us: u64, end_us: u64) -> FaultWindow {
        FaultWindow { fault: fault.name(), node: 1, nodes: vec![1, 2], start_us, end_us, refusal: None }
    }

    #[test]
    fn an_ack_inside_a_majority_kill_is_caught() {
        let windows = [window(Fault::MajorityKill, 1_000, 2_000)];
        // Straddling ops may be acknowledged; failures inside are expected.
        let fine = [(1, 500, 1_500, true), (2, 1_500, 2_500, true), (3, 1_100, 1_900, false)];
        let verdict = judge(&fine, &windows).unwrap();
        assert!(verdict.passed, "{}", verdict.detail);
        assert!(verdict.detail.contains("1 op(s)"), "{}", verdict.detail);
        let bad = [(4, 1_100, 1_900, true)];
        let verdict = judge(&bad, &windows).unwrap();
        assert!(!verdict.passed && verdict.detail.contains("op 4"), "{}", verdict.detail);
    }

    #[test]
    fn other_faults_are_not_judged() {
        assert!(judge(&[(1, 1_100, 1_900, true)], &[window(Fault::LeaderKill, 1_000, 2_000)]).is_none());
    }
}

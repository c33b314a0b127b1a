//! Replica convergence: after healing, every replica of the group reports
//! the same state digest at the same applied index.

use super::{FinalState, Verdict};

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

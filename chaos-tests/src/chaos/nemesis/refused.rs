//! The check that belongs to the damaged-files fault: a replica whose data
//! files were damaged while it was stopped must refuse to start (exit
//! non-zero, naming `regiond rebuild`) and never serve; what each damaged
//! replica did is recorded in its window as a [`Refusal`].

use serde::Serialize;

use super::FaultWindow;
use crate::chaos::checker::Verdict;

/// The checker's name in reports.
pub const NAME: &str = "damaged-replica-refused";

/// What one damaged replica did when started on its damaged files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The damaged replica's id.
    pub node: u64,
    /// What was damaged (`bit 3 of byte 1234 flipped in 000012.sst ...`).
    pub damage: String,
    /// How its start ended: its exit status, or that it kept running.
    pub exit: String,
    /// Whether it exited non-zero within the bound.
    pub refused: bool,
    /// Whether what it logged on that start names `regiond rebuild`.
    pub names_rebuild: bool,
    /// Whether its API address accepted a connection on that start.
    pub served: bool,
    /// The id it was rebuilt under.
    pub rebuilt_as: u64,
}

impl Refusal {
    /// Whether it did what a damaged replica must.
    pub fn held(&self) -> bool {
        self.refused && self.names_rebuild && !self.served
    }
}

/// Whether every damaged replica of `windows` refused to start, naming the
/// rebuild command, and none served; `None` when nothing was damaged.
pub fn damaged_replica_refused(windows: &[FaultWindow]) -> Option<Verdict> {
    let refusals: Vec<&Refusal> = windows.iter().filter_map(|window| window.refusal.as_ref()).collect();
    if refusals.is_empty() {
        return None;
    }
    let broken: Vec<String> = refusals
        .iter()
        .filter(|refusal| !refusal.held())
        .map(|r| {
            format!(
                "node {} ({}): {}, {} `regiond rebuild`, {}",
                r.node,
                r.damage,
                r.exit,
                if r.names_rebuild { "named" } else { "did not name" },
                if r.served { "its API answered" } else { "its API never answered" }
            )
        })
        .collect();
    let passed = broken.is_empty();
    let detail = if passed {
        let each: Vec<String> = refusals
            .iter()
            .map(|r| format!("node {} ({}) {}, rebuilt as {}", r.node, r.damage, r.exit, r.rebuilt_as))
            .collect();
        format!(
            "{} damaged replica(s) refused to start naming `regiond rebuild`, none served: {}",
            refusals.len(),
            each.join("; ")
        )
    } else {
        format!(
            "{} of {} damaged replica(s) did not refuse cleanly: {}",
            broken.len(),
            refusals.len(),
            broken.join("; ")
        )
    };
    Some(Verdict { name: NAME, passed, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(refusal: Option<Refusal>) -> FaultWindow {
        FaultWindow { fault: "damaged-files", node: 2, nodes: vec![2, 4], start_us: 0, end_us: 1, refusal }
    }

    fn refusal() -> Refusal {
        Refusal {
            node: 2,
            damage: "000012.sst cut from 40960 to 20480 bytes".into(),
            exit: "exit status: 1".into(),
            refused: true,
            names_rebuild: true,
            served: false,
            rebuilt_as: 4,
        }
    }

    #[test]
    fn a_clean_refusal_passes_and_names_the_damage() {
        let verdict = damaged_replica_refused(&[window(Some(refusal())), window(None)]).unwrap();
        assert!(verdict.passed, "{}", verdict.detail);
        assert!(verdict.detail.contains("1 damaged replica(s)") && verdict.detail.contains("rebuilt as 4"));
    }

    #[test]
    fn a_replica_that_started_served_or_kept_quiet_fails() {
        let cases = [
            (Refusal { refused: false, exit: "still running after 15s".into(), ..refusal() }, "still running"),
            (Refusal { served: true, ..refusal() }, "its API answered"),
            (Refusal { names_rebuild: false, ..refusal() }, "did not name"),
        ];
        for (bad, says) in cases {
            let verdict = damaged_replica_refused(&[window(Some(refusal())), window(Some(bad))]).unwrap();
            assert!(!verdict.passed && verdict.detail.contains(says), "{}", verdict.detail);
            assert!(verdict.detail.starts_with("1 of 2"), "{}", verdict.detail);
        }
    }

    #[test]
    fn runs_without_damage_are_not_judged() {
        assert!(damaged_replica_refused(&[window(None)]).is_none());
        assert!(damaged_replica_refused(&[]).is_none());
    }
}

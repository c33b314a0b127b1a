//! The life of every hold in a replay: placed, then ended at most once
//! (commit, release or expiry) before it may be placed again (a hold id is
//! free again once the ledger purged the ended hold).

use std::collections::BTreeMap;
use std::fmt;

/// How a hold ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldEnd {
    /// Committed into an order.
    Commit,
    /// Released by its owner.
    Release,
    /// Its deadline passed.
    Expiry,
}

impl fmt::Display for HoldEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HoldEnd::Commit => "commit",
            HoldEnd::Release => "release",
            HoldEnd::Expiry => "expiry",
        })
    }
}

/// Where one hold id is in its current life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Pending,
    Ended(HoldEnd),
}

/// Every hold id seen, with the violations of "placed, then at most one
/// end" found so far.
#[derive(Debug, Default)]
pub struct HoldLives {
    lives: BTreeMap<String, Life>,
    placed: u64,
    ended: u64,
    violations: Vec<String>,
}

impl HoldLives {
    /// A hold was placed at log index `index`.
    pub fn placed(&mut self, hold_id: &str, index: u64) {
        self.placed += 1;
        if let Some(Life::Pending) = self.lives.insert(hold_id.to_owned(), Life::Pending) {
            self.violations.push(format!("hold {hold_id} placed again at index {index} while still pending"));
        }
    }

    /// A hold ended by `end` at log index `index`.
    pub fn ended(&mut self, hold_id: &str, end: HoldEnd, index: u64) {
        self.ended += 1;
        match self.lives.get_mut(hold_id) {
            Some(life @ Life::Pending) => *life = Life::Ended(end),
            Some(Life::Ended(first)) => {
                self.violations.push(format!("hold {hold_id} ended twice: by {first}, then by {end} at index {index}"))
            }
            None => {
                self.violations.push(format!("hold {hold_id} ended by {end} at index {index} but was never placed"))
            }
        }
    }

    /// How the current life of `hold_id` ended, if it did.
    pub fn end_of(&self, hold_id: &str) -> Option<HoldEnd> {
        match self.lives.get(hold_id) {
            Some(Life::Ended(end)) => Some(*end),
            Some(Life::Pending) | None => None,
        }
    }

    /// `(holds placed, holds ended)` over the replay.
    pub fn counts(&self) -> (u64, u64) {
        (self.placed, self.ended)
    }

    /// The violations found, in log order.
    pub fn into_violations(self) -> Vec<String> {
        self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_ends_at_most_once_per_life() {
        let mut lives = HoldLives::default();
        lives.placed("a", 1);
        lives.placed("b", 2);
        lives.ended("a", HoldEnd::Commit, 3);
        assert_eq!(lives.end_of("a"), Some(HoldEnd::Commit));
        assert_eq!(lives.end_of("b"), None);
        // Purged, then placed again: a new life, which may end again.
        lives.placed("a", 4);
        lives.ended("a", HoldEnd::Expiry, 5);
        assert_eq!(lives.counts(), (3, 2));
        assert!(lives.into_violations().is_empty());
    }

    #[test]
    fn a_second_end_or_an_end_without_a_hold_is_caught() {
        let mut lives = HoldLives::default();
        lives.placed("a", 1);
        lives.ended("a", HoldEnd::Commit, 2);
        lives.ended("a", HoldEnd::Expiry, 3);
        lives.ended("ghost", HoldEnd::Release, 4);
        lives.placed("b", 5);
        lives.placed("b", 6);
        let violations = lives.into_violations();
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(violations[0].contains("hold a ended twice: by commit, then by expiry"), "{violations:?}");
        assert!(violations[1].contains("never placed"), "{violations:?}");
        assert!(violations[2].contains("placed again"), "{violations:?}");
    }
}

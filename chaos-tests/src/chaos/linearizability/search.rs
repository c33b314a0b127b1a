//! The linearizability search over one object's history: Wing and Gong's
//! algorithm with Lowe's memoization, as in Porcupine.
//!
//! Every operation is a call entry at its invocation and, if it must take
//! effect, a return entry at its completion, in one time-ordered linked
//! list. The search walks the list: at a call it tries to linearize that
//! operation next (the model must accept its result); it then removes the
//! operation's entries and starts again from the head. Reaching a return
//! entry means an operation completed before being linearized: the last
//! choice is undone and the next call tried. A set of `(linearized
//! operations, model state)` pairs already explored prunes the search: the
//! same set of operations ending in the same state has the same future.
//!
//! Operations with an unknown outcome (Knossos's `:info`) have no return
//! entry: they may be linearized anywhere after their invocation, or never.
//! The history is linearizable once every operation that must take effect
//! has been placed.
//!
//! One pruning beyond Lowe's: an operation that changes nothing (a read, a
//! refusal) is never tried later than the first point it fits.

use std::collections::HashSet;

use super::model::{Action, step};

/// When an operation ended, which says whether it must take effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The client saw its answer at this time (µs since the run started):
    /// it took effect between its invocation and now.
    Returned {
        /// When the answer arrived.
        at_us: u64,
    },
    /// It took effect (the final state shows it) but no answer was seen:
    /// at some point after its invocation.
    Applied,
    /// Unknown: it may have taken effect at any point after its
    /// invocation, or never.
    Unknown,
}

impl End {
    /// Whether the operation must appear in a linearization.
    fn required(self) -> bool {
        !matches!(self, End::Unknown)
    }
}

/// One operation on the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The operation's id in the run's history, for explanations.
    pub id: u64,
    /// When it was invoked, in µs since the run started.
    pub invoke_us: u64,
    /// How it ended.
    pub end: End,
    /// What it did.
    pub action: Action,
}

/// Bounds on one search, so that a large or unlucky history is reported as
/// unchecked instead of hanging the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most operations a history may have.
    pub ops_max: usize,
    /// Most search steps (entries visited) before giving up.
    pub steps_max: u64,
}

/// What the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linearizability {
    /// Some order consistent with real time explains every result.
    Linearizable {
        /// Search steps taken.
        steps: u64,
    },
    /// No such order exists.
    Violation {
        /// Why, in one sentence: the operation that fits no order and the
        /// longest consistent order found.
        explanation: String,
    },
    /// The search was not run to the end (too many operations or steps).
    NotChecked {
        /// Which limit was hit.
        reason: String,
    },
}

/// Checks `events` (an object whose availability starts at zero) against
/// the model, within `limits`.
pub fn check(events: &[Event], limits: Limits) -> Linearizability {
    if events.len() > limits.ops_max {
        return Linearizability::NotChecked {
            reason: format!("{} operations exceed the limit of {}", events.len(), limits.ops_max),
        };
    }
    Search::new(events).run(limits.steps_max)
}

/// Where the list ends (and the head sentinel's `prev`).
const NIL: usize = usize::MAX;
/// The head sentinel's node.
const HEAD: usize = 0;

/// The list of call and return entries, with removal and reinsertion in
/// stack order (dancing links). Node `1 + 2 * op` is the call of `op`, node
/// `2 + 2 * op` its return (absent for operations that need not return).
struct List {
    next: Vec<usize>,
    prev: Vec<usize>,
    has_return: Vec<bool>,
}

impl List {
    fn new(events: &[Event]) -> Self {
        // (time, return after call at equal times, node): equal times count
        // as concurrent, the lenient reading of a coarse clock.
        let mut entries: Vec<(u64, u8, usize)> = Vec::with_capacity(events.len() * 2);
        let mut has_return = Vec::with_capacity(events.len());
        for (op, event) in events.iter().enumerate() {
            entries.push((event.invoke_us, 0, call_node(op)));
            let return_us = match event.end {
                End::Returned { at_us } => Some(at_us.max(event.invoke_us)),
                End::Applied => Some(u64::MAX),
                End::Unknown => None,
            };
            if let Some(at_us) = return_us {
                entries.push((at_us, 1, return_node(op)));
            }
            has_return.push(return_us.is_some());
        }
        entries.sort_unstable();
        let nodes = 1 + 2 * events.len();
        let (mut next, mut prev) = (vec![NIL; nodes], vec![NIL; nodes]);
        let mut last = HEAD;
        for &(_, _, node) in &entries {
            next[last] = node;
            prev[node] = last;
            last = node;
        }
        Self { next, prev, has_return }
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }

    /// Removes an operation's entries.
    fn lift(&mut self, op: usize) {
        self.unlink(call_node(op));
        if self.has_return[op] {
            self.unlink(return_node(op));
        }
    }

    /// Puts back the entries of the operation lifted last.
    fn unlift(&mut self, op: usize) {
        if self.has_return[op] {
            self.relink(return_node(op));
        }
        self.relink(call_node(op));
    }
}

fn call_node(op: usize) -> usize {
    1 + 2 * op
}

fn return_node(op: usize) -> usize {
    2 + 2 * op
}

/// The operation a node belongs to, and whether it is its call.
fn entry(node: usize) -> (usize, bool) {
    ((node - 1) / 2, node % 2 == 1)
}

/// The furthest the search got: for the explanation of a violation.
struct Furthest {
    /// The operations linearized, in order.
    order: Vec<usize>,
    /// The availability after them.
    available: u64,
    /// The operation whose return could not be reached.
    blocked: usize,
}

struct Search<'a> {
    events: &'a [Event],
    list: List,
    /// Which operations are linearized (one bit each).
    linearized: Vec<u64>,
    /// Pairs of (linearized set, availability) already explored.
    seen: HashSet<(Vec<u64>, u64)>,
    /// The linearized operations with the availability before each.
    stack: Vec<(usize, u64)>,
    furthest: Option<Furthest>,
}

impl<'a> Search<'a> {
    fn new(events: &'a [Event]) -> Self {
        Self {
            events,
            list: List::new(events),
            linearized: vec![0; events.len().div_ceil(64)],
            seen: HashSet::new(),
            stack: Vec::new(),
            furthest: None,
        }
    }

    fn run(mut self, steps_max: u64) -> Linearizability {
        let mut required = self.events.iter().filter(|e| e.end.required()).count();
        let mut available = 0u64;
        let mut node = self.list.next[HEAD];
        let mut steps = 0u64;
        while required > 0 {
            steps += 1;
            if steps > steps_max {
                return Linearizability::NotChecked {
                    reason: format!(
                        "the search passed {steps_max} steps over {} operations without an answer",
                        self.events.len()
                    ),
                };
            }
            let call = (node != NIL).then(|| entry(node)).filter(|&(_, is_call)| is_call);
            if let Some((op, _)) = call {
                if let Some(after) = self.try_linearize(op, available) {
                    self.stack.push((op, available));
                    self.list.lift(op);
                    available = after;
                    required -= usize::from(self.list.has_return[op]);
                    node = self.list.next[HEAD];
                } else {
                    node = self.list.next[node];
                }
                continue;
            }
            // A return entry (or the end): undo the last choice.
            if node != NIL {
                self.note_block(entry(node).0, available);
            }
            // Undoing a state-preserving operation tries nothing new (see
            // `Action::preserves_state`): keep undoing.
            loop {
                let Some((op, before)) = self.stack.pop() else {
                    return Linearizability::Violation { explanation: self.explain() };
                };
                set_bit(&mut self.linearized, op, false);
                self.list.unlift(op);
                available = before;
                required += usize::from(self.list.has_return[op]);
                node = self.list.next[call_node(op)];
                if !self.events[op].action.preserves_state() {
                    break;
                }
            }
        }
        Linearizability::Linearizable { steps }
    }

    /// The availability after linearizing `op` next, if the model accepts
    /// it and this (set, state) pair is new.
    fn try_linearize(&mut self, op: usize, available: u64) -> Option<u64> {
        let after = step(available, self.events[op].action)?;
        set_bit(&mut self.linearized, op, true);
        if self.seen.insert((self.linearized.clone(), after)) {
            return Some(after);
        }
        set_bit(&mut self.linearized, op, false);
        None
    }

    fn note_block(&mut self, blocked: usize, available: u64) {
        let depth = self.stack.len();
        if self.furthest.as_ref().is_none_or(|f| depth > f.order.len()) {
            let order = self.stack.iter().map(|&(op, _)| op).collect();
            self.furthest = Some(Furthest { order, available, blocked });
        }
    }

    fn explain(&self) -> String {
        const SHOWN: usize = 4;
        let Some(furthest) = &self.furthest else {
            return "no operation can be linearized first".to_owned();
        };
        let blocked = &self.events[furthest.blocked];
        let placed = furthest.order.len();
        let tail: Vec<String> = furthest.order[placed.saturating_sub(SHOWN)..]
            .iter()
            .map(|&op| format!("op {} ({})", self.events[op].id, self.events[op].action))
            .collect();
        let ended = match blocked.end {
            End::Returned { at_us } => format!("{}-{} µs", blocked.invoke_us, at_us),
            End::Applied | End::Unknown => format!("from {} µs", blocked.invoke_us),
        };
        format!(
            "op {} ({}, {ended}) fits no order: the longest order consistent with real time places {placed} of {} \
             operations{}{} and leaves {} available",
            blocked.id,
            blocked.action,
            self.events.len(),
            if tail.is_empty() { "" } else { ", ending " },
            tail.join(", "),
            furthest.available,
        )
    }
}

fn set_bit(bits: &mut [u64], index: usize, value: bool) {
    let (word, mask) = (index / 64, 1u64 << (index % 64));
    if value {
        bits[word] |= mask;
    } else {
        bits[word] &= !mask;
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::ReserveResult;
    use super::*;

    const LIMITS: Limits = Limits { ops_max: 64, steps_max: 100_000 };

    fn op(id: u64, from: u64, to: u64, action: Action) -> Event {
        Event { id, invoke_us: from, end: End::Returned { at_us: to }, action }
    }

    fn read(id: u64, from: u64, to: u64, available: u64) -> Event {
        op(id, from, to, Action::Read { available })
    }

    fn reserve(id: u64, from: u64, to: u64, result: ReserveResult) -> Event {
        op(id, from, to, Action::Reserve { quantity: 1, result })
    }

    fn receive(id: u64, from: u64, to: u64, quantity: u64) -> Event {
        op(id, from, to, Action::Receive { quantity })
    }

    fn with_end(mut event: Event, end: End) -> Event {
        event.end = end;
        event
    }

    fn assert_linearizable(events: &[Event]) {
        let found = check(events, LIMITS);
        assert!(matches!(found, Linearizability::Linearizable { .. }), "{found:?}");
    }

    /// Asserts a violation whose explanation names op `blocked`.
    fn assert_violation(events: &[Event], blocked: u64) -> String {
        match check(events, LIMITS) {
            Linearizability::Violation { explanation } => {
                assert!(explanation.starts_with(&format!("op {blocked} ")), "{explanation}");
                explanation
            }
            other => panic!("expected a violation naming op {blocked}, got {other:?}"),
        }
    }

    #[test]
    fn a_sequential_history_that_follows_the_model_is_linearizable() {
        assert_linearizable(&[
            receive(1, 0, 10, 2),
            reserve(2, 20, 30, ReserveResult::Granted),
            read(3, 40, 50, 1),
            reserve(4, 60, 70, ReserveResult::Granted),
            reserve(5, 80, 90, ReserveResult::Insufficient),
            read(6, 100, 110, 0),
        ]);
        assert_linearizable(&[]);
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // The read overlaps the reserve: it may see the stock before or after.
        for seen in [2, 1] {
            assert_linearizable(&[
                receive(1, 0, 10, 2),
                reserve(2, 20, 50, ReserveResult::Granted),
                read(3, 30, 40, seen),
            ]);
        }
        // Three concurrent reserves of two units: the refused one went last,
        // although it was invoked first and answered first.
        assert_linearizable(&[
            receive(1, 0, 10, 2),
            reserve(2, 20, 30, ReserveResult::Insufficient),
            reserve(3, 21, 40, ReserveResult::Granted),
            reserve(4, 22, 50, ReserveResult::Granted),
        ]);
    }

    #[test]
    fn a_read_no_order_explains_is_caught() {
        let explanation = assert_violation(
            &[receive(1, 0, 10, 2), reserve(2, 20, 50, ReserveResult::Granted), read(3, 30, 40, 5)],
            3,
        );
        assert!(explanation.contains("read saw 5"), "{explanation}");
    }

    #[test]
    fn two_concurrent_reserves_of_the_last_unit_both_granted_are_caught() {
        let explanation = assert_violation(
            &[
                receive(1, 0, 10, 1),
                reserve(2, 20, 40, ReserveResult::Granted),
                reserve(3, 25, 45, ReserveResult::Granted),
            ],
            3,
        );
        assert!(explanation.contains("leaves 0 available"), "{explanation}");
    }

    #[test]
    fn a_stale_read_after_a_completed_reserve_is_caught() {
        let explanation = assert_violation(
            &[receive(1, 0, 10, 1), reserve(2, 20, 30, ReserveResult::Granted), read(3, 40, 50, 1)],
            3,
        );
        assert!(explanation.contains("op 2 (reserve 1 granted)"), "{explanation}");
    }

    #[test]
    fn a_refusal_while_stock_was_there_is_caught() {
        assert_violation(&[receive(1, 0, 10, 3), reserve(2, 20, 30, ReserveResult::Insufficient)], 2);
    }

    #[test]
    fn an_unknown_operation_may_take_effect_late_or_never() {
        // A receipt that timed out shows up in a read long after.
        let late = with_end(receive(1, 0, 10, 2), End::Unknown);
        assert_linearizable(&[late, read(2, 20, 30, 0), read(3, 100, 110, 2)]);
        // Or never.
        assert_linearizable(&[late, read(2, 20, 30, 0), reserve(3, 40, 50, ReserveResult::Insufficient)]);
        // But not before it was invoked.
        let invoked_late = with_end(receive(2, 50, 60, 2), End::Unknown);
        assert_violation(&[read(1, 0, 10, 2), invoked_late], 1);
        // A reserve with no answer takes the unit if it applies.
        let unseen = with_end(reserve(2, 20, 30, ReserveResult::Unseen), End::Unknown);
        assert_linearizable(&[receive(1, 0, 10, 1), unseen, read(3, 40, 50, 0)]);
        assert_linearizable(&[receive(1, 0, 10, 1), unseen, read(3, 40, 50, 1)]);
    }

    #[test]
    fn an_operation_known_to_have_applied_must_be_placed() {
        // The hold of a timed-out reserve exists, but there never was a
        // unit for it.
        let applied = with_end(reserve(3, 40, 50, ReserveResult::Granted), End::Applied);
        assert_violation(&[receive(1, 0, 10, 1), reserve(2, 20, 30, ReserveResult::Granted), applied], 3);
        // With a later receipt it fits after it.
        assert_linearizable(&[
            receive(1, 0, 10, 1),
            reserve(2, 20, 30, ReserveResult::Granted),
            applied,
            receive(4, 60, 70, 1),
        ]);
    }

    #[test]
    fn a_history_too_large_is_reported_as_not_checked() {
        let events: Vec<Event> = (0..10).map(|i| read(i, i * 10, i * 10 + 5, 0)).collect();
        let found = check(&events, Limits { ops_max: 9, steps_max: 1000 });
        assert!(matches!(&found, Linearizability::NotChecked { reason } if reason.contains("10 operations")));

        // Many concurrent reserves of which one must be refused, refused
        // only by a later read: the search needs more steps than allowed.
        let mut events = vec![receive(0, 0, 1, 7)];
        events.extend((1..=8).map(|i| reserve(i, 10, 100, ReserveResult::Unseen)));
        events.push(read(9, 200, 210, 1));
        let found = check(&events, Limits { ops_max: 64, steps_max: 50 });
        assert!(matches!(&found, Linearizability::NotChecked { reason } if reason.contains("50 steps")), "{found:?}");
        assert!(matches!(check(&events, LIMITS), Linearizability::Violation { .. }));
    }
}

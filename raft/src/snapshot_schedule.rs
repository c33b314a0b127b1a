//! When a replica takes its snapshots: at most every `every` applied
//! entries, like openraft's own `SnapshotPolicy::LogsSinceLast`, but each
//! replica at a phase of its own, so the replicas of a group do not all
//! build at once; only once the log has grown by as many bytes as the
//! last snapshot holds; and never while another replica of the group is
//! building one, as far as this one knows ([`crate::group_builds`]): a
//! due snapshot waits for that build to end.
//!
//! Building a snapshot walks the whole state: seconds of CPU. With one
//! threshold for all, every replica crosses it at about the same log
//! index, so the leader and both followers are slowed together and the
//! group's commit latency with them. Staggered, at most one replica of a
//! group builds at a time, and while a follower builds, the leader and the
//! other follower still form a quorum. Measured with `bench --duration 60
//! --rate 15000`, three encoders at once took about 0.8 of the machine's
//! 2 cores and calls queued for 0.5 s.
//!
//! The phase is the node id's golden-ratio fraction of `every`: any set of
//! node ids spreads evenly (for ids 1, 2, 3 the phases are 0.62, 0.24 and
//! 0.85 of the interval), with nothing to coordinate.
//!
//! A leader hands leadership to its most caught-up follower (one not
//! building, if one is caught up) before it builds, and a replica that
//! comes to lead while it builds (a hand-over or an election chose it)
//! hands it on, once per build. While a cut of the ledger is being
//! encoded, every apply that changes a node the cut shares copies it (copy
//! on write), and the leader's apply is on every write's path, a
//! follower's on none: in 60 s
//! and 180 s benchmark runs the leader's own snapshots made the worst
//! stalls (up to 2.7 s at 179 MB). A hand-over costs one short election.
//!
//! The size rule (LogCabin's, with a ratio of 1) keeps snapshots' cost in
//! proportion to the writes: a snapshot rewrites the whole state, so with
//! a fixed interval a state that grows (24 h of idempotency records and
//! ended holds) would be rewritten ever more often relative to what
//! changed, until building snapshots took all the CPU. With it, a restart
//! replays at most about a snapshot's worth of log after loading one.

use std::time::Duration;

use openraft::RaftMetrics;
use openraft::async_runtime::WatchReceiver;

use crate::group_builds::GroupBuilds;
use crate::leadership;
use crate::storage::{LogStore, StoredSnapshotSize};
use crate::transport::LedgerRaft;

/// How often the schedule looks at how far the replica has applied. At
/// thousands of entries per second a snapshot starts at most this late;
/// watching every applied entry instead would wake a task per entry.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// How long a leader waits for its successor to take over before it
/// builds its snapshot anyway (the successor may be down).
const HAND_OVER_WITHIN: Duration = Duration::from_secs(2);

/// Where in every interval of `every` entries the replica `node_id`
/// takes its snapshot, in `0..every`. The storage spreads its nodes'
/// memtable sizes by the same fraction, so replicas flush apart too.
pub fn phase(node_id: u64, every: u64) -> u64 {
    // 2^64 divided by the golden ratio: Fibonacci hashing.
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let fraction = u128::from(node_id.wrapping_mul(GOLDEN));
    u64::try_from((fraction * u128::from(every)) >> 64).expect("a fraction of a u64 fits in a u64")
}

/// The log index at which the next snapshot is due: the first index of
/// the replica's phase at least half an interval after `base` (the later
/// of its last snapshot and its last request for one). Half, not a whole
/// one: a replica whose last snapshot came from elsewhere (installed from
/// the leader) falls back into its phase within one interval, and never
/// builds again right after one.
pub fn next_due(base: u64, node_id: u64, every: u64) -> u64 {
    let every = every.max(1);
    let earliest = base.saturating_add(every / 2);
    let phase = phase(node_id, every);
    let interval_start = earliest - earliest % every;
    let due = interval_start.saturating_add(phase);
    if due >= earliest { due } else { due.saturating_add(every) }
}

/// One replica's snapshot schedule.
#[derive(Clone, Debug)]
pub struct SnapshotSchedule {
    /// The replica's node id, which sets its phase.
    pub node_id: u64,
    /// Applied entries between its snapshots, at least.
    pub every: u64,
    /// The group's log on this node, for how much it has grown.
    pub log: LogStore,
    /// The size of the group's stored snapshot on this node.
    pub stored: StoredSnapshotSize,
    /// The group's snapshot builds: this node's, and its peers' as far as
    /// it knows (see [`crate::group_builds`]).
    pub builds: GroupBuilds,
}

impl SnapshotSchedule {
    /// Asks `raft` for a snapshot whenever the replica has applied up to
    /// its next due index and the log has grown by at least the stored
    /// snapshot's size since it was taken, until the group's Raft stops.
    /// Configure Raft with `SnapshotPolicy::Never`, so this is the only
    /// automatic trigger.
    pub async fn run(self, raft: LedgerRaft) {
        let mut checks = tokio::time::interval(CHECK_EVERY);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut due_check = DueCheck::new(self.node_id, self.every, self.log.appended_bytes());
        let mut hand_on = HandOn::default();
        // The last other node seen leading: the one that handed leadership
        // here, if any, and likely building a snapshot itself.
        let mut other_leader = None;
        loop {
            checks.tick().await;
            let (applied, snapshot, stopped, term, leading) = {
                let metrics = raft.metrics();
                let m = metrics.borrow_watched();
                if let Some(leader) = m.current_leader.filter(|leader| *leader != self.node_id) {
                    other_leader = Some(leader);
                }
                let leading = m.current_leader == Some(self.node_id);
                (m.last_applied.map_or(0, |id| id.index), m.snapshot, m.running_state.is_err(), m.current_term, leading)
            };
            if stopped {
                return;
            }
            if self.builds.building_here() {
                // In 90 s benchmark runs, hand-overs chose replicas that
                // were building half the time: the worst stalls of a run.
                if hand_on.due(self.builds.here().started_count(), term, leading) {
                    // Not inside the `if let`: the metrics guard must be gone before the await.
                    let successor = successor(&raft.metrics().borrow_watched(), other_leader, &self.builds);
                    if let Some(successor) = successor {
                        hand_over(&raft, self.node_id, successor, "while building a snapshot").await;
                    }
                }
                continue;
            }
            let snapshot = snapshot.map(|id| id.index);
            let others_building = self.builds.others_building(leading);
            if !due_check.due(applied, snapshot, self.log.appended_bytes(), self.stored.bytes(), others_building) {
                continue;
            }
            let successor = successor(&raft.metrics().borrow_watched(), None, &self.builds);
            if let Some(successor) = successor {
                hand_over(&raft, self.node_id, successor, "before building a snapshot").await;
            }
            if let Err(error) = raft.trigger().snapshot().await {
                tracing::debug!(%error, "snapshot not requested: Raft is stopping");
                return;
            }
        }
    }
}

/// The voter to hand leadership to, if this node leads and has one (see
/// [`pick_successor`]): not `avoid`, nor a follower that says it builds,
/// if another is caught up.
fn successor(metrics: &RaftMetrics<crate::TypeConfig>, avoid: Option<u64>, builds: &GroupBuilds) -> Option<u64> {
    if metrics.current_leader != Some(metrics.id) {
        return None;
    }
    let membership = metrics.membership_config.membership();
    let matched = metrics.replication.as_ref()?;
    let followers = matched
        .iter()
        .filter(|(id, _)| **id != metrics.id && membership.voter_ids().any(|voter| voter == **id))
        .map(|(id, log_id)| (*id, log_id.map_or(0, |log_id| log_id.index)));
    pick_successor(followers, |id| Some(id) == avoid || builds.follower_building(id))
}

/// How far behind the most caught-up follower another may be and still
/// be chosen over it: a few dozen Raft entries at full load.
const CAUGHT_UP_WITHIN: u64 = 1_000;

/// Of the voting followers, with the index each has replicated up to: the
/// most caught-up one, but not one that is `busy` (building a snapshot,
/// or the node that handed leadership here and likely building) if one
/// that is not is caught up too (within [`CAUGHT_UP_WITHIN`]).
fn pick_successor(followers: impl Iterator<Item = (u64, u64)>, busy: impl Fn(u64) -> bool) -> Option<u64> {
    let followers: Vec<(u64, u64)> = followers.collect();
    let best = followers.iter().map(|(_, matched)| *matched).max()?;
    let caught_up = |matched: u64| matched.saturating_add(CAUGHT_UP_WITHIN) >= best;
    followers.iter().max_by_key(|(id, matched)| (!busy(*id) && caught_up(*matched), *matched)).map(|(id, _)| *id)
}

/// Hands leadership to `successor` and waits a little for it; a failed
/// or slow hand-over only means this node builds while leading. `when`
/// says which of the schedule's hand-overs it is, for the log.
async fn hand_over(raft: &LedgerRaft, node_id: u64, successor: u64, when: &str) {
    match leadership::hand_over(raft, node_id, successor, HAND_OVER_WITHIN).await {
        Ok(Some(leader)) => tracing::info!(successor = leader, "handed leadership over {when}"),
        Ok(None) => tracing::info!(successor, "building a snapshot while leading: no hand-over in time"),
        Err(error) => tracing::debug!(%error, successor, "no hand-over {when}: Raft is stopping"),
    }
}

/// Whether a replica that is building should hand leadership on: only if
/// it came to lead after the build began (a hand-over or an election chose
/// it), and once per build. A leader that was already leading when its
/// build began keeps leading: its pre-build hand-over failed, or an
/// operator asked for the snapshot (the admin API), and moving leadership
/// is not theirs to expect.
#[derive(Debug, Default)]
struct HandOn {
    /// The build last seen, with the term and whether this node led when
    /// it was first seen.
    build: Option<(u64, u64, bool)>,
    /// The build during which this node handed leadership on.
    handed_on_in: Option<u64>,
}

impl HandOn {
    /// Whether to hand on now, seeing build number `build` running in
    /// `term`, this node `leading` or not; counts the hand-on as done.
    fn due(&mut self, build: u64, term: u64, leading: bool) -> bool {
        let &mut (_, term_at_start, led_at_start) = match &mut self.build {
            Some(seen) if seen.0 == build => seen,
            other => other.insert((build, term, leading)),
        };
        let came_to_lead = leading && (!led_at_start || term > term_at_start);
        if !came_to_lead || self.handed_on_in == Some(build) {
            return false;
        }
        self.handed_on_in = Some(build);
        true
    }
}

/// The schedule's decisions, apart from Raft and the clock.
#[derive(Debug)]
struct DueCheck {
    node_id: u64,
    every: u64,
    /// The index due points are counted from, besides the last snapshot:
    /// the last due point reached.
    considered_at: u64,
    /// The last snapshot index seen, and the log's size when it was seen.
    last_snapshot: Option<u64>,
    log_at_snapshot: u64,
}

impl DueCheck {
    fn new(node_id: u64, every: u64, log_bytes: u64) -> Self {
        Self { node_id, every, considered_at: 0, last_snapshot: None, log_at_snapshot: log_bytes }
    }

    /// Whether to build a snapshot now, with `applied` entries applied,
    /// the last snapshot at `snapshot`, `log_bytes` appended so far and a
    /// stored snapshot of `snapshot_bytes`. While `others_building` (another
    /// replica of the group builds), a due snapshot waits, and is built as
    /// soon as that one is done.
    fn due(
        &mut self,
        applied: u64,
        snapshot: Option<u64>,
        log_bytes: u64,
        snapshot_bytes: u64,
        others_building: bool,
    ) -> bool {
        if snapshot != self.last_snapshot {
            self.last_snapshot = snapshot;
            self.log_at_snapshot = log_bytes;
        }
        let counted_from = snapshot.unwrap_or(0).max(self.considered_at);
        if applied < next_due(counted_from, self.node_id, self.every) {
            return false;
        }
        if others_building {
            tracing::debug!(applied, "snapshot due, waiting: another replica of the group is building one");
            return false;
        }
        self.considered_at = applied;
        let grown = log_bytes.saturating_sub(self.log_at_snapshot);
        if grown < snapshot_bytes {
            tracing::debug!(
                applied,
                grown,
                snapshot_bytes,
                "snapshot skipped: the log grew less than the last one's size"
            );
            return false;
        }
        tracing::debug!(applied, grown, snapshot_bytes, "snapshot due");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_replica_that_came_to_lead_during_its_build_hands_on_once() {
        // Leading when its build began (asked for by an operator): keeps leading.
        let mut hand_on = HandOn::default();
        assert!(!hand_on.due(1, 5, true));
        assert!(!hand_on.due(1, 5, true));
        // Following when the build began, then leading: hands on, once.
        let mut hand_on = HandOn::default();
        assert!(!hand_on.due(1, 5, false));
        assert!(hand_on.due(1, 6, true));
        assert!(!hand_on.due(1, 7, true), "once per build");
        // Leading, losing it and winning it back in a later term during the build: hands on.
        let mut hand_on = HandOn::default();
        assert!(!hand_on.due(2, 5, true));
        assert!(hand_on.due(2, 8, true));
        // The next build starts afresh.
        assert!(!hand_on.due(3, 8, true));
        assert!(!hand_on.due(3, 8, false));
        assert!(hand_on.due(3, 9, true));
    }

    #[test]
    fn the_successor_is_the_most_caught_up_follower_but_not_a_busy_one() {
        let followers = [(2, 900), (3, 1_000)];
        let busy = |busy: u64| move |id| id == busy;
        assert_eq!(pick_successor(followers.into_iter(), |_| false), Some(3));
        assert_eq!(pick_successor(followers.into_iter(), busy(2)), Some(3));
        // A busy node (building, or the one that handed leadership over) is
        // passed over while another is caught up...
        assert_eq!(pick_successor(followers.into_iter(), busy(3)), Some(2));
        // ... but not for one far behind (likely down), nor when it is the only one.
        assert_eq!(pick_successor([(2, 10), (3, 5_000)].into_iter(), busy(3)), Some(3));
        assert_eq!(pick_successor([(3, 5_000)].into_iter(), busy(3)), Some(3));
        assert_eq!(pick_successor([].into_iter(), |_| false), None);
    }

    #[test]
    fn the_replicas_of_a_group_are_spread_over_the_interval() {
        for members in [3_u64, 5] {
            let mut phases: Vec<u64> = (1..=members).map(|id| phase(id, 50_000)).collect();
            phases.sort_unstable();
            let gaps =
                phases.windows(2).map(|w| w[1] - w[0]).chain([50_000 - phases[members as usize - 1] + phases[0]]);
            let smallest = gaps.min().unwrap();
            assert!(smallest >= 50_000 / (2 * members), "{members} members: phases {phases:?}");
        }
    }

    #[test]
    fn snapshots_fall_due_once_per_interval_at_the_phase() {
        let (node, every) = (1, 50_000);
        let phase = phase(node, every);
        assert_eq!(phase, 30_901, "0.618 of the interval");
        let first = next_due(0, node, every);
        assert_eq!(first, phase);
        // Taken at the due index, the next is one interval later, and the next after that.
        assert_eq!(next_due(first, node, every), first + every);
        assert_eq!(next_due(first + every, node, every), first + 2 * every);
        // Taken a little late (the check runs every 100 ms), still the same phase.
        assert_eq!(next_due(first + 137, node, every), first + every);
    }

    #[test]
    fn a_snapshot_from_elsewhere_leads_back_into_the_phase_within_an_interval() {
        let (node, every) = (1, 50_000);
        let phase = phase(node, every);
        // Installed just before this replica's own was due: not built again at once.
        let installed = 2 * every + phase - 10;
        assert_eq!(next_due(installed, node, every), 3 * every + phase);
        // Installed just after: the next phase point half an interval on.
        let installed = 2 * every + phase + 10;
        assert_eq!(next_due(installed, node, every), 3 * every + phase);
    }

    #[test]
    fn a_snapshot_waits_until_the_log_has_grown_by_the_last_ones_size() {
        let (node, every) = (1, 100);
        let phase = phase(node, every);
        let mut due_check = DueCheck::new(node, every, 0);
        assert!(!due_check.due(phase - 1, None, 5_000, 0, false), "not before the phase");
        assert!(due_check.due(phase, None, 5_000, 0, false), "the first: nothing stored yet");
        // Built at `phase`, 8,000 bytes; the log has 5,000 bytes then.
        let first = Some(phase);
        assert!(!due_check.due(phase + 50, first, 5_000, 8_000, false));
        // The next due point: only 7,999 bytes appended since.
        assert!(!due_check.due(phase + every, first, 12_999, 8_000, false), "the log grew less than the snapshot");
        assert!(!due_check.due(phase + every + 60, first, 20_000, 8_000, false), "between due points");
        assert!(due_check.due(phase + 2 * every, first, 20_000, 8_000, false), "grown enough, at the next due point");
        // A newer snapshot (installed from the leader) restarts the count.
        let installed = Some(phase + 2 * every + 30);
        assert!(!due_check.due(phase + 3 * every, installed, 21_000, 1_000, false));
        assert!(due_check.due(phase + 4 * every, installed, 22_000, 1_000, false));
    }

    #[test]
    fn a_due_snapshot_waits_while_another_replica_builds_and_is_built_right_after() {
        let (node, every) = (1, 100);
        let phase = phase(node, every);
        let mut due_check = DueCheck::new(node, every, 0);
        assert!(!due_check.due(phase, None, 5_000, 0, true), "another replica builds");
        assert!(!due_check.due(phase + 20, None, 5_000, 0, true));
        // Not pushed to the next due point: built as soon as the other is done.
        assert!(due_check.due(phase + 40, None, 5_000, 0, false));
    }

    #[test]
    fn tiny_and_huge_intervals_do_not_overflow() {
        assert_eq!(next_due(7, 3, 1), 7);
        assert_eq!(next_due(0, 3, 0), 0, "an interval of 0 is taken as 1");
        let due = next_due(u64::MAX - 5, 2, u64::MAX);
        assert!(due >= u64::MAX / 2, "{due}");
    }
}

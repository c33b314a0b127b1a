//! [`GroupBuilds`]: which replicas of one group are building a snapshot,
//! as far as this node knows, so that at most one of them builds at a
//! time.
//!
//! A leader needs one follower's acknowledgement per write. A replica that
//! builds is slow to give it: its applies copy what the build's cut shares
//! (copy on write), and storing the snapshot syncs tens of megabytes to
//! its disk. With the schedule's phases alone, builds under load lasted
//! longer than the spacing of the phases (37-75 s against about 24 s at
//! 15,000 reservations/s on two cores), so both followers often built at
//! once and every write waited for one of them: in a 180 s open-loop run
//! the slowest calls reached 200-233 ms in those windows, against 50-110
//! ms while one follower built.
//!
//! The knowledge travels with replication, at no extra message:
//! - every AppendEntries reply says whether its sender is building, so a
//!   leader knows each follower's state within a heartbeat;
//! - every AppendEntries request tells its target whether another voter
//!   (the leader, or another follower) is building.
//!
//! Knowledge older than [`HEARD_WITHIN`] counts as "not building": a
//! follower that went silent, or a leader that was deposed, must not hold
//! everyone's snapshots back. Two replicas may still start together when
//! both decide within one heartbeat; the phases make that rare.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::storage::SnapshotBuilds;

/// How long a peer's word on its builds counts: ten heartbeats at the
/// default 100 ms.
pub const HEARD_WITHIN: Duration = Duration::from_secs(1);

/// What this node knows about snapshot builds in one group: its own (from
/// the state machine) and its peers' (from replication messages). Cheap
/// to clone; clones share the knowledge.
#[derive(Clone, Debug)]
pub struct GroupBuilds {
    here: SnapshotBuilds,
    heard: Arc<Mutex<Heard>>,
}

/// Peers' words, each with when it was heard.
#[derive(Debug, Default)]
struct Heard {
    /// As leader: whether each follower was building, by its last reply.
    followers: HashMap<u64, (bool, Instant)>,
    /// As follower: whether another voter was building, by the leader's
    /// last request.
    from_leader: Option<(bool, Instant)>,
}

impl GroupBuilds {
    /// Knowledge of the group whose replica on this node reports its own
    /// builds through `here`.
    pub fn new(here: SnapshotBuilds) -> Self {
        Self { here, heard: Arc::default() }
    }

    /// This node's own builds.
    pub fn here(&self) -> &SnapshotBuilds {
        &self.here
    }

    /// Whether this node's replica is building now: what its replies say.
    pub fn building_here(&self) -> bool {
        self.here.running()
    }

    /// Records a follower's reply: whether it was building.
    pub fn heard_from_follower(&self, follower: u64, building: bool) {
        self.heard().followers.insert(follower, (building, Instant::now()));
    }

    /// Records a leader's request: whether another voter was building.
    pub fn heard_from_leader(&self, others_building: bool) {
        self.heard().from_leader = Some((others_building, Instant::now()));
    }

    /// For a request to `target`: whether a voter other than `target` is
    /// building, this node included.
    pub fn building_besides(&self, target: u64) -> bool {
        let now = Instant::now();
        self.building_here() || self.heard().followers.iter().any(|(id, word)| *id != target && fresh(*word, now))
    }

    /// Whether `follower` said it was building, recently.
    pub fn follower_building(&self, follower: u64) -> bool {
        self.heard().followers.get(&follower).is_some_and(|word| fresh(*word, Instant::now()))
    }

    /// Whether another replica of the group is building, as far as this
    /// node knows: as leader, by its followers' replies; as follower, by
    /// its leader's word.
    pub fn others_building(&self, leading: bool) -> bool {
        let now = Instant::now();
        let heard = self.heard();
        if leading {
            heard.followers.values().any(|word| fresh(*word, now))
        } else {
            heard.from_leader.is_some_and(|word| fresh(word, now))
        }
    }

    fn heard(&self) -> std::sync::MutexGuard<'_, Heard> {
        self.heard.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a word says "building" and was heard within [`HEARD_WITHIN`].
fn fresh((building, at): (bool, Instant), now: Instant) -> bool {
    building && now.saturating_duration_since(at) < HEARD_WITHIN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builds() -> GroupBuilds {
        GroupBuilds::new(SnapshotBuilds::default())
    }

    #[test]
    fn a_leader_knows_its_followers_by_their_last_replies() {
        let group = builds();
        assert!(!group.others_building(true));
        group.heard_from_follower(2, true);
        group.heard_from_follower(3, false);
        assert!(group.others_building(true));
        assert!((group.follower_building(2), group.follower_building(3)) == (true, false));
        // Node 3 is told that node 2 builds; node 2 that nobody else does.
        assert!(group.building_besides(3));
        assert!(!group.building_besides(2));
        group.heard_from_follower(2, false);
        assert!(!group.others_building(true));
        assert!(!group.building_besides(3));
    }

    #[test]
    fn a_follower_knows_what_its_leader_said_last() {
        let group = builds();
        assert!(!group.others_building(false));
        group.heard_from_leader(true);
        assert!(group.others_building(false));
        // A follower's own view ignores what it heard as a leader, and back.
        assert!(!group.others_building(true));
        group.heard_from_leader(false);
        assert!(!group.others_building(false));
    }

    #[test]
    fn old_words_count_as_not_building() {
        let group = builds();
        let long_ago = Instant::now().checked_sub(HEARD_WITHIN).expect("a monotonic clock that far back");
        group.heard().followers.insert(2, (true, long_ago));
        group.heard().from_leader = Some((true, long_ago));
        assert!(!group.others_building(true));
        assert!(!group.others_building(false));
        assert!(!group.follower_building(2));
        assert!(!group.building_besides(3));
    }
}

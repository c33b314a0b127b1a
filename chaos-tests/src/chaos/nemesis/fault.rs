//! [`Fault`]: the named faults (Jepsen's "nemeses"), what each does, how
//! long a window of it is planned to last, and whether it needs the
//! processes in hand.

use serde::Serialize;

/// One named fault. A window of it is applied to the region, held, then
/// healed; the runner in [`super`] picks which fault each window applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// No fault: the baseline.
    None,
    /// Kill -9 the leader, restart it on its data after a while.
    LeaderKill,
    /// Kill -9 one follower, restart it after a while.
    FollowerKill,
    /// Kill -9 a minority of the members (any of them), restart them.
    MinorityKill,
    /// Kill -9 a majority of the members: the group has no quorum, so no
    /// write may be acknowledged until they restart.
    MajorityKill,
    /// SIGSTOP the leader's process, SIGCONT it after a while.
    Pause,
    /// SIGSTOP one follower's process, SIGCONT it after a while.
    FollowerPause,
    /// Cut every link between the leader and the others, then heal.
    MinorityPartition,
    /// Cut a random minority (of any members) off from the majority.
    Split,
    /// Overlapping majorities: members on a ring each hear only their
    /// neighbours, so every node sees a different majority.
    Ring,
    /// The leader receives no request from any peer; its own requests
    /// (and their replies) still pass.
    OneWayInbound,
    /// The leader's requests to every peer are lost; requests from peers
    /// still reach it.
    OneWayOutbound,
    /// Every message between members is delayed.
    SlowLinks,
    /// A fraction of the messages between members is lost.
    LossyLinks,
    /// Stop (SIGTERM) and restart every member in turn, followers first,
    /// waiting for a leader in between.
    RollingRestart,
    /// Add a new node under a fresh id, promote it, remove an old voter and
    /// stop its process.
    MembershipChange,
    /// As membership-change, but the new learner is killed while the
    /// leader sends it a snapshot, restarted, and must catch up first.
    SnapshotCrash,
    /// Every fsync of one member is slowed (its node's disk hook).
    DiskSlow,
    /// Every fsync of one follower fails: the node must stop rather than
    /// acknowledge; the harness restarts it on its data.
    DiskFail,
    /// The leader's clock jumps an hour forward or back.
    ClockJump,
    /// A follower is stopped cleanly and one of its data files damaged: it
    /// must refuse to start, naming `regiond rebuild`, which then rebuilds
    /// it from its peers under a fresh id while the group serves.
    DamagedFiles,
}

impl Fault {
    /// Every fault, in the order `chaos list` shows and `chaos suite` runs.
    pub const ALL: [Self; 21] = [
        Self::None,
        Self::LeaderKill,
        Self::FollowerKill,
        Self::MinorityKill,
        Self::MajorityKill,
        Self::Pause,
        Self::FollowerPause,
        Self::MinorityPartition,
        Self::Split,
        Self::Ring,
        Self::OneWayInbound,
        Self::OneWayOutbound,
        Self::SlowLinks,
        Self::LossyLinks,
        Self::RollingRestart,
        Self::MembershipChange,
        Self::SnapshotCrash,
        Self::DiskSlow,
        Self::DiskFail,
        Self::ClockJump,
        Self::DamagedFiles,
    ];

    /// Every fault but [`Fault::None`] (the first of [`Fault::ALL`]): what
    /// the `all-faults` combination draws from.
    pub const INJECTED: &'static [Self] = match Self::ALL.split_first() {
        Some((_, rest)) => rest,
        None => &[],
    };

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::LeaderKill => "leader-kill",
            Self::FollowerKill => "follower-kill",
            Self::MinorityKill => "minority-kill",
            Self::MajorityKill => "majority-kill",
            Self::Pause => "pause",
            Self::FollowerPause => "follower-pause",
            Self::MinorityPartition => "minority-partition",
            Self::Split => "split",
            Self::Ring => "ring",
            Self::OneWayInbound => "one-way-inbound",
            Self::OneWayOutbound => "one-way-outbound",
            Self::SlowLinks => "slow-links",
            Self::LossyLinks => "lossy-links",
            Self::RollingRestart => "rolling-restart",
            Self::MembershipChange => "membership-change",
            Self::SnapshotCrash => "snapshot-crash",
            Self::DiskSlow => "disk-slow",
            Self::DiskFail => "disk-fail",
            Self::ClockJump => "clock-jump",
            Self::DamagedFiles => "damaged-files",
        }
    }

    /// The fault named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|fault| fault.name() == name)
    }

    /// One line on what it does.
    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "no fault: the workload alone (baseline)",
            Self::LeaderKill => "kill -9 the leader, restart it on its data after a pause; repeated",
            Self::FollowerKill => "kill -9 a follower, restart it after a pause; repeated",
            Self::MinorityKill => "kill -9 a minority of the members (the leader maybe among them), restart them",
            Self::MajorityKill => {
                "kill -9 a majority: no write may be acknowledged while they are down; the region serves again after"
            }
            Self::Pause => "SIGSTOP the leader's process, SIGCONT it after a while; repeated",
            Self::FollowerPause => "SIGSTOP a follower's process, SIGCONT it after a while; repeated",
            Self::MinorityPartition => {
                "drop every link between the leader and the others (SetFaults), then heal; repeated"
            }
            Self::Split => "cut a random minority of the members off from the majority, then heal",
            Self::Ring => "overlapping majorities: a ring where each node hears its neighbours only (3 nodes: A-B-C)",
            Self::OneWayInbound => "one-way: the leader hears no request from its peers, its own still go out",
            Self::OneWayOutbound => "one-way: the leader's requests are lost, its peers' requests still reach it",
            Self::SlowLinks => "delay every message between members by 20-250 ms, then heal",
            Self::LossyLinks => "lose 5-30% of the messages between members, then heal",
            Self::RollingRestart => {
                "SIGTERM and restart every member in turn, leader last, waiting for a leader between"
            }
            Self::MembershipChange => "add a node (--join, fresh id), promote it, remove an old voter and stop it",
            Self::SnapshotCrash => {
                "add a node; kill -9 it while the leader sends it a snapshot; restart it; it must catch up; promote it"
            }
            Self::DiskSlow => "delay every fsync of one member by 50-250 ms (its disk hook), then heal",
            Self::DiskFail => "fail every fsync of a follower: it must stop rather than acknowledge; restarted after",
            Self::ClockJump => "the leader's clock jumps an hour forward or back (its clock hook), then heals",
            Self::DamagedFiles => {
                "stop a follower, flip a bit in or cut short one of its data files: it must refuse to start; rebuild it"
            }
        }
    }

    /// Whether it signals, starts or stops processes, so it needs a region
    /// the harness launched (the other faults go through `Admin.SetFaults`
    /// alone).
    pub fn needs_processes(self) -> bool {
        match self {
            Self::None
            | Self::MinorityPartition
            | Self::Split
            | Self::Ring
            | Self::OneWayInbound
            | Self::OneWayOutbound
            | Self::SlowLinks
            | Self::LossyLinks
            | Self::DiskSlow
            | Self::ClockJump => false,
            Self::LeaderKill
            | Self::FollowerKill
            | Self::MinorityKill
            | Self::MajorityKill
            | Self::Pause
            | Self::FollowerPause
            | Self::RollingRestart
            | Self::MembershipChange
            | Self::SnapshotCrash
            | Self::DiskFail
            | Self::DamagedFiles => true,
        }
    }

    /// The shortest and longest planned window, in milliseconds, for a
    /// region of `members`. Held faults are held that long; the stepwise
    /// ones (rolling restart, membership changes) take what they take, and
    /// this is their budget.
    pub fn length_ms(self, members: u64) -> (u64, u64) {
        match self {
            Self::None => (0, 0),
            Self::RollingRestart => (1_200u64.saturating_mul(members), 1_500u64.saturating_mul(members)),
            Self::MembershipChange => (2_500, 3_500),
            Self::SnapshotCrash | Self::DamagedFiles => (3_500, 4_500),
            _ => (1_000, 3_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        for fault in Fault::ALL {
            assert_eq!(Fault::from_name(fault.name()), Some(fault));
            assert!(!fault.describe().is_empty());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Fault::ALL.len());
        assert_eq!(Fault::from_name("leader-kil"), None);
    }

    #[test]
    fn the_ci_smoke_names_are_kept() {
        for name in ["leader-kill", "pause", "minority-partition"] {
            assert!(Fault::from_name(name).is_some(), "{name}");
        }
        assert!(!Fault::MinorityPartition.needs_processes());
        assert!(Fault::LeaderKill.needs_processes());
    }
}

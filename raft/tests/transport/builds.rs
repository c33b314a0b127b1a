//! Replicas learn each other's snapshot builds from replication traffic:
//! a follower's replies tell its leader, and the leader tells the others.

use std::time::Duration;

use raft::group_builds::GroupBuilds;
use raft::storage::DiskFaultConfig;

use super::support::{self, GroupSpec};

const EU: GroupSpec = GroupSpec { id: "region/eu", region: "eu" };

/// Waits until `holds` is true of `builds`, checking every few milliseconds.
async fn until(builds: &GroupBuilds, what: &str, holds: impl Fn(&GroupBuilds) -> bool) {
    let waited = tokio::time::timeout(support::TIMEOUT.unwrap(), async {
        while !holds(builds) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    waited.await.unwrap_or_else(|_| panic!("not within {:?}: {what}", support::TIMEOUT.unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_build_is_known_to_its_leader_and_told_to_the_other_follower() {
    let (cluster, leader, _) = support::stocked_trio(EU, "sku", 5).await;
    let followers: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != leader).collect();
    let (builder, other) = (followers[0], followers[1]);
    let builds = |id: u64| cluster.node(id).replica(EU.id).builds.clone();
    assert!(!builds(leader).others_building(true) && !builds(other).others_building(false), "nobody builds yet");

    // Storing the builder's snapshot waits on its slow disk: the build lasts.
    let disk = cluster.node(builder).storage.disk_faults();
    disk.set(DiskFaultConfig { fsync_delay_ms: 3_000, ..DiskFaultConfig::default() });
    cluster.node(builder).raft(EU.id).trigger().snapshot().await.unwrap();
    until(&builds(builder), "the builder builds", GroupBuilds::building_here).await;
    until(&builds(leader), "the leader hears it", |b| b.follower_building(builder) && b.others_building(true)).await;
    until(&builds(other), "the other follower is told", |b| b.others_building(false)).await;
    // The builder itself is told of nobody else.
    assert!(!builds(builder).others_building(false));
    assert!(!builds(leader).follower_building(other));

    disk.set(DiskFaultConfig::default());
    until(&builds(builder), "the build ends", |b| !b.building_here()).await;
    until(&builds(leader), "the leader hears it ended", |b| !b.others_building(true)).await;
    until(&builds(other), "the other follower is told it ended", |b| !b.others_building(false)).await;
    cluster.shutdown().await;
}

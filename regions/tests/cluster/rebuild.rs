//! A replica whose data files were damaged while it was stopped refuses to
//! start, naming the rebuild command; `regiond rebuild` (the library
//! function it runs) brings it back under a new id from its peers while
//! writes continue, and every acknowledged write reaches every replica.

use std::path::{Path, PathBuf};

use openraft::async_runtime::WatchReceiver;
use regions::node::{RegionNode, StartMode};
use regions::rebuild::rebuild;

use regions::config::PeerConfig;

use super::support::{self, Region, WAREHOUSE_TOKEN};

fn peer(raft_addr: std::net::SocketAddr, api_addr: std::net::SocketAddr) -> PeerConfig {
    PeerConfig { raft_addr: raft_addr.to_string(), api_addr: api_addr.to_string() }
}

/// The largest table file of a data dir.
fn largest_table(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|path| path.metadata().unwrap().len())
        .expect("a clean stop leaves table files")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_replica_refuses_to_start_and_is_rebuilt_from_its_peers_while_writes_continue() {
    let mut region = Region::start(3).await;
    support::register_warehouse(&region.admin()).await;
    let staff = region.client(WAREHOUSE_TOKEN);
    support::receive(&staff, "c-receive-first", "apple", 1).await.expect("received");

    let writer = support::Writer::start(&staff, 1);

    let leader = region.wait_leader().await;
    let damaged = region.running.keys().copied().find(|id| *id != leader).unwrap();
    region.stop(damaged).await;
    let config = region.stopped.remove(&damaged).expect("stopped");
    let table = largest_table(&config.data_dir);
    let mut bytes = std::fs::read(&table).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&table, bytes).unwrap();

    let refused =
        RegionNode::start(config.clone(), StartMode::Existing).await.expect_err("damaged data must not start");
    assert!(refused.to_string().contains("regiond rebuild"), "the refusal names the way out: {refused}");

    // As an operator's config would: the initial members as `peers`, which
    // is also where the rebuild finds the group.
    let mut config = config;
    config.peers = region
        .running
        .iter()
        .map(|(id, node)| (*id, peer(node.raft_addr(), node.api_addr())))
        .chain([(damaged, peer(config.raft_addr, config.api_addr))])
        .collect();
    let rebuilt = 4;
    let node = rebuild(config.clone(), rebuilt, &[]).await.expect("rebuilt from its peers");
    region.running.insert(rebuilt, node);

    let leader = region.wait_leader().await;
    let voters: Vec<u64> = region.running[&leader]
        .region()
        .raft()
        .metrics()
        .borrow_watched()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    let mut expected: Vec<u64> = region.running.keys().copied().collect();
    expected.sort_unstable();
    assert_eq!(voters, expected, "the new id replaced the damaged one among the voters");
    assert!(!voters.contains(&damaged));
    let aside = std::fs::read_dir(config.data_dir.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!("node{damaged}.damaged-")))
        .count();
    assert_eq!(aside, 1, "the damaged data dir is kept aside");

    // The rebuilt node restarts on its config (the new id, the initial
    // members still as `peers`) like any member.
    region.stop(rebuilt).await;
    region.restart(rebuilt).await;
    assert_eq!(region.running[&rebuilt].config().peers, config.peers);
    region.wait_leader().await;

    let acknowledged = writer.stop().await;
    let on_hand = support::on_hand(&staff, "apple").await;
    assert!(on_hand >= acknowledged, "every acknowledged write is there: {on_hand} < {acknowledged}");
    let index = region.running[&leader].region().raft().metrics().borrow_watched().last_applied.map_or(0, |l| l.index);
    region.converged(index).await;
    region.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrapping_a_node_that_is_not_among_the_peers_is_refused() {
    let region = Region::start(1).await;
    let mut config = region.running[&1].config().clone();
    let dir = tempfile::tempdir().unwrap();
    config.node_id = 9;
    config.data_dir = dir.path().join("node9");
    (config.raft_addr, config.api_addr) = region.any_addrs();
    config.peers = [(1, peer(region.running[&1].raft_addr(), region.running[&1].api_addr()))].into();
    let refused = RegionNode::start(config, StartMode::Bootstrap).await.expect_err("node 9 is no initial member");
    assert!(refused.to_string().contains("peers") && refused.to_string().contains("(9)"), "{refused}");
    region.shutdown().await;
}

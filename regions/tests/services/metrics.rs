//! The metrics page: Raft progress, batching, and the disk timings an SRE
//! watches first (the write-ahead log's syncs, snapshot builds), each
//! moving with the work that feeds it.

use protos::admin::TriggerSnapshotRequest;
use region_launcher::cluster::{histogram_sum_count, metrics_page};

use super::support::{ADMIN_TOKEN, Node, PARIS, PARIS_TOKEN, TIMEOUT, receive};

async fn page(node: &Node) -> String {
    metrics_page(node.node().metrics_addr().expect("the node serves metrics")).await.expect("the metrics page")
}

/// The count of histogram `name` on the page.
fn count(page: &str, name: &str) -> f64 {
    histogram_sum_count(page, name).1
}

#[tokio::test]
async fn the_metrics_page_tracks_raft_batching_syncs_and_snapshot_builds() {
    let node = Node::start().await;
    let before = page(&node).await;
    assert!(before.contains("regiond_raft_is_leader{"), "{before}");
    node.warehouses(PARIS_TOKEN).adjust_stock(receive("rx-1", PARIS, "sku-1", 5)).await.expect("received");

    let after = page(&node).await;
    for name in ["regiond_wal_sync_seconds", "regiond_proposals_per_entry", "regiond_apply_latency_seconds"] {
        assert!(count(&after, name) > count(&before, name), "{name} counts the write: {after}");
    }
    let (sync_seconds, syncs) = histogram_sum_count(&after, "regiond_wal_sync_seconds");
    assert!(sync_seconds > 0.0 && sync_seconds / syncs < 5.0, "plausible sync times: {sync_seconds} s over {syncs}");
    assert_eq!(count(&after, "regiond_snapshot_build_seconds"), 0.0, "no snapshot yet");

    let group_id = node.node().region().group().to_string();
    node.admin(ADMIN_TOKEN).trigger_snapshot(TriggerSnapshotRequest { group_id }).await.expect("snapshot triggered");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while count(&page(&node).await, "regiond_snapshot_build_seconds") < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the snapshot build was never counted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

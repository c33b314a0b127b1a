//! A removed node's id is never handed out again, even when it was the
//! highest id and so no current member remembers it: AddLearner refuses it
//! (naming `node_id` and the lowest acceptable id) before and after the
//! remaining nodes restart from a snapshot that replaced the log naming it,
//! and accepts an id above it.

use protos::admin::admin_client::AdminClient;
use protos::admin::{AddLearnerRequest, ClusterStatusRequest, GroupStatus};
use protos::status::ErrorDetail;
use region_client::ClientError;

use super::support::{self, ADMIN_TOKEN, Region};

/// Asks the group to add `node_id` as a learner at made-up addresses: a
/// refused id is refused before anything is contacted.
async fn add_learner(region: &Region, node_id: u64) -> Result<(), ClientError> {
    let request = AddLearnerRequest {
        group_id: String::new(),
        node_id,
        address: "127.0.0.1:1".into(),
        blocking: false,
        api_address: "127.0.0.1:2".into(),
    };
    region
        .admin()
        .call("Admin/AddLearner", request, |c, r| async move { AdminClient::new(c).add_learner(r).await })
        .await?;
    Ok(())
}

/// Asserts AddLearner refuses `node_id` with INVALID_ARGUMENT naming
/// `node_id`, and says `lowest` is the lowest id it would take.
async fn assert_refused(region: &Region, node_id: u64, lowest: u64) {
    let Err(ClientError::Rejected { status, detail }) = add_learner(region, node_id).await else {
        panic!("node id {node_id} must be refused");
    };
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let Some(ErrorDetail::BadRequest(bad)) = detail else { panic!("expected a BadRequest detail: {status:?}") };
    assert_eq!(bad.field_violations[0].field, "node_id", "{status:?}");
    assert!(status.message().contains(&format!("the lowest acceptable id is {lowest}")), "{status:?}");
}

/// The group's status as node `id` reports it.
async fn status_at(region: &Region, id: u64) -> GroupStatus {
    let status = region
        .at(id, ADMIN_TOKEN, "Admin/ClusterStatus", ClusterStatusRequest::default(), |c, r| async move {
            AdminClient::new(c).cluster_status(r).await
        })
        .await
        .expect("status");
    status.groups.into_iter().next().expect("the node hosts the group")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_highest_id_is_never_reused_across_restarts_and_snapshots() {
    let mut region = Region::start_with(3, |config| {
        // Purge everything behind a snapshot: the entries naming node 3 go.
        config.raft.logs_kept_after_snapshot = 0;
    })
    .await;
    support::register_warehouse(&region.admin()).await;

    // Node 3, the highest id, leaves: no membership names it any more.
    region.change_voters(vec![1, 2]).await;
    region.stop(3).await;
    let leader = region.wait_leader().await;
    let status = status_at(&region, leader).await;
    let members: Vec<u64> = status.membership.iter().flat_map(|m| &m.members).map(|m| m.node_id).collect();
    assert_eq!(members, [1, 2]);
    assert_eq!(status.highest_node_id_used, 3);
    assert_refused(&region, 3, 4).await;

    // Every remaining node snapshots and purges its log past the removal,
    // then both restart: the applied state comes from the snapshot.
    let removed_at = status.membership.as_ref().map_or(0, |m| m.log_index);
    for id in [1, 2] {
        let asked = region.snapshot_and_purge(id).await;
        assert!(asked >= removed_at, "node {id} applied the removal at {removed_at}: {asked}");
    }
    for id in [1, 2] {
        region.stop(id).await;
    }
    for id in [1, 2] {
        region.restart(id).await;
        let node = region.running[&id].region();
        node.raft()
            .wait(Some(support::TIMEOUT))
            .metrics(|m| m.purged.is_some_and(|p| p.index >= removed_at), "restarted without the log naming node 3")
            .await
            .expect("the log stays purged");
        assert_eq!(node.highest_node_id_used(), 3, "node {id}: from its snapshot");
    }
    let leader = region.wait_leader().await;
    assert_eq!(status_at(&region, leader).await.highest_node_id_used, 3);
    assert_refused(&region, 3, 4).await;

    // An id above every one used joins, and asking again for it changes nothing.
    region.add_learner(4).await;
    let joined = &region.running[&4];
    let again = AddLearnerRequest {
        group_id: String::new(),
        node_id: 4,
        address: joined.raft_addr().to_string(),
        blocking: true,
        api_address: joined.api_addr().to_string(),
    };
    region
        .admin()
        .call("Admin/AddLearner", again, |c, r| async move { AdminClient::new(c).add_learner(r).await })
        .await
        .expect("a current member's id is accepted again");
    let leader = region.wait_leader_among(&[1, 2]).await;
    assert_eq!(status_at(&region, leader).await.highest_node_id_used, 4);
    assert_refused(&region, 3, 5).await;

    region.shutdown().await;
}

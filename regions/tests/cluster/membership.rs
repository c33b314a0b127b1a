//! A region grows from one bootstrapped node to three through the admin
//! API, replicates writes made through the leader-aware client, and points
//! clients at the leader from any follower.

use protos::common::NotLeader;
use protos::status::ErrorDetail;
use protos::warehouse::GetLevelsRequest;
use protos::warehouse::warehouse_inventory_client::WarehouseInventoryClient;

use super::support::{self, Region, WAREHOUSE_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_grows_to_three_replicates_and_redirects_to_its_leader() {
    let region = Region::start(3).await;
    let leader = region.wait_leader().await;
    support::register_warehouse(&region.admin()).await;
    let staff = region.client(WAREHOUSE_TOKEN);
    let index = support::receive(&staff, "c-receive-1", "apple", 25).await.expect("received");
    assert_eq!(support::on_hand(&staff, "apple").await, 25);
    region.converged(index).await;
    for node in region.running.values() {
        let level = node.region().read(regions::region::Consistency::Stale, |l| {
            l.levels_of(&"apple".into()).and_then(|levels| levels.get(&"wh-1".into()).map(|level| level.on_hand))
        });
        assert_eq!(level.await.unwrap().value, Some(25), "node {}", node.config().node_id);
    }

    // A follower answers a linearizable read with the leader's address.
    let follower = region.running.keys().copied().find(|id| *id != leader).unwrap();
    let endpoint = format!("http://{}", region.running[&follower].api_addr());
    let mut client = WarehouseInventoryClient::connect(endpoint).await.unwrap();
    let mut request = tonic::Request::new(GetLevelsRequest { warehouse_id: "wh-1".into(), ..Default::default() });
    request.metadata_mut().insert("authorization", format!("Bearer {WAREHOUSE_TOKEN}").parse().unwrap());
    let status = client.get_levels(request).await.expect_err("a follower does not serve linearizable reads");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let Some(ErrorDetail::NotLeader(NotLeader { leader_id, leader_address, .. })) =
        ErrorDetail::from_status(&status).unwrap()
    else {
        panic!("expected a NotLeader detail: {status:?}");
    };
    assert_eq!(leader_id, Some(leader));
    assert_eq!(leader_address, Some(region.running[&leader].api_addr().to_string()));

    // Asked for a stale read, the follower answers from its own applied state.
    let mut request = tonic::Request::new(GetLevelsRequest {
        warehouse_id: "wh-1".into(),
        skus: vec!["apple".into()],
        page: None,
        stale: true,
    });
    request.metadata_mut().insert("authorization", format!("Bearer {WAREHOUSE_TOKEN}").parse().unwrap());
    let stale = client.get_levels(request).await.expect("a follower serves a stale read").into_inner();
    assert_eq!(stale.levels[0].on_hand, 25);
    assert!(stale.applied_index >= index, "the follower had applied the receipt");

    region.shutdown().await;
}

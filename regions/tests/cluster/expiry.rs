//! The leader's expiry ticks: a hold nobody commits or releases is expired
//! within its TTL plus about a second (the tick interval here is 200 ms),
//! and its units are available again.

use std::time::{Duration, Instant};

use protos::reservation::reservations_client::ReservationsClient;
use protos::reservation::{GetHoldRequest, HoldState};
use region_client::RegionClient;

use super::support::{self, ADMIN_TOKEN, Region, WAREHOUSE_TOKEN};

async fn hold_state(client: &RegionClient, hold_id: &str) -> HoldState {
    let request = GetHoldRequest { hold_id: hold_id.into() };
    let hold = client
        .call("Reservations/GetHold", request, |c, r| async move { ReservationsClient::new(c).get_hold(r).await })
        .await
        .expect("the hold exists");
    HoldState::try_from(hold.state).expect("a known state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_hold_expires_within_its_ttl_plus_a_tick() {
    let region = Region::start(3).await;
    support::register_warehouse(&region.admin()).await;
    support::receive(&region.client(WAREHOUSE_TOKEN), "c-receive", "apple", 3).await.expect("received");
    let service = region.client(ADMIN_TOKEN);

    let ttl = Duration::from_millis(800);
    let request = support::hold_request("hold-1", "apple", 3, u64::try_from(ttl.as_millis()).unwrap());
    let placed = Instant::now();
    service
        .call("Reservations/Reserve", request, |c, r| async move { ReservationsClient::new(c).reserve(r).await })
        .await
        .expect("reserved");
    assert_eq!(hold_state(&service, "hold-1").await, HoldState::Pending);
    assert_eq!(support::available(&service, "apple").await, 0, "all three units are held");

    while hold_state(&service, "hold-1").await != HoldState::Expired {
        assert!(placed.elapsed() < ttl + Duration::from_millis(1_500), "not expired within the TTL plus a tick");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(placed.elapsed() >= ttl, "expired before its TTL");
    assert_eq!(support::available(&service, "apple").await, 3, "the units are available again");

    region.shutdown().await;
}

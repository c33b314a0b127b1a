//! The retry engine against scripted replicas: leader hints, rotation,
//! `NoQuorum`, deadlines, rejections, resends and metadata.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use protos::admin::admin_client::AdminClient;
use protos::admin::{RegisterWarehouseRequest, RegisterWarehouseResponse, Warehouse};
use protos::status::ErrorDetail;
use region_client::{ClientError, EndpointAddr, RegionClient};
use tokio::time::Instant;
use tonic::{Code, Status};

use super::support::{
    Answer, GROUP, Replica, TOKEN, client, dead_endpoint, fast_config, leadership_moved, no_quorum, not_leader,
};

/// Slack over a deadline for a loaded 2-core machine: an operation must end
/// by `deadline + SLACK`.
const SLACK: Duration = Duration::from_secs(1);

/// A generous deadline for calls that are expected to succeed.
const LONG: Duration = Duration::from_secs(10);

/// The write with a command id: RegisterWarehouse.
fn register_request(command_id: &str) -> RegisterWarehouseRequest {
    RegisterWarehouseRequest {
        command_id: command_id.to_owned(),
        warehouse: Some(Warehouse {
            warehouse_id: "wh-1".to_owned(),
            region: "test".to_owned(),
            name: "Main".to_owned(),
            location: "Dock 4".to_owned(),
            priority: 1,
        }),
    }
}

/// Sends a RegisterWarehouse through the client's retry engine.
async fn register(client: &RegionClient, command_id: &str) -> Result<RegisterWarehouseResponse, ClientError> {
    client
        .call("Admin/RegisterWarehouse", register_request(command_id), |channel, request| async move {
            AdminClient::new(channel).register_warehouse(request).await
        })
        .await
}

#[tokio::test]
async fn follows_a_not_leader_hint_and_remembers_the_leader() {
    let leader = Replica::leader(1).await;
    let leader_addr = leader.addr.clone();
    let follower = Replica::start(2, move |_, _| Answer::Fail(not_leader(Some(&leader_addr)))).await;
    // Only the follower is known: the leader is learned from its hint.
    let client = client(&[&follower.addr], fast_config(LONG));

    let response = register(&client, "cmd-hint").await.expect("the leader answers");
    assert_eq!(response.applied_index, 7);
    assert_eq!((follower.call_count(), leader.call_count()), (1, 1));
    assert_eq!(client.leader(), leader.addr);
    assert_eq!(client.endpoints(), vec![follower.addr.clone(), leader.addr.clone()]);

    // The next call starts at the remembered leader.
    register(&client, "cmd-hint-2").await.expect("the leader answers");
    assert_eq!((follower.call_count(), leader.call_count()), (1, 2));
}

#[tokio::test]
async fn a_write_whose_leader_moved_is_resent_to_the_new_leader_at_once() {
    let new_leader = Replica::leader(3).await;
    let moved_to = new_leader.addr.clone();
    let old_leader = Replica::start(1, move |_, _| Answer::Fail(leadership_moved(&moved_to))).await;
    let follower = Replica::start(2, |_, _| Answer::Fail(not_leader(None))).await;
    // Without the hint the next attempt would go to the follower, after the
    // no-quorum wait.
    let client = client(&[&old_leader.addr, &follower.addr, &new_leader.addr], fast_config(LONG));

    register(&client, "cmd-moved").await.expect("the new leader answers");
    assert_eq!((old_leader.call_count(), follower.call_count(), new_leader.call_count()), (1, 0, 1));
    let resent = new_leader.calls()[0].register.clone().expect("a RegisterWarehouse");
    assert_eq!(resent.command_id, "cmd-moved", "the same command id, so it applies once");
    assert_eq!(client.leader(), new_leader.addr);
}

#[tokio::test]
async fn not_leader_without_a_hint_rotates_to_the_next_replica() {
    let follower = Replica::start(2, |_, _| Answer::Fail(not_leader(None))).await;
    let leader = Replica::leader(1).await;
    let client = client(&[&follower.addr, &leader.addr], fast_config(LONG));

    register(&client, "cmd-rotate").await.expect("the leader answers");
    assert_eq!((follower.call_count(), leader.call_count()), (1, 1));
    assert_eq!(client.leader(), leader.addr);
}

#[tokio::test]
async fn no_quorum_until_the_deadline_ends_with_no_quorum() {
    let leader = Replica::start(1, |_, _| Answer::Fail(no_quorum(40))).await;
    let deadline = Duration::from_millis(600);
    let client = client(&[&leader.addr], fast_config(deadline));

    let started = Instant::now();
    let error = register(&client, "cmd-no-quorum").await.expect_err("no quorum");
    let elapsed = started.elapsed();

    match &error {
        ClientError::NoQuorum { group_id, attempts, last_status } => {
            assert_eq!(group_id, GROUP);
            assert_eq!(usize::try_from(*attempts).expect("fits"), leader.call_count());
            assert_eq!(last_status.code(), Code::Unavailable);
        }
        other => panic!("expected NoQuorum, got {other:?}"),
    }
    assert!(error.may_have_applied());
    assert!(leader.call_count() >= 3, "retry_after of 40 ms allows several attempts, saw {}", leader.call_count());
    assert!(elapsed <= deadline + SLACK, "took {elapsed:?}");
}

#[tokio::test]
async fn a_dead_endpoint_is_skipped() {
    let dead = dead_endpoint();
    let leader = Replica::leader(1).await;
    let client = client(&[&dead, &leader.addr], fast_config(LONG));

    register(&client, "cmd-dead").await.expect("the live replica answers");
    assert_eq!(leader.call_count(), 1);
    assert_eq!(client.leader(), leader.addr);
}

#[tokio::test]
async fn a_rejection_is_returned_after_exactly_one_attempt() {
    let rejection =
        || ErrorDetail::bad_request([("warehouse.region", "is not this node's region")]).into_status("bad warehouse");
    let leader = Replica::start(1, move |_, _| Answer::Fail(rejection())).await;
    let client = client(&[&leader.addr], fast_config(LONG));

    let error = register(&client, "cmd-bad").await.expect_err("rejected");
    let ClientError::Rejected { status, detail: Some(ErrorDetail::BadRequest(bad)) } = &error else {
        panic!("expected a rejection with BadRequest, got {error:?}");
    };
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad.field_violations[0].field, "warehouse.region");
    assert!(!error.may_have_applied());
    assert_eq!(leader.call_count(), 1);
}

#[tokio::test]
async fn every_non_retryable_code_is_returned_at_once() {
    for code in [
        Code::FailedPrecondition,
        Code::Aborted,
        Code::AlreadyExists,
        Code::NotFound,
        Code::PermissionDenied,
        Code::Unauthenticated,
        Code::OutOfRange,
        Code::ResourceExhausted,
    ] {
        let leader = Replica::start(1, move |_, _| Answer::Fail(Status::new(code, "no"))).await;
        let client = client(&[&leader.addr], fast_config(LONG));
        let error = register(&client, "cmd-code").await.expect_err("rejected");
        assert!(matches!(&error, ClientError::Rejected { status, .. } if status.code() == code), "{code:?}: {error:?}");
        assert_eq!(leader.call_count(), 1, "{code:?}");
    }
}

#[tokio::test]
async fn retries_resend_the_same_request_and_command_id() {
    // UNAVAILABLE (the leader lost leadership mid-commit), then
    // DEADLINE_EXCEEDED, then success.
    let leader = Replica::start(1, |_, before| match before {
        0 => Answer::Fail(Status::unavailable("leadership lost while committing")),
        1 => Answer::Fail(Status::deadline_exceeded("commit took too long")),
        _ => Answer::Ok,
    })
    .await;
    let client = client(&[&leader.addr], fast_config(LONG));

    register(&client, "cmd-same").await.expect("third attempt succeeds");
    let calls = leader.calls();
    assert_eq!(calls.len(), 3);
    for call in &calls {
        assert_eq!(call.register.as_ref(), Some(&register_request("cmd-same")));
    }
}

#[tokio::test]
async fn the_token_arrives_as_bearer_metadata() {
    let dead = dead_endpoint();
    let follower_calls = Arc::new(AtomicUsize::new(0));
    let leader = Replica::leader(1).await;
    let leader_addr = leader.addr.clone();
    let counter = Arc::clone(&follower_calls);
    let follower = Replica::start(2, move |_, _| {
        counter.fetch_add(1, Ordering::Relaxed);
        Answer::Fail(not_leader(Some(&leader_addr)))
    })
    .await;
    let client = client(&[&dead, &follower.addr], fast_config(LONG));

    register(&client, "cmd-token").await.expect("the leader answers");
    let expected = Some(format!("Bearer {TOKEN}"));
    for call in follower.calls().iter().chain(&leader.calls()) {
        assert_eq!(call.authorization, expected, "{}", call.method);
    }
    assert_eq!(follower_calls.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_hanging_replica_costs_one_attempt() {
    let hanging = Replica::start(2, |_, _| Answer::Hang).await;
    let leader = Replica::leader(1).await;
    let config = fast_config(LONG);
    let attempt_timeout = config.attempt_timeout;
    let client = client(&[&hanging.addr, &leader.addr], config);

    let started = Instant::now();
    register(&client, "cmd-hang").await.expect("the next replica answers");
    assert_eq!((hanging.call_count(), leader.call_count()), (1, 1));
    assert!(started.elapsed() < attempt_timeout + SLACK, "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_write_that_never_gets_an_answer_ends_indeterminate_by_the_deadline() {
    let hanging = Replica::start(1, |_, _| Answer::Hang).await;
    let deadline = Duration::from_millis(700);
    let client = client(&[&hanging.addr], fast_config(deadline));

    let started = Instant::now();
    let error = register(&client, "cmd-unknown").await.expect_err("no answer");
    let elapsed = started.elapsed();

    let ClientError::Indeterminate { attempts, last_status } = &error else {
        panic!("expected Indeterminate, got {error:?}");
    };
    assert!(*attempts >= 2, "attempts of 300 ms fit twice into 700 ms, made {attempts}");
    assert_eq!(last_status.code(), Code::DeadlineExceeded);
    assert!(error.may_have_applied());
    assert!(elapsed <= deadline + SLACK, "took {elapsed:?}");
    // Every attempt carried the same command id.
    assert!(hanging.calls().iter().all(|call| call.register == Some(register_request("cmd-unknown"))));
}

#[tokio::test]
async fn no_replica_reachable_ends_unreachable_by_the_deadline() {
    let (first, second) = (dead_endpoint(), dead_endpoint());
    let deadline = Duration::from_millis(500);
    let client = client(&[&first, &second], fast_config(deadline));

    let started = Instant::now();
    let error = register(&client, "cmd-nowhere").await.expect_err("nothing listens");
    let elapsed = started.elapsed();

    let ClientError::Unreachable { attempts, last_status } = &error else {
        panic!("expected Unreachable, got {error:?}");
    };
    assert!(*attempts >= 2, "both endpoints were tried, made {attempts}");
    assert_eq!(last_status.code(), Code::Unavailable);
    assert!(!error.may_have_applied());
    assert!(elapsed <= deadline + SLACK, "took {elapsed:?}");
}

#[tokio::test]
async fn replicas_pointing_at_each_other_cannot_make_the_client_spin() {
    // Two followers that each name the other as the leader, forever. The
    // second starts first, so it learns the first one's address afterwards.
    let first_addr: Arc<OnceLock<EndpointAddr>> = Arc::new(OnceLock::new());
    let hint = Arc::clone(&first_addr);
    let second = Replica::start(2, move |_, _| Answer::Fail(not_leader(hint.get()))).await;
    let second_addr = second.addr.clone();
    let first = Replica::start(1, move |_, _| Answer::Fail(not_leader(Some(&second_addr)))).await;
    first_addr.set(first.addr.clone()).expect("set once");
    let deadline = Duration::from_millis(600);
    let client = client(&[&first.addr], fast_config(deadline));

    let started = Instant::now();
    let error = register(&client, "cmd-loop").await.expect_err("no leader");
    let elapsed = started.elapsed();

    assert!(matches!(error, ClientError::Unreachable { .. }), "{error:?}");
    assert!(elapsed <= deadline + SLACK, "took {elapsed:?}");
    // Redirects are followed at once only a few times in a row, then the
    // client backs off: far fewer calls than a tight loop would make.
    let calls = first.call_count() + second.call_count();
    assert!((4..=200).contains(&calls), "{calls} calls in {elapsed:?}");
}

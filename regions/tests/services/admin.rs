//! The `Admin` service's log reading and fault hooks: `ReadLog` returns the
//! committed log as the ledger's own envelopes; `SetFaults` steps the wall
//! clock and fails fsyncs only on a node started with fault injection; a
//! running leader's stamps ignore the step, and a failed fsync stops the
//! replica instead of acknowledging.

use std::time::{SystemTime, UNIX_EPOCH};

use ledger::Envelope;
use protos::admin::{DiskFaults, FaultConfig, ReadLogRequest, ReadLogResponse, SetFaultsRequest, log_record};
use tonic::Code;

use super::support::{ADMIN_TOKEN, Node, PARIS, PARIS_TOKEN, TIMEOUT, assert_refused, failed, receive};

async fn read_log(node: &Node, from_index: u64, limit: u32) -> ReadLogResponse {
    let request = ReadLogRequest { group_id: String::new(), from_index, limit };
    node.admin(ADMIN_TOKEN).read_log(request).await.expect("ReadLog answers").into_inner()
}

/// Every envelope of the log from its start, with its entry's index.
async fn envelopes(node: &Node) -> Vec<(u64, Envelope)> {
    let log = read_log(node, 0, 0).await;
    log.records
        .into_iter()
        .filter_map(|record| match record.payload {
            Some(log_record::Payload::Envelopes(bytes)) => Some((record.index, bytes)),
            _ => None,
        })
        .flat_map(|(index, bytes)| {
            Envelope::decode_all(&bytes).expect("the ledger's envelopes").into_iter().map(move |e| (index, e))
        })
        .collect()
}

fn wall_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis()).expect("fits")
}

#[tokio::test]
async fn read_log_returns_the_committed_log_as_the_ledgers_envelopes() {
    let node = Node::start().await;
    node.warehouses(PARIS_TOKEN).adjust_stock(receive("rx-1", PARIS, "sku-1", 5)).await.expect("received");

    let log = read_log(&node, 0, 0).await;
    assert_eq!(log.first_index, 0, "nothing purged yet");
    let indexes: Vec<u64> = log.records.iter().map(|r| r.index).collect();
    let expected: Vec<u64> = (0..=log.applied_index).collect();
    assert_eq!(indexes, expected, "every entry up to the applied index, in order");
    assert!(
        matches!(log.records[0].payload, Some(log_record::Payload::Membership(_))),
        "the log starts with the bootstrap membership"
    );
    let ids: Vec<String> = envelopes(&node).await.into_iter().map(|(_, e)| e.id.as_str().to_owned()).collect();
    for wanted in ["register-0", "register-1", "rx-1"] {
        assert_eq!(ids.iter().filter(|id| *id == wanted).count(), 1, "{wanted} applied once in {ids:?}");
    }

    let page = read_log(&node, 1, 2).await;
    assert_eq!(page.records.iter().map(|r| r.index).collect::<Vec<_>>(), [1, 2], "a page of two from index 1");
    let past = read_log(&node, log.applied_index + 1, 0).await;
    assert!(past.records.is_empty(), "nothing past the applied index");

    let mut admin = node.admin(ADMIN_TOKEN);
    let too_many = admin.read_log(ReadLogRequest { group_id: String::new(), from_index: 0, limit: 5_000 }).await;
    assert_refused(&failed(too_many), Code::InvalidArgument, "limit");
    let foreign = admin.read_log(ReadLogRequest { group_id: "elsewhere".into(), from_index: 0, limit: 0 }).await;
    assert_eq!(failed(foreign).code(), Code::NotFound);
    let warehouse = node.admin(PARIS_TOKEN).read_log(ReadLogRequest::default()).await;
    assert_eq!(failed(warehouse).code(), Code::PermissionDenied, "only the admin reads the log");
    node.shutdown().await;
}

#[tokio::test]
async fn faults_are_refused_without_fault_injection() {
    let node = Node::start().await;
    let request = SetFaultsRequest { faults: Some(FaultConfig { clock_offset_ms: 1_000, ..FaultConfig::default() }) };
    let refused = node.admin(ADMIN_TOKEN).set_faults(request).await;
    assert_eq!(failed(refused).code(), Code::Unimplemented);
    node.shutdown().await;
}

#[tokio::test]
async fn a_wall_clock_step_on_a_running_leader_moves_no_stamp() {
    let node = Node::start_with(true).await;
    node.warehouses(PARIS_TOKEN).adjust_stock(receive("rx-before", PARIS, "sku-1", 1)).await.expect("received");
    let mut admin = node.admin(ADMIN_TOKEN);
    let hour = 3_600_000;
    let set = admin
        .set_faults(SetFaultsRequest { faults: Some(FaultConfig { clock_offset_ms: hour, ..FaultConfig::default() }) })
        .await
        .expect("faults set")
        .into_inner();
    assert_eq!(set.faults.expect("faults in force").clock_offset_ms, hour);
    let before = wall_ms();
    node.warehouses(PARIS_TOKEN).adjust_stock(receive("rx-after", PARIS, "sku-1", 1)).await.expect("received");
    let stamped = envelopes(&node).await.into_iter().find(|(_, e)| e.id.as_str() == "rx-after").expect("in the log");
    assert!(
        stamped.1.now_ms < before + 60_000,
        "the leader's time follows its monotonic clock, not the stepped wall clock: stamped {} at {before}",
        stamped.1.now_ms
    );

    let too_far = FaultConfig { clock_offset_ms: -8 * 24 * hour, ..FaultConfig::default() };
    let refused = admin.set_faults(SetFaultsRequest { faults: Some(too_far) }).await;
    assert_refused(&failed(refused), Code::InvalidArgument, "faults.clock_offset_ms");
    node.shutdown().await;
}

#[tokio::test]
async fn a_failed_fsync_stops_the_replica_without_acknowledging() {
    let node = Node::start_with(true).await;
    let before = node.observe().await;
    let dying =
        FaultConfig { disk: Some(DiskFaults { fsync_delay_ms: 0, fsync_fail: true }), ..FaultConfig::default() };
    node.admin(ADMIN_TOKEN).set_faults(SetFaultsRequest { faults: Some(dying) }).await.expect("faults set");

    let write = node.warehouses(PARIS_TOKEN).adjust_stock(receive("rx-lost", PARIS, "sku-1", 5)).await;
    assert!(write.is_err(), "a write whose fsync failed is never acknowledged: {write:?}");
    let reason = tokio::time::timeout(TIMEOUT, node.node().failed()).await.expect("the replica stops");
    assert!(reason.contains("sync"), "the reason names the failed sync: {reason}");
    assert_eq!(node.observe().await, before, "nothing was applied");
    node.shutdown().await;
}

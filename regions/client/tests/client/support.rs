//! Scripted replicas: small real tonic servers on 127.0.0.1 implementing the
//! `Admin` and `WarehouseInventory` services on one address, as a replica
//! does, whose every answer comes from a script.
//!
//! They stand in for a `regiond` replica only to exercise the client's side
//! of the protocol (leader hints, `NoQuorum`, retries, deadlines, metadata);
//! they implement none of a replica's behaviour. End-to-end tests against
//! real `regiond` processes live with the node.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt as _, stream};

use protos::admin::admin_server::{Admin, AdminServer};
use protos::admin::{
    AddLearnerRequest, ChangeMembershipRequest, ClusterStatusRequest, ClusterStatusResponse, GroupStatus, Member,
    Membership, MembershipResponse, ReadLogRequest, ReadLogResponse, RegisterWarehouseRequest,
    RegisterWarehouseResponse, ReplicationProgress, Role, SetFaultsRequest, SetFaultsResponse,
    TransferLeadershipRequest, TransferLeadershipResponse, TriggerSnapshotRequest, TriggerSnapshotResponse, VoterSet,
};
use protos::common::{NoQuorum, NotLeader};
use protos::status::ErrorDetail;
use protos::warehouse::warehouse_inventory_server::{WarehouseInventory, WarehouseInventoryServer};
use protos::warehouse::{
    AdjustStockRequest, AdjustStockResponse, ConfirmShipmentRequest, ConfirmShipmentResponse, CycleCountRequest,
    CycleCountResponse, GetLevelsRequest, GetLevelsResponse, JournalEntry, JournalReason, LevelUpdate,
    ListJournalRequest, ListJournalResponse, StockLevel, TransferRequest, TransferResponse, WatchLevelsRequest,
};
use region_client::{BearerToken, ClientConfig, EndpointAddr, RegionClient};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The token every test client sends.
pub(crate) const TOKEN: &str = "test-token-1";

/// The group the scripted replicas claim to serve.
pub(crate) const GROUP: &str = "region/test";

/// One call a scripted replica received.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Seen {
    /// The RPC, e.g. `"ClusterStatus"`.
    pub(crate) method: &'static str,
    /// The `authorization` metadata, if any.
    pub(crate) authorization: Option<String>,
    /// The request, for `RegisterWarehouse`.
    pub(crate) register: Option<RegisterWarehouseRequest>,
    /// The request, for `AdjustStock`.
    pub(crate) adjust: Option<AdjustStockRequest>,
}

/// How a scripted replica answers one call.
pub(crate) enum Answer {
    /// A canned success for the method.
    Ok,
    /// This status.
    Fail(Status),
    /// Never (the call hangs until the client gives up).
    Hang,
}

/// A replica's script: given the call and how many calls this replica saw
/// before it, the answer.
type Script = Arc<dyn Fn(&Seen, usize) -> Answer + Send + Sync>;

/// A running scripted replica. Dropping it stops the server.
pub(crate) struct Replica {
    /// Where it listens.
    pub(crate) addr: EndpointAddr,
    /// Every call it received, in order.
    calls: Arc<Mutex<Vec<Seen>>>,
    /// Stops the server when dropped or sent.
    _stop: oneshot::Sender<()>,
}

impl Replica {
    /// Starts replica `node_id` on a free port of 127.0.0.1.
    pub(crate) async fn start(node_id: u64, script: impl Fn(&Seen, usize) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a scripted replica");
        let addr = EndpointAddr::parse(&listener.local_addr().expect("local addr").to_string()).expect("addr");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let service = Arc::new(Scripted { node_id, calls: Arc::clone(&calls), script: Arc::new(script) });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            Server::builder()
                .add_service(AdminServer::from_arc(Arc::clone(&service)))
                .add_service(WarehouseInventoryServer::from_arc(service))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    // A dropped sender also means stop.
                    let _ = stopped.await;
                }),
        );
        Self { addr, calls, _stop: stop }
    }

    /// A replica that answers every call with success.
    pub(crate) async fn leader(node_id: u64) -> Self {
        Self::start(node_id, |_, _| Answer::Ok).await
    }

    /// Every call received so far.
    pub(crate) fn calls(&self) -> Vec<Seen> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// How many calls it received.
    pub(crate) fn call_count(&self) -> usize {
        self.calls.lock().expect("calls lock").len()
    }
}

/// `UNAVAILABLE` + `NotLeader`, pointing at `leader` (or at no one).
pub(crate) fn not_leader(leader: Option<&EndpointAddr>) -> Status {
    ErrorDetail::from(NotLeader {
        group_id: GROUP.to_owned(),
        leader_id: leader.map(|_| 1),
        leader_address: leader.map(|addr| addr.as_str().to_owned()),
    })
    .into_status("not the leader")
}

/// `UNAVAILABLE` + `NoQuorum`.
pub(crate) fn no_quorum(retry_after_ms: u64) -> Status {
    ErrorDetail::from(NoQuorum { group_id: GROUP.to_owned(), retry_after_ms, leader_id: None, leader_address: None })
        .into_status("no quorum")
}

/// `UNAVAILABLE` + `NoQuorum` naming the leader that took over while the
/// write was in flight, as a replica that lost leadership answers.
pub(crate) fn leadership_moved(to: &EndpointAddr) -> Status {
    ErrorDetail::from(NoQuorum {
        group_id: GROUP.to_owned(),
        retry_after_ms: 0,
        leader_id: Some(3),
        leader_address: Some(to.as_str().to_owned()),
    })
    .into_status("leadership changed while the command was in flight")
}

/// The address of a port that was bound and released: connecting to it is
/// refused.
pub(crate) fn dead_endpoint() -> EndpointAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    EndpointAddr::parse(&addr.to_string()).expect("addr")
}

/// A client of `endpoints` with [`TOKEN`].
pub(crate) fn client(endpoints: &[&EndpointAddr], config: ClientConfig) -> RegionClient {
    let token = BearerToken::parse(TOKEN).expect("token");
    RegionClient::new(endpoints.iter().map(|addr| (*addr).clone()), token, config).expect("client")
}

/// Fast bounds for tests: short attempts and backoff, `deadline` overall.
pub(crate) fn fast_config(deadline: Duration) -> ClientConfig {
    ClientConfig {
        deadline,
        attempt_timeout: Duration::from_millis(300).min(deadline),
        connect_timeout: Duration::from_millis(300).min(deadline),
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        redirects_in_a_row_max: 3,
    }
}

/// The `Admin` service of a scripted replica.
struct Scripted {
    node_id: u64,
    calls: Arc<Mutex<Vec<Seen>>>,
    script: Script,
}

impl Scripted {
    /// Records the call, then asks the script how to answer it.
    async fn answer<Req: Recorded, Resp>(
        &self,
        method: &'static str,
        request: Request<Req>,
        ok: impl FnOnce(Req) -> Resp,
    ) -> Result<Response<Resp>, Status> {
        let authorization =
            request.metadata().get("authorization").map(|value| value.to_str().expect("ascii").to_owned());
        let request = request.into_inner();
        let mut seen = Seen { method, authorization, register: None, adjust: None };
        request.record(&mut seen);
        let before = {
            let mut calls = self.calls.lock().expect("calls lock");
            calls.push(seen.clone());
            calls.len() - 1
        };
        match (self.script)(&seen, before) {
            Answer::Ok => Ok(Response::new(ok(request))),
            Answer::Fail(status) => Err(status),
            Answer::Hang => std::future::pending().await,
        }
    }

    /// This replica's canned status: the leader of [`GROUP`] with one lagging
    /// follower.
    fn status(&self) -> ClusterStatusResponse {
        ClusterStatusResponse {
            node_id: self.node_id,
            faults_enabled: false,
            groups: vec![GroupStatus {
                group_id: GROUP.to_owned(),
                node_id: self.node_id,
                role: Role::Leader as i32,
                term: 4,
                leader_id: Some(self.node_id),
                commit_index: 120,
                applied_index: 119,
                last_log_index: 121,
                snapshot_index: Some(100),
                membership: Some(membership(self.node_id)),
                replication: vec![ReplicationProgress { node_id: 9, matched_index: Some(117), lag_entries: 4 }],
                millis_since_quorum_ack: Some(12),
                state_digest: vec![0xde, 0xad],
                highest_node_id_used: 9,
            }],
        }
    }
}

/// A one-voter membership of `node_id`.
fn membership(node_id: u64) -> Membership {
    Membership {
        configs: vec![VoterSet { node_ids: vec![node_id] }],
        members: vec![Member {
            node_id,
            address: "127.0.0.1:9001".to_owned(),
            voter: true,
            api_address: "127.0.0.1:7001".to_owned(),
        }],
        log_index: 3,
    }
}

#[tonic::async_trait]
impl Admin for Scripted {
    async fn cluster_status(
        &self,
        request: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        let status = self.status();
        self.answer("ClusterStatus", request, |_| status).await
    }

    async fn add_learner(&self, request: Request<AddLearnerRequest>) -> Result<Response<MembershipResponse>, Status> {
        let membership = membership(self.node_id);
        self.answer("AddLearner", request, |_| MembershipResponse { membership: Some(membership), log_index: 8 }).await
    }

    async fn change_membership(
        &self,
        request: Request<ChangeMembershipRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let membership = membership(self.node_id);
        self.answer("ChangeMembership", request, |_| MembershipResponse { membership: Some(membership), log_index: 9 })
            .await
    }

    async fn transfer_leadership(
        &self,
        request: Request<TransferLeadershipRequest>,
    ) -> Result<Response<TransferLeadershipResponse>, Status> {
        self.answer("TransferLeadership", request, |request| TransferLeadershipResponse {
            leader_id: Some(request.to_node_id),
        })
        .await
    }

    async fn trigger_snapshot(
        &self,
        request: Request<TriggerSnapshotRequest>,
    ) -> Result<Response<TriggerSnapshotResponse>, Status> {
        self.answer("TriggerSnapshot", request, |_| TriggerSnapshotResponse { applied_index: 119 }).await
    }

    async fn register_warehouse(
        &self,
        request: Request<RegisterWarehouseRequest>,
    ) -> Result<Response<RegisterWarehouseResponse>, Status> {
        self.answer("RegisterWarehouse", request, |request| RegisterWarehouseResponse {
            warehouse: request.warehouse,
            applied_index: 7,
        })
        .await
    }

    async fn read_log(&self, request: Request<ReadLogRequest>) -> Result<Response<ReadLogResponse>, Status> {
        self.answer("ReadLog", request, |_| ReadLogResponse::default()).await
    }

    async fn set_faults(&self, request: Request<SetFaultsRequest>) -> Result<Response<SetFaultsResponse>, Status> {
        self.answer("SetFaults", request, |request| SetFaultsResponse { faults: request.faults }).await
    }
}

/// A request whose content the tests look at afterwards.
trait Recorded {
    /// Copies what the tests check into `seen`; nothing by default.
    fn record(&self, _seen: &mut Seen) {}
}

impl Recorded for RegisterWarehouseRequest {
    fn record(&self, seen: &mut Seen) {
        seen.register = Some(self.clone());
    }
}

impl Recorded for AdjustStockRequest {
    fn record(&self, seen: &mut Seen) {
        seen.adjust = Some(self.clone());
    }
}

impl Recorded for ClusterStatusRequest {}
impl Recorded for AddLearnerRequest {}
impl Recorded for ChangeMembershipRequest {}
impl Recorded for TransferLeadershipRequest {}
impl Recorded for TriggerSnapshotRequest {}
impl Recorded for SetFaultsRequest {}
impl Recorded for ReadLogRequest {}
impl Recorded for CycleCountRequest {}
impl Recorded for GetLevelsRequest {}
impl Recorded for ListJournalRequest {}
impl Recorded for ConfirmShipmentRequest {}
impl Recorded for TransferRequest {}
impl Recorded for WatchLevelsRequest {}

/// A level of the scripted warehouse `wh-1`.
pub(crate) fn level(sku: &str, on_hand: u64) -> StockLevel {
    StockLevel {
        warehouse_id: "wh-1".to_owned(),
        sku: sku.to_owned(),
        on_hand,
        available: on_hand,
        ..StockLevel::default()
    }
}

/// The level updates every `WatchLevels` stream starts with: a snapshot of
/// two SKUs, then one change.
pub(crate) fn opening_updates() -> Vec<LevelUpdate> {
    vec![
        LevelUpdate { applied_index: 10, level: Some(level("SKU-A", 5)), snapshot: true },
        LevelUpdate { applied_index: 10, level: Some(level("SKU-B", 7)), snapshot: true },
        LevelUpdate { applied_index: 11, level: Some(level("SKU-A", 4)), snapshot: false },
    ]
}

/// The `WatchLevels` stream type.
type LevelStream = Pin<Box<dyn Stream<Item = Result<LevelUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl WarehouseInventory for Scripted {
    /// Applies the adjustment to a level of 10 units, as far as the tests
    /// need: on_hand grows by the quantity.
    async fn adjust_stock(
        &self,
        request: Request<AdjustStockRequest>,
    ) -> Result<Response<AdjustStockResponse>, Status> {
        self.answer("AdjustStock", request, |request| {
            let quantity = match request.amount {
                Some(protos::warehouse::adjust_stock_request::Amount::Quantity(quantity)) => quantity,
                _ => 0,
            };
            AdjustStockResponse {
                level: Some(level(&request.sku, 10 + quantity)),
                entry: Some(JournalEntry {
                    seq: 3,
                    command_id: request.command_id,
                    warehouse_id: request.warehouse_id,
                    sku: request.sku,
                    reason: JournalReason::Received as i32,
                    on_hand_delta: i64::try_from(quantity).expect("small"),
                    reference: request.reference,
                    at_ms: 1_777_636_800_123,
                    ..JournalEntry::default()
                }),
                applied_index: 12,
            }
        })
        .await
    }

    async fn cycle_count(&self, request: Request<CycleCountRequest>) -> Result<Response<CycleCountResponse>, Status> {
        self.answer("CycleCount", request, |_| CycleCountResponse::default()).await
    }

    async fn get_levels(&self, request: Request<GetLevelsRequest>) -> Result<Response<GetLevelsResponse>, Status> {
        self.answer("GetLevels", request, |request| GetLevelsResponse {
            levels: request.skus.iter().map(|sku| level(sku, 3)).collect(),
            page: None,
            applied_index: 12,
        })
        .await
    }

    async fn list_journal(
        &self,
        request: Request<ListJournalRequest>,
    ) -> Result<Response<ListJournalResponse>, Status> {
        self.answer("ListJournal", request, |_| ListJournalResponse::default()).await
    }

    async fn confirm_shipment(
        &self,
        request: Request<ConfirmShipmentRequest>,
    ) -> Result<Response<ConfirmShipmentResponse>, Status> {
        self.answer("ConfirmShipment", request, |_| ConfirmShipmentResponse::default()).await
    }

    async fn transfer(&self, request: Request<TransferRequest>) -> Result<Response<TransferResponse>, Status> {
        self.answer("Transfer", request, |_| TransferResponse::default()).await
    }

    type WatchLevelsStream = LevelStream;

    /// The opening updates, then: the end of the stream when the request
    /// names SKU `END`, an `UNAVAILABLE` status when it names `FAIL`, and
    /// otherwise nothing more, ever (as a quiet warehouse).
    async fn watch_levels(
        &self,
        request: Request<WatchLevelsRequest>,
    ) -> Result<Response<Self::WatchLevelsStream>, Status> {
        self.answer("WatchLevels", request, |request| -> LevelStream {
            let opening = stream::iter(opening_updates().into_iter().map(Ok));
            if request.skus.iter().any(|sku| sku == "END") {
                Box::pin(opening)
            } else if request.skus.iter().any(|sku| sku == "FAIL") {
                Box::pin(opening.chain(stream::iter([Err(Status::unavailable("leader stepped down"))])))
            } else {
                Box::pin(opening.chain(stream::pending()))
            }
        })
        .await
    }
}

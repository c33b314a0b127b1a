//! Scripted replicas: small real tonic servers on 127.0.0.1 implementing the
//! `Admin` service (the smallest of the three a replica serves), whose every
//! answer comes from a script.
//!
//! They stand in for a `regiond` replica only to exercise the client's side
//! of the protocol (leader hints, `NoQuorum`, retries, deadlines, metadata);
//! they implement none of a replica's behaviour. End-to-end tests against
//! real `regiond` processes live with the node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use protos::admin::admin_server::{Admin, AdminServer};
use protos::admin::{
    AddLearnerRequest, ChangeMembershipRequest, ClusterStatusRequest, ClusterStatusResponse, GroupStatus, Member,
    Membership, MembershipResponse, RegisterWarehouseRequest, RegisterWarehouseResponse, ReplicationProgress, Role,
    SetFaultsRequest, SetFaultsResponse, TransferLeadershipRequest, TransferLeadershipResponse,
    TriggerSnapshotRequest, TriggerSnapshotResponse, VoterSet,
};
use protos::common::{NoQuorum, NotLeader};
use protos::status::ErrorDetail;
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
    /// The request, for `RegisterWarehouse` (the write with a command id).
    pub(crate) register: Option<RegisterWarehouseRequest>,
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
    /// Its node id in canned answers.
    pub(crate) node_id: u64,
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
        let service = Scripted { node_id, calls: Arc::clone(&calls), script: Arc::new(script) };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(Server::builder().add_service(AdminServer::new(service)).serve_with_incoming_shutdown(
            TcpIncoming::from(listener),
            async {
                // A dropped sender also means stop.
                let _ = stopped.await;
            },
        ));
        Self { node_id, addr, calls, _stop: stop }
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
    ErrorDetail::from(NoQuorum { group_id: GROUP.to_owned(), retry_after_ms }).into_status("no quorum")
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
    async fn answer<Req, Resp>(
        &self,
        method: &'static str,
        request: Request<Req>,
        register: impl FnOnce(&Req) -> Option<RegisterWarehouseRequest>,
        ok: impl FnOnce(Req) -> Resp,
    ) -> Result<Response<Resp>, Status> {
        let authorization =
            request.metadata().get("authorization").map(|value| value.to_str().expect("ascii").to_owned());
        let request = request.into_inner();
        let seen = Seen { method, authorization, register: register(&request) };
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
        self.answer("ClusterStatus", request, |_| None, |_| status).await
    }

    async fn add_learner(&self, request: Request<AddLearnerRequest>) -> Result<Response<MembershipResponse>, Status> {
        let membership = membership(self.node_id);
        self.answer("AddLearner", request, |_| None, |_| MembershipResponse { membership: Some(membership), log_index: 8 })
            .await
    }

    async fn change_membership(
        &self,
        request: Request<ChangeMembershipRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let membership = membership(self.node_id);
        self.answer("ChangeMembership", request, |_| None, |_| MembershipResponse {
            membership: Some(membership),
            log_index: 9,
        })
        .await
    }

    async fn transfer_leadership(
        &self,
        request: Request<TransferLeadershipRequest>,
    ) -> Result<Response<TransferLeadershipResponse>, Status> {
        self.answer("TransferLeadership", request, |_| None, |request| TransferLeadershipResponse {
            leader_id: Some(request.to_node_id),
        })
        .await
    }

    async fn trigger_snapshot(
        &self,
        request: Request<TriggerSnapshotRequest>,
    ) -> Result<Response<TriggerSnapshotResponse>, Status> {
        self.answer("TriggerSnapshot", request, |_| None, |_| TriggerSnapshotResponse { applied_index: 119 }).await
    }

    async fn register_warehouse(
        &self,
        request: Request<RegisterWarehouseRequest>,
    ) -> Result<Response<RegisterWarehouseResponse>, Status> {
        self.answer("RegisterWarehouse", request, |request| Some(request.clone()), |request| {
            RegisterWarehouseResponse { warehouse: request.warehouse, applied_index: 7 }
        })
        .await
    }

    async fn set_faults(&self, request: Request<SetFaultsRequest>) -> Result<Response<SetFaultsResponse>, Status> {
        self.answer("SetFaults", request, |_| None, |request| SetFaultsResponse { faults: request.faults }).await
    }
}

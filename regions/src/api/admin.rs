//! The `Admin` service: group status, membership, leadership, snapshots,
//! warehouse registration, and fault injection when the node enabled it.
//! Every call needs the admin token.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use ledger::command::RegisterWarehouse;
use ledger::{Command, Envelope, Outcome};
use openraft::async_runtime::Instant;
use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, RaftError};
use openraft::storage::{RaftLogReader, RaftLogStorage};
use openraft::{EntryPayload, Membership, RaftMetrics, ServerState};
use protos::admin::admin_server::Admin;
use protos::admin::{self as pb, Role};
use raft::storage::DiskFaultConfig;
use raft::transport::{Direction, LinkFaults, LinkRule};
use raft::{LogStore, NodeInfo, TypeConfig};
use tonic::{Request, Response, Status};

use crate::api::status::{self, invalid_field};
use crate::api::{ApiContext, MAX_ID_BYTES};
use crate::faults::{FaultHooks, NodeFaults};
use crate::proposer::LeaderHint;
use crate::region::{Consistency, Region};

/// The `Admin` gRPC service of a node.
#[derive(Clone, Debug)]
pub struct AdminService {
    ctx: ApiContext,
    log: LogStore,
    faults: Option<FaultHooks>,
    /// The last state digest computed and the applied index it is of:
    /// hashing the whole ledger holds off apply, so an idle replica's
    /// digest is computed once, however often status is polled.
    digest: Arc<Mutex<(u64, Vec<u8>)>>,
}

impl AdminService {
    /// The service for `ctx`'s group, reading its committed entries from
    /// `log`; `SetFaults` works only when the node's config enabled fault
    /// injection and so handed it `faults`.
    pub fn new(ctx: ApiContext, log: LogStore, faults: Option<FaultHooks>) -> Self {
        Self { ctx, log, faults, digest: Arc::default() }
    }

    /// This replica's applied index and the ledger's state digest there.
    async fn state_digest(&self) -> Result<(u64, Vec<u8>), Status> {
        let applied = self.ctx.region.applied_index();
        {
            let cached = self.digest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if cached.0 == applied && !cached.1.is_empty() {
                return Ok(cached.clone());
            }
        }
        let read = self.ctx.read(Consistency::Stale, |ledger| ledger.state_hash().to_vec()).await?;
        let state = (read.applied_index, read.value);
        *self.digest.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = state.clone();
        Ok(state)
    }

    /// Authenticates an admin caller and checks the request names this
    /// node's group (an empty group id means it).
    fn admit<T>(&self, request: &Request<T>, group_id: &str) -> Result<(), Status> {
        self.ctx.authenticate(request)?.require_admin()?;
        if !group_id.is_empty() && group_id != self.ctx.region.group().as_str() {
            return Err(Status::not_found(format!(
                "this node hosts group `{}`, not `{group_id}`",
                self.ctx.region.group()
            )));
        }
        Ok(())
    }

    fn metrics(&self) -> RaftMetrics<TypeConfig> {
        self.ctx.region.raft().metrics().borrow_watched().clone()
    }

    /// A membership-changing call failed: a follower points at the leader.
    fn membership_failed(&self, error: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> Status {
        match error {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
                status::not_leader(&self.ctx.region, LeaderHint::from(&forward))
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                Status::failed_precondition(e.to_string())
            }
            other => Status::unavailable(other.to_string()),
        }
    }
}

/// The highest node id the group has used, as this replica knows: the
/// highest any applied membership entry named, or any member of the
/// effective membership (which may be ahead of applied) if higher. A new
/// node's id must exceed it.
fn highest_node_id_used(region: &Region, m: &RaftMetrics<TypeConfig>) -> u64 {
    let members = m.membership_config.membership().nodes().map(|(id, _)| *id);
    members.fold(region.highest_node_id_used(), u64::max)
}

/// A group's status as this node sees it; `state` is the applied index and
/// the state digest at that index (read together, so they always match).
fn group_status(
    group_id: &str,
    m: &RaftMetrics<TypeConfig>,
    state: (u64, Vec<u8>),
    highest_node_id_used: u64,
) -> pb::GroupStatus {
    let (applied_index, digest) = state;
    let last_log_index = m.last_log_index.unwrap_or(0);
    let replication = m
        .replication
        .as_ref()
        .map(|progress| {
            progress
                .iter()
                .filter(|(id, _)| **id != m.id)
                .map(|(id, matched)| {
                    let matched_index = matched.as_ref().map(|log_id| log_id.index);
                    pb::ReplicationProgress {
                        node_id: *id,
                        matched_index,
                        lag_entries: last_log_index.saturating_sub(matched_index.unwrap_or(0)),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let role = match m.state {
        ServerState::Leader => Role::Leader,
        ServerState::Follower => Role::Follower,
        ServerState::Candidate => Role::Candidate,
        ServerState::Learner => Role::Learner,
        ServerState::Shutdown => Role::Shutdown,
    };
    pb::GroupStatus {
        group_id: group_id.to_owned(),
        node_id: m.id,
        role: role as i32,
        term: m.current_term,
        leader_id: m.current_leader,
        commit_index: m.local_committed.as_ref().map_or(0, |id| id.index),
        applied_index,
        last_log_index,
        snapshot_index: m.snapshot.as_ref().map(|id| id.index),
        membership: Some(membership(
            m.membership_config.log_id().as_ref().map_or(0, |id| id.index),
            m.membership_config.membership(),
        )),
        replication,
        millis_since_quorum_ack: m
            .last_quorum_acked
            .as_ref()
            .map(|at| u64::try_from((**at).elapsed().as_millis()).unwrap_or(u64::MAX)),
        state_digest: digest,
        highest_node_id_used,
    }
}

/// A membership config, introduced at `log_index`, as the wire shows it.
fn membership(log_index: u64, config: &Membership<u64, NodeInfo>) -> pb::Membership {
    let voters: BTreeSet<u64> = config.voter_ids().collect();
    pb::Membership {
        configs: config
            .get_joint_config()
            .iter()
            .map(|set| pb::VoterSet { node_ids: set.iter().copied().collect() })
            .collect(),
        members: config
            .nodes()
            .map(|(id, node)| pb::Member {
                node_id: *id,
                address: node.grpc_addr.clone(),
                voter: voters.contains(id),
                api_address: node.api_addr.clone(),
            })
            .collect(),
        log_index,
    }
}

fn direction(value: i32, index: usize) -> Result<Direction, Status> {
    match pb::LinkDirection::try_from(value) {
        Ok(pb::LinkDirection::Outbound) => Ok(Direction::Outbound),
        Ok(pb::LinkDirection::Inbound) => Ok(Direction::Inbound),
        Ok(pb::LinkDirection::Both) => Ok(Direction::Both),
        _ => Err(invalid_field(format!("faults.links[{index}].direction"), "must be OUTBOUND, INBOUND or BOTH")),
    }
}

/// Most records one `ReadLog` answers.
const MAX_LOG_RECORDS: u32 = 1_000;

/// A log entry as `ReadLog` shows it.
fn log_record(entry: raft::type_config::Entry) -> pb::LogRecord {
    let payload = match entry.payload {
        EntryPayload::Blank => pb::log_record::Payload::Blank(true),
        EntryPayload::Normal(batch) => pb::log_record::Payload::Envelopes(Envelope::encode_all(&batch.envelopes)),
        EntryPayload::Membership(config) => {
            pb::log_record::Payload::Membership(membership(entry.log_id.index, &config))
        }
    };
    pb::LogRecord { index: entry.log_id.index, term: entry.log_id.committed_leader_id().term, payload: Some(payload) }
}

/// Largest clock jump a node accepts, either way: a week.
const MAX_CLOCK_OFFSET_MS: i64 = 7 * 24 * 3_600_000;

fn node_faults_of(config: pb::FaultConfig) -> Result<NodeFaults, Status> {
    let links = config
        .links
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            Ok(LinkRule {
                peer: rule.peer_node_id,
                direction: direction(rule.direction, index)?,
                drop_ppm: rule.drop_ppm,
                delay_ms: rule.delay_ms,
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    let disk = config.disk.unwrap_or_default();
    if disk.fsync_delay_ms > MAX_FSYNC_DELAY_MS {
        return Err(invalid_field("faults.disk.fsync_delay_ms", format!("must be at most {MAX_FSYNC_DELAY_MS}")));
    }
    if config.clock_offset_ms.unsigned_abs() > MAX_CLOCK_OFFSET_MS.unsigned_abs() {
        return Err(invalid_field(
            "faults.clock_offset_ms",
            format!("must be within ±{MAX_CLOCK_OFFSET_MS} ms (a week)"),
        ));
    }
    Ok(NodeFaults {
        links: LinkFaults { links, seed: config.seed },
        disk: DiskFaultConfig { fsync_delay_ms: disk.fsync_delay_ms, fsync_fail: disk.fsync_fail },
        clock_offset_ms: config.clock_offset_ms,
    })
}

/// Longest injected fsync delay: a minute.
const MAX_FSYNC_DELAY_MS: u64 = 60_000;

fn fault_config_of(faults: &NodeFaults) -> pb::FaultConfig {
    pb::FaultConfig {
        links: faults
            .links
            .links
            .iter()
            .map(|rule| pb::LinkRule {
                peer_node_id: rule.peer,
                direction: match rule.direction {
                    Direction::Outbound => pb::LinkDirection::Outbound,
                    Direction::Inbound => pb::LinkDirection::Inbound,
                    Direction::Both => pb::LinkDirection::Both,
                } as i32,
                drop_ppm: rule.drop_ppm,
                delay_ms: rule.delay_ms,
            })
            .collect(),
        disk: Some(pb::DiskFaults { fsync_delay_ms: faults.disk.fsync_delay_ms, fsync_fail: faults.disk.fsync_fail }),
        seed: faults.links.seed,
        clock_offset_ms: faults.clock_offset_ms,
    }
}

fn check_id(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() || value.len() > MAX_ID_BYTES || value.chars().any(char::is_control) {
        return Err(invalid_field(field, format!("must be 1 to {MAX_ID_BYTES} bytes without control characters")));
    }
    Ok(())
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn cluster_status(
        &self,
        request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        self.ctx.authenticate(&request)?.require_admin()?;
        let own = self.ctx.region.group().as_str().to_owned();
        let wanted = &request.get_ref().group_ids;
        let groups = if wanted.is_empty() || wanted.contains(&own) {
            let metrics = self.metrics();
            let used = highest_node_id_used(&self.ctx.region, &metrics);
            vec![group_status(&own, &metrics, self.state_digest().await?, used)]
        } else {
            Vec::new()
        };
        Ok(Response::new(pb::ClusterStatusResponse {
            node_id: self.ctx.region.node_id(),
            faults_enabled: self.faults.is_some(),
            groups,
        }))
    }

    async fn add_learner(
        &self,
        request: Request<pb::AddLearnerRequest>,
    ) -> Result<Response<pb::MembershipResponse>, Status> {
        self.admit(&request, &request.get_ref().group_id)?;
        let message = request.into_inner();
        if message.node_id == 0 {
            return Err(invalid_field("node_id", "must be at least 1"));
        }
        for (field, addr) in [("address", &message.address), ("api_address", &message.api_address)] {
            if addr.parse::<std::net::SocketAddr>().is_err()
                && addr.rsplit_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                return Err(invalid_field(field, format!("`{addr}` is not host:port")));
            }
        }
        let known = self.metrics().membership_config.membership().get_node(&message.node_id).is_some();
        if !known {
            self.check_unused(message.node_id).await?;
        }
        let node = NodeInfo { grpc_addr: message.address, api_addr: message.api_address };
        let written = self
            .ctx
            .region
            .raft()
            .add_learner(message.node_id, node, message.blocking)
            .await
            .map_err(|e| self.membership_failed(e))?;
        Ok(Response::new(pb::MembershipResponse {
            membership: written.membership.as_ref().map(|config| membership(written.log_id.index, config)),
            log_index: written.log_id.index,
        }))
    }

    async fn change_membership(
        &self,
        request: Request<pb::ChangeMembershipRequest>,
    ) -> Result<Response<pb::MembershipResponse>, Status> {
        self.admit(&request, &request.get_ref().group_id)?;
        let message = request.into_inner();
        let voters: BTreeSet<u64> = message.voter_ids.iter().copied().collect();
        if voters.is_empty() {
            return Err(invalid_field("voter_ids", "must name at least one voter"));
        }
        let written = self
            .ctx
            .region
            .raft()
            .change_membership(voters, message.retain_as_learners)
            .await
            .map_err(|e| self.membership_failed(e))?;
        Ok(Response::new(pb::MembershipResponse {
            membership: written.membership.as_ref().map(|config| membership(written.log_id.index, config)),
            log_index: written.log_id.index,
        }))
    }

    async fn transfer_leadership(
        &self,
        request: Request<pb::TransferLeadershipRequest>,
    ) -> Result<Response<pb::TransferLeadershipResponse>, Status> {
        self.admit(&request, &request.get_ref().group_id)?;
        let to = request.get_ref().to_node_id;
        let metrics = self.metrics();
        if metrics.current_leader != Some(metrics.id) {
            return Err(status::not_leader(&self.ctx.region, self.ctx.region.leader_hint()));
        }
        if !metrics.membership_config.membership().voter_ids().any(|id| id == to) {
            return Err(invalid_field("to_node_id", format!("node {to} is not a voter of the group")));
        }
        let handed_over =
            raft::leadership::hand_over(self.ctx.region.raft(), metrics.id, to, self.ctx.region.deadline())
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(pb::TransferLeadershipResponse { leader_id: handed_over }))
    }

    async fn trigger_snapshot(
        &self,
        request: Request<pb::TriggerSnapshotRequest>,
    ) -> Result<Response<pb::TriggerSnapshotResponse>, Status> {
        self.admit(&request, &request.get_ref().group_id)?;
        let applied = self.metrics().last_applied.map_or(0, |id| id.index);
        self.ctx.region.raft().trigger().snapshot().await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(pb::TriggerSnapshotResponse { applied_index: applied }))
    }

    async fn register_warehouse(
        &self,
        request: Request<pb::RegisterWarehouseRequest>,
    ) -> Result<Response<pb::RegisterWarehouseResponse>, Status> {
        let principal = self.ctx.authenticate(&request)?;
        principal.require_admin()?;
        let message = request.into_inner();
        let warehouse = message.warehouse.ok_or_else(|| invalid_field("warehouse", "is required"))?;
        check_id("warehouse.warehouse_id", &warehouse.warehouse_id)?;
        if warehouse.region != self.ctx.region.region() {
            return Err(invalid_field(
                "warehouse.region",
                format!("this is region `{}`'s group; register the warehouse there", self.ctx.region.region()),
            ));
        }
        for (field, value, max) in
            [("warehouse.name", &warehouse.name, 255), ("warehouse.location", &warehouse.location, 1024)]
        {
            if value.len() > max {
                return Err(invalid_field(field, format!("is longer than {max} bytes")));
            }
        }
        let command = Command::RegisterWarehouse(RegisterWarehouse {
            warehouse: warehouse.warehouse_id.as_str().into(),
            region: warehouse.region.clone(),
            name: warehouse.name.clone(),
            location: warehouse.location.clone(),
            priority: warehouse.priority,
        });
        let written = self.ctx.write(&principal, &message.command_id, command).await?;
        match written.outcome {
            Outcome::WarehouseRegistered => Ok(Response::new(pb::RegisterWarehouseResponse {
                warehouse: Some(warehouse),
                applied_index: written.applied_index,
            })),
            other => Err(Status::internal(format!("the ledger answered {other:?} to a warehouse registration"))),
        }
    }

    async fn read_log(&self, request: Request<pb::ReadLogRequest>) -> Result<Response<pb::ReadLogResponse>, Status> {
        self.admit(&request, &request.get_ref().group_id)?;
        let message = request.into_inner();
        let limit = match message.limit {
            0 => MAX_LOG_RECORDS,
            n if n > MAX_LOG_RECORDS => {
                return Err(invalid_field("limit", format!("must be at most {MAX_LOG_RECORDS}")));
            }
            n => n,
        };
        let mut log = self.log.clone();
        let state = log.get_log_state().await.map_err(|e| Status::internal(e.to_string()))?;
        let first_index = state.last_purged_log_id.map_or(0, |id| id.index + 1);
        let from = message.from_index;
        if from < first_index {
            return Err(Status::failed_precondition(format!(
                "entries before {first_index} were purged after a snapshot; ask from_index >= {first_index}"
            )));
        }
        let applied = self.metrics().last_applied.map_or(0, |id| id.index);
        let end = applied.saturating_add(1).min(from.saturating_add(u64::from(limit)));
        let entries = if from < end {
            log.limited_get_log_entries(from, end).await.map_err(|e| Status::internal(e.to_string()))?
        } else {
            Vec::new()
        };
        let records = entries.into_iter().map(log_record).collect();
        Ok(Response::new(pb::ReadLogResponse { records, first_index, applied_index: applied }))
    }

    async fn set_faults(
        &self,
        request: Request<pb::SetFaultsRequest>,
    ) -> Result<Response<pb::SetFaultsResponse>, Status> {
        self.ctx.authenticate(&request)?.require_admin()?;
        let Some(hooks) = &self.faults else {
            return Err(Status::unimplemented(
                "fault injection is disabled on this node; enable it with `fault_injection = true` in its config",
            ));
        };
        let wanted = node_faults_of(request.into_inner().faults.unwrap_or_default())?;
        let current = hooks.set(wanted).map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(pb::SetFaultsResponse { faults: Some(fault_config_of(&current)) }))
    }
}

impl AdminService {
    /// Refuses `node_id` for a new member unless it exceeds every id the
    /// group has used: a removed node's old process (its old vote and log)
    /// must never count as the new node, and a fresh node under an old id
    /// could vote twice in one term. A read index first makes every
    /// committed membership applied here (openraft allows one uncommitted
    /// membership change at a time, and that one is the effective one).
    async fn check_unused(&self, node_id: u64) -> Result<(), Status> {
        self.ctx.read(Consistency::Linearizable, |_| ()).await?;
        let used = highest_node_id_used(&self.ctx.region, &self.metrics());
        if node_id > used {
            return Ok(());
        }
        let lowest = used
            .checked_add(1)
            .map_or_else(|| "no id is left".to_owned(), |id| format!("the lowest acceptable id is {id}"));
        Err(invalid_field(
            "node_id",
            format!(
                "{node_id} is taken or retired (the group has used ids up to {used}, and ids are never reused): {lowest}"
            ),
        ))
    }
}

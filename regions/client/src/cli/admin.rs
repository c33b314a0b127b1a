//! The operator subcommands (`Admin` service).

use std::io::Write;

use futures_util::future::join_all;
use protos::admin::admin_client::AdminClient;
use protos::admin::{
    AddLearnerRequest, ChangeMembershipRequest, ClusterStatusRequest, RegisterWarehouseRequest,
    TransferLeadershipRequest, TriggerSnapshotRequest, Warehouse,
};
use serde_json::{Value, json};

use super::args::{
    AddLearnerArgs, MembershipArgs, RegisterWarehouseArgs, SnapshotArgs, StatusArgs, TransferLeaderArgs,
};
use super::render::{NodeStatus, ToJson as _, write_cluster_status, write_fields, write_membership};
use super::{CliError, Context, check_len};
use crate::error::code_name;

/// Most `--group` values of one `status`.
const GROUPS_MAX: usize = 100;

/// `status`: ClusterStatus from every known replica at once (one attempt
/// each, no redirects: each replica's own view is the point). Prints what
/// every replica said; fails with exit code 3 if some did not answer, or
/// with the first error if none did.
pub(super) async fn status(ctx: &mut Context<'_, impl Write>, args: StatusArgs) -> Result<(), CliError> {
    check_len("--group", args.group.len(), GROUPS_MAX)?;
    let request = ClusterStatusRequest { group_ids: args.group };
    let endpoints = ctx.client.endpoints();
    let client = &ctx.client;
    let answers = join_all(endpoints.iter().map(|endpoint| {
        client.call_endpoint(endpoint, "Admin/ClusterStatus", request.clone(), |channel, request| async move {
            AdminClient::new(channel).cluster_status(request).await
        })
    }))
    .await;

    let replicas: Vec<Value> = endpoints
        .iter()
        .zip(&answers)
        .map(|(endpoint, answer)| match answer {
            Ok(status) => json!({ "endpoint": endpoint.as_str(), "status": status.to_json() }),
            Err(error) => json!({
                "endpoint": endpoint.as_str(),
                "error": { "code": code_name(error.status().code()), "message": error.to_string() },
            }),
        })
        .collect();
    let answered: Vec<NodeStatus<'_>> = endpoints
        .iter()
        .zip(&answers)
        .filter_map(|(endpoint, answer)| {
            answer.as_ref().ok().map(|status| NodeStatus { endpoint: endpoint.as_str(), status })
        })
        .collect();
    let failed: Vec<(&str, &crate::ClientError)> = endpoints
        .iter()
        .zip(&answers)
        .filter_map(|(endpoint, answer)| answer.as_ref().err().map(|error| (endpoint.as_str(), error)))
        .collect();
    ctx.emit(json!({ "replicas": replicas }), |out| {
        write_cluster_status(out, &answered)?;
        for (endpoint, error) in &failed {
            let status = error.status();
            writeln!(out, "\n{endpoint}: no answer: {}: {}", code_name(status.code()), status.message())?;
        }
        Ok(())
    })?;

    match failed.first() {
        None => Ok(()),
        Some((_, error)) if answered.is_empty() => Err(CliError::client((*error).clone(), None)),
        Some(_) => Err(CliError::Partial { failed: failed.len(), total: endpoints.len() }),
    }
}

/// `add-learner`: AddLearner.
pub(super) async fn add_learner(ctx: &mut Context<'_, impl Write>, args: AddLearnerArgs) -> Result<(), CliError> {
    let request = AddLearnerRequest {
        group_id: args.group.group,
        node_id: args.node_id,
        address: args.address.to_string(),
        blocking: args.blocking,
        api_address: args.api_address.to_string(),
    };
    let response = ctx
        .client
        .call("Admin/AddLearner", request, |channel, request| async move {
            AdminClient::new(channel).add_learner(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    ctx.emit(response.to_json(), |out| {
        writeln!(out, "membership entry at log index {}", response.log_index)?;
        response.membership.as_ref().map_or(Ok(()), |membership| write_membership(out, membership))
    })
}

/// `membership`: ChangeMembership.
pub(super) async fn membership(ctx: &mut Context<'_, impl Write>, args: MembershipArgs) -> Result<(), CliError> {
    check_len("--voters", args.voters.len(), GROUPS_MAX)?;
    let request = ChangeMembershipRequest {
        group_id: args.group.group,
        voter_ids: args.voters,
        retain_as_learners: args.retain_as_learners,
    };
    let response = ctx
        .client
        .call("Admin/ChangeMembership", request, |channel, request| async move {
            AdminClient::new(channel).change_membership(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    ctx.emit(response.to_json(), |out| {
        writeln!(out, "membership entry at log index {}", response.log_index)?;
        response.membership.as_ref().map_or(Ok(()), |membership| write_membership(out, membership))
    })
}

/// `transfer-leader`: TransferLeadership.
pub(super) async fn transfer_leader(
    ctx: &mut Context<'_, impl Write>,
    args: TransferLeaderArgs,
) -> Result<(), CliError> {
    let request = TransferLeadershipRequest { group_id: args.group.group, to_node_id: args.to };
    let response = ctx
        .client
        .call("Admin/TransferLeadership", request, |channel, request| async move {
            AdminClient::new(channel).transfer_leadership(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    ctx.emit(response.to_json(), |out| match response.leader_id {
        Some(leader) => writeln!(out, "leader is now node {leader}"),
        None => writeln!(out, "transfer started; the election had not finished when the call returned"),
    })
}

/// `snapshot`: TriggerSnapshot.
pub(super) async fn snapshot(ctx: &mut Context<'_, impl Write>, args: SnapshotArgs) -> Result<(), CliError> {
    let request = TriggerSnapshotRequest { group_id: args.group.group };
    let response = ctx
        .client
        .call("Admin/TriggerSnapshot", request, |channel, request| async move {
            AdminClient::new(channel).trigger_snapshot(request).await
        })
        .await
        .map_err(|error| CliError::client(error, None))?;
    ctx.emit(response.to_json(), |out| {
        writeln!(
            out,
            "snapshot requested at applied index {}; it builds in the background (see `status`)",
            response.applied_index
        )
    })
}

/// `register-warehouse`: RegisterWarehouse.
pub(super) async fn register_warehouse(
    ctx: &mut Context<'_, impl Write>,
    args: RegisterWarehouseArgs,
) -> Result<(), CliError> {
    let command_id = ctx.command_id(args.command_id)?;
    let request = RegisterWarehouseRequest {
        command_id: command_id.to_string(),
        warehouse: Some(Warehouse {
            warehouse_id: args.warehouse,
            region: args.region,
            name: args.name,
            location: args.location.unwrap_or_default(),
            priority: args.priority,
        }),
    };
    let response = ctx
        .client
        .call("Admin/RegisterWarehouse", request, |channel, request| async move {
            AdminClient::new(channel).register_warehouse(request).await
        })
        .await
        .map_err(|error| CliError::client(error, Some(&command_id)))?;
    ctx.emit_mutation(&command_id, &response, |out| {
        writeln!(out, "applied at log index {}", response.applied_index)?;
        let Some(warehouse) = &response.warehouse else { return Ok(()) };
        write_fields(
            out,
            &[
                ("warehouse", warehouse.warehouse_id.clone()),
                ("region", warehouse.region.clone()),
                ("name", warehouse.name.clone()),
                ("location", warehouse.location.clone()),
                ("priority", warehouse.priority.to_string()),
            ],
        )
    })
}

//! Rebuilding a replica from its peers: what `regiond rebuild` does when a
//! node's data dir is damaged (it refuses to start, see
//! `raft::storage::OpenError::Damaged`) or lost.
//!
//! Node ids are never reused (a new process under an old id could vote
//! twice in one term), so the replica comes back under a new id:
//!
//! 1. ask the group, through any live member's API, for its leader and
//!    membership; the new id must be above every id the group has used
//!    (`GroupStatus.highest_node_id_used`: removed members' ids included);
//! 2. move the old data dir aside (kept for forensics, never deleted);
//! 3. start the node under the new id with an empty data dir (join mode),
//!    on the same addresses;
//! 4. add it as a learner and wait until it has caught up (by snapshot and
//!    log, from the leader), then replace the old id by the new one among
//!    the voters in one membership change.
//!
//! The group keeps serving throughout: until step 4 it runs on the other
//! replicas, exactly as with one replica down. The node then keeps running.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protos::admin::admin_client::AdminClient;
use protos::admin::{AddLearnerRequest, ChangeMembershipRequest, ClusterStatusRequest, GroupStatus};
use region_client::{BearerToken, ClientConfig, ClientError, EndpointAddr, RegionClient};

use crate::config::{ConfigError, NodeConfig};
use crate::node::{RegionNode, StartError, StartMode};

/// How long each admin step may take (a blocking AddLearner waits for the
/// new replica to catch up, snapshot included).
const STEP_DEADLINE: Duration = Duration::from_secs(120);

/// Why a rebuild stopped. Each step says what was done before it.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The config cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new id is not usable.
    #[error("--new-node-id {new}: {reason}")]
    NewId {
        /// The id asked for.
        new: u64,
        /// Why it is refused.
        reason: String,
    },
    /// No live member to ask was named.
    #[error(
        "no member of the group to ask: the config has no peers besides this node; name a live member's API address with --via"
    )]
    NoMembers,
    /// The group could not be asked or changed.
    #[error("{step}: {source}")]
    Group {
        /// What was being done.
        step: String,
        /// What the group answered.
        source: ClientError,
    },
    /// The group's answer is not usable.
    #[error("{0}")]
    Membership(String),
    /// The old data dir could not be moved aside.
    #[error("cannot move the old data dir {} aside to {}: {source}", .from.display(), .to.display())]
    MoveAside {
        /// The data dir.
        from: PathBuf,
        /// Where it was to go.
        to: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// The rebuilt node did not start.
    #[error("the rebuilt node (id {new}) did not start (the old data dir is at {}): {source}", .aside.display())]
    Start {
        /// Its new id.
        new: u64,
        /// Where the old data dir went.
        aside: PathBuf,
        /// Why.
        source: Box<StartError>,
    },
}

/// Rebuilds the replica `config` describes under `new_node_id`, asking the
/// members in `config.peers` and `via` (API addresses), and returns the
/// running node, a voter in place of the old id.
pub async fn rebuild(config: NodeConfig, new_node_id: u64, via: &[String]) -> Result<RegionNode, RebuildError> {
    let old = config.node_id;
    let client = group_client(&config, via)?;
    let group = group_status(&client).await?;
    check_new_id(&group, old, new_node_id)?;

    let aside = move_aside(&config.data_dir)?;
    tracing::warn!(from = %config.data_dir.display(), to = %aside.display(), "old data dir moved aside");
    let node = RegionNode::start(NodeConfig { node_id: new_node_id, ..config }, StartMode::Join)
        .await
        .map_err(|source| RebuildError::Start { new: new_node_id, aside: aside.clone(), source: Box::new(source) })?;

    let add = AddLearnerRequest {
        group_id: String::new(),
        node_id: new_node_id,
        address: node.raft_addr().to_string(),
        blocking: true,
        api_address: node.api_addr().to_string(),
    };
    tracing::info!(node = new_node_id, "adding the rebuilt replica as a learner; it catches up from the leader");
    client
        .call("Admin/AddLearner", add, |channel, r| async { AdminClient::new(channel).add_learner(r).await })
        .await
        .map_err(|source| RebuildError::Group { step: format!("adding node {new_node_id} as a learner"), source })?;

    let mut voters = voters(&group);
    voters.remove(&old);
    voters.insert(new_node_id);
    let change = ChangeMembershipRequest {
        group_id: String::new(),
        voter_ids: voters.iter().copied().collect(),
        retain_as_learners: false,
    };
    tracing::info!(old, new = new_node_id, ?voters, "replacing the old id among the voters");
    client
        .call("Admin/ChangeMembership", change, |channel, r| async {
            AdminClient::new(channel).change_membership(r).await
        })
        .await
        .map_err(|source| RebuildError::Group { step: format!("replacing voter {old} by {new_node_id}"), source })?;
    tracing::info!(node = new_node_id, "rebuilt: a voter of the group");
    Ok(node)
}

/// A leader-following admin client of the group, over the API addresses of
/// the config's peers (but this node) and `via`.
fn group_client(config: &NodeConfig, via: &[String]) -> Result<RegionClient, RebuildError> {
    let addresses = config
        .peers
        .iter()
        .filter(|(id, _)| **id != config.node_id)
        .map(|(_, peer)| peer.api_addr.clone())
        .chain(via.iter().cloned());
    let endpoints = addresses
        .map(|address| {
            EndpointAddr::parse(&address)
                .map_err(|e| RebuildError::Membership(format!("member address `{address}` is not usable: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if endpoints.is_empty() {
        return Err(RebuildError::NoMembers);
    }
    let token = BearerToken::parse(&config.admin_token()?)
        .map_err(|e| RebuildError::Membership(format!("the config's admin token is not usable: {e}")))?;
    RegionClient::new(endpoints, token, ClientConfig::with_deadline(STEP_DEADLINE))
        .map_err(|e| RebuildError::Membership(format!("cannot build a client of the group: {e}")))
}

/// The group's status as the leader sees it (asked through any member, then
/// at the leader it names).
async fn group_status(client: &RegionClient) -> Result<GroupStatus, RebuildError> {
    let ask = |endpoint: Option<EndpointAddr>| async move {
        let request = ClusterStatusRequest::default();
        let answer = match &endpoint {
            Some(endpoint) => {
                client
                    .call_endpoint(endpoint, "Admin/ClusterStatus", request, |channel, r| async {
                        AdminClient::new(channel).cluster_status(r).await
                    })
                    .await
            }
            None => {
                client
                    .call("Admin/ClusterStatus", request, |channel, r| async {
                        AdminClient::new(channel).cluster_status(r).await
                    })
                    .await
            }
        };
        let status =
            answer.map_err(|source| RebuildError::Group { step: "asking the group's status".into(), source })?;
        status.groups.into_iter().next().ok_or_else(|| RebuildError::Membership("the member hosts no group".into()))
    };
    let seen = ask(None).await?;
    let leader = seen.leader_id.ok_or_else(|| {
        RebuildError::Membership("the group has no leader now; rebuild once it has one (a majority is up)".into())
    })?;
    let address = members(&seen).into_iter().find(|(id, _)| *id == leader).map(|(_, address)| address);
    match address.as_deref().map(EndpointAddr::parse) {
        Some(Ok(endpoint)) if seen.node_id != leader => ask(Some(endpoint)).await,
        _ => Ok(seen),
    }
}

/// Every member's id and API address.
fn members(status: &GroupStatus) -> Vec<(u64, String)> {
    status.membership.iter().flat_map(|m| &m.members).map(|m| (m.node_id, m.api_address.clone())).collect()
}

/// The voters of the group's current (last) configuration.
fn voters(status: &GroupStatus) -> BTreeSet<u64> {
    status
        .membership
        .as_ref()
        .and_then(|m| m.configs.last())
        .map(|set| set.node_ids.iter().copied().collect())
        .unwrap_or_default()
}

/// The new id must differ from the old and exceed every id the group has
/// used, removed members' included (ids are handed out increasing and never
/// reused): `highest_node_id_used`, which covers the current members too.
/// Checked here before the old data dir is moved aside; the leader's
/// AddLearner checks again.
fn check_new_id(status: &GroupStatus, old: u64, new: u64) -> Result<(), RebuildError> {
    let refuse = |reason: String| Err(RebuildError::NewId { new, reason });
    if new == 0 || new == old {
        return refuse(format!("must be a new id, not 0 or this node's old id {old}"));
    }
    let highest = status.highest_node_id_used;
    if new <= highest {
        return refuse(format!(
            "must exceed every id the group has used, removed members' included (the highest is {highest}): ids are never reused"
        ));
    }
    if !voters(status).contains(&old) {
        return refuse(format!("node {old} is not a voter of the group; add the node with `regiond --join` instead"));
    }
    Ok(())
}

/// Renames `dir` to `<dir>.damaged-<unix seconds>`; where it went. A
/// missing dir (lost disk) has nothing to move: its would-be name is given.
fn move_aside(dir: &Path) -> Result<PathBuf, RebuildError> {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".damaged-{seconds}"));
    let aside = PathBuf::from(name);
    match std::fs::rename(dir, &aside) {
        Ok(()) => Ok(aside),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(aside),
        Err(source) => Err(RebuildError::MoveAside { from: dir.to_owned(), to: aside, source }),
    }
}

/// Rewrites the `node_id = …` line of the config file at `path` to `new`,
/// keeping every other line (comments included); the old file is kept as
/// `<path>.before-rebuild`. The config then starts the rebuilt node on
/// every later restart.
pub fn rewrite_node_id(path: &Path, old: u64, new: u64) -> Result<PathBuf, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    let is_node_id = |line: &str| {
        let line = line.split('#').next().unwrap_or_default();
        line.split_once('=').is_some_and(|(key, value)| key.trim() == "node_id" && value.trim() == old.to_string())
    };
    let matching = text.lines().filter(|line| is_node_id(line)).count();
    if matching != 1 {
        return Err(ConfigError::Invalid {
            field: "node_id".into(),
            reason: format!(
                "expected one `node_id = {old}` line in {}, found {matching}: set node_id = {new} by hand",
                path.display()
            ),
        });
    }
    let rewritten: String = text
        .lines()
        .map(|line| if is_node_id(line) { format!("node_id = {new}\n") } else { format!("{line}\n") })
        .collect();
    let mut backup = path.as_os_str().to_owned();
    backup.push(".before-rebuild");
    let backup = PathBuf::from(backup);
    let write = |to: &Path, contents: &str| {
        std::fs::write(to, contents).map_err(|source| ConfigError::Write { path: to.into(), source })
    };
    write(&backup, &text)?;
    write(path, &rewritten)?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use protos::admin::{Member, Membership, VoterSet};

    use super::*;

    fn status(voters: &[u64], learners: &[u64], highest_node_id_used: u64) -> GroupStatus {
        let member =
            |id: &u64| Member { node_id: *id, api_address: format!("127.0.0.1:{}", 7000 + id), ..Default::default() };
        GroupStatus {
            highest_node_id_used,
            membership: Some(Membership {
                configs: vec![VoterSet { node_ids: voters.to_vec() }],
                members: voters.iter().chain(learners).map(member).collect(),
                log_index: 1,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_new_id_must_be_fresh_and_the_old_a_voter() {
        let group = status(&[1, 2, 3], &[5], 5);
        assert!(check_new_id(&group, 3, 6).is_ok());
        for (old, new, says) in
            [(3, 3, "new id"), (3, 0, "new id"), (3, 4, "highest is 5"), (3, 5, "highest is 5"), (9, 10, "not a voter")]
        {
            let refused = check_new_id(&group, old, new).expect_err("refused").to_string();
            assert!(refused.contains(says), "{old} -> {new}: {refused}");
        }
    }

    #[test]
    fn a_removed_members_id_is_never_handed_out_again() {
        // Node 4, the highest id, was removed: no member has it, the group remembers it.
        let group = status(&[1, 2, 3], &[], 4);
        for new in [4, 2] {
            let refused = check_new_id(&group, 3, new).expect_err("refused").to_string();
            assert!(refused.contains("highest is 4") && refused.contains("removed members'"), "{new}: {refused}");
        }
        assert!(check_new_id(&group, 3, 5).is_ok());
    }

    #[test]
    fn the_config_file_gets_the_new_id_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node3.toml");
        let original = "# node 3 of eu-west\ncluster_id = \"c\"\nnode_id = 3 # the old one\nregion = \"eu-west\"\n[peers.3]\nraft_addr = \"x:1\"\n";
        std::fs::write(&path, original).unwrap();
        let backup = rewrite_node_id(&path, 3, 7).expect("rewritten");
        let rewritten = std::fs::read_to_string(&path).unwrap();
        assert!(rewritten.contains("\nnode_id = 7\n") && !rewritten.contains("node_id = 3"), "{rewritten}");
        assert!(rewritten.starts_with("# node 3 of eu-west\n") && rewritten.contains("[peers.3]"), "{rewritten}");
        assert_eq!(std::fs::read_to_string(backup).unwrap(), original);
        let again = rewrite_node_id(&path, 3, 8).expect_err("no node_id = 3 line any more");
        assert!(again.to_string().contains("set node_id = 8 by hand"), "{again}");
    }

    #[test]
    fn a_missing_data_dir_has_nothing_to_move() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let aside = move_aside(&data).expect("nothing to move");
        assert!(!aside.exists());
        std::fs::create_dir(&data).unwrap();
        let aside = move_aside(&data).expect("moved");
        assert!(aside.is_dir() && !data.exists());
    }
}

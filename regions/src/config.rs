//! The node's configuration: a TOML file, with secrets taken from the
//! environment when the file says so.
//!
//! ```toml
//! cluster_id = "local"
//! node_id = 1
//! region = "eu-west"
//! data_dir = "/var/lib/regiond/1"
//! raft_addr = "127.0.0.1:7101"     # node-to-node (Raft) listener, never exposed to clients
//! api_addr = "127.0.0.1:7201"      # warehouse, reservation and admin gRPC
//! metrics_addr = "127.0.0.1:9101"  # GET /metrics (optional)
//!
//! # The group's first voters, for bootstrap (every initial member lists the same).
//! [peers.1]
//! raft_addr = "127.0.0.1:7101"
//! api_addr = "127.0.0.1:7201"
//!
//! [tokens]
//! admin = "env:REGIOND_ADMIN_TOKEN"   # `env:NAME` reads the environment
//! service = "env:REGIOND_SERVICE_TOKEN"
//! [tokens.warehouses]
//! wh-paris = "env:REGIOND_TOKEN_WH_PARIS"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{Principal, Tokens};
use crate::proposer::ProposerConfig;

/// Everything a `regiond` process needs to run one replica.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The cluster's name; the data dir is stamped with it.
    pub cluster_id: String,
    /// This node's Raft id, unique in the cluster and never reused.
    pub node_id: u64,
    /// The region whose group this node replicates (the group id is `region/<region>`).
    pub region: String,
    /// The RocksDB directory.
    pub data_dir: PathBuf,
    /// Node-to-node listener (Raft transport). Never expose it to clients.
    pub raft_addr: SocketAddr,
    /// Client-facing listener: warehouse, reservation and admin gRPC.
    pub api_addr: SocketAddr,
    /// Prometheus metrics listener (`GET /metrics`); none when unset.
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
    /// The group's initial voters by node id. Used to bootstrap (the node
    /// must then be one of them) and by `regiond rebuild` to find the
    /// group; a node added later or rebuilt under a new id keeps them.
    #[serde(default)]
    pub peers: BTreeMap<u64, PeerConfig>,
    /// Accepted bearer tokens.
    pub tokens: TokensConfig,
    /// Raft timing.
    #[serde(default)]
    pub raft: RaftTimings,
    /// How long a write or linearizable read waits for a quorum before the
    /// caller is told the group has no quorum, in milliseconds.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// How often the leader proposes an `Expire` tick, in milliseconds.
    #[serde(default = "default_expire_interval_ms")]
    pub expire_interval_ms: u64,
    /// Most commands per Raft entry.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Most Raft entries the leader has proposed and not yet applied. Fewer
    /// make larger entries (fewer appends, fsyncs and replication messages
    /// per command) at the cost of a longer wait for the next entry.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Enables the fault-injection admin API (`SetFaults`). Off by default;
    /// only test and chaos deployments turn it on.
    #[serde(default)]
    pub fault_injection: bool,
    /// Deliberately unsafe behaviour, to prove the chaos checkers catch it.
    /// Accepted only by test builds (feature `unsafe-test-modes`); any other
    /// build refuses to start with it set.
    #[serde(default)]
    pub unsafe_test_mode: Option<UnsafeTestMode>,
}

/// A deliberately unsafe behaviour a test build can be told to have.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum UnsafeTestMode {
    /// The leader acknowledges writes before they are replicated.
    AckBeforeCommit,
}

/// Where a peer listens.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its node-to-node (Raft) address.
    pub raft_addr: String,
    /// Its client-facing address.
    pub api_addr: String,
}

/// Bearer tokens: literal values, or `env:NAME` to read variable `NAME`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// The operators' token (admin API and everything else).
    pub admin: String,
    /// The gateway's token (reservations, carts, checkouts, orders).
    #[serde(default)]
    pub service: Option<String>,
    /// One token per warehouse, by warehouse id.
    #[serde(default)]
    pub warehouses: BTreeMap<String, String>,
}

/// Raft timing in milliseconds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RaftTimings {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Shortest election timeout.
    pub election_min_ms: u64,
    /// Longest election timeout.
    pub election_max_ms: u64,
    /// Entries applied between automatic snapshots. Each replica takes
    /// its own at a different point of the interval, so a group's replicas
    /// do not all spend the CPU at once.
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot, so a briefly lagging follower
    /// catches up from the log rather than by a whole snapshot.
    pub logs_kept_after_snapshot: u64,
}

impl Default for RaftTimings {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            election_min_ms: 500,
            election_max_ms: 1_000,
            snapshot_every: 50_000,
            logs_kept_after_snapshot: 1_000,
        }
    }
}

fn default_deadline_ms() -> u64 {
    5_000
}

fn default_expire_interval_ms() -> u64 {
    500
}

fn default_max_batch() -> usize {
    ProposerConfig::default().max_batch
}

fn default_max_in_flight() -> usize {
    ProposerConfig::default().max_in_flight
}

/// Why a configuration cannot be used; names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file could not be written (`regiond rebuild` rewrites its id).
    #[error("cannot write config file {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a node config.
    #[error("config file {}: {source}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What and where.
        source: toml::de::Error,
    },
    /// A field has an unusable value.
    #[error("config field `{field}`: {reason}")]
    Invalid {
        /// The field's path.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.into(), reason: reason.into() }
}

impl NodeConfig {
    /// Reads and checks the TOML file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let config: Self = toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the fields that deserializing cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.cluster_id.trim().is_empty() {
            return Err(invalid("cluster_id", "must not be empty"));
        }
        if self.node_id == 0 {
            return Err(invalid("node_id", "must be at least 1"));
        }
        if self.region.is_empty()
            || self.region.len() > 64
            || !self.region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(invalid("region", "must be 1 to 64 ASCII letters, digits or '-'"));
        }
        if self.raft_addr == self.api_addr {
            return Err(invalid(
                "api_addr",
                "must differ from raft_addr: the Raft listener is never exposed to clients",
            ));
        }
        for (id, peer) in &self.peers {
            if *id == 0 {
                return Err(invalid("peers", "node ids start at 1"));
            }
            for (name, addr) in [("raft_addr", &peer.raft_addr), ("api_addr", &peer.api_addr)] {
                if addr.parse::<SocketAddr>().is_err() && !addr.contains(':') {
                    return Err(invalid(format!("peers.{id}.{name}"), format!("`{addr}` is not host:port")));
                }
            }
        }
        let timings = &self.raft;
        if timings.heartbeat_ms == 0 || timings.election_min_ms <= timings.heartbeat_ms {
            return Err(invalid("raft.election_min_ms", "must exceed raft.heartbeat_ms, which must be positive"));
        }
        if timings.election_max_ms <= timings.election_min_ms {
            return Err(invalid("raft.election_max_ms", "must exceed raft.election_min_ms"));
        }
        if timings.snapshot_every == 0 {
            return Err(invalid("raft.snapshot_every", "must be positive"));
        }
        if self.deadline_ms == 0 {
            return Err(invalid("deadline_ms", "must be positive"));
        }
        if self.expire_interval_ms == 0 {
            return Err(invalid("expire_interval_ms", "must be positive"));
        }
        if self.max_batch == 0 {
            return Err(invalid("max_batch", "must be positive"));
        }
        if self.max_in_flight == 0 {
            return Err(invalid("max_in_flight", "must be positive"));
        }
        if self.unsafe_test_mode.is_some() && !cfg!(feature = "unsafe-test-modes") {
            return Err(invalid(
                "unsafe_test_mode",
                "is only accepted by test builds (feature `unsafe-test-modes`); remove it: it makes the node lose acknowledged writes",
            ));
        }
        self.tokens()?;
        Ok(())
    }

    /// The Raft group id of this node's region.
    pub fn group_id(&self) -> String {
        format!("region/{}", self.region)
    }

    /// The write / read deadline.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// The admin token, with an `env:` reference resolved: what this node
    /// presents to its peers' admin API (`regiond rebuild`).
    pub fn admin_token(&self) -> Result<String, ConfigError> {
        resolve_secret("tokens.admin", &self.tokens.admin)
    }

    /// The accepted tokens, with `env:` references resolved.
    pub fn tokens(&self) -> Result<Tokens, ConfigError> {
        let mut tokens = Tokens::default();
        let mut add = |field: String, value: &str, principal: Principal| -> Result<(), ConfigError> {
            let secret = resolve_secret(&field, value)?;
            tokens.insert(&secret, principal).map_err(|e| invalid(field, e.to_string()))
        };
        add("tokens.admin".into(), &self.tokens.admin, Principal::Admin)?;
        if let Some(service) = &self.tokens.service {
            add("tokens.service".into(), service, Principal::Service)?;
        }
        for (warehouse, token) in &self.tokens.warehouses {
            add(format!("tokens.warehouses.{warehouse}"), token, Principal::Warehouse(warehouse.as_str().into()))?;
        }
        Ok(tokens)
    }

    /// openraft's settings for this node.
    pub fn raft_config(&self) -> openraft::Config {
        openraft::Config {
            cluster_name: self.cluster_id.clone(),
            heartbeat_interval: self.raft.heartbeat_ms,
            election_timeout_min: self.raft.election_min_ms,
            election_timeout_max: self.raft.election_max_ms,
            install_snapshot_timeout: 60_000,
            // `raft::snapshot_schedule` triggers them instead, each
            // replica at its own phase of `snapshot_every`.
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: self.raft.logs_kept_after_snapshot,
            enable_pre_vote: Some(true),
            // The saved committed id may trail what was applied before an
            // OS crash (`raft` does not sync it on the write path): a
            // restarted leader must win a new term, whose first entry
            // covers everything committed, before it serves reads.
            enable_leader_restore: Some(false),
            ..Default::default()
        }
    }
}

/// A literal secret, or the value of the environment variable `env:NAME` names.
fn resolve_secret(field: &str, value: &str) -> Result<String, ConfigError> {
    match value.strip_prefix("env:") {
        Some(name) => {
            std::env::var(name).map_err(|_| invalid(field, format!("environment variable `{name}` is not set")))
        }
        None => Ok(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        cluster_id = "test"
        node_id = 1
        region = "eu-west"
        data_dir = "/tmp/x"
        raft_addr = "127.0.0.1:7101"
        api_addr = "127.0.0.1:7201"
        [peers.1]
        raft_addr = "127.0.0.1:7101"
        api_addr = "127.0.0.1:7201"
        [tokens]
        admin = "admin-token-0123456789"
        [tokens.warehouses]
        wh-1 = "wh-1-token-0123456789"
    "#;

    fn parse(text: &str) -> Result<NodeConfig, String> {
        let config: NodeConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn a_complete_config_parses_with_defaults() {
        let config = parse(BASE).unwrap();
        assert_eq!(config.group_id(), "region/eu-west");
        assert_eq!(config.raft, RaftTimings::default());
        assert!(!config.fault_injection, "fault injection is off unless enabled");
        let proposer = ProposerConfig::default();
        assert_eq!((config.max_batch, config.max_in_flight), (proposer.max_batch, proposer.max_in_flight));
        assert!(config.tokens().is_ok());
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (BASE.replace("node_id = 1", "node_id = 0"), "node_id"),
            (BASE.replace("region = \"eu-west\"", "region = \"eu west\""), "region"),
            (
                BASE.replace(
                    "api_addr = \"127.0.0.1:7201\"\n        [peers",
                    "api_addr = \"127.0.0.1:7101\"\n        [peers",
                ),
                "api_addr",
            ),
            (BASE.replace("[peers.1]", "[peers.0]"), "peers"),
            (BASE.replace("admin-token-0123456789", "short"), "tokens.admin"),
            (BASE.replace("admin-token-0123456789", "env:REGIOND_TEST_UNSET_VARIABLE"), "tokens.admin"),
            (BASE.replace("cluster_id = \"test\"", "cluster_id = \"test\"\n        colour = 1"), "colour"),
            (format!("{BASE}\n        [raft]\n        heartbeat_ms = 600"), "raft.election_min_ms"),
            (format!("{BASE}\n        [raft]\n        snapshot_every = 0"), "raft.snapshot_every"),
            (BASE.replace("node_id = 1", "node_id = 1\n        max_batch = 0"), "max_batch"),
            (BASE.replace("node_id = 1", "node_id = 1\n        max_in_flight = 0"), "max_in_flight"),
        ];
        for (text, field) in cases {
            let error = parse(&text).expect_err(field);
            assert!(error.contains(field), "{field}: {error}");
        }
    }
}

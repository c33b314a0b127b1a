//! The target file: an existing deployment's nodes and credentials (see
//! [`super`] for its shape), read and checked before any node is asked
//! anything. Tokens are literal or `env:NAME`, as in regiond's own config.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use region_client::{BearerToken, EndpointAddr};
use serde::Deserialize;

use crate::cluster::ClusterTokens;

/// The target file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    nodes: Vec<NodeEntry>,
    tokens: TokensEntry,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeEntry {
    id: u64,
    api_addr: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensEntry {
    admin: String,
    service: String,
    #[serde(default)]
    warehouses: BTreeMap<String, String>,
}

/// An existing deployment, as its target file describes it (tokens
/// resolved), before any node was asked anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// The file it was read from (for the reproduce command).
    pub path: PathBuf,
    /// Every node: its id and API address.
    pub nodes: Vec<(u64, EndpointAddr)>,
    /// The credentials.
    pub tokens: ClusterTokens,
}

impl Deployment {
    /// Reads the target file at `path`, resolving `env:NAME` tokens from
    /// the environment.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the target file {}", path.display()))?;
        Self::parse(path, &text, &|name| std::env::var(name).ok())
            .with_context(|| format!("bad target file {}", path.display()))
    }

    /// Parses a target file's `text`; `env` looks up environment variables.
    fn parse(path: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let file: TargetFile = toml::from_str(text)?;
        anyhow::ensure!(!file.nodes.is_empty(), "`nodes` lists no node");
        let mut seen = BTreeSet::new();
        let mut nodes = Vec::with_capacity(file.nodes.len());
        for node in file.nodes {
            anyhow::ensure!(seen.insert(node.id), "node id {} is listed twice", node.id);
            let addr = EndpointAddr::parse(&node.api_addr)
                .with_context(|| format!("node {}: bad api_addr `{}`", node.id, node.api_addr))?;
            nodes.push((node.id, addr));
        }
        let secret = |field: &str, value: &str| -> anyhow::Result<String> {
            let token = match value.strip_prefix("env:") {
                Some(name) => {
                    env(name).with_context(|| format!("{field}: environment variable `{name}` is not set"))?
                }
                None => value.to_owned(),
            };
            BearerToken::parse(&token).with_context(|| format!("{field}: not a usable token"))?;
            Ok(token)
        };
        let tokens = ClusterTokens {
            admin: secret("tokens.admin", &file.tokens.admin)?,
            service: secret("tokens.service", &file.tokens.service)?,
            warehouses: file
                .tokens
                .warehouses
                .iter()
                .map(|(warehouse, value)| {
                    Ok((warehouse.clone(), secret(&format!("tokens.warehouses.{warehouse}"), value)?))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        Ok(Self { path: path.to_owned(), nodes, tokens })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) const FILE: &str = r#"
        [[nodes]]
        id = 1
        api_addr = "127.0.0.2:7201"
        [[nodes]]
        id = 2
        api_addr = "127.0.0.3:7202"

        [tokens]
        admin = "env:CHAOS_TEST_ADMIN"
        service = "service-token-0123456789"
        [tokens.warehouses]
        wh-1 = "env:CHAOS_TEST_WH"
    "#;

    fn env(name: &str) -> Option<String> {
        match name {
            "CHAOS_TEST_ADMIN" => Some("admin-token-0123456789".into()),
            "CHAOS_TEST_WH" => Some("warehouse-token-0123456789".into()),
            _ => None,
        }
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<Deployment> {
        Deployment::parse(Path::new("t.toml"), text, &env)
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn a_target_file_resolves_env_tokens() {
        let deployment = parse(FILE).unwrap();
        let ids: Vec<u64> = deployment.nodes.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(deployment.nodes[1].1, EndpointAddr::parse("127.0.0.3:7202").unwrap());
        assert_eq!(deployment.tokens.admin, "admin-token-0123456789");
        assert_eq!(deployment.tokens.service, "service-token-0123456789");
        assert_eq!(deployment.tokens.warehouses["wh-1"], "warehouse-token-0123456789");
    }

    #[test]
    fn bad_target_files_are_named() {
        let unset = FILE.replace("env:CHAOS_TEST_WH", "env:CHAOS_TEST_UNSET");
        assert!(
            error(&unset).contains("tokens.warehouses.wh-1: environment variable `CHAOS_TEST_UNSET`"),
            "{}",
            error(&unset)
        );
        assert!(error(&FILE.replace("id = 2", "id = 1")).contains("node id 1 is listed twice"));
        assert!(error(&FILE.replace("127.0.0.3:7202", "not an address")).contains("node 2: bad api_addr"));
        assert!(error(&FILE.replace("service-token-0123456789", "has space")).contains("tokens.service"));
        assert!(error(&FILE.replace("[tokens]", "colour = 1\n[tokens]")).contains("colour"));
        let no_nodes = FILE.split("[tokens]").nth(1).map(|t| format!("nodes = []\n[tokens]{t}")).unwrap();
        assert!(error(&no_nodes).contains("no node"), "{}", error(&no_nodes));
    }
}

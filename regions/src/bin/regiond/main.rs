//! `regiond`: runs one replica of a region's Raft group and its APIs, or,
//! with `regiond dev`, a whole local deployment for trying the system.
//!
//! ```text
//! regiond --config node1.toml --bootstrap   # first start of an initial member
//! regiond --config node4.toml --join        # first start of a member added later
//! regiond --config node1.toml               # every restart
//! regiond dev                               # two regions x three replicas, demo data
//! ```
//! Stops cleanly on Ctrl-C or SIGTERM.

mod dev;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use regions::config::NodeConfig;
use regions::node::{RegionNode, StartMode};

/// One replica of a region's Raft group, serving the warehouse,
/// reservation and admin gRPC APIs.
#[derive(Debug, Parser)]
#[command(name = "regiond", version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Args {
    /// The node's TOML config file.
    #[arg(long, env = "REGIOND_CONFIG", required = true)]
    config: Option<PathBuf>,
    /// First start of an initial member: create the data dir and bootstrap
    /// the group from `peers` (a no-op on an existing data dir).
    #[arg(long, conflicts_with = "join")]
    bootstrap: bool,
    /// First start of a member added later: create an empty data dir and
    /// wait for the leader to add this node.
    #[arg(long)]
    join: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Starts a local deployment as real processes: two regions of three
    /// replicas each, with demo warehouses and stock; prints what to try.
    Dev(dev::DevArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Some(Command::Dev(dev)) = args.command {
        return dev::run(dev).await;
    }
    let path = args.config.context("--config is required")?;
    let config = NodeConfig::load(&path)?;
    let mode = match (args.bootstrap, args.join) {
        (true, _) => StartMode::Bootstrap,
        (_, true) => StartMode::Join,
        _ => StartMode::Existing,
    };
    let node = RegionNode::start(config, mode).await.context("regiond cannot start")?;
    let failure = tokio::select! {
        signalled = shutdown_signal() => { signalled?; None }
        failure = node.failed() => Some(failure),
    };
    tracing::info!("stopping");
    node.shutdown().await;
    match failure {
        // Exit non-zero, so a supervisor restarts the node on what its disk
        // really holds rather than leaving a replica that can never ack.
        Some(reason) => anyhow::bail!("regiond stopped: its replica failed: {reason}"),
        None => Ok(()),
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

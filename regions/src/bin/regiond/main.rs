//! `regiond`: runs one replica of a region's Raft group and its APIs, or,
//! with `regiond dev`, a whole local deployment for trying the system.
//!
//! ```text
//! regiond --config node1.toml --bootstrap   # first start of an initial member
//! regiond --config node4.toml --join        # first start of a member added later
//! regiond --config node1.toml               # every restart
//! regiond dev                               # two regions x three replicas, demo data
//! regiond rebuild --config node3.toml --new-node-id 7   # a damaged replica, from its peers
//! ```
//! Stops cleanly on Ctrl-C or SIGTERM.

mod dev;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use regions::config::NodeConfig;
use regions::node::{RegionNode, StartMode};

/// mimalloc rather than glibc's malloc: the write path allocates and frees
/// per command, and glibc's arenas spent about an eighth of a loaded
/// replica's CPU (measured with `perf` under `bench --workload hot`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Rebuilds this node's replica from its peers under a new node id, when
    /// its data dir is damaged (it refuses to start and says so) or lost.
    /// Moves the old data dir aside, starts empty under the new id on the
    /// same addresses, catches up from the leader, replaces the old id among
    /// the voters, rewrites `node_id` in the config file (the old file is
    /// kept as `<config>.before-rebuild`), then keeps running. The group
    /// serves throughout.
    Rebuild(RebuildArgs),
}

#[derive(Debug, clap::Args)]
struct RebuildArgs {
    /// The damaged node's TOML config file.
    #[arg(long)]
    config: PathBuf,
    /// The replica's new node id: above every id the group has used, removed
    /// members' included (ids are never reused).
    #[arg(long)]
    new_node_id: u64,
    /// A live member's API address to ask (`host:port`), besides the
    /// config's `peers`; repeatable.
    #[arg(long, value_name = "ADDR")]
    via: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    disable_transparent_huge_pages();
    let args = Args::parse();
    match args.command {
        Some(Command::Dev(dev)) => return dev::run(dev).await,
        Some(Command::Rebuild(rebuild)) => return run_rebuild(rebuild).await,
        None => {}
    }
    let path = args.config.context("--config is required")?;
    let config = NodeConfig::load(&path)?;
    let mode = match (args.bootstrap, args.join) {
        (true, _) => StartMode::Bootstrap,
        (_, true) => StartMode::Join,
        _ => StartMode::Existing,
    };
    let node = RegionNode::start(config, mode).await.context("regiond cannot start")?;
    serve_until_stopped(node).await
}

/// Turns transparent huge pages off for this process (all its threads and
/// mappings, present and future).
///
/// The replicated state grows by every command, so apply keeps touching
/// fresh memory. mimalloc asks for huge pages on its arenas; each first
/// touch of one then zeroes 2 MiB at once (on a VM, with the host backing
/// it) on the apply thread of every replica. Open-loop at 15,000 hot-SKU
/// reservations/s on two cores, three 40 s runs each: p99 26-30 ms with
/// huge pages; 18.8, 19.3 and 37.3 ms (one isolated stall) without.
/// Failing only costs latency: a warning.
fn disable_transparent_huge_pages() {
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::warn!(%error, "could not turn transparent huge pages off");
    }
}

/// `regiond rebuild`: the replica rebuilt, the config rewritten, then
/// served until a signal.
async fn run_rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let config = NodeConfig::load(&args.config)?;
    let old = config.node_id;
    let node =
        regions::rebuild::rebuild(config, args.new_node_id, &args.via).await.context("regiond rebuild failed")?;
    match regions::rebuild::rewrite_node_id(&args.config, old, args.new_node_id) {
        Ok(backup) => tracing::info!(
            config = %args.config.display(),
            backup = %backup.display(),
            node = args.new_node_id,
            "config rewritten: restart with `regiond --config` as before"
        ),
        Err(error) => tracing::error!(%error, "the replica is rebuilt, but its config still names the old id"),
    }
    serve_until_stopped(node).await
}

/// Serves `node` until Ctrl-C or SIGTERM, or until its replica fails.
async fn serve_until_stopped(node: RegionNode) -> anyhow::Result<()> {
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

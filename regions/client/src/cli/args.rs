//! ledgerctl's flags, as clap derive types. Every value is checked while
//! parsing (ids, quantities, addresses, durations), so a bad flag is refused
//! with a message naming it before anything is sent.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::command_id::{COMMAND_ID_LEN_MAX, CommandId};
use crate::endpoint::EndpointAddr;
use crate::token::BearerToken;

/// Largest quantity the ledger holds in any bucket (10^12 units); larger
/// values are refused here rather than by the server.
pub const QUANTITY_MAX: u64 = 1_000_000_000_000;

/// Longest free-text field (references, names, locations), in bytes.
pub const TEXT_LEN_MAX: usize = 1024;

/// Longest hold time `--ttl` accepts; the region may allow less (one hour by
/// default) and says so.
pub const TTL_MAX: Duration = Duration::from_secs(24 * 3600);

/// Longest `--timeout` accepted.
pub const TIMEOUT_MAX: Duration = Duration::from_secs(3600);

/// Most `--line`, `--sku` or `--prefer` values of one command, as the ledger
/// limits lines per command.
pub const LIST_LEN_MAX: usize = 1000;

/// Exit codes, shown under `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  rejected by the region (the message says why; nothing was applied unless it says INTERNAL/UNKNOWN)
  2  usage: a missing or invalid flag
  3  unavailable: no quorum, no leader reached, or the outcome is unknown (retry with the same --command-id)
  4  the output could not be written

Mutating commands print the command id they use; rerunning the same command with --command-id <id> is
always safe: the region applies each command id at most once.";

/// ledgerctl: stock, holds, orders and Raft groups of one region, from the
/// command line.
#[derive(Debug, Parser)]
#[command(name = "ledgerctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Flags every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes (before or after the subcommand's name).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// API addresses of the region's replicas, comma-separated host:port (any
    /// replica will do; the leader is found from there)
    #[arg(long, global = true, env = "LEDGERCTL_ENDPOINTS", value_delimiter = ',', value_name = "HOST:PORT,...")]
    pub endpoints: Vec<EndpointAddr>,
    /// Bearer token for the region's API. Prefer the environment variable:
    /// command lines are visible to other users of the machine
    #[arg(long, global = true, env = "LEDGERCTL_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<BearerToken>,
    /// Output format: human-readable tables, or one JSON object per result
    #[arg(long, global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Time for the whole operation, retries included, in seconds (e.g. 10,
    /// 2.5) or with a unit (500ms, 30s, 2m)
    #[arg(long, global = true, default_value = "10", value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: Duration,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and lines for people.
    Human,
    /// One JSON object per result (per update for `watch`), one per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show stock levels (WarehouseInventory.GetLevels)
    Levels(LevelsArgs),
    /// Record units received into a warehouse (AdjustStock, reason received)
    Receive(ReceiveArgs),
    /// Adjust one stock level for a reason (AdjustStock)
    Adjust(AdjustArgs),
    /// Record a physical count: set on_hand to the counted units (CycleCount)
    Count(CountArgs),
    /// List the stock journal, oldest first (ListJournal)
    Journal(JournalArgs),
    /// Confirm that an order's lines left a warehouse (ConfirmShipment)
    Ship(ShipArgs),
    /// Move units between two warehouses of the region (Transfer)
    Transfer(TransferArgs),
    /// Print the current levels, then every change, until Ctrl-C (WatchLevels)
    Watch(WatchArgs),
    /// Reserve stock: all lines or nothing (Reservations.Reserve)
    Reserve(ReserveArgs),
    /// Turn a pending hold into an order (CommitHold)
    Commit(CommitArgs),
    /// Release a pending hold, returning its units (ReleaseHold)
    Release(ReleaseArgs),
    /// Show a hold (GetHold)
    Hold(HoldArgs),
    /// Show an order (GetOrder)
    Order(OrderArgs),
    /// Show every replica's view of its groups: role, term, leader, indexes,
    /// follower lag (Admin.ClusterStatus)
    Status(StatusArgs),
    /// Add a non-voting replica to a group (AddLearner)
    AddLearner(AddLearnerArgs),
    /// Set a group's voters (ChangeMembership)
    Membership(MembershipArgs),
    /// Hand a group's leadership to another voter (TransferLeadership)
    TransferLeader(TransferLeaderArgs),
    /// Build a snapshot of a group now (TriggerSnapshot)
    Snapshot(SnapshotArgs),
    /// Add a warehouse to the region (RegisterWarehouse)
    RegisterWarehouse(RegisterWarehouseArgs),
}

/// The idempotency key flag of every mutating subcommand.
#[derive(Debug, Args)]
pub struct CommandIdArg {
    /// Idempotency key; default: a fresh id. The id used is printed: rerun
    /// with it after a timeout to retry safely
    #[arg(long, value_name = "ID")]
    pub command_id: Option<CommandId>,
}

/// `levels`.
#[derive(Debug, Args)]
pub struct LevelsArgs {
    /// Warehouse; default: every warehouse of the region (service and admin
    /// tokens only)
    #[arg(long, value_parser = parse_id)]
    pub warehouse: Option<String>,
    /// Only these SKUs (repeat or comma-separate); default: every SKU, paged
    #[arg(long, value_delimiter = ',', value_parser = parse_id)]
    pub sku: Vec<String>,
    /// Page size when listing every SKU (1-500)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: Option<u32>,
    /// Cursor of the next page, from the previous page's output
    #[arg(long)]
    pub cursor: Option<String>,
    /// Accept the answering replica's applied state, possibly behind the
    /// leader's (default: a linearizable read on the leader)
    #[arg(long)]
    pub stale: bool,
}

/// `receive`.
#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// Warehouse receiving the units
    #[arg(long, value_parser = parse_id)]
    pub warehouse: String,
    /// SKU received
    #[arg(long, value_parser = parse_id)]
    pub sku: String,
    /// Units received
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=QUANTITY_MAX))]
    pub quantity: u64,
    /// Apply only if on_hand is exactly this now (compare-and-set)
    #[arg(long, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(..=QUANTITY_MAX))]
    pub expect_on_hand: Option<u64>,
    /// The document behind it (receipt, delivery note)
    #[arg(long, value_parser = parse_text)]
    pub reference: Option<String>,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// `adjust`.
#[derive(Debug, Args)]
pub struct AdjustArgs {
    /// Warehouse whose stock changes
    #[arg(long, value_parser = parse_id)]
    pub warehouse: String,
    /// SKU whose stock changes
    #[arg(long, value_parser = parse_id)]
    pub sku: String,
    /// Why the stock changes
    #[arg(long, value_enum)]
    pub reason: AdjustReason,
    /// How much.
    #[command(flatten)]
    pub amount: AdjustAmount,
    /// For --reason returned: the units go to the damaged bucket
    #[arg(long)]
    pub to_damaged: bool,
    /// Apply only if on_hand is exactly this now (compare-and-set)
    #[arg(long, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(..=QUANTITY_MAX))]
    pub expect_on_hand: Option<u64>,
    /// The document behind it (receipt, RMA, count sheet)
    #[arg(long, value_parser = parse_text)]
    pub reference: Option<String>,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// The amount of an `adjust`: units for every reason but `correction`, a
/// signed delta for `correction`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct AdjustAmount {
    /// Units (every reason but correction)
    #[arg(long, value_parser = clap::value_parser!(u64).range(..=QUANTITY_MAX))]
    pub quantity: Option<u64>,
    /// Signed change of on_hand (correction only), e.g. --delta=-3
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-(QUANTITY_MAX as i64)..=QUANTITY_MAX as i64))]
    pub delta: Option<i64>,
}

/// `AdjustmentReason` values, as flags spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AdjustReason {
    /// Units arrived: on_hand grows by --quantity
    Received,
    /// Units were counted: on_hand is set to --quantity
    CycleCount,
    /// Sellable units found damaged: --quantity moves into damaged
    Damaged,
    /// Damaged units written off: --quantity leaves damaged and on_hand
    DisposeDamaged,
    /// Units lost or stolen: on_hand shrinks by --quantity
    Shrink,
    /// Units came back outside an order return: on_hand grows by --quantity
    Returned,
    /// A bookkeeping correction: --delta is added to on_hand
    Correction,
    /// Safety stock is set to --quantity
    SafetyStock,
}

/// `count`.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// Warehouse counted
    #[arg(long, value_parser = parse_id)]
    pub warehouse: String,
    /// SKU counted
    #[arg(long, value_parser = parse_id)]
    pub sku: String,
    /// Units counted, damaged units and safety stock included
    #[arg(long, value_parser = clap::value_parser!(u64).range(..=QUANTITY_MAX))]
    pub counted: u64,
    /// Apply only if on_hand is exactly this now (compare-and-set)
    #[arg(long, value_name = "UNITS", value_parser = clap::value_parser!(u64).range(..=QUANTITY_MAX))]
    pub expect_on_hand: Option<u64>,
    /// The count sheet
    #[arg(long, value_parser = parse_text)]
    pub reference: Option<String>,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// `journal`.
#[derive(Debug, Args)]
pub struct JournalArgs {
    /// Warehouse whose journal to list
    #[arg(long, value_parser = parse_id)]
    pub warehouse: String,
    /// Only these SKUs (repeat or comma-separate)
    #[arg(long, value_delimiter = ',', value_parser = parse_id)]
    pub sku: Vec<String>,
    /// Only these reasons (repeat or comma-separate)
    #[arg(long, value_delimiter = ',', value_enum)]
    pub reason: Vec<JournalReasonArg>,
    /// Only entries at or after this time, ms since the Unix epoch
    #[arg(long, value_name = "MS")]
    pub since_ms: Option<u64>,
    /// Only entries before this time, ms since the Unix epoch
    #[arg(long, value_name = "MS")]
    pub until_ms: Option<u64>,
    /// Page size (1-500)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: Option<u32>,
    /// Cursor of the next page, from the previous page's output
    #[arg(long)]
    pub cursor: Option<String>,
}

/// `JournalReason` values, as flags spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JournalReasonArg {
    /// Units arrived
    Received,
    /// A physical count
    CycleCount,
    /// Units moved to damaged
    Damaged,
    /// Damaged units written off
    DisposeDamaged,
    /// Units lost or stolen
    Shrink,
    /// Units came back
    Returned,
    /// A bookkeeping correction
    Correction,
    /// Safety stock changed
    SafetyStock,
    /// Units left for another warehouse
    TransferOut,
    /// Units arrived from another warehouse
    TransferIn,
    /// Units left with a shipment
    Shipped,
}

/// `ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// Shipping warehouse
    #[arg(long, value_parser = parse_id)]
    pub warehouse: String,
    /// Order shipped
    #[arg(long, value_parser = parse_id)]
    pub order: String,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// `transfer`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Sending warehouse
    #[arg(long, value_parser = parse_id)]
    pub from: String,
    /// Receiving warehouse, in the same region
    #[arg(long, value_parser = parse_id)]
    pub to: String,
    /// SKU moved
    #[arg(long, value_parser = parse_id)]
    pub sku: String,
    /// Units moved
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=QUANTITY_MAX))]
    pub quantity: u64,
    /// The transfer document
    #[arg(long, value_parser = parse_text)]
    pub reference: Option<String>,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Warehouse to watch
    #[arg(long, value_parser = parse_id)]
    pub warehouse: String,
    /// Only these SKUs (repeat or comma-separate); default: every SKU
    #[arg(long, value_delimiter = ',', value_parser = parse_id)]
    pub sku: Vec<String>,
    /// Stop after this many updates (the opening snapshot counts)
    #[arg(long, value_name = "UPDATES", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// `reserve`.
#[derive(Debug, Args)]
pub struct ReserveArgs {
    /// Hold id to create; default: the command id, so a retry with the same
    /// --command-id sends the same request
    #[arg(long, value_parser = parse_id)]
    pub hold: Option<String>,
    /// A line to reserve, SKU=QUANTITY (repeat or comma-separate)
    #[arg(long = "line", required = true, value_delimiter = ',', value_name = "SKU=QUANTITY", value_parser = parse_line)]
    pub lines: Vec<ReserveLineArg>,
    /// How long the hold lives: 90s, 15m, 1h (a bare number is seconds)
    #[arg(long, default_value = "15m", value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Warehouses to try first, in order (repeat or comma-separate)
    #[arg(long, value_delimiter = ',', value_name = "WAREHOUSE", value_parser = parse_id)]
    pub prefer: Vec<String>,
    /// Serve the whole reservation from one warehouse (default: a SKU may be
    /// split across warehouses)
    #[arg(long)]
    pub single_warehouse: bool,
    /// Who the hold is for (a checkout or shopper id)
    #[arg(long, value_parser = parse_id)]
    pub owner: Option<String>,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// One `--line SKU=QUANTITY`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReserveLineArg {
    /// The SKU.
    pub sku: String,
    /// Units, at least 1.
    pub quantity: u64,
}

/// `commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Hold to commit
    #[arg(long, value_parser = parse_id)]
    pub hold: String,
    /// Order id to create; default: the command id, so a retry with the same
    /// --command-id sends the same request
    #[arg(long, value_parser = parse_id)]
    pub order: Option<String>,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// `release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Hold to release
    #[arg(long, value_parser = parse_id)]
    pub hold: String,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// `hold`.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// Hold to show
    #[arg(long, value_parser = parse_id)]
    pub hold: String,
}

/// `order`.
#[derive(Debug, Args)]
pub struct OrderArgs {
    /// Order to show
    #[arg(long, value_parser = parse_id)]
    pub order: String,
}

/// The group flag of the admin subcommands.
#[derive(Debug, Args)]
pub struct GroupArg {
    /// Raft group, e.g. region/us-east
    #[arg(long, env = "LEDGERCTL_GROUP", value_parser = parse_id)]
    pub group: String,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only these groups (repeat or comma-separate); default: every group of
    /// each replica
    #[arg(long, value_delimiter = ',', value_parser = parse_id)]
    pub group: Vec<String>,
}

/// `add-learner`.
#[derive(Debug, Args)]
pub struct AddLearnerArgs {
    /// The group.
    #[command(flatten)]
    pub group: GroupArg,
    /// Node id of the new replica (never reuse a removed node's id)
    #[arg(long)]
    pub node_id: u64,
    /// Node-to-node (Raft) gRPC address of the new replica, host:port
    #[arg(long, value_name = "HOST:PORT")]
    pub address: EndpointAddr,
    /// Client-facing API address of the new replica, host:port (where leader
    /// hints point)
    #[arg(long, value_name = "HOST:PORT")]
    pub api_address: EndpointAddr,
    /// Wait until the learner has caught up before answering
    #[arg(long)]
    pub blocking: bool,
}

/// `membership`.
#[derive(Debug, Args)]
pub struct MembershipArgs {
    /// The group.
    #[command(flatten)]
    pub group: GroupArg,
    /// The complete new voter set, node ids, comma-separated
    #[arg(long, required = true, value_delimiter = ',', value_name = "NODE_ID,...")]
    pub voters: Vec<u64>,
    /// Keep removed voters as learners instead of removing them
    #[arg(long)]
    pub retain_as_learners: bool,
}

/// `transfer-leader`.
#[derive(Debug, Args)]
pub struct TransferLeaderArgs {
    /// The group.
    #[command(flatten)]
    pub group: GroupArg,
    /// Node id of the voter that should lead
    #[arg(long, value_name = "NODE_ID")]
    pub to: u64,
}

/// `snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The group.
    #[command(flatten)]
    pub group: GroupArg,
}

/// `register-warehouse`.
#[derive(Debug, Args)]
pub struct RegisterWarehouseArgs {
    /// Id of the new warehouse, unique across regions
    #[arg(long, value_parser = parse_id)]
    pub warehouse: String,
    /// The region it is in (the region these replicas serve)
    #[arg(long, value_parser = parse_id)]
    pub region: String,
    /// Display name
    #[arg(long, value_parser = parse_text)]
    pub name: String,
    /// Where it is, for people
    #[arg(long, value_parser = parse_text)]
    pub location: Option<String>,
    /// Allocation priority: lower is tried first
    #[arg(long, default_value_t = 100)]
    pub priority: u32,
    /// Idempotency key.
    #[command(flatten)]
    pub command_id: CommandIdArg,
}

/// An id (warehouse, SKU, hold, order, group): non-empty, at most 255 bytes,
/// no control characters, as the ledger requires.
fn parse_id(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.len() > COMMAND_ID_LEN_MAX {
        return Err(format!("must be at most {COMMAND_ID_LEN_MAX} bytes"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(text.to_owned())
}

/// Free text (reference, name, location): at most 1024 bytes.
fn parse_text(text: &str) -> Result<String, String> {
    if text.len() > TEXT_LEN_MAX {
        return Err(format!("must be at most {TEXT_LEN_MAX} bytes"));
    }
    Ok(text.to_owned())
}

/// `SKU=QUANTITY`, the quantity from 1 to 10^12. The last `=` splits, so a
/// SKU may contain one.
fn parse_line(text: &str) -> Result<ReserveLineArg, String> {
    let Some((sku, quantity)) = text.rsplit_once('=') else {
        return Err("must be SKU=QUANTITY".to_owned());
    };
    let sku = parse_id(sku).map_err(|reason| format!("SKU {reason}"))?;
    let quantity: u64 = quantity.parse().map_err(|_| format!("quantity {quantity:?} is not a whole number"))?;
    if !(1..=QUANTITY_MAX).contains(&quantity) {
        return Err(format!("quantity must be from 1 to {QUANTITY_MAX}"));
    }
    Ok(ReserveLineArg { sku, quantity })
}

/// A duration: a whole number with a unit (`ms`, `s`, `m`, `h`), or a bare
/// number of seconds (fractions allowed, `2.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let units: [(&str, u64); 4] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
    for (suffix, unit_ms) in units {
        if let Some(number) = text.strip_suffix(suffix) {
            // "ms" is tried before "s" and "m", so "500ms" never reads as
            // "500m" + "s".
            let count: u64 = number.parse().map_err(|_| format!("{text:?} is not a whole number of {suffix}"))?;
            let ms = count.checked_mul(unit_ms).ok_or_else(|| format!("{text:?} is too long"))?;
            return Ok(Duration::from_millis(ms));
        }
    }
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: use seconds (10, 2.5) or a unit (500ms, 30s, 15m, 1h)"))?;
    if !seconds.is_finite() || seconds < 0.0 || seconds > TTL_MAX.as_secs_f64() * 2.0 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `--timeout`: more than zero, at most an hour.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if timeout.is_zero() || timeout > TIMEOUT_MAX {
        return Err("must be more than 0 and at most 1 hour".to_owned());
    }
    Ok(timeout)
}

/// `--ttl`: at least 1 ms, at most 24 hours, whole milliseconds.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < Duration::from_millis(1) || ttl > TTL_MAX {
        return Err("must be from 1ms to 24h".to_owned());
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("1.5m").is_err());
        assert!(parse_timeout("0").is_err());
        assert!(parse_ttl("25h").is_err());
    }

    #[test]
    fn lines() {
        assert_eq!(parse_line("SKU-1=3"), Ok(ReserveLineArg { sku: "SKU-1".to_owned(), quantity: 3 }));
        assert_eq!(parse_line("a=b=2"), Ok(ReserveLineArg { sku: "a=b".to_owned(), quantity: 2 }));
        assert!(parse_line("SKU-1").is_err());
        assert!(parse_line("SKU-1=0").is_err());
        assert!(parse_line("=2").is_err());
        assert!(parse_line("SKU-1=x").is_err());
    }
}

//! `ledgerctl`, the command line for warehouse staff and operators, as a
//! library: [`run`] takes the arguments and an output stream and returns how
//! it ended, so tests (and an embedding program) run it in-process; it never
//! exits the process. The binary (`src/bin/ledgerctl.rs`) only calls
//! [`run_and_report`].
//!
//! # Layout
//!
//! - [`args`]: the flags (clap derive), each value checked while parsing.
//! - `warehouse`, `reservation`, `admin`: one function per subcommand,
//!   building the request, calling through [`crate::RegionClient`], printing
//!   the result.
//! - `render`: the JSON mapping of every message type printed, and the
//!   human tables.
//!
//! # Output and exit codes
//!
//! Results go to `out`: tables and lines for people, or with `--output json`
//! one JSON object per result (per update for `watch`), each on one line.
//! Mutating subcommands print the command id they use (for people, before
//! sending; in JSON, as `command_id` in the result), so a timed-out command
//! can be rerun with `--command-id` safely. Errors are returned as
//! [`CliError`]; [`CliError::exit_code`] maps them to the exit codes:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | rejected by the region ([`ClientError::Rejected`]) |
//! | 2 | usage: a missing or invalid flag |
//! | 3 | unavailable: no quorum, no leader reached, outcome unknown, or some replicas did not answer `status` |
//! | 4 | the output could not be written |

pub mod args;

mod admin;
mod render;
mod reservation;
mod warehouse;

use std::ffi::OsString;
use std::io::{self, Write};

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser as _};
use serde_json::Value;

use crate::client::RegionClient;
use crate::command_id::CommandId;
use crate::config::ClientConfig;
use crate::error::{ClientError, ConfigError};

pub use args::{Cli, Command, Output};

use self::args::CommandIdArg;
use self::render::ToJson;

/// Prefix of the command ids ledgerctl makes, so they stand out in journals.
const COMMAND_ID_PREFIX: &str = "ctl";

/// Most `--line` values of one `reserve`: the ledger's limit of lines per
/// command.
const LINES_MAX: usize = 100;

/// Most `--sku` values of one `levels`, `journal` or `watch`.
const SKUS_MAX: usize = 1000;

/// Most `--prefer` warehouses of one `reserve`.
const WAREHOUSES_MAX: usize = 100;

/// How ledgerctl failed. [`CliError::exit_code`] gives the process exit
/// code; `Display` is the message for people.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag is missing or invalid (clap's message names it), or flags do
    /// not fit together.
    #[error("{0}")]
    Usage(clap::Error),
    /// An RPC failed. `command_id` is set for mutating subcommands, so the
    /// message can say how to retry safely.
    #[error("{error}{}", command_id_hint(command_id.as_ref(), error))]
    Client {
        /// The command id the request carried, for mutations.
        command_id: Option<CommandId>,
        /// What the client ended with.
        #[source]
        error: ClientError,
    },
    /// `status` got no answer from some of the replicas (it printed what the
    /// others said).
    #[error("{failed} of {total} replicas did not answer")]
    Partial {
        /// Replicas that failed.
        failed: usize,
        /// Replicas asked.
        total: usize,
    },
    /// Writing the output failed (e.g. a closed pipe).
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
}

impl CliError {
    /// The process exit code: 1 rejected, 2 usage, 3 unavailable or outcome
    /// unknown, 4 output failure (see the module docs).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Client { error: ClientError::Rejected { .. }, .. } => 1,
            Self::Client { .. } | Self::Partial { .. } => 3,
            Self::Output(_) => 4,
        }
    }

    /// A client error, with the command id of the mutation that failed.
    fn client(error: ClientError, command_id: Option<&CommandId>) -> Self {
        Self::Client { command_id: command_id.cloned(), error }
    }

    /// A usage error in clap's format, for checks clap cannot express.
    fn usage(kind: ErrorKind, message: impl std::fmt::Display) -> Self {
        Self::Usage(Cli::command().error(kind, message))
    }
}

/// The line after a failed mutation: which id it carried and, when the
/// outcome is open, how to retry it safely.
fn command_id_hint(command_id: Option<&CommandId>, error: &ClientError) -> String {
    match command_id {
        None => String::new(),
        Some(id) if matches!(error, ClientError::Rejected { .. }) && !error.may_have_applied() => {
            format!("\ncommand id: {id}")
        }
        Some(id) => format!("\ncommand id: {id}; rerun with --command-id {id} to retry safely"),
    }
}

/// Runs ledgerctl with `args` (the first is the program name, as in
/// `std::env::args_os`), printing results to `out`.
///
/// `--help` and `--version` print to `out` and succeed. Errors are returned,
/// not printed; see [`run_and_report`] for the whole program.
pub async fn run<I, T>(args: I, out: &mut impl Write) -> Result<(), CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            write!(out, "{}", error.render())?;
            out.flush()?;
            return Ok(());
        }
        Err(error) => return Err(CliError::Usage(error)),
    };
    execute(cli, out).await
}

/// The whole program: [`run`], then any error written to `err` (with a
/// `ledgerctl:` prefix, except clap's own messages), and the exit code.
pub async fn run_and_report<I, T>(args: I, out: &mut impl Write, err: &mut impl Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match run(args, out).await {
        Ok(()) => 0,
        Err(error) => {
            // If stderr is gone too there is no one left to tell.
            let _ = match &error {
                CliError::Usage(usage) => write!(err, "{}", usage.render()),
                other => writeln!(err, "ledgerctl: {other}"),
            };
            let _ = err.flush();
            error.exit_code()
        }
    }
}

/// Builds the client from the global flags and runs the subcommand.
async fn execute(cli: Cli, out: &mut impl Write) -> Result<(), CliError> {
    let global = cli.global;
    if global.endpoints.is_empty() {
        return Err(CliError::usage(
            ErrorKind::MissingRequiredArgument,
            "the following required argument was not provided:\n  --endpoints <HOST:PORT,...> (or LEDGERCTL_ENDPOINTS)",
        ));
    }
    let Some(token) = global.token else {
        return Err(CliError::usage(
            ErrorKind::MissingRequiredArgument,
            "the following required argument was not provided:\n  --token <TOKEN> (or LEDGERCTL_TOKEN)",
        ));
    };
    let client =
        RegionClient::new(global.endpoints, token, ClientConfig::with_deadline(global.timeout)).map_err(|error| {
            match error {
                ConfigError::TooManyEndpoints { .. } | ConfigError::NoEndpoints => {
                    CliError::usage(ErrorKind::ValueValidation, format_args!("invalid value for --endpoints: {error}"))
                }
                ConfigError::Setting { .. } => {
                    CliError::usage(ErrorKind::ValueValidation, format_args!("invalid value for --timeout: {error}"))
                }
            }
        })?;
    let mut ctx = Context { client, output: global.output, out };
    match cli.command {
        Command::Levels(args) => warehouse::levels(&mut ctx, args).await,
        Command::Receive(args) => warehouse::receive(&mut ctx, args).await,
        Command::Adjust(args) => warehouse::adjust(&mut ctx, args).await,
        Command::Count(args) => warehouse::count(&mut ctx, args).await,
        Command::Journal(args) => warehouse::journal(&mut ctx, args).await,
        Command::Ship(args) => warehouse::ship(&mut ctx, args).await,
        Command::Transfer(args) => warehouse::transfer(&mut ctx, args).await,
        Command::Watch(args) => warehouse::watch(&mut ctx, args).await,
        Command::Reserve(args) => reservation::reserve(&mut ctx, args).await,
        Command::Commit(args) => reservation::commit(&mut ctx, args).await,
        Command::Release(args) => reservation::release(&mut ctx, args).await,
        Command::Hold(args) => reservation::hold(&mut ctx, args).await,
        Command::Order(args) => reservation::order(&mut ctx, args).await,
        Command::Status(args) => admin::status(&mut ctx, args).await,
        Command::AddLearner(args) => admin::add_learner(&mut ctx, args).await,
        Command::Membership(args) => admin::membership(&mut ctx, args).await,
        Command::TransferLeader(args) => admin::transfer_leader(&mut ctx, args).await,
        Command::Snapshot(args) => admin::snapshot(&mut ctx, args).await,
        Command::RegisterWarehouse(args) => admin::register_warehouse(&mut ctx, args).await,
    }
}

/// What a subcommand works with.
struct Context<'a, W> {
    /// The region's client, built from the global flags.
    client: RegionClient,
    /// How to print results.
    output: Output,
    /// Where results go.
    out: &'a mut W,
}

impl<W: Write> Context<'_, W> {
    /// The command id of a mutation: the one given, else a fresh one. For
    /// people it is printed before anything is sent, so even an interrupted
    /// command leaves the id to retry with.
    fn command_id(&mut self, arg: CommandIdArg) -> Result<CommandId, CliError> {
        let id = arg.command_id.unwrap_or_else(|| CommandId::generate(COMMAND_ID_PREFIX));
        if self.output == Output::Human {
            writeln!(self.out, "command id: {id}")?;
            self.out.flush()?;
        }
        Ok(id)
    }

    /// Prints one result: `json` on one line, or the human form.
    fn emit(&mut self, json: Value, human: impl FnOnce(&mut W) -> io::Result<()>) -> Result<(), CliError> {
        match self.output {
            Output::Json => writeln!(self.out, "{json}")?,
            Output::Human => human(self.out)?,
        }
        self.out.flush()?;
        Ok(())
    }

    /// Prints the result of a mutation: as [`Context::emit`], with the
    /// command id added to the JSON object.
    fn emit_mutation(
        &mut self,
        command_id: &CommandId,
        result: &impl ToJson,
        human: impl FnOnce(&mut W) -> io::Result<()>,
    ) -> Result<(), CliError> {
        let mut json = result.to_json();
        if let Value::Object(fields) = &mut json {
            fields.insert("command_id".to_owned(), Value::from(command_id.as_str()));
        }
        self.emit(json, human)
    }
}

/// Refuses a list flag with more than `max` values.
fn check_len(flag: &str, len: usize, max: usize) -> Result<(), CliError> {
    if len > max {
        return Err(CliError::usage(
            ErrorKind::TooManyValues,
            format_args!("invalid value for {flag}: at most {max} values are allowed, got {len}"),
        ));
    }
    Ok(())
}

//! The model-replay checker (TigerBeetle style): the committed Raft log of
//! a replica, read after healing, replayed in index order against the
//! `ledger` crate's own [`ledger::Ledger`], must reproduce the replicas'
//! state digests and agree with what the clients saw: every acknowledged
//! command in the log and executed exactly once, no command the run did
//! not send, every hold ended at most once.
//!
//! The run's commands are its clients' (their ids are in the history), the
//! leaders' `Expire` ticks, and the harness's own warehouse registrations,
//! sent with the admin token: a `RegisterWarehouse` by the `admin` actor.
//!
//! # Layout
//!
//! - [`ledger_replay`]: the replay and its checks, pure.
//! - [`holds`]: the life of each hold in the replay (at most one end).
//! - [`read`]: reading a replica's committed log (`Admin.ReadLog`).

pub mod holds;
pub mod ledger_replay;
pub mod read;
#[cfg(test)]
mod test_log;

use ledger::{Command, LedgerConfig};

use super::checker::{FinalState, Verdict};
use super::history::{Op, Outcome};
use ledger_replay::{Expectations, LogEntry, ReplicaDigest, replay, short};

/// The checker's name in reports.
const NAME: &str = "model-replay";

/// The actor of commands sent with the admin token: the harness's setup.
const SETUP_ACTOR: &str = "admin";

/// A region's committed log as the final phase read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogRead {
    /// Not read (the run did not ask for it).
    #[default]
    NotRead,
    /// The whole log from index 1, of a replica of `region`.
    Read {
        /// The region, which the ledger's config names.
        region: String,
        /// The entries, in index order.
        entries: Vec<LogEntry>,
    },
    /// Every replica purged part of the log behind a snapshot (the
    /// crash-during-snapshot fault forces that): nothing to replay from.
    Purged(String),
    /// No replica gave its whole log: why.
    Failed(String),
}

/// Replays the log of `state.log` and checks it against `history` and
/// the replicas' digests (see [`replay`]). Fails when the log could not be
/// read; passes, saying so, when it was not asked for or every replica
/// purged part of it behind a snapshot.
pub fn model_replay(history: &[Op], state: &FinalState) -> Verdict {
    let (region, entries) = match &state.log {
        LogRead::NotRead => return Verdict::new(NAME, Vec::new(), "not checked: the log was not read".to_owned()),
        LogRead::Purged(why) => {
            return Verdict::new(
                NAME,
                Vec::new(),
                format!("not checked: every replica purged its log behind a snapshot ({why})"),
            );
        }
        LogRead::Failed(why) => {
            return Verdict::new(NAME, vec![format!("the log could not be read: {why}")], String::new());
        }
        LogRead::Read { region, entries } => (region, entries),
    };
    let mut expect = Expectations {
        replicas: state
            .replicas
            .iter()
            .filter_map(|r| {
                let applied_index = r.applied_index?;
                Some(ReplicaDigest { node: r.node, applied_index, digest_hex: r.digest.clone() })
            })
            .collect(),
        acknowledged: history
            .iter()
            .filter(|op| op.outcome == Outcome::Ok)
            .filter_map(|op| op.kind.command_id())
            .map(str::to_owned)
            .collect(),
        issued: history.iter().filter_map(|op| op.kind.command_id()).map(str::to_owned).collect(),
    };
    let registrations = entries
        .iter()
        .flat_map(|entry| &entry.envelopes)
        .filter(|e| e.actor.as_str() == SETUP_ACTOR && matches!(e.command, Command::RegisterWarehouse(_)));
    expect.issued.extend(registrations.map(|e| e.id.to_string()));
    let replayed = replay(LedgerConfig::new(region.as_str()), entries, &expect);
    let (placed, ended) = replayed.holds;
    Verdict::new(
        NAME,
        replayed.violations,
        format!(
            "{} log entries, {} commands ({} executed, {} answered from their record); all {} acknowledged \
             commands executed once; holds placed {placed}, ended {ended}; {} replicas match the replay \
             (final hash {})",
            replayed.entries,
            replayed.envelopes,
            replayed.executed,
            replayed.answered_from_record,
            expect.acknowledged.len(),
            expect.replicas.len(),
            short(&replayed.final_hash_hex),
        ),
    )
}

#[cfg(test)]
#[path = "model_replay_test.rs"]
mod tests;

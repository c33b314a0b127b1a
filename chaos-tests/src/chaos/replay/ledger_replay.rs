//! The replay itself, pure: a committed log, applied in index order to the
//! `ledger` crate's own [`Ledger`], judged against what the run knows.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt::Write as _;

use ledger::command::{Command, Envelope};
use ledger::holds::HoldStatus;
use ledger::{Ledger, LedgerConfig, Outcome};

use super::holds::{HoldEnd, HoldLives};

/// One committed entry of a group's log, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Its index (the log starts at 1).
    pub index: u64,
    /// The term of the leader that wrote it.
    pub term: u64,
    /// Its ledger commands, in order (none for a blank or membership entry).
    pub envelopes: Vec<Envelope>,
}

/// A replica's own report of its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaDigest {
    /// The node.
    pub node: u64,
    /// Its applied index.
    pub applied_index: u64,
    /// Its state digest at that index, hex.
    pub digest_hex: String,
}

/// What the run knows, to judge the replay by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectations {
    /// Every replica's digest, read after healing.
    pub replicas: Vec<ReplicaDigest>,
    /// The command ids some client saw acknowledged.
    pub acknowledged: BTreeSet<String>,
    /// Every command id the run's clients and its setup sent, whatever the
    /// outcome. The leaders' own `Expire` ticks need not be listed.
    pub issued: BTreeSet<String>,
}

/// What the replay found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// Log entries replayed.
    pub entries: u64,
    /// Commands in them.
    pub envelopes: u64,
    /// Commands the ledger executed, leaving an idempotency record (the
    /// rest were retries it answered from their record, commands it
    /// refused before executing, and `Expire` ticks).
    pub executed: u64,
    /// Commands answered from their idempotency record.
    pub answered_from_record: u64,
    /// Holds placed and holds ended in the replay.
    pub holds: (u64, u64),
    /// The replayed state's hash after the last entry, hex.
    pub final_hash_hex: String,
    /// Everything that contradicts the expectations, in log order.
    pub violations: Vec<String>,
}

/// How a command id fared in the replay.
#[derive(Debug)]
struct Execution {
    /// Times the ledger executed it (not answered from its record).
    count: u32,
    /// Where it was first executed.
    index: u64,
    /// Why it was rejected then, if it was.
    rejection: Option<String>,
}

/// Replays `log` on an empty ledger with `config` and checks it: (a) the
/// replayed state hash equals each replica's digest at its applied index;
/// (b) every acknowledged command is in the log and executed exactly once,
/// successfully, and no command is executed twice; (c) every command was
/// issued by the run (or is a leader's `Expire` tick); (d) every hold ends
/// at most once. The log must start at index 1 and have no gaps.
pub fn replay(config: LedgerConfig, log: &[LogEntry], expect: &Expectations) -> Replayed {
    let mut violations = Vec::new();
    let mut ledger = Ledger::new(config);
    let mut lives = HoldLives::default();
    // Pending holds by deadline, to see each expiry as it happens.
    let mut deadlines: BinaryHeap<Reverse<(u64, String)>> = BinaryHeap::new();
    let mut executions: BTreeMap<String, Execution> = BTreeMap::new();
    // Replica digests not yet compared, by index.
    let mut digests: BTreeMap<u64, Vec<&ReplicaDigest>> = BTreeMap::new();
    for replica in &expect.replicas {
        digests.entry(replica.applied_index).or_default().push(replica);
    }
    let mut counts = (0u64, 0u64, 0u64, 0u64);
    compare_digests(&ledger, 0, &mut digests, &mut violations);
    let mut expected_index = 1;
    for entry in log {
        if entry.index != expected_index {
            violations.push(format!(
                "the log jumps from index {} to {}: entries are missing, the replay stops there",
                expected_index - 1,
                entry.index
            ));
            break;
        }
        expected_index += 1;
        counts.0 += 1;
        for envelope in &entry.envelopes {
            counts.1 += 1;
            // Executed means it left a new idempotency record: a retry
            // answered from its record, a conflicting reuse of an id or an
            // invalid id leave none.
            let had_record = ledger.idempotency_record(&envelope.id).is_some();
            let applied = ledger.apply(envelope);
            note_expiries(&ledger, &mut deadlines, &mut lives, entry.index);
            if let Command::Expire = envelope.command {
                continue;
            }
            let id = envelope.id.as_str();
            if !expect.issued.contains(id) {
                violations.push(format!("command {id} at index {} was issued by no client (phantom)", entry.index));
            }
            if had_record || ledger.idempotency_record(&envelope.id).is_none() {
                counts.3 += u64::from(applied.replayed);
                continue;
            }
            counts.2 += 1;
            let execution = executions.entry(id.to_owned()).or_insert(Execution {
                count: 0,
                index: entry.index,
                rejection: applied.result.as_ref().err().map(ToString::to_string),
            });
            execution.count += 1;
            if execution.count == 2 {
                violations.push(format!(
                    "command {id} executed again at index {} (first at index {}): a retry applied twice",
                    entry.index, execution.index
                ));
            }
            if let Ok(outcome) = &applied.result {
                note_hold_change(&envelope.command, outcome, &mut lives, &mut deadlines, entry.index);
            }
        }
        compare_digests(&ledger, entry.index, &mut digests, &mut violations);
    }
    for (index, replicas) in digests {
        for replica in replicas {
            violations.push(format!(
                "node {} reports applied index {index}, past the log replayed (to index {})",
                replica.node,
                expected_index - 1
            ));
        }
    }
    for id in &expect.acknowledged {
        match executions.get(id.as_str()) {
            None => violations.push(format!("acknowledged command {id} is not in the log (lost)")),
            Some(Execution { rejection: Some(why), index, .. }) => {
                violations.push(format!("acknowledged command {id} was rejected at index {index}: {why}"))
            }
            Some(_) => {}
        }
    }
    let (placed, ended) = lives.counts();
    violations.extend(lives.into_violations());
    Replayed {
        entries: counts.0,
        envelopes: counts.1,
        executed: counts.2,
        answered_from_record: counts.3,
        holds: (placed, ended),
        final_hash_hex: hex(&ledger.state_hash()),
        violations,
    }
}

/// Records a hold placed, committed or released by a command just executed.
fn note_hold_change(
    command: &Command,
    outcome: &Outcome,
    lives: &mut HoldLives,
    deadlines: &mut BinaryHeap<Reverse<(u64, String)>>,
    index: u64,
) {
    match (command, outcome) {
        (Command::Reserve(reserve), Outcome::Reserved { expires_at_ms, .. }) => {
            lives.placed(reserve.hold_id.as_str(), index);
            deadlines.push(Reverse((*expires_at_ms, reserve.hold_id.to_string())));
        }
        (Command::CommitHold(commit), Outcome::HoldCommitted { .. }) => {
            lives.ended(commit.hold_id.as_str(), HoldEnd::Commit, index);
        }
        (Command::ReleaseHold(release), Outcome::HoldReleased) => {
            lives.ended(release.hold_id.as_str(), HoldEnd::Release, index);
        }
        _ => {}
    }
}

/// Records the expiry of every hold whose deadline the ledger's clock has
/// passed and which the ledger now shows expired (one that ended earlier
/// by commit or release must not show expired as well).
fn note_expiries(
    ledger: &Ledger,
    deadlines: &mut BinaryHeap<Reverse<(u64, String)>>,
    lives: &mut HoldLives,
    index: u64,
) {
    while let Some(Reverse((deadline, _))) = deadlines.peek() {
        if *deadline > ledger.clock_ms() {
            break;
        }
        let Some(Reverse((_, hold_id))) = deadlines.pop() else { break };
        let expired = ledger.hold(&hold_id.as_str().into()).is_some_and(|h| h.status == HoldStatus::Expired);
        if expired && lives.end_of(&hold_id) != Some(HoldEnd::Expiry) {
            lives.ended(&hold_id, HoldEnd::Expiry, index);
        }
    }
}

/// Compares the replicas that reported applied index `index` with the
/// replayed state, which is now at `index`.
fn compare_digests(
    ledger: &Ledger,
    index: u64,
    digests: &mut BTreeMap<u64, Vec<&ReplicaDigest>>,
    violations: &mut Vec<String>,
) {
    let Some(replicas) = digests.remove(&index) else { return };
    let replayed = hex(&ledger.state_hash());
    for replica in replicas {
        if replica.digest_hex != replayed {
            violations.push(format!(
                "at index {index} node {} has digest {} but the replay gives {}",
                replica.node,
                short(&replica.digest_hex),
                short(&replayed)
            ));
        }
    }
}

/// The first 16 hex digits of a digest, for messages.
pub fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
#[path = "ledger_replay_test.rs"]
mod tests;

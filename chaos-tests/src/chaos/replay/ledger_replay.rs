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
    let mut replayer = Replayer::new(config, expect);
    replayer.compare_digests(0);
    for entry in log {
        let expected_index = replayer.found.entries + 1;
        if entry.index != expected_index {
            replayer.found.violations.push(format!(
                "the log jumps from index {} to {}: entries are missing, the replay stops there",
                expected_index - 1,
                entry.index
            ));
            break;
        }
        replayer.found.entries += 1;
        for envelope in &entry.envelopes {
            replayer.apply(entry.index, envelope);
        }
        replayer.compare_digests(entry.index);
    }
    replayer.finish()
}

/// The replay in progress: the ledger, what it has seen, and what is still
/// to be compared.
struct Replayer<'a> {
    ledger: Ledger,
    expect: &'a Expectations,
    lives: HoldLives,
    /// Pending holds by deadline, to see each expiry as it happens.
    deadlines: BinaryHeap<Reverse<(u64, String)>>,
    executions: BTreeMap<String, Execution>,
    /// Replica digests not yet compared, by index.
    digests: BTreeMap<u64, Vec<&'a ReplicaDigest>>,
    found: Replayed,
}

impl<'a> Replayer<'a> {
    fn new(config: LedgerConfig, expect: &'a Expectations) -> Self {
        let mut digests: BTreeMap<u64, Vec<&ReplicaDigest>> = BTreeMap::new();
        for replica in &expect.replicas {
            digests.entry(replica.applied_index).or_default().push(replica);
        }
        let found = Replayed {
            entries: 0,
            envelopes: 0,
            executed: 0,
            answered_from_record: 0,
            holds: (0, 0),
            final_hash_hex: String::new(),
            violations: Vec::new(),
        };
        Self {
            ledger: Ledger::new(config),
            expect,
            lives: HoldLives::default(),
            deadlines: BinaryHeap::new(),
            executions: BTreeMap::new(),
            digests,
            found,
        }
    }

    /// Applies one command of entry `index` and checks what it did.
    fn apply(&mut self, index: u64, envelope: &Envelope) {
        self.found.envelopes += 1;
        // Executed means it left a new idempotency record: a retry answered
        // from its record, a conflicting reuse of an id or an invalid id
        // leave none.
        let had_record = self.ledger.idempotency_record(&envelope.id).is_some();
        let applied = self.ledger.apply(envelope);
        self.note_expiries(index);
        if let Command::Expire = envelope.command {
            return;
        }
        let id = envelope.id.as_str();
        if !self.expect.issued.contains(id) {
            self.found.violations.push(format!("command {id} at index {index} was issued by no client (phantom)"));
        }
        if had_record || self.ledger.idempotency_record(&envelope.id).is_none() {
            self.found.answered_from_record += u64::from(applied.replayed);
            return;
        }
        self.found.executed += 1;
        let execution = self.executions.entry(id.to_owned()).or_insert(Execution {
            count: 0,
            index,
            rejection: applied.result.as_ref().err().map(ToString::to_string),
        });
        execution.count += 1;
        if execution.count == 2 {
            self.found.violations.push(format!(
                "command {id} executed again at index {index} (first at index {}): a retry applied twice",
                execution.index
            ));
        }
        if let Ok(outcome) = &applied.result {
            self.note_hold_change(&envelope.command, outcome, index);
        }
    }

    /// Records a hold placed, committed or released by a command just executed.
    fn note_hold_change(&mut self, command: &Command, outcome: &Outcome, index: u64) {
        match (command, outcome) {
            (Command::Reserve(reserve), Outcome::Reserved { expires_at_ms, .. }) => {
                self.lives.placed(reserve.hold_id.as_str(), index);
                self.deadlines.push(Reverse((*expires_at_ms, reserve.hold_id.to_string())));
            }
            (Command::CommitHold(commit), Outcome::HoldCommitted { .. }) => {
                self.lives.ended(commit.hold_id.as_str(), HoldEnd::Commit, index);
            }
            (Command::ReleaseHold(release), Outcome::HoldReleased) => {
                self.lives.ended(release.hold_id.as_str(), HoldEnd::Release, index);
            }
            _ => {}
        }
    }

    /// Records the expiry of every hold whose deadline the ledger's clock
    /// has passed and which the ledger now shows expired (one that ended
    /// earlier by commit or release must not show expired as well).
    fn note_expiries(&mut self, index: u64) {
        while let Some(Reverse((deadline, _))) = self.deadlines.peek() {
            if *deadline > self.ledger.clock_ms() {
                break;
            }
            let Some(Reverse((_, hold_id))) = self.deadlines.pop() else { break };
            let hold = self.ledger.hold(&hold_id.as_str().into());
            let expired = hold.is_some_and(|h| h.status == HoldStatus::Expired);
            if expired && self.lives.end_of(&hold_id) != Some(HoldEnd::Expiry) {
                self.lives.ended(&hold_id, HoldEnd::Expiry, index);
            }
        }
    }

    /// Compares the replicas that reported applied index `index` with the
    /// replayed state, which is now at `index`.
    fn compare_digests(&mut self, index: u64) {
        let Some(replicas) = self.digests.remove(&index) else { return };
        let replayed = hex(&self.ledger.state_hash());
        for replica in replicas.into_iter().filter(|r| r.digest_hex != replayed) {
            self.found.violations.push(format!(
                "at index {index} node {} has digest {} but the replay gives {}",
                replica.node,
                short(&replica.digest_hex),
                short(&replayed)
            ));
        }
    }

    /// The replicas past the log, the acknowledged commands not executed
    /// once successfully, the holds' violations, and the final hash.
    fn finish(mut self) -> Replayed {
        let last = self.found.entries;
        for (index, replicas) in std::mem::take(&mut self.digests) {
            for replica in replicas {
                self.found.violations.push(format!(
                    "node {} reports applied index {index}, past the log replayed (to index {last})",
                    replica.node
                ));
            }
        }
        for id in &self.expect.acknowledged {
            match self.executions.get(id.as_str()) {
                None => self.found.violations.push(format!("acknowledged command {id} is not in the log (lost)")),
                Some(Execution { rejection: Some(why), index, .. }) => self
                    .found
                    .violations
                    .push(format!("acknowledged command {id} was rejected at index {index}: {why}")),
                Some(_) => {}
            }
        }
        self.found.holds = self.lives.counts();
        self.found.violations.extend(self.lives.into_violations());
        self.found.final_hash_hex = hex(&self.ledger.state_hash());
        self.found
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

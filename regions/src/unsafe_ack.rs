//! Test builds only (feature `unsafe-test-modes`): a deliberately unsafe
//! write path that acknowledges reservations before they are replicated. It
//! exists so a chaos run can show its checkers catch what such a bug does
//! (acknowledged writes lost when the leader is cut off or killed). The
//! feature is on only in this crate's own test builds; a node config that
//! asks for it elsewhere is refused at start-up.

use ledger::{Command, Envelope, Ledger};
use openraft::async_runtime::WatchReceiver as _;
use raft::EnvelopeResult;
use raft::storage::LedgerReader;
use raft::transport::LedgerRaft;

/// The leader's own copy of the ledger, ahead of the replicated one: every
/// command it proposes is applied here first and answered from here.
#[derive(Debug)]
pub struct SpeculativeLedger {
    reader: LedgerReader,
    node_id: u64,
    /// The copy and the term it was taken in; a new term takes a new copy.
    copy: Option<(u64, Ledger)>,
}

impl SpeculativeLedger {
    /// Speculation on node `node_id`, copying the applied ledger from `reader`.
    pub fn new(reader: LedgerReader, node_id: u64) -> Self {
        Self { reader, node_id, copy: None }
    }

    /// When this node believes it leads: `envelopes` applied to the copy
    /// (taken from the applied ledger when this term began), and the result
    /// of each reservation among them as if committed (`None` for other
    /// commands, whose answers read the ledger back and so wait for the
    /// commit). When it does not lead, `None`: every write takes the safe
    /// path.
    pub fn answer(&mut self, raft: &LedgerRaft, envelopes: &[Envelope]) -> Option<Vec<Option<EnvelopeResult>>> {
        let (leader, term) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow_watched();
            (metrics.current_leader, metrics.current_term)
        };
        if leader != Some(self.node_id) {
            self.copy = None;
            return None;
        }
        if self.copy.as_ref().is_none_or(|(taken_in, _)| *taken_in != term) {
            self.copy = Some((term, self.reader.read(Ledger::clone)));
        }
        let (_, ledger) = self.copy.as_mut()?;
        let answers = envelopes.iter().map(|envelope| {
            let applied = EnvelopeResult::from(ledger.apply(envelope));
            matches!(envelope.command, Command::Reserve(_)).then_some(applied)
        });
        Some(answers.collect())
    }
}

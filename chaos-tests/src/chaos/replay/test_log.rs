//! Hand-made logs for the replay's tests: envelopes of the few commands
//! they need, one log entry each, and the digest a correct replica has.

use ledger::command::{AdjustStock, Adjustment, Command, Envelope, HoldLine, RegisterWarehouse, Reserve, Split};
use ledger::{Ledger, LedgerConfig};

use super::ledger_replay::{LogEntry, hex};

/// The region of every test log.
pub(crate) const REGION: &str = "chaos";

fn envelope(id: &str, now_ms: u64, command: Command) -> Envelope {
    Envelope { id: id.into(), now_ms, actor: "test".into(), command }
}

pub(crate) fn register(id: &str) -> Envelope {
    let command = Command::RegisterWarehouse(RegisterWarehouse {
        warehouse: "wh".into(),
        region: REGION.into(),
        name: "wh".into(),
        location: "here".into(),
        priority: 1,
    });
    Envelope { actor: "admin".into(), ..envelope(id, 1, command) }
}

pub(crate) fn receive(id: &str, now_ms: u64, qty: u64) -> Envelope {
    let command = Command::AdjustStock(AdjustStock {
        warehouse: "wh".into(),
        sku: "sku".into(),
        adjustment: Adjustment::Received { qty },
        expected_on_hand: None,
        reference: "test".into(),
    });
    envelope(id, now_ms, command)
}

pub(crate) fn reserve(hold_id: &str, now_ms: u64, qty: u64) -> Envelope {
    let command = Command::Reserve(Reserve {
        hold_id: hold_id.into(),
        lines: vec![HoldLine { sku: "sku".into(), qty }],
        preferred_warehouses: Vec::new(),
        split: Split::Allowed,
        ttl_ms: 60_000,
        owner: None,
    });
    envelope(hold_id, now_ms, command)
}

pub(crate) fn expire(id: &str, now_ms: u64) -> Envelope {
    envelope(id, now_ms, Command::Expire)
}

/// One entry per envelope, plus a blank entry first (a new leader's).
pub(crate) fn log_of(envelopes: Vec<Envelope>) -> Vec<LogEntry> {
    let blank = LogEntry { index: 1, term: 1, envelopes: Vec::new() };
    let entries = envelopes.into_iter().zip(2..).map(|(e, index)| LogEntry { index, term: 1, envelopes: vec![e] });
    std::iter::once(blank).chain(entries).collect()
}

/// The digest a correct replica has after the first `entries` entries.
pub(crate) fn digest_after(log: &[LogEntry], entries: usize) -> String {
    let mut ledger = Ledger::new(LedgerConfig::new(REGION));
    for envelope in log[..entries].iter().flat_map(|e| &e.envelopes) {
        ledger.apply(envelope);
    }
    hex(&ledger.state_hash())
}

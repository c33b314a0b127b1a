//! ListJournal, and [`posted_by`]: the entries one command posted.

use ledger::Ledger;
use ledger::ids::{CommandId, Sku, WarehouseId};
use ledger::stock::{JournalEntry, Reason};
use protos::common::PageInfo;
use protos::warehouse::{ListJournalRequest, ListJournalResponse};
use tonic::Status;

use super::levels::require_warehouse;
use crate::api::ApiContext;
use crate::api::convert::input::{Field, invalid, list_len, optional_id, skus};
use crate::api::convert::page::{CursorKey, Page, page, page_info};
use crate::api::convert::stock::{journal_entry, journal_reason_of};
use crate::auth::Principal;
use crate::region::Consistency;

/// Most journal entries one page examines. A selective filter over a long
/// journal would otherwise hold the ledger's read lock (and stall apply)
/// for a scan of the whole journal; past this bound the page ends early,
/// possibly empty, with a cursor that resumes the scan.
pub(super) const MAX_SCAN: usize = 10_000;

/// Most reasons a filter may list (there are 11).
const MAX_REASONS: usize = 32;

/// Serves ListJournal: entries by increasing `seq`, the cursor naming the
/// last entry examined.
pub(super) async fn list_journal(
    ctx: &ApiContext,
    principal: &Principal,
    request: ListJournalRequest,
) -> Result<ListJournalResponse, Status> {
    principal.may_read_warehouse(&request.warehouse_id)?;
    let filter = JournalFilter::of(&request)?;
    let page = page::<JournalKey>(request.page.as_ref())?;
    let (entries, info) = ctx.read(Consistency::Linearizable, |ledger| filter.page(ledger, &page)).await?.value?;
    Ok(ListJournalResponse { entries, page: Some(info) })
}

/// The entries the command `command_id` posted, in journal order.
///
/// They all carry the command's time, which is also its idempotency
/// record's: a binary search on the (time-ordered) journal finds them
/// without a scan. Empty if the record is gone (past the retention window).
pub(super) fn posted_by<'l>(ledger: &'l Ledger, command_id: &CommandId) -> Vec<&'l JournalEntry> {
    let Some(record) = ledger.idempotency_record(command_id) else { return Vec::new() };
    let start = ledger.journal_partition_point(|entry| entry.at_ms < record.at_ms);
    ledger
        .journal_from(start)
        .take_while(|entry| entry.at_ms == record.at_ms)
        .filter(|entry| &entry.command_id == command_id)
        .collect()
}

/// Which entries a ListJournal request selects.
#[derive(Clone, Debug, PartialEq, Eq)]
struct JournalFilter {
    /// `None`: every warehouse (service and admin callers only).
    warehouse: Option<WarehouseId>,
    /// Sorted; empty: every SKU.
    skus: Vec<Sku>,
    /// Empty: every reason.
    reasons: Vec<Reason>,
    /// Entries at or after this time.
    since_ms: u64,
    /// Entries before this time; `None`: no bound.
    until_ms: Option<u64>,
}

impl JournalFilter {
    fn of(request: &ListJournalRequest) -> Result<Self, Status> {
        list_len("reasons", request.reasons.len(), 0, MAX_REASONS)?;
        let reasons =
            request.reasons.iter().enumerate().map(|(i, reason)| journal_reason_of(Field::Item("reasons", i), *reason));
        let until_ms = (request.until_ms != 0).then_some(request.until_ms);
        if until_ms.is_some_and(|until| until <= request.since_ms) {
            return Err(invalid("until_ms", "must be after since_ms (or 0 for no bound)"));
        }
        Ok(Self {
            warehouse: optional_id("warehouse_id", &request.warehouse_id)?,
            skus: skus("skus", &request.skus)?,
            reasons: reasons.collect::<Result<_, _>>()?,
            since_ms: request.since_ms,
            until_ms,
        })
    }

    fn selects(&self, entry: &JournalEntry) -> bool {
        self.warehouse.as_ref().is_none_or(|warehouse| warehouse == &entry.warehouse)
            && (self.skus.is_empty() || self.skus.binary_search(&entry.sku).is_ok())
            && (self.reasons.is_empty() || self.reasons.contains(&entry.reason))
    }

    /// One page of selected entries after the cursor, examining at most
    /// [`MAX_SCAN`] entries. The journal is ordered by `seq` and by time,
    /// so the time bounds are a binary search and an early stop.
    fn page(
        &self,
        ledger: &Ledger,
        page: &Page<JournalKey>,
    ) -> Result<(Vec<protos::warehouse::JournalEntry>, PageInfo), Status> {
        if let Some(warehouse) = &self.warehouse {
            require_warehouse(ledger, warehouse)?;
        }
        let since = ledger.journal_partition_point(|entry| entry.at_ms < self.since_ms);
        // Entry `seq` sits at index `seq - 1`: the entry after the cursor's at index `seq`.
        let after_cursor = page.after.as_ref().map_or(0, |key| usize::try_from(key.seq).unwrap_or(usize::MAX));
        let start = since.max(after_cursor);
        let mut entries = Vec::new();
        let mut examined = None;
        let mut more = false;
        for (scanned, entry) in ledger.journal_from(start).enumerate() {
            if self.until_ms.is_some_and(|until| entry.at_ms >= until) {
                break;
            }
            let selected = self.selects(entry);
            if scanned == MAX_SCAN || (selected && entries.len() == page.limit) {
                more = true;
                break;
            }
            if selected {
                entries.push(journal_entry(entry));
            }
            examined = Some(entry.seq);
        }
        let next = examined.filter(|_| more).map(|seq| JournalKey { seq });
        Ok((entries, page_info(next.as_ref())))
    }
}

/// The sort key of the journal listing: the last entry examined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct JournalKey {
    seq: u64,
}

impl CursorKey for JournalKey {
    const LISTING: &'static str = "journal";

    fn to_parts(&self) -> Vec<String> {
        vec![self.seq.to_string()]
    }

    fn from_parts(parts: &[String]) -> Option<Self> {
        match parts {
            [seq] => Some(Self { seq: seq.parse().ok()? }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use ledger::command::{AdjustStock, Adjustment, RegisterWarehouse};
    use ledger::{Command, Envelope, LedgerConfig};

    use super::*;

    /// A ledger with one warehouse `wh` and one receipt per `(sku, time)`,
    /// command ids `c-<n>`.
    fn ledger_with(receipts: &[(&str, u64)]) -> Ledger {
        let mut ledger = Ledger::new(LedgerConfig::new("eu"));
        let register = RegisterWarehouse {
            warehouse: "wh".into(),
            region: "eu".into(),
            name: String::new(),
            location: String::new(),
            priority: 0,
        };
        let envelope =
            Envelope { id: "reg".into(), now_ms: 1, actor: "t".into(), command: Command::RegisterWarehouse(register) };
        ledger.apply(&envelope).result.unwrap();
        for (n, (sku, now_ms)) in receipts.iter().enumerate() {
            let command = Command::AdjustStock(AdjustStock {
                warehouse: "wh".into(),
                sku: (*sku).into(),
                adjustment: Adjustment::Received { qty: 1 },
                expected_on_hand: None,
                reference: String::new(),
            });
            let envelope = Envelope { id: format!("c-{n}").into(), now_ms: *now_ms, actor: "t".into(), command };
            ledger.apply(&envelope).result.unwrap();
        }
        ledger
    }

    fn filter(skus: &[&str], since_ms: u64, until_ms: u64) -> JournalFilter {
        let request = ListJournalRequest {
            warehouse_id: "wh".into(),
            skus: skus.iter().map(|s| (*s).to_owned()).collect(),
            since_ms,
            until_ms,
            ..ListJournalRequest::default()
        };
        JournalFilter::of(&request).unwrap()
    }

    /// Pages through the whole listing; the seqs of each page.
    fn pages(ledger: &Ledger, filter: &JournalFilter, limit: usize) -> Vec<Vec<u64>> {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let (entries, info) = filter.page(ledger, &Page { after, limit }).unwrap();
            pages.push(entries.iter().map(|e| e.seq).collect());
            if !info.has_more {
                return pages;
            }
            let request = protos::common::PageRequest { cursor: info.next_cursor, limit: 0 };
            after = page::<JournalKey>(Some(&request)).unwrap().after;
        }
    }

    #[test]
    fn pages_follow_the_cursor_and_the_filters() {
        let ledger = ledger_with(&[("a", 10), ("b", 10), ("a", 20), ("a", 30), ("b", 40)]);
        assert_eq!(pages(&ledger, &filter(&[], 0, 0), 2), [vec![1, 2], vec![3, 4], vec![5]]);
        assert_eq!(pages(&ledger, &filter(&["a"], 0, 0), 2), [vec![1, 3], vec![4]]);
        assert_eq!(pages(&ledger, &filter(&[], 20, 40), 10), [vec![3, 4]]);
        assert_eq!(pages(&ledger, &filter(&["b"], 15, 0), 1), [vec![5]]);
    }

    #[test]
    fn a_command_finds_the_entries_it_posted() {
        let ledger = ledger_with(&[("a", 10), ("b", 10), ("a", 20)]);
        let seqs = |id: &str| posted_by(&ledger, &id.into()).iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs("c-1"), [2]);
        assert_eq!(seqs("c-2"), [3]);
        assert_eq!(seqs("unknown"), Vec::<u64>::new());
    }

    #[test]
    fn bad_filters_are_refused() {
        let request = |f: fn(&mut ListJournalRequest)| {
            let mut request = ListJournalRequest { warehouse_id: "wh".into(), ..ListJournalRequest::default() };
            f(&mut request);
            JournalFilter::of(&request).unwrap_err().code()
        };
        assert_eq!(request(|r| r.reasons = vec![0]), tonic::Code::InvalidArgument);
        assert_eq!(request(|r| r.reasons = vec![42]), tonic::Code::InvalidArgument);
        assert_eq!(request(|r| (r.since_ms, r.until_ms) = (5, 5)), tonic::Code::InvalidArgument);
        assert_eq!(request(|r| r.skus = vec![String::new()]), tonic::Code::InvalidArgument);
    }
}

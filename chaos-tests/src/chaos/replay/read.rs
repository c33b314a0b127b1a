//! Reading a replica's committed log with `Admin.ReadLog`, page by page,
//! into [`LogEntry`]s.

use anyhow::Context as _;
use ledger::Envelope;
use protos::admin::admin_client::AdminClient;
use protos::admin::{LogRecord, ReadLogRequest, log_record::Payload};
use region_client::endpoint::EndpointAddr;
use region_client::{ClientError, RegionClient};

use super::LogRead;
use super::ledger_replay::LogEntry;
use crate::chaos::checker::ReplicaView;

/// Records asked for per page (the server's maximum).
const PAGE_RECORDS: u32 = 1_000;

/// The whole log of a replica of `region`, from index 1 through the
/// highest applied index of `replicas` (so every replica's digest can be
/// compared), from the first of `nodes` (`(node id, API address)`) that
/// still keeps all of it and has applied that far. `client` carries an
/// admin token. [`LogRead::Failed`] with every node's reason when none can.
pub async fn log_for_replay(
    client: &RegionClient,
    nodes: &[(u64, EndpointAddr)],
    region: &str,
    replicas: &[ReplicaView],
) -> LogRead {
    let Some(up_to) = replicas.iter().filter_map(|r| r.applied_index).max() else {
        return LogRead::Failed("no replica reported its applied index".to_owned());
    };
    let mut reasons = Vec::with_capacity(nodes.len());
    let mut all_purged = !nodes.is_empty();
    for (node, endpoint) in nodes {
        match read_log(client, endpoint, up_to).await {
            Ok(entries) => return LogRead::Read { region: region.to_owned(), entries },
            Err(error) => {
                all_purged &= is_purged(&error);
                reasons.push(format!("node {node}: {error:#}"));
            }
        }
    }
    let why = format!("no replica gave its whole log through index {up_to}: {}", reasons.join("; "));
    if all_purged { LogRead::Purged(why) } else { LogRead::Failed(why) }
}

/// Whether a read failed because the node purged the entries asked for
/// behind a snapshot (`ReadLog` answers FAILED_PRECONDITION then).
fn is_purged(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<ClientError>(),
            Some(ClientError::Rejected { status, .. }) if status.code() == tonic::Code::FailedPrecondition
        )
    })
}

/// The log of the node at `endpoint`, from index 1 through at least `up_to`
/// (the last page may go further).
async fn read_log(client: &RegionClient, endpoint: &EndpointAddr, up_to: u64) -> anyhow::Result<Vec<LogEntry>> {
    let mut log: Vec<LogEntry> = Vec::new();
    let mut from = 1u64;
    // Every page brings at least one record (or the read fails), usually
    // `PAGE_RECORDS` (fewer when a page reaches the server's byte limit).
    let pages_max = up_to.saturating_add(1);
    for _ in 0..pages_max {
        if from > up_to {
            return Ok(log);
        }
        let request = ReadLogRequest { group_id: String::new(), from_index: from, limit: PAGE_RECORDS };
        let page = client
            .call_endpoint(endpoint, "Admin/ReadLog", request, |channel, r| async {
                AdminClient::new(channel).read_log(r).await
            })
            .await
            .with_context(|| format!("reading the log from index {from}"))?;
        anyhow::ensure!(
            !page.records.is_empty(),
            "the log ends at index {} (applied {}), before index {up_to}",
            from - 1,
            page.applied_index
        );
        for record in page.records {
            log.push(entry_of(record)?);
        }
        from = log.last().map_or(from, |last| last.index + 1);
    }
    anyhow::ensure!(from > up_to, "the log did not reach index {up_to} in {pages_max} pages");
    Ok(log)
}

/// A wire record as a [`LogEntry`]: its envelopes decoded with the
/// `ledger` crate's own types.
fn entry_of(record: LogRecord) -> anyhow::Result<LogEntry> {
    let envelopes = match record.payload {
        Some(Payload::Envelopes(bytes)) => Envelope::decode_all(&bytes)
            .with_context(|| format!("the envelopes of log index {} do not decode", record.index))?,
        Some(Payload::Membership(_) | Payload::Blank(_)) => Vec::new(),
        None => anyhow::bail!("log index {} has no payload", record.index),
    };
    Ok(LogEntry { index: record.index, term: record.term, envelopes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::replay::test_log::receive;

    fn record(index: u64, payload: Option<Payload>) -> LogRecord {
        LogRecord { index, term: 2, payload }
    }

    #[test]
    fn records_decode_into_entries_and_damage_is_an_error() {
        let envelopes = vec![receive("r-1", 10, 2), receive("r-2", 20, 1)];
        let bytes = Envelope::encode_all(&envelopes);
        let entry = entry_of(record(7, Some(Payload::Envelopes(bytes.clone())))).expect("decodes");
        assert_eq!(entry, LogEntry { index: 7, term: 2, envelopes });
        let blank = entry_of(record(8, Some(Payload::Blank(true)))).expect("a blank entry");
        assert!(blank.envelopes.is_empty());
        let cut = entry_of(record(9, Some(Payload::Envelopes(bytes[..bytes.len() - 1].to_vec()))));
        assert!(cut.is_err_and(|e| e.to_string().contains("log index 9")));
        assert!(entry_of(record(10, None)).is_err());
    }
}

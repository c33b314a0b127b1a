//! The replay on hand-made logs: a good one passes; a double-applied retry,
//! a phantom command, a lost acknowledgement, a digest mismatch, a gap and
//! an acknowledged rejection are each caught.

use super::*;
use crate::chaos::replay::test_log::{REGION, digest_after, expire, log_of, receive, register, reserve};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A register, two receipts, two holds (one retried: answered from its
/// record), an expiry of both holds, all acknowledged; three replicas at the
/// last index.
fn good() -> (Vec<LogEntry>, Expectations) {
    let log = log_of(vec![
        register("register"),
        receive("receive-1", 10, 2),
        reserve("hold-1", 20, 1),
        reserve("hold-2", 30, 1),
        reserve("hold-1", 40, 1),
        expire("expire:1:1:1", 70_000),
        receive("receive-2", 80_000, 1),
    ]);
    let ids = ["register", "receive-1", "hold-1", "hold-2", "receive-2"];
    let last = log.len() as u64;
    let digest = digest_after(&log, log.len());
    let expect = Expectations {
        replicas: (1..=3).map(|node| ReplicaDigest { node, applied_index: last, digest_hex: digest.clone() }).collect(),
        acknowledged: ids.iter().map(|&id| id.to_owned()).collect(),
        issued: ids.iter().map(|&id| id.to_owned()).collect(),
    };
    (log, expect)
}

fn check(log: &[LogEntry], expect: &Expectations, found: &[&str]) -> Replayed {
    let replayed = replay(LedgerConfig::new(REGION), log, expect);
    assert_eq!(replayed.violations.len(), found.len(), "{:#?}", replayed.violations);
    for (violation, expected) in replayed.violations.iter().zip(found) {
        assert!(violation.contains(expected), "{violation:?} should say {expected:?}");
    }
    replayed
}

#[test]
fn a_good_log_replays_to_the_replicas_digest() {
    let (log, expect) = good();
    let replayed = check(&log, &expect, &[]);
    assert_eq!((replayed.entries, replayed.envelopes), (8, 7));
    assert_eq!((replayed.executed, replayed.answered_from_record), (5, 1));
    assert_eq!(replayed.holds, (2, 2), "both holds placed and expired");
    assert_eq!(replayed.final_hash_hex, expect.replicas[0].digest_hex);
}

#[test]
fn a_replica_at_an_earlier_index_is_compared_there() {
    let (log, mut expect) = good();
    expect.replicas[1] = ReplicaDigest { node: 2, applied_index: 3, digest_hex: digest_after(&log, 3) };
    expect.replicas[2] = ReplicaDigest { node: 3, applied_index: 0, digest_hex: digest_after(&log, 0) };
    check(&log, &expect, &[]);
}

#[test]
fn a_digest_mismatch_is_caught() {
    let (log, mut expect) = good();
    expect.replicas[1].digest_hex = digest_after(&log, 3);
    expect.replicas[2].applied_index = 99;
    check(&log, &expect, &["node 2 has digest", "node 3 reports applied index 99, past the log"]);
}

#[test]
fn a_retry_applied_twice_is_caught() {
    // The idempotency record of receive-1 was purged by a clock a day
    // ahead (a clock jump), and the retry then executed again.
    let (mut log, mut expect) = good();
    let index = log.len() as u64;
    log.push(LogEntry { index: index + 1, term: 2, envelopes: vec![expire("expire:2:2:1", 2 * DAY_MS)] });
    log.push(LogEntry { index: index + 2, term: 2, envelopes: vec![receive("receive-1", 2 * DAY_MS, 2)] });
    let digest = digest_after(&log, log.len());
    for replica in &mut expect.replicas {
        *replica = ReplicaDigest { applied_index: index + 2, digest_hex: digest.clone(), ..replica.clone() };
    }
    check(&log, &expect, &["command receive-1 executed again at index 10 (first at index 3)"]);
}

#[test]
fn a_phantom_command_is_caught() {
    let (mut log, mut expect) = good();
    let index = log.len() as u64 + 1;
    log.push(LogEntry { index, term: 1, envelopes: vec![reserve("intruder", 90_000, 1)] });
    let digest = digest_after(&log, log.len());
    for replica in &mut expect.replicas {
        *replica = ReplicaDigest { applied_index: index, digest_hex: digest.clone(), ..replica.clone() };
    }
    check(&log, &expect, &["command intruder at index 9 was issued by no client (phantom)"]);
}

#[test]
fn a_lost_ack_is_caught() {
    let (log, mut expect) = good();
    expect.issued.insert("hold-9".into());
    expect.acknowledged.insert("hold-9".into());
    check(&log, &expect, &["acknowledged command hold-9 is not in the log (lost)"]);
}

#[test]
fn an_acknowledged_command_the_log_rejected_is_caught() {
    let (mut log, mut expect) = good();
    let index = log.len() as u64 + 1;
    log.push(LogEntry { index, term: 1, envelopes: vec![reserve("hold-big", 90_000, 50)] });
    let digest = digest_after(&log, log.len());
    for replica in &mut expect.replicas {
        *replica = ReplicaDigest { applied_index: index, digest_hex: digest.clone(), ..replica.clone() };
    }
    expect.issued.insert("hold-big".into());
    expect.acknowledged.insert("hold-big".into());
    check(&log, &expect, &["acknowledged command hold-big was rejected at index 9: insufficient"]);
}

#[test]
fn a_gap_in_the_log_stops_the_replay() {
    let (mut log, expect) = good();
    log.remove(3);
    check(
        &log,
        &expect,
        &[
            "the log jumps from index 3 to 5",
            "node 1 reports applied index 8, past the log replayed (to index 3)",
            "node 2 reports",
            "node 3 reports",
            "hold-1 is not in the log",
            "hold-2 is not in the log",
            "receive-2 is not in the log",
        ],
    );
}

//! What the retention history costs: 2,000,000 reservations at 15,000 a
//! second of leader time, each hold ending (expiring) 2 s after it was
//! placed, so that nearly all the state is history (ended holds and
//! idempotency records) as in a flash sale's first two minutes.
//!
//! Run with `cargo bench -p ledger --bench history`. It prints the memory
//! the process grew by per command (resident size, Linux), the mean apply
//! time per command (making each command included), and the final
//! state's snapshot: its size, the time to encode it, and the time to
//! restore it (decoding, rebuilding the lookups, the full audit).

use std::io::Write;
use std::time::Instant;

mod support;

use ledger::Ledger;
use support::{NOW_MS, reserve, seeded};

const COMMANDS: u64 = 2_000_000;
const PER_SECOND: u64 = 15_000;
const TTL_MS: u64 = 2_000;

fn main() {
    let mut ledger = seeded(COMMANDS);
    let before = resident_bytes();
    let started = Instant::now();
    for i in 0..COMMANDS {
        let command = reserve(i, NOW_MS + i * 1_000 / PER_SECOND, TTL_MS);
        assert!(ledger.apply(&command).result.is_ok(), "every reservation is taken");
    }
    let applying = started.elapsed();
    let grown = resident_bytes().saturating_sub(before);
    let encoding = Instant::now();
    let snapshot = ledger.cut().snapshot();
    let encoded = encoding.elapsed();
    let restoring = Instant::now();
    let restored = Ledger::restore(&snapshot).expect("the ledger restores its own snapshot");
    let restored_in = restoring.elapsed();
    assert!(restored == ledger, "the restored state is the state");
    let text = format!(
        "{COMMANDS} reservations, {PER_SECOND} a second, holds of {TTL_MS} ms: \
         {:.0} bytes of memory a command, {:.2} us to make and apply one\n\
         snapshot: {} bytes, encoded in {encoded:?}, restored in {restored_in:?}\n",
        grown as f64 / COMMANDS as f64,
        applying.as_secs_f64() * 1e6 / COMMANDS as f64,
        snapshot.len(),
    );
    std::io::stdout().lock().write_all(text.as_bytes()).expect("stdout is writable");
}

/// The process's resident size, from `/proc/self/status`.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux's /proc is readable");
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS is in kB");
    kib * 1024
}

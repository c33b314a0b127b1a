//! The worst apply while the state grows: a flash sale placing 1,000,000
//! holds that do not expire within the run, in Raft entries of 16
//! reservations, as every replica applies them.
//!
//! The mean apply cost is `apply`'s business; this one is about the tail.
//! The tables that grow with traffic (holds, idempotency records) must not
//! stop the apply loop to rebuild themselves (a map that doubles all at
//! once moves every entry in one insert, a pause that grows with the map
//! and hits every replica at the same log index), nor to be copied for a
//! snapshot. Run with
//! `cargo bench -p ledger --bench growth`; it prints the per-entry apply
//! time's percentiles and the worst entries with the hold count they ran
//! at, then how long a snapshot's cut of the final state takes (the only
//! part of building a snapshot that apply waits for) and its encoding.

use std::io::Write;
use std::time::{Duration, Instant};

mod support;

use ledger::Envelope;
use support::{NOW_MS, reserve, seeded};

const HOLDS: u64 = 1_000_000;
const PER_ENTRY: u64 = 16;
/// Longer than the run's leader time moves (1 ms per entry): nothing expires.
const TTL_MS: u64 = 3_600_000;
/// Times the final state is encoded.
const ENCODINGS: usize = 5;

fn main() {
    let mut ledger = seeded(HOLDS);
    let commands: Vec<Envelope> = (0..HOLDS).map(|i| reserve(i, NOW_MS + i / PER_ENTRY, TTL_MS)).collect();
    let mut entries: Vec<(Duration, u64)> = Vec::with_capacity((HOLDS / PER_ENTRY) as usize);
    let started = Instant::now();
    for (n, entry) in commands.chunks(PER_ENTRY as usize).enumerate() {
        let start = Instant::now();
        for command in entry {
            assert!(ledger.apply(command).result.is_ok(), "every reservation is taken");
        }
        entries.push((start.elapsed(), n as u64 * PER_ENTRY));
    }
    let total = started.elapsed();
    let cutting = Instant::now();
    let cut = std::hint::black_box(ledger.cut());
    let cut_took = cutting.elapsed();
    // The fastest of a few: on a shared machine one run is noisy.
    let (bytes, encode_took) = (0..ENCODINGS)
        .map(|_| {
            let encoding = Instant::now();
            (cut.snapshot().len(), encoding.elapsed())
        })
        .min_by_key(|(_, took)| *took)
        .expect("at least one encoding");
    let mut text = report(total, entries);
    text += &format!(
        "a snapshot's cut of that state (apply waits for it): {cut_took:?}; \
         encoding it ({bytes} bytes, apply goes on; fastest of {ENCODINGS}): {encode_took:?}\n"
    );
    std::io::stdout().lock().write_all(text.as_bytes()).expect("stdout is writable");
}

/// The per-entry apply times' percentiles and the slowest entries.
fn report(total: Duration, mut entries: Vec<(Duration, u64)>) -> String {
    let mut by_time: Vec<Duration> = entries.iter().map(|(took, _)| *took).collect();
    by_time.sort_unstable();
    let at = |q: f64| by_time[((by_time.len() - 1) as f64 * q) as usize];
    let mut text = format!(
        "{HOLDS} reservations in {} entries of {PER_ENTRY}: {:.2} us per entry on average\n\
         per entry: p50 {:?}, p99 {:?}, p99.9 {:?}, p99.99 {:?}, max {:?}\n\
         slowest entries (time, holds already placed):\n",
        entries.len(),
        total.as_secs_f64() * 1e6 / entries.len() as f64,
        at(0.5),
        at(0.99),
        at(0.999),
        at(0.9999),
        at(1.0)
    );
    entries.sort_unstable_by_key(|(took, _)| std::cmp::Reverse(*took));
    for (took, placed) in entries.iter().take(8) {
        text += &format!("  {took:?} at {placed}\n");
    }
    text
}

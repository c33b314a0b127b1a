//! Apply throughput of the hot commands on a region with 10,000 SKUs, and
//! of a flash sale's reservations on one SKU with holds expiring as they
//! are placed (`hot_reserve_expiring`).
//!
//! The state machine must never be the bottleneck of a region: every
//! reservation is one apply on the leader and on each follower. Run with
//! `cargo bench -p ledger --bench apply`; criterion reports elements/s,
//! i.e. applies per second on one thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ledger::command::{AdjustStock, Adjustment, CommitHold, HoldLine, RegisterWarehouse, ReleaseHold, Reserve, Split};
use ledger::{Command, Envelope, Ledger, LedgerConfig};

const SKUS: u64 = 10_000;
const WAREHOUSES: u64 = 3;
const NOW_MS: u64 = 1_700_000_000_000;

fn envelope(id: String, command: Command) -> Envelope {
    Envelope { id: id.into(), now_ms: NOW_MS, actor: "bench".into(), command }
}

/// A region with three warehouses stocking every one of 10,000 SKUs deeply.
fn stocked_region() -> Ledger {
    let mut ledger = Ledger::new(LedgerConfig::new("bench"));
    for w in 0..WAREHOUSES {
        let register = Command::RegisterWarehouse(RegisterWarehouse {
            warehouse: format!("wh-{w}").into(),
            region: "bench".into(),
            name: format!("Warehouse {w}"),
            location: String::new(),
            priority: w as u32,
        });
        assert!(ledger.apply(&envelope(format!("register-{w}"), register)).result.is_ok());
        for s in 0..SKUS {
            let receive = Command::AdjustStock(AdjustStock {
                warehouse: format!("wh-{w}").into(),
                sku: sku(s).into(),
                adjustment: Adjustment::Received { qty: 1_000_000_000 },
                expected_on_hand: None,
                reference: "seed".into(),
            });
            assert!(ledger.apply(&envelope(format!("seed-{w}-{s}"), receive)).result.is_ok());
        }
    }
    ledger
}

fn sku(i: u64) -> String {
    format!("sku-{:05}", i % SKUS)
}

fn reserve(i: u64) -> Envelope {
    reserve_of(i, sku(i.wrapping_mul(7919)), 600_000)
}

fn reserve_of(i: u64, sku: String, ttl_ms: u64) -> Envelope {
    envelope(
        format!("reserve-{i}"),
        Command::Reserve(Reserve {
            hold_id: format!("hold-{i}").into(),
            lines: vec![HoldLine { sku: sku.into(), qty: 1 }],
            preferred_warehouses: Vec::new(),
            split: Split::Allowed,
            ttl_ms,
            owner: None,
        }),
    )
}

/// Commands per Raft entry in the hot-SKU case: they share a leader time.
const PER_ENTRY: u64 = 16;
/// Hold TTL of the hot-SKU case, as in the `bench` tool's default.
const HOT_TTL_MS: u64 = 2_000;

/// A reservation of the hot-SKU case: one SKU, [`PER_ENTRY`] commands per
/// leader time, time moving 1 ms per entry, holds living [`HOT_TTL_MS`]:
/// once warm, about 32,000 holds are pending and each entry's first apply
/// expires the [`PER_ENTRY`] placed one TTL earlier (a flash sale at about
/// 16,000 reservations/s).
fn hot_reserve(i: u64) -> Envelope {
    let mut envelope = reserve_of(i, sku(0), HOT_TTL_MS);
    envelope.now_ms = NOW_MS + i / PER_ENTRY;
    envelope
}

/// Times `iters` hot-SKU reservations after one TTL's worth was applied
/// untimed, so every measured apply also expires holds.
fn run_hot(base: &Ledger, iters: u64) -> Duration {
    let mut ledger = base.clone();
    let warm = HOT_TTL_MS * PER_ENTRY;
    for i in 0..warm {
        assert!(ledger.apply(&hot_reserve(i)).result.is_ok());
    }
    let commands: Vec<Envelope> = (warm..warm + iters).map(hot_reserve).collect();
    let start = Instant::now();
    for command in &commands {
        black_box(ledger.apply(black_box(command)));
    }
    let elapsed = start.elapsed();
    assert!(ledger.apply(&hot_reserve(warm)).replayed, "every measured command applied");
    elapsed
}

fn commit(i: u64) -> Envelope {
    envelope(
        format!("commit-{i}"),
        Command::CommitHold(CommitHold { hold_id: format!("hold-{i}").into(), order_id: format!("order-{i}").into() }),
    )
}

fn release(i: u64) -> Envelope {
    envelope(format!("release-{i}"), Command::ReleaseHold(ReleaseHold { hold_id: format!("hold-{i}").into() }))
}

/// Times applying `measured(i)` for `iters` commands, each after `setup(i)`
/// was applied untimed.
fn run(base: &Ledger, iters: u64, setup: Option<fn(u64) -> Envelope>, measured: fn(u64) -> Envelope) -> Duration {
    let mut ledger = base.clone();
    if let Some(setup) = setup {
        for i in 0..iters {
            assert!(ledger.apply(&setup(i)).result.is_ok());
        }
    }
    let commands: Vec<Envelope> = (0..iters).map(measured).collect();
    let start = Instant::now();
    for command in &commands {
        black_box(ledger.apply(black_box(command)));
    }
    let elapsed = start.elapsed();
    assert!(ledger.apply(&measured(0)).replayed, "every measured command applied (the first is now a replay)");
    elapsed
}

fn bench_apply(c: &mut Criterion) {
    let base = stocked_region();
    let mut group = c.benchmark_group("apply_10k_skus");
    group.throughput(Throughput::Elements(1));
    group.bench_function("reserve", |b| b.iter_custom(|iters| run(&base, iters, None, reserve)));
    group.bench_function("commit", |b| b.iter_custom(|iters| run(&base, iters, Some(reserve), commit)));
    group.bench_function("release", |b| b.iter_custom(|iters| run(&base, iters, Some(reserve), release)));
    group.bench_function("hot_reserve_expiring", |b| b.iter_custom(|iters| run_hot(&base, iters)));
    group.finish();
}

criterion_group!(benches, bench_apply);
criterion_main!(benches);

//! The checkers catch what an unsafe node does: with regiond's
//! deliberately unsafe test mode (leaders acknowledge writes before they
//! are replicated), a chaos run under a minority partition fails; the same
//! run on safe nodes passes. The regiond here is this crate's test build,
//! the only build that accepts the mode.

use std::path::PathBuf;
use std::time::Duration;

use chaos_tests::chaos::nemesis::{Fault, Scenario};
use chaos_tests::chaos::workload::Workload;
use chaos_tests::chaos::{RunConfig, RunResult, run};

async fn minority_partition(unsafe_ack_before_commit: bool) -> RunResult {
    let config = RunConfig {
        regiond: PathBuf::from(env!("CARGO_BIN_EXE_regiond")),
        scenario: Scenario::single(Fault::MinorityPartition),
        replicas: 3,
        seed: 7,
        duration_secs: 6,
        clients: 8,
        stock: 100,
        call_deadline: Duration::from_secs(1),
        keep_dir: false,
        workloads: vec![Workload::FlashSale],
        regions: 1,
        target: None,
        unsafe_ack_before_commit,
    };
    run(&config).await.expect("the harness ran")
}

fn failed_checkers(result: &RunResult) -> Vec<&'static str> {
    result.verdicts.iter().filter(|v| !v.passed).map(|v| v.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_before_replication_fails_a_minority_partition_run_that_safe_nodes_pass() {
    let safe = minority_partition(false).await;
    assert!(safe.passed, "safe nodes pass:\n{}", safe.render());

    let unsafe_run = minority_partition(true).await;
    assert!(
        !unsafe_run.passed,
        "the checkers must catch acknowledgements lost with the cut-off leader:\n{}",
        unsafe_run.render()
    );
    let failed = failed_checkers(&unsafe_run);
    eprintln!("{}", unsafe_run.render());
    assert!(
        failed.iter().any(|name| ["no-lost-ack", "model-replay", "no-oversell"].contains(name)),
        "a lost acknowledgement or an oversell is what the unsafe mode causes; failed: {failed:?}\n{}",
        unsafe_run.render()
    );
}

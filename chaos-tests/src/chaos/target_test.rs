//! A whole `chaos run --target` against a region this test launches itself
//! (fault injection on), as an SRE would point the harness at a running
//! deployment: minority-partition for a few seconds must pass every
//! checker, and the harness must start and signal no process (its
//! `--regiond` does not even exist, and no child other than the region's
//! own three appears while it runs); a process fault and a second run are
//! refused; dropping a deployment's handle clears the faults set on it.
//!
//! Needs `target/debug/regiond`: `cargo build -p regions --bin regiond`
//! (`cargo test --workspace` builds it before any test runs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser as _;

use protos::admin::admin_client::AdminClient;
use protos::admin::{ClusterStatusRequest, FaultConfig, LinkDirection, LinkRule, SetFaultsRequest};
use region_client::ClientConfig;

use super::{Deployment, Target};
use crate::chaos::cli::{Args, execute};
use crate::chaos::workload::Catalog;
use crate::cluster::{Cluster, ClusterSpec, ClusterTokens, Node, NodeTuning, Ports};
use crate::seed;

/// `regiond` beside the test executable's directory (`target/debug/deps/..`).
fn regiond() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    exe.parent().and_then(Path::parent).map(|debug| debug.join("regiond")).expect("target/debug/deps/<test>")
}

/// This process's children: `(pid, command name)`, from `/proc`.
fn children() -> BTreeSet<(u32, String)> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return BTreeSet::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces, so split after its last ')'.
            let (head, tail) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_owned();
            let ppid = tail.split_whitespace().nth(1)?;
            (ppid == me).then_some((pid, comm))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_against_a_deployment_passes_and_starts_no_process() {
    let regiond = regiond();
    assert!(regiond.is_file(), "no {}: build it with `cargo build -p regions --bin regiond`", regiond.display());
    let dir = tempfile::tempdir().unwrap();
    // The harness names the workload's warehouses after the region it finds.
    let catalog = Catalog::new(0, "target-test");
    let spec = ClusterSpec {
        regiond,
        dir: dir.path().to_owned(),
        cluster_id: "chaos-target-test".into(),
        region: catalog.region.clone(),
        replicas: 3,
        tokens: ClusterTokens::generate(catalog.warehouses.iter().map(String::as_str)).unwrap(),
        tuning: NodeTuning { fault_injection: true, ..NodeTuning::default() },
        ports: Ports::Free,
    };
    let mut cluster = Cluster::launch(spec).unwrap();
    cluster.wait_for_leader(Duration::from_secs(30)).await.unwrap();
    let region_pids: BTreeSet<u32> = cluster.nodes().iter().filter_map(Node::pid).collect();
    assert_eq!(region_pids.len(), 3);
    // The watcher below sees children: the region's own, for a start.
    let seen = children();
    assert!(region_pids.iter().all(|pid| seen.contains(&(*pid, "regiond".to_owned()))), "{seen:?}");

    let tokens = cluster.spec().tokens.clone();
    let mut file = String::new();
    for node in cluster.nodes() {
        file.push_str(&format!("[[nodes]]\nid = {}\napi_addr = \"{}\"\n", node.addrs.id, node.addrs.api));
    }
    file.push_str(&format!(
        "[tokens]\nadmin = \"{}\"\nservice = \"{}\"\n[tokens.warehouses]\n",
        tokens.admin, tokens.service
    ));
    for (warehouse, token) in &tokens.warehouses {
        file.push_str(&format!("{warehouse} = \"{token}\"\n"));
    }
    let target = dir.path().join("target.toml");
    std::fs::write(&target, file).unwrap();
    let (json, html) = (dir.path().join("run.json"), dir.path().join("run.html"));

    // Watch for children the harness might start while it runs.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, region_pids) = (done.clone(), region_pids.clone());
        tokio::spawn(async move {
            let mut strangers = BTreeSet::new();
            while !done.load(Ordering::Relaxed) {
                strangers.extend(children().into_iter().filter(|(pid, _)| !region_pids.contains(pid)));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            strangers
        })
    };
    // `--regiond` names no program: the harness could not start one if it tried.
    let run = |scenario: &str| {
        let target = target.to_str().unwrap();
        let (json, html) = (json.to_str().unwrap(), html.to_str().unwrap());
        let words =
            ["run", "--scenario", scenario, "--seed", "3", "--duration", "5", "--regiond", "/nonexistent/regiond"];
        let args = ["--target", target, "--json", json, "--report", html];
        Args::try_parse_from(["chaos"].into_iter().chain(words).chain(args)).unwrap()
    };
    let mut out = Vec::new();
    let passed = execute(&run("minority-partition"), Path::new("/nonexistent/chaos"), &mut out).await;
    done.store(true, Ordering::Relaxed);
    let out = String::from_utf8_lossy(&out);
    assert!(passed.unwrap(), "{out}");
    assert_eq!(watcher.await.unwrap(), BTreeSet::new(), "the harness started processes");

    // The region's own processes ran throughout: same pids, none exited.
    cluster.check_running().unwrap();
    assert_eq!(cluster.nodes().iter().filter_map(Node::pid).collect::<BTreeSet<_>>(), region_pids);

    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(result["passed"], true, "{out}");
    assert!(!result["faults"].as_array().unwrap().is_empty(), "no partition was applied: {out}");
    assert!(result["reproduce"].as_str().unwrap().ends_with(&format!("--target {}", target.display())));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<rect class=\"fault\""));

    // A process fault is refused before anything runs, naming the scenario.
    let error = execute(&run("leader-kill"), Path::new("/nonexistent/chaos"), &mut Vec::new()).await.unwrap_err();
    assert!(format!("{error:#}").contains("scenario leader-kill"), "{error:#}");
    // A second run would find the first one's stock: refused, not misjudged.
    let error = execute(&run("none"), Path::new("/nonexistent/chaos"), &mut Vec::new()).await.unwrap_err();
    assert!(format!("{error:#}").contains("has been used already"), "{error:#}");

    // Dropping a deployment's handle clears its faults: cut node 1 off,
    // drop the handle, then a write must reach every replica.
    let handle = Target::Existing { deployment: Deployment::load(&target).unwrap(), region: catalog.region.clone() };
    let admin = handle.client(&tokens.admin, None, ClientConfig::with_deadline(Duration::from_secs(5))).unwrap();
    let cut =
        |peer| LinkRule { peer_node_id: peer, direction: LinkDirection::Both.into(), drop_ppm: 1_000_000, delay_ms: 0 };
    let faults = FaultConfig { links: vec![cut(2), cut(3)], ..FaultConfig::default() };
    admin
        .call_endpoint(
            &handle.api_endpoint(1).unwrap(),
            "Admin/SetFaults",
            SetFaultsRequest { faults: Some(faults) },
            |c, r| async { AdminClient::new(c).set_faults(r).await },
        )
        .await
        .unwrap();
    drop(handle);
    let home = catalog.home();
    let writer =
        cluster.client(&tokens.warehouses[home], None, ClientConfig::with_deadline(Duration::from_secs(10))).unwrap();
    seed::adjust_stock(&writer, seed::receipt("after-drop", home, &catalog.hot_sku, 1, "after the drop"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut applied = BTreeSet::new();
        for endpoint in cluster.api_endpoints(None) {
            let status = admin
                .call_endpoint(&endpoint, "Admin/ClusterStatus", ClusterStatusRequest::default(), |c, r| async {
                    AdminClient::new(c).cluster_status(r).await
                })
                .await;
            applied.insert(status.ok().and_then(|s| s.groups.first().map(|g| g.applied_index)));
        }
        if applied.len() == 1 && !applied.contains(&None) {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 is still cut off after the handle was dropped: {applied:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! `ledgerctl` against a real region: an operator's status, warehouse staff
//! receiving and reading levels, the gateway's hold and order, and a
//! refused reservation with its exit code and short lines.

use super::support::{self, ADMIN_TOKEN, Region, WAREHOUSE_TOKEN};

/// Runs `ledgerctl` in-process against `region` with `token`; returns its
/// exit code and what it printed.
async fn ledgerctl(region: &Region, token: &str, args: &[&str]) -> (u8, String) {
    let endpoints = region.running.values().map(|n| n.api_addr().to_string()).collect::<Vec<_>>().join(",");
    let mut argv = vec!["ledgerctl".to_owned(), "--endpoints".into(), endpoints, "--token".into(), token.into()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = region_client::cli::run_and_report(argv, &mut out, &mut err).await;
    let text = String::from_utf8(out).unwrap() + &String::from_utf8(err).unwrap();
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledgerctl_drives_a_real_region() {
    let region = Region::start(3).await;
    support::register_warehouse(&region.admin()).await;
    let leader = region.wait_leader().await;

    let (code, status) = ledgerctl(&region, ADMIN_TOKEN, &["status"]).await;
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("leader"), "{status}");
    assert!(status.contains(&format!("leader node {leader}")), "{status}");

    let receive =
        ["receive", "--warehouse", "wh-1", "--sku", "apple", "--quantity", "7", "--command-id", "ctl-receive-1"];
    let (code, out) = ledgerctl(&region, WAREHOUSE_TOKEN, &receive).await;
    assert_eq!(code, 0, "{out}");
    // The same command id again: answered from the record, applied once.
    assert_eq!(ledgerctl(&region, WAREHOUSE_TOKEN, &receive).await.0, 0);
    let (code, levels) =
        ledgerctl(&region, WAREHOUSE_TOKEN, &["levels", "--warehouse", "wh-1", "--output", "json"]).await;
    assert_eq!(code, 0, "{levels}");
    let json: serde_json::Value =
        serde_json::from_str(levels.lines().next().unwrap()).expect("one JSON object per result");
    assert!(levels.contains("\"on_hand\":7"), "{json}");

    // The gateway's flow (here with the operator's token): hold, then order.
    let (code, out) = ledgerctl(&region, ADMIN_TOKEN, &["reserve", "--hold", "h-1", "--line", "apple=3"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = ledgerctl(&region, ADMIN_TOKEN, &["commit", "--hold", "h-1", "--order", "o-1"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("confirmed"), "{out}");
    assert_eq!(support::available(&region.client(WAREHOUSE_TOKEN), "apple").await, 4);

    let (code, out) = ledgerctl(&region, ADMIN_TOKEN, &["reserve", "--hold", "h-2", "--line", "apple=5"]).await;
    assert_eq!(code, 1, "a refused reservation exits 1: {out}");
    assert!(out.contains("FAILED_PRECONDITION") && out.contains("requested 5, available 4"), "{out}");
    let (code, out) = ledgerctl(&region, "not-a-valid-token-0123456789", &["levels", "--warehouse", "wh-1"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UNAUTHENTICATED"), "{out}");

    region.shutdown().await;
}

//! ledgerctl run in-process: flag parsing, output formats, exit codes, and
//! command ids, the RPCs answered by scripted replicas.

use clap::Parser as _;
use region_client::EndpointAddr;
use region_client::cli::{self, Cli, CliError};
use serde_json::Value;

use protos::status::ErrorDetail;
use protos::warehouse::AdjustmentReason;
use protos::warehouse::adjust_stock_request::Amount;

use super::support::{Answer, Replica, TOKEN, dead_endpoint, not_leader};

/// The global flags for `endpoints`, ahead of a subcommand.
fn base(endpoints: &[&EndpointAddr]) -> Vec<String> {
    let endpoints: Vec<&str> = endpoints.iter().map(|addr| addr.as_str()).collect();
    vec!["ledgerctl".to_owned(), "--endpoints".to_owned(), endpoints.join(","), "--token".to_owned(), TOKEN.to_owned()]
}

/// `ledgerctl <global flags> <args>` as one argument list.
fn argv(endpoints: &[&EndpointAddr], args: &str) -> Vec<String> {
    let mut argv = base(endpoints);
    argv.extend(args.split_whitespace().map(str::to_owned));
    argv
}

/// Parses `args` after fixed global flags.
fn parse(args: &str) -> Result<Cli, clap::Error> {
    let endpoint = EndpointAddr::parse("127.0.0.1:7001").expect("addr");
    Cli::try_parse_from(argv(&[&endpoint], args))
}

/// Runs ledgerctl and returns (exit code, stdout, stderr).
async fn ledgerctl(argv: Vec<String>) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::run_and_report(argv, &mut out, &mut err).await;
    (code, String::from_utf8(out).expect("utf8 stdout"), String::from_utf8(err).expect("utf8 stderr"))
}

#[test]
fn every_subcommand_parses() {
    let commands = [
        "levels --warehouse wh-1 --sku A,B --sku C --limit 50 --cursor abc",
        "levels",
        "receive --warehouse wh-1 --sku A --quantity 10 --expect-on-hand 5 --reference PO-1 --command-id c-1",
        "adjust --warehouse wh-1 --sku A --reason damaged --quantity 2",
        "adjust --warehouse wh-1 --sku A --reason correction --delta -3",
        "adjust --warehouse wh-1 --sku A --reason returned --quantity 1 --to-damaged",
        "count --warehouse wh-1 --sku A --counted 0 --expect-on-hand 3",
        "journal --warehouse wh-1 --sku A --reason received,transfer-in --since-ms 1 --until-ms 2 --limit 10",
        "ship --warehouse wh-1 --order o-1",
        "transfer --from wh-1 --to wh-2 --sku A --quantity 4 --reference T-9",
        "watch --warehouse wh-1 --sku A --count 3",
        "reserve --line A=1 --line B=2,C=3 --ttl 90s --prefer wh-2,wh-1 --single-warehouse --owner shopper-1",
        "reserve --hold h-1 --line A=1",
        "commit --hold h-1 --order o-1",
        "commit --hold h-1",
        "release --hold h-1 --command-id c-2",
        "hold --hold h-1",
        "order --order o-1",
        "status",
        "status --group region/test",
        "add-learner --group region/test --node-id 4 --address 10.0.0.4:9000 --api-address 10.0.0.4:7000 --blocking",
        "membership --group region/test --voters 1,2,3 --retain-as-learners",
        "transfer-leader --group region/test --to 2",
        "snapshot --group region/test",
        "register-warehouse --warehouse wh-3 --region test --name Third --location Dock --priority 5",
        "--output json --timeout 2.5 status",
        "status --output json --timeout 500ms",
    ];
    for command in commands {
        if let Err(error) = parse(command) {
            panic!("{command:?} does not parse:\n{error}");
        }
    }
}

#[test]
fn parsed_values_reach_the_fields() {
    let cli = parse("reserve --line A=1 --line B=2,C=3 --ttl 90s --prefer wh-2,wh-1").expect("parses");
    let cli::Command::Reserve(reserve) = cli.command else { panic!("not reserve") };
    let lines: Vec<(String, u64)> = reserve.lines.into_iter().map(|line| (line.sku, line.quantity)).collect();
    assert_eq!(lines, [("A".to_owned(), 1), ("B".to_owned(), 2), ("C".to_owned(), 3)]);
    assert_eq!(reserve.ttl, std::time::Duration::from_secs(90));
    assert_eq!(reserve.prefer, ["wh-2", "wh-1"]);
    assert_eq!(cli.global.output, cli::Output::Human);
}

/// `args` must be refused with a message that mentions `flag`.
fn check_refused(args: &str, flag: &str) {
    match parse(args) {
        Ok(cli) => panic!("{args:?} parsed: {cli:?}"),
        Err(error) => {
            let message = error.to_string();
            assert!(message.contains(flag), "{args:?}: the message should name {flag}:\n{message}");
        }
    }
}

#[test]
fn missing_flags_are_named() {
    check_refused("receive --sku A --quantity 1", "--warehouse");
    check_refused("receive --warehouse wh-1 --sku A", "--quantity");
    check_refused("reserve --ttl 1m", "--line");
    check_refused("membership --group g", "--voters");
    check_refused("adjust --warehouse wh-1 --sku A --reason shrink", "--quantity");
    check_refused("add-learner --group g --node-id 4 --address 10.0.0.4:9000", "--api-address");
    check_refused("", "Usage");
}

#[test]
fn invalid_values_are_named() {
    check_refused("--endpoints localhost status", "--endpoints");
    check_refused("--endpoints http://localhost:7001 status", "--endpoints");
    check_refused("--output xml status", "--output");
    check_refused("--timeout 0 status", "--timeout");
    check_refused("--timeout soon status", "--timeout");
    check_refused("reserve --line A", "--line");
    check_refused("reserve --line A=0", "--line");
    check_refused("reserve --line A=1 --ttl 2d", "--ttl");
    check_refused("receive --warehouse wh-1 --sku A --quantity 0", "--quantity");
    check_refused("receive --warehouse wh-1 --sku A --quantity 1000000000001", "--quantity");
    check_refused("adjust --warehouse wh-1 --sku A --reason shrink --quantity 1 --delta 2", "--delta");
    check_refused("adjust --warehouse wh-1 --sku A --reason lost --quantity 1", "--reason");
    check_refused("levels --limit 501", "--limit");
    check_refused("hold --hold", "--hold");
    check_refused("status --command-id x", "--command-id");
    check_refused("release --hold h --command-id", "--command-id");
}

#[tokio::test]
async fn flags_that_do_not_fit_together_are_a_usage_error() {
    let endpoint = dead_endpoint();
    for (args, flag) in [
        ("adjust --warehouse wh-1 --sku A --reason correction --quantity 3", "--delta"),
        ("adjust --warehouse wh-1 --sku A --reason shrink --delta 3", "--quantity"),
        ("adjust --warehouse wh-1 --sku A --reason shrink --quantity 3 --to-damaged", "--to-damaged"),
    ] {
        let (code, out, err) = ledgerctl(argv(&[&endpoint], args)).await;
        assert_eq!(code, 2, "{args}: {err}");
        assert!(err.contains(flag), "{args}: {err}");
        assert!(out.is_empty(), "{args}: nothing is sent or printed: {out}");
    }
}

#[tokio::test]
async fn help_goes_to_the_output_and_succeeds() {
    let (code, out, err) = ledgerctl(vec!["ledgerctl".to_owned(), "--help".to_owned()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Exit codes:") && out.contains("register-warehouse"), "{out}");
    let mut out = Vec::new();
    cli::run(["ledgerctl", "reserve", "--help"], &mut out).await.expect("help succeeds");
    assert!(String::from_utf8(out).expect("utf8").contains("SKU=QUANTITY"));
}

#[tokio::test]
async fn json_output_is_one_object_per_result() {
    let leader = Replica::leader(1).await;

    let (code, out, err) = ledgerctl(argv(&[&leader.addr], "status --output json")).await;
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(out.trim()).expect("status output is JSON");
    assert_eq!(status["replicas"][0]["endpoint"], leader.addr.as_str());
    let group = &status["replicas"][0]["status"]["groups"][0];
    assert_eq!(group["role"], "leader");
    assert_eq!(group["replication"][0]["lag_entries"], 4);
    assert_eq!(group["membership"]["members"][0]["api_address"], "127.0.0.1:7001");

    let args = "--output json register-warehouse --warehouse wh-9 --region test --name Nine --command-id reg-9";
    let (code, out, err) = ledgerctl(argv(&[&leader.addr], args)).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "one line per result: {out}");
    let registered: Value = serde_json::from_str(&out).expect("register output is JSON");
    assert_eq!(registered["command_id"], "reg-9");
    assert_eq!(registered["warehouse"]["warehouse_id"], "wh-9");
    assert_eq!(registered["applied_index"], 7);

    for args in [
        "snapshot --group region/test --output json",
        "transfer-leader --group region/test --to 3 --output json",
        "membership --group region/test --voters 1 --output json",
        "add-learner --group region/test --node-id 4 --address 127.0.0.1:9004 --api-address 127.0.0.1:7004 --output json",
    ] {
        let (code, out, err) = ledgerctl(argv(&[&leader.addr], args)).await;
        assert_eq!(code, 0, "{args}: {err}");
        let value: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args}: {e}: {out}"));
        assert!(value.is_object(), "{args}: {out}");
    }
}

#[tokio::test]
async fn human_status_is_a_table_with_follower_lag() {
    let leader = Replica::leader(1).await;
    let (code, out, err) = ledgerctl(argv(&[&leader.addr], "status")).await;
    assert_eq!(code, 0, "{err}");
    let header = out.lines().next().expect("a header line");
    for column in ["ENDPOINT", "NODE", "GROUP", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(out.contains("leader") && out.contains("region/test"), "{out}");
    assert!(out.contains("FOLLOWER") && out.contains("LAG"), "{out}");
}

#[tokio::test]
async fn a_mutation_prints_and_sends_its_command_id() {
    let leader = Replica::leader(1).await;

    let (code, out, err) =
        ledgerctl(argv(&[&leader.addr], "register-warehouse --warehouse wh-1 --region test --name One")).await;
    assert_eq!(code, 0, "{err}");
    let first = out.lines().next().expect("output");
    let id = first.strip_prefix("command id: ").unwrap_or_else(|| panic!("first line names the id: {out}"));
    assert!(id.starts_with("ctl-"), "{id}");
    let sent = leader.calls().pop().and_then(|call| call.register).expect("a register request");
    assert_eq!(sent.command_id, id);

    let args = "register-warehouse --warehouse wh-1 --region test --name One --command-id retry-me";
    let (code, out, err) = ledgerctl(argv(&[&leader.addr], args)).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("command id: retry-me\n"), "{out}");
    let sent = leader.calls().pop().and_then(|call| call.register).expect("a register request");
    assert_eq!(sent.command_id, "retry-me");
}

#[tokio::test]
async fn a_rejection_exits_1_and_prints_code_message_and_detail() {
    let leader = Replica::start(1, |_, _| {
        Answer::Fail(
            ErrorDetail::bad_request([("warehouse.region", "is not this node's region (eu-west)")])
                .into_status("invalid warehouse"),
        )
    })
    .await;
    let args = "register-warehouse --warehouse wh-1 --region us --name One --command-id c-7";
    let (code, _out, err) = ledgerctl(argv(&[&leader.addr], args)).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("INVALID_ARGUMENT: invalid warehouse"), "{err}");
    assert!(err.contains("field warehouse.region: is not this node's region (eu-west)"), "{err}");
    assert!(err.contains("command id: c-7"), "{err}");
    assert_eq!(leader.call_count(), 1);
}

#[tokio::test]
async fn no_leader_exits_3_with_a_safe_retry_hint() {
    let dead = dead_endpoint();
    let args = "--timeout 300ms register-warehouse --warehouse wh-1 --region test --name One --command-id c-8";
    let mut out = Vec::new();
    let error = cli::run(argv(&[&dead], args), &mut out).await.expect_err("nothing listens");
    assert_eq!(error.exit_code(), 3);
    assert!(matches!(error, CliError::Client { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("rerun with --command-id c-8"), "{message}");
}

#[tokio::test]
async fn status_prints_what_it_got_and_exits_3_if_a_replica_is_down() {
    let leader = Replica::leader(1).await;
    let dead = dead_endpoint();
    let (code, out, err) = ledgerctl(argv(&[&leader.addr, &dead], "--timeout 2 status")).await;
    assert_eq!(code, 3, "{err}");
    assert!(out.contains("region/test"), "the live replica's row is printed: {out}");
    assert!(out.contains(&format!("{dead}: no answer: UNAVAILABLE")), "{out}");
    assert!(err.contains("1 of 2 replicas did not answer"), "{err}");
}

/// A follower pointing at a fresh leader: (follower, leader).
async fn follower_and_leader() -> (Replica, Replica) {
    let leader = Replica::leader(1).await;
    let leader_addr = leader.addr.clone();
    let follower = Replica::start(2, move |_, _| Answer::Fail(not_leader(Some(&leader_addr)))).await;
    (follower, leader)
}

#[tokio::test]
async fn receive_sends_the_adjustment_and_prints_the_result() {
    let leader = Replica::leader(1).await;
    let args = "--output json receive --warehouse wh-1 --sku SKU-A --quantity 5 --expect-on-hand 10 \
                --reference PO-1 --command-id rcv-1";
    let (code, out, err) = ledgerctl(argv(&[&leader.addr], args)).await;
    assert_eq!(code, 0, "{err}");
    let result: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(result["command_id"], "rcv-1");
    assert_eq!(result["level"]["on_hand"], 15);
    assert_eq!(result["entry"]["reason"], "received");
    assert_eq!(result["entry"]["reference"], "PO-1");
    assert_eq!(result["applied_index"], 12);

    let sent = leader.calls().pop().and_then(|call| call.adjust).expect("an AdjustStock request");
    assert_eq!(sent.command_id, "rcv-1");
    assert_eq!((sent.warehouse_id.as_str(), sent.sku.as_str()), ("wh-1", "SKU-A"));
    assert_eq!(sent.reason, AdjustmentReason::Received as i32);
    assert_eq!(sent.amount, Some(Amount::Quantity(5)));
    assert_eq!(sent.expected_on_hand, Some(10));

    let (code, out, err) =
        ledgerctl(argv(&[&leader.addr], "adjust --warehouse wh-1 --sku SKU-A --reason correction --delta=-2")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied at log index 12") && out.contains("ON_HAND"), "{out}");
    let sent = leader.calls().pop().and_then(|call| call.adjust).expect("an AdjustStock request");
    assert_eq!(sent.reason, AdjustmentReason::Correction as i32);
    assert_eq!(sent.amount, Some(Amount::Delta(-2)));
}

#[tokio::test]
async fn levels_are_read_at_the_leader() {
    let (follower, leader) = follower_and_leader().await;
    let (code, out, err) = ledgerctl(argv(&[&follower.addr], "levels --warehouse wh-1 --sku SKU-A,SKU-B")).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().filter(|line| line.starts_with("wh-1")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(out.contains("read at log index 12"), "{out}");
    assert_eq!((follower.call_count(), leader.call_count()), (1, 1));
}

#[tokio::test]
async fn watch_prints_every_update_until_the_stream_ends() {
    // Opened through a follower: the stream is opened at the leader.
    let (follower, leader) = follower_and_leader().await;
    let (code, out, err) = ledgerctl(argv(&[&follower.addr], "watch --warehouse wh-1 --sku END --output json")).await;
    assert_eq!(code, 0, "{err}");
    let updates: Vec<Value> =
        out.lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect();
    assert_eq!(updates.len(), 3, "{out}");
    assert_eq!(updates[0]["snapshot"], true);
    assert_eq!(updates[2]["snapshot"], false);
    assert_eq!(updates[2]["level"]["on_hand"], 4);
    assert_eq!((follower.call_count(), leader.call_count()), (1, 1));
}

#[tokio::test]
async fn watch_stops_after_count_updates() {
    let leader = Replica::leader(1).await;
    // The stream never ends by itself after its opening updates.
    let (code, out, err) = ledgerctl(argv(&[&leader.addr], "watch --warehouse wh-1 --count 2")).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|line| line.contains("snapshot") && line.contains("wh-1")), "{out}");
}

#[tokio::test]
async fn a_watch_that_breaks_exits_3_after_printing_what_came() {
    let leader = Replica::leader(1).await;
    let (code, out, err) = ledgerctl(argv(&[&leader.addr], "watch --warehouse wh-1 --sku FAIL")).await;
    assert_eq!(code, 3, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(err.contains("leader stepped down"), "{err}");
}

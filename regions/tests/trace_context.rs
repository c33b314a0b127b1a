//! Trace context across processes: a `RegionClient` call's trace id reaches
//! the node's `api` span, which records the command id and the log index it
//! applied at, and the `apply` span covering that index follows.
//!
//! Its own test binary: a thread's default subscriber and tracing's global
//! callsite cache do not mix with other tests running on other threads.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use region_client::{BearerToken, ClientConfig, EndpointAddr, RegionClient};
use region_launcher::seed;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

#[path = "services/support.rs"]
#[allow(dead_code, reason = "shared with the services tests, which use all of it")]
mod support;

use support::{Node, PARIS, PARIS_TOKEN, receive};

/// Log lines written by the test's subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("not poisoned").clone();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The value of `field=` in a span's fields on `line`.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    Some(rest.split([' ', '}', ':']).next().unwrap_or(rest))
}

// A current-thread runtime: the subscriber set for this thread sees the
// client, the node's API tasks and its Raft tasks alike.
#[tokio::test]
async fn a_calls_trace_id_reaches_the_api_span_and_its_apply() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .with_env_filter("warn,regions=debug,region_client=debug,raft::storage=debug")
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let node = Node::start().await;
    let endpoint = EndpointAddr::parse(&node.api_addr().to_string()).expect("an address");
    let token = BearerToken::parse(PARIS_TOKEN).expect("a token");
    let client =
        RegionClient::new([endpoint], token, ClientConfig::with_deadline(Duration::from_secs(10))).expect("a client");
    seed::adjust_stock(&client, receive("rx-traced", PARIS, "sku-1", 3)).await.expect("received");
    node.shutdown().await;

    let lines = captured.lines();
    let rpc = lines.iter().find(|l| l.contains("region_rpc{") && l.contains("AdjustStock")).expect("the client's span");
    let trace_id = field(rpc, "trace_id").expect("the client's span has a trace id");
    assert_eq!(trace_id.len(), 32, "{rpc}");
    let api = lines
        .iter()
        // The api span's own close line, once the write recorded its index.
        .find(|l| l.contains("api{") && l.contains(trace_id) && l.contains("index="))
        .unwrap_or_else(|| panic!("no api span with trace id {trace_id} in:\n{}", lines.join("\n")));
    assert!(api.contains("rx-traced"), "the api span names the command: {api}");
    let index: u64 = field(api, "index").and_then(|i| i.parse().ok()).unwrap_or_else(|| panic!("no index in {api}"));
    let applied = lines.iter().any(|l| {
        l.contains("apply{")
            && field(l, "first").and_then(|f| f.parse::<u64>().ok()).is_some_and(|first| first <= index)
            && field(l, "last").and_then(|f| f.parse::<u64>().ok()).is_some_and(|last| last >= index)
    });
    assert!(applied, "no apply span covers index {index} in:\n{}", lines.join("\n"));
}

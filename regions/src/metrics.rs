//! Prometheus metrics of a node: Raft progress of its group, the write
//! path's batching and latency, and API calls; served as text on the
//! metrics listener (`GET /metrics`).

use openraft::async_runtime::WatchReceiver;
use prometheus::{Encoder, Histogram, HistogramOpts, IntGauge, Registry, TextEncoder};
use raft::transport::LedgerRaft;
use tokio::net::TcpListener;

/// The node's metrics. Cheap to clone; clones share the series.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Current Raft term of the group on this node.
    pub term: IntGauge,
    /// Node id of the leader this node follows (0 when none is known).
    pub leader: IntGauge,
    /// 1 while this node leads the group.
    pub is_leader: IntGauge,
    /// Highest log index known committed.
    pub commit_index: IntGauge,
    /// Highest log index applied to the ledger.
    pub applied_index: IntGauge,
    /// Seconds from proposing a batch to its being applied on the leader.
    pub apply_latency: Histogram,
    /// Commands per proposed Raft entry.
    pub batch_size: Histogram,
}

impl Metrics {
    /// Fresh series for the node `node_id` of `group`, in their own registry.
    pub fn new(group: &str, node_id: u64) -> Self {
        let labels = [("group".to_owned(), group.to_owned()), ("node".to_owned(), node_id.to_string())];
        let registry = Registry::new_custom(Some("regiond".into()), Some(labels.into_iter().collect()))
            .expect("static metric prefix and labels are valid");
        let gauge = |name: &str, help: &str| {
            let gauge = IntGauge::new(name, help).expect("valid metric name");
            registry.register(Box::new(gauge.clone())).expect("metric registered once");
            gauge
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let histogram =
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric");
            registry.register(Box::new(histogram.clone())).expect("metric registered once");
            histogram
        };
        Self {
            term: gauge("raft_term", "Current Raft term of the group on this node"),
            leader: gauge("raft_leader", "Node id of the known leader, 0 when none"),
            is_leader: gauge("raft_is_leader", "1 while this node leads the group"),
            commit_index: gauge("raft_commit_index", "Highest log index known committed"),
            applied_index: gauge("raft_applied_index", "Highest log index applied to the ledger"),
            apply_latency: histogram(
                "apply_latency_seconds",
                "Seconds from proposing a batch to its being applied on the leader",
                prometheus::exponential_buckets(0.000_25, 2.0, 16).expect("valid buckets"),
            ),
            batch_size: histogram(
                "proposals_per_entry",
                "Commands batched into one Raft entry",
                prometheus::exponential_buckets(1.0, 2.0, 12).expect("valid buckets"),
            ),
            registry,
        }
    }

    /// Adds the storage's disk timings (WAL syncs, snapshot builds) to the page.
    pub fn register_disk(&self, disk: &raft::storage::DiskMetrics) {
        for collector in disk.collectors() {
            self.registry.register(collector).expect("disk metrics registered once");
        }
    }

    /// Sets the Raft gauges from `raft`'s current metrics. Read when the
    /// page is rendered rather than on every change: Raft's metrics change
    /// with every appended and applied entry, and a task woken for each
    /// would cost a thread wake-up per entry on every replica.
    fn refresh(&self, raft: &LedgerRaft) {
        let metrics = raft.metrics();
        let m = metrics.borrow_watched();
        self.term.set(gauge_value(m.current_term));
        self.leader.set(gauge_value(m.current_leader.unwrap_or(0)));
        self.is_leader.set(i64::from(m.current_leader == Some(m.id)));
        self.commit_index.set(gauge_value(m.local_committed.as_ref().map_or(0, |id| id.index)));
        self.applied_index.set(gauge_value(m.last_applied.as_ref().map_or(0, |id| id.index)));
    }

    /// The metrics in Prometheus' text format, the Raft gauges as of now.
    pub fn render(&self, raft: &LedgerRaft) -> String {
        self.refresh(raft);
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Serves `GET /metrics` for `raft`'s replica on `listener` until
    /// `shutdown` completes.
    pub async fn serve(
        self,
        raft: LedgerRaft,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = axum::Router::new().route("/metrics", axum::routing::get(move || async move { self.render(&raft) }));
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await
    }
}

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

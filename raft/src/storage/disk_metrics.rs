//! [`DiskMetrics`]: how long this process's storage waits on the disk, as
//! Prometheus collectors for the node to register.
//!
//! The write-ahead log's sync is on the path of every acknowledged write
//! (etcd's most watched disk metric is the same one): when it slows, every
//! group on the node slows. Snapshot builds run beside apply for seconds
//! at a time and compete with it for the disk and the CPU.

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts};

/// The storage's disk timings. Cheap to clone; clones share the series.
#[derive(Clone, Debug)]
pub struct DiskMetrics {
    /// Seconds per write-ahead log sync (one for every write waited on
    /// meanwhile, whatever its group).
    pub wal_sync_seconds: Histogram,
    /// Seconds per snapshot build, from the cut to the stored file.
    pub snapshot_build_seconds: Histogram,
}

impl DiskMetrics {
    pub(crate) fn new() -> Self {
        let histogram = |name: &str, help: &str, start: f64, count: usize| {
            let buckets = prometheus::exponential_buckets(start, 2.0, count).expect("valid buckets");
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric")
        };
        Self {
            wal_sync_seconds: histogram(
                "wal_sync_seconds",
                "Seconds per write-ahead log sync, which every acknowledged write waits for",
                0.000_05,
                18,
            ),
            snapshot_build_seconds: histogram(
                "snapshot_build_seconds",
                "Seconds per snapshot build, from the cut to the stored file",
                0.1,
                12,
            ),
        }
    }

    /// Every series, for a registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![Box::new(self.wal_sync_seconds.clone()), Box::new(self.snapshot_build_seconds.clone())]
    }
}

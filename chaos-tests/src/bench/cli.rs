//! The command line of `bench` ([`Args`]) and the [`Settings`] it yields.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::workload::{LoadConfig, Pacing, SPREAD_SKUS_DEFAULT, SPREAD_SKUS_MAX, Workload};
use super::{Settings, Target};

/// Longest a single call may take before it counts as a `timeout` error.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Which workloads to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadArg {
    /// One hot SKU.
    Hot,
    /// Many SKUs (see `--skus`).
    Spread,
    /// Both, hot first.
    All,
}

/// Runs one reservation workload against this system (a 3-replica region
/// of `regiond` processes) and against PostgreSQL and Redis started locally,
/// all with fsync on, and prints throughput and latency side by side.
#[derive(Debug, Parser)]
#[command(name = "bench")]
pub struct Args {
    /// Which workload: every call on one SKU, on many, or both.
    #[arg(long, value_enum, default_value = "all")]
    pub workload: WorkloadArg,
    /// What to measure, comma-separated, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ledger,postgres,redis")]
    pub targets: Vec<Target>,
    /// Concurrent callers, each with one call in flight (closed loop); with
    /// `--rate`, the most calls in flight at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Open loop: start this many calls per second on a fixed schedule,
    /// whatever the target does, and time each from its scheduled start
    /// (latency at a given load, with no coordinated omission). Without
    /// it, the load is a closed loop (the most each target sustains).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate: Option<u32>,
    /// Seconds measured per target and workload.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: u64,
    /// Seconds of load before measuring, per target and workload.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub warmup: u64,
    /// SKUs of the spread workload.
    #[arg(long, default_value_t = SPREAD_SKUS_DEFAULT as u64,
          value_parser = clap::value_parser!(u64).range(1..=SPREAD_SKUS_MAX as u64))]
    pub skus: u64,
    /// gRPC connections to the region, each with its own reservation
    /// batcher (callers share them round-robin; a gateway keeps one or two
    /// per region); also the number of multiplexed Redis connections (which
    /// serve Redis as well with 2 as with 8 here).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1_024))]
    pub connections: u32,
    /// PostgreSQL connections, at most the concurrency (callers share them
    /// round-robin; a connection runs one statement at a time).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub pg_connections: u32,
    /// TTL of each reservation's hold, in milliseconds.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub hold_ttl_ms: u64,
    /// The region leader's `max_in_flight`: most Raft entries proposed and
    /// not yet applied (default: regiond's). Fewer make larger entries.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_024))]
    pub max_in_flight: Option<u32>,
    /// Send each region reservation as its own `Reserve` call, instead of
    /// through the region client's batcher (concurrent reservations on one
    /// connection share a `ReserveMany` call, as Redis's multiplexed
    /// connections pipeline their scripts).
    #[arg(long)]
    pub unbatched: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where the targets' temporary data directories go (default: the
    /// system's temporary directory). Its file system is what fsyncs hit.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The `regiond` executable (default: next to this program).
    #[arg(long)]
    pub regiond: Option<PathBuf>,
    /// Keep the targets' data directories, configs and logs after the run.
    #[arg(long)]
    pub keep_dirs: bool,
}

impl Args {
    /// The settings these arguments ask for; `exe` is this program's path
    /// (`regiond` is looked for beside it).
    pub fn settings(&self, exe: &std::path::Path) -> Settings {
        let workloads = match self.workload {
            WorkloadArg::Hot => vec![Workload::Hot],
            WorkloadArg::Spread => vec![Workload::Spread],
            WorkloadArg::All => vec![Workload::Hot, Workload::Spread],
        };
        let mut targets = Vec::new();
        for &target in &self.targets {
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        let concurrency = self.concurrency as usize;
        Settings {
            workloads,
            targets,
            load: LoadConfig {
                pacing: self.rate.map_or(Pacing::ClosedLoop, |per_s| Pacing::FixedRate { per_s }),
                concurrency,
                warmup: Duration::from_secs(self.warmup),
                duration: Duration::from_secs(self.duration),
                call_timeout: CALL_TIMEOUT,
            },
            spread_skus: usize::try_from(self.skus).unwrap_or(SPREAD_SKUS_MAX),
            connections: (self.connections as usize).min(concurrency),
            pg_connections: (self.pg_connections as usize).min(concurrency),
            hold_ttl_ms: self.hold_ttl_ms,
            max_in_flight: self.max_in_flight.map(|n| n as usize),
            batched: !self.unbatched,
            work_dir: self.dir.clone().unwrap_or_else(std::env::temp_dir),
            regiond: self.regiond.clone().unwrap_or_else(|| exe.with_file_name("regiond")),
            keep_dirs: self.keep_dirs,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, String> {
        let args =
            Args::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        Ok(args.settings(Path::new("/opt/ledger/bin/bench")))
    }

    #[test]
    fn defaults_run_everything() {
        let settings = parse(&[]).unwrap();
        assert_eq!(settings.workloads, [Workload::Hot, Workload::Spread]);
        assert_eq!(settings.targets, [Target::Ledger, Target::Postgres, Target::Redis]);
        assert_eq!(settings.load.concurrency, 256);
        assert_eq!(settings.load.pacing, Pacing::ClosedLoop);
        assert_eq!(settings.load.duration, Duration::from_secs(20));
        assert_eq!(settings.load.warmup, Duration::from_secs(2));
        assert_eq!(settings.spread_skus, 10_000);
        assert_eq!((settings.connections, settings.pg_connections), (2, 64));
        assert_eq!(settings.regiond, Path::new("/opt/ledger/bin/regiond"), "regiond is looked for beside bench");
        assert_eq!(settings.work_dir, std::env::temp_dir());
        assert!(!settings.keep_dirs);
        assert_eq!(settings.max_in_flight, None, "regiond's own default");
        assert!(settings.batched, "reservations go through the client's batcher");
    }

    #[test]
    fn the_issue_command_line_parses() {
        let settings = parse(&[
            "--workload",
            "hot",
            "--targets",
            "redis,ledger,redis",
            "--concurrency",
            "32",
            "--duration",
            "10",
            "--json",
            "out.json",
            "--rate",
            "15000",
            "--max-in-flight",
            "4",
            "--unbatched",
        ])
        .unwrap();
        assert_eq!(settings.workloads, [Workload::Hot]);
        assert_eq!(settings.targets, [Target::Redis, Target::Ledger], "order kept, duplicates dropped");
        assert_eq!(settings.load.concurrency, 32);
        assert_eq!(settings.load.pacing, Pacing::FixedRate { per_s: 15_000 });
        assert_eq!(settings.load.duration, Duration::from_secs(10));
        assert_eq!(settings.pg_connections, 32, "no more connections than callers");
        assert_eq!(settings.max_in_flight, Some(4));
        assert!(!settings.batched);
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (args, named) in [
            (&["--workload", "cold"][..], "--workload"),
            (&["--targets", "ledger,mysql"], "--targets"),
            (&["--concurrency", "0"], "--concurrency"),
            (&["--duration", "0"], "--duration"),
            (&["--skus", "0"], "--skus"),
            (&["--rate", "0"], "--rate"),
            (&["--max-in-flight", "0"], "--max-in-flight"),
            (&["--speed", "9"], "--speed"),
        ] {
            let error = parse(args).unwrap_err();
            assert!(error.contains(named), "{args:?}: {error}");
        }
    }

    #[test]
    fn paths_can_be_given() {
        let settings =
            parse(&["--workload", "spread", "--dir", "/data/bench", "--regiond", "/x/regiond", "--keep-dirs"]).unwrap();
        assert_eq!(settings.workloads, [Workload::Spread]);
        assert_eq!(settings.work_dir, Path::new("/data/bench"));
        assert_eq!(settings.regiond, Path::new("/x/regiond"));
        assert!(settings.keep_dirs);
    }
}

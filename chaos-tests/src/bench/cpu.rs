//! CPU time of the measured window, from `/proc`: how much of the
//! machine the target's server processes (with their child processes,
//! e.g. PostgreSQL's backends) and the load generator itself used. On a
//! small machine both share the cores, so this says how much of the
//! throughput the client's own work cost.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`,
/// 100 on every Linux architecture this runs on).
const TICKS_PER_S: f64 = 100.0;

/// CPU ticks used so far, at an instant.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    /// Ticks of the server processes and their descendants.
    server_ticks: u64,
    /// Ticks of this process.
    client_ticks: u64,
    /// When sampled.
    at: Instant,
}

/// CPU used during a window, in cores (1.0 = one core busy throughout).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CpuUsage {
    /// The target's server processes.
    pub server_cores: f64,
    /// The load generator (this process).
    pub client_cores: f64,
}

impl CpuSample {
    /// The ticks used so far by `servers` (and every process descended
    /// from them) and by this process.
    pub fn take(servers: &[u32]) -> Self {
        let at = Instant::now();
        let stats = all_stats();
        let mut server_ticks = 0;
        let mut pending: Vec<u32> = servers.to_vec();
        let mut seen: Vec<u32> = Vec::new();
        while let Some(pid) = pending.pop() {
            if seen.contains(&pid) {
                continue;
            }
            seen.push(pid);
            if let Some(stat) = stats.get(&pid) {
                server_ticks += stat.ticks;
            }
            pending.extend(stats.iter().filter(|(_, s)| s.ppid == pid).map(|(&child, _)| child));
        }
        let client_ticks =
            std::fs::read_to_string("/proc/self/stat").ok().and_then(|t| parse_stat(&t)).map_or(0, |s| s.ticks);
        Self { server_ticks, client_ticks, at }
    }

    /// What was used between `self` and the later `after`.
    pub fn usage_until(&self, after: &Self) -> CpuUsage {
        let seconds = after.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let cores = |before: u64, after: u64| after.saturating_sub(before) as f64 / TICKS_PER_S / seconds;
        CpuUsage {
            server_cores: cores(self.server_ticks, after.server_ticks),
            client_cores: cores(self.client_ticks, after.client_ticks),
        }
    }
}

/// The fields of `/proc/<pid>/stat` used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    /// Parent pid.
    ppid: u32,
    /// User plus system time, in ticks (every thread of the process).
    ticks: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3), ppid (4), ..., utime (14), stime (15).
    let field = |number: usize| fields.get(number - 3).copied();
    let ppid = field(4)?.parse().ok()?;
    let ticks = field(14)?.parse::<u64>().ok()? + field(15)?.parse::<u64>().ok()?;
    Some(Stat { ppid, ticks })
}

/// Every process's stat, by pid.
fn all_stats() -> HashMap<u32, Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
            Some((pid, stat))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_parsed_past_odd_names() {
        let line =
            "4242 (postgres: bench (x) UPDATE) S 4200 4200 4200 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_stat(line), Some(Stat { ppid: 4200, ticks: 325 }));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_sampled() {
        let before = CpuSample::take(&[std::process::id()]);
        let started = Instant::now();
        let mut spin = 0_u64;
        while started.elapsed().as_millis() < 300 {
            spin = spin.wrapping_add(1);
        }
        assert!(spin > 0);
        let usage = before.usage_until(&CpuSample::take(&[std::process::id()]));
        assert!(usage.client_cores > 0.05, "{usage:?}");
        assert!(usage.server_cores >= usage.client_cores * 0.9, "the server set includes this process: {usage:?}");
    }
}

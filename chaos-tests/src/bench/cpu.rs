//! CPU time of the measured window, from `/proc`: how much of the
//! machine the target's server processes (with their child processes,
//! e.g. PostgreSQL's backends) and the load generator itself used. On a
//! small machine both share the cores, so this says how much of the
//! throughput the client's own work cost. The whole machine's busy, idle
//! and stolen time (`/proc/stat`) says whether the target had the cores
//! at all: on a shared virtual machine the hypervisor may take them.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

/// Clock ticks per second of the times in `/proc/<pid>/stat` and
/// `/proc/stat` (`USER_HZ`, 100 on every Linux architecture this runs on).
const TICKS_PER_S: f64 = 100.0;

/// The cores that the ticks counted from `before` to `after` kept busy
/// over `seconds`.
pub(crate) fn cores_used(before: u64, after: u64, seconds: f64) -> f64 {
    after.saturating_sub(before) as f64 / TICKS_PER_S / seconds
}

/// CPU ticks used so far, at an instant.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    /// Ticks of the server processes and their descendants.
    server_ticks: u64,
    /// Ticks of this process.
    client_ticks: u64,
    /// The whole machine's ticks, when `/proc/stat` could be read.
    machine: Option<MachineTicks>,
    /// When sampled.
    at: Instant,
}

/// CPU used during a window, in cores (1.0 = one core busy throughout).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CpuUsage {
    /// The target's server processes.
    pub server_cores: f64,
    /// The load generator (this process).
    pub client_cores: f64,
    /// The whole machine, when `/proc/stat` could be read.
    pub machine: Option<MachineCpu>,
}

/// The whole machine's CPU during a window, in cores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MachineCpu {
    /// Running anything, this run's processes or others.
    pub busy_cores: f64,
    /// Idle or waiting for I/O.
    pub idle_cores: f64,
    /// Taken by the hypervisor for other guests (steal time).
    pub stolen_cores: f64,
    /// Taken by the hypervisor in each second of the window, when sampled
    /// ([`super::steal::stolen_by_second`]).
    pub stolen_cores_by_second: Vec<f64>,
}

/// The all-CPU line of `/proc/stat`, summed into what [`MachineCpu`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MachineTicks {
    busy: u64,
    idle: u64,
    /// Ticks the hypervisor took.
    pub(crate) stolen: u64,
}

impl MachineTicks {
    /// The machine's ticks so far; `None` if `/proc/stat` cannot be read.
    pub(crate) fn now() -> Option<Self> {
        std::fs::read_to_string("/proc/stat").ok().and_then(|text| parse_machine(&text))
    }
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
        Self { server_ticks, client_ticks, machine: MachineTicks::now(), at }
    }

    /// What was used between `self` and the later `after`.
    pub fn usage_until(&self, after: &Self) -> CpuUsage {
        let seconds = after.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let cores = |before: u64, after: u64| cores_used(before, after, seconds);
        let machine = self.machine.zip(after.machine).map(|(before, after)| MachineCpu {
            busy_cores: cores(before.busy, after.busy),
            idle_cores: cores(before.idle, after.idle),
            stolen_cores: cores(before.stolen, after.stolen),
            stolen_cores_by_second: Vec::new(),
        });
        CpuUsage {
            server_cores: cores(self.server_ticks, after.server_ticks),
            client_cores: cores(self.client_ticks, after.client_ticks),
            machine,
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

/// Parses the first (all-CPU) line of `/proc/stat`: `cpu user nice system
/// idle iowait irq softirq steal ...` (guest time is already in user).
fn parse_machine(text: &str) -> Option<MachineTicks> {
    let fields: Vec<u64> =
        text.lines().next()?.strip_prefix("cpu ")?.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
    let field = |i: usize| fields.get(i).copied();
    Some(MachineTicks {
        busy: field(0)? + field(1)? + field(2)? + field(5)? + field(6)?,
        idle: field(3)? + field(4)?,
        stolen: field(7)?,
    })
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
    fn the_machine_line_is_summed_into_busy_idle_and_stolen() {
        let text = "cpu  100 5 40 900 20 3 2 7 0 0\ncpu0 50 2 20 450 10 1 1 3 0 0\n";
        assert_eq!(parse_machine(text), Some(MachineTicks { busy: 150, idle: 920, stolen: 7 }));
        assert_eq!(parse_machine("cpu0 1 2 3\n"), None, "not the all-CPU line");
        assert_eq!(parse_machine("cpu  1 2 x 4 5 6 7 8\n"), None);
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
        let machine = usage.machine.as_ref().expect("/proc/stat is readable");
        assert!(machine.busy_cores >= usage.client_cores * 0.9, "the machine includes this process: {usage:?}");
    }
}

//! [`Supervised`]: one child process this crate started, with its log,
//! stopped when dropped.
//!
//! **Invariant:** only processes started here are ever signalled, and only
//! by their own pid while the child is not yet reaped (so the pid cannot
//! have been reused by another process).

use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a stopping process gets before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Most bytes of a log read back for an error message.
const LOG_TAIL_BYTES: u64 = 4_096;

/// The signal that asks a process to stop cleanly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM: `regiond`, `redis-server`.
    Term,
    /// SIGINT: PostgreSQL's "fast shutdown" (its SIGTERM waits for every
    /// client to disconnect).
    Int,
}

impl StopSignal {
    fn name(self) -> &'static str {
        match self {
            Self::Term => "TERM",
            Self::Int => "INT",
        }
    }
}

/// A started child process. Dropping it stops it (the stop signal, then
/// SIGKILL after [`STOP_GRACE`]) and reaps it.
#[derive(Debug)]
pub struct Supervised {
    /// For messages: what this process is (`regiond node 2`, `postgres`).
    name: String,
    /// The child; reaped only by [`Supervised::wait_stopped`] or
    /// [`Supervised::exited`].
    child: Child,
    /// Where its stdout and stderr go.
    log: PathBuf,
    /// What asks it to stop cleanly.
    stop_signal: StopSignal,
    /// Set once the child is reaped.
    status: Option<ExitStatus>,
    /// Whether it was suspended (SIGSTOP) and not yet continued: a stop
    /// request must continue it too, or it would not see the signal.
    paused: bool,
}

impl Supervised {
    /// Starts `command` with stdin closed and stdout/stderr appended to
    /// `log` (created if missing).
    pub fn spawn(
        name: impl Into<String>,
        command: &mut Command,
        log: &Path,
        stop_signal: StopSignal,
    ) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let child = command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file).spawn()?;
        Ok(Self { name: name.into(), child, log: log.to_owned(), stop_signal, status: None, paused: false })
    }

    /// What this process is, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Its exit status if it has exited (reaping it), `None` while it runs.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            // An error here means the child was already reaped elsewhere,
            // which this type never does; treat it as still unknown.
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends `signal` (a `kill -s` name) if the process still runs; true
    /// when it was delivered.
    fn signal(&mut self, signal: &str) -> bool {
        if self.exited().is_some() {
            return false;
        }
        // Not yet reaped, so the pid is still ours.
        let sent = Command::new("kill")
            .arg("-s")
            .arg(signal)
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let delivered = matches!(sent, Ok(status) if status.success());
        if !delivered {
            tracing::warn!(process = %self.name, pid = self.pid(), signal, "could not signal the process");
        }
        delivered
    }

    /// Suspends the process (SIGSTOP), as a long GC pause or a stalled VM
    /// would; true when it was running and is now suspended.
    pub fn pause(&mut self) -> bool {
        let paused = self.signal("STOP");
        self.paused |= paused;
        paused
    }

    /// Continues a suspended process (SIGCONT); true when it was delivered.
    pub fn resume(&mut self) -> bool {
        let resumed = self.signal("CONT");
        self.paused &= !resumed;
        resumed
    }

    /// Whether it is suspended ([`Supervised::pause`]) and not yet resumed.
    /// A process seen exited is not: a suspended process dies of a fatal
    /// signal at once (Linux does not wait for SIGCONT), and may be reaped
    /// before the SIGCONT that [`Supervised::request_stop`] sends after it.
    pub fn is_paused(&self) -> bool {
        self.paused && self.status.is_none()
    }

    /// Asks the process to stop cleanly, without waiting; a suspended
    /// process is continued too, so that it sees the request.
    pub fn request_stop(&mut self) {
        self.signal(self.stop_signal.name());
        if self.paused {
            self.resume();
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would, and reaps it.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        self.status
    }

    /// Waits until `deadline` for the process to exit, then kills it.
    pub fn wait_stopped(&mut self, deadline: Instant) -> Option<ExitStatus> {
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.exited().is_none() {
            tracing::warn!(process = %self.name, pid = self.pid(), "did not stop in time; killing it");
            return self.kill();
        }
        self.status
    }

    /// Stops the process: the stop signal, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.request_stop();
        self.wait_stopped(Instant::now() + grace)
    }

    /// The end of its log, for an error message.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop(STOP_GRACE);
    }
}

/// The last few KiB of the file at `path` (empty if unreadable).
pub fn log_tail(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    // Drop a partial first line.
    let text = if length > LOG_TAIL_BYTES { text.split_once('\n').map_or(&*text, |(_, rest)| rest) } else { &text };
    text.trim_end().to_owned()
}

/// A TCP port on 127.0.0.1 that was free a moment ago. Another process may
/// take it before the caller binds it; launches fail loudly if so.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `count` distinct free ports on 127.0.0.1. All listeners are held until
/// every port is chosen, so they differ from one another.
pub fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    free_ports_on(Ipv4Addr::LOCALHOST, count)
}

/// `count` distinct free ports on `ip` (e.g. one of the 127.0.0.0/8
/// loopback addresses, which Linux serves without configuration).
pub fn free_ports_on(ip: Ipv4Addr, count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count).map(|_| std::net::TcpListener::bind((ip, 0))).collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// `len` random bytes from the kernel, as lowercase hex (`2 * len` chars).
pub fn random_hex(len: usize) -> std::io::Result<String> {
    let mut bytes = vec![0_u8; len];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Finds an executable named `name` on `PATH` or in `extra` directories
/// (searched after `PATH`, in order).
pub fn find_executable(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(extra.iter().cloned()).map(|dir| dir.join(name)).find(|candidate| {
        use std::os::unix::fs::PermissionsExt as _;
        candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_process_is_stopped_and_its_log_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sleep.log");
        let mut command = Command::new("sh");
        command.arg("-c").arg("echo started; exec sleep 30");
        let mut process = Supervised::spawn("sleep", &mut command, &log, StopSignal::Term).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while process.log_tail() != "started" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(process.exited().is_none());
        let started = Instant::now();
        let status = process.stop(Duration::from_secs(5)).expect("reaped");
        assert!(!status.success(), "stopped by a signal");
        assert!(started.elapsed() < Duration::from_secs(5), "SIGTERM was enough");
        assert_eq!(process.log_tail(), "started");
        drop(process);
    }

    #[test]
    fn a_paused_process_still_stops_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut process =
            Supervised::spawn("sleep", &mut command, &dir.path().join("sleep.log"), StopSignal::Term).unwrap();
        assert!(process.pause() && process.is_paused());
        let started = Instant::now();
        assert!(process.stop(Duration::from_secs(5)).is_some());
        assert!(started.elapsed() < Duration::from_secs(5), "SIGTERM reached it without waiting for SIGKILL");
        assert!(!process.is_paused());
        assert!(!process.pause(), "an exited process cannot be paused");
    }

    #[test]
    fn ports_are_distinct_and_tokens_random() {
        let ports = free_ports(6).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6);
        let (a, b) = (random_hex(16).unwrap(), random_hex(16).unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        let other = Ipv4Addr::new(127, 0, 0, 3);
        assert_eq!(free_ports_on(other, 2).unwrap().len(), 2, "another loopback address is usable");
    }

    #[test]
    fn executables_are_found_on_the_path() {
        assert!(find_executable("sh", &[]).is_some());
        assert!(find_executable("no-such-program-anywhere", &[]).is_none());
    }
}

//! Work that must not compete with the write path for the CPU: a
//! snapshot's encoding.
//!
//! Encoding a snapshot walks the whole state: 4-5 s of CPU at about
//! 750,000 holds, on every replica at about the same log index. At the
//! lowest priority (nice 19) it should take only the CPU the write path
//! leaves, and is still never starved outright, so a snapshot always
//! completes. Measured so far (`bench --duration 60 --rate 15000`, which
//! crosses the default `snapshot_every` of 50,000 entries): calls still
//! slow or stall around snapshots at this priority, while the encoders
//! take 10-65% of a core each, so the write path is then waiting on
//! something other than the CPU; that cause is not found yet.

use std::io;

/// The nice value background threads run at: the lowest priority.
const BACKGROUND_NICE: i32 = 19;

/// Runs `work` on a new thread named `name`, at the lowest CPU priority,
/// and returns what it returns.
pub(crate) async fn run<T: Send + 'static>(name: &str, work: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        lower_priority();
        // The waiting task may be gone (its node stopping); nothing to do then.
        let _ = done.send(work());
    })?;
    result.await.map_err(|_| io::Error::other(format!("the {name} thread panicked")))
}

/// Gives the calling thread the lowest CPU priority. On Linux a thread has
/// its own nice value, so this lowers only the calling thread. Failing to
/// only costs latency, so it is logged, not returned.
#[cfg(target_os = "linux")]
fn lower_priority() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), BACKGROUND_NICE) {
        tracing::warn!(%error, "could not lower a background thread's CPU priority");
    }
}

/// Elsewhere the thread keeps the default priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[tokio::test]
    async fn the_work_runs_at_the_lowest_priority_and_the_caller_keeps_its_own() {
        let before = own_nice();
        assert_eq!(run("test-background", own_nice).await.unwrap(), BACKGROUND_NICE);
        assert_eq!(own_nice(), before, "only the background thread was lowered");
    }

    #[tokio::test]
    async fn a_panic_in_the_work_is_an_error() {
        let error = run("test-background", || -> () { panic!("boom") }).await.unwrap_err();
        assert!(error.to_string().contains("test-background thread panicked"), "{error}");
    }
}

//! Work that must not compete with the write path for the CPU: encoding
//! and storing a snapshot.
//!
//! Encoding a snapshot walks the whole state: seconds of CPU at hundreds
//! of thousands of holds; storing it compresses and writes 100 MB.
//! It runs in Linux's idle scheduling class (`SCHED_IDLE`): a thread
//! that wants the core takes it at once, so the work gets only the CPU
//! the write path leaves, and is still never starved outright, so a
//! snapshot always completes. That is the right class for it, but not a
//! cure: measured with `bench --duration 60 --rate 15000` on the 2-core
//! development VM, an encoder took 0.6-0.8 of a core while calls queued,
//! in this class as at nice 19, and two idle-class busy loops of another
//! process slowed the same load from p99 13.7 ms to 48 ms (one 8 s run
//! each). The write path
//! then waits on something below the scheduler's classes. What helps is
//! less of this work (see `snapshot_schedule`) and spreading it out: a
//! [`DutyCycle`] keeps a thread to a quarter of the time, and a busy loop
//! paced that way left the same load's p99 where it was without one
//! (21.7 and 16.0 ms against 20.4 and 17.6 ms; a busy loop unpaced: 72.6
//! and 30.2 ms).

use std::io;
use std::time::{Duration, Instant};

/// A paced thread runs one part of the time in this many.
const PARTS: u32 = 4;
/// The shortest run a pause sleeps after: shorter sleeps cost more in
/// wake-ups than they spread.
const MIN_RUN: Duration = Duration::from_millis(2);

/// Runs `work` on a new thread named `name`, in the idle scheduling class,
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

/// Spreads a background thread's work over time: between pieces of work,
/// [`DutyCycle::pause`] sleeps three times as long as the thread ran since
/// the last pause, so it runs at most a quarter of the time. Time it was
/// kept waiting for the CPU counts as running: under load it sleeps more.
#[derive(Debug)]
pub(crate) struct DutyCycle {
    since: Instant,
}

impl DutyCycle {
    /// Starts counting now.
    pub(crate) fn new() -> Self {
        Self { since: Instant::now() }
    }

    /// Sleeps if the thread has run at least [`MIN_RUN`] since the last pause.
    pub(crate) fn pause(&mut self) {
        let ran = self.since.elapsed();
        if ran >= MIN_RUN {
            std::thread::sleep(ran * (PARTS - 1));
            self.since = Instant::now();
        }
    }
}

/// Moves the calling thread, and only it, into the idle scheduling class.
/// Failing to only costs latency, so it is logged, not returned.
#[cfg(target_os = "linux")]
fn lower_priority() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(error) =
        thread_priority::set_thread_priority_and_policy(thread_priority::thread_native_id(), ThreadPriority::Min, idle)
    {
        tracing::warn!(?error, "could not move a background thread into the idle scheduling class");
    }
}

/// Elsewhere the thread keeps the default priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};

    use super::*;

    fn own_policy() -> ThreadSchedulePolicy {
        thread_priority::thread_schedule_policy().unwrap()
    }

    #[tokio::test]
    async fn the_work_runs_in_the_idle_class_and_the_caller_keeps_its_own() {
        let before = own_policy();
        assert_eq!(
            run("test-background", own_policy).await.unwrap(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
        assert_eq!(own_policy(), before, "only the background thread was moved");
    }

    #[test]
    fn a_paced_thread_sleeps_three_times_as_long_as_it_ran() {
        let started = Instant::now();
        let mut duty = DutyCycle::new();
        let mut busy = Duration::ZERO;
        for _ in 0..5 {
            let piece = Instant::now();
            while piece.elapsed() < Duration::from_millis(3) {
                std::hint::spin_loop();
            }
            busy += piece.elapsed();
            duty.pause();
        }
        assert!(started.elapsed() >= busy * PARTS, "{:?} for {busy:?} of work", started.elapsed());
        // Pieces shorter than the minimum run are not paused after one by one.
        let short = Instant::now();
        let mut duty = DutyCycle::new();
        duty.pause();
        assert!(short.elapsed() < MIN_RUN * PARTS);
    }

    #[tokio::test]
    async fn a_panic_in_the_work_is_an_error() {
        let error = run("test-background", || -> () { panic!("boom") }).await.unwrap_err();
        assert!(error.to_string().contains("test-background thread panicked"), "{error}");
    }
}

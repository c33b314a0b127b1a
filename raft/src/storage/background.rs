//! Work that must not compete with the write path for the CPU: encoding
//! and storing a snapshot.
//!
//! Encoding a snapshot walks the whole state: seconds of CPU at hundreds
//! of thousands of holds; storing it compresses and writes 100 MB.
//! It runs in Linux's idle scheduling class (`SCHED_IDLE`): a thread of
//! the write path that wakes takes the core from it at once, so the
//! encoding gets only the CPU the write path leaves, and is still never
//! starved outright, so a snapshot always completes. Nice 19 was not
//! enough: measured with `bench --duration 60 --rate 15000`, the three
//! encoders then took about 0.9 of the machine's 2 cores while the write
//! path had work, and calls queued for hundreds of milliseconds, because
//! the scheduler lets a running thread finish its time slice before a
//! woken one of higher priority runs.

use std::io;

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

    #[tokio::test]
    async fn a_panic_in_the_work_is_an_error() {
        let error = run("test-background", || -> () { panic!("boom") }).await.unwrap_err();
        assert!(error.to_string().contains("test-background thread panicked"), "{error}");
    }
}

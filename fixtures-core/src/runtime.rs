//! The background runtime that owns suite-lived async work.
//!
//! Each `#[tokio::test]` has its own runtime, which ends with the test; resources set up for
//! many tests (a container, a server, a connection used at teardown) must not live on it.
//! Setups and teardowns run here, on a runtime that lives until the process exits.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};

/// The handle of the core's background runtime (created on first use).
///
/// # Panics
///
/// If the operating system refuses to start the runtime's threads.
pub fn handle() -> &'static Handle {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        RUNTIME
            .get_or_init(|| {
                Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("fixtures-bg")
                    .on_thread_start(crate::report::log_this_thread)
                    .enable_all()
                    .build()
                    .expect("fixtures-core: cannot start the background tokio runtime")
            })
            .handle()
            .clone()
    })
}

/// Why a piece of work given a deadline did not return a value.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// It did not finish in time (it may still be running).
    TimedOut,
    /// It panicked; the panic's message.
    Panicked(String),
}

/// Runs blocking `work` on the background runtime's blocking pool (so it has a runtime context
/// and may `Handle::current().block_on(...)`), waiting at most `deadline` for it.
///
/// Safe to call from any thread, including inside another runtime's worker.
pub(crate) fn blocking_with_deadline<R: Send + 'static>(
    deadline: Duration,
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Stopped> {
    let (tx, rx) = mpsc::sync_channel(1);
    handle().spawn_blocking(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = tx.send(out);
    });
    match rx.recv_timeout(deadline) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(panic)) => Err(Stopped::Panicked(panic_message(&*panic))),
        Err(_) => Err(Stopped::TimedOut),
    }
}

/// Runs `fut` on the background runtime and waits for it from this thread (which may belong to
/// another runtime), at most `deadline`.
pub(crate) fn block_on_with_deadline<F>(deadline: Duration, fut: F) -> Result<F::Output, Stopped>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    handle().spawn(async move {
        let _ = tx.send(fut.await);
    });
    match rx.recv_timeout(deadline) {
        Ok(value) => Ok(value),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Stopped::TimedOut),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(Stopped::Panicked("the task panicked".into()))
        }
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_work_returns_its_value_or_times_out() {
        assert_eq!(
            blocking_with_deadline(Duration::from_secs(5), || 7).unwrap(),
            7
        );
        let slow = blocking_with_deadline(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(500));
        });
        assert!(matches!(slow, Err(Stopped::TimedOut)));
    }

    #[test]
    fn a_panic_in_blocking_work_is_caught_with_its_message() {
        let out = blocking_with_deadline(Duration::from_secs(5), || panic!("boom"));
        assert!(matches!(out, Err(Stopped::Panicked(m)) if m == "boom"));
    }

    #[tokio::test]
    async fn background_work_can_be_awaited_from_inside_another_runtime() {
        let v = block_on_with_deadline(Duration::from_secs(5), async { 40 + 2 }).unwrap();
        assert_eq!(v, 42);
    }
}

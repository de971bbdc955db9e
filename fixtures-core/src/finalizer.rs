//! Process-level finalizers: run in reverse order of registration, each with a deadline.
//!
//! Every live fixture instance registers one when it is set up and cancels it when it is torn
//! down normally; what is still registered when the process ends (normal exit,
//! `std::process::exit`, SIGINT/SIGTERM/SIGHUP) runs then. Other crates register their own
//! (e.g. releasing a cross-process lease).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::Config;
use crate::runtime::{self, Stopped};

type Work = Box<dyn FnOnce() + Send + 'static>;

struct Entry {
    id: u64,
    name: String,
    work: Work,
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A registered finalizer; dropping the handle leaves it registered.
#[derive(Debug)]
#[must_use = "dropping the handle keeps the finalizer registered until exit"]
pub struct FinalizerHandle {
    id: u64,
}

/// Registers `work` to run at process exit (or earlier through its handle).
///
/// Finalizers run in reverse order of registration, each on the core's background runtime
/// (so it may `Handle::current().block_on(...)`) with the `FIXTURES_TEARDOWN_TIMEOUT`
/// deadline; one that fails, panics or hangs is logged and does not stop the others.
///
/// # Examples
///
/// ```
/// let handle = fixtures_core::finalizer::register("say goodbye", || eprintln!("bye"));
/// assert!(handle.run_now()); // runs it at once instead of at exit
/// ```
pub fn register(name: impl Into<String>, work: impl FnOnce() + Send + 'static) -> FinalizerHandle {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    ENTRIES.lock().push(Entry {
        id,
        name: name.into(),
        work: Box::new(work),
    });
    crate::exit::install_signal_handlers();
    FinalizerHandle { id }
}

impl FinalizerHandle {
    fn take(&self) -> Option<Entry> {
        let mut entries = ENTRIES.lock();
        let pos = entries.iter().rposition(|e| e.id == self.id)?;
        Some(entries.remove(pos))
    }

    /// Unregisters the finalizer without running it; false if it already ran.
    pub fn cancel(self) -> bool {
        self.take().is_some()
    }

    /// Runs the finalizer now (with its deadline) and unregisters it; false if it already ran.
    pub fn run_now(self) -> bool {
        match self.take() {
            Some(entry) => {
                run_guarded(
                    &entry.name,
                    entry.work,
                    Config::or_default().teardown_timeout,
                );
                true
            }
            None => false,
        }
    }
}

/// How many finalizers are registered now.
pub fn pending() -> usize {
    ENTRIES.lock().len()
}

/// Runs every registered finalizer, newest first, each with its deadline, stopping early (and
/// leaving the rest) once `overall` has passed. Returns how many ran.
pub(crate) fn run_all(trigger: &str, overall: Option<Instant>) -> usize {
    let each = Config::or_default().teardown_timeout;
    let mut ran = 0;
    loop {
        // Taken one at a time: a finalizer may register or cancel others while it runs.
        let Some(entry) = ENTRIES.lock().pop() else {
            break;
        };
        let deadline = match overall {
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    crate::report::problem(&format!(
                        "finalizer `{}` not run: the {trigger} deadline has passed",
                        entry.name
                    ));
                    continue;
                }
                left.min(each)
            }
            None => each,
        };
        tracing::debug!(finalizer = %entry.name, trigger, "running finalizer");
        run_guarded(&entry.name, entry.work, deadline);
        ran += 1;
    }
    ran
}

/// Runs `work` with a deadline, logging (never propagating) a panic or a timeout.
pub(crate) fn run_guarded(name: &str, work: Work, deadline: Duration) {
    match runtime::blocking_with_deadline(deadline, work) {
        Ok(()) => {}
        Err(Stopped::TimedOut) => crate::report::problem(&format!(
            "finalizer `{name}` did not finish within {deadline:?}; left running, moving on"
        )),
        Err(Stopped::Panicked(msg)) => {
            crate::report::problem(&format!("finalizer `{name}` panicked: {msg}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    #[serial_test::serial(finalizers)]
    fn run_all_runs_newest_first_and_survives_panics() {
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..3 {
            let order = order.clone();
            let _ = register(format!("f{i}"), move || order.lock().push(i));
        }
        let _ = register("panics", || panic!("finalizer failure"));
        let cancelled = register("cancelled", || unreachable!());
        assert!(cancelled.cancel());
        let ran = run_all("test", None);
        assert_eq!(ran, 4);
        assert_eq!(*order.lock(), vec![2, 1, 0]);
        assert_eq!(pending(), 0);
    }

    #[test]
    #[serial_test::serial(finalizers)]
    fn a_hanging_finalizer_is_abandoned_at_the_overall_deadline() {
        let done = Arc::new(Mutex::new(false));
        let d = done.clone();
        let _ = register("after", move || *d.lock() = true);
        let _ = register("hangs", || std::thread::sleep(Duration::from_secs(5)));
        let start = Instant::now();
        run_all("test", Some(Instant::now() + Duration::from_millis(200)));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        // The hanging one used up the deadline; the one registered before it was skipped.
        assert!(!*done.lock());
        assert_eq!(pending(), 0);
    }

    #[test]
    #[serial_test::serial(finalizers)]
    fn run_now_runs_once() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let h = register("once", move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert!(h.run_now());
        run_all("test", None);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }
}

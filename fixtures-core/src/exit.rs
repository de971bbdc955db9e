//! The backstops that run what is left at process end: an exit hook and a signal thread.
//!
//! Reference counting tears instances down while tests run; what is still alive when the
//! process ends is torn down here:
//! - normal exit and `std::process::exit` (also from a test thread): a `#[dtor]` hook;
//! - SIGINT, SIGTERM and SIGHUP: a thread that runs the finalizers within
//!   `FIXTURES_SIGNAL_DEADLINE`, then exits with 128 + the signal (a second signal exits at once);
//! - a test process of a run owned by another process (nextest's runner) whose owner dies: the
//!   run is over and nobody will read the result, so it ends itself as on SIGHUP. (SIGKILL to
//!   nextest does not reach a test process in its own process group.)
//!
//! After `main` only what is safe there happens: no panics escape, output goes straight to
//! stderr, and async work runs on the core's own runtime, created if needed. SIGKILL cannot be
//! caught: a watchdog outside the process covers it (see fixtures-docker).
#![allow(unsafe_code)]

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config::{Config, flag};
use crate::{finalizer, identity, report};

#[dtor::dtor(unsafe)]
fn fixtures_core_at_exit() {
    on_exit();
}

fn on_exit() {
    if identity::is_listing() {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        if finalizer::pending() > 0 {
            finalizer::run_all("process exit", None);
        }
        report::at_exit();
    });
}

/// Starts the signal thread (once, on first registration of a finalizer).
pub(crate) fn install_signal_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if identity::is_listing() || flag("FIXTURES_NO_SIGNAL_HANDLERS") {
            return;
        }
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(s) => s,
            Err(e) => {
                report::problem(&format!("cannot watch SIGINT/SIGTERM/SIGHUP: {e}"));
                return;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("fixtures-signals".into())
            .spawn(move || {
                let mut seen = false;
                for sig in signals.forever() {
                    let code = 128 + sig;
                    if seen {
                        report::problem("second signal: exiting without waiting for finalizers");
                        hard_exit(code);
                    }
                    seen = true;
                    on_signal(sig, code);
                }
            });
        if let Err(e) = spawned {
            report::problem(&format!("cannot start the signal thread: {e}"));
        }
        watch_the_run_owner();
    });
}

/// Under nextest (or any run owned by another process), ends this process when the run's
/// owner dies: a killed runner leaves its test processes orphaned, holding servers and
/// containers for a run that is over.
fn watch_the_run_owner() {
    let owner = crate::watchdog::run_owner();
    if owner == crate::watchdog::ProcessRef::current()
        || std::env::var_os("FIXTURES_ROLE").is_some()
    {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("fixtures-owner-watch".into())
        .spawn(move || {
            while owner.is_alive() {
                std::thread::sleep(Duration::from_millis(200));
            }
            shut_down(
                "run owner gone",
                &format!("the run's owner (the test runner, {owner}) is gone"),
                128 + SIGHUP,
            );
        });
    if let Err(e) = spawned {
        report::problem(&format!("cannot watch the run's owner: {e}"));
    }
}

fn on_signal(sig: i32, code: i32) {
    let name = match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "SIGHUP",
    };
    shut_down(name, &format!("{name} received"), code);
}

/// Runs the finalizers (within the signal deadline) on a thread of their own, then exits with
/// `code`; exits anyway when they overrun the deadline.
fn shut_down(trigger: &'static str, why: &str, code: i32) {
    let name = trigger;
    let deadline = Config::or_default().signal_deadline;
    report::problem(&format!(
        "{why}: running finalizers (deadline {deadline:?}), then exiting with {code}"
    ));
    let end = Instant::now() + deadline;
    let _ = std::thread::Builder::new()
        .name("fixtures-signal-cleanup".into())
        .spawn(move || {
            finalizer::run_all(name, Some(end));
            report::at_exit();
            exit_once(code);
        });
    let _ = std::thread::Builder::new()
        .name("fixtures-signal-deadline".into())
        .spawn(move || {
            std::thread::sleep(deadline + Duration::from_secs(2));
            report::problem("finalizers overran the signal deadline: exiting now");
            hard_exit(code);
        });
}

/// `std::process::exit`, at most once (exit is not safe to call from two threads at once).
fn exit_once(code: i32) {
    static EXITING: AtomicBool = AtomicBool::new(false);
    if !EXITING.swap(true, Ordering::SeqCst) {
        std::process::exit(code);
    }
}

fn hard_exit(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it ends the process at once without running exit
    // handlers, which is the point here (one of them is hung, or the user insisted).
    unsafe { libc::_exit(code) }
}

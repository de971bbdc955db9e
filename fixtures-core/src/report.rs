//! What the user sees: logs, problems at exit, and the per-fixture timings report.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Once;
use std::time::Duration;

use crate::config::flag;
use crate::registry::{self, FixtureMeta, StatsSnapshot};

/// Installs a `tracing` subscriber writing to stderr when `FIXTURES_LOG` is set (an
/// `EnvFilter` directive such as `debug` or `fixtures_core=trace`). Called on first setup.
///
/// When the program installed a subscriber of its own first, that one stays the global one,
/// and the framework's own threads (the background runtime, where setups and teardowns run)
/// write to stderr anyway: `FIXTURES_LOG` works whatever the app does with `tracing`.
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Some(ours) = own_dispatch() {
            let _ = tracing::dispatcher::set_global_default(ours.clone());
        }
    });
}

/// The stderr subscriber `FIXTURES_LOG` asks for; `None` when it is not set.
pub(crate) fn own_dispatch() -> Option<&'static tracing::Dispatch> {
    static OURS: std::sync::OnceLock<Option<tracing::Dispatch>> = std::sync::OnceLock::new();
    OURS.get_or_init(|| {
        let filter = std::env::var("FIXTURES_LOG").ok()?;
        let filter = tracing_subscriber::EnvFilter::try_new(&filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .finish();
        Some(tracing::Dispatch::new(subscriber))
    })
    .as_ref()
}

/// Sends what the current thread logs to [`own_dispatch`] until the guard is dropped (around
/// a setup or a teardown on a test's thread), whatever the global subscriber is.
pub(crate) fn logging_here() -> Option<tracing::dispatcher::DefaultGuard> {
    own_dispatch().map(tracing::dispatcher::set_default)
}

/// Makes the current thread (one of the framework's own) log to [`own_dispatch`] for the rest
/// of its life, whatever the global subscriber is.
pub(crate) fn log_this_thread() {
    if let Some(ours) = own_dispatch() {
        std::mem::forget(tracing::dispatcher::set_default(ours));
    }
}

/// Reports a problem that must not stop anything (a failed finalizer, a timeout at exit):
/// as a `tracing` warning, and on stderr.
pub(crate) fn problem(msg: &str) {
    tracing::warn!("{msg}");
    let _ = writeln!(std::io::stderr(), "fixtures: {msg}");
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct ReportRow {
    /// The fixture's declaration.
    pub meta: &'static FixtureMeta,
    /// Its counters.
    pub stats: StatsSnapshot,
}

/// The fixtures used in this process and their counters.
pub fn rows() -> Vec<ReportRow> {
    let mut rows: Vec<ReportRow> = registry::registered()
        .map(|meta| ReportRow {
            meta,
            stats: meta.stats(),
        })
        .filter(|r| r.stats.leases > 0 || r.stats.failures > 0)
        .collect();
    rows.sort_by(|a, b| {
        (b.stats.setup_time + b.stats.teardown_time)
            .cmp(&(a.stats.setup_time + a.stats.teardown_time))
    });
    rows
}

/// A fixture's name with the last two segments of its module (`pg::test_scope::db`).
pub fn qualified_name(meta: &FixtureMeta) -> String {
    let segments: Vec<&str> = meta.module_path.split("::").collect();
    let tail = &segments[segments.len().saturating_sub(2)..];
    format!("{}::{}", tail.join("::"), meta.name)
}

/// The timings report as a table (like pytest's `--setup-show` and `--durations`): a
/// fixture's own setup time, apart from the time its setups waited for their dependencies.
pub fn render(rows: &[ReportRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40} {:<7} {:>6} {:>9} {:>6} {:>12} {:>12} {:>12} {:>12}",
        "fixture",
        "scope",
        "setups",
        "teardowns",
        "users",
        "setup ms",
        "median ms",
        "waited ms",
        "teardown ms"
    );
    for r in rows {
        let s = &r.stats;
        let _ = writeln!(
            out,
            "{:<40} {:<7} {:>6} {:>9} {:>6} {:>12.1} {:>12.2} {:>12.1} {:>12.1}{}",
            qualified_name(r.meta),
            r.meta.scope.as_str(),
            s.setups,
            s.teardowns,
            s.leases,
            s.setup_time.as_secs_f64() * 1e3,
            median(&r.meta.setup_samples()).as_secs_f64() * 1e3,
            s.waited_time.as_secs_f64() * 1e3,
            s.teardown_time.as_secs_f64() * 1e3,
            if s.failures > 0 {
                format!("  ({} failed)", s.failures)
            } else {
                String::new()
            }
        );
    }
    out
}

/// One line of JSON per row (for aggregating the reports of many processes).
pub fn json_lines(rows: &[ReportRow]) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::new();
    for r in rows {
        let s = &r.stats;
        let _ = writeln!(
            out,
            "{{\"run\":\"{}\",\"pid\":{},\"fixture\":\"{}\",\"module\":\"{}\",\"scope\":\"{}\",\
             \"setups\":{},\"failures\":{},\"teardowns\":{},\"leases\":{},\
             \"setup_ms\":{:.3},\"waited_ms\":{:.3},\"teardown_ms\":{:.3},\
             \"setup_samples_ms\":[{}]}}",
            esc(crate::identity::run_id()),
            std::process::id(),
            esc(r.meta.name),
            esc(r.meta.module_path),
            r.meta.scope.as_str(),
            s.setups,
            s.failures,
            s.teardowns,
            s.leases,
            s.setup_time.as_secs_f64() * 1e3,
            s.waited_time.as_secs_f64() * 1e3,
            s.teardown_time.as_secs_f64() * 1e3,
            r.meta
                .setup_samples()
                .iter()
                .map(|d| format!("{:.3}", d.as_secs_f64() * 1e3))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    out
}

/// The median of `samples` (zero when there are none).
fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// At exit: prints the report when `FIXTURES_REPORT=1`, appends it to `FIXTURES_REPORT_FILE`
/// when set. Once per process.
pub(crate) fn at_exit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let rows = rows();
        if rows.is_empty() {
            return;
        }
        if flag("FIXTURES_REPORT") {
            let _ = write!(
                std::io::stderr(),
                "\nfixture timings (this process)\n{}",
                render(&rows)
            );
        }
        if let Ok(path) = std::env::var("FIXTURES_REPORT_FILE") {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(json_lines(&rows).as_bytes()));
            if let Err(e) = written {
                problem(&format!("cannot append the fixture report to {path}: {e}"));
            }
        }
    });
}

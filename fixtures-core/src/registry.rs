//! Fixture declarations, registered through `inventory`, and their counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::scope::Scope;

/// What a `#[fixture]` declares: its name, scope and place, plus counters for the report.
///
/// Built by the `#[fixture]` attribute; not meant to be written by hand.
#[derive(Debug)]
pub struct FixtureMeta {
    /// The fixture's name (the function's name).
    pub name: &'static str,
    /// Its scope.
    pub scope: Scope,
    /// `module_path!()` where it is declared.
    pub module_path: &'static str,
    /// `file!()` where it is declared.
    pub file: &'static str,
    /// `line!()` where it is declared.
    pub line: u32,
    pub(crate) stats: Stats,
}

impl FixtureMeta {
    /// A declaration with zeroed counters.
    pub const fn new(
        name: &'static str,
        scope: Scope,
        module_path: &'static str,
        file: &'static str,
        line: u32,
    ) -> FixtureMeta {
        FixtureMeta {
            name,
            scope,
            module_path,
            file,
            line,
            stats: Stats::new(),
        }
    }

    /// Each of its setups' own time in this process, in order (the first 100,000).
    pub fn setup_samples(&self) -> Vec<Duration> {
        self.stats.samples()
    }

    /// A snapshot of this fixture's counters in this process.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
}

/// Counters kept per fixture.
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) setups: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) teardowns: AtomicU64,
    pub(crate) leases: AtomicU64,
    pub(crate) setup_nanos: AtomicU64,
    pub(crate) waited_nanos: AtomicU64,
    pub(crate) teardown_nanos: AtomicU64,
    /// Each setup's own time, in microseconds (the first [`Stats::MAX_SAMPLES`]): medians
    /// and tails, which a mean hides (a lane's first turn costs 10× a later one).
    pub(crate) samples: parking_lot::Mutex<Vec<u32>>,
}

impl Stats {
    const fn new() -> Stats {
        Stats {
            setups: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            teardowns: AtomicU64::new(0),
            leases: AtomicU64::new(0),
            setup_nanos: AtomicU64::new(0),
            waited_nanos: AtomicU64::new(0),
            teardown_nanos: AtomicU64::new(0),
            samples: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// At most this many setup times are kept per fixture and process.
    pub(crate) const MAX_SAMPLES: usize = 100_000;

    /// Counts a setup of its own time `own`.
    pub(crate) fn add_setup(&self, own: Duration) {
        let mut samples = self.samples.lock();
        if samples.len() < Self::MAX_SAMPLES {
            samples.push(u32::try_from(own.as_micros()).unwrap_or(u32::MAX));
        }
    }

    pub(crate) fn add_time(counter: &AtomicU64, d: Duration) {
        counter.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            setups: self.setups.load(Relaxed),
            failures: self.failures.load(Relaxed),
            teardowns: self.teardowns.load(Relaxed),
            leases: self.leases.load(Relaxed),
            setup_time: Duration::from_nanos(self.setup_nanos.load(Relaxed)),
            waited_time: Duration::from_nanos(self.waited_nanos.load(Relaxed)),
            teardown_time: Duration::from_nanos(self.teardown_nanos.load(Relaxed)),
        }
    }

    fn samples(&self) -> Vec<Duration> {
        let samples = self.samples.lock();
        samples
            .iter()
            .map(|&us| Duration::from_micros(u64::from(us)))
            .collect()
    }
}

/// One fixture's counters at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Successful setups (instances created).
    pub setups: u64,
    /// Failed setups.
    pub failures: u64,
    /// Instances torn down.
    pub teardowns: u64,
    /// Leases handed out (the number of users).
    pub leases: u64,
    /// Total time spent in setups, its own work only.
    pub setup_time: Duration,
    /// Total time its setups waited for their dependencies (a server starting, say): not in
    /// `setup_time`.
    pub waited_time: Duration,
    /// Total time spent in teardowns.
    pub teardown_time: Duration,
}

/// The `inventory` item each `#[fixture]` submits.
#[derive(Debug)]
pub struct Registration(pub &'static FixtureMeta);

inventory::collect!(Registration);

/// Every fixture declared in this binary (including those of linked library crates).
pub fn registered() -> impl Iterator<Item = &'static FixtureMeta> {
    inventory::iter::<Registration>.into_iter().map(|r| r.0)
}

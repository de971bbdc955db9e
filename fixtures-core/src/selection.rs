//! Which tests will run in this process, and which have finished: what module scope needs to
//! tear a module's instance down right after the module's last test.
//!
//! libtest computes the selection itself: the binary is asked once, with its own filter
//! arguments (name filters, `--exact`, `--skip`, `--ignored`, `--include-ignored`) and `--list`,
//! which tests it would run. A test has finished when the last lease it holds on any fixture is
//! released (rstest drops a test's arguments when it ends, also when it panics).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::identity::module_of;

/// What a module-scoped fixture registers to hear that a module has finished.
pub(crate) trait ModuleListener: Sync {
    fn module_finished(&'static self, module: &str);
}

#[derive(Default)]
struct Tracker {
    /// Leases held by each running test.
    active: HashMap<Arc<str>, usize>,
    /// Tests whose leases all went back.
    finished: HashSet<Arc<str>>,
    /// Per module, the selected tests not finished yet (`None` until first needed).
    pending: Option<HashMap<String, HashSet<String>>>,
    listeners: Vec<&'static dyn ModuleListener>,
}

static TRACKER: Mutex<Option<Tracker>> = Mutex::new(None);
static FAILED: Mutex<Vec<Arc<str>>> = Mutex::new(Vec::new());

/// Records that `test` failed (one of its leases was dropped while it panicked).
pub(crate) fn mark_failed(test: &Arc<str>) {
    let mut failed = FAILED.lock();
    if !failed.iter().any(|t| t == test) {
        failed.push(test.clone());
    }
}

/// True when the test (by its full path) has failed by panicking in this process: its
/// fixture leases were given back while it unwound. Teardown code uses it to keep what a
/// failed test leaves for debugging.
pub fn test_failed(test: &str) -> bool {
    FAILED.lock().iter().any(|t| &**t == test)
}

fn with<R>(f: impl FnOnce(&mut Tracker) -> R) -> R {
    f(TRACKER.lock().get_or_insert_with(Tracker::default))
}

/// A module-scoped fixture asks to hear about finished modules (once per fixture).
pub(crate) fn listen(listener: &'static dyn ModuleListener) {
    with(|t| t.listeners.push(listener));
}

pub(crate) fn test_acquired(test: &Arc<str>) {
    with(|t| *t.active.entry(test.clone()).or_default() += 1);
}

pub(crate) fn test_released(test: &Arc<str>) {
    let notify = with(|t| {
        let count = t.active.get_mut(test)?;
        *count -= 1;
        if *count > 0 {
            return None;
        }
        t.active.remove(test);
        t.finished.insert(test.clone());
        let module = module_of(test);
        let pending = t.pending.as_mut()?.get_mut(module)?;
        pending.remove(&**test);
        pending
            .is_empty()
            .then(|| (module.to_owned(), t.listeners.clone()))
    });
    if let Some((module, listeners)) = notify {
        tracing::debug!(module, "last selected test of the module finished");
        for l in listeners {
            l.module_finished(&module);
        }
    }
}

/// True once every test of `module` that runs in this process has finished.
/// False when the selection is unknown (the module then lives until exit).
pub(crate) fn module_finished(module: &str) -> bool {
    let selection = selected_tests();
    with(|t| {
        let finished = &t.finished;
        let pending = t.pending.get_or_insert_with(|| {
            let mut map: HashMap<String, HashSet<String>> = HashMap::new();
            for test in selection.iter().flatten() {
                if !finished.contains(test.as_str()) {
                    map.entry(module_of(test).to_owned())
                        .or_default()
                        .insert(test.clone());
                }
            }
            map
        });
        selection.is_some() && pending.get(module).is_none_or(HashSet::is_empty)
    })
}

/// The tests this process will run, as libtest selects them; `None` if that cannot be told.
pub fn selected_tests() -> &'static Option<Vec<String>> {
    static SELECTED: OnceLock<Option<Vec<String>>> = OnceLock::new();
    SELECTED.get_or_init(|| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let filter = Filter::parse(&args);
        if let Some(name) = filter.single_exact() {
            return Some(vec![name.to_owned()]);
        }
        let listed = match filter.ignored {
            Ignored::Include => list(&filter.list_args(false)),
            Ignored::Only => list(&filter.list_args(true)),
            Ignored::Skip => {
                let all = list(&filter.list_args(false));
                let ignored = list(&filter.list_args(true));
                all.zip(ignored).map(|(all, ignored)| {
                    let ignored: HashSet<String> = ignored.into_iter().collect();
                    all.into_iter().filter(|t| !ignored.contains(t)).collect()
                })
            }
        };
        if listed.is_none() {
            tracing::warn!(
                "could not list this binary's tests; module fixtures will be torn down at exit"
            );
        }
        listed
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Ignored {
    Skip,
    Only,
    Include,
}

/// The test binary's own filter arguments.
#[derive(Debug)]
struct Filter {
    names: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    ignored: Ignored,
}

impl Filter {
    fn parse(args: &[String]) -> Filter {
        // libtest options that take a value, so that the value is not read as a name filter.
        const WITH_VALUE: &[&str] = &[
            "--format",
            "--test-threads",
            "--color",
            "--logfile",
            "-Z",
            "--shuffle-seed",
        ];
        let mut f = Filter {
            names: Vec::new(),
            skips: Vec::new(),
            exact: false,
            ignored: Ignored::Skip,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--exact" => f.exact = true,
                "--ignored" => f.ignored = Ignored::Only,
                "--include-ignored" => f.ignored = Ignored::Include,
                "--skip" => f.skips.extend(it.next().cloned()),
                s if s.starts_with("--skip=") => f.skips.push(s["--skip=".len()..].to_owned()),
                s if WITH_VALUE.contains(&s) => {
                    it.next();
                }
                s if s.starts_with('-') => {}
                s => f.names.push(s.to_owned()),
            }
        }
        f
    }

    /// nextest runs each test as `--exact NAME`: then the selection is that one test.
    fn single_exact(&self) -> Option<&str> {
        (self.exact && self.names.len() == 1 && self.skips.is_empty())
            .then(|| self.names[0].as_str())
    }

    fn list_args(&self, ignored_only: bool) -> Vec<String> {
        let mut args = vec!["--list".to_owned(), "--format".into(), "terse".into()];
        if self.exact {
            args.push("--exact".into());
        }
        if ignored_only {
            args.push("--ignored".into());
        }
        for s in &self.skips {
            args.push("--skip".into());
            args.push(s.clone());
        }
        args.extend(self.names.iter().cloned());
        args
    }
}

/// Runs this binary with `args` (which include `--list`) and reads the test names it prints.
fn list(args: &[String]) -> Option<Vec<String>> {
    let exe = std::env::current_exe().ok()?;
    let mut child = Command::new(exe)
        .args(args)
        .env("FIXTURES_LISTING", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let out = reader.join().ok()?.ok()?;
    status.success().then(|| parse_terse_list(&out))
}

fn parse_terse_list(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn filters_skip_option_values() {
        let f = Filter::parse(&args(
            "--test-threads 4 alpha --skip beta --format pretty gamma",
        ));
        assert_eq!(f.names, ["alpha", "gamma"]);
        assert_eq!(f.skips, ["beta"]);
        assert_eq!(f.ignored, Ignored::Skip);
    }

    #[test]
    fn nextest_style_arguments_select_one_test() {
        let f = Filter::parse(&args("--exact m::t --nocapture"));
        assert_eq!(f.single_exact(), Some("m::t"));
        let f = Filter::parse(&args("--exact m::t --skip x"));
        assert_eq!(f.single_exact(), None);
    }

    #[test]
    fn ignored_flags_are_recognised() {
        assert_eq!(Filter::parse(&args("--ignored")).ignored, Ignored::Only);
        assert_eq!(
            Filter::parse(&args("--include-ignored x")).ignored,
            Ignored::Include
        );
    }

    #[test]
    fn list_arguments_keep_the_filters() {
        let f = Filter::parse(&args("--exact --skip=b a"));
        assert_eq!(
            f.list_args(true),
            args("--list --format terse --exact --ignored --skip b a")
        );
    }

    #[test]
    fn terse_listings_keep_tests_only() {
        let out = "a::one: test\nb::two: test\nbench_x: benchmark\n";
        assert_eq!(parse_terse_list(out), ["a::one", "b::two"]);
    }

    #[test]
    fn this_binary_lists_its_own_tests() {
        let listed = list(&args("--list --format terse terse_listings")).expect("listing works");
        assert_eq!(listed, ["selection::tests::terse_listings_keep_tests_only"]);
    }
}

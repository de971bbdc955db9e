//! The user-path benchmark (issue 18: "the same per-test cost in a user's crate as in our
//! benches"): `consumers/userpath`, a crate outside the workspace on a 200-table schema, run as
//! its user runs it — debug build, `#[tokio::test]` runtimes, two test threads, the Docker
//! backend — in every scope and both styles a suite is written in: the database injected by
//! `#[rstest]`, or leased by a `spawn_app()` helper that serves an axum app on it.
//!
//! The per-test cost is the test's `db` fixture's setup (a fresh clone in test scope, the turn
//! on the shared database in module and suite scope), each setup's own time as the test
//! process writes it to `FIXTURES_REPORT_FILE` (`setup_samples_ms`); its median and p90, not
//! the report's mean, which a lane's first turn (10× a later one) pulls up.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{IMAGE, capture, docker, executables};
use crate::report::quantile;
use crate::{Result, cargo, root};

/// The crate's folder, relative to the workspace root.
const CRATE: &str = "consumers/userpath";

/// How a suite gets its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `#[rstest] #[tokio::test] async fn t(db: Lease<TestDb>)`, the body on `db.pool()`.
    Rstest,
    /// Plain `#[tokio::test]`s calling `spawn_app(db::fixture())`: an axum app on its own
    /// pool (from `db.url()`), called over HTTP.
    SpawnApp,
}

/// The scope of the `db` fixture a suite uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Test,
    Module,
    Suite,
}

impl Style {
    fn label(self) -> &'static str {
        match self {
            Style::Rstest => "`#[rstest]`",
            Style::SpawnApp => "`spawn_app()`",
        }
    }
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Scope::Test => "test",
            Scope::Module => "module",
            Scope::Suite => "suite",
        }
    }
}

/// The test binary of a style and scope (`tests/<name>.rs`).
fn binary(style: Style, scope: Scope) -> String {
    let style = match style {
        Style::Rstest => "rstest",
        Style::SpawnApp => "helper",
    };
    format!("{style}_{}_scope", scope.label())
}

/// One run of a binary's benchmark tests.
#[derive(Debug, Clone)]
pub(crate) struct UserPathRow {
    pub(crate) style: Style,
    pub(crate) scope: Scope,
    /// How many tests ran, and how many passed.
    pub(crate) tests: usize,
    pub(crate) passed: usize,
    /// Setups of the `db` fixture, and their own time in all (ms).
    pub(crate) setups: usize,
    pub(crate) setup_ms: f64,
    /// What those setups waited for their dependencies (server, template, shared database).
    pub(crate) waited_ms: f64,
    /// Each setup's own time (ms), in the order they ended; empty when the report has no
    /// `setup_samples_ms`.
    pub(crate) samples: Vec<f64>,
    /// The run, start to exit (server start and template included).
    pub(crate) wall: Duration,
}

impl UserPathRow {
    fn mean_ms(&self) -> f64 {
        self.setup_ms / self.setups.max(1) as f64
    }
}

/// Builds the crate's test binaries (debug, as `cargo test` does), then runs each style and
/// scope's benchmark tests (`--ignored`, two test threads; 60 tests, `quick`: 10) on the
/// Docker backend, one after the other.
pub(crate) fn run(quick: bool) -> Result<Vec<UserPathRow>> {
    crate::setup::require_docker()?;
    let manifest = root().join(CRATE).join("Cargo.toml");
    let manifest = manifest
        .to_str()
        .ok_or("the workspace's path is not UTF-8")?;
    let started = Instant::now();
    let built = executables(&capture(&mut cargo(&[
        "test",
        "--no-run",
        "--tests",
        "--message-format=json-render-diagnostics",
        "--manifest-path",
        manifest,
    ]))?);
    eprintln!("built {CRATE} in {:.1}s", started.elapsed().as_secs_f64());
    let mut rows = Vec::new();
    for style in [Style::Rstest, Style::SpawnApp] {
        for scope in [Scope::Test, Scope::Module, Scope::Suite] {
            let name = binary(style, scope);
            let exe = built
                .get(&name)
                .ok_or_else(|| format!("cargo built no test binary named {name}"))?;
            rows.push(one(exe, style, scope, quick)?);
        }
    }
    Ok(rows)
}

/// The environment of a run: the Docker backend on the local image, the report file.
fn env(report: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("FIXTURES_PG_BACKEND", "docker".into()),
        ("FIXTURES_POSTGRES_IMAGE", IMAGE.into()),
        ("FIXTURES_REQUIRE_DOCKER", "1".into()),
        ("FIXTURES_REPORT_FILE", report.display().to_string()),
        ("RUST_BACKTRACE", "0".into()),
    ]
}

/// Runs one binary's benchmark tests, as `cargo test --test NAME -- --ignored --test-threads
/// 2` would (in the crate's folder), and reads its `db` fixture's setups from the report.
fn one(exe: &Path, style: Style, scope: Scope, quick: bool) -> Result<UserPathRow> {
    let name = binary(style, scope);
    let (filters, tests): (&[&str], usize) = if quick { (&["t0"], 10) } else { (&[], 60) };
    let tmp = |ext: &str| -> PathBuf {
        std::env::temp_dir().join(format!(
            "fixtures-userpath-{name}-{}.{ext}",
            std::process::id()
        ))
    };
    let (report, log) = (tmp("jsonl"), tmp("log"));
    let _ = std::fs::remove_file(&report);
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let file2 = file.try_clone().map_err(|e| e.to_string())?;
    let dir = root().join(CRATE);
    let mut cmd = Command::new(exe);
    cmd.args(["--ignored", "--test-threads", "2"])
        .args(filters)
        .current_dir(&dir)
        .env("CARGO_MANIFEST_DIR", &dir)
        .env("CARGO_PKG_NAME", "userpath")
        .envs(env(&report))
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2);
    let shown = format!("{name} ({tests} tests)");
    eprintln!("\n==> {shown}");

    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{shown}: {e}"))?;
    let status = child.wait().map_err(|e| format!("{shown}: {e}"))?;
    let wall = start.elapsed();
    let left = wait_gone(child.id(), Duration::from_secs(60));
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&report);
    let passed = super::passed_count(&output, super::Runner::CargoTest).unwrap_or(0);
    eprintln!(
        "<== {:.1}s {shown}: {passed} passed, {left} left behind",
        wall.as_secs_f64()
    );
    if !status.success() || passed != tests || left > 0 {
        let tail: Vec<&str> = output.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{shown}: {status}, {passed} of {tests} passed, {left} containers or networks left behind:\n{}",
            tail.join("\n")
        ));
    }
    let mut row = UserPathRow {
        style,
        scope,
        tests,
        passed,
        setups: 0,
        setup_ms: 0.0,
        waited_ms: 0.0,
        samples: Vec::new(),
        wall,
    };
    read_report(&text, &mut row);
    if row.setups == 0 {
        return Err(format!(
            "{shown}: the report has no `db` fixture:\n{text}{}",
            if text.is_empty() {
                "(empty: is FIXTURES_REPORT_FILE written at exit?)"
            } else {
                ""
            }
        ));
    }
    Ok(row)
}

/// Waits until the engine has nothing left of the test process `pid`'s run: its server, its
/// engine reaper (which ends a few seconds after the process), a network. Removes what is
/// still there after `deadline` and returns how many that was.
fn wait_gone(pid: u32, deadline: Duration) -> usize {
    let marks = [
        format!("org.fixtures.run-id=p{pid}-"),
        format!("org.fixtures.reaper-of=p{pid}-"),
        format!("org.fixtures.run-owner={pid}:"),
    ];
    let mine = |kind: &[&str]| -> Vec<String> {
        let args = [kind, &["--format", "{{.ID}}\t{{.Labels}}"][..]].concat();
        docker(&args)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(_, labels)| {
                labels
                    .split(',')
                    .any(|label| marks.iter().any(|m| label.starts_with(m.as_str())))
            })
            .map(|(id, _)| id.to_owned())
            .collect()
    };
    let start = Instant::now();
    loop {
        let containers = mine(&["ps", "-a"]);
        let networks = mine(&["network", "ls"]);
        if containers.is_empty() && networks.is_empty() {
            return 0;
        }
        if start.elapsed() > deadline {
            for id in &containers {
                let _ = docker(&["rm", "-f", "-v", id]);
            }
            for id in &networks {
                let _ = docker(&["network", "rm", id]);
            }
            eprintln!(
                "removed {} container(s), {} network(s) the run left behind",
                containers.len(),
                networks.len()
            );
            return containers.len() + networks.len();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Adds the report's rows of the `db` fixture (the one a test receives) to `row`.
fn read_report(text: &str, row: &mut UserPathRow) {
    for (_, db) in crate::report::aggregate(text)
        .into_iter()
        .filter(|(name, _)| name.ends_with("::db"))
    {
        row.setups += db.setups as usize;
        row.setup_ms += db.setup_ms;
        row.waited_ms += db.waited_ms;
        row.samples.extend(db.samples);
    }
}

/// The rows as a markdown table, with what its columns mean.
pub(crate) fn table(rows: &[UserPathRow]) -> String {
    let mut out = String::from(
        "| style | scope | tests passed | setups | per-test median (ms) | p90 (ms) | mean (ms) \
         | first setup (ms) | slowest (ms) | waited (ms, all) | wall (s) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let no_samples = rows.iter().any(|r| r.samples.is_empty());
    for r in rows {
        let at = |q: f64| {
            if r.samples.is_empty() {
                "—".to_owned()
            } else {
                format!("{:.1}", quantile(&r.samples, q))
            }
        };
        let first = r
            .samples
            .first()
            .map_or_else(|| "—".to_owned(), |f| format!("{f:.1}"));
        out += &format!(
            "| {} | {} | {}/{} | {} | {} | {} | {:.1} | {first} | {} | {:.0} | {:.2} |\n",
            r.style.label(),
            r.scope.label(),
            r.passed,
            r.tests,
            r.setups,
            at(0.5),
            at(0.9),
            r.mean_ms(),
            at(1.0),
            r.waited_ms,
            r.wall.as_secs_f64(),
        );
    }
    out += "\nPer-test cost: the own time of each setup of the test's `db` fixture (a fresh \
            clone in test scope, the turn on the shared database in module and suite scope), \
            **every setup included, the first ones too** (a lane's first turn clones and \
            restores for the first time); \"first setup\" is the first to end. What setups \
            waited for their dependencies (the server, the template, the shared database) is \
            not in them: \"waited\" is its total. Wall: the test binary, start to exit.\n";
    if no_samples {
        out += "\nRows with `—`: the report had no `setup_samples_ms`; only the mean \
                (`setup_ms / setups`) is known.\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_db_fixture_is_read_from_the_report() {
        let text = "{\"run\":\"r\",\"pid\":1,\"fixture\":\"pg_server\",\"module\":\"fixtures_postgres::start\",\"scope\":\"suite\",\"setups\":1,\"setup_ms\":400.0,\"waited_ms\":0.0,\"setup_samples_ms\":[400.0]}\n\
                    {\"run\":\"r\",\"pid\":1,\"fixture\":\"db\",\"module\":\"rstest_module_scope::common::pg::module_scope\",\"scope\":\"test\",\"setups\":3,\"setup_ms\":30.0,\"waited_ms\":500.5,\"teardown_ms\":1.0,\"setup_samples_ms\":[20.0,4.0,6.0]}\n";
        let mut row = UserPathRow {
            style: Style::Rstest,
            scope: Scope::Module,
            tests: 3,
            passed: 3,
            setups: 0,
            setup_ms: 0.0,
            waited_ms: 0.0,
            samples: Vec::new(),
            wall: Duration::from_secs(2),
        };
        read_report(text, &mut row);
        assert_eq!((row.setups, row.samples.len()), (3, 3));
        assert!((row.mean_ms() - 10.0).abs() < 1e-9);
        assert!((row.waited_ms - 500.5).abs() < 1e-9);
        let table = table(&[row]);
        assert!(table.contains("| `#[rstest]` | module | 3/3 | 3 | 6.0 | 20.0 | 10.0 | 20.0 |"));
        assert!(!table.contains("no `setup_samples_ms`"));
    }

    #[test]
    fn a_binary_is_named_after_its_style_and_scope() {
        assert_eq!(binary(Style::SpawnApp, Scope::Suite), "helper_suite_scope");
    }
}

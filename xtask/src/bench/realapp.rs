//! The real-app-style suite (issue "speed where users feel it"): `consumers/realapp`, an axum +
//! sqlx 0.9 app with 13 migrations (seed rows included) and argon2 password hashing at its
//! default cost, whose 50 API tests run seven ways under `cargo test`'s debug build with 2 test
//! threads:
//!
//! - the app's hand-written helper (`tests/handwritten.rs`): a `test_<uuid>` database created
//!   and migrated per test on a server started before the timed run (the `#[sqlx::test]`
//!   row's server), never dropped;
//! - the framework's test, module and suite scopes, cold (`FIXTURES_PG_BACKEND=docker`: our
//!   container starts inside the timed run);
//! - the same with `FIXTURES_REUSE=1`: an untimed run of one test leaves the server, the timed
//!   run adopts it, and it is removed after.
//!
//! Each row: median wall time, tests passed, databases left on the server, the ratio to the
//! hand-written helper, and the framework's own time (its fixtures' setup + teardown, from
//! `FIXTURES_REPORT_FILE`) as a share of the wall time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    IMAGE, Runner, SqlxServer, capture, docker, executables, passed_count, reused_containers,
};
use crate::{Result, cargo, root};

/// The crate, relative to the workspace root.
const CRATE: &str = "consumers/realapp";
/// The libtest filter of `--quick` (one module), and how many tests it selects.
const QUICK: (&str, usize) = ("accounts::", 10);
/// Tests in each binary.
const ALL_TESTS: usize = 50;

/// How the tests get their databases: the app's own helper, or ours in a scope (`test`,
/// `module`, `suite`), our server started inside the timed run (cold) or kept by an untimed
/// run before it (`FIXTURES_REUSE=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    Handwritten,
    Cold(&'static str),
    Reused(&'static str),
}

impl Way {
    /// Every row, in the table's order.
    pub(crate) const ALL: [Way; 7] = [
        Way::Handwritten,
        Way::Cold("test"),
        Way::Cold("module"),
        Way::Cold("suite"),
        Way::Reused("test"),
        Way::Reused("module"),
        Way::Reused("suite"),
    ];

    /// The test binary (`consumers/realapp/tests/NAME.rs`).
    fn binary(self) -> String {
        match self {
            Way::Handwritten => "handwritten".into(),
            Way::Cold(scope) | Way::Reused(scope) => format!("ours_{scope}_scope"),
        }
    }

    /// The row's name.
    pub(crate) fn label(self) -> String {
        let modules = |s| if s == "module" { " (5 × 10)" } else { "" };
        match self {
            Way::Handwritten => "hand-written helper (`test_<uuid>` + migrations per test)".into(),
            Way::Cold(s) => format!("ours, {s} scope{}, cold", modules(s)),
            Way::Reused(s) => format!("ours, {s} scope{}, `FIXTURES_REUSE=1`", modules(s)),
        }
    }
}

/// One row of the table: a way's runs, summarised.
#[derive(Debug, Clone)]
pub(crate) struct RealAppRow {
    /// How the tests got their databases.
    pub way: Way,
    /// Tests selected per run.
    pub tests: usize,
    /// Tests passed, in the worst run.
    pub passed: usize,
    /// Median wall time of the timed runs.
    pub wall: Duration,
    /// Every timed run's wall time.
    pub walls: Vec<Duration>,
    /// Databases other than `postgres`, `template0` and `template1` left on the server after
    /// the run, worst run (hand-written: the `test_<uuid>` ones). `None`: unknown, a container
    /// of the run was left behind (counted in `containers_left`).
    pub databases_left: Option<usize>,
    /// Of those, the framework's own template and warm clones, kept on a reused server for
    /// the next run (removed with it).
    pub kept_for_reuse: usize,
    /// Containers of the run still there 30 s after it (then removed), worst run.
    pub containers_left: usize,
    /// Wall time ÷ the hand-written helper's.
    pub vs_handwritten: f64,
    /// The framework's fixtures' setup + teardown time, all processes (median run); `None`
    /// for the hand-written helper.
    pub framework: Option<Duration>,
    /// `framework` ÷ `wall`.
    pub framework_share: Option<f64>,
}

/// What one timed run measured.
#[derive(Debug)]
struct Sample {
    wall: Duration,
    passed: usize,
    databases: Option<usize>,
    kept: usize,
    containers_left: usize,
    framework: Option<Duration>,
}

/// Builds the crate's test binaries, then runs every way `reps` times (`quick`: 10 tests, one
/// rep).
pub(crate) fn run(quick: bool, reps: usize) -> Result<Vec<RealAppRow>> {
    crate::setup::require_docker()?;
    docker(&["image", "inspect", "--format", "{{.Id}}", IMAGE])
        .map_err(|e| format!("{e}: build the local images with scripts/build-images.sh"))?;
    // The crate's own workspace, lock file and target folder, as its user builds it.
    let mut build = cargo(&["test", "--no-run", "--manifest-path"]);
    build.arg(root().join(CRATE).join("Cargo.toml"));
    build.arg("--message-format=json-render-diagnostics");
    for way in &Way::ALL[..4] {
        build.args(["--test", &way.binary()]);
    }
    let exes = executables(&capture(&mut build)?);
    if let Some(w) = Way::ALL.iter().find(|w| !exes.contains_key(&w.binary())) {
        return Err(format!("cargo built no test binary named {}", w.binary()));
    }
    let reps = if quick { 1 } else { reps.max(1) };
    let state = StateDir::new()?;
    let mut samples: Vec<(Way, Sample)> = Vec::new();
    for rep in 1..=reps {
        for way in Way::ALL {
            eprintln!("\n==> realapp: {} (rep {rep}/{reps})", way.label());
            let s = once(&exes, way, quick, &state.0)?;
            let (wall, dbs) = (s.wall.as_secs_f64(), s.databases);
            eprintln!(
                "<== {wall:.1}s, {} passed, databases left {dbs:?}",
                s.passed
            );
            samples.push((way, s));
        }
    }
    let tests = if quick { QUICK.1 } else { ALL_TESTS };
    let mut rows: Vec<RealAppRow> = Way::ALL
        .iter()
        .map(|&way| {
            let runs = samples.iter().filter(|s| s.0 == way).map(|s| &s.1);
            summarise(way, tests, runs.collect())
        })
        .collect();
    let base = rows[0].wall.as_secs_f64().max(1e-9);
    for r in &mut rows {
        r.vs_handwritten = r.wall.as_secs_f64() / base;
    }
    Ok(rows)
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> Option<T> {
    v.sort();
    v.get(v.len() / 2).copied()
}

fn summarise(way: Way, tests: usize, runs: Vec<&Sample>) -> RealAppRow {
    let wall = median(runs.iter().map(|s| s.wall).collect()).unwrap_or_default();
    let framework = median(runs.iter().filter_map(|s| s.framework).collect());
    let worst = |f: fn(&Sample) -> usize| runs.iter().map(|s| f(s)).max().unwrap_or(0);
    RealAppRow {
        way,
        tests,
        passed: runs.iter().map(|s| s.passed).min().unwrap_or(0),
        wall,
        walls: runs.iter().map(|s| s.wall).collect(),
        databases_left: runs.iter().try_fold(0, |m, s| Some(s.databases?.max(m))),
        kept_for_reuse: worst(|s| s.kept),
        containers_left: worst(|s| s.containers_left),
        vs_handwritten: 1.0,
        framework,
        framework_share: framework.map(|f| f.as_secs_f64() / wall.as_secs_f64().max(1e-9)),
    }
}

/// The test binary `exe` with libtest's arguments (ignored tests, 2 threads, `filter`), as
/// `cargo test` runs it, in the crate's folder; `ours`: on our Docker backend, `reuse`: with
/// `FIXTURES_REUSE=1` and this state folder.
fn test_command(exe: &Path, filter: &[&str], ours: bool, reuse: Option<&Path>) -> Command {
    let mut c = Command::new(exe);
    c.args(["--ignored", "--test-threads", "2"])
        .args(filter)
        .current_dir(root().join(CRATE))
        .env("CARGO_MANIFEST_DIR", root().join(CRATE))
        .env("CARGO_PKG_NAME", "realapp")
        .stdin(Stdio::null());
    for var in ["FIXTURES_REUSE", "FIXTURES_STATE_DIR", "FIXTURES_PG_URL"] {
        c.env_remove(var);
    }
    c.env_remove("FIXTURES_REPORT_FILE")
        .env_remove("DATABASE_URL");
    if ours {
        c.env("FIXTURES_PG_BACKEND", "docker")
            .env("FIXTURES_POSTGRES_IMAGE", IMAGE)
            .env("FIXTURES_REQUIRE_DOCKER", "1");
    }
    if let Some(state) = reuse {
        c.env("FIXTURES_REUSE", "1")
            .env("FIXTURES_STATE_DIR", state);
    }
    c
}

/// The server a way's timed run is given (removed when dropped).
enum Given {
    None,
    Handwritten(SqlxServer),
    Kept(KeptServer),
}

/// One timed run of `way`.
fn once(exes: &HashMap<String, PathBuf>, way: Way, quick: bool, state: &Path) -> Result<Sample> {
    let exe = &exes[&way.binary()];
    let report =
        std::env::temp_dir().join(format!("fixtures-realapp-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let given = match way {
        Way::Handwritten => Given::Handwritten(SqlxServer::start()?),
        Way::Reused(_) => Given::Kept(KeptServer::start(exe, state)?),
        Way::Cold(_) => Given::None,
    };
    let filter: &[&str] = if quick { &[QUICK.0] } else { &[] };
    let ours = way != Way::Handwritten;
    let reuse = matches!(way, Way::Reused(_)).then_some(state);
    let mut cmd = test_command(exe, filter, ours, reuse);
    match &given {
        Given::Handwritten(s) => cmd.env("DATABASE_URL", &s.url),
        _ => cmd.env("FIXTURES_REPORT_FILE", &report),
    };
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("{}: {e}", exe.display()))?;
    let pid = child.id();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let wall = start.elapsed();
    let output = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    let containers_left = left_by(pid, Duration::from_secs(30));
    let (databases, kept) = match &given {
        Given::Handwritten(s) => (Some(databases(&s.name, "/var/run/postgresql")?.0), 0),
        Given::Kept(k) => databases(&k.id, "/tmp").map(|(n, kept)| (Some(n), kept))?,
        // Our server is gone with its container: nothing is left unless the container is.
        Given::None => ((containers_left == 0).then_some(0), 0),
    };
    drop(given);
    let framework = std::fs::read_to_string(&report).ok();
    let framework = framework.map(|text| framework_time(&text));
    let _ = std::fs::remove_file(&report);
    let passed = passed_count(&output, Runner::CargoTest).unwrap_or(0);
    let tests = if quick { QUICK.1 } else { ALL_TESTS };
    if !out.status.success() || passed != tests {
        let tail: Vec<&str> = output.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "realapp, {}: {}, {passed} of {tests} passed:\n{}",
            way.label(),
            out.status,
            tail.join("\n")
        ));
    }
    Ok(Sample {
        wall,
        passed,
        databases,
        kept,
        containers_left,
        framework,
    })
}

/// The fixtures' setup + teardown time over every report line (one per process and fixture).
fn framework_time(json_lines: &str) -> Duration {
    let ms: f64 = crate::report::aggregate(json_lines)
        .values()
        .map(|r| r.setup_ms + r.teardown_ms)
        .sum();
    Duration::from_secs_f64(ms / 1000.0)
}

/// Containers of the run whose test process was `pid` (its servers carry
/// `org.fixtures.run-owner=PID:…`, its reaper `org.fixtures.reaper-of=pPID-…`) still there
/// after `deadline`; those are removed.
fn left_by(pid: u32, deadline: Duration) -> usize {
    let (owner, reaper) = (format!("{pid}:"), format!("p{pid}-"));
    let format = "{{.ID}}\t{{.Label \"org.fixtures.run-owner\"}}\t\
                  {{.Label \"org.fixtures.reaper-of\"}}";
    let start = Instant::now();
    loop {
        let all = docker(&["ps", "-a", "--no-trunc", "--format", format]).unwrap_or_default();
        let left: Vec<&str> = all
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let mine = f.get(1).is_some_and(|o| o.starts_with(&owner))
                    || f.get(2).is_some_and(|r| r.starts_with(&reaper));
                mine.then_some(f[0])
            })
            .collect();
        if left.is_empty() || start.elapsed() > deadline {
            for c in &left {
                let _ = docker(&["rm", "-f", "-v", c]);
            }
            return left.len();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The databases of the server in `container` other than the system's, and how many of them
/// are the framework's template and warm clones (marked `kind=template` / `kind=warm`), asked
/// over the local socket in `socket_dir` (the image's; ours listens in `/tmp`).
fn databases(container: &str, socket_dir: &str) -> Result<(usize, usize)> {
    let sql = "SELECT coalesce(shobj_description(oid, 'pg_database'), '-') FROM pg_database \
               WHERE datname NOT IN ('postgres', 'template0', 'template1')";
    let psql = [
        "exec", container, "psql", "-h", socket_dir, "-U", "postgres", "-tAc", sql,
    ];
    let out = docker(&psql)?;
    let marks: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    let kept = marks
        .iter()
        .filter(|m| m.contains("kind=template") || m.contains("kind=warm"))
        .count();
    Ok((marks.len(), kept))
}

/// Our server kept by an untimed run of one test with `FIXTURES_REUSE=1` (migrated template
/// and warm clones included), for the timed run to adopt; removed when dropped.
struct KeptServer {
    id: String,
}

impl KeptServer {
    fn start(exe: &Path, state: &Path) -> Result<KeptServer> {
        let before = reused_containers()?;
        let one = ["--exact", "accounts::health_check_works"];
        let out = test_command(exe, &one, true, Some(state))
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        let new: Vec<String> = reused_containers()?.difference(&before).cloned().collect();
        if out.status.success() && new.len() == 1 {
            return Ok(KeptServer { id: new[0].clone() });
        }
        for id in &new {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
        Err(format!(
            "the run that leaves a server for reuse: {}, {} new kept containers:\n{}{}",
            out.status,
            new.len(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Drop for KeptServer {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.id]);
    }
}

/// A state folder of this harness's own for the reused servers (`FIXTURES_STATE_DIR`): their
/// password, and with it their spec, are then this harness's, so that a kept server of the
/// same image that another run on the machine left is neither adopted nor removed here.
/// Private to the user (the framework checks); removed when dropped.
struct StateDir(PathBuf);

impl StateDir {
    fn new() -> Result<StateDir> {
        use std::os::unix::fs::DirBuilderExt;
        let name = format!("fixtures-realapp-state-{}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(StateDir(dir))
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The rows as a markdown table. The framework's own time adds up every fixture's setup and
/// teardown in every thread: with 2 test threads it can overlap itself.
pub(crate) fn table(rows: &[RealAppRow]) -> String {
    let runs = rows.first().map_or(0, |r| r.walls.len());
    let mut out = format!(
        "| how the tests get their database | wall, median of {runs} (range) | per test | passed \
         | databases left on the server | × hand-written | framework's own time (share) |\n\
         |---|---:|---:|---:|---|---:|---:|\n"
    );
    for r in rows {
        let dbs = match (r.databases_left, r.way) {
            (None, _) => format!("? ({} containers left)", r.containers_left),
            (Some(n), Way::Handwritten) => format!("{n} (`test_<uuid>`)"),
            (Some(n), _) if r.kept_for_reuse > 0 => format!(
                "{n}: {} template + warm clones kept for reuse, {} of the tests",
                r.kept_for_reuse,
                n - r.kept_for_reuse
            ),
            (Some(n), _) => format!("{n} (no container left)"),
        };
        let framework = match (r.framework, r.framework_share) {
            (Some(f), Some(s)) => format!("{:.2} s ({:.0} %)", f.as_secs_f64(), s * 100.0),
            _ => "—".into(),
        };
        let secs = |d: Option<&Duration>| d.map_or(0.0, Duration::as_secs_f64);
        let range = (secs(r.walls.iter().min()), secs(r.walls.iter().max()));
        out += &format!(
            "| {} | {:.2} s ({:.2}–{:.2}) | {:.0} ms | {}/{} | {dbs} | {:.2} | {framework} |\n",
            r.way.label(),
            r.wall.as_secs_f64(),
            range.0,
            range.1,
            r.wall.as_secs_f64() * 1000.0 / r.tests.max(1) as f64,
            r.passed,
            r.tests,
            r.vs_handwritten,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framework_time_is_read_from_the_report() {
        let report = "{\"fixture\":\"db\",\"module\":\"t::pg::module_scope\",\"setup_ms\":12.5,\"waited_ms\":3.0,\"teardown_ms\":2.5}\n\
                      {\"fixture\":\"pg_server\",\"module\":\"fixtures_postgres::start\",\"setup_ms\":400.000,\"teardown_ms\":85.0}";
        assert_eq!(framework_time(report), Duration::from_millis(500));
        assert_eq!(Way::Reused("module").binary(), "ours_module_scope");
    }
}

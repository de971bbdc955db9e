//! `cargo xtask bench [--quick] [--reps N]`: the benchmarks of issue #5, and BENCHMARKS.md.
//!
//! 1. Per-test isolation: `fixtures-postgres`'s `clean` bench (the clean strategies) and
//!    `bench-suite`'s `isolation` bench (a fresh database with and without the warm pool, a
//!    turn on a shared one).
//! 2. The same 200 tests (`bench-suite/tests/`) with our test, module and suite scopes,
//!    `#[sqlx::test]` and testcontainers-rs, under `cargo test` and `cargo nextest run`: wall
//!    time, and the Postgres servers alive at peak (sampled every ~100 ms).
//! 3. Suite start: `bench-suite`'s `startup` bench.
//!
//! The full run writes BENCHMARKS.md; `--quick` (what CI runs) runs a few tests of each kind,
//! prints the same report and writes nothing.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::{Result, cargo, root, run as run_echoed, setup};

mod realapp;
mod report;
mod sampler;
mod userpath;

use sampler::Sampler;

/// The image every container of the benchmarks runs.
pub(crate) const IMAGE: &str = "fixtures-local/postgres:15";

/// One of the ways to run the 200 tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    TestScope,
    ModuleScope,
    SuiteScope,
    SqlxTest,
    Testcontainers,
    /// The floor: the same bodies on one database with no isolation (under nextest: bare test
    /// processes with a plain connection).
    Floor,
    /// Ours on a server kept by an earlier run (`FIXTURES_REUSE=1`), like the `#[sqlx::test]`
    /// server started before the timed run.
    Reused(Scope),
}

/// Our scopes, for [`Target::Reused`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Test,
    Module,
    Suite,
}

impl Target {
    pub(crate) const ALL: [Target; 9] = [
        Target::Floor,
        Target::TestScope,
        Target::ModuleScope,
        Target::SuiteScope,
        Target::SqlxTest,
        Target::Testcontainers,
        Target::Reused(Scope::Test),
        Target::Reused(Scope::Module),
        Target::Reused(Scope::Suite),
    ];

    /// The test target in `bench-suite/tests/`.
    fn test(self) -> &'static str {
        match self {
            Target::TestScope | Target::Reused(Scope::Test) => "ours_test_scope",
            Target::ModuleScope | Target::Reused(Scope::Module) => "ours_module_scope",
            Target::SuiteScope | Target::Reused(Scope::Suite) => "ours_suite_scope",
            Target::SqlxTest => "sqlx_test",
            Target::Testcontainers => "testcontainers_rs",
            Target::Floor => "floor_no_isolation",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Target::TestScope => "ours, test scope (fresh clone, warm pool)",
            Target::ModuleScope => "ours, module scope (10 modules × 20, cleaned)",
            Target::SuiteScope => "ours, suite scope (cleaned)",
            Target::SqlxTest => "`#[sqlx::test]` (database + migrations per test)",
            Target::Testcontainers => "testcontainers-rs (container per test)",
            Target::Floor => "**floor**: no isolation (one database, keys of each test's own)",
            Target::Reused(Scope::Test) => "ours, test scope, server reused (`FIXTURES_REUSE=1`)",
            Target::Reused(Scope::Module) => {
                "ours, module scope, server reused (`FIXTURES_REUSE=1`)"
            }
            Target::Reused(Scope::Suite) => "ours, suite scope, server reused (`FIXTURES_REUSE=1`)",
        }
    }

    pub(crate) fn ours(self) -> bool {
        matches!(
            self,
            Target::TestScope | Target::ModuleScope | Target::SuiteScope | Target::Reused(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Runner {
    CargoTest,
    Nextest,
}

impl Runner {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Runner::CargoTest => "cargo test",
            Runner::Nextest => "cargo nextest run",
        }
    }
}

/// One timed run of a target's tests.
#[derive(Debug, Clone)]
pub(crate) struct SuiteRun {
    pub(crate) target: Target,
    pub(crate) runner: Runner,
    pub(crate) tests: usize,
    pub(crate) wall: Duration,
    pub(crate) peak_servers: usize,
    pub(crate) left_behind: usize,
    /// Our fixtures' reports (`FIXTURES_REPORT_FILE`), added up over the run's processes.
    pub(crate) fixtures: std::collections::BTreeMap<String, crate::report::Row>,
    /// Under nextest: each test's time as nextest reports it (its process, start to exit), ms.
    pub(crate) test_times: Vec<f64>,
}

/// What one `cargo xtask bench` measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) quick: bool,
    pub(crate) reps: usize,
    pub(crate) clean: String,
    pub(crate) isolation: String,
    pub(crate) startup: String,
    pub(crate) suites: Vec<SuiteRun>,
    /// A user's crate's per-test cost (`consumers/userpath`).
    pub(crate) userpath: Vec<userpath::UserPathRow>,
    /// A real-app-style suite, seven ways (`consumers/realapp`).
    pub(crate) realapp: Vec<realapp::RealAppRow>,
    pub(crate) machine: Vec<(String, String)>,
    pub(crate) command: String,
    pub(crate) elapsed: Duration,
}

pub(crate) fn run() -> Result {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .ok_or("--reps takes a number ≥ 1")?,
        None => 1,
    };
    bench(quick, reps)
}

/// The three benches, and the test targets, as cargo names them.
const BENCHES: [&str; 3] = ["clean", "isolation", "startup"];

/// A cargo command for a bench: `cargo bench` (release) for the full run, `cargo test` (the
/// dev profile the workspace's tests are built with, so CI builds nothing more) for `--quick`.
/// `--workspace` everywhere: the features are those of the workspace build, nothing is rebuilt
/// for another feature set.
fn bench_command(quick: bool, name: &str) -> Command {
    let mut c = cargo(&[
        if quick { "test" } else { "bench" },
        "--workspace",
        "--bench",
        name,
    ]);
    if quick {
        c.args(["--", "--quick"]);
    }
    c
}

/// Runs the benchmarks; `quick` is the short version (prints, writes nothing).
pub(crate) fn bench(quick: bool, reps: usize) -> Result {
    let started = Instant::now();
    let lineage = sampler::Lineage::start();
    setup::require_docker()?;
    setup::nextest()?;
    setup::postgres_binaries()?;
    setup::images()?;

    // Build everything first: only the runs are timed, and they run what was built here (not
    // through cargo, which would rebuild whatever changed meanwhile, or wait for another
    // build's lock).
    let built = Built::build(quick)?;
    if !quick {
        let mut build = cargo(&["bench", "--workspace", "--no-run"]);
        for b in BENCHES {
            build.args(["--bench", b]);
        }
        run_echoed(&mut build)?;
    }

    let mut results = Results {
        quick,
        reps,
        command: if quick {
            "cargo xtask bench --quick".into()
        } else if reps > 1 {
            format!("cargo xtask bench --reps {reps}")
        } else {
            "cargo xtask bench".into()
        },
        ..Results::default()
    };
    results.machine = report::machine();

    // 1. Per-test isolation. The clean bench is another crate's: when it does not run, the other
    // figures are still worth having; the run fails at the end.
    let mut failures = Vec::new();
    match capture(bench_command(quick, "clean").envs(ours_env())) {
        Ok(text) if text.contains("| 20 tables") => results.clean = text,
        Ok(text) => failures.push(format!(
            "the clean bench printed no table (is it declared with `harness = false` in \
             fixtures-postgres/Cargo.toml?):\n{text}"
        )),
        Err(e) => failures.push(format!(
            "the clean bench failed (it needs `[[bench]] name = \"clean\" harness = false` in \
             fixtures-postgres/Cargo.toml): {e}"
        )),
    }
    if let Some(f) = failures.last() {
        eprintln!("\nWARNING: {f}");
        results.clean = format!("**Not measured in this run**: {f}");
    }
    results.isolation = capture(bench_command(quick, "isolation").envs(ours_env()))?;
    // 3. Suite start.
    results.startup =
        capture(bench_command(quick, "startup").env("FIXTURES_POSTGRES_IMAGE", IMAGE))?;
    // 2. The 200-test suite.
    results.suites = suites(&built, quick, reps)?;
    built.remove_files();
    // 4. A user's crate, debug build, as its tests run. 5. A real-app-style suite.
    results.userpath = userpath::run(quick)?;
    results.realapp = realapp::run(quick, reps)?;
    results.machine.push((
        "load average (1, 5, 15 min) at the end".into(),
        report::loadavg(),
    ));
    results.elapsed = started.elapsed();

    let text = report::render(&results);
    if quick {
        println!("\n{text}");
    } else {
        let path = root().join("BENCHMARKS.md");
        // The hand-written analysis below the marker survives a regeneration.
        let kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| old.find(report::KEPT_MARKER).map(|i| old[i..].to_owned()))
            .unwrap_or_else(|| format!("{}\n", report::KEPT_MARKER));
        std::fs::write(&path, format!("{text}\n{kept}"))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("\n{}", report::headline(&results));
        eprintln!("wrote {}", path.display());
    }
    lineage.assert_nothing_left()?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn ours_env() -> [(&'static str, &'static str); 3] {
    [
        ("FIXTURES_POSTGRES_IMAGE", IMAGE),
        ("FIXTURES_PG_BACKEND", "docker"),
        ("FIXTURES_REQUIRE_DOCKER", "1"),
    ]
}

/// Runs a bench, echoing its stderr, and returns its stdout.
fn capture(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("\n==> {shown}");
    let start = Instant::now();
    let out = cmd
        .current_dir(root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    eprintln!("<== {:.1}s {shown}", start.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{shown} exited with {}:\n{stdout}", out.status))
    }
}

/// The libtest name filters of a run, and how many tests they select.
fn selection(target: Target, quick: bool) -> (Vec<&'static str>, usize) {
    match (target, quick) {
        (_, true) => (vec!["t00"], 10),
        (Target::Testcontainers, false) => (vec!["t00", "t01", "t02", "t03"], 40),
        // Its `migrate` test is run apart, before the timed run.
        (Target::Floor, false) => (vec!["::t"], 200),
        (_, false) => (vec![], 200),
    }
}

/// What the timed runs run: the test binaries, and the metadata nextest needs to reuse them.
struct Built {
    executables: HashMap<String, PathBuf>,
    nextest_binaries: PathBuf,
    cargo_metadata: PathBuf,
}

impl Built {
    fn build(quick: bool) -> Result<Built> {
        let mut build = cargo(&[
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ]);
        let mut list = cargo(&[
            "nextest",
            "list",
            "--workspace",
            "--list-type",
            "binaries-only",
            "--message-format",
            "json",
        ]);
        for t in Target::ALL {
            build.args(["--test", t.test()]);
            list.args(["--test", t.test()]);
        }
        if quick {
            for b in BENCHES {
                build.args(["--bench", b]);
            }
        }
        let executables = executables(&capture(&mut build)?);
        for t in Target::ALL {
            if !executables.contains_key(t.test()) {
                return Err(format!("cargo built no test binary named {}", t.test()));
            }
        }
        let dir = std::env::temp_dir();
        let built = Built {
            executables,
            nextest_binaries: dir.join(format!(
                "fixtures-bench-{}-binaries.json",
                std::process::id()
            )),
            cargo_metadata: dir.join(format!(
                "fixtures-bench-{}-metadata.json",
                std::process::id()
            )),
        };
        let write = |path: &PathBuf, text: String| {
            std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
        };
        write(&built.nextest_binaries, capture(&mut list)?)?;
        write(
            &built.cargo_metadata,
            capture(&mut cargo(&[
                "metadata",
                "--format-version=1",
                "--all-features",
                "--no-deps",
            ]))?,
        )?;
        Ok(built)
    }

    fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.nextest_binaries);
        let _ = std::fs::remove_file(&self.cargo_metadata);
    }
}

/// The test executables in cargo's JSON messages, by target name.
fn executables(json_lines: &str) -> HashMap<String, PathBuf> {
    let string_after = |line: &str, key: &str| -> Option<String> {
        let rest = &line[line.find(key)? + key.len()..];
        Some(rest[..rest.find('"')?].replace("\\\\", "\\"))
    };
    json_lines
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .filter_map(|l| {
            let exe = string_after(l, "\"executable\":\"")?;
            let target = &l[l.find("\"target\":{")?..];
            let name = string_after(target, "\"name\":\"")?;
            Some((name, PathBuf::from(exe)))
        })
        .collect()
}

fn suites(built: &Built, quick: bool, reps: usize) -> Result<Vec<SuiteRun>> {
    let mut runs = Vec::new();
    for rep in 0..reps {
        for runner in [Runner::CargoTest, Runner::Nextest] {
            for target in Target::ALL {
                let skip = target == Target::Testcontainers
                    && (rep > 0 || (quick && runner == Runner::Nextest));
                if !skip {
                    runs.push(suite(built, target, runner, quick)?);
                }
            }
        }
    }
    Ok(runs)
}

/// Our server kept for reuse: an untimed run of one test with `FIXTURES_REUSE=1` leaves it
/// (migrated template and warm clones included) for the timed run, which adopts it; removed
/// after the timed run.
struct ReusedServer {
    ids: BTreeSet<String>,
}

impl ReusedServer {
    fn start(built: &Built, target: Target) -> Result<ReusedServer> {
        let before = reused_containers()?;
        let exe = built
            .executables
            .get(target.test())
            .ok_or_else(|| format!("no test binary was built for {}", target.test()))?;
        let out = Command::new(exe)
            .args(["--ignored", "--exact", "m00::t000"])
            .current_dir(root().join("bench-suite"))
            .env("CARGO_MANIFEST_DIR", root().join("bench-suite"))
            .env("CARGO_PKG_NAME", "bench-suite")
            .envs(ours_env())
            .env("FIXTURES_REUSE", "1")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        let ids: BTreeSet<String> = reused_containers()?.difference(&before).cloned().collect();
        let server = ReusedServer { ids };
        if !out.status.success() || server.ids.len() != 1 {
            return Err(format!(
                "the run that leaves a server for reuse: {}, {} new kept containers:\n{}{}",
                out.status,
                server.ids.len(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(server)
    }
}

impl Drop for ReusedServer {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
    }
}

/// The running containers of the benchmark image kept for reuse.
fn reused_containers() -> Result<BTreeSet<String>> {
    let ancestor = format!("ancestor={IMAGE}");
    Ok(docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        "label=org.fixtures.reuse=true",
        "--filter",
        &ancestor,
    ])?
    .lines()
    .map(|l| l.trim().to_owned())
    .filter(|l| !l.is_empty())
    .collect())
}

/// The `#[sqlx::test]` server: a container of the same image with the same settings as ours
/// (tmpfs data, fsync off, md5 password), started before the timed run and removed after it.
struct SqlxServer {
    name: String,
    url: String,
}

impl SqlxServer {
    fn start() -> Result<SqlxServer> {
        let name = format!("fixtures-bench-sqlx-{}", std::process::id());
        let _ = docker(&["rm", "-f", &name]);
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &format!("{}={}", sampler::BENCH_LABEL, sampler::bench_id()),
            "--tmpfs",
            "/var/lib/postgresql/data:rw,size=2g",
            "-e",
            "POSTGRES_PASSWORD=bench",
            "-e",
            "POSTGRES_HOST_AUTH_METHOD=md5",
            "-p",
            "127.0.0.1::5432",
            IMAGE,
            "postgres",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ])?;
        let server = SqlxServer {
            url: String::new(),
            name,
        };
        let port = docker(&["port", &server.name, "5432/tcp"])?;
        let port = port
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .map(|p| p.trim().to_owned())
            .ok_or_else(|| format!("no published port for {}", server.name))?;
        // Ready when the final server answers over TCP inside the container (the
        // entrypoint's temporary one listens on the socket only).
        let start = Instant::now();
        loop {
            let ok = docker(&[
                "exec",
                "-e",
                "PGPASSWORD=bench",
                &server.name,
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-tAc",
                "SELECT 1",
            ])
            .is_ok_and(|o| o.trim() == "1");
            if ok {
                break;
            }
            if start.elapsed() > Duration::from_secs(90) {
                return Err(format!("the sqlx server {} never answered", server.name));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // The password stored as md5, as fixtures-postgres does on the servers it starts
        // (a SCRAM handshake costs a debug-build client ~50 ms per connection).
        docker(&[
            "exec",
            &server.name,
            "psql",
            "-U",
            "postgres",
            "-qc",
            "SET password_encryption = 'md5'; ALTER ROLE postgres PASSWORD 'bench'",
        ])?;
        // The same route as ours: the container's own address when it answers (no port proxy
        // copying every query), else the published port.
        let ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            &server.name,
        ])?;
        let direct = ip.split_whitespace().find(|ip| {
            ip.parse::<std::net::IpAddr>().is_ok_and(|ip| {
                std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::new(ip, 5432),
                    Duration::from_millis(250),
                )
                .is_ok()
            })
        });
        let address = match direct {
            Some(ip) => format!("{ip}:5432"),
            None => format!("127.0.0.1:{port}"),
        };
        let mut server = server;
        server.url = format!("postgres://postgres:bench@{address}/postgres");
        Ok(server)
    }
}

impl SqlxServer {
    /// The floor's database on this server: created and migrated (by the floor's `migrate`
    /// test), untimed; the URL names it.
    fn floor(mut self, built: &Built) -> Result<SqlxServer> {
        docker(&[
            "exec",
            &self.name,
            "psql",
            "-U",
            "postgres",
            "-qc",
            "CREATE DATABASE bench_floor",
        ])?;
        self.url = match self.url.strip_suffix("/postgres") {
            Some(server) => format!("{server}/bench_floor"),
            None => return Err(format!("not a maintenance database's URL: {}", self.url)),
        };
        let exe = built
            .executables
            .get(Target::Floor.test())
            .ok_or("no test binary was built for the floor")?;
        let out = Command::new(exe)
            .args(["--ignored", "--exact", "migrate"])
            .env("DATABASE_URL", &self.url)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!(
                "migrating the floor's database: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        Ok(self)
    }
}

impl Drop for SqlxServer {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.name]);
    }
}

pub(crate) fn docker(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("docker {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "docker {} failed: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One timed run of `target`'s tests under `runner`.
fn suite(built: &Built, target: Target, runner: Runner, quick: bool) -> Result<SuiteRun> {
    let (filters, tests) = selection(target, quick);
    let sqlx_server = match target {
        Target::SqlxTest => Some(SqlxServer::start()?),
        Target::Floor => Some(SqlxServer::start()?.floor(built)?),
        _ => None,
    };
    let reused = match target {
        Target::Reused(_) => Some(ReusedServer::start(built, target)?),
        _ => None,
    };
    let mut cmd = match runner {
        // What `cargo test --test NAME -- --ignored FILTERS` runs, in the crate's folder.
        Runner::CargoTest => {
            let exe = built
                .executables
                .get(target.test())
                .ok_or_else(|| format!("no test binary was built for {}", target.test()))?;
            let mut c = Command::new(exe);
            c.arg("--ignored")
                .args(&filters)
                .current_dir(root().join("bench-suite"))
                .env("CARGO_MANIFEST_DIR", root().join("bench-suite"))
                .env("CARGO_PKG_NAME", "bench-suite");
            c
        }
        // `cargo nextest run` on the binaries built above (nextest's reuse of a build).
        Runner::Nextest => {
            let mut c = cargo(&["nextest", "run", "--run-ignored", "only", "--no-fail-fast"]);
            c.arg("--binaries-metadata")
                .arg(&built.nextest_binaries)
                .arg("--cargo-metadata")
                .arg(&built.cargo_metadata)
                .args(["-E", &format!("binary(={})", target.test())])
                .args(&filters)
                .current_dir(root());
            c
        }
    };
    cmd.envs(ours_env())
        .env("BENCH_SUITE_LABEL", sampler::bench_id())
        .stdin(Stdio::null());
    if reused.is_some() {
        cmd.env("FIXTURES_REUSE", "1");
    }
    if let Some(s) = &sqlx_server {
        cmd.env("DATABASE_URL", &s.url);
    }
    let report_file = std::env::temp_dir().join(format!(
        "fixtures-bench-{}-{}.jsonl",
        target.test(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&report_file);
    cmd.env("FIXTURES_REPORT_FILE", &report_file);
    let shown = format!("{} {} ({} tests)", runner.label(), target.test(), tests);
    eprintln!("\n==> {shown}");
    let log = std::env::temp_dir().join(format!(
        "fixtures-bench-{}-{}.log",
        target.test(),
        std::process::id()
    ));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let file2 = file.try_clone().map_err(|e| e.to_string())?;
    cmd.stdout(file).stderr(file2);

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{shown}: {e}"))?;
    let kept = reused.as_ref().map(|r| r.ids.clone()).unwrap_or_default();
    let sampler = Sampler::start(child.id(), kept, stop.clone());
    let status = child.wait().map_err(|e| format!("{shown}: {e}"))?;
    let wall = start.elapsed();
    stop.store(true, Ordering::Release);
    let sampled = sampler.finish();
    drop(sqlx_server);
    drop(reused);
    let left_behind = sampler::wait_gone(&sampled.containers, Duration::from_secs(60));
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let passed = passed_count(&output, runner);
    eprintln!(
        "<== {:.1}s {shown}: {passed:?} passed, peak {} servers, {} left behind",
        wall.as_secs_f64(),
        sampled.peak,
        left_behind
    );
    if !status.success() || passed != Some(tests) {
        let tail: Vec<&str> = output.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{shown}: {status}, {passed:?} of {tests} passed:\n{}",
            tail.join("\n")
        ));
    }
    let fixtures =
        crate::report::aggregate(&std::fs::read_to_string(&report_file).unwrap_or_default());
    let _ = std::fs::remove_file(&report_file);
    Ok(SuiteRun {
        target,
        runner,
        tests,
        wall,
        peak_servers: sampled.peak,
        left_behind,
        fixtures,
        test_times: nextest_times(&output),
    })
}

/// Each test's time in nextest's output (`PASS [   0.110s]`), in ms.
fn nextest_times(output: &str) -> Vec<f64> {
    output
        .lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix("PASS [")?;
            let secs = rest.split('s').next()?.trim();
            Some(secs.parse::<f64>().ok()? * 1e3)
        })
        .collect()
}

/// How many tests passed, from the runner's summary line.
fn passed_count(output: &str, runner: Runner) -> Option<usize> {
    let number_before = |line: &str, word: &str| -> Option<usize> {
        let i = line.find(word)?;
        line[..i].split_whitespace().last()?.parse().ok()
    };
    match runner {
        Runner::CargoTest => output
            .lines()
            .filter(|l| l.starts_with("test result:"))
            .map(|l| number_before(l, " passed"))
            .sum(),
        Runner::Nextest => output
            .lines()
            .rev()
            .find(|l| l.contains("tests run:"))
            .and_then(|l| number_before(l, " passed")),
    }
}

/// The runs of one (target, runner), summarised.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    /// Median wall time.
    pub(crate) wall: Duration,
    /// Fastest and slowest run.
    pub(crate) range: (Duration, Duration),
    /// How many runs.
    pub(crate) runs: usize,
    /// The most servers alive at once, over all runs.
    pub(crate) peak: usize,
    /// Tests per run.
    pub(crate) tests: usize,
    /// Containers left behind by the worst run.
    pub(crate) left: usize,
}

impl Summary {
    /// Seconds per test.
    pub(crate) fn per_test(&self) -> f64 {
        self.wall.as_secs_f64() / self.tests.max(1) as f64
    }
}

/// The runs per (target, runner).
pub(crate) fn summarise(runs: &[SuiteRun]) -> HashMap<(Target, Runner), Summary> {
    let mut by: HashMap<(Target, Runner), Vec<&SuiteRun>> = HashMap::new();
    for r in runs {
        by.entry((r.target, r.runner)).or_default().push(r);
    }
    by.into_iter()
        .map(|(k, v)| {
            let mut walls: Vec<Duration> = v.iter().map(|r| r.wall).collect();
            walls.sort();
            let summary = Summary {
                wall: walls[walls.len() / 2],
                range: (walls[0], walls[walls.len() - 1]),
                runs: walls.len(),
                peak: v.iter().map(|r| r.peak_servers).max().unwrap_or(0),
                tests: v[0].tests,
                left: v.iter().map(|r| r.left_behind).max().unwrap_or(0),
            };
            (k, summary)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passed_counts_are_read_from_both_runners() {
        let libtest = "test m00::t000 ... ok\n\ntest result: ok. 10 passed; 0 failed; 0 ignored";
        assert_eq!(passed_count(libtest, Runner::CargoTest), Some(10));
        let nextest = "     Summary [   9.1s] 40 tests run: 40 passed, 0 skipped";
        assert_eq!(passed_count(nextest, Runner::Nextest), Some(40));
        assert_eq!(passed_count("nothing", Runner::Nextest), None);
        let times = nextest_times("        PASS [   0.110s] ( 4/10) b::t m00::t003\n   START x\n");
        assert_eq!(times.len(), 1);
        assert!((times[0] - 110.0).abs() < 1e-6);
    }

    #[test]
    fn executables_are_read_from_cargos_messages() {
        let json = r#"{"reason":"compiler-artifact","package_id":"x","target":{"kind":["test"],"name":"ours_test_scope","src_path":"/w/t.rs"},"executable":"/w/target/debug/deps/ours_test_scope-ab12"}
{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"examples"},"executable":null}
{"reason":"build-finished","success":true}"#;
        let exes = executables(json);
        assert_eq!(exes.len(), 1);
        assert_eq!(
            exes["ours_test_scope"],
            PathBuf::from("/w/target/debug/deps/ours_test_scope-ab12")
        );
    }

    #[test]
    fn the_quick_run_selects_ten_tests_of_each() {
        for t in Target::ALL {
            assert_eq!(selection(t, true), (vec!["t00"], 10));
        }
        assert_eq!(selection(Target::Testcontainers, false).1, 40);
        assert_eq!(selection(Target::SqlxTest, false), (vec![], 200));
        assert_eq!(selection(Target::Floor, false), (vec!["::t"], 200));
    }
}

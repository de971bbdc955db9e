//! BENCHMARKS.md: the machine, the command, the figures, the ratios and the targets.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use super::{Results, Runner, Scope, Summary, Target, summarise};

/// BENCHMARKS.md below this line is written by hand and kept when the figures are regenerated.
pub(crate) const KEPT_MARKER: &str =
    "<!-- Below: written by hand from a run's figures; `cargo xtask bench` keeps it. -->";

/// What the machine is, for the report.
pub(crate) fn machine() -> Vec<(String, String)> {
    let first_line = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "?".into())
    };
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let postgres = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/postgres"))
        .find(|p| p.exists())
        .map(|p| first_line(&p.to_string_lossy(), &["--version"]))
        .unwrap_or_else(|| "?".into());
    vec![
        (
            "date (UTC)".into(),
            first_line("date", &["-u", "+%Y-%m-%d %H:%M"]),
        ),
        ("CPU".into(), format!("{cpu}, {cores} cores (nproc)")),
        ("memory".into(), memory),
        (
            "kernel".into(),
            read("/proc/sys/kernel/osrelease").trim().to_owned(),
        ),
        ("rustc".into(), first_line("rustc", &["--version"])),
        (
            "cargo-nextest".into(),
            first_line("cargo", &["nextest", "--version"]),
        ),
        (
            "Docker Engine".into(),
            first_line("docker", &["version", "--format", "{{.Server.Version}}"]),
        ),
        (
            "Docker storage driver".into(),
            first_line("docker", &["info", "--format", "{{.Driver}}"]),
        ),
        ("Postgres (local binaries)".into(), postgres),
        (
            "Postgres image".into(),
            format!(
                "`{}` (built locally by scripts/build-images.sh; never pulled)",
                super::IMAGE
            ),
        ),
        ("load average (1, 5, 15 min) at the start".into(), loadavg()),
    ]
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `@median <key> <ms>` lines of a bench's output.
fn medians(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter_map(|l| {
            let (key, v) = l.strip_prefix("@median ")?.rsplit_once(' ')?;
            Some((key.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// A bench's printed report without its machine-readable lines.
fn prose(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('@'))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .replace("\n## ", "\n### ")
        .replacen("## ", "### ", 1)
}

/// The cell of the clean bench's table in the row starting with `case`, column `col` (1 =
/// Auto), in milliseconds.
fn clean_cell(text: &str, case: &str, col: usize) -> Option<f64> {
    let row = text
        .lines()
        .find(|l| l.starts_with(&format!("| {case} |")))?;
    let cell = row.split('|').map(str::trim).nth(col + 1)?;
    cell.strip_suffix(" ms")?.trim().parse().ok()
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn per_test(d: Duration, tests: usize) -> Duration {
    d / tests.max(1) as u32
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**MISSED**" }
}

struct Figures {
    clean: Vec<(usize, Option<f64>, Option<f64>)>,
    fresh_warm: Option<f64>,
    /// Per runner, the test- and module-scope ratios vs `#[sqlx::test]`: our server started
    /// in the timed run, and reused (started before it, as `#[sqlx::test]`'s).
    ratios: Vec<(Runner, [Ratio; 2])>,
    nextest_peaks: Vec<(Target, usize)>,
}

fn figures(r: &Results) -> Figures {
    let iso = medians(&r.isolation);
    let sums = summarise(&r.suites);
    let cost = |t: Target, runner: Runner| sums.get(&(t, runner)).map(Summary::per_test);
    let ratio =
        |t: Target, runner: Runner| Some(cost(Target::SqlxTest, runner)? / cost(t, runner)?);
    Figures {
        clean: [(20, "app"), (100, "wide")]
            .into_iter()
            .map(|(n, schema)| {
                let auto = clean_cell(&r.clean, &format!("{n} tables, a few rows in 4 tables"), 1);
                let turn = iso.get(&format!("suite {schema} wait")).copied();
                (n, auto, turn)
            })
            .collect(),
        fresh_warm: iso.get("fresh app warm=4 wait").copied(),
        ratios: [Runner::CargoTest, Runner::Nextest]
            .into_iter()
            .map(|runner| {
                (
                    runner,
                    [
                        Ratio {
                            started: ratio(Target::TestScope, runner),
                            reused: ratio(Target::Reused(Scope::Test), runner),
                        },
                        Ratio {
                            started: ratio(Target::ModuleScope, runner),
                            reused: ratio(Target::Reused(Scope::Module), runner),
                        },
                    ],
                )
            })
            .collect(),
        nextest_peaks: Target::ALL
            .into_iter()
            .filter(|t| t.ours())
            .filter_map(|t| sums.get(&(t, Runner::Nextest)).map(|s| (t, s.peak)))
            .collect(),
    }
}

/// A ratio vs `#[sqlx::test]` with our server started inside the timed run, and with it
/// reused.
#[derive(Debug, Clone, Copy)]
struct Ratio {
    started: Option<f64>,
    reused: Option<f64>,
}

impl Ratio {
    /// The like-for-like figure (the `#[sqlx::test]` server is started before its timed run):
    /// reused when measured.
    fn judged(&self) -> Option<f64> {
        self.reused.or(self.started)
    }

    fn show(&self) -> String {
        match self.reused {
            Some(_) => format!(
                "{} with the server reused (like `#[sqlx::test]`'s, started before the run); {} with our server's start inside the run",
                x(self.reused),
                x(self.started)
            ),
            None => x(self.started),
        }
    }
}

fn x(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.1}×"))
}

/// The targets of issues #5 and #18, each with its figure and verdict.
fn targets(r: &Results) -> String {
    let f = figures(r);
    let mut out = String::from("| target | measured | |\n|---|---|---|\n");
    for (n, auto, turn) in &f.clean {
        let limit = if *n == 20 { 2.0 } else { 5.0 };
        let turn_text = turn.map_or_else(String::new, |t| {
            format!(
                "; a whole suite-scope turn (lock, mark check, clean) on the {} schema: {t:.2} ms",
                if *n == 20 {
                    "21-table example"
                } else {
                    "200-table"
                }
            )
        });
        out += &match auto {
            Some(auto) => format!(
                "| clean ≤ {limit} ms at {n} tables | `Auto` after a typical test: {auto:.2} ms{turn_text} | {} |\n",
                verdict(*auto <= limit)
            ),
            None => format!(
                "| clean ≤ {limit} ms at {n} tables | not found in the clean bench's output{turn_text} | ? |\n"
            ),
        };
    }
    match f.fresh_warm {
        Some(w) => {
            out += &format!(
                "| fresh database wait ≤ 15 ms median, warm pool | {w:.2} ms (21 tables) | {} |\n",
                verdict(w <= 15.0)
            )
        }
        None => {
            out += "| fresh database wait ≤ 15 ms median, warm pool | not measured | **MISSED** |\n"
        }
    }
    for (runner, [test, module]) in &f.ratios {
        out += &format!(
            "| 200 tests ≥ 5× faster than `#[sqlx::test]`, test scope, {} | {} | {} |\n",
            runner.label(),
            test.show(),
            verdict(test.judged().is_some_and(|v| v >= 5.0))
        );
        out += &format!(
            "| 200 tests ≥ 20× faster than `#[sqlx::test]`, module scope, {} | {} | {} |\n",
            runner.label(),
            module.show(),
            verdict(module.judged().is_some_and(|v| v >= 20.0))
        );
    }
    // Issue #18: the cost of isolation over the floor (the same bodies with none).
    let sums = summarise(&r.suites);
    let over_floor = |t: Target, runner: Runner| {
        let cost = |t: Target| sums.get(&(t, runner)).map(Summary::per_test);
        Some(cost(t)? / cost(Target::Floor)?)
    };
    for (scope, started, reused, runner, limit, floor) in [
        (
            "module",
            Target::ModuleScope,
            Scope::Module,
            Runner::CargoTest,
            1.2,
            "(a)",
        ),
        (
            "module",
            Target::ModuleScope,
            Scope::Module,
            Runner::Nextest,
            1.2,
            "(b)",
        ),
        (
            "test",
            Target::TestScope,
            Scope::Test,
            Runner::CargoTest,
            1.5,
            "(a)",
        ),
    ] {
        let (started, reused) = (
            over_floor(started, runner),
            over_floor(Target::Reused(reused), runner),
        );
        let judged = reused.or(started);
        out += &format!(
            "| {scope} scope ≤ {limit}× floor {floor}, {} | {} with the server reused (the floor's is started before the run); {} with our server's start inside the run | {} |\n",
            runner.label(),
            x(reused),
            x(started),
            verdict(judged.is_some_and(|v| v <= limit))
        );
    }
    out += &user_targets(r);
    let peaks: Vec<String> = f
        .nextest_peaks
        .iter()
        .map(|(t, p)| match t {
            Target::Reused(_) => format!("{} (server reused): {p}", t.test()),
            _ => format!("{}: {p}", t.test()),
        })
        .collect();
    out += &format!(
        "| 1 server alive under nextest | peak servers alive: {} | {} |\n",
        peaks.join(", "),
        verdict(!f.nextest_peaks.is_empty() && f.nextest_peaks.iter().all(|(_, p)| *p == 1))
    );
    out
}

fn suites_table(r: &Results) -> String {
    let sums = summarise(&r.suites);
    let mut out = String::from(
        "| tests | runner | tests run | wall time | per test | Postgres servers alive at peak | × the floor | × faster than `#[sqlx::test]` | × faster than testcontainers-rs |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for runner in [Runner::CargoTest, Runner::Nextest] {
        let cost = |t: Target| sums.get(&(t, runner)).map(Summary::per_test);
        for t in Target::ALL {
            let Some(s) = sums.get(&(t, runner)) else {
                continue;
            };
            let (wall, peak, tests, left) = (&s.wall, &s.peak, &s.tests, &s.left);
            let mine = s.per_test();
            let vs_sqlx = cost(Target::SqlxTest).map(|s| s / mine);
            let vs_tc = cost(Target::Testcontainers).map(|c| c / mine);
            let vs_floor = cost(Target::Floor).map(|f| mine / f);
            let wall_text = if *tests < 200 && !r.quick {
                format!(
                    "{} for {tests} (≈ {} for 200, extrapolated)",
                    secs(*wall),
                    secs(per_test(*wall, *tests) * 200)
                )
            } else {
                secs(*wall)
            };
            let wall_text = if s.runs > 1 {
                format!(
                    "{wall_text}; {} runs: {}–{}",
                    s.runs,
                    secs(s.range.0),
                    secs(s.range.1)
                )
            } else {
                wall_text
            };
            let left_text = if *left > 0 {
                format!(" ({left} containers left behind, removed by the xtask)")
            } else {
                String::new()
            };
            out += &format!(
                "| {} | {} | {tests} | {wall_text} | {:.0} ms | {peak}{left_text} | {} | {} | {} |\n",
                t.label(),
                runner.label(),
                mine * 1000.0,
                x(vs_floor),
                if t == Target::SqlxTest {
                    "1.0×".into()
                } else {
                    x(vs_sqlx)
                },
                if t == Target::Testcontainers {
                    "1.0×".into()
                } else {
                    x(vs_tc)
                },
            );
        }
    }
    out
}

/// Issue #18's targets on a user's path: the module-scope turn in a user's crate (debug
/// build), its agreement with the in-workspace bench, and the real-app suite.
fn user_targets(r: &Results) -> String {
    use super::realapp::Way;
    use super::userpath::{Scope as UScope, Style};
    let mut out = String::new();
    let median = |style: Style| {
        r.userpath
            .iter()
            .find(|u| u.style == style && u.scope == UScope::Module)
            .filter(|u| !u.samples.is_empty())
            .map(|u| crate::report::quantile(&u.samples, 0.5))
    };
    let (rstest, helper) = (median(Style::Rstest), median(Style::SpawnApp));
    let bench = medians(&r.isolation).get("module wide wait").copied();
    let ms = |v: Option<f64>| v.map_or_else(|| "—".into(), |v| format!("{v:.2} ms"));
    out += &format!(
        "| module-scope turn ≤ 3 ms median at 200 tables, a user's crate (debug build, 2 test threads) | `#[rstest]`: {}; `spawn_app()`: {} (every turn, a lane's first ones included) | {} |\n",
        ms(rstest),
        ms(helper),
        verdict(rstest.is_some_and(|v| v <= 3.0) && helper.is_some_and(|v| v <= 3.0))
    );
    let ratio = |v: Option<f64>| Some(v? / bench?);
    let worst = [ratio(rstest), ratio(helper)]
        .into_iter()
        .flatten()
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    out += &format!(
        "| the user's path and the in-workspace bench agree within 1.5× | in-workspace (release, one test at a time, 200 tables): {}; the user's crate over it: `#[rstest]` {}, `spawn_app()` {} | {} |\n",
        ms(bench),
        x(ratio(rstest)),
        x(ratio(helper)),
        verdict(worst.is_some_and(|v| v <= 1.5))
    );
    let cold: Vec<_> = r
        .realapp
        .iter()
        .filter(|w| matches!(w.way, Way::Cold(_)))
        .collect();
    if !cold.is_empty() {
        let shown: Vec<String> = cold
            .iter()
            .map(|w| format!("{}: {:.2}×", w.way.label(), w.vs_handwritten))
            .collect();
        let left: usize = cold
            .iter()
            .map(|w| w.databases_left.unwrap_or(0) + w.containers_left)
            .sum();
        out += &format!(
            "| real app, 50 tests: ours ≤ 0.9× the hand-written helper's wall time, cold, Docker backend, 0 databases left | {}; left behind: {left} | {} |\n",
            shown.join("; "),
            verdict(left == 0 && cold.iter().all(|w| w.vs_handwritten <= 0.9))
        );
    }
    let reused: Vec<_> = r
        .realapp
        .iter()
        .filter(|w| matches!(w.way, Way::Reused(_)))
        .collect();
    if !reused.is_empty() {
        let shown: Vec<String> = reused
            .iter()
            .map(|w| {
                format!(
                    "{}: {}",
                    w.way.label(),
                    w.framework_share
                        .map_or_else(|| "—".into(), |v| format!("{:.1} %", v * 100.0))
                )
            })
            .collect();
        out += &format!(
            "| real app: the framework's share of the suite's time ≤ 3 % with reuse | {} | {} |\n",
            shown.join("; "),
            verdict(
                reused
                    .iter()
                    .all(|w| w.framework_share.is_some_and(|v| v <= 0.03))
            )
        );
    }
    out
}

/// Under nextest (one process per test): where a test process's time goes — the median of
/// each of our fixtures' setups over the run's processes (its own time, from the reports), the
/// mean of its teardowns, and the rest (the process's start and exit, the runtime, the body and
/// its connections) — beside the floor's whole test process.
fn nextest_breakdown(r: &Results) -> String {
    use crate::report::quantile;
    let run_of = |t: Target| {
        r.suites
            .iter()
            .find(|s| s.target == t && s.runner == Runner::Nextest)
    };
    let floor = run_of(Target::Floor)
        .filter(|s| !s.test_times.is_empty())
        .map(|s| quantile(&s.test_times, 0.5));
    let mut out = String::from(
        "| tests (nextest) | a test process (median) | server joined (`pg_server`) | shared database (`shared_db`) | the test's database (`db`) | teardowns (mean) | the rest (process, runtime, body) | floor (b): a test process (median) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for t in Target::ALL.into_iter().filter(|t| t.ours()) {
        let Some(run) = run_of(t).filter(|s| !s.test_times.is_empty()) else {
            continue;
        };
        let process = quantile(&run.test_times, 0.5);
        let setup = |name: &str| -> f64 {
            let samples: Vec<f64> = run
                .fixtures
                .iter()
                .filter(|(k, _)| k.rsplit("::").next() == Some(name))
                .flat_map(|(_, row)| row.samples.iter().copied())
                .collect();
            quantile(&samples, 0.5)
        };
        let processes = run.test_times.len().max(1) as f64;
        let teardowns = run
            .fixtures
            .values()
            .map(|row| row.teardown_ms)
            .sum::<f64>()
            / processes;
        let (server, shared, db) = (setup("pg_server"), setup("shared_db"), setup("db"));
        let rest = process - server - shared - db - teardowns;
        out += &format!(
            "| {} | {process:.1} ms | {server:.1} ms | {shared:.1} ms | {db:.1} ms | {teardowns:.1} ms | {rest:.1} ms | {} |\n",
            t.label(),
            floor.map_or_else(|| "—".into(), |f| format!("{f:.1} ms")),
        );
    }
    out += "\nA test process: nextest's time for the test (its process, start to exit), median over \
            the run. Our fixtures' columns: the median of each setup's own time over the run's \
            processes (from the fixtures' reports; `pg_server` in a process that joins the run: \
            its server found from the run's note, its settings read, its keeper connection — \
            the run's liveness lock — and the admin pool's first connection opened at once). The \
            rest: the process's start and exit, the runtime, the test's body and the \
            connections it opens.\n";
    out
}

/// The short summary printed after a full run.
pub(crate) fn headline(r: &Results) -> String {
    format!(
        "Targets (issues #5 and #18):\n\n{}\n{}",
        targets(r),
        suites_table(r)
    )
}

/// The whole report.
pub(crate) fn render(r: &Results) -> String {
    let machine: String = r
        .machine
        .iter()
        .map(|(k, v)| format!("| {k} | {v} |\n"))
        .collect();
    let reps = if r.reps > 1 {
        format!("the median of {} runs", r.reps)
    } else {
        "one run".to_owned()
    };
    let quick = if r.quick {
        "\n> **Quick run** (`--quick`, what CI runs): 10 tests per target, few samples; it keeps the \
         harness compiling and honest — its figures are not the benchmark.\n"
    } else {
        ""
    };
    format!(
        r#"# Benchmarks

Generated by `{command}` (bench-suite/ and xtask/src/bench.rs) — do not edit by hand; rerun it.
Everything down to the hand-written analysis at the end was measured in that one run, on the
machine described, in {elapsed:.0} s; ratios compare figures of the same run.
{quick}
## Reproduce

```sh
{command}        # builds first, then times only the runs; writes BENCHMARKS.md
cargo xtask bench --quick  # the short version CI runs (prints, writes nothing)
```

It needs a Docker Engine; it installs cargo-nextest and the Postgres binaries when missing and
builds `{image}` locally (no registry). Every container and server it starts is removed at the
end (it fails otherwise).

## Machine

| | |
|---|---|
{machine}
Noise: 2 cores, shared by the test runners, Docker, Postgres and whatever else runs on the machine
(see the load averages above). Compare figures of the same run; `--reps N` repeats each suite run
and reports the median and the range.

## Targets (issues #5 and #18)

{targets}
## 1. Per-test isolation overhead

### The clean strategies (fixtures-postgres `clean` bench)

`cargo bench --workspace --bench clean` (fixtures-postgres/benches/clean.rs), on the Docker
backend (`{image}`, tmpfs, fsync off): scratch databases with schemas of 20 and 100 tables. `Auto` is what module and suite scope
use by default; `Truncate` is a literal `TRUNCATE … RESTART IDENTITY CASCADE` of every table
from the catalog; `Delete` deletes from every table; `BEGIN/ROLLBACK` is a transaction around
the test.

{clean}

### A test's database, by scope (bench-suite `isolation` bench)

`cargo bench --workspace --bench isolation` (bench-suite/benches/isolation.rs), on the Docker backend (`{image}`, tmpfs, fsync
off): what a test waits for before its body, and what its end costs, through the same fixtures a
test uses (`pg::test_scope::db`, `pg::module_scope::db`, `pg::suite_scope::db`).

{isolation}

## 2. The same 200 tests, six ways, two runners

`bench-suite/tests/*.rs`: 200 tests (`t000`…`t199`, 10 modules of 20) with one body
(`bench_suite::typical`: an organisation, a user, a membership, a project and 2 tasks through
`examples::Repo` on the 21-table example schema, read back, identities checked to start at 1),
each test `#[ignore]`d so that workspace runs skip them; run with `--ignored` (nextest:
`--run-ignored only`). Wall time ({reps}) is the test run's, after everything was built: under `cargo test`, the test
binary run as `cargo test --test NAME -- --ignored` runs it (cargo's own start left out, so that
a rebuild or another build's lock cannot slip in); under nextest, `cargo nextest run
--run-ignored only` on that build (`--binaries-metadata`/`--cargo-metadata`), its listing
included. Our container's start and removal are inside the timed run, except in the rows "server
reused". Runner defaults: libtest
and nextest both run 2 tests at a time here.

- **ours**: the Docker backend (`FIXTURES_PG_BACKEND=docker`), one container of `{image}` for the
  run (tmpfs, fsync off, the password stored as md5), started inside the timed run, reached at
  the container's own address (no port proxy), as fixtures-docker offers it on a local engine.
  Module and suite scope keep a lane's test connections from one test to the next (reset).
- **ours, server reused**: the same, with `FIXTURES_REUSE=1`: an untimed run of one test
  (`m00::t000`) leaves its container (migrated template and warm clones included) and the timed
  run adopts it, as a developer's second run does; the xtask removes the container after the
  timed run. This is the like-for-like comparison with `#[sqlx::test]`, whose server is started
  before its timed run too.
- **`#[sqlx::test]`** (`migrator = "examples::MIGRATOR"`): a database per test, the migrations
  applied per test, on one server the xtask starts *before* the timed run (a container of the same
  image with the same settings — tmpfs, fsync off, the password stored as md5 — given through
  `DATABASE_URL`, at the container's own address like ours) and removes after it.
- **floor** (`floor_no_isolation`): the same statements with no isolation at all — one
  database, created and migrated before the timed run on a server started before it (as
  `#[sqlx::test]`'s), each test opening a pool of its own from `DATABASE_URL` (on its runtime,
  lazily, at most 4 connections, as a suite without a framework does) and writing under keys of
  its own (`bench_suite::unisolated`: the test's name in the unique keys; identities not
  checked). Under `cargo test` it is floor (a); under nextest floor (b), the same bodies in
  bare test processes with a plain connection. "× the floor" is a row's per-test cost over
  the floor's, same runner.
- **testcontainers-rs** 0.28: each test starts a `GenericImage` container of the same image
  (tmpfs data, fsync off, the image's default SCRAM authentication; ready on the log line, then a
  real connection, since the line is logged twice on a fresh data directory), migrates, runs the
  body, and drops the container. It runs 40
  tests (`t000`…`t039`) per runner, not 200: its per-test cost is measured on 40 and the 200 figure
  is extrapolated (×5), as labelled.

Servers alive at peak: sampled every ~100 ms (containers of the image that belong to the run,
or were left for it to reuse, plus local servers of ours started during it).

{suites}
### Where a test process's time goes under nextest

{breakdown}
## 3. Suite start (bench-suite `startup` bench)

`cargo bench --workspace --bench startup` (bench-suite/benches/startup.rs): each start is a new process and a new run (a new
`FIXTURES_RUN_ID`); its second process joins the run as a nextest process does
(`FIXTURES_RUN_ID` / `FIXTURES_RUN_OWNER` shared).

{startup}

## 4. A user's crate (`consumers/userpath`)

A crate outside the workspace (its own `[workspace]` and lockfile) that depends on ours by path
and uses only the public API: a 200-table migration, 60 tests per binary (module scope: 3
modules of 20), each writing a few rows into 4 tables and reading them back; one binary per
style and scope — `#[rstest]` injection of `db`, and plain `#[tokio::test]`s calling a
`spawn_app()` helper that serves an axum app on the test's database (its own pool from
`db.url()`) and calls it over HTTP. Built in the dev profile and run as `cargo test` runs it
(`--test-threads 2`), on the Docker backend. The per-test cost is read from the fixtures'
report (`FIXTURES_REPORT_FILE`: each setup's own time).

{userpath}
## 5. A real-app-style suite (`consumers/realapp`)

{realapp}
"#,
        command = r.command,
        elapsed = r.elapsed.as_secs_f64(),
        image = super::IMAGE,
        targets = targets(r),
        clean = prose(&r.clean),
        isolation = prose(&r.isolation),
        suites = suites_table(r),
        breakdown = nextest_breakdown(r),
        userpath = super::userpath::table(&r.userpath),
        realapp = super::realapp::table(&r.realapp),
        startup = prose(&r.startup),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_cells_are_read_from_the_clean_benchs_table() {
        let text = "| case | Auto | x |\n|---|---|---|\n| 20 tables, a few rows in 4 tables | 1.25 ms | 3.00 ms |";
        assert_eq!(
            clean_cell(text, "20 tables, a few rows in 4 tables", 1),
            Some(1.25)
        );
        assert_eq!(
            clean_cell(text, "20 tables, a few rows in 4 tables", 2),
            Some(3.0)
        );
        assert_eq!(
            clean_cell(text, "100 tables, a few rows in 4 tables", 1),
            None
        );
    }

    #[test]
    fn medians_are_read_and_hidden_from_the_prose() {
        let text = "## Title\n| a |\n@median fresh app warm=4 wait 12.500\n";
        assert_eq!(medians(text)["fresh app warm=4 wait"], 12.5);
        assert_eq!(prose(text), "### Title\n| a |");
    }
}

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

/// The targets of issue #5, each with its figure and verdict.
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
                    "100-table"
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
        "| tests | runner | tests run | wall time | per test | Postgres servers alive at peak | × faster than `#[sqlx::test]` | × faster than testcontainers-rs |\n|---|---|---|---|---|---|---|---|\n",
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
                "| {} | {} | {tests} | {wall_text} | {:.0} ms | {peak}{left_text} | {} | {} |\n",
                t.label(),
                runner.label(),
                mine * 1000.0,
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

/// The short summary printed after a full run.
pub(crate) fn headline(r: &Results) -> String {
    format!("Targets (issue #5):\n\n{}\n{}", targets(r), suites_table(r))
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

## Targets (issue #5)

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

## 2. The same 200 tests, five ways, two runners

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
- **testcontainers-rs** 0.28: each test starts a `GenericImage` container of the same image
  (tmpfs data, fsync off, the image's default SCRAM authentication; ready on the log line, then a
  real connection, since the line is logged twice on a fresh data directory), migrates, runs the
  body, and drops the container. It runs 40
  tests (`t000`…`t039`) per runner, not 200: its per-test cost is measured on 40 and the 200 figure
  is extrapolated (×5), as labelled.

Servers alive at peak: sampled every ~100 ms (containers of the image that belong to the run,
or were left for it to reuse, plus local servers of ours started during it).

{suites}
## 3. Suite start (bench-suite `startup` bench)

`cargo bench --workspace --bench startup` (bench-suite/benches/startup.rs): each start is a new process and a new run (a new
`FIXTURES_RUN_ID`); its second process joins the run as a nextest process does
(`FIXTURES_RUN_ID` / `FIXTURES_RUN_OWNER` shared).

{startup}
"#,
        command = r.command,
        elapsed = r.elapsed.as_secs_f64(),
        image = super::IMAGE,
        targets = targets(r),
        clean = prose(&r.clean),
        isolation = prose(&r.isolation),
        suites = suites_table(r),
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

//! The project's two commands.
//!
//! - `cargo xtask demo`: the main job. Sets up what is missing, runs the example test suites
//!   (on the Docker backend when an engine is there, else on local Postgres binaries) and
//!   prints the fixture timings report.
//! - `cargo xtask test`: the tests. Sets up what is missing (Docker required), then format
//!   check, a packaging check of the published crates, clippy, docs, the whole suite under
//!   `cargo test` and under `cargo nextest run`, a user's crate outside the workspace
//!   (`consumers/webapp`, and the adopters' crates; one of them with the skip switch on), the short benchmarks, the short fault runs, and a check that nothing
//!   of ours is left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod bench;
mod consumer;
mod killseries;
mod partitions;
mod reliability;
mod report;
mod setup;
mod skipswitch;
mod versions;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "bench" => bench::run(),
        "reliability" => reliability::run(),
        "versions" => versions(),
        "skip-switch" => skip_switch(),
        "partitions" => partitions(),
        "kill-series" => kill_series(),
        _ => Err(
            "usage: cargo xtask demo | test | bench [--quick] [--reps N] | reliability \
                  [--quick | --full | --load] [--record] [--seed N] | versions | skip-switch | partitions | \
                  kill-series [--runs N] [--seed N]"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs a command in the workspace root, echoing it; fails on a non-zero exit.
pub(crate) fn run(cmd: &mut Command) -> Result {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("\n==> {shown}");
    let start = Instant::now();
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    eprintln!("<== {:.1}s {shown}", start.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} exited with {status}"))
    }
}

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args);
    c
}

fn demo() -> Result {
    let docker = setup::docker_available();
    setup::postgres_binaries()?;
    if docker {
        setup::images()?;
    } else {
        eprintln!("Docker is not available: the examples run on local Postgres binaries.");
    }
    let report_file =
        std::env::temp_dir().join(format!("fixtures-demo-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&report_file);
    let mut cmd = cargo(&["test", "-p", "examples"]);
    cmd.env("FIXTURES_REPORT_FILE", &report_file);
    if docker {
        cmd.envs(setup::test_images());
    } else {
        // The modules with containers of their own (compose-style, a compose file, Redis) need
        // an engine; everything else runs on local binaries.
        cmd.env("FIXTURES_PG_BACKEND", "local").args([
            "--",
            "--skip",
            "containers::",
            "--skip",
            "compose::",
            "--skip",
            "redis::",
        ]);
    }
    run(&mut cmd)?;
    let text = std::fs::read_to_string(&report_file).unwrap_or_default();
    let rows = report::aggregate(&text);
    println!(
        "\nfixture timings (all example test binaries)\n{}",
        report::table(&rows)
    );
    println!("{}", report::summary(&rows));
    let _ = std::fs::remove_file(&report_file);
    Ok(())
}

/// `fixtures-postgres`'s tests against Postgres 13 and 17 alone (part of `test`).
fn versions() -> Result {
    setup::require_docker()?;
    let mut env = setup::test_images();
    env.push(("FIXTURES_REQUIRE_DOCKER", "1".into()));
    env.push(("FIXTURES_PG_BACKEND", "docker".into()));
    versions::run_all(&env)
}

/// The skip switch from a user's crate (part of `test`).
fn skip_switch() -> Result {
    setup::require_docker()?;
    setup::nextest()?;
    let mut env = setup::test_images();
    env.push(("FIXTURES_PG_BACKEND", "docker".into()));
    skipswitch::run(&env)
}

/// Two nextest partitions at once on one shared server (part of `test`).
fn partitions() -> Result {
    setup::require_docker()?;
    setup::nextest()?;
    let mut env = setup::test_images();
    env.push(("FIXTURES_REQUIRE_DOCKER", "1".into()));
    partitions::run(&env)
}

/// Two runs at once on one server, the second killed whole at a random moment (issue 17's
/// series): `--runs N` (default 20), `--seed N` (default 1).
fn kill_series() -> Result {
    setup::require_docker()?;
    setup::nextest()?;
    let args: Vec<String> = std::env::args().skip(2).collect();
    let value = |flag: &str, default: u64| -> Result<u64> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number")),
            None => Ok(default),
        }
    };
    let mut env = setup::test_images();
    env.push(("FIXTURES_REQUIRE_DOCKER", "1".into()));
    killseries::run(&env, value("--runs", 20)? as usize, value("--seed", 1)?)
}

fn test() -> Result {
    setup::require_docker()?;
    setup::nextest()?;
    setup::postgres_binaries()?;
    setup::images()?;
    let images = setup::test_images();
    let with_backend = |backend: &'static str| {
        let mut env = images.clone();
        env.push(("FIXTURES_REQUIRE_DOCKER", "1".into()));
        env.push(("FIXTURES_PG_BACKEND", backend.into()));
        env
    };
    run(&mut cargo(&["fmt", "--all", "--check"]))?;
    package()?;
    run(&mut cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo(&["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings"))?;
    // The whole suite under both runners: Postgres on Docker under `cargo test`, on local
    // binaries under nextest; then the Postgres suites again with the backends swapped.
    run(cargo(&["test", "--workspace"]).envs(with_backend("docker")))?;
    setup::assert_nothing_left()?;
    run(cargo(&["nextest", "run", "--workspace"]).envs(with_backend("local")))?;
    setup::assert_nothing_left()?;
    let pg = ["-p", "fixtures-postgres", "-p", "examples"];
    run(cargo(&["nextest", "run"])
        .args(pg)
        .envs(with_backend("docker")))?;
    run(cargo(&["test"]).args(pg).envs(with_backend("local")))?;
    // A user's crate outside the workspace: every scope starts each test from the template.
    consumer::run(&with_backend("docker"))?;
    consumer::run_adopters(&[with_backend("docker"), with_backend("local")])?;
    setup::assert_nothing_left()?;
    // The skip switch (FIXTURES_SKIP=1) from the same user's crate: its marked tests ignored,
    // nothing started, the unmarked one failed with the advice, the conflict named.
    skipswitch::run(&with_backend("docker"))?;
    setup::assert_nothing_left()?;
    // Two nextest partitions at once, one in a PID namespace of its own, on one shared server.
    partitions::run(&with_backend("docker"))?;
    setup::assert_nothing_left()?;
    // Two runs at once on one server, one killed whole at a random moment (the full series:
    // `cargo xtask kill-series`, 20 runs).
    killseries::run(&with_backend("docker"), 2, 1)?;
    setup::assert_nothing_left()?;
    // The Postgres suites against the other server versions (13 and 17).
    versions::run_all(&with_backend("docker"))?;
    setup::assert_nothing_left()?;
    real_nextest_markers()?;
    run(&mut cargo(&[
        "bench",
        "-p",
        "fixtures-core",
        "--bench",
        "lease",
        "--",
        "--quick",
    ]))?;
    // The benchmarks' short version (every way of running the 200 tests on 10 of them, the
    // isolation and startup benches with few samples): keeps them compiling and honest. It
    // prints; BENCHMARKS.md comes from the full `cargo xtask bench`.
    bench::bench(true, 1)?;
    // The fault runs' short version (each signal under each runner and backend, the victims,
    // a nextest timeout, an unreachable engine), each judged by what it left behind.
    reliability::quick_for_ci()?;
    setup::assert_nothing_left()
}

/// The published crates.
const PUBLISHED: [&str; 4] = [
    "fixtures-core-macros",
    "fixtures-core",
    "fixtures-docker",
    "fixtures-postgres",
];

/// The library crates package as crates.io would take them: metadata, a version on every path
/// dependency, the files. Packaged together, so that each resolves the others from the local
/// packages (none is on crates.io yet); `--allow-dirty` packages the working tree as it is.
/// `--no-verify`: verifying builds the packages again from scratch in a target folder of their
/// own (4 min on 2 cores, against 3 s); their sources are the workspace's (no build script,
/// no `include_str!`, nothing from outside the crate), which clippy and the tests compile.
fn package() -> Result {
    let mut cmd = cargo(&["package", "--quiet", "--no-verify", "--allow-dirty"]);
    for krate in PUBLISHED {
        cmd.args(["-p", krate]);
    }
    run(&mut cmd)
}

/// The 3 × 5 scope scenario under a real `cargo nextest run`, checked from its markers.
fn real_nextest_markers() -> Result {
    let file = std::env::temp_dir().join(format!(
        "fixtures-nextest-markers-{}.tsv",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&file);
    run(cargo(&[
        "nextest",
        "run",
        "-p",
        "fixtures-core",
        "--test",
        "scopes",
        "-E",
        "test(/^scenario::/)",
    ])
    .env("FIXTURES_MARKERS", &file))?;
    let checked = run(cargo(&[
        "test",
        "-p",
        "fixtures-core",
        "--test",
        "scopes",
        "--",
        "--ignored",
        "--exact",
        "check::markers_of_a_real_nextest_run",
    ])
    .env("FIXTURES_CHECK_NEXTEST_MARKERS", &file));
    let _ = std::fs::remove_file(&file);
    checked
}

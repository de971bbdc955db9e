//! The consumer crate's tests: `consumers/webapp`, a user's crate outside the workspace that
//! depends on the framework by path and checks, from a user's side, that every scope starts
//! each test from the template (seed rows, sequences, schema).
//!
//! It has its own workspace, Cargo.lock and target folder (`consumers/webapp/target`), so it is
//! built with its own manifest, as a user's project would be.
//!
//! Two more such crates prove that the framework imposes no sqlx version on a project
//! ([`run_adopters`]): `consumers/sqlx08` (an axum app on sqlx 0.8, its migrations run by its
//! own `Migrator` through `Databases::migrate_with`, its settings from `TestDb::parts()`) and
//! `consumers/nosqlx` (tokio-postgres, plain SQL migrations, no sqlx of its own). Each has a
//! helper-style suite (`spawn_app()` from plain `#[tokio::test]`s) and an `#[rstest]` suite, in
//! every scope.

use std::path::PathBuf;
use std::process::Command;

/// The crates that adopt the framework without using its sqlx (issue #14), by folder.
const ADOPTERS: [&str; 2] = ["consumers/sqlx08", "consumers/nosqlx"];

/// The manifest of the consumer crate in `dir` (relative to the workspace root).
fn manifest(dir: &str) -> crate::Result<String> {
    let path: PathBuf = crate::root().join(dir).join("Cargo.toml");
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| "the workspace's path is not UTF-8".into())
}

/// `cargo ARGS` with `env` (the backend, its image, ...).
fn cargo(env: &[(&'static str, String)], args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args).envs(env.iter().map(|(k, v)| (k, v.as_str())));
    c
}

/// Runs each adopting crate's tests ([`ADOPTERS`]) under `cargo test` once per environment in
/// `envs` (one per backend), two test threads (tests overlap in the shared databases' lanes),
/// every test binary and test (`--no-fail-fast`). A failing run does not stop the others: the
/// error names every crate and backend that failed.
pub(crate) fn run_adopters(envs: &[Vec<(&'static str, String)>]) -> crate::Result {
    let mut failed = Vec::new();
    for dir in ADOPTERS {
        let manifest = manifest(dir)?;
        for env in envs {
            let args = [
                "test",
                "--no-fail-fast",
                "--manifest-path",
                &manifest,
                "--",
                "--test-threads",
                "2",
            ];
            if let Err(e) = crate::run(&mut cargo(env, &args)) {
                failed.push(e);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// Runs the consumer crate's tests under `cargo test` (two test threads: tests overlap in the
/// shared databases' lanes), under `cargo nextest run`, and under `cargo test` again with one
/// lane (`FIXTURES_PG_LANES=1`: the tests take turns on one database per module), each with
/// `env` (the backend, its image, ...). Each runs every test binary and test
/// (`--no-fail-fast`), so that a failure shows every test it breaks.
pub(crate) fn run(env: &[(&'static str, String)]) -> crate::Result {
    let manifest = manifest("consumers/webapp")?;
    let manifest = manifest.as_str();
    // `crate::run` runs in the workspace root: the manifest path picks the consumer crate (and
    // with it its own workspace, lock file and target folder).
    let cargo = |args: &[&str]| cargo(env, args);
    crate::run(&mut cargo(&[
        "test",
        "--no-fail-fast",
        "--manifest-path",
        manifest,
        "--",
        "--test-threads",
        "2",
    ]))?;
    crate::run(&mut cargo(&[
        "nextest",
        "run",
        "--no-fail-fast",
        "--manifest-path",
        manifest,
    ]))?;
    crate::run(
        cargo(&["test", "--no-fail-fast", "--manifest-path", manifest])
            .env("FIXTURES_PG_LANES", "1"),
    )
}

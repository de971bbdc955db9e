//! The consumer crate's tests: `consumers/webapp`, a user's crate outside the workspace that
//! depends on the framework by path and checks, from a user's side, that every scope starts
//! each test from the template (seed rows, sequences, schema).
//!
//! It has its own workspace, Cargo.lock and target folder (`consumers/webapp/target`), so it is
//! built with its own manifest, as a user's project would be.

use std::path::PathBuf;
use std::process::Command;

/// Runs the consumer crate's tests under `cargo test` (two test threads: tests overlap in the
/// shared databases' lanes), under `cargo nextest run`, and under `cargo test` again with one
/// lane (`FIXTURES_PG_LANES=1`: the tests take turns on one database per module), each with
/// `env` (the backend, its image, ...). Each runs every test binary and test
/// (`--no-fail-fast`), so that a failure shows every test it breaks.
pub(crate) fn run(env: &[(&'static str, String)]) -> crate::Result {
    let manifest: PathBuf = crate::root().join("consumers/webapp/Cargo.toml");
    let manifest = manifest
        .to_str()
        .ok_or("the workspace's path is not UTF-8")?;
    // `crate::run` runs in the workspace root: the manifest path picks the consumer crate (and
    // with it its own workspace, lock file and target folder).
    let cargo = |args: &[&str]| {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.args(args).envs(env.iter().map(|(k, v)| (k, v.as_str())));
        c
    };
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

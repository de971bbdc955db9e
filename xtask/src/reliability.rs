//! `cargo xtask reliability [--quick|--full|--load] [--record] [faults options]`: the fault
//! harness of issue #6 (`reliability/src/bin/faults`), and the bad-input table.
//!
//! - `--quick` (the default; what CI runs): 13 fault runs, a few of each kind, then the
//!   bad-input tests (`cargo test -p reliability`);
//! - `--full`: every scenario × runner × backend (114 runs);
//! - `--load`: 1,000 tests under 16 threads and under nextest `-j 8`;
//! - `--record` writes the tables into RELIABILITY.md.
//!
//! Local images are used (`FIXTURES_POSTGRES_IMAGE=fixtures-local/postgres:15`) unless the
//! variable is set.

use crate::{Result, cargo, run as run_echoed};

/// What `cargo xtask test` runs: the quick fault runs with a fixed seed (the bad-input tests
/// are part of the workspace's tests).
pub(crate) fn quick_for_ci() -> Result {
    let image = std::env::var("FIXTURES_POSTGRES_IMAGE")
        .unwrap_or_else(|_| "fixtures-local/postgres:15".to_owned());
    run_echoed(
        cargo(&[
            "run",
            "-q",
            "-p",
            "reliability",
            "--bin",
            "faults",
            "--",
            "--quick",
            "--seed",
            "1",
        ])
        .env("FIXTURES_POSTGRES_IMAGE", &image),
    )
}

/// Runs the harness with this command's arguments, then (unless `--load`) the bad-input tests;
/// fails when either fails.
pub(crate) fn run() -> Result {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let image = std::env::var("FIXTURES_POSTGRES_IMAGE")
        .unwrap_or_else(|_| "fixtures-local/postgres:15".to_owned());
    let mut faults = cargo(&["run", "-q", "-p", "reliability", "--bin", "faults", "--"]);
    faults.args(&args).env("FIXTURES_POSTGRES_IMAGE", &image);
    // Both halves run even when the first fails: each reports its own failures.
    let fault_runs = run_echoed(&mut faults);
    let bad_input = if args.iter().any(|a| a == "--load") {
        Ok(())
    } else {
        let mut bad_input = cargo(&["test", "-q", "-p", "reliability"]);
        bad_input.env("FIXTURES_POSTGRES_IMAGE", &image);
        run_echoed(&mut bad_input)
    };
    fault_runs.and(bad_input)
}

//! Fault injection, bad input and leak accounting for the fixtures framework: the figures
//! behind `RELIABILITY.md`.
//!
//! The promise under test: **whatever happens to a test run, nothing of ours is left behind,
//! no data outside our own databases is touched, and every mistake gets a clear error.**
//!
//! - [`scenario`]: what is done to a run of the examples' suite (a signal at a phase of its
//!   log, a test that panics, exits or aborts, nextest's timeout kill, an unreachable engine),
//!   under `cargo test` or `cargo nextest run`, on the Docker or the local Postgres backend;
//! - [`run`]: the run in its own process group, its log watched, the signal sent to the group
//!   (as a terminal's Ctrl-C or a CI runner's kill reaches it);
//! - [`leftovers`]: what the run left, counted from the outside by its run id — containers and
//!   networks with our labels, local servers and their data directories, the run's state folder
//!   (locks, leases), and live processes of the run (tests, watchdogs);
//! - the `faults` binary runs the scenarios and writes the table (`cargo xtask reliability`).
//!
//! Bad input is covered by ordinary tests in `tests/bad_input.rs`; the victims the harness runs
//! are the ignored tests of `tests/victims.rs`.
#![deny(unsafe_code)]

pub mod leftovers;
pub mod report;
pub mod rng;
#[allow(unsafe_code)]
pub mod run;
pub mod scenario;

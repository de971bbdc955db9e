//! Behaviour of scopes, teardown and setup errors, observed from marker files that fixtures
//! write when set up and torn down.
//!
//! The `scenario_*`, `faults` and `deps` modules are the scenarios; the `check` module runs this
//! same binary as child processes (like `cargo test` would, and like nextest would: a list
//! phase, then one process per test) and checks the markers.

mod check;
mod deps;
mod faults;
mod inprocess;
mod markers;
mod scenario;

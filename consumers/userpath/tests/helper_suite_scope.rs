//! The user-path benchmark, suite scope (the run's shared database, restored before each test): 60
//! tests in 3 modules of 20, plain `#[tokio::test]`s calling `spawn_app(db::fixture())`, which
//! serves the app on the database, the test body over HTTP. All `#[ignore]`d: `cargo xtask bench`
//! runs them with `--ignored`.

#[macro_use]
mod common;

use common::pg::suite_scope::db;

for_each_test!(helper_tests);

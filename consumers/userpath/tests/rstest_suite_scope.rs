//! The user-path benchmark, suite scope (the run's shared database, restored before each test): 60
//! tests in 3 modules of 20, the database injected by `#[rstest]` (`db: Lease<TestDb>`), the test
//! body on its pool. All `#[ignore]`d: `cargo xtask bench` runs them with `--ignored`.

#[macro_use]
mod common;

use common::pg::suite_scope::db;

for_each_test!(rstest_tests);

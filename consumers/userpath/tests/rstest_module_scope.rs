//! The user-path benchmark, module scope (each module's shared database, restored before each
//! test): 60 tests in 3 modules of 20, the database injected by `#[rstest]` (`db: Lease<TestDb>`),
//! the test body on its pool. All `#[ignore]`d: `cargo xtask bench` runs them with `--ignored`.

#[macro_use]
mod common;

use common::pg::module_scope::db;

for_each_test!(rstest_tests);

/// The smoke test of a plain `cargo test`: a turn on the shared database, injected.
#[rstest::rstest]
#[tokio::test]
async fn smoke_rstest(db: fixtures_core::Lease<fixtures_postgres::TestDb>) {
    common::writes_and_reads(&db.pool()).await;
}

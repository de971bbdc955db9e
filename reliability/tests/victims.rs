//! Tests that end badly on purpose, run one at a time by the `faults` harness
//! (`--ignored --exact NAME`): each holds a database of every scope (module through `#[rstest]`,
//! suite and test leased in the body), writes a row, then panics, exits, aborts or hangs.

use std::time::Duration;

use fixtures_core::prelude::*;
use fixtures_postgres::{Databases, TestDb, databases};
use rstest::rstest;

databases!(
    /// The examples' schema, in every scope.
    pub mod pg = Databases::new().migrator(&examples::MIGRATOR)
);

use pg::module_scope::db;

/// Leases the suite and test databases too, and writes a row in each database.
async fn hold_every_scope(module: &TestDb) -> (Lease<TestDb>, Lease<TestDb>) {
    let suite = pg::suite_scope::db::fixture()
        .lease_async()
        .await
        .expect("suite database");
    let test = pg::test_scope::db::fixture()
        .lease_async()
        .await
        .expect("test database");
    for d in [module, &*suite, &*test] {
        sqlx::query("INSERT INTO users (email, display_name) VALUES ('victim@x.test', 'Victim')")
            .execute(&d.pool())
            .await
            .expect("insert");
    }
    (suite, test)
}

#[rstest]
#[tokio::test]
#[ignore = "run by the faults harness"]
async fn panics(db: Lease<TestDb>) {
    let _held = hold_every_scope(&db).await;
    panic!("this test fails on purpose");
}

#[rstest]
#[tokio::test]
#[ignore = "run by the faults harness"]
async fn exits(db: Lease<TestDb>) {
    let _held = hold_every_scope(&db).await;
    std::process::exit(3);
}

#[rstest]
#[tokio::test]
#[ignore = "run by the faults harness"]
async fn aborts(db: Lease<TestDb>) {
    let _held = hold_every_scope(&db).await;
    std::process::abort();
}

#[rstest]
#[tokio::test]
#[ignore = "run by the faults harness (nextest's timeout)"]
async fn hangs(db: Lease<TestDb>) {
    let _held = hold_every_scope(&db).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[rstest]
#[tokio::test]
#[ignore = "run by the faults harness"]
async fn passes(db: Lease<TestDb>) {
    let _held = hold_every_scope(&db).await;
}

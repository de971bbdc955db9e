//! A bad migration is a setup error naming the file and the server's message.

use fixtures_core::prelude::*;
use fixtures_postgres::{Databases, PgServer, TestDb, pg_server};

#[fixture(scope = test)]
async fn broken_db(
    pg_server: Lease<PgServer>,
    setup: &Setup,
) -> Result<TestDb, fixtures_postgres::Error> {
    Databases::new()
        .migrations_dir("tests/data/bad_migrations")
        .fresh(&pg_server, setup)
        .await
}

#[fixture(scope = test)]
async fn missing_dir_db(
    pg_server: Lease<PgServer>,
    setup: &Setup,
) -> Result<TestDb, fixtures_postgres::Error> {
    Databases::new()
        .migrations_dir("tests/data/no_such_folder")
        .fresh(&pg_server, setup)
        .await
}

#[test]
fn a_bad_migration_names_its_file_and_the_servers_message() {
    let err = broken_db::fixture()
        .try_lease()
        .expect_err("the migration is broken")
        .to_string();
    assert!(
        err.contains("ERROR at setup of fixture `broken_db`"),
        "{err}"
    );
    assert!(err.contains("migration 2 (2_broken.sql) failed"), "{err}");
    assert!(err.contains("syntax error"), "{err}");
}

#[test]
fn a_missing_migrations_folder_is_a_clear_error() {
    let err = missing_dir_db::fixture()
        .try_lease()
        .expect_err("no folder")
        .to_string();
    assert!(
        err.contains("cannot read migrations from tests/data/no_such_folder"),
        "{err}"
    );
    assert!(err.contains("no such folder"), "{err}");
}

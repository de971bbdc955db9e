//! The app's compose file as its environment: the file's Postgres service becomes the server
//! of the app's database fixtures (templates, a fresh clone per test, a shared database
//! restored before each test), the file's other service is reached on its published port.

use fixtures_core::prelude::*;
use fixtures_docker::{Compose, ComposeFile, WaitFor};
use fixtures_postgres::{PgServer, SharedDb, TestDb};
use rstest::rstest;

use crate::cases;
use crate::fixtures::{Seeded, pg, seeded_org};

/// The compose file's services, once for the run.
#[fixture(scope = suite)]
async fn stack(setup: &Setup) -> Result<Compose, fixtures_docker::Error> {
    ComposeFile::read("tests/app/compose.yaml")?
        .wait_for("notifier", WaitFor::http(8080, "/health", 200))
        .start(setup)
        .await
}

/// The file's `db` service as the database fixtures' server (its password is the file's).
#[fixture(scope = suite)]
async fn compose_server(
    setup: &Setup,
    stack: Lease<Compose>,
) -> Result<PgServer, Box<dyn std::error::Error + Send + Sync>> {
    let address = stack
        .service("db")?
        .address(5432)
        .ok_or("db publishes 5432")?;
    let url = format!("postgres://postgres:app@{address}/postgres");
    Ok(fixtures_postgres::server_at(setup, &url).await?)
}

/// A fresh clone of the app's template per test, on the compose file's server.
#[fixture(scope = test)]
async fn db(
    setup: &Setup,
    compose_server: Lease<PgServer>,
) -> Result<TestDb, fixtures_postgres::Error> {
    pg::config().fresh(&compose_server, setup).await
}

/// The module's shared database on the compose file's server, restored before each test.
#[fixture(scope = module)]
async fn shared(
    setup: &Setup,
    compose_server: Lease<PgServer>,
) -> Result<SharedDb, fixtures_postgres::Error> {
    pg::config().shared(&compose_server, setup).await
}

/// This test's turn on the module's shared database.
#[fixture(scope = test)]
async fn turn(setup: &Setup, shared: Lease<SharedDb>) -> Result<TestDb, fixtures_postgres::Error> {
    shared.turn(setup).await
}

seeded_org!();

#[rstest]
#[tokio::test]
async fn a_fresh_clone_per_test_on_the_compose_server(db: Lease<TestDb>, org: Lease<Seeded>) {
    cases::identities_start_at_one(&db, &org).await;
    cases::tasks_are_numbered_per_project(&db, &org).await;
}

#[rstest]
#[tokio::test]
async fn the_compose_server_is_the_files_service(
    stack: Lease<Compose>,
    compose_server: Lease<PgServer>,
) {
    let db = stack.service("db").unwrap();
    assert_eq!(
        db.address(5432).unwrap(),
        format!("{}:{}", compose_server.host(), compose_server.port())
    );
    // The other service reached `db` by name before it served.
    let notifier = stack.service("notifier").unwrap().address(8080).unwrap();
    let status =
        tokio::task::spawn_blocking(move || std::net::TcpStream::connect(notifier).is_ok())
            .await
            .unwrap();
    assert!(status);
}

#[rstest]
#[tokio::test]
async fn a_shared_database_is_restored_before_each_test_a(turn: Lease<TestDb>) {
    shared_turn_sees_the_template(&turn).await;
}

#[rstest]
#[tokio::test]
async fn a_shared_database_is_restored_before_each_test_b(turn: Lease<TestDb>) {
    shared_turn_sees_the_template(&turn).await;
}

/// A turn finds no row a test before it left, then leaves one.
async fn shared_turn_sees_the_template(turn: &TestDb) {
    let pool = turn.pool();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM organisations WHERE slug = 'left'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "a row left by the other test");
    sqlx::query("INSERT INTO organisations (slug, name) VALUES ('left', 'Left behind')")
        .execute(&pool)
        .await
        .unwrap();
}

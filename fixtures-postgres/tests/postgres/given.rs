//! A Postgres server the test suite starts itself — a container of its own with a given
//! database, user and password, as a dockertest-style helper starts one — given to the
//! database fixtures with `server_at`: clones of the template on it, as the app's user.

use fixtures_core::prelude::*;
use fixtures_docker::{Container, ContainerSpec, WaitFor};
use fixtures_postgres::{PgServer, TestDb};
use rstest::rstest;

/// Postgres with user `app`, password `s3cret` and database `appdb` (not `postgres`).
#[fixture(scope = module)]
async fn app_postgres(setup: &Setup) -> Result<Container, fixtures_docker::Error> {
    let spec = ContainerSpec::from_env("FIXTURES_TEST_POSTGRES_IMAGE", "postgres:15")
        .env("POSTGRES_USER", "app")
        .env("POSTGRES_PASSWORD", "s3cret")
        .env("POSTGRES_DB", "appdb")
        .tmpfs("/var/lib/postgresql/data", "")
        .expose(5432)
        .wait_for(WaitFor::log_line_times(
            "database system is ready to accept connections",
            2,
        ));
    fixtures_docker::start(setup, spec).await
}

#[fixture(scope = module)]
async fn app_server(
    setup: &Setup,
    app_postgres: Lease<Container>,
) -> Result<PgServer, fixtures_postgres::Error> {
    let address = app_postgres.address(5432).expect("5432 is published");
    fixtures_postgres::server_at(setup, &format!("postgres://app:s3cret@{address}/appdb")).await
}

#[fixture(scope = test)]
async fn app_db(
    setup: &Setup,
    app_server: Lease<PgServer>,
) -> Result<TestDb, fixtures_postgres::Error> {
    crate::pg::config().fresh(&app_server, setup).await
}

#[rstest]
#[tokio::test]
async fn a_server_with_its_own_database_user_and_password_gets_clones(app_db: Lease<TestDb>) {
    assert_eq!(app_db.parts().user, "app");
    assert_eq!(app_db.parts().password, "s3cret");
    let (user, database, seeded): (String, String, i64) = sqlx::query_as(
        "SELECT current_user::text, current_database()::text, (SELECT count(*) FROM notes)",
    )
    .fetch_one(&app_db.pool())
    .await
    .unwrap();
    assert_eq!(user, "app");
    assert_ne!(
        database, "appdb",
        "a clone of the template, not the server's own database"
    );
    assert!(seeded > 0, "the template's seed rows");
}

#[fixture(scope = test)]
async fn wrong_password(
    setup: &Setup,
    app_postgres: Lease<Container>,
) -> Result<PgServer, fixtures_postgres::Error> {
    let address = app_postgres.address(5432).expect("5432 is published");
    fixtures_postgres::server_at(setup, &format!("postgres://app:wrong-pw@{address}/appdb")).await
}

#[test]
fn a_wrong_password_is_a_clear_error() {
    let e = wrong_password::fixture()
        .try_lease()
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not answer") && e.contains("password authentication failed"),
        "{e}"
    );
    assert!(!e.contains("wrong-pw"), "the password is printed: {e}");
}

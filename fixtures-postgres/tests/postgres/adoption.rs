//! What another project's suite relies on: its own migration code run once per template
//! (`Databases::migrate_with`), the connection parts of a test database for its settings
//! struct, and a URL whose connections the framework recognises as the test's.

use std::sync::atomic::{AtomicUsize, Ordering};

use fixtures_core::prelude::*;
use fixtures_postgres::{ConnectParts, Databases, TestDb, databases};
use rstest::rstest;
use sqlx::Connection;

/// How many times the hook below ran in this process.
static HOOK_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The user's own migration code: any client, given only the connection parts.
async fn migrate(parts: ConnectParts) -> Result<(), fixtures_core::BoxError> {
    HOOK_RUNS.fetch_add(1, Ordering::SeqCst);
    let mut conn = sqlx::PgConnection::connect(&parts.url).await?;
    sqlx::raw_sql(
        "CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL);
         INSERT INTO orders (item) VALUES ('seeded by the hook');",
    )
    .execute(&mut conn)
    .await?;
    Ok(())
}

databases!(mod hooked = Databases::new().migrate_with(
    format!("adoption-v1-{}", std::process::id()),
    migrate
));

databases!(mod broken = Databases::new().migrate_with("adoption-broken-v1", |_parts| async {
    Err::<(), fixtures_core::BoxError>("the app's migration 7 failed: no such column".into())
}));

async fn items(db: &TestDb) -> Vec<String> {
    sqlx::query_scalar("SELECT item FROM orders ORDER BY id")
        .fetch_all(&db.pool())
        .await
        .unwrap()
}

#[rstest]
#[tokio::test]
async fn the_hook_migrates_the_template_once_for_every_scope(
    #[from(hooked::test_scope::db)] fresh: Lease<TestDb>,
    #[from(hooked::module_scope::db)] shared: Lease<TestDb>,
) {
    assert_eq!(items(&fresh).await, ["seeded by the hook"]);
    assert_eq!(items(&shared).await, ["seeded by the hook"]);
    assert_eq!(
        HOOK_RUNS.load(Ordering::SeqCst),
        1,
        "the hook ran once per template"
    );
}

#[rstest]
#[tokio::test]
async fn a_failing_hook_is_reported_with_its_version_and_cause() {
    let err = broken::test_scope::db::fixture()
        .lease_async()
        .await
        .expect_err("the broken migration must fail the setup");
    let shown = err.to_string();
    assert!(shown.contains("migrate_with"), "{shown}");
    assert!(shown.contains("adoption-broken-v1"), "{shown}");
    assert!(shown.contains("no such column"), "{shown}");
}

#[rstest]
#[tokio::test]
async fn the_parts_and_the_url_reach_the_test_database(
    #[from(hooked::test_scope::db)] db: Lease<TestDb>,
) {
    let parts = db.parts();
    assert_eq!(parts.database, db.name());
    assert_eq!(parts.application_name, "fixtures-test");
    assert_eq!(parts.url, db.url());
    assert!(
        db.url().contains("application_name=fixtures-test"),
        "{}",
        db.url()
    );
    // An app that builds its own connection from the parts, as a settings struct does.
    let options = sqlx::postgres::PgConnectOptions::new()
        .host(&parts.host)
        .port(parts.port)
        .username(&parts.user)
        .password(&parts.password)
        .database(&parts.database);
    let mut by_parts = sqlx::PgConnection::connect_with(&options).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut by_parts)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // A connection made from the URL carries the tests' application name.
    let mut by_url = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let app: String = sqlx::query_scalar("SELECT current_setting('application_name')")
        .fetch_one(&mut by_url)
        .await
        .unwrap();
    assert_eq!(app, "fixtures-test");
}

//! A login role per test (`Databases::role_per_test`): the test connects as a role of its own
//! that owns its database, without superuser or `CREATEDB`, dropped with the database.

use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_postgres::{Databases, PgServer, TestDb, databases, pg_server};
use rstest::rstest;

databases!(
    /// The tests' schema, each test as a role of its own.
    pub mod roled = Databases::new()
        .migrations_dir("tests/data/migrations")
        .seed("tests/data/seed.sql")
        .role_per_test(true)
);

#[rstest]
#[tokio::test]
async fn a_test_runs_as_its_own_role_that_cannot_create_databases(
    #[from(roled::test_scope::db)] db: Lease<TestDb>,
) {
    let pool = db.pool();
    let (user, superuser, seeded): (String, bool, i64) = sqlx::query_as(
        "SELECT current_user::text, rolsuper, (SELECT count(*) FROM notes) \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(user.starts_with("fxr_"), "{user}");
    assert_eq!(db.parts().user, user, "the URL and parts carry the role");
    assert!(!superuser);
    assert!(seeded > 0, "the template's rows, readable");
    // It owns what the migrations made: it writes, and changes the schema.
    sqlx::raw_sql("INSERT INTO notes (owner, body) VALUES ('t', 'x'); ALTER TABLE notes ADD COLUMN extra int; CREATE TABLE mine (id int)")
        .execute(&pool)
        .await
        .expect("the role owns its database's objects");
    let e = sqlx::raw_sql("CREATE DATABASE not_allowed")
        .execute(&pool)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("permission denied to create database"), "{e}");
    let e = sqlx::raw_sql("CREATE ROLE not_allowed")
        .execute(&pool)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("permission denied"), "{e}");
}

#[rstest]
#[tokio::test]
async fn the_role_is_dropped_with_the_database(pg_server: Lease<PgServer>) {
    let db = roled::test_scope::db::fixture()
        .lease_async()
        .await
        .unwrap();
    let role = db.parts().user.clone();
    let mut admin = pg_server.admin().await.unwrap();
    let count = async |admin: &mut sqlx::PgConnection| -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname = $1")
            .bind(&role)
            .fetch_one(admin)
            .await
            .unwrap()
    };
    assert_eq!(count(&mut admin).await, 1);
    drop(db);
    let start = Instant::now();
    while count(&mut admin).await > 0 && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&mut admin).await, 0, "role {role} is left");
}

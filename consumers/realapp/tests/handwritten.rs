//! The 50 tests on the app's own hand-written helper, as real apps have it (zero2prod style):
//! a database `test_<uuid>` created per test on the server `DATABASE_URL` names, the
//! migrations run on it, the app served on it — and never dropped.
//!
//! Run by `cargo xtask bench` (which starts the server); by hand:
//! `DATABASE_URL=postgres://… cargo test --test handwritten -- --ignored`.

mod common;

use common::TestApp;
use realapp::DatabaseSettings;
use sqlx::{Connection, Executor, PgConnection, PgPool};

/// Serves the app on a new, migrated database of its own.
async fn spawn_app() -> TestApp {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let mut settings = DatabaseSettings::from_url(&url).expect("DATABASE_URL is a postgres URL");
    settings.database_name = format!("test_{}", uuid::Uuid::new_v4());
    let db_pool = configure_database(&settings).await;
    TestApp::serve(settings, db_pool, ()).await
}

/// Creates the database and runs the migrations on it.
async fn configure_database(settings: &DatabaseSettings) -> PgPool {
    let mut connection = PgConnection::connect_with(&settings.without_db())
        .await
        .expect("Failed to connect to Postgres");
    let create = format!(r#"CREATE DATABASE "{}";"#, settings.database_name);
    connection
        .execute(sqlx::AssertSqlSafe(create))
        .await
        .expect("Failed to create database.");
    let pool = PgPool::connect_with(settings.with_db())
        .await
        .expect("Failed to connect to Postgres.");
    realapp::MIGRATOR
        .run(&pool)
        .await
        .expect("Failed to migrate the database");
    pool
}

realapp_tests! {
    #[ignore = "benchmark: run by cargo xtask bench"]
    spawn_app = crate::spawn_app();
}

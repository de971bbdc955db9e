//! The framework's side of the test binaries `ours_*_scope.rs`: the app's databases (its
//! sqlx 0.9 migrations applied once, into a template) and a `spawn_app` helper that leases one
//! from a scope's `db` fixture, as `consumers/sqlx08` does.

use fixtures_postgres::fixtures_core::Fixture;
use fixtures_postgres::{Databases, TestDb, databases};
use realapp::DatabaseSettings;

use crate::common::TestApp;

databases!(
    /// The app's databases: its 13 migrations (several insert seed rows), applied once into a
    /// template.
    pub mod pg = Databases::new().migrator(&realapp::MIGRATOR)
);

/// Leases a database from a scope's `db` fixture — `spawn_app(db::fixture())` — and serves
/// the app on it, configured as its `main` would be: settings from the database's connection
/// parts, the app's own pool. The test's pool for direct checks is the lease's.
///
/// # Panics
///
/// With the fixture's setup error, so that the test fails with it.
pub async fn spawn_app(db: &'static Fixture<TestDb>) -> TestApp {
    let db = db.lease_async().await.unwrap_or_else(|e| panic!("{e}"));
    let parts = db.parts();
    let settings = DatabaseSettings {
        host: parts.host.clone(),
        port: parts.port,
        username: parts.user.clone(),
        password: parts.password.clone(),
        database_name: parts.database.clone(),
    };
    let db_pool = db.pool();
    TestApp::serve(settings, db_pool, db).await
}

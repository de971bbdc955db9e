//! What every test binary of the application shares: the database fixtures of every scope,
//! and `spawn_app`, for tests that lease their database themselves instead of through rstest.

use std::ops::Deref;

use fixtures_core::{Fixture, Lease};
use fixtures_postgres::{Databases, TestDb, databases};
use webapp::App;

databases!(
    /// The application's databases: its migrations (which seed the roles) and the tests' seed
    /// (an administrator and an invoice), applied once into a template.
    pub mod pg = Databases::new()
        .migrator(&webapp::MIGRATOR)
        .seed("tests/seed.sql")
);

/// The application on a test's database, and the lease that keeps the database the test's
/// until the `TestApp` is dropped.
#[derive(Debug)]
pub struct TestApp {
    /// The application, on the database's pool.
    pub app: App,
    /// The test's database (its name, its URL); dropped after `app`.
    pub db: Lease<TestDb>,
}

impl Deref for TestApp {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

/// Leases a database from one of the `db` fixtures — `spawn_app(db::fixture())` with the scope's
/// `db` in scope — and starts the application on it.
///
/// # Panics
///
/// With the fixture's setup error, so that the test fails with it.
pub async fn spawn_app(db: &'static Fixture<TestDb>) -> TestApp {
    let db = db.lease_async().await.unwrap_or_else(|e| panic!("{e}"));
    TestApp {
        app: App::new(db.pool()),
        db,
    }
}

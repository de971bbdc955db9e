//! What a test receives: its database's name and URL, and a pool on its own runtime.

use std::sync::{Arc, OnceLock};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};

/// A test's database: fresh (test scope) or its turn on a shared, cleaned one (module and suite
/// scope).
///
/// The pool it gives is built on the calling test's runtime, capped (`FIXTURES_PG_POOL_MAX`,
/// default 4), and never shared with another test's runtime.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    options: PgConnectOptions,
    pool: Arc<OnceLock<PgPool>>,
    pool_max: u32,
}

impl TestDb {
    pub(crate) fn new(
        name: String,
        url: String,
        options: PgConnectOptions,
        pool_max: u32,
    ) -> TestDb {
        TestDb {
            name,
            url,
            options: options.application_name(TEST_APPLICATION),
            pool: Arc::new(OnceLock::new()),
            pool_max,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `postgres://` URL of the database (for tools and other clients).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connect options for the database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// The test's pool (made on first call, connecting lazily).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (sqlx's pool needs one): call it from the test's async body.
    pub fn pool(&self) -> PgPool {
        self.pool
            .get_or_init(|| {
                PgPoolOptions::new()
                    .max_connections(self.pool_max)
                    .min_connections(0)
                    .acquire_timeout(std::time::Duration::from_secs(60))
                    .connect_lazy_with(self.options.clone())
            })
            .clone()
    }

    /// A single new connection to the database.
    ///
    /// # Errors
    ///
    /// When the server refuses the connection.
    pub async fn connect(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.options).await
    }
}

/// The `application_name` of the tests' own connections (so that the framework can end them
/// between tests without touching its own).
pub(crate) const TEST_APPLICATION: &str = "fixtures-test";

//! What a test receives: its database's name and URL, and a pool on its own runtime.

use std::sync::{Arc, OnceLock};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use crate::parts::ConnectParts;

/// A test's database: fresh (test scope) or its turn on a shared, cleaned one (module and suite
/// scope).
///
/// Its pool is capped (`FIXTURES_PG_POOL_MAX`, default 4). Test scope: built on the calling
/// test's runtime, connecting lazily. Module and suite scope: from a lane's second turn in a
/// process on, the pool's connections are the lane's, kept from one test to the next (opened
/// on the framework's background runtime; before each test every one is reset: settings,
/// advisory locks, temporary tables, sequences' cached values, listens) — a test does not pay
/// for new server processes and statement preparation each time.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    parts: ConnectParts,
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
        // The tests' application name in the URL too: connections an app opens from it are
        // told apart from the framework's, and ended between tests like the test's pool's.
        let url = format!("{url}?application_name={TEST_APPLICATION}");
        let parts = ConnectParts::parse(&url).unwrap_or_else(|| ConnectParts {
            host: String::new(),
            port: 0,
            user: String::new(),
            password: String::new(),
            database: name.clone(),
            application_name: TEST_APPLICATION.into(),
            url: url.clone(),
        });
        TestDb {
            name,
            url,
            parts,
            options: options.application_name(TEST_APPLICATION),
            pool: Arc::new(OnceLock::new()),
            pool_max,
        }
    }

    /// A turn's database whose pool is given: the lane's kept connections.
    pub(crate) fn with_pool(
        name: String,
        url: String,
        options: PgConnectOptions,
        pool: PgPool,
    ) -> TestDb {
        let max = pool.options().get_max_connections();
        let db = TestDb::new(name, url, options, max);
        let _ = db.pool.set(pool);
        db
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `postgres://` URL of the database, for tools and other clients (any sqlx version,
    /// tokio-postgres, diesel, `psql`). It carries `application_name=fixtures-test`, so that
    /// connections made from it are the test's: in module and suite scope the framework ends
    /// the ones still open when the test is over.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's host, port, user, password and name, for an app's settings struct
    /// (its `url` is [`TestDb::url`]).
    pub fn parts(&self) -> &ConnectParts {
        &self.parts
    }

    /// Connect options for the database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// The test's pool (made on first call, connecting lazily, unless the turn came with the
    /// lane's kept connections).
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

/// The `application_name` of a lane's kept test connections (ended between tests only when a
/// test left one inside a transaction).
pub(crate) const KEPT_APPLICATION: &str = "fixtures-test-kept";

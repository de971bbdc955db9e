//! The test server: a plain handle (address, credentials, version) whatever the backend.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::address::Address;
use crate::backend::Backend;
use crate::budget::Budget;
use crate::error::Error;

/// A running Postgres server for the tests: its address and superuser.
///
/// Get it through the [`pg_server`](crate::pg_server) suite fixture. It is usable from any
/// test's runtime: it holds addresses and credentials, not connections.
#[derive(Debug)]
pub struct PgServer {
    backend: Backend,
    address: Address,
    superuser: bool,
    version: String,
    admin_pool: std::sync::OnceLock<sqlx::PgPool>,
    /// Idle connections to the maintenance database, made on the background runtime: the
    /// one that found the server ready, then the ones given back by setups. A new connection
    /// costs more than most of what a setup does with it (under nextest every process pays
    /// it).
    spare: std::sync::Arc<parking_lot::Mutex<Vec<PgConnection>>>,
    /// `max_connections` and the connections the server reserves (superuser and
    /// `reserved_connections`).
    limits: (u32, u32),
    /// This process's share of the connection budget (set when the keeper holds it).
    budget: std::sync::OnceLock<Budget>,
}

impl PgServer {
    /// The handle of a server that answered: `superuser` and `version` as it reported them.
    pub(crate) fn new(
        backend: Backend,
        address: Address,
        superuser: bool,
        version: String,
        limits: (u32, u32),
    ) -> PgServer {
        PgServer {
            backend,
            address,
            superuser,
            version,
            admin_pool: Default::default(),
            spare: Default::default(),
            limits,
            budget: Default::default(),
        }
    }

    /// `max_connections` and the connections the server reserves, as it reported them.
    pub(crate) fn limits(&self) -> (u32, u32) {
        self.limits
    }

    /// This process's share of the connection budget (none before the keeper holds it, or
    /// without a budget).
    pub(crate) fn budget(&self) -> Budget {
        self.budget.get().cloned().unwrap_or_default()
    }

    pub(crate) fn set_budget(&self, budget: Budget) {
        let _ = self.budget.set(budget);
    }

    /// Which backend runs it.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Its host (for clients outside this process, e.g. `psql`).
    pub fn host(&self) -> &str {
        &self.address.host
    }

    /// Its TCP port on [`PgServer::host`].
    pub fn port(&self) -> u16 {
        self.address.port
    }

    /// The server's version string (`SHOW server_version`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// True when the framework connects as a superuser (always, except maybe external servers).
    pub fn is_superuser(&self) -> bool {
        self.superuser
    }

    /// Connect options for `database`, as the framework's user.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        self.address.connect_options(database)
    }

    /// A `postgres://` URL for `database` (with the password: for tests and `psql`).
    pub fn url(&self, database: &str) -> String {
        self.address.url(database)
    }

    /// A URL for `database` as `user` with `password`.
    pub(crate) fn url_as(&self, user: &str, password: &str, database: &str) -> String {
        self.address.url_as(user, password, database)
    }

    /// A new connection to the server's maintenance database.
    pub async fn admin(&self) -> Result<PgConnection, Error> {
        crate::sql::connect(&self.connect_options(self.admin_database()))
            .await
            .map_err(Error::sql("connecting", self.admin_database()))
    }

    /// Whether the framework started this server (a container or local server of ours), whose
    /// `pg_hba.conf` it wrote: md5 passwords are accepted there. On another server the
    /// authentication method is the server's own choice.
    pub(crate) fn is_ours(&self) -> bool {
        self.backend.driver().is_ours()
    }

    /// What `CREATE DATABASE … TEMPLATE` adds for a clone on this server (see
    /// [`Driver::clone_clause`](crate::backend::Driver::clone_clause)).
    pub(crate) fn clone_clause(&self) -> &'static str {
        self.backend.driver().clone_clause(&self.version)
    }

    /// A connection to the maintenance database for a setup: an idle one of ours, or a new
    /// one. Give it back with [`PgServer::recycle`] when done with it (no lock held, no
    /// transaction open).
    pub(crate) async fn admin_conn(&self) -> Result<PgConnection, Error> {
        let idle = self.spare.lock().pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.admin().await,
        }
    }

    /// Keeps `conn` (from [`PgServer::admin_conn`]) for the next setup, when it was made on
    /// the background runtime (which outlives every test's runtime) and there is room.
    pub(crate) async fn recycle(&self, conn: PgConnection) {
        let on_background = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.id() == fixtures_core::runtime::handle().id());
        let conn = {
            let mut spare = self.spare.lock();
            if on_background && spare.len() < crate::config::SPARE {
                spare.push(conn);
                return;
            }
            conn
        };
        let _ = conn.close().await;
    }

    /// Closes the framework's idle connections to the server — the spare ones and the admin
    /// pool's — within 2 s, when awaited (at the server fixture's teardown, once nothing uses
    /// them). Done before a container of ours goes: a connection still open then is closed by
    /// the engine's port proxy towards an address that no longer answers, which leaves the
    /// host's neighbour entry for it unresolved, and the next container given that address
    /// (the next run's, seconds later) unreachable for up to a second.
    pub(crate) fn close_idle(&self) -> impl Future<Output = ()> + Send + 'static {
        let spare = self.spare.clone();
        let pool = self.admin_pool.get().cloned();
        async move {
            let idle: Vec<PgConnection> = std::mem::take(&mut *spare.lock());
            let closing = futures_util::future::join_all(idle.into_iter().map(|c| c.close()));
            let pool = async {
                if let Some(pool) = pool {
                    pool.close().await;
                }
            };
            let both = futures_util::future::join(closing, pool);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), both).await;
        }
    }

    pub(crate) fn admin_database(&self) -> &str {
        &self.address.admin_database
    }

    /// The framework's own small pool on the maintenance database. Lives on the background
    /// runtime: use it only from setups and teardowns (which run there).
    pub(crate) fn admin_pool(&self) -> sqlx::PgPool {
        self.admin_pool
            .get_or_init(|| {
                // Claims and warm-pool refills, next to drops in the background.
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(crate::config::admin_pool_max())
                    .min_connections(0)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect_lazy_with(self.connect_options(self.admin_database()))
            })
            .clone()
    }
}

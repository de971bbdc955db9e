//! Module and suite scope, the faster ones: a database shared by many tests, which take turns
//! on it (also across the processes of a nextest run: a Postgres advisory lock) and find it
//! clean (emptied before each turn).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fixtures_core::{Scope, Setup};
use sqlx::{Connection, PgConnection};
use tokio::sync::Mutex;

use crate::clean::{self, CleanOptions};
use crate::config;
use crate::database::{TEST_APPLICATION, TestDb};
use crate::error::Error;
use crate::fresh::create_clone;
use crate::mark::{self, Kind};
use crate::names::{self, lock_key};
use crate::server::PgServer;
use crate::template::Databases;

/// A database shared by the tests of a module (module scope) or of the run (suite scope).
///
/// Tests get their turn on it through [`SharedDb::turn`] (the generated `db` fixtures do that).
#[derive(Debug)]
pub struct SharedDb {
    name: String,
    url: String,
    options: sqlx::postgres::PgConnectOptions,
    clean: CleanOptions,
    /// The framework's connection: holds the turn (advisory lock) and cleans.
    conn: Arc<Mutex<PgConnection>>,
}

/// The name of the run's shared database for `label` (a module path, or `suite`).
pub(crate) fn shared_name(label: &str, template: &str) -> String {
    names::database_name("fxs_", label, &[label, fixtures_core::run_id(), template])
}

impl Databases {
    /// The shared database of this fixture instance (module or suite scope), created from the
    /// template on first use by the run (under a lock, so every process of the run finds the
    /// same one) and prepared for fast cleaning.
    ///
    /// # Errors
    ///
    /// Template, creation or connection errors.
    // Written out (not `async fn`) to declare the future `Send`: fixtures box it as `Send`,
    // and saying so here checks it where it is defined.
    #[allow(clippy::manual_async_fn)]
    pub fn shared<'a>(
        &'a self,
        server: &'a PgServer,
        setup: &'a Setup,
    ) -> impl Future<Output = Result<SharedDb, Error>> + Send + 'a {
        async move {
            let template = self.template(server).await?;
            let scope = setup.scope();
            let label = match scope {
                Scope::Suite => "suite".to_owned(),
                _ => setup.instance().to_owned(),
            };
            let name = shared_name(&label, &template);
            let mut admin = server.admin().await?;
            names::advisory_lock(&mut admin, &name)
                .await
                .map_err(Error::sql("locking", &name))?;
            let created = async {
                if mark::read(&mut admin, &name).await?.is_some() {
                    return Ok(false);
                }
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                )
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .map_err(Error::sql("looking for", &name))?;
                if exists {
                    // Same name, no mark: not ours. Refuse, touch nothing.
                    return Err(Error::NotOurs {
                        action: "use",
                        database: name.clone(),
                    });
                }
                create_clone(&mut admin, &template, &name, Kind::Shared)
                    .await
                    .map(|()| true)
            }
            .await;
            names::advisory_unlock(&mut admin, &name).await;
            let _ = admin.close().await;
            let created = created?;
            let mut conn = PgConnection::connect_with(&server.connect_options(&name))
                .await
                .map_err(Error::sql("connecting", &name))?;
            sqlx::raw_sql("SET lock_timeout = '300s'")
                .execute(&mut conn)
                .await
                .map_err(Error::sql("configuring the connection", &name))?;
            clean::prepare(&mut conn, &self.clean)
                .await
                .map_err(Error::sql("preparing for cleaning", &name))?;
            tracing::info!(database = %name, %scope, created, "shared database");

            // Dropped by the run's owner when this instance ends; under nextest the run goes on
            // in other processes, and the database goes with the run's server (or the sweep).
            let pool = server.admin_pool();
            let dropped = name.clone();
            setup.on_teardown_async("drop the shared database", move || async move {
                if fixtures_core::watchdog::run_owner()
                    == fixtures_core::watchdog::ProcessRef::current()
                {
                    match pool.acquire().await {
                        Ok(mut admin) => {
                            if let Err(e) = mark::drop_ours(&mut admin, &dropped).await {
                                tracing::warn!("cannot drop shared database {dropped}: {e}");
                            }
                        }
                        Err(e) => tracing::warn!("cannot drop shared database {dropped}: {e}"),
                    }
                }
            });
            Ok(SharedDb {
                url: server.url(&name),
                options: server.connect_options(&name),
                name,
                clean: self.clean.clone(),
                conn: Arc::new(Mutex::new(conn)),
            })
        }
    }
}

impl SharedDb {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for this test's turn on the database (other threads and processes of the run
    /// wait for theirs), cleans it, and gives the test its [`TestDb`]. The turn ends when the
    /// test's `TestDb` is torn down.
    ///
    /// # Errors
    ///
    /// [`Error::TurnTimeout`] when the turn does not come within the setup deadline, or a
    /// cleaning error.
    // Written out (not `async fn`) to declare the future `Send`: fixtures box it as `Send`,
    // and saying so here checks it where it is defined.
    #[allow(clippy::manual_async_fn)]
    pub fn turn<'a>(
        &'a self,
        setup: &'a Setup,
    ) -> impl Future<Output = Result<TestDb, Error>> + Send + 'a {
        async move {
            let deadline = Duration::from_secs(300);
            let start = Instant::now();
            let mut guard = tokio::time::timeout(deadline, self.conn.clone().lock_owned())
                .await
                .map_err(|_| Error::TurnTimeout {
                    database: self.name.clone(),
                    waited: start.elapsed(),
                })?;
            let key = lock_key(&self.name);
            names::advisory_lock(&mut guard, &self.name)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03") => {
                        Error::TurnTimeout {
                            database: self.name.clone(),
                            waited: start.elapsed(),
                        }
                    }
                    _ => Error::sql("waiting for the turn", &self.name)(e),
                })?;
            let waited = start.elapsed();
            let cleaned = async {
                mark::ensure_ours(&mut guard, &self.name, "clean").await?;
                clean::clean(&mut guard, &self.clean)
                    .await
                    .map_err(Error::sql("cleaning", &self.name))
            }
            .await;
            if let Err(e) = cleaned {
                names::advisory_unlock(&mut guard, &self.name).await;
                return Err(e);
            }
            tracing::debug!(database = %self.name, ?waited, total = ?start.elapsed(), "turn taken, database clean");
            let name = self.name.clone();
            setup.on_teardown_async("end the turn on the shared database", move || async move {
                // End the test's own connections (an open transaction would block the next clean),
                // then give the turn back.
                let sql = format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND application_name = '{TEST_APPLICATION}'; \
                     SELECT pg_advisory_unlock({key})"
                );
                if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *guard).await {
                    tracing::warn!("ending the turn on {name}: {e}");
                }
                drop(guard);
            });
            Ok(TestDb::new(
                self.name.clone(),
                self.url.clone(),
                self.options.clone(),
                config::pool_max()?,
            ))
        }
    }
}

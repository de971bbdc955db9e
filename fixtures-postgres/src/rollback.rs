//! The opt-in fastest isolation, as Django's `TestCase` or DatabaseCleaner's `:transaction`:
//! the test gets one connection of the run's shared database inside a transaction, rolled back
//! when the test ends. It starts from the template's state like every scope (its turn on the
//! shared database is restored first, which after a rolled-back test finds nothing to do).
//!
//! Only for code that takes a connection or a transaction (`&mut PgConnection`, an
//! `Executor`) rather than a pool: what the test does through other connections is not
//! inside the transaction (and is undone by the next turn's restore, as in suite scope). It
//! does not apply to code that commits itself, opens its own connections, or `LISTEN`s
//! (notifications are delivered at commit).

use std::sync::Arc;

use fixtures_core::Setup;
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use tokio::sync::{Mutex, MutexGuard};

use crate::database::TestDb;
use crate::error::Error;
use crate::shared::SharedDb;

/// A test's connection inside a transaction that is rolled back after the test.
///
/// ```no_run
/// # async fn t(db: &fixtures_postgres::TxDb) -> Result<(), sqlx::Error> {
/// let mut conn = db.conn().await;
/// sqlx::query("INSERT INTO notes (owner, body) VALUES ('me', 'gone after the test')")
///     .execute(&mut **conn)
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TxDb {
    conn: Arc<Mutex<PoolConnection<Postgres>>>,
    db: TestDb,
}

impl TxDb {
    /// The connection, inside the test's transaction (one user at a time).
    pub async fn conn(&self) -> MutexGuard<'_, PoolConnection<Postgres>> {
        self.conn.lock().await
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.db.name()
    }
}

impl SharedDb {
    /// This test's turn on the shared database (restored to the template's state), with one
    /// connection inside a transaction that is rolled back when the test ends.
    ///
    /// # Errors
    ///
    /// As [`SharedDb::turn`], or when the transaction cannot begin.
    // Written out (not `async fn`) to declare the future `Send`, as `turn`.
    #[allow(clippy::manual_async_fn)]
    pub fn rollback_turn<'a>(
        &'a self,
        setup: &'a Setup,
    ) -> impl Future<Output = Result<TxDb, Error>> + Send + 'a {
        async move {
            let db = self.turn(setup).await?;
            let name = db.name().to_owned();
            let mut conn = db
                .pool()
                .acquire()
                .await
                .map_err(Error::sql("connecting", &name))?;
            sqlx::raw_sql("BEGIN")
                .execute(&mut *conn)
                .await
                .map_err(Error::sql("beginning the test's transaction", &name))?;
            let conn = Arc::new(Mutex::new(conn));
            let held = conn.clone();
            // Registered after the turn's end, so it runs before it.
            setup.on_teardown_async("roll the test's transaction back", move || async move {
                let mut conn = held.lock().await;
                if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(&mut **conn).await {
                    tracing::warn!("rolling back the test's transaction on {name}: {e}");
                }
            });
            Ok(TxDb { conn, db })
        }
    }
}

//! Kept connections: the tests' connections of a lane, kept from one turn to the next and
//! made ready (full, reset) before each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::database::KEPT_APPLICATION;

/// A lane's kept test connections: a pool whose connections are all opened on the framework's
/// background runtime (a connection opened on a test's runtime dies with it), so the pool is
/// full before each test and the test never opens one; `opened` counts the connections it
/// opened, so a test that made it open one (a connection lost during the test) is noticed and
/// the pool is replaced.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    pub(super) pool: PgPool,
    pub(super) opened: Arc<AtomicU64>,
}

/// What every kept connection is put back to before a test: the session as a new one has it,
/// prepared statements kept (they are the pool's statement cache).
const RESET_SESSION: &str = "RESET ALL; SELECT pg_advisory_unlock_all(); DISCARD TEMP; \
                             DISCARD SEQUENCES; UNLISTEN *";

impl Kept {
    /// A pool of at most `max` connections to the database of `options`, none opened yet; a
    /// test waits at most `acquire_timeout` for one of them.
    pub(super) fn new(options: &PgConnectOptions, max: u32, acquire_timeout: Duration) -> Kept {
        let opened = Arc::new(AtomicU64::new(0));
        let count = opened.clone();
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            // Every connection is checked when it comes back (sqlx pings it) and reset before
            // each test.
            .test_before_acquire(false)
            .acquire_timeout(acquire_timeout)
            .after_connect(move |_, _| {
                count.fetch_add(1, Ordering::AcqRel);
                Box::pin(async { Ok(()) })
            })
            .connect_lazy_with(options.clone().application_name(KEPT_APPLICATION));
        Kept { pool, opened }
    }

    /// Opens what is missing (here, on the background runtime) and resets every connection;
    /// returns the count of opened connections once the pool is full.
    pub(super) async fn ready(&self) -> Result<u64, sqlx::Error> {
        let max = self.pool.options().get_max_connections() as usize;
        let mut held: Vec<PoolConnection<Postgres>> = Vec::with_capacity(max);
        while let Some(conn) = self.pool.try_acquire() {
            held.push(conn);
        }
        // A connection that cannot be reset (ended at the last turn's end, inside a
        // transaction) is closed and replaced; twice `max` failures is an error.
        let mut failures = 0;
        while held.len() < max {
            held.push(self.pool.acquire().await?);
        }
        loop {
            let results = futures_util::future::join_all(
                held.iter_mut()
                    .map(|c| sqlx::raw_sql(RESET_SESSION).execute(&mut **c)),
            )
            .await;
            let mut bad = Vec::new();
            for (i, r) in results.into_iter().enumerate().rev() {
                if let Err(e) = r {
                    failures += 1;
                    if failures > 2 * max {
                        return Err(e);
                    }
                    bad.push(i);
                }
            }
            if bad.is_empty() {
                break;
            }
            let mut again = Vec::with_capacity(bad.len());
            for i in bad {
                let mut conn = held.swap_remove(i);
                conn.close_on_drop();
                drop(conn);
                again.push(self.pool.acquire());
            }
            // The fresh ones need no reset but get it with the others.
            for conn in futures_util::future::join_all(again).await {
                held.push(conn?);
            }
        }
        let opened = self.opened.load(Ordering::Acquire);
        drop(held);
        Ok(opened)
    }
}

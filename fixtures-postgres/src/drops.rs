//! Databases dropped in the background: a test's end does not wait for its database's drop;
//! the run's server is stopped only after the drops still running (see [`done`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::mark;

/// Test databases dropped at once in the background (the others wait in line).
///
/// The teardown itself never waits: the test's `TestDb`, whose pool still holds connections,
/// is dropped only after it, and on a server near `max_connections` a teardown waiting for
/// a drop that waits for a connection would wait for itself.
const DROPS_AT_ONCE: usize = 4;
static DROPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(DROPS_AT_ONCE);
/// Drops handed to the background and not finished.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Set by [`done`]: background work that creates databases starts no new one.
static CLOSING: AtomicBool = AtomicBool::new(false);

/// One piece of background work in [`PENDING`] (a drop, a warm-pool refill), from its
/// hand-over to its end (also when its task panics or is dropped with the runtime).
pub(crate) struct Pending;

/// True once the server's teardown waits for the background work: a refill between two
/// databases stops (a process ending between a database's creation and its mark would leave
/// an unmarked database that no sweep may touch).
pub(crate) fn closing() -> bool {
    CLOSING.load(Ordering::Acquire)
}

impl Pending {
    pub(crate) fn new() -> Pending {
        PENDING.fetch_add(1, Ordering::AcqRel);
        Pending
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits until the test databases being dropped in the background are gone, for at most
/// `deadline` (the run's server is stopped next).
pub(crate) async fn done(deadline: Duration) {
    CLOSING.store(true, Ordering::Release);
    let until = Instant::now() + deadline;
    while PENDING.load(Ordering::Acquire) > 0 {
        if Instant::now() >= until {
            tracing::warn!(
                "test databases still being dropped after {deadline:?}: left to the server's removal or the next run's sweep"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A server of a module's (or one of several) may end before the process: later work may
    // make databases again.
    CLOSING.store(false, Ordering::Release);
}

/// Runs `work` (a drop) in the background, at most [`DROPS_AT_ONCE`] at a time, counted in
/// [`PENDING`] until it ends.
pub(crate) fn in_background(work: impl Future<Output = ()> + Send + 'static) {
    let pending = Pending::new();
    fixtures_core::runtime::handle().spawn(async move {
        let _pending = pending;
        let _permit = DROPS.acquire().await;
        work.await;
    });
}

/// Drops database `name` (after checking its mark) in the background, counted with the test
/// databases' drops.
pub(crate) fn drop_later(admin: sqlx::postgres::PgConnectOptions, name: String) {
    in_background(async move {
        let result = match crate::sql::connect(&admin).await {
            Ok(mut conn) => {
                let dropped = mark::drop_ours(&mut conn, &name).await;
                let _ = sqlx::Connection::close(conn).await;
                dropped
            }
            Err(e) => Err(Error::sql("connecting", "postgres")(e)),
        };
        if let Err(e) = result {
            tracing::warn!("cannot drop database {name}: {e}");
        }
    });
}

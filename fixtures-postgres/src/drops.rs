//! Databases dropped in the background: a test's end does not wait for its database's drop;
//! the run's server is stopped only after the drops still running (see [`done`]).

use std::sync::atomic::{AtomicU64, Ordering};
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

/// One drop in [`PENDING`], from its hand-over to its end (also when its task panics or is
/// dropped with the runtime).
struct Pending;

impl Pending {
    fn new() -> Pending {
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
    let until = Instant::now() + deadline;
    while PENDING.load(Ordering::Acquire) > 0 {
        if Instant::now() >= until {
            tracing::warn!(
                "test databases still being dropped after {deadline:?}: left to the server's removal or the next run's sweep"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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

//! Waiting for a server to answer.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::address::Address;
use crate::error::Error;

/// Connects until the server answers `SELECT 1`, with backoff, within `deadline`; the
/// connection that answered (to the maintenance database).
pub(crate) async fn wait_ready(
    address: &Address,
    deadline: Duration,
) -> Result<PgConnection, Error> {
    let start = Instant::now();
    let opts = address.connect_options(&address.admin_database);
    let mut delay = Duration::from_millis(5);
    loop {
        // Each attempt within what is left of the deadline: a connection to an address where
        // nothing answers any more can otherwise take the kernel's minutes.
        let left = deadline
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(100));
        let attempt = async {
            let mut c = PgConnection::connect_with(&opts).await?;
            sqlx::query("SELECT 1").execute(&mut c).await?;
            Ok::<_, sqlx::Error>(c)
        };
        let (err, refused) = match tokio::time::timeout(left, attempt).await {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(e)) => (e.to_string(), is_refusal(&e)),
            Err(_) => (format!("no answer within {left:?}"), false),
        };
        // A server that answers "wrong password" will not change its mind: say so now.
        if refused || start.elapsed() >= deadline {
            return Err(Error::NotReady {
                address: address.shown(),
                waited: start.elapsed(),
                last_error: err,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// Whether the server refused the login itself (wrong password, no such user or database,
/// not allowed by `pg_hba.conf`): class 28 (invalid authorization) and `3D000` (no such
/// database).
fn is_refusal(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c.starts_with("28") || c == "3D000")
}

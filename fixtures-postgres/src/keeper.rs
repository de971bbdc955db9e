//! Liveness the server vouches for. A run on another machine, or in another PID namespace on
//! this one (a CI job in a container), cannot be checked by its owner's pid: the pid means
//! nothing here. So every process of a run that uses a server holds, for as long as it lives,
//! a shared advisory lock keyed by the run on a connection of its own (named
//! `fixtures-keeper <run>` in `pg_stat_activity`). The server drops the lock with the
//! connection — at exit, on a crash, on `kill -9`, when the machine is gone — so a sweep
//! reads from `pg_locks` which runs are alive, wherever they run.
//!
//! Under nextest a run's processes come and go: between two of them nothing may hold the
//! lock for a few milliseconds. A sweep therefore takes a run of another namespace for dead
//! only when its lock is still free after [`RECHECK`].

use std::collections::HashSet;
use std::time::Duration;

use fixtures_core::Setup;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::error::Error;
use crate::names;

/// How long a run of another namespace must hold no lock before its databases are swept.
pub(crate) const RECHECK: Duration = Duration::from_secs(2);

/// The advisory-lock key of run `run`.
pub(crate) fn run_key(run: &str) -> i64 {
    names::lock_key(&format!("fixtures-run {run}"))
}

/// Opens this process's keeper connection (`admin`: the server's maintenance database) and
/// holds the run's lock on it until the `pg_server` fixture's teardown (or the process's end).
pub(crate) async fn hold(admin: PgConnectOptions, setup: &Setup) -> Result<(), Error> {
    let run = fixtures_core::run_id();
    let database = admin.get_database().unwrap_or("postgres").to_owned();
    let options = admin.application_name(&format!("fixtures-keeper {run}"));
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(Error::sql("connecting the run's keeper", &database))?;
    sqlx::query("SELECT pg_advisory_lock_shared($1)")
        .bind(run_key(run))
        .execute(&mut conn)
        .await
        .map_err(Error::sql("taking the run's keeper lock", &database))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    fixtures_core::runtime::handle().spawn(async move {
        let _ = stopped.await;
        let _ = conn.close().await;
    });
    setup.on_teardown("release the run's keeper lock", move || {
        let _ = stop.send(());
    });
    Ok(())
}

/// The keys of the advisory locks held now, in any database of the server (`pg_locks`
/// splits a `bigint` key into `classid`, the high half, and `objid`).
pub(crate) async fn held(admin: &mut PgConnection) -> Result<HashSet<i64>, sqlx::Error> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT classid::bigint, objid::bigint FROM pg_locks \
         WHERE locktype = 'advisory' AND objsubid = 1 AND granted",
    )
    .fetch_all(admin)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(high, low)| ((high as u64) << 32 | (low as u64 & 0xffff_ffff)) as i64)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_have_keys_of_their_own() {
        assert_eq!(run_key("a"), run_key("a"));
        assert_ne!(run_key("a"), run_key("b"));
    }
}

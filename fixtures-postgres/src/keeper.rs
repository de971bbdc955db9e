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
//!
//! The same connection holds the process's units of the connection budget (see
//! [`crate::budget`]): one task on the background runtime owns it and takes or gives back
//! units when asked.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fixtures_core::Setup;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::names;

/// How long a run of another namespace must hold no lock before its databases are swept.
pub(crate) const RECHECK: Duration = Duration::from_secs(2);

/// The first half of the budget's units' keys (`pg_advisory_lock(UNIT_CLASS, slot)`).
pub(crate) const UNIT_CLASS: i32 = 0x6678_6275;

/// The advisory-lock key of run `run`.
pub(crate) fn run_key(run: &str) -> i64 {
    names::lock_key(&format!("fixtures-run {run}"))
}

/// Takes `$3` free units of `0..$2`, skipping the session's own (`$4`: an advisory lock is
/// re-entrant, so the session's own would be taken again). `CASE` keeps the order.
const TAKE: &str = "SELECT coalesce(array_agg(s), '{}')::int4[] FROM (SELECT s FROM \
     generate_series(0, $2 - 1) s WHERE CASE WHEN s = ANY($4) THEN false \
     ELSE pg_try_advisory_lock($1, s) END LIMIT $3) t";

const GIVE_BACK: &str = "SELECT count(pg_advisory_unlock($1, s)) FROM unnest($2::int4[]) s";

/// `n` units of `0..total` on `conn`, all or none.
async fn take(
    conn: &mut PgConnection,
    n: u32,
    total: u32,
    own: &[i32],
) -> Result<Option<Vec<i32>>, sqlx::Error> {
    let got: Vec<i32> = sqlx::query_scalar(TAKE)
        .bind(UNIT_CLASS)
        .bind(i32::try_from(total).unwrap_or(i32::MAX))
        .bind(i64::from(n))
        .bind(own)
        .fetch_one(&mut *conn)
        .await?;
    if got.len() == n as usize {
        return Ok(Some(got));
    }
    give_back(conn, &got).await?;
    Ok(None)
}

async fn give_back(conn: &mut PgConnection, slots: &[i32]) -> Result<(), sqlx::Error> {
    if !slots.is_empty() {
        sqlx::query(GIVE_BACK)
            .bind(UNIT_CLASS)
            .bind(slots)
            .execute(conn)
            .await?;
    }
    Ok(())
}

enum Cmd {
    Take {
        n: u32,
        reply: oneshot::Sender<Result<Option<Vec<i32>>, sqlx::Error>>,
    },
    GiveBack(Vec<i32>),
    /// Close the connection, then say so.
    Stop(oneshot::Sender<()>),
}

/// This process's keeper connection, owned by a task on the background runtime.
#[derive(Clone)]
pub(crate) struct Keeper {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keeper")
    }
}

fn ended() -> sqlx::Error {
    sqlx::Error::Protocol(
        "the run's keeper connection has ended (the server fixture's teardown ran)".into(),
    )
}

impl Keeper {
    /// `n` more units for this process, all or none (`None`: not free now).
    pub(crate) async fn take(&self, n: u32) -> Result<Option<Vec<i32>>, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Cmd::Take { n, reply }).map_err(|_| ended())?;
        answer.await.map_err(|_| ended())?
    }

    /// Gives units back (without waiting; nothing when the keeper has ended: its connection
    /// took them with it).
    pub(crate) fn give_back(&self, slots: Vec<i32>) {
        if !slots.is_empty() {
            let _ = self.tx.send(Cmd::GiveBack(slots));
        }
    }
}

/// The units a process takes when it joins a server with a budget: `units` of `0..total`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Join {
    pub(crate) units: u32,
    pub(crate) total: u32,
}

/// Makes `conn` (a new connection to the maintenance database, `options`) this process's
/// keeper: it holds the run's lock until the `pg_server` fixture's teardown (or the process's
/// end) and, with `join`, the process's units, waiting for them — holding nothing — up to
/// `wait`.
pub(crate) async fn hold(
    conn: PgConnection,
    options: PgConnectOptions,
    join: Option<Join>,
    wait: Duration,
    setup: &Setup,
) -> Result<Keeper, Error> {
    let run = fixtures_core::run_id();
    let database = options.get_database().unwrap_or("postgres").to_owned();
    let options = options.application_name(&format!("fixtures-keeper {run}"));
    let total = join.map(|j| j.total);
    let start = Instant::now();
    let deadline = wait;
    let mut pause = Duration::from_millis(5);
    let mut first = Some(conn);
    let (mut conn, held) = loop {
        let reused = first.is_some();
        let next = match first.take() {
            Some(c) => Ok(c),
            None => PgConnection::connect_with(&options).await,
        };
        match next {
            Ok(mut c) => {
                let locked = sqlx::query(
                    "SELECT set_config('application_name', $1, false), pg_advisory_lock_shared($2)",
                )
                .bind(format!("fixtures-keeper {run}"))
                .bind(run_key(run))
                .execute(&mut c)
                .await;
                match locked {
                    // The connection that found the server ready was lost meanwhile (seen on a
                    // shared server under load: EOF): a new one, once.
                    Err(sqlx::Error::Io(e)) if reused => {
                        tracing::debug!("the ready connection was lost ({e}): a new keeper");
                        continue;
                    }
                    other => {
                        other.map_err(Error::sql("taking the run's keeper lock", &database))?;
                    }
                }
                let held = match total {
                    None => Some(Vec::new()),
                    Some(t) => take(&mut c, join.map_or(0, |j| j.units), t, &[])
                        .await
                        .map_err(Error::sql(
                            "taking units of the connection budget",
                            &database,
                        ))?,
                };
                match held {
                    Some(h) => break (c, h),
                    None => {
                        let _ = c.close().await;
                    }
                }
            }
            Err(e) if crate::sql::server_full(&e) => {}
            Err(e) => return Err(Error::sql("connecting the run's keeper", &database)(e)),
        }
        if start.elapsed() >= deadline {
            return Err(Error::Budget {
                what: "this process (the framework's own connections and a test's pool)".into(),
                needs: join.map_or(0, |j| j.units),
                budget: total.unwrap_or(0),
                waited: start.elapsed(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    fixtures_core::runtime::handle().spawn(async move {
        let mut own_units = held;
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Cmd::Take { n, reply } => {
                    let result = match total {
                        None => Ok(Some(Vec::new())),
                        Some(t) => take(&mut conn, n, t, &own_units).await,
                    };
                    if let Ok(Some(slots)) = &result {
                        own_units.extend(slots);
                    }
                    let _ = reply.send(result);
                }
                Cmd::GiveBack(slots) => {
                    own_units.retain(|s| !slots.contains(s));
                    let _ = give_back(&mut conn, &slots).await;
                }
                Cmd::Stop(done) => {
                    let _ = conn.close().await;
                    let _ = done.send(());
                    return;
                }
            }
        }
        let _ = conn.close().await;
    });
    let stop = tx.clone();
    // Closed before the server's container goes: a connection still open then is closed by
    // the engine's port proxy towards an address that no longer answers, which leaves the
    // host's neighbour entry for it unresolved — and the next container given that address
    // (the next run's, seconds later) unreachable for up to a second.
    setup.on_teardown_async("release the run's keeper lock", move || async move {
        let (done, closed) = oneshot::channel();
        if stop.send(Cmd::Stop(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), closed).await;
        }
    });
    Ok(Keeper { tx })
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

//! The connection budget: how many connections the framework's processes may hold on a
//! server, together — every process of every run that uses it, on this machine or another.
//!
//! The server counts. A budget of `N` connections is `N` *units*, advisory locks
//! `(UNIT_CLASS, 0..N)`; a process holds the units of what it uses on its keeper connection
//! (see [`crate::keeper`]), so they go with the process however it ends. A process takes, when
//! it joins the server, its framework's own connections and one test's pool together (so
//! every process that got in can run a test: nobody holds some and waits for more); a test
//! beyond the first at once in a process takes its pool's worth; a shared database's lane its
//! connections. Whoever finds too few units free waits, holding none, until some come free —
//! or says which budget was short after [`wait`].
//!
//! The budget is the server's `max_connections` minus the connections it reserves and
//! [`HEADROOM`], or `FIXTURES_PG_BUDGET` (`off`: no budget).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config;
use crate::error::Error;
use crate::keeper::Keeper;

/// Connections left out of the budget for what is not counted: a process's first connection
/// before it holds units, `psql` by a person.
pub(crate) const HEADROOM: u32 = 2;

/// The framework's own connections in one process, at most: its keeper, its small pool on the
/// maintenance database and the idle ones it keeps (see [`crate::server::PgServer`]).
pub(crate) fn framework_units() -> u32 {
    1 + config::admin_pool_max() + config::SPARE as u32
}

/// The server's connection budget: `FIXTURES_PG_BUDGET`, or what `max_connections` leaves
/// after the server's reserved connections and [`HEADROOM`]. `None`: no budget.
pub(crate) fn total(max_connections: u32, reserved: u32) -> Result<Option<u32>, Error> {
    let var = "FIXTURES_PG_BUDGET";
    match std::env::var(var) {
        Ok(v) if v.trim() == "off" => Ok(None),
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(Error::Config {
                setting: var.into(),
                value: v,
                expected: "a number of connections (at least 1), or off".into(),
            }),
        },
        Err(_) => Ok(Some(
            max_connections.saturating_sub(reserved + HEADROOM).max(1),
        )),
    }
}

/// How long a process or a test waits for units (`FIXTURES_PG_BUDGET_WAIT`, default 240 s:
/// less than a setup's own deadline, so that this error is the one a user sees).
pub(crate) fn wait() -> Result<Duration, Error> {
    let var = "FIXTURES_PG_BUDGET_WAIT";
    match std::env::var(var) {
        Err(_) => Ok(Duration::from_secs(240)),
        Ok(v) => fixtures_core::parse_duration(&v).ok_or(Error::Config {
            setting: var.into(),
            value: v,
            expected: "a duration such as 30s or 4m".into(),
        }),
    }
}

/// A process's budget: its keeper (which holds the units) and the test's share it took when
/// it joined. Cheap to clone. Without a budget, every [`Budget::admit`] is free.
#[derive(Debug, Clone, Default)]
pub(crate) struct Budget {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    keeper: Keeper,
    total: u32,
    /// Units of the share taken with the process's own (one test's pool).
    share: u32,
    share_free: AtomicBool,
}

impl Budget {
    /// The budget of `total` units of a process whose keeper took `share` more than its own.
    pub(crate) fn new(keeper: Keeper, total: u32, share: u32) -> Budget {
        Budget {
            inner: Some(Arc::new(Inner {
                keeper,
                total,
                share,
                share_free: AtomicBool::new(true),
            })),
        }
    }

    /// `n` connections for `what` (a test's pool, a lane): the process's share when it is
    /// free (and units for the rest), else units of the server's budget, waited for up to
    /// [`wait`].
    pub(crate) async fn admit(&self, n: u32, what: &str) -> Result<Units, Error> {
        let start = Instant::now();
        let deadline = wait()?;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(units) = self.try_admit(n).await? {
                return Ok(units);
            }
            if start.elapsed() >= deadline {
                return Err(Error::Budget {
                    what: what.to_owned(),
                    needs: n,
                    budget: self.inner.as_ref().map_or(0, |i| i.total),
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(pause + jitter(pause)).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Like [`Budget::admit`] without waiting: `None` when the units are not free now.
    pub(crate) async fn try_admit(&self, n: u32) -> Result<Option<Units>, Error> {
        let Some(inner) = &self.inner else {
            return Ok(Some(Units::default()));
        };
        let mut units = Units::default();
        if inner.share_free.swap(false, Ordering::AcqRel) {
            units.share = Some(inner.clone());
        }
        let rest = n.saturating_sub(if units.share.is_some() {
            inner.share
        } else {
            0
        });
        if rest == 0 {
            return Ok(Some(units));
        }
        match inner.keeper.take(rest).await {
            Ok(Some(slots)) => {
                units.slots = slots;
                units.keeper = Some(inner.keeper.clone());
                Ok(Some(units))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(Error::sql(
                "taking units of the connection budget",
                "postgres",
            )(e)),
        }
    }
}

/// Up to `pause` more, different in each process and call: waiters do not poll in step.
fn jitter(pause: Duration) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let nanos = now.subsec_nanos() ^ std::process::id().rotate_left(7);
    let seed = u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    pause.mul_f64((seed >> 11) as f64 / (1u64 << 53) as f64)
}

/// Units held for something (a test's pool, a lane): given back when dropped.
#[derive(Debug, Default)]
pub(crate) struct Units {
    slots: Vec<i32>,
    keeper: Option<Keeper>,
    share: Option<Arc<Inner>>,
}

impl Drop for Units {
    fn drop(&mut self) {
        if let Some(inner) = self.share.take() {
            inner.share_free.store(true, Ordering::Release);
        }
        if let Some(keeper) = self.keeper.take() {
            keeper.give_back(std::mem::take(&mut self.slots));
        }
    }
}

/// Makes `conn` (the connection that found the server ready; `options`: the maintenance
/// database's) this process's keeper and, under the server's budget (`max_connections` and
/// `reserved` as it reported them), takes the process's own units and one test's share
/// together: this process's [`Budget`].
pub(crate) async fn join(
    conn: sqlx::PgConnection,
    options: sqlx::postgres::PgConnectOptions,
    (max_connections, reserved): (u32, u32),
    setup: &fixtures_core::Setup,
) -> Result<Budget, Error> {
    let (own, share) = (framework_units(), config::pool_max()?);
    let total = match total(max_connections, reserved)? {
        Some(t) if own + share > t => {
            tracing::warn!(
                "the server's connection budget ({t}) cannot hold one process (its own {own} \
                 connections and a test's pool of {share}): going on without a budget; raise \
                 the server's max_connections or lower FIXTURES_PG_POOL_MAX"
            );
            None
        }
        other => other,
    };
    let join = total.map(|total| crate::keeper::Join {
        units: own + share,
        total,
    });
    let keeper = crate::keeper::hold(conn, options, join, wait()?, setup).await?;
    Ok(match total {
        Some(t) => Budget::new(keeper, t, share),
        None => Budget::default(),
    })
}

/// The connections of a shared database's lane in this process: the framework's, and the
/// tests' (a turn's own pool, or the lane's kept connections: two sets where a process runs
/// many tests, see `shared/lane.rs`).
pub(crate) fn lane_units() -> Result<u32, Error> {
    let sets = match fixtures_core::runner() {
        fixtures_core::Runner::CargoTest => 2,
        fixtures_core::Runner::Nextest => 1,
    };
    Ok(1 + sets * config::pool_max()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_the_reserved_connections_and_headroom() {
        if std::env::var("FIXTURES_PG_BUDGET").is_err() {
            assert_eq!(total(40, 3).unwrap(), Some(35));
            assert_eq!(total(3, 3).unwrap(), Some(1));
        }
    }

    #[test]
    fn jitter_stays_under_the_pause() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(10)) <= Duration::from_millis(10));
        }
    }
}

//! Lanes: the copies of a shared database, one per test at a time, their names, and what a
//! lane keeps from one turn to the next (its DDL count, its kept connections).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::kept::Kept;
use crate::error::Error;
use crate::names;
use crate::restore;

/// How long a test may wait for its turn.
pub(super) const TURN_DEADLINE: Duration = Duration::from_secs(300);

/// One copy of the shared database.
#[derive(Debug)]
pub(super) struct Lane {
    pub(super) name: String,
    /// The DDL count when it was prepared (`None`: DDL is not watched, as without a
    /// superuser).
    pub(super) epoch: Option<i64>,
    /// The framework's connection: holds the turn (advisory lock) and cleans.
    pub(super) conn: Arc<Mutex<PgConnection>>,
    /// Turns this process had on the lane.
    pub(super) turns: AtomicU64,
    /// The tests' connections kept from one turn to the next (this process).
    pub(super) kept: parking_lot::Mutex<Option<Kept>>,
    /// Made ready (full, reset) after a turn, in the background, for the next one.
    pub(super) refill: Mutex<Refill>,
}

/// What the background refill after a turn left for the next turn.
#[derive(Debug, Default)]
pub(super) struct Refill {
    /// Kept connections handed to tests so far (a refill is for the turn that just ended: it
    /// stands down when a newer one has them).
    handouts: u64,
    /// Ready since the last hand-out: the count of opened connections then.
    ready: Option<u64>,
}

/// The DDL count of a prepared database, when DDL is watched there.
pub(super) const EPOCH: &str = "SELECT CASE WHEN s.watch THEN (SELECT CASE WHEN is_called \
                                THEN last_value ELSE 0 END FROM _fixtures.epoch) END \
                                FROM _fixtures.settings s";

/// The name of the run's shared database for `label` (a module path, or `suite`): its first
/// lane.
pub(crate) fn shared_name(label: &str, template: &str) -> String {
    lane_name(label, template, 0)
}

pub(super) fn lane_name(label: &str, template: &str, lane: usize) -> String {
    let run = fixtures_core::run_id();
    if lane == 0 {
        names::database_name("fxs_", label, &[label, run, template])
    } else {
        let k = lane.to_string();
        names::database_name("fxs_", &format!("{label}_{k}"), &[label, run, template, &k])
    }
}

/// Whether an error says a database does not exist (SQLSTATE 3D000).
pub(super) fn missing_database(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "3D000")
}

/// A lane's connection when no test of this process is on it, with whether its advisory lock
/// was free too (false: a test of another process is on it); `None` when a test of this
/// process is on it.
pub(super) async fn try_lane(
    lane: &Lane,
    options: &PgConnectOptions,
) -> Result<Option<(OwnedMutexGuard<PgConnection>, bool)>, Error> {
    let Ok(mut guard) = lane.conn.clone().try_lock_owned() else {
        return Ok(None);
    };
    let free = match names::try_advisory_lock(&mut guard, &lane.name).await {
        // Replaced by another process since this one last used it: connect again (the kept
        // connections went with the old database too).
        Err(e) if restore::is_gone(&e) => {
            lane.forget_connections();
            *guard = restore::connect_lane(options, &lane.name).await?;
            names::try_advisory_lock(&mut guard, &lane.name).await
        }
        other => other,
    }
    .map_err(Error::sql("waiting for the turn", &lane.name))?;
    Ok(Some((guard, free)))
}

impl Lane {
    /// Before the lane's database is replaced: its kept connections are closed (the next
    /// turn opens new ones, as a lane's first turn does).
    pub(super) fn forget_connections(&self) {
        if let Some(k) = self.kept.lock().take() {
            fixtures_core::runtime::handle().spawn(async move { k.pool.close().await });
        }
        self.turns.store(0, Ordering::Release);
    }

    /// True when no DDL ran in the lane since it was prepared (false when not known).
    pub(super) async fn schema_unchanged(&self) -> bool {
        let Some(epoch) = self.epoch else {
            return false;
        };
        let mut conn = self.conn.lock().await;
        matches!(
            sqlx::query_scalar::<_, Option<i64>>(EPOCH).fetch_one(&mut *conn).await,
            Ok(Some(now)) if now == epoch
        )
    }

    /// The lane's kept connections, full and reset (by the refill after the last turn, or
    /// now), with the count of connections opened so far and the hand-out's number; `None`
    /// (the test gets a pool of its own) when they cannot be made ready.
    pub(super) async fn kept_ready(
        &self,
        options: &PgConnectOptions,
        max: u32,
    ) -> Option<(Kept, u64, u64)> {
        let mut refill = self.refill.lock().await;
        refill.handouts += 1;
        let handout = refill.handouts;
        let (kept, made) = {
            let mut slot = self.kept.lock();
            let made = slot.is_none();
            let kept = slot
                .get_or_insert_with(|| {
                    Kept::new(&options.clone().database(&self.name), max, TURN_DEADLINE)
                })
                .clone();
            (kept, made)
        };
        if let Some(opened) = refill.ready.take()
            && !made
        {
            return Some((kept, opened, handout));
        }
        match kept.ready().await {
            Ok(opened) => Some((kept, opened, handout)),
            Err(e) => {
                tracing::warn!(database = %self.name, "kept connections not ready ({e}); this test gets new ones");
                self.kept.lock().take();
                fixtures_core::runtime::handle().spawn(async move { kept.pool.close().await });
                None
            }
        }
    }

    /// After turn `handout` (whose test's runtime is ending): makes the kept connections ready
    /// for the next turn in the background, off its path. The connection the test's last
    /// statement was giving back dies with the test's runtime; this replaces it once it has.
    pub(super) fn refill_after(self: &Arc<Self>, kept: Kept, handout: u64) {
        let lane = self.clone();
        fixtures_core::runtime::handle().spawn(async move {
            let mut refill = lane.refill.lock().await;
            if refill.handouts != handout {
                return;
            }
            match kept.ready().await {
                Ok(opened) => refill.ready = Some(opened),
                Err(e) => tracing::debug!(database = %lane.name, "refill after the turn: {e}"),
            }
        });
    }
}

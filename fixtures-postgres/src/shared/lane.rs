//! Lanes: the copies of a shared database, one per test at a time, their names, and what a
//! lane keeps from one turn to the next (its DDL count, its kept connections).
//!
//! A lane keeps two sets of test connections and hands them out in turn: a `#[tokio::test]`
//! runtime ends with its test, and the connection its last statement was giving back ends with
//! it, so a set is refilled after each turn (a new connection: ~6 ms in a debug build). While
//! one set refills, the lane's next turn gets the other, full and reset.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::kept::Kept;
use crate::budget::Units;
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
    /// The lane's mark was checked on its connection, connected to the same database since
    /// (a database dropped or replaced ends the connection: the next query fails, the lane
    /// connects again and forgets this).
    pub(super) marked: AtomicBool,
    /// The tests' connections kept from one turn to the next (this process): two sets, handed
    /// out in turn.
    pub(super) sets: [KeptSet; 2],
    /// Its connections' units of the connection budget, given back when the lane goes.
    _units: Units,
}

/// One set of a lane's kept connections.
#[derive(Debug, Default)]
pub(super) struct KeptSet {
    kept: parking_lot::Mutex<Option<Kept>>,
    /// Made ready (full, reset) after a turn, in the background, for a later one.
    refill: Mutex<Refill>,
    /// Set when a turn that had the set ends, until its refill is over.
    refilling: AtomicBool,
}

/// A turn's kept connections: the set, its count of opened connections when handed out, and
/// the hand-out's number.
#[derive(Debug, Clone)]
pub(super) struct Handout {
    pub(super) kept: Kept,
    pub(super) opened: u64,
    number: u64,
    set: usize,
}

/// What the background refill after a turn left for the next turn.
#[derive(Debug, Default)]
struct Refill {
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
    /// A new lane named `name` on the framework's connection `conn`.
    pub(super) fn new(name: String, epoch: Option<i64>, conn: PgConnection, units: Units) -> Lane {
        Lane {
            _units: units,
            name,
            epoch,
            conn: Arc::new(Mutex::new(conn)),
            turns: AtomicU64::new(0),
            marked: AtomicBool::new(false),
            sets: Default::default(),
        }
    }

    /// Closes the kept connections of both sets, without waiting (a test's runtime that is
    /// ending may still hold one).
    pub(super) fn close_kept(&self) {
        for set in &self.sets {
            if let Some(k) = set.kept.lock().take() {
                fixtures_core::runtime::handle().spawn(async move { k.pool.close().await });
            }
        }
    }

    /// Before the lane's database is replaced or its connection made again: its kept
    /// connections are closed (the next turn opens new ones, as a lane's first turn does) and
    /// its mark is checked again.
    pub(super) fn forget_connections(&self) {
        self.close_kept();
        self.turns.store(0, Ordering::Release);
        self.marked.store(false, Ordering::Release);
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

    /// Kept connections for a turn, full and reset: the set whose refill after an earlier
    /// turn is over (the other may still be refilling), made ready now when neither was;
    /// `None` (the test gets a pool of its own) when they cannot be made ready.
    pub(super) async fn kept_ready(
        self: &Arc<Self>,
        options: &PgConnectOptions,
        max: u32,
    ) -> Option<Handout> {
        // A set not refilling, ready first; else the one refilling the longest (the first).
        let idle = |i: usize| !self.sets[i].refilling.load(Ordering::Acquire);
        let pick = (0..2)
            .find(|&i| idle(i) && self.sets[i].kept.lock().is_some())
            .or_else(|| (0..2).find(|&i| idle(i)))
            .unwrap_or(0);
        // The other set is made ahead, in the background, the first time this one is handed
        // out: the lane's next turn finds it full.
        self.prefill(1 - pick, options, max);
        let set = &self.sets[pick];
        let mut refill = set.refill.lock().await;
        refill.handouts += 1;
        let number = refill.handouts;
        let (kept, made) = {
            let mut slot = set.kept.lock();
            let made = slot.is_none();
            let kept = slot
                .get_or_insert_with(|| {
                    Kept::new(&options.clone().database(&self.name), max, TURN_DEADLINE)
                })
                .clone();
            (kept, made)
        };
        let handout = |opened| Handout {
            kept: kept.clone(),
            opened,
            number,
            set: pick,
        };
        if let Some(opened) = refill.ready.take()
            && !made
        {
            return Some(handout(opened));
        }
        match kept.ready().await {
            Ok(opened) => Some(handout(opened)),
            Err(e) => {
                tracing::warn!(database = %self.name, "kept connections not ready ({e}); this test gets new ones");
                set.kept.lock().take();
                fixtures_core::runtime::handle().spawn(async move { kept.pool.close().await });
                None
            }
        }
    }

    /// Makes set `i` (when it has no connections yet and none are being made) in the
    /// background, full and reset, for a later turn.
    pub(super) fn prefill(self: &Arc<Self>, i: usize, options: &PgConnectOptions, max: u32) {
        let set = &self.sets[i];
        if set.kept.lock().is_some() || set.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let options = options.clone().database(&self.name);
        self.ready_in_background(i, "kept connections made ahead", move |set, _| {
            let mut slot = set.kept.lock();
            match slot.as_ref() {
                // Made by a turn meanwhile.
                Some(_) => None,
                None => Some(slot.insert(Kept::new(&options, max, TURN_DEADLINE)).clone()),
            }
        });
    }

    /// After the turn that had `handout` (its test's runtime is ending): a set that opened a
    /// connection during the test (on the test's runtime, which ends with it) is closed, for
    /// a new one at a later turn; another is made ready (full, reset) in the background, off
    /// the next turn's path. The connection the test's last statement was giving back dies
    /// with the test's runtime; this replaces it once it has.
    pub(super) fn after_turn(self: &Arc<Self>, handout: Handout) {
        let set = &self.sets[handout.set];
        if handout.kept.opened.load(Ordering::Acquire) != handout.opened {
            set.kept.lock().take();
            let k = handout.kept;
            fixtures_core::runtime::handle().spawn(async move { k.pool.close().await });
            return;
        }
        let number = handout.number;
        let kept = handout.kept;
        self.ready_in_background(handout.set, "refill after the turn", move |_, refill| {
            // Stands down when a newer turn has the set.
            (refill.handouts == number).then_some(kept)
        });
    }

    /// Makes set `i` ready (full, reset) in the background: `kept`, called under the set's
    /// refill lock, gives the connections to make ready, or none. The set counts as refilling
    /// until it is done.
    fn ready_in_background<F>(self: &Arc<Self>, i: usize, what: &'static str, kept: F)
    where
        F: FnOnce(&KeptSet, &Refill) -> Option<Kept> + Send + 'static,
    {
        self.sets[i].refilling.store(true, Ordering::Release);
        let lane = self.clone();
        fixtures_core::runtime::handle().spawn(async move {
            let set = &lane.sets[i];
            let mut refill = set.refill.lock().await;
            if let Some(kept) = kept(set, &refill) {
                match kept.ready().await {
                    Ok(opened) => refill.ready = Some(opened),
                    Err(e) => tracing::debug!(database = %lane.name, "{what}: {e}"),
                }
            }
            set.refilling.store(false, Ordering::Release);
        });
    }
}

//! A test's turn on a shared database: a lane found (free, taken over from an ended module,
//! opened, or waited for), brought to the template's state, and given back when the test
//! ends.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sqlx::{Connection, PgConnection};
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit};

use super::SharedDb;
use super::lane::{EPOCH, Handout, Lane, TURN_DEADLINE, lane_name, missing_database, try_lane};
use super::parking::take_parked;
use crate::budget::{self, Units};
use crate::clean;
use crate::config;
use crate::database::{KEPT_APPLICATION, TEST_APPLICATION};
use crate::error::Error;
use crate::fresh::create_clone;
use crate::mark::{self, Kind};
use crate::names::{self, lock_key};
use crate::restore;

impl SharedDb {
    /// Brings the lane (its turn taken) to the template's state: restored in place by a clean,
    /// or replaced by a fresh clone of the prepared template when it cannot be (the clean
    /// says why, having changed nothing).
    pub(super) async fn restore_lane(
        &self,
        lane: &Lane,
        guard: &mut PgConnection,
    ) -> Result<(), Error> {
        for _ in 0..3 {
            if !lane.marked.load(Ordering::Acquire) {
                mark::ensure_ours(guard, &lane.name, "clean").await?;
                lane.marked.store(true, Ordering::Release);
            }
            let report = clean::clean(guard, &self.clean)
                .await
                .map_err(Error::sql("cleaning", &lane.name))?;
            let Some(why) = report.replace else {
                return Ok(());
            };
            tracing::info!(database = %lane.name, "replacing the shared database by a fresh clone: {why}");
            lane.forget_connections();
            restore::replace(
                &self.options,
                guard,
                &lane.name,
                &self.source,
                self.clause,
                restore::Old::Drop,
            )
            .await?;
            names::advisory_lock(guard, &lane.name)
                .await
                .map_err(Error::sql("waiting for the turn", &lane.name))?;
        }
        Err(Error::Restore {
            database: lane.name.clone(),
            message: "not in the template's state after three fresh clones".into(),
        })
    }

    /// A parked lane of an ended module of the same key, now this instance's.
    pub(super) fn unpark(&self) -> Option<Arc<Lane>> {
        let lane = take_parked(&self.park_key)?;
        self.opened.lock().push(lane.name.clone());
        tracing::info!(database = %lane.name, "shared database taken over from an ended module");
        Some(lane)
    }

    /// Opens lane `k`: finds the run's copy or creates it from the template (under an
    /// advisory lock, so the processes of a run agree), connects and prepares for cleaning.
    pub(super) async fn open_lane(
        &self,
        admin: &mut PgConnection,
        k: usize,
        units: Units,
    ) -> Result<Arc<Lane>, Error> {
        let name = lane_name(&self.label, &self.template, k);
        names::advisory_lock(&mut *admin, &name)
            .await
            .map_err(Error::sql("locking", &name))?;
        let created = async {
            if mark::read(&mut *admin, &name).await?.is_some() {
                return Ok(false);
            }
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&name)
                    .fetch_one(&mut *admin)
                    .await
                    .map_err(Error::sql("looking for", &name))?;
            if exists {
                // Same name, no mark: not ours. Refuse, touch nothing.
                return Err(Error::NotOurs {
                    action: "use",
                    database: name.clone(),
                });
            }
            match create_clone(&mut *admin, &self.source, self.clause, &name, Kind::Shared).await {
                // The prepared template is gone (another run's sweep of an external server's
                // caches took it between our look and this clone): made again, once.
                Err(Error::Sql { source, .. }) if missing_database(&source) => {
                    restore::lane_source(
                        &mut *admin,
                        &self.options,
                        self.clause,
                        &self.template,
                        &self.clean,
                        true,
                    )
                    .await?;
                    create_clone(&mut *admin, &self.source, self.clause, &name, Kind::Shared)
                        .await
                        .map(|()| true)
                }
                other => other.map(|()| true),
            }
        }
        .await;
        names::advisory_unlock(&mut *admin, &name).await;
        let created = created?;
        self.opened.lock().push(name.clone());
        // Cloned from the prepared template: ready for cleaning as it is.
        let mut conn = restore::connect_lane(&self.options, &name).await?;
        let epoch = sqlx::query_scalar::<_, Option<i64>>(EPOCH)
            .fetch_one(&mut conn)
            .await
            .ok()
            .flatten();
        tracing::info!(database = %name, lane = k, created, "shared database");
        Ok(Arc::new(Lane::new(name, epoch, conn, units)))
    }

    /// A lane for this test's turn, its connection held and its advisory lock taken.
    pub(super) async fn take_lane(
        &self,
    ) -> Result<(Arc<Lane>, OwnedMutexGuard<PgConnection>), Error> {
        // A lane free in this process and in the run.
        let mut fallback = None;
        let lanes = self.lanes.lock().clone();
        for lane in lanes {
            match try_lane(&lane, &self.options).await? {
                Some((guard, true)) => return Ok((lane, guard)),
                // Another process's turn on it.
                Some((guard, false)) => _ = fallback.get_or_insert((lane, guard)),
                None => {}
            }
        }
        // Room for another lane.
        let grow = self.grow.lock().await;
        loop {
            let k = self.lanes.lock().len();
            if k >= self.max_lanes {
                break;
            }
            // A lane parked by an ended module, else a new one.
            let lane = match self.unpark() {
                Some(lane) => lane,
                None => {
                    // Not when the connection budget is short: the test waits for a lane.
                    let Some(units) = self.budget.try_admit(budget::lane_units()?).await? else {
                        break;
                    };
                    let mut admin = crate::sql::connect(&self.options)
                        .await
                        .map_err(Error::sql("connecting", "postgres"))?;
                    let lane = self.open_lane(&mut admin, k, units).await;
                    let _ = admin.close().await;
                    lane?
                }
            };
            self.lanes.lock().push(lane.clone());
            match try_lane(&lane, &self.options).await? {
                Some((guard, true)) => return Ok((lane, guard)),
                Some((guard, false)) => _ = fallback.get_or_insert((lane, guard)),
                None => {}
            }
        }
        drop(grow);
        // Every lane busy: wait for one (turns in this process are at most as many as the
        // lanes, so one is free here and busy in another process).
        let (lane, mut guard) = match fallback {
            Some(found) => found,
            None => {
                let lanes = self.lanes.lock().clone();
                let lane = lanes[self.next.fetch_add(1, Ordering::Relaxed) % lanes.len()].clone();
                let guard = lane.conn.clone().lock_owned().await;
                (lane, guard)
            }
        };
        let locked = match names::advisory_lock(&mut guard, &lane.name).await {
            // Replaced by another process while this one waited: connect again and wait on.
            Err(e) if restore::is_gone(&e) => {
                lane.forget_connections();
                *guard = restore::connect_lane(&self.options, &lane.name).await?;
                names::advisory_lock(&mut guard, &lane.name).await
            }
            other => other,
        };
        locked.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03") => {
                Error::TurnTimeout {
                    database: lane.name.clone(),
                    waited: TURN_DEADLINE,
                }
            }
            _ => Error::sql("waiting for the turn", &lane.name)(e),
        })?;
        Ok((lane, guard))
    }

    /// What ends a test's turn on `lane` (the test's teardown runs it), the turn's `guard`
    /// and `permit` and the `kept` connections it was given with it: the test's connections
    /// ended, its failed database kept if asked, the turn given back, the kept connections
    /// made ready for the next turn or replaced.
    pub(super) fn end_turn(
        &self,
        lane: Arc<Lane>,
        mut guard: OwnedMutexGuard<PgConnection>,
        permit: OwnedSemaphorePermit,
        kept: Option<Handout>,
        test: Option<String>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let key = lock_key(&lane.name);
        let name = lane.name.clone();
        let (options, source, clause) = (self.options.clone(), self.source.clone(), self.clause);
        let url_prefix = self.url_prefix.clone();
        async move {
            let mut refill = kept;
            // End the test's own connections and kept ones it left inside a transaction
            // (an open transaction would block the next clean), then give the turn back.
            // A failed test's database is kept (set aside, the lane gets a fresh clone)
            // before anyone else may take the turn.
            let keep =
                config::keep_failed() && test.as_deref().is_some_and(fixtures_core::test_failed);
            let unlock = if keep {
                String::new()
            } else {
                format!("SELECT pg_advisory_unlock({key})")
            };
            let sql = format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND (application_name = '{TEST_APPLICATION}' \
                     OR (application_name = '{KEPT_APPLICATION}' AND state LIKE 'idle in transaction%')); \
                     {unlock}"
            );
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *guard)
                .await
            {
                tracing::warn!("ending the turn on {name}: {e}");
            }
            if let (true, Some(test)) = (keep, test.as_deref()) {
                refill = None;
                lane.forget_connections();
                let old = restore::Old::Keep {
                    test,
                    url_prefix: &url_prefix,
                };
                // The new connection holds no lock: the turn is given back with it.
                if let Err(e) =
                    restore::replace(&options, &mut guard, &name, &source, clause, old).await
                {
                    tracing::warn!("keeping the failed test's database {name}: {e}");
                    names::advisory_unlock(&mut guard, &name).await;
                }
            }
            drop(guard);
            drop(permit);
            if let Some(handout) = refill {
                lane.after_turn(handout);
            }
        }
    }
}

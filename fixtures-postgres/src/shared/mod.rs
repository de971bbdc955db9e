//! Module and suite scope, the faster ones: a database shared by many tests, each finding it
//! in the template's state (restored before its turn, or replaced by a fresh clone after DDL:
//! see [`crate::restore`]). Tests running at the same time get copies of it ("lanes"),
//! one each; a test waits only when every lane is busy (also across the processes of a
//! nextest run: a Postgres advisory lock per lane).
//!
//! When a module's instance ends in the run's owner process, its lanes are parked rather than
//! dropped, if no DDL ran in them (the cleaning's event trigger counts DDL): the next module
//! of the same template and cleaning options starts on them, cleaned before its first test
//! like any turn, with their connections warm. Parked lanes are dropped at exit.

mod kept;
mod lane;
mod parking;
mod turn;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fixtures_core::{Scope, Setup};
use sqlx::postgres::PgConnectOptions;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

pub(crate) use self::lane::shared_name;
use self::lane::{Lane, TURN_DEADLINE};
use crate::budget::{self, Budget};
use crate::clean::CleanOptions;
use crate::config;
use crate::database::TestDb;
use crate::error::Error;
use crate::names;
use crate::server::PgServer;
use crate::template::Databases;

/// A database shared by the tests of a module (module scope) or of the run (suite scope).
///
/// It has *lanes*: copies of the same migrated database, as many as tests use it at once, up
/// to `FIXTURES_PG_LANES` (by default the machine's parallelism, like the test runners). A
/// test has a lane to itself for its turn ([`SharedDb::turn`]), cleaned before the turn; what
/// a test sees is the same with one lane or many: the template's state.
#[derive(Debug)]
pub struct SharedDb {
    name: String,
    label: String,
    template: String,
    /// What lanes are cloned from: the prepared template (see [`crate::restore`]).
    source: String,
    clause: &'static str,
    clean: CleanOptions,
    /// The server's connect options (maintenance database) and URL prefix.
    options: PgConnectOptions,
    url_prefix: String,
    /// Turns in this process: one permit per lane.
    turns: Arc<Semaphore>,
    max_lanes: usize,
    lanes: Arc<parking_lot::Mutex<Vec<Arc<Lane>>>>,
    /// One lane opened at a time in this process.
    grow: Mutex<()>,
    /// The lanes this process opened, dropped at teardown by the run's owner.
    opened: Arc<parking_lot::Mutex<Vec<String>>>,
    next: AtomicUsize,
    /// Which parked lanes it may take: server, template and cleaning options.
    park_key: String,
    /// This process's share of the connection budget (lanes take units of it).
    budget: Budget,
}

impl Databases {
    /// The shared database of this fixture instance (module or suite scope): its first lane
    /// created from the template on first use by the run (under a lock, so every process of
    /// the run finds the same one) and prepared for fast cleaning; more lanes follow when
    /// tests use it at the same time.
    ///
    /// # Errors
    ///
    /// Template, creation or connection errors; [`Error::NotOurs`] when a database of that
    /// name exists without our mark.
    // Written out (not `async fn`) to declare the future `Send`: fixtures box it as `Send`,
    // and saying so here checks it where it is defined.
    #[allow(clippy::manual_async_fn)]
    pub fn shared<'a>(
        &'a self,
        server: &'a PgServer,
        setup: &'a Setup,
    ) -> impl Future<Output = Result<SharedDb, Error>> + Send + 'a {
        async move {
            let template = self.template(server).await?;
            // One connection to the maintenance database for the prepared template and the
            // first lane (the run's first setup made it: no new connection).
            let mut admin = server.admin_conn().await?;
            let source = crate::restore::lane_source(
                &mut admin,
                &server.connect_options(server.admin_database()),
                server.clone_clause(),
                &template,
                &self.clean,
                false,
            )
            .await?;
            let label = match setup.scope() {
                Scope::Suite => "suite".to_owned(),
                _ => setup.instance().to_owned(),
            };
            let max_lanes = config::lanes()? as usize;
            // The server too: a suite may use several (a compose file's, one per version).
            let park_key = format!(
                "{}:{}\n{template}\n{:?}",
                server.host(),
                server.port(),
                self.clean
            );
            let db = SharedDb {
                name: shared_name(&label, &template),
                label,
                template,
                source,
                clause: server.clone_clause(),
                clean: self.clean.clone(),
                options: server.connect_options(server.admin_database()),
                url_prefix: server.url(""),
                turns: Arc::new(Semaphore::new(max_lanes)),
                max_lanes,
                lanes: Arc::new(parking_lot::Mutex::new(Vec::new())),
                grow: Mutex::new(()),
                opened: Arc::new(parking_lot::Mutex::new(Vec::new())),
                next: AtomicUsize::new(0),
                park_key,
                budget: server.budget(),
            };
            let first = match db.unpark() {
                Some(lane) => lane,
                None => {
                    let what = format!("shared database `{}`", db.name);
                    let units = db.budget.admit(budget::lane_units()?, &what).await?;
                    db.open_lane(&mut admin, 0, units).await?
                }
            };
            server.recycle(admin).await;
            db.lanes.lock().push(first);

            // Dropped by the run's owner when this instance ends; under nextest the run goes on
            // in other processes, and the lanes go with the run's server (or the sweep).
            let pool = server.admin_pool();
            let opened = db.opened.clone();
            let lanes = db.lanes.clone();
            let options = db.options.clone();
            let key = db.park_key.clone();
            let module = setup.scope() == Scope::Module;
            setup.on_teardown_async("drop the shared database", move || {
                parking::retire_lanes(lanes, opened, pool, options, key, module)
            });
            Ok(db)
        }
    }
}

impl SharedDb {
    /// The name of its first lane (the others are named after it, with the lane's number).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for this test's turn (a lane of the database to itself: other threads and
    /// processes of the run use other lanes, or wait when all are busy), cleans its lane, and
    /// gives the test its [`TestDb`]. The turn ends when the test's `TestDb` is torn down.
    ///
    /// # Errors
    ///
    /// [`Error::TurnTimeout`] when the turn does not come within 300 s, or a cleaning error.
    // Written out (not `async fn`) to declare the future `Send`: fixtures box it as `Send`,
    // and saying so here checks it where it is defined.
    #[allow(clippy::manual_async_fn)]
    pub fn turn<'a>(
        &'a self,
        setup: &'a Setup,
    ) -> impl Future<Output = Result<TestDb, Error>> + Send + 'a {
        async move {
            let start = Instant::now();
            let permit: OwnedSemaphorePermit =
                tokio::time::timeout(TURN_DEADLINE, self.turns.clone().acquire_owned())
                    .await
                    .map_err(|_| Error::TurnTimeout {
                        database: self.name.clone(),
                        waited: start.elapsed(),
                    })?
                    .map_err(|_| Error::TurnTimeout {
                        database: self.name.clone(),
                        waited: start.elapsed(),
                    })?;
            let (lane, mut guard) = self.take_lane().await?;
            let waited = start.elapsed();
            if let Err(e) = self.restore_lane(&lane, &mut guard).await {
                names::advisory_unlock(&mut guard, &lane.name).await;
                return Err(e);
            }
            let restored = start.elapsed();
            let pool_max = config::pool_max()?;
            // The lane's first turn in this process gets a pool of its own (under nextest a
            // process has one test); from the second on, the lane's kept connections.
            let kept = if lane.turns.fetch_add(1, Ordering::AcqRel) == 0 {
                // Its kept connections are made meanwhile, for its next turn — where a process
                // runs many tests (a nextest process runs one).
                if fixtures_core::runner() == fixtures_core::Runner::CargoTest {
                    lane.prefill(0, &self.options, pool_max);
                }
                None
            } else {
                lane.kept_ready(&self.options, pool_max).await
            };
            tracing::debug!(database = %lane.name, ?waited, ?restored, total = ?start.elapsed(), kept = ?kept.as_ref().map(|k| k.opened), "turn taken, database clean");
            let end = self.end_turn(
                lane.clone(),
                guard,
                permit,
                kept.clone(),
                setup.test().map(str::to_owned),
            );
            setup.on_teardown_async("end the turn on the shared database", move || end);
            let options = self.options.clone().database(&lane.name);
            let url = format!("{}{}", self.url_prefix, lane.name);
            Ok(match kept {
                Some(k) => TestDb::with_pool(lane.name.clone(), url, options, k.kept.pool),
                None => TestDb::new(lane.name.clone(), url, options, pool_max),
            })
        }
    }
}

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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fixtures_core::{Scope, Setup};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres};
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::clean::{self, CleanOptions};
use crate::config;
use crate::database::{KEPT_APPLICATION, TEST_APPLICATION, TestDb};
use crate::error::Error;
use crate::fresh::create_clone;
use crate::mark::{self, Kind};
use crate::names::{self, lock_key};
use crate::restore;
use crate::server::PgServer;
use crate::template::Databases;

/// How long a test may wait for its turn.
const TURN_DEADLINE: Duration = Duration::from_secs(300);

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
    /// Which parked lanes it may take: template and cleaning options.
    park_key: String,
}

/// One copy of the shared database.
#[derive(Debug)]
struct Lane {
    name: String,
    /// The DDL count when it was prepared (`None`: DDL is not watched, as without a
    /// superuser).
    epoch: Option<i64>,
    /// The framework's connection: holds the turn (advisory lock) and cleans.
    conn: Arc<Mutex<PgConnection>>,
    /// Turns this process had on the lane.
    turns: AtomicU64,
    /// The tests' connections kept from one turn to the next (this process).
    kept: parking_lot::Mutex<Option<Kept>>,
    /// Made ready (full, reset) after a turn, in the background, for the next one.
    refill: Mutex<Refill>,
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

/// A lane's kept test connections: a pool whose connections are all opened on the framework's
/// background runtime (a connection opened on a test's runtime dies with it), so the pool is
/// full before each test and the test never opens one; `opened` counts the connections it
/// opened, so a test that made it open one (a connection lost during the test) is noticed and
/// the pool is replaced.
#[derive(Debug, Clone)]
struct Kept {
    pool: PgPool,
    opened: Arc<AtomicU64>,
}

/// What every kept connection is put back to before a test: the session as a new one has it,
/// prepared statements kept (they are the pool's statement cache).
const RESET_SESSION: &str = "RESET ALL; SELECT pg_advisory_unlock_all(); DISCARD TEMP; \
                             DISCARD SEQUENCES; UNLISTEN *";

impl Kept {
    fn new(options: &PgConnectOptions, max: u32) -> Kept {
        let opened = Arc::new(AtomicU64::new(0));
        let count = opened.clone();
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            // Every connection is checked when it comes back (sqlx pings it) and reset before
            // each test.
            .test_before_acquire(false)
            .acquire_timeout(TURN_DEADLINE)
            .after_connect(move |_, _| {
                count.fetch_add(1, Ordering::AcqRel);
                Box::pin(async { Ok(()) })
            })
            .connect_lazy_with(options.clone().application_name(KEPT_APPLICATION));
        Kept { pool, opened }
    }

    /// Opens what is missing (here, on the background runtime) and resets every connection;
    /// returns the count of opened connections once the pool is full.
    async fn ready(&self) -> Result<u64, sqlx::Error> {
        let max = self.pool.options().get_max_connections() as usize;
        let mut held: Vec<PoolConnection<Postgres>> = Vec::with_capacity(max);
        while let Some(conn) = self.pool.try_acquire() {
            held.push(conn);
        }
        // A connection that cannot be reset (ended at the last turn's end, inside a
        // transaction) is closed and replaced; twice `max` failures is an error.
        let mut failures = 0;
        while held.len() < max {
            held.push(self.pool.acquire().await?);
        }
        loop {
            let results = futures_util::future::join_all(
                held.iter_mut()
                    .map(|c| sqlx::raw_sql(RESET_SESSION).execute(&mut **c)),
            )
            .await;
            let mut bad = Vec::new();
            for (i, r) in results.into_iter().enumerate().rev() {
                if let Err(e) = r {
                    failures += 1;
                    if failures > 2 * max {
                        return Err(e);
                    }
                    bad.push(i);
                }
            }
            if bad.is_empty() {
                break;
            }
            let mut again = Vec::with_capacity(bad.len());
            for i in bad {
                let mut conn = held.swap_remove(i);
                conn.close_on_drop();
                drop(conn);
                again.push(self.pool.acquire());
            }
            // The fresh ones need no reset but get it with the others.
            for conn in futures_util::future::join_all(again).await {
                held.push(conn?);
            }
        }
        let opened = self.opened.load(Ordering::Acquire);
        drop(held);
        Ok(opened)
    }
}

/// The DDL count of a prepared database, when DDL is watched there.
const EPOCH: &str = "SELECT CASE WHEN s.watch THEN (SELECT CASE WHEN is_called THEN last_value \
                     ELSE 0 END FROM _fixtures.epoch) END FROM _fixtures.settings s";

/// Lanes of ended module instances, waiting for the next module of the same key (template
/// and cleaning options), in the run owner's process.
static PARKED: parking_lot::Mutex<Vec<(String, Arc<Lane>)>> = parking_lot::Mutex::new(Vec::new());

/// Whether the exit finalizer that drops the parked lanes is registered.
static PARKED_DROPPED_AT_EXIT: std::sync::Once = std::sync::Once::new();

fn take_parked(key: &str) -> Option<Arc<Lane>> {
    let mut parked = PARKED.lock();
    let i = parked.iter().position(|(k, _)| k == key)?;
    Some(parked.swap_remove(i).1)
}

/// Parks `lane` for a later module; the first park registers the exit finalizer that drops
/// them (it runs before the server's teardown, registered earlier).
fn park(key: String, lane: Arc<Lane>, options: &PgConnectOptions) {
    PARKED.lock().push((key, lane));
    let options = options.clone();
    PARKED_DROPPED_AT_EXIT.call_once(|| {
        let _kept =
            fixtures_core::finalizer::register("drop the parked shared databases", move || {
                let lanes: Vec<Arc<Lane>> = PARKED.lock().drain(..).map(|(_, l)| l).collect();
                if lanes.is_empty() {
                    return;
                }
                tokio::runtime::Handle::current().block_on(async move {
                    let mut admin = match PgConnection::connect_with(&options).await {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::warn!("dropping the parked shared databases: {e}");
                            return;
                        }
                    };
                    for lane in lanes {
                        if let Some(k) = lane.kept.lock().take() {
                            fixtures_core::runtime::handle()
                                .spawn(async move { k.pool.close().await });
                        }
                        if let Err(e) = mark::drop_ours(&mut admin, &lane.name).await {
                            tracing::warn!("cannot drop shared database {}: {e}", lane.name);
                        }
                    }
                    let _ = admin.close().await;
                });
            });
    });
}

/// The name of the run's shared database for `label` (a module path, or `suite`): its first
/// lane.
pub(crate) fn shared_name(label: &str, template: &str) -> String {
    lane_name(label, template, 0)
}

fn lane_name(label: &str, template: &str, lane: usize) -> String {
    let run = fixtures_core::run_id();
    if lane == 0 {
        names::database_name("fxs_", label, &[label, run, template])
    } else {
        let k = lane.to_string();
        names::database_name("fxs_", &format!("{label}_{k}"), &[label, run, template, &k])
    }
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
            let source = crate::restore::lane_source(
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
            let park_key = format!("{template}\n{:?}", self.clean);
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
            };
            let first = match db.unpark() {
                Some(lane) => lane,
                None => {
                    let mut admin = server.admin_conn().await?;
                    let first = db.open_lane(&mut admin, 0).await?;
                    server.recycle(admin).await;
                    first
                }
            };
            db.lanes.lock().push(first);

            // Dropped by the run's owner when this instance ends; under nextest the run goes on
            // in other processes, and the lanes go with the run's server (or the sweep).
            let pool = server.admin_pool();
            let opened = db.opened.clone();
            let lanes = db.lanes.clone();
            let options = db.options.clone();
            let key = db.park_key.clone();
            let module = setup.scope() == Scope::Module;
            setup.on_teardown_async("drop the shared database", move || async move {
                let owner = fixtures_core::watchdog::run_owner()
                    == fixtures_core::watchdog::ProcessRef::current();
                let all: Vec<Arc<Lane>> = std::mem::take(&mut *lanes.lock());
                // The owner parks a module's lanes for the next module, unless DDL ran there.
                let mut parked = Vec::new();
                for lane in all {
                    if owner && module && lane.schema_unchanged().await {
                        parked.push(lane.name.clone());
                        park(key.clone(), lane, &options);
                        continue;
                    }
                    // Kept connections are closed without waiting: the last test's runtime,
                    // which ends after this teardown, may still hold one (ended by the drop
                    // below, or with the process).
                    if let Some(k) = lane.kept.lock().take() {
                        fixtures_core::runtime::handle().spawn(async move { k.pool.close().await });
                    }
                }
                if !owner {
                    return;
                }
                let names = std::mem::take(&mut *opened.lock());
                for name in names.into_iter().filter(|n| !parked.contains(n)) {
                    let dropped = match pool.acquire().await {
                        Ok(mut admin) => {
                            // With the spare clone made for its next replacement, if any.
                            let spare = restore::spare_name(&name);
                            if matches!(mark::read(&mut admin, &spare).await, Ok(Some(_))) {
                                let _ = mark::drop_ours(&mut admin, &spare).await;
                            }
                            mark::drop_ours(&mut admin, &name).await
                        }
                        Err(e) => Err(Error::sql("connecting", "postgres")(e)),
                    };
                    if let Err(e) = dropped {
                        tracing::warn!("cannot drop shared database {name}: {e}");
                    }
                }
            });
            Ok(db)
        }
    }
}

/// Whether an error says a database does not exist (SQLSTATE 3D000).
fn missing_database(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "3D000")
}

/// A lane's connection when no test of this process is on it, with whether its advisory lock
/// was free too (false: a test of another process is on it); `None` when a test of this
/// process is on it.
async fn try_lane(
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
    fn forget_connections(&self) {
        if let Some(k) = self.kept.lock().take() {
            fixtures_core::runtime::handle().spawn(async move { k.pool.close().await });
        }
        self.turns.store(0, Ordering::Release);
    }

    /// True when no DDL ran in the lane since it was prepared (false when not known).
    async fn schema_unchanged(&self) -> bool {
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
    async fn kept_ready(&self, options: &PgConnectOptions, max: u32) -> Option<(Kept, u64, u64)> {
        let mut refill = self.refill.lock().await;
        refill.handouts += 1;
        let handout = refill.handouts;
        let (kept, made) = {
            let mut slot = self.kept.lock();
            let made = slot.is_none();
            let kept = slot
                .get_or_insert_with(|| Kept::new(&options.clone().database(&self.name), max))
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
    fn refill_after(self: &Arc<Self>, kept: Kept, handout: u64) {
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

impl SharedDb {
    /// The name of its first lane (the others are named after it, with the lane's number).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Brings the lane (its turn taken) to the template's state: restored in place by a clean,
    /// or replaced by a fresh clone of the prepared template when it cannot be (the clean
    /// says why, having changed nothing).
    async fn restore_lane(&self, lane: &Lane, guard: &mut PgConnection) -> Result<(), Error> {
        for _ in 0..3 {
            mark::ensure_ours(guard, &lane.name, "clean").await?;
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
    fn unpark(&self) -> Option<Arc<Lane>> {
        let lane = take_parked(&self.park_key)?;
        self.opened.lock().push(lane.name.clone());
        tracing::info!(database = %lane.name, "shared database taken over from an ended module");
        Some(lane)
    }

    /// Opens lane `k`: finds the run's copy or creates it from the template (under an
    /// advisory lock, so the processes of a run agree), connects and prepares for cleaning.
    async fn open_lane(&self, admin: &mut PgConnection, k: usize) -> Result<Arc<Lane>, Error> {
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
        Ok(Arc::new(Lane {
            name,
            epoch,
            conn: Arc::new(Mutex::new(conn)),
            turns: AtomicU64::new(0),
            kept: parking_lot::Mutex::new(None),
            refill: Mutex::new(Refill::default()),
        }))
    }

    /// A lane for this test's turn, its connection held and its advisory lock taken.
    async fn take_lane(&self) -> Result<(Arc<Lane>, OwnedMutexGuard<PgConnection>), Error> {
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
                    let mut admin = PgConnection::connect_with(&self.options)
                        .await
                        .map_err(Error::sql("connecting", "postgres"))?;
                    let lane = self.open_lane(&mut admin, k).await;
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
            let pool_max = config::pool_max()?;
            // The lane's first turn in this process gets a pool of its own (under nextest a
            // process has one test); from the second on, the lane's kept connections.
            let kept = if lane.turns.fetch_add(1, Ordering::AcqRel) == 0 {
                None
            } else {
                lane.kept_ready(&self.options, pool_max).await
            };
            tracing::debug!(database = %lane.name, ?waited, total = ?start.elapsed(), kept = ?kept.as_ref().map(|k| k.1), "turn taken, database clean");
            let key = lock_key(&lane.name);
            let name = lane.name.clone();
            let ended = lane.clone();
            let check = kept.clone();
            let test = setup.test().map(str::to_owned);
            let (options, source, clause) =
                (self.options.clone(), self.source.clone(), self.clause);
            let url_prefix = self.url_prefix.clone();
            setup.on_teardown_async("end the turn on the shared database", move || async move {
                // A kept pool that opened a connection during the test (on the test's runtime,
                // which ends with it) is replaced at the next turn; one that did not is made
                // ready for it now, in the background.
                let mut refill = None;
                if let Some((k, opened, handout)) = check {
                    if k.opened.load(Ordering::Acquire) != opened {
                        ended.kept.lock().take();
                        fixtures_core::runtime::handle().spawn(async move { k.pool.close().await });
                    } else {
                        refill = Some((k, handout));
                    }
                }
                // End the test's own connections and kept ones it left inside a transaction
                // (an open transaction would block the next clean), then give the turn back.
                // A failed test's database is kept (set aside, the lane gets a fresh clone)
                // before anyone else may take the turn.
                let keep = config::keep_failed()
                    && test.as_deref().is_some_and(fixtures_core::test_failed);
                let unlock = if keep { String::new() } else { format!("SELECT pg_advisory_unlock({key})") };
                let sql = format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND (application_name = '{TEST_APPLICATION}' \
                     OR (application_name = '{KEPT_APPLICATION}' AND state LIKE 'idle in transaction%')); \
                     {unlock}"
                );
                if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *guard).await {
                    tracing::warn!("ending the turn on {name}: {e}");
                }
                if let (true, Some(test)) = (keep, test.as_deref()) {
                    refill = None;
                    ended.forget_connections();
                    let old = restore::Old::Keep { test, url_prefix: &url_prefix };
                    // The new connection holds no lock: the turn is given back with it.
                    if let Err(e) = restore::replace(&options, &mut guard, &name, &source, clause, old).await {
                        tracing::warn!("keeping the failed test's database {name}: {e}");
                        names::advisory_unlock(&mut guard, &name).await;
                    }
                }
                drop(guard);
                drop(permit);
                if let Some((k, handout)) = refill {
                    ended.refill_after(k, handout);
                }
            });
            let options = self.options.clone().database(&lane.name);
            let url = format!("{}{}", self.url_prefix, lane.name);
            Ok(match kept {
                Some((k, _, _)) => TestDb::with_pool(lane.name.clone(), url, options, k.pool),
                None => TestDb::new(lane.name.clone(), url, options, pool_max),
            })
        }
    }
}

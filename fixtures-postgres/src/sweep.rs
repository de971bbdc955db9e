//! At start-up: remove what earlier runs left on this server and machine.
//!
//! - local servers (and their folders) of runs whose owner is dead;
//! - kept databases whose expiry has passed, and warm clones older than a day;
//! - every database of a run that is over: test and shared databases, and on an external
//!   server also the run's template and warm clones — a server that is not ours keeps no
//!   caches across runs. A template is spared while a database of a live run was cloned from
//!   it (another run may be using it). Servers the framework starts itself (Docker, local)
//!   keep their templates across runs.
//!
//! A run is alive while the server shows its keeper lock held (see [`crate::keeper`]: that
//! holds for runs on other machines and in other PID namespaces too), or while its owner
//! process lives, when the mark says the owner's pid is one of this namespace. A run of
//! another namespace whose lock is free is swept only if its lock is still free
//! [`RECHECK`](crate::keeper::RECHECK) later (in the background). A mark of an older version
//! (no namespace) whose owner is not alive here is swept once it is [`OLD_MARK_GRACE`] old.
//!
//! At exit, on an external server, the run's owner process drops the warm clones it made
//! ([`drop_warm_at_exit`]); under nextest the owner runs none of our code: the run's
//! watchdog sweeps what the run left once it is over ([`after_run`]), so that a partition of a
//! CI matrix leaves nothing on a shared server even when no later run comes.
//!
//! Never a database without our mark, never one of a live run.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fixtures_core::watchdog::ProcessRef;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::keeper;
use crate::mark;
use crate::server::PgServer;
use crate::sql::exec;

/// `admin` is a connection to the server's maintenance database (the one that found it
/// ready: a new connection costs more than the sweep's query).
pub(crate) async fn at_start(server: &PgServer, admin: &mut PgConnection) {
    let driver = server.backend().driver();
    let _ = tokio::task::spawn_blocking(move || driver.sweep_leftovers()).await;
    match databases(admin, driver.is_ours(), None).await {
        Ok(unsure) if !unsure.is_empty() => recheck_later(server, unsure),
        Ok(_) => {}
        Err(e) => tracing::warn!("sweeping old databases: {e}"),
    }
}

/// In the watchdog of a run on an external server (`options`: its maintenance database),
/// after the run's owner died: once no process of run `run` holds its keeper lock any more
/// (one still finishing: up to 30 s), sweeps the databases of runs that are over — this
/// run's test, shared, warm and template databases among them (a template another live run
/// cloned from is spared), and those of runs of other namespaces whose lock stays free.
pub(crate) fn after_run(options: &PgConnectOptions, run: &str) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            // Once: a server that no longer answers or is full has nothing for us to do now
            // (the next run's sweep has).
            let connect = <PgConnection as Connection>::connect_with(options);
            let Ok(Ok(mut admin)) = tokio::time::timeout(Duration::from_secs(5), connect).await
            else {
                return;
            };
            let alive = match keeper::held(&mut admin).await {
                Ok(held) => held.contains(&keeper::run_key(run)),
                Err(_) => true,
            };
            if !alive {
                // Runs of other namespaces whose lock is free (a CI job's container that ended
                // took its own watchdog with it): swept if still free after a second look.
                let swept = match databases(&mut admin, false, None).await {
                    Ok(unsure) if !unsure.is_empty() => {
                        tokio::time::sleep(keeper::RECHECK).await;
                        databases(&mut admin, false, Some(&unsure))
                            .await
                            .map(|_| ())
                    }
                    other => other.map(|_| ()),
                };
                if let Err(e) = swept {
                    tracing::warn!("sweeping the databases of run {run}: {e}");
                }
            }
            let _ = admin.close().await;
            if !alive || Instant::now() >= until {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
}

/// How old a mark without a namespace (an older version's) must be before its database is
/// swept when its owner is not alive here: its run may live in another namespace.
pub(crate) const OLD_MARK_GRACE: u64 = 6 * 3600;

/// What can be told of the life of the run that made a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Alive,
    Dead,
    /// A run of another namespace whose keeper lock is free now: dead, or between two nextest
    /// processes; told apart by a second look later.
    Unsure,
}

fn life(m: &str, now: u64, held: &HashSet<i64>) -> Life {
    let run = mark::field(m, "run").unwrap_or_default();
    if held.contains(&keeper::run_key(run)) {
        return Life::Alive;
    }
    let owner_alive = owner(m).is_some_and(|o| o.is_alive());
    match mark::field(m, "ns") {
        Some(ns) if ns == ProcessRef::namespace() => {
            if owner_alive {
                Life::Alive
            } else {
                Life::Dead
            }
        }
        Some(_) => Life::Unsure,
        None => {
            let created = mark::field(m, "created").and_then(|c| c.parse::<u64>().ok());
            if owner_alive || created.is_none_or(|c| c + OLD_MARK_GRACE > now) {
                Life::Alive
            } else {
                Life::Dead
            }
        }
    }
}

/// A second look, after [`keeper::RECHECK`], at the databases of runs that were unsure.
fn recheck_later(server: &PgServer, unsure: Vec<String>) {
    let pool = server.admin_pool();
    let ours = server.backend().driver().is_ours();
    fixtures_core::runtime::handle().spawn(async move {
        tokio::time::sleep(keeper::RECHECK).await;
        let Ok(mut admin) = pool.acquire().await else {
            return;
        };
        if let Err(e) = databases(&mut admin, ours, Some(&unsure)).await {
            tracing::warn!("sweeping old databases of other machines: {e}");
        }
    });
}

async fn marked(admin: &mut PgConnection) -> Result<Vec<(String, String)>, crate::Error> {
    sqlx::query_as(
        "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database \
         WHERE shobj_description(oid, 'pg_database') LIKE 'fixtures-managed %'",
    )
    .fetch_all(&mut *admin)
    .await
    .map_err(crate::Error::sql("listing databases", "postgres"))
}

/// Sweeps the databases of runs that are over; returns those of runs it is unsure of. With
/// `second_look`, the names found unsure before: a run still unsure now is over.
async fn databases(
    admin: &mut PgConnection,
    ours: bool,
    second_look: Option<&[String]>,
) -> Result<Vec<String>, crate::Error> {
    let marked = marked(admin).await?;
    let held = keeper::held(admin).await.map_err(crate::Error::sql(
        "reading the runs' keeper locks",
        "postgres",
    ))?;
    let now = mark::now();
    // Whether each database's run is over: unsure ones only at the second look, if they were
    // unsure at the first too.
    let mut unsure = Vec::new();
    let dead: Vec<bool> = marked
        .iter()
        .map(|(name, m)| match (life(m, now, &held), second_look) {
            // A warm clone renamed by a claim and not marked again since: its claimer ended
            // between the two (a live one marks it at once) — over at the second look.
            _ if orphan_claim(name, m) => match second_look {
                None => {
                    unsure.push(name.clone());
                    false
                }
                Some(before) => before.contains(name),
            },
            (Life::Unsure, Some(before)) => before.contains(name),
            (Life::Unsure, None) => {
                if doomed(name, m, now, ours, true) {
                    unsure.push(name.clone());
                }
                false
            }
            (life, _) => life == Life::Dead,
        })
        .collect();
    // Templates a run that is not over has cloned from (its test, shared or warm databases
    // say so).
    let in_use: HashSet<&str> = marked
        .iter()
        .zip(&dead)
        .filter(|(_, dead)| !**dead)
        .filter_map(|((_, m), _)| mark::field(m, "template"))
        .collect();
    for ((name, m), dead) in marked.iter().zip(dead) {
        let doomed = if orphan_claim(name, m) {
            dead
        } else {
            doomed(name, m, now, ours, dead)
        };
        if !doomed || in_use.contains(name.as_str()) {
            continue;
        }
        tracing::info!(database = %name, "sweeping a database left by an earlier run");
        drop_marked(admin, name, m).await;
    }
    // Made and not yet marked (see `mark::create`): their name says whose; a run whose lock
    // is free at two looks is over.
    for name in unmarked(admin).await? {
        let Some(key) = mark::creating_run_key(&name) else {
            continue;
        };
        if held.contains(&key) {
            continue;
        }
        match second_look {
            None => unsure.push(name),
            Some(before) if before.contains(&name) => {
                tracing::info!(database = %name, "sweeping a database whose run ended before marking it");
                let sql = format!(
                    "DROP DATABASE IF EXISTS {}",
                    crate::catalog::quote_ident(&name)
                );
                if let Err(e) = exec(admin, sql, &name).await {
                    tracing::warn!("cannot sweep {name}: {e}");
                }
            }
            Some(_) => {}
        }
    }
    Ok(unsure)
}

/// Databases being made (or left half made) under a [`mark::creating_name`], without a mark.
async fn unmarked(admin: &mut PgConnection) -> Result<Vec<String>, crate::Error> {
    sqlx::query_scalar(
        "SELECT datname::text FROM pg_database \
         WHERE starts_with(datname, $1) AND shobj_description(oid, 'pg_database') IS NULL",
    )
    .bind(mark::CREATING)
    .fetch_all(&mut *admin)
    .await
    .map_err(crate::Error::sql("listing databases", "postgres"))
}

/// A database with a warm clone's mark under another name than a warm clone's: claimed
/// (renamed) and not marked again.
fn orphan_claim(name: &str, m: &str) -> bool {
    mark::field(m, "kind") == Some("warm") && !name.starts_with("fxw_")
}

async fn drop_marked(admin: &mut PgConnection, name: &str, m: &str) {
    if mark::field(m, "kind") == Some("template") {
        let _ = exec(
            admin,
            format!(
                "ALTER DATABASE {} IS_TEMPLATE false",
                crate::catalog::quote_ident(name)
            ),
            name,
        )
        .await;
    }
    if let Err(e) = mark::drop_ours(admin, name).await {
        tracing::warn!("cannot sweep {name}: {e}");
    } else if let Some(role) = mark::field(m, "role") {
        let _ = crate::role::drop_role(admin, role).await;
    }
}

fn owner(m: &str) -> Option<ProcessRef> {
    mark::field(m, "owner").and_then(ProcessRef::parse)
}

/// Whether the database `name` with this mark is to be removed now from a server that is `ours`
/// or not (see [`Driver::is_ours`](crate::backend::Driver::is_ours)),
/// its run being over (`dead`) or not.
fn doomed(name: &str, m: &str, now: u64, ours: bool, dead: bool) -> bool {
    let num = |k| mark::field(m, k).and_then(|v| v.parse::<u64>().ok());
    let owner_dead = || dead;
    let external = !ours;
    match mark::field(m, "kind") {
        Some("kept") => num("expires").is_some_and(|e| e <= now),
        // A claimed clone is renamed before it is marked again: its old mark is not its own.
        Some("warm") => {
            name.starts_with("fxw_")
                && (num("created").is_some_and(|c| c + 24 * 3600 <= now)
                    || (external && owner_dead()))
        }
        Some("test") | Some("shared") => owner_dead(),
        // Reused across runs on servers of ours; not kept on a server that is not ours.
        Some("template") => external && owner_dead(),
        _ => false,
    }
}

/// On an external server, when this process is the run's owner: registers (once) an exit
/// finalizer that drops the warm clones this run made (after `refilling`, the refill in
/// flight, has finished, for up to 5 s).
pub(crate) fn drop_warm_at_exit(server: &PgServer, refilling: &'static AtomicBool) {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    let owner = fixtures_core::watchdog::run_owner();
    if server.backend().driver().is_ours()
        || owner != ProcessRef::current()
        || REGISTERED.swap(true, Ordering::AcqRel)
    {
        return;
    }
    let options = server.connect_options(server.admin_database());
    let _kept = fixtures_core::finalizer::register("drop this run's warm databases", move || {
        let until = Instant::now() + Duration::from_secs(5);
        while refilling.load(Ordering::Acquire) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let owner = owner.to_string();
        tokio::runtime::Handle::current().block_on(async move {
            let mut admin = match crate::sql::connect(&options).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!("dropping warm databases: {e}");
                    return;
                }
            };
            if let Ok(marked) = marked(&mut admin).await {
                for (name, m) in &marked {
                    let ours = mark::field(m, "kind") == Some("warm")
                        && name.starts_with("fxw_")
                        && mark::field(m, "owner") == Some(owner.as_str())
                        && mark::field(m, "run") == Some(fixtures_core::run_id());
                    if ours {
                        drop_marked(&mut admin, name, m).await;
                    }
                }
            }
            let _ = admin.close().await;
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEAD: &str = "owner=4194303:1";

    /// `doomed` for a mark of this namespace (or as written), no keeper lock held.
    fn judged(name: &str, m: &str, now: u64, ours: bool) -> bool {
        let m = if m.contains(" ns=") {
            m.to_owned()
        } else {
            m.replace(
                " created=",
                &format!(" ns={} created=", ProcessRef::namespace()),
            )
        };
        let dead = life(&m, now, &HashSet::new()) == Life::Dead;
        doomed(name, &m, now, ours, dead)
    }

    #[test]
    fn a_run_is_alive_while_its_lock_is_held_wherever_it_runs() {
        let held: HashSet<i64> = [keeper::run_key("r")].into();
        let none = HashSet::new();
        let other = format!("fixtures-managed kind=shared run=r {DEAD} ns=elsewhere/1 created=1");
        assert_eq!(life(&other, 2, &held), Life::Alive);
        assert_eq!(life(&other, 2, &none), Life::Unsure);
        let here = format!(
            "fixtures-managed kind=shared run=r {DEAD} ns={} created=1",
            ProcessRef::namespace()
        );
        assert_eq!(life(&here, 2, &held), Life::Alive);
        assert_eq!(life(&here, 2, &none), Life::Dead);
        let me = ProcessRef::current();
        let mine = format!(
            "fixtures-managed kind=shared run=r owner={me} ns={} created=1",
            ProcessRef::namespace()
        );
        assert_eq!(life(&mine, 2, &none), Life::Alive);
    }

    #[test]
    fn an_older_mark_of_a_run_not_alive_here_goes_only_after_a_grace_period() {
        let old = format!("fixtures-managed kind=shared run=r {DEAD} created=100");
        let none = HashSet::new();
        assert_eq!(life(&old, 100 + OLD_MARK_GRACE - 1, &none), Life::Alive);
        assert_eq!(life(&old, 100 + OLD_MARK_GRACE, &none), Life::Dead);
    }

    #[test]
    fn kept_databases_go_when_they_expire_and_live_runs_are_never_swept() {
        let me = ProcessRef::current();
        for ours in [true, false] {
            let kept = format!("fixtures-managed kind=kept run=r owner={me} created=1 expires=100");
            assert!(judged("fx_a", &kept, 100, ours));
            assert!(!judged("fx_a", &kept, 99, ours));
            for kind in ["test", "shared", "template", "warm"] {
                let live = format!("fixtures-managed kind={kind} run=r owner={me} created=1");
                assert!(!judged("fxw_a", &live, 2, ours), "{kind} ours={ours}");
            }
            let dead = format!("fixtures-managed kind=shared run=r {DEAD} created=1");
            assert!(judged("fx_a", &dead, 2, ours));
        }
    }

    #[test]
    fn templates_and_warm_clones_of_dead_runs_go_only_from_external_servers() {
        let template = format!("fixtures-managed kind=template run=r {DEAD} created=1");
        let warm = format!("fixtures-managed kind=warm run=r {DEAD} created=1");
        {
            let ours = true;
            assert!(!judged("fxt_a", &template, 2, ours), "ours={ours}");
            assert!(!judged("fxw_a_b", &warm, 2, ours), "ours={ours}");
            // ... until a day has passed, for warm clones.
            assert!(judged("fxw_a_b", &warm, 2 + 24 * 3600, ours));
        }
        assert!(judged("fxt_a", &template, 2, false));
        assert!(judged("fxw_a_b", &warm, 2, false));
        // A warm clone being claimed (renamed, not yet marked again) belongs to its new test.
        assert!(!judged("fx_claimed", &warm, 2, false));
        assert!(!judged("fx_claimed", &warm, 2 + 24 * 3600, true));
    }
}

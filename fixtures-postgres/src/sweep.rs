//! At start-up: remove what earlier runs left on this server and machine.
//!
//! - local servers (and their folders) of runs whose owner is dead;
//! - kept databases whose expiry has passed, and warm clones older than a day;
//! - on an external server, every database of a run whose owner is dead (same machine only:
//!   the owner is a local process): test and shared databases, and also the run's template
//!   and warm clones — a server that is not ours keeps no caches across runs. A template is
//!   spared while a database of a live run was cloned from it (another run may be using it).
//!   Servers the framework starts itself (Docker, local) keep their templates across runs.
//!
//! At exit, on an external server, the run's owner process drops the warm clones it made
//! ([`drop_warm_at_exit`]); under nextest the owner runs none of our code, and the next run's
//! sweep removes them.
//!
//! Never a database without our mark, never one of a live run.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fixtures_core::watchdog::ProcessRef;
use sqlx::{Connection, PgConnection};

use crate::fresh::exec;
use crate::mark;
use crate::server::{Backend, PgServer};

/// `admin` is a connection to the server's maintenance database (the one that found it
/// ready: a new connection costs more than the sweep's query).
pub(crate) async fn at_start(server: &PgServer, admin: &mut PgConnection) {
    if server.backend() == Backend::Local {
        let _ = tokio::task::spawn_blocking(crate::local::sweep).await;
    }
    if let Err(e) = databases(admin, server.backend()).await {
        tracing::warn!("sweeping old databases: {e}");
    }
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

async fn databases(admin: &mut PgConnection, backend: Backend) -> Result<(), crate::Error> {
    let marked = marked(admin).await?;
    let now = mark::now();
    // Templates a live run has cloned from (its test, shared or warm databases say so).
    let in_use: HashSet<&str> = marked
        .iter()
        .filter(|(_, m)| owner(m).is_some_and(|o| o.is_alive()))
        .filter_map(|(_, m)| mark::field(m, "template"))
        .collect();
    for (name, m) in &marked {
        if !doomed(name, m, now, backend) || in_use.contains(name.as_str()) {
            continue;
        }
        tracing::info!(database = %name, "sweeping a database left by an earlier run");
        drop_marked(admin, name, m).await;
    }
    Ok(())
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
    }
}

fn owner(m: &str) -> Option<ProcessRef> {
    mark::field(m, "owner").and_then(ProcessRef::parse)
}

/// Whether the database `name` with this mark is to be removed now from a server of `backend`.
fn doomed(name: &str, m: &str, now: u64, backend: Backend) -> bool {
    let num = |k| mark::field(m, k).and_then(|v| v.parse::<u64>().ok());
    let owner_dead = || owner(m).is_some_and(|o| !o.is_alive());
    let external = backend == Backend::External;
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
    if server.backend() != Backend::External
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
            let mut admin = match PgConnection::connect_with(&options).await {
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

    #[test]
    fn kept_databases_go_when_they_expire_and_live_runs_are_never_swept() {
        let me = ProcessRef::current();
        for backend in [Backend::Docker, Backend::Local, Backend::External] {
            let kept = format!("fixtures-managed kind=kept run=r owner={me} created=1 expires=100");
            assert!(doomed("fx_a", &kept, 100, backend));
            assert!(!doomed("fx_a", &kept, 99, backend));
            for kind in ["test", "shared", "template", "warm"] {
                let live = format!("fixtures-managed kind={kind} run=r owner={me} created=1");
                assert!(!doomed("fxw_a", &live, 2, backend), "{kind} {backend:?}");
            }
            let dead = format!("fixtures-managed kind=shared run=r {DEAD} created=1");
            assert!(doomed("fx_a", &dead, 2, backend));
        }
    }

    #[test]
    fn templates_and_warm_clones_of_dead_runs_go_only_from_external_servers() {
        let template = format!("fixtures-managed kind=template run=r {DEAD} created=1");
        let warm = format!("fixtures-managed kind=warm run=r {DEAD} created=1");
        for backend in [Backend::Docker, Backend::Local] {
            assert!(!doomed("fxt_a", &template, 2, backend), "{backend:?}");
            assert!(!doomed("fxw_a_b", &warm, 2, backend), "{backend:?}");
            // ... until a day has passed, for warm clones.
            assert!(doomed("fxw_a_b", &warm, 2 + 24 * 3600, backend));
        }
        assert!(doomed("fxt_a", &template, 2, Backend::External));
        assert!(doomed("fxw_a_b", &warm, 2, Backend::External));
        // A warm clone being claimed (renamed, not yet marked again) belongs to its new test.
        assert!(!doomed("fx_claimed", &warm, 2, Backend::External));
        assert!(!doomed("fx_claimed", &warm, 2 + 24 * 3600, Backend::Docker));
    }
}

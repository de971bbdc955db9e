//! At start-up: remove what earlier runs left on this server and machine.
//!
//! - local servers (and their folders) of runs whose owner is dead;
//! - kept databases whose expiry has passed, and warm clones older than a day;
//! - on an external server, test and shared databases of runs whose owner is dead (same
//!   machine only: the owner is a local process).
//!
//! Never a database without our mark, never one of a live run.

use sqlx::PgConnection;

use crate::fresh::exec;
use crate::mark;
use crate::server::{Backend, PgServer};

/// `admin` is a connection to the server's maintenance database (the one that found it
/// ready: a new connection costs more than the sweep's query).
pub(crate) async fn at_start(server: &PgServer, admin: &mut PgConnection) {
    if server.backend() == Backend::Local {
        let _ = tokio::task::spawn_blocking(crate::local::sweep).await;
    }
    if let Err(e) = databases(admin).await {
        tracing::warn!("sweeping old databases: {e}");
    }
}

async fn databases(admin: &mut PgConnection) -> Result<(), crate::Error> {
    let marked: Vec<(String, String)> = sqlx::query_as(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database \
         WHERE shobj_description(oid, 'pg_database') LIKE 'fixtures-managed %'",
    )
    .fetch_all(&mut *admin)
    .await
    .map_err(crate::Error::sql("listing databases", "postgres"))?;
    let now = mark::now();
    for (name, m) in marked {
        if !doomed(&m, now) {
            continue;
        }
        tracing::info!(database = %name, "sweeping a database left by an earlier run");
        if mark::field(&m, "kind") == Some("template") {
            let _ = exec(
                admin,
                format!(
                    "ALTER DATABASE {} IS_TEMPLATE false",
                    crate::catalog::quote_ident(&name)
                ),
                &name,
            )
            .await;
        }
        if let Err(e) = mark::drop_ours(admin, &name).await {
            tracing::warn!("cannot sweep {name}: {e}");
        }
    }
    Ok(())
}

/// Whether a database with this mark is to be removed now.
fn doomed(m: &str, now: u64) -> bool {
    let num = |k| mark::field(m, k).and_then(|v| v.parse::<u64>().ok());
    let owner_dead = || {
        mark::field(m, "owner")
            .and_then(fixtures_core::watchdog::ProcessRef::parse)
            .is_some_and(|o| !o.is_alive())
    };
    match mark::field(m, "kind") {
        Some("kept") => num("expires").is_some_and(|e| e <= now),
        Some("warm") => num("created").is_some_and(|c| c + 24 * 3600 <= now),
        Some("test") | Some("shared") => owner_dead(),
        _ => false, // templates are reused across runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_databases_go_when_they_expire_and_live_runs_are_never_swept() {
        let me = fixtures_core::watchdog::ProcessRef::current();
        let kept = format!("fixtures-managed kind=kept run=r owner={me} created=1 expires=100");
        assert!(doomed(&kept, 100));
        assert!(!doomed(&kept, 99));
        let live = format!("fixtures-managed kind=test run=r owner={me} created=1");
        assert!(!doomed(&live, u64::MAX));
        let dead = "fixtures-managed kind=shared run=r owner=4194303:1 created=1";
        assert!(doomed(dead, 2));
        assert!(!doomed(
            "fixtures-managed kind=template run=r owner=4194303:1 created=1",
            2
        ));
    }
}

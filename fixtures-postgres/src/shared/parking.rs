//! Parking: when a module's instance ends in the run's owner process, its lanes where no DDL
//! ran wait for the next module of the same key (template and cleaning options); the others
//! are dropped then, and parked lanes at exit.

use std::sync::Arc;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPool};

use super::lane::Lane;
use crate::error::Error;
use crate::mark;
use crate::restore;

/// Lanes of ended module instances, waiting for the next module of the same key (template
/// and cleaning options), in the run owner's process.
static PARKED: parking_lot::Mutex<Vec<(String, Arc<Lane>)>> = parking_lot::Mutex::new(Vec::new());

/// Whether the exit finalizer that drops the parked lanes is registered.
static PARKED_DROPPED_AT_EXIT: std::sync::Once = std::sync::Once::new();

/// A parked lane of key `key`, no longer parked.
pub(super) fn take_parked(key: &str) -> Option<Arc<Lane>> {
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
                drop_parked(&options);
            });
    });
}

/// At exit: drops the lanes still parked (no module took them), their kept connections
/// closed.
fn drop_parked(options: &PgConnectOptions) {
    let lanes: Vec<Arc<Lane>> = PARKED.lock().drain(..).map(|(_, l)| l).collect();
    if lanes.is_empty() {
        return;
    }
    tokio::runtime::Handle::current().block_on(async move {
        let mut admin = match crate::sql::connect(options).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("dropping the parked shared databases: {e}");
                return;
            }
        };
        for lane in lanes {
            lane.close_kept();
            if let Err(e) = mark::drop_ours(&mut admin, &lane.name).await {
                tracing::warn!("cannot drop shared database {}: {e}", lane.name);
            }
        }
        let _ = admin.close().await;
    });
}

/// The end of a shared database's instance (its teardown), with its `lanes` and the names of
/// the lanes this process `opened`: the run's owner parks a module's lanes where no DDL ran
/// for the next module of key `key`, and drops the others; every process closes the kept
/// connections of the lanes not parked.
pub(super) async fn retire_lanes(
    lanes: Arc<parking_lot::Mutex<Vec<Arc<Lane>>>>,
    opened: Arc<parking_lot::Mutex<Vec<String>>>,
    pool: PgPool,
    options: PgConnectOptions,
    key: String,
    module: bool,
) {
    let owner =
        fixtures_core::watchdog::run_owner() == fixtures_core::watchdog::ProcessRef::current();
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
        lane.close_kept();
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
}

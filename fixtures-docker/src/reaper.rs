//! The reaper: a watchdog process (see `fixtures_core::watchdog`) that removes a run's
//! containers and networks once the run's owner has died — also after SIGKILL or a crash,
//! which no exit hook survives.
//!
//! The first container or network a run creates starts it (`ensure`): the test binary is
//! started again, detached, with `FIXTURES_ROLE=docker-reaper`; the `#[ctor]` below sees the
//! role before `main` and serves it. Reused containers are left alone, and so is anything a
//! live process of the run still holds (it removes that itself).
// The `#[ctor]` attribute expands to a link-section static, which the `unsafe_code` lint
// flags; nothing else in this module is unsafe.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fixtures_core::watchdog::{self, ProcessRef, Watch};

use crate::endpoint;
use crate::engine::{self, Engine};
use crate::labels;
use crate::shared::{self, Slot};

/// The watchdog role of this crate.
pub(crate) const ROLE: &str = "docker-reaper";
/// How long one cleanup may take.
const REAP_TIMEOUT: Duration = Duration::from_secs(120);
/// After a pass, how long the reaper keeps looking for more of the run: a container whose
/// creation was in flight when the run died appears in the engine's list only once the
/// engine has finished creating it (RELIABILITY.md, finding 7). The reaper ends once this
/// long has passed with nothing of the run found.
const QUIET: Duration = Duration::from_secs(5);
/// How often it looks meanwhile.
const POLL: Duration = Duration::from_millis(250);

#[ctor::ctor(unsafe)]
fn reaper_role() {
    watchdog::serve_if_role(ROLE, cleanup);
}

/// Makes sure the run has a reaper (the first call in a process may start one).
pub(crate) async fn ensure() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.load(Ordering::Acquire) {
        return;
    }
    // Keeps the constructor's code unit linked into every binary that creates containers.
    std::hint::black_box(reaper_role as fn());
    match tokio::task::spawn_blocking(|| watchdog::ensure(ROLE)).await {
        Ok(Ok(())) => DONE.store(true, Ordering::Release),
        Ok(Err(e)) => tracing::warn!(
            "cannot start the container reaper ({e}): containers of a killed run will be \
             removed by the next run's sweep instead"
        ),
        Err(e) => tracing::warn!("cannot start the container reaper: {e}"),
    }
}

/// The watchdog's work once the run's owner is gone (runs in the watchdog process).
pub(crate) fn cleanup(watch: &Watch) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let _ =
            tokio::time::timeout(REAP_TIMEOUT, reap_until_quiet(&watch.run_id, &watch.dir)).await;
    });
}

/// Reaps the run, then again every [`POLL`] until [`QUIET`] has passed with nothing of the
/// run found (removed or still held by a live process of the run).
async fn reap_until_quiet(run_id: &str, run_dir: &Path) {
    let Ok((endpoint, described)) = endpoint::from_env() else {
        return;
    };
    let Ok(engine) = engine::connect(endpoint, &described).await else {
        return;
    };
    let mut last_found = tokio::time::Instant::now();
    loop {
        if reap_with(&engine, run_id, run_dir).await > 0 {
            last_found = tokio::time::Instant::now();
        }
        if last_found.elapsed() >= QUIET {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// True when a live process of this machine still holds the resource: a lease on a shared
/// one, or the process that created one of its own.
fn held(labels: &BTreeMap<String, String>, slot: Option<Slot>) -> bool {
    match slot {
        Some(slot) => !slot.live_leases().is_empty(),
        None => labels
            .get(labels::OWNER)
            .and_then(|o| ProcessRef::parse(o))
            .is_some_and(|o| o.is_alive()),
    }
}

fn is_suite(labels: &BTreeMap<String, String>) -> bool {
    labels.get(labels::SCOPE).map(String::as_str) == Some("suite")
}

/// Removes the run's containers, networks and volumes, except reused ones and those still
/// held.
/// Returns how many it found (removed or held; reused ones not counted).
async fn reap_with(engine: &Engine, run_id: &str, run_dir: &Path) -> usize {
    let filters = [
        format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
        format!("{}={run_id}", labels::RUN_ID),
    ];
    let state = shared::state_dir_of(run_dir);
    let mut kept = 0;
    let mut found = 0;
    if let Ok(listed) = engine.client.list_containers(&filters).await {
        let mut doomed = Vec::new();
        for c in listed {
            if c.labels.contains_key(labels::REUSE) {
                continue; // kept across runs on purpose; the sweep judges its expiry
            }
            found += 1;
            let slot = is_suite(&c.labels)
                .then(|| c.labels.get(labels::SPEC_HASH))
                .flatten()
                .map(|h| Slot::in_dir(&state, &shared::container_key(h)));
            if held(&c.labels, slot) {
                kept += 1;
            } else {
                doomed.push(c);
            }
        }
        futures_util::future::join_all(doomed.iter().map(|c| remove(engine, &c.id, &c.name))).await;
    }
    if let Ok(listed) = engine.client.list_networks(&filters).await {
        for n in listed {
            found += 1;
            let slot =
                is_suite(&n.labels).then(|| Slot::in_dir(&state, &shared::network_key(&n.name)));
            if held(&n.labels, slot) {
                kept += 1;
            } else if let Err(e) = engine.client.remove_network(&n.id).await {
                tracing::warn!("reaper: cannot remove network `{}`: {e}", n.name);
            }
        }
    }
    // Volumes last: a volume still mounted by a container that is kept stays too.
    if let Ok(listed) = engine.client.list_volumes(&filters).await {
        for v in listed {
            found += 1;
            if let Err(e) = engine.client.remove_volume(&v.name).await {
                kept += 1;
                tracing::debug!("reaper: volume `{}` kept: {e}", v.name);
            }
        }
    }
    if kept == 0 {
        let _ = std::fs::remove_dir_all(&state);
    }
    found
}

async fn remove(engine: &Engine, id: &str, name: &str) {
    if let Err(e) = crate::launch::remove(engine, id, name).await {
        tracing::warn!("reaper: {e}");
    }
}

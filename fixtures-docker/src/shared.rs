//! Sharing across the processes of a run (nextest runs each test in its own process).
//!
//! A shared resource (a suite container, a suite network) has a *slot* in the run's folder:
//! `docker/<key>.lock`, an advisory lock held while the resource is found or created and
//! while a lease is taken or given back, and `docker/<key>.leases/<pid>:<start>`, one file
//! per process that holds it; `docker/<key>.ready` names the container that passed its
//! readiness checks, so that adopters need not run them again. The last holder removes the resource, but only when the run is
//! over for this machine (the run's owner is gone, or is this process): under nextest the
//! resource stays while the runner lives, for later test processes to adopt, and the
//! watchdog removes it when the runner exits.

use std::collections::BTreeMap;
use std::fs::File;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixtures_core::record::{Held, Record};
use fixtures_core::watchdog::{ProcessRef, run_owner};

use crate::engine::Engine;
use crate::error::Error;
use crate::info::ContainerInfo;
use crate::labels::{self, Origin};
use crate::launch;
use crate::naming::short_hash;
use crate::ready::{self, Target};
use crate::spec::ContainerSpec;

/// How long a process waits for another one to finish creating a shared resource.
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the lock is tried while another process holds it.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// The run's folder for this crate's shared state.
pub(crate) fn state_dir_of(run_dir: &Path) -> PathBuf {
    run_dir.join("docker")
}

/// `dir`, created private to this user if missing (with its parent, if that is missing too),
/// and checked: another local user must not read or plant our lock and lease files. An
/// existing parent is not ours to change.
fn private_dirs(dir: &Path) -> Result<(), Error> {
    if let Some(parent) = dir.parent().filter(|p| !p.exists()) {
        fixtures_core::private::ensure(parent, false).map_err(|e| io_error(parent, &e))?;
    }
    fixtures_core::private::ensure(dir, false).map_err(|e| io_error(dir, &e))
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::SharedState {
        path: path.display().to_string(),
        cause: e.to_string(),
    }
}

/// The slot key of a shared container, from its spec hash.
pub(crate) fn container_key(hash: &str) -> String {
    format!("c-{}", &hash[..hash.len().min(16)])
}

/// The slot key of a shared network, from its name.
pub(crate) fn network_key(name: &str) -> String {
    format!("n-{name}")
}

/// True when nobody can adopt a shared resource any more: the run's owner is this process
/// (`cargo test`) or is gone.
pub(crate) fn run_is_over() -> bool {
    let owner = run_owner();
    owner == ProcessRef::current() || !owner.is_alive()
}

/// The lock and leases of one shared resource: a record (its lock, and the id of the resource
/// seen ready) and a folder of lease files, one per process holding it.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    record: Record,
    lease_dir: PathBuf,
}

impl Slot {
    /// The slot of `key` (a file-name-safe string) in `dir`.
    pub(crate) fn in_dir(dir: &Path, key: &str) -> Slot {
        Slot {
            record: Record::at(dir, key),
            lease_dir: dir.join(format!("{key}.leases")),
        }
    }

    /// The slot of `key` in this run's folder.
    pub(crate) fn for_run(key: &str) -> Result<Slot, Error> {
        let run_dir = fixtures_core::watchdog::run_dir()
            .map_err(|e| io_error(&fixtures_core::watchdog::state_dir(), &e))?;
        Ok(Slot::in_dir(&state_dir_of(&run_dir), key))
    }

    /// Takes the slot's lock, waiting (without blocking a thread) while another process
    /// holds it.
    pub(crate) async fn lock(&self) -> Result<SlotLock, Error> {
        let dir = self.record.path().parent().unwrap_or(Path::new("."));
        private_dirs(dir)?;
        let until = Instant::now() + LOCK_TIMEOUT;
        loop {
            match self.record.try_lock() {
                Ok(Some(held)) => {
                    return Ok(SlotLock {
                        _held: held,
                        slot: self.clone(),
                    });
                }
                Ok(None) if Instant::now() < until => tokio::time::sleep(LOCK_POLL).await,
                Ok(None) => {
                    return Err(Error::SharedState {
                        path: self.record.path().display().to_string(),
                        cause: format!("another process held the lock for over {LOCK_TIMEOUT:?}"),
                    });
                }
                Err(e) => return Err(io_error(self.record.path(), &e)),
            }
        }
    }

    /// The processes holding a lease now; files of dead processes are deleted on the way.
    pub(crate) fn live_leases(&self) -> Vec<ProcessRef> {
        let Ok(entries) = std::fs::read_dir(&self.lease_dir) else {
            return Vec::new();
        };
        let mut live = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            match ProcessRef::parse(&name.to_string_lossy()) {
                Some(p) if p.is_alive() => live.push(p),
                _ => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        live
    }
}

/// A held slot lock; released when dropped (closing the file releases it, also on a crash).
#[derive(Debug)]
pub(crate) struct SlotLock {
    _held: Held,
    slot: Slot,
}

impl SlotLock {
    fn lease_path(&self) -> PathBuf {
        self.slot.lease_dir.join(ProcessRef::current().to_string())
    }

    /// Records that this process holds the resource.
    pub(crate) fn add_lease(&self) -> Result<(), Error> {
        let dir = &self.slot.lease_dir;
        private_dirs(dir)?;
        let path = self.lease_path();
        File::create(&path)
            .map(drop)
            .map_err(|e| io_error(&path, &e))
    }

    /// True when the resource `id` was seen ready by the process that made it (or adopted it).
    pub(crate) fn is_ready(&self, id: &str) -> bool {
        self.slot
            .record
            .read()
            .is_some_and(|r| r.get("ready") == Some(id))
    }

    /// Records that the resource `id` passed its readiness checks: later adopters skip them.
    pub(crate) fn mark_ready(&self, id: &str) {
        let _ = self.slot.record.write(&[("ready", id)]);
    }

    /// Gives this process's lease back; true when no live process holds one any more.
    pub(crate) fn drop_lease(&self) -> bool {
        let _ = std::fs::remove_file(self.lease_path());
        self.slot.live_leases().is_empty()
    }
}

/// The labels that find a shared container of this run.
fn run_filters(run_id: &str, hash: &str) -> Vec<String> {
    vec![
        format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
        format!("{}={run_id}", labels::RUN_ID),
        format!("{}={hash}", labels::SPEC_HASH),
        // Only the run's suite container: a test's or module's own container of the same spec
        // is not to be adopted (nor removed as a duplicate).
        format!("{}=suite", labels::SCOPE),
    ]
}

/// The name of the run's shared container for a spec: the same in every process of the run.
fn shared_name(run_id: &str, hash: &str) -> String {
    let run = short_hash(&[run_id]);
    format!("fx-suite-{}-{run}", &hash[..12])
}

/// Finds the run's container for `spec`, or creates it; takes this process's lease on it.
/// Returns where it is and whether it was adopted.
pub(crate) async fn acquire(
    engine: &Arc<Engine>,
    spec: &ContainerSpec,
    origin: &Origin,
    slot: &Slot,
) -> Result<(ContainerInfo, bool), Error> {
    let hash = spec.hash();
    let image = spec.image_ref();
    let lock = slot.lock().await?;
    let found = engine
        .client
        .list_containers(&run_filters(&origin.run_id, &hash))
        .await
        .map_err(|e| Error::Engine {
            operation: "list",
            container: format!("(run {}, spec {})", origin.run_id, &hash[..12]),
            cause: e.to_string(),
        })?;
    let mut adopted = None;
    for c in found {
        if c.running && adopted.is_none() {
            adopted = Some(c);
        } else {
            // Exited, or a duplicate: nobody can be using it.
            tracing::info!(container = %c.name, "removing a stopped shared container");
            if let Err(e) = launch::remove(engine, &c.id, &c.name).await {
                tracing::warn!("{e}");
            }
        }
    }
    let result = match adopted {
        Some(c) => {
            let info = launch::describe(engine, &c.id).await?;
            if !lock.is_ready(&c.id) {
                // Its maker died before it was ready: check it as if it were new.
                let target = Target {
                    engine,
                    info: &info,
                    image: &image,
                };
                ready::wait_ready(&target, &spec.waits, spec.startup_timeout).await?;
                lock.mark_ready(&c.id);
            }
            tracing::info!(container = %info.name(), image = %image, "shared container adopted");
            (info, true)
        }
        None => {
            let labels: BTreeMap<String, String> =
                origin.labels(&hash, false, labels::NON_REUSE_LIFETIME);
            let name = shared_name(&origin.run_id, &hash);
            let info = launch::launch(engine, spec, &name, &labels).await?;
            lock.mark_ready(info.id());
            (info, false)
        }
    };
    lock.add_lease()?;
    Ok(result)
}

/// Gives this process's lease back; removes the container when it was the last holder and
/// the run is over.
pub(crate) async fn release(engine: &Engine, slot: &Slot, id: &str, name: &str) {
    let lock = match slot.lock().await {
        Ok(lock) => lock,
        Err(e) => {
            tracing::warn!("releasing shared container `{name}`: {e}");
            return;
        }
    };
    if lock.drop_lease() && run_is_over() {
        if let Err(e) = launch::remove(engine, id, name).await {
            tracing::warn!("{e}");
        }
    } else {
        tracing::debug!(
            container = name,
            "shared container left for the run's other processes"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot in a scratch folder, removed when the test is done with it.
    struct TempSlot(Slot, PathBuf);

    impl std::ops::Deref for TempSlot {
        type Target = Slot;
        fn deref(&self) -> &Slot {
            &self.0
        }
    }

    impl Drop for TempSlot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }

    fn temp_slot(name: &str) -> TempSlot {
        let dir = std::env::temp_dir().join(format!(
            "fixtures-docker-slot-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempSlot(Slot::in_dir(&dir, "k"), dir)
    }

    #[tokio::test]
    async fn leases_of_dead_processes_do_not_count() {
        let slot = temp_slot("dead");
        let lock = slot.lock().await.unwrap();
        std::fs::create_dir_all(&slot.lease_dir).unwrap();
        std::fs::write(slot.lease_dir.join("1:1"), "").unwrap(); // pid 1 did not start at tick 1
        std::fs::write(slot.lease_dir.join("garbage"), "").unwrap();
        assert!(slot.live_leases().is_empty());
        lock.add_lease().unwrap();
        assert_eq!(slot.live_leases(), vec![ProcessRef::current()]);
        assert!(lock.drop_lease(), "this process was the last holder");
        assert!(std::fs::read_dir(&slot.lease_dir).unwrap().next().is_none());
    }

    #[tokio::test]
    async fn the_lock_is_exclusive_until_dropped() {
        let slot = temp_slot("excl");
        let first = slot.lock().await.unwrap();
        assert!(slot.record.try_lock().unwrap().is_none());
        drop(first);
        assert!(slot.record.try_lock().unwrap().is_some());
        // The id of a resource seen ready goes through the record.
        let lock = slot.lock().await.unwrap();
        assert!(!lock.is_ready("c1"));
        lock.mark_ready("c1");
        assert!(lock.is_ready("c1") && !lock.is_ready("c2"));
    }

    #[test]
    fn shared_names_are_the_same_for_the_same_run_and_spec() {
        let h = "0123456789abcdef0123";
        assert_eq!(shared_name("run-a", h), shared_name("run-a", h));
        assert_ne!(shared_name("run-a", h), shared_name("run-b", h));
    }
}

//! The labels every container and network of ours carries, and how they are read back.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fixtures_core::Scope;
use fixtures_core::watchdog::{ProcessRef, run_owner};

/// Marks what this crate made: `org.fixtures.managed-by=fixtures`.
pub(crate) const MANAGED_BY: &str = "org.fixtures.managed-by";
/// The value of [`MANAGED_BY`].
pub(crate) const MANAGED_BY_VALUE: &str = "fixtures";
/// The run's identity (`fixtures_core::run_id()`).
pub(crate) const RUN_ID: &str = "org.fixtures.run-id";
/// The process that created it (`pid:start`).
pub(crate) const OWNER: &str = "org.fixtures.owner";
/// The run's owner (`pid:start`): nextest's runner, or the test process.
pub(crate) const RUN_OWNER: &str = "org.fixtures.run-owner";
/// The machine the run's processes live on (pids are only judged there).
pub(crate) const MACHINE: &str = "org.fixtures.machine";
/// That machine's boot: a pid from an earlier boot is dead.
pub(crate) const BOOT: &str = "org.fixtures.boot";
/// Label: the PID namespace the owners' pids belong to (`<boot>/<namespace inode>`).
pub(crate) const PID_NAMESPACE: &str = "org.fixtures.pid-namespace";
/// Unix seconds of creation.
pub(crate) const CREATED_AT: &str = "org.fixtures.created-at";
/// Unix seconds after which any sweep may remove it.
pub(crate) const EXPIRES_AT: &str = "org.fixtures.expires-at";
/// [`ContainerSpec::hash`](crate::ContainerSpec::hash), or the network's key.
pub(crate) const SPEC_HASH: &str = "org.fixtures.spec-hash";
/// `test`, `module` or `suite`.
pub(crate) const SCOPE: &str = "org.fixtures.scope";
/// The fixture that asked for it.
pub(crate) const FIXTURE: &str = "org.fixtures.fixture";
/// `true` on containers kept across runs.
pub(crate) const REUSE: &str = "org.fixtures.reuse";

/// The safety net for containers that no owner or watchdog removed.
pub(crate) const NON_REUSE_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where this process runs: the machine and its current boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    pub(crate) id: String,
    pub(crate) boot: String,
    /// The PID namespace pids are read in (a CI job's container has its own).
    pub(crate) pid_namespace: String,
}

impl Machine {
    /// This machine (`/etc/machine-id`, else the host name; `/proc`'s boot id).
    pub(crate) fn here() -> &'static Machine {
        static HERE: OnceLock<Machine> = OnceLock::new();
        HERE.get_or_init(|| {
            let read = |p: &str| {
                std::fs::read_to_string(p)
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
            };
            Machine {
                id: read("/etc/machine-id")
                    .or_else(|| read("/var/lib/dbus/machine-id"))
                    .or_else(|| read("/proc/sys/kernel/hostname"))
                    .unwrap_or_else(|| "unknown".to_owned()),
                boot: read("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
                pid_namespace: ProcessRef::namespace().to_owned(),
            }
        })
    }
}

/// Who asks for a resource, for its labels.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) run_id: String,
    pub(crate) owner: ProcessRef,
    pub(crate) run_owner: ProcessRef,
    pub(crate) scope: Scope,
    pub(crate) fixture: String,
}

impl Origin {
    /// This process, in this run.
    pub(crate) fn here(scope: Scope, fixture: &str) -> Origin {
        Origin {
            run_id: fixtures_core::run_id().to_owned(),
            owner: ProcessRef::current(),
            run_owner: run_owner(),
            scope,
            fixture: fixture.to_owned(),
        }
    }

    /// The labels of a resource made now, for `key` (spec hash), expiring after `lifetime`.
    pub(crate) fn labels(
        &self,
        key: &str,
        reuse: bool,
        lifetime: Duration,
    ) -> BTreeMap<String, String> {
        let machine = Machine::here();
        let created = now();
        let mut l = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            l.insert(k.to_owned(), v);
        };
        put(MANAGED_BY, MANAGED_BY_VALUE.to_owned());
        put(RUN_ID, self.run_id.clone());
        put(OWNER, self.owner.to_string());
        put(RUN_OWNER, self.run_owner.to_string());
        put(MACHINE, machine.id.clone());
        put(BOOT, machine.boot.clone());
        put(PID_NAMESPACE, machine.pid_namespace.clone());
        put(CREATED_AT, created.to_string());
        put(EXPIRES_AT, (created + lifetime.as_secs()).to_string());
        put(SPEC_HASH, key.to_owned());
        put(SCOPE, self.scope.as_str().to_owned());
        put(FIXTURE, self.fixture.clone());
        if reuse {
            put(REUSE, "true".to_owned());
        }
        l
    }
}

/// The label naming the run a reaper container reaps (not the run-id label: the run's
/// containers are reaped, its reaper ends by itself).
pub(crate) const REAPER_OF: &str = "org.fixtures.reaper-of";

/// The labels of the run's reaper container: whose run it reaps, and what the sweep judges a
/// resource by (its run's owner, machine, boot, PID namespace, expiry) — without the managed
/// and run-id labels, so that it is not counted among the run's containers. A reaper created
/// but never started (its process ended between the two) is removed by the next sweep once its
/// run's owner is gone; a running one ends by itself.
pub(crate) fn reaper(run: &str) -> BTreeMap<String, String> {
    let machine = Machine::here();
    let created = now();
    [
        (REAPER_OF, run.to_owned()),
        (RUN_OWNER, run_owner().to_string()),
        (MACHINE, machine.id.clone()),
        (BOOT, machine.boot.clone()),
        (PID_NAMESPACE, machine.pid_namespace.clone()),
        (CREATED_AT, created.to_string()),
        (
            EXPIRES_AT,
            (created + NON_REUSE_LIFETIME.as_secs()).to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What the labels of an existing resource say, as far as a sweep cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) run_id: Option<String>,
    pub(crate) owner: Option<ProcessRef>,
    pub(crate) run_owner: Option<ProcessRef>,
    pub(crate) machine: Option<String>,
    pub(crate) boot: Option<String>,
    pub(crate) pid_namespace: Option<String>,
    pub(crate) expires_at: Option<u64>,
    pub(crate) reuse: bool,
}

impl Parsed {
    /// Reads the labels (missing or malformed ones are `None`).
    pub(crate) fn from(labels: &BTreeMap<String, String>) -> Parsed {
        let get = |k: &str| labels.get(k).map(String::as_str).filter(|v| !v.is_empty());
        Parsed {
            run_id: get(RUN_ID).map(str::to_owned),
            owner: get(OWNER).and_then(ProcessRef::parse),
            run_owner: get(RUN_OWNER).and_then(ProcessRef::parse),
            machine: get(MACHINE).map(str::to_owned),
            boot: get(BOOT).map(str::to_owned),
            pid_namespace: get(PID_NAMESPACE).map(str::to_owned),
            expires_at: get(EXPIRES_AT).and_then(|v| v.trim().parse().ok()),
            reuse: get(REUSE) == Some("true"),
        }
    }
}

/// How long a reused container may stay idle: `FIXTURES_REUSE_TTL` (default `30m`).
pub(crate) fn reuse_ttl() -> Result<Duration, crate::Error> {
    match std::env::var("FIXTURES_REUSE_TTL") {
        Err(_) => Ok(Duration::from_secs(30 * 60)),
        Ok(v) => fixtures_core::parse_duration(&v).ok_or(crate::Error::Config {
            var: "FIXTURES_REUSE_TTL",
            value: v,
            expected: "a duration such as 30m, 90s or 3600",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_parsing() {
        let origin = Origin {
            run_id: "run-1".into(),
            owner: ProcessRef { pid: 10, start: 20 },
            run_owner: ProcessRef { pid: 1, start: 2 },
            scope: Scope::Suite,
            fixture: "db".into(),
        };
        let labels = origin.labels("abc", false, Duration::from_secs(60));
        assert_eq!(labels[MANAGED_BY], "fixtures");
        assert_eq!(labels[SCOPE], "suite");
        assert_eq!(labels[SPEC_HASH], "abc");
        let created: u64 = labels[CREATED_AT].parse().unwrap();
        let p = Parsed::from(&labels);
        assert_eq!(p.run_id.as_deref(), Some("run-1"));
        assert_eq!(p.owner, Some(ProcessRef { pid: 10, start: 20 }));
        assert_eq!(p.run_owner, Some(ProcessRef { pid: 1, start: 2 }));
        assert_eq!(p.expires_at, Some(created + 60));
        assert_eq!(p.machine.as_deref(), Some(Machine::here().id.as_str()));
        assert!(!p.reuse);
        assert!(Parsed::from(&origin.labels("abc", true, Duration::ZERO)).reuse);
    }

    #[test]
    fn malformed_labels_read_as_missing() {
        let labels: BTreeMap<String, String> = [
            (RUN_OWNER, "not-a-process"),
            (EXPIRES_AT, "soon"),
            (OWNER, ""),
            (REUSE, "yes"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let p = Parsed::from(&labels);
        assert_eq!(p.run_owner, None);
        assert_eq!(p.expires_at, None);
        assert_eq!(p.owner, None);
        assert!(!p.reuse, "only `true` marks reuse");
    }

    #[test]
    fn this_machine_has_an_id_and_a_boot() {
        let m = Machine::here();
        assert!(!m.id.is_empty());
        assert!(!m.boot.is_empty());
    }
}

//! Leak accounting: what a run of ours may leave behind, counted from the outside.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The label every container and network of ours carries.
pub const MANAGED_LABEL: &str = "org.fixtures.managed-by=fixtures";
/// The label holding a resource's run id.
pub const RUN_LABEL: &str = "org.fixtures.run-id";
/// What the local backend puts in its postmaster's command line.
pub const LOCAL_CLUSTER: &str = "cluster_name=fixtures-pg-local";

/// What one run left: each list holds one entry per resource.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    /// Containers labelled with the run id (ids).
    pub containers: Vec<String>,
    /// Networks labelled with the run id (ids).
    pub networks: Vec<String>,
    /// Local-backend postmasters whose data directory belongs to the run (pids).
    pub servers: Vec<String>,
    /// Local-backend data directories of the run (`/dev/shm/fixtures-pg-<uid>/run-<run id>-*`).
    pub data_dirs: Vec<PathBuf>,
    /// The run's folder in the state directory (lock and lease files).
    pub state_dirs: Vec<PathBuf>,
    /// Live processes started with the run id in their environment (tests, watchdogs).
    pub processes: Vec<String>,
}

impl Leftovers {
    /// Counts what is left of the run `run_id` right now.
    pub fn of_run(run_id: &str) -> Leftovers {
        let run_filter = format!("label={RUN_LABEL}={run_id}");
        let data_prefix = format!("run-{run_id}-");
        Leftovers {
            containers: docker_ids(&["ps", "-a", "-q", "--filter", &run_filter]),
            networks: docker_ids(&["network", "ls", "-q", "--filter", &run_filter]),
            servers: processes(|cmdline, _| {
                cmdline.contains(LOCAL_CLUSTER) && cmdline.contains(&data_prefix)
            }),
            data_dirs: entries(&pg_data_root(), |name| name.starts_with(&data_prefix)),
            state_dirs: entries(&state_dir().join("runs"), |name| name == run_id),
            processes: processes(|cmdline, environ| {
                // The server's own processes are counted as `servers`.
                !cmdline.starts_with("postgres")
                    && !cmdline.contains(LOCAL_CLUSTER)
                    && environ
                        .split('\0')
                        .any(|kv| kv == format!("FIXTURES_RUN_ID={run_id}"))
            }),
        }
    }

    /// Everything of ours on this machine, whatever the run (for the final check).
    pub fn all_runs() -> Leftovers {
        let managed = format!("label={MANAGED_LABEL}");
        Leftovers {
            containers: docker_ids(&["ps", "-a", "-q", "--filter", &managed]),
            networks: docker_ids(&["network", "ls", "-q", "--filter", &managed]),
            servers: processes(|cmdline, _| cmdline.contains(LOCAL_CLUSTER)),
            data_dirs: entries(&pg_data_root(), |name| name.starts_with("run-")),
            state_dirs: entries(&state_dir().join("runs"), |_| true),
            processes: Vec::new(),
        }
    }

    /// The number of resources left.
    pub fn total(&self) -> usize {
        self.containers.len()
            + self.networks.len()
            + self.servers.len()
            + self.data_dirs.len()
            + self.state_dirs.len()
            + self.processes.len()
    }

    /// Polls [`Leftovers::of_run`] until nothing is left or `limit` has passed; returns the last
    /// count and the time it took.
    pub fn settle(run_id: &str, limit: Duration) -> (Leftovers, Duration) {
        let start = Instant::now();
        loop {
            let left = Leftovers::of_run(run_id);
            if left.total() == 0 || start.elapsed() >= limit {
                return (left, start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total() == 0 {
            return f.write_str("nothing");
        }
        let parts = [
            ("containers", self.containers.len()),
            ("networks", self.networks.len()),
            ("servers", self.servers.len()),
            ("data dirs", self.data_dirs.len()),
            ("state dirs", self.state_dirs.len()),
            ("processes", self.processes.len()),
        ];
        let text: Vec<String> = parts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        f.write_str(&text.join(", "))
    }
}

/// The uid this harness runs as (the tests it starts run as the same).
pub fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

/// The framework's state directory (`FIXTURES_STATE_DIR`, else `$TMPDIR/fixtures-state-<uid>`).
pub fn state_dir() -> PathBuf {
    std::env::var_os("FIXTURES_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("fixtures-state-{}", uid())))
}

/// Where the local backend keeps data directories (`FIXTURES_PG_DATA_ROOT`, else
/// `/dev/shm/fixtures-pg-<uid>`).
pub fn pg_data_root() -> PathBuf {
    std::env::var_os("FIXTURES_PG_DATA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/dev/shm/fixtures-pg-{}", uid())))
}

fn docker_ids(args: &[&str]) -> Vec<String> {
    match Command::new("docker").args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        // No engine: nothing of ours can be in it.
        _ => Vec::new(),
    }
}

fn entries(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    read.filter_map(Result::ok)
        .filter(|e| keep(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect()
}

/// Pids of live processes (not zombies, not this one) whose command line and environment
/// (NUL-separated) satisfy `keep`.
fn processes(keep: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(read) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    read.filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                return None;
            }
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let state = stat.rsplit(')').next()?.split_whitespace().next()?;
            if state == "Z" {
                return None;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            keep(
                &String::from_utf8_lossy(&cmdline).replace('\0', " "),
                &String::from_utf8_lossy(&environ),
            )
            .then_some(pid)
        })
        .collect()
}

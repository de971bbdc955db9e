//! The record of a run's local server in the run's folder (under a lock, so that the run's
//! processes share one server), and what stops servers: the run's owner, its watchdog when
//! the run was killed, and the next run's sweep.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixtures_core::record::Record;
use fixtures_core::watchdog::{self, ProcessRef};

use super::machine::data_root;

/// Where a running local server is, as recorded in the run's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalServer {
    pub(crate) pid: ProcessRef,
    pub(crate) port: u16,
    pub(crate) socket_dir: PathBuf,
    pub(crate) base: PathBuf,
    pub(crate) password: String,
    pub(crate) owner: ProcessRef,
}

impl LocalServer {
    /// The run's record of its local server.
    pub(super) fn record() -> Record {
        Record::of_run(RECORD)
    }

    /// Writes this server into `record`.
    pub(super) fn save(&self, record: &Record) -> std::io::Result<()> {
        let (pid, port, owner) = (
            self.pid.to_string(),
            self.port.to_string(),
            self.owner.to_string(),
        );
        let (socket, base) = (
            self.socket_dir.display().to_string(),
            self.base.display().to_string(),
        );
        record.write(&[
            ("pid", &pid),
            ("port", &port),
            ("socket", &socket),
            ("base", &base),
            ("password", &self.password),
            ("owner", &owner),
        ])
    }

    /// The server `record` names, when it is readable and complete.
    pub(super) fn load(record: &Record) -> Option<LocalServer> {
        let f = record.read()?;
        Some(LocalServer {
            pid: ProcessRef::parse(f.get("pid")?)?,
            port: f.get("port")?.parse().ok()?,
            socket_dir: f.get("socket")?.into(),
            base: f.get("base")?.into(),
            password: f.get("password")?.to_owned(),
            owner: ProcessRef::parse(f.get("owner")?)?,
        })
    }

    /// Stops the server (immediate shutdown) and removes its folder — only a folder of ours
    /// (`run-…` in the data root) and only a process proven to be the server of that folder
    /// (a `postgres` whose command line names its data directory): a record could be stale, or
    /// planted, and must never make us signal a stranger or remove someone else's folder.
    pub(crate) fn stop(&self) {
        if !self.base_is_ours() {
            tracing::warn!(base = %self.base.display(), "not a server folder of ours: left alone");
            return;
        }
        if self.pid.is_alive() && !self.pid_serves_base() {
            tracing::warn!(
                pid = self.pid.pid,
                base = %self.base.display(),
                "the recorded pid is not this folder's server: not signalled, folder left to the sweep"
            );
            return;
        }
        if self.pid.is_alive() {
            // SIGQUIT: immediate shutdown; the data is thrown away anyway.
            let _ = Command::new("kill")
                .args(["-QUIT", &self.pid.pid.to_string()])
                .stderr(Stdio::null())
                .status();
            let until = Instant::now() + Duration::from_secs(5);
            while self.pid.is_alive() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.pid.is_alive() {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.pid.to_string()])
                    .status();
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.base)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", self.base.display());
        }
    }
}

impl LocalServer {
    /// Whether the server serves: its process alive and its `postmaster.pid` saying `ready`. A
    /// server its watcher is stopping (no client for `FIXTURES_PG_IDLE_STOP`: a gap between
    /// two nextest processes) is alive for a moment longer but says `stopping`, and its socket
    /// is gone: a process that joined it then waited its whole readiness deadline for nothing.
    pub(crate) fn serving(&self) -> bool {
        self.pid.is_alive()
            && fs::read_to_string(self.base.join("data/postmaster.pid"))
                .is_ok_and(|text| text.lines().nth(7).map(str::trim) == Some("ready"))
    }

    /// Whether the folder is one of ours: `run-…` directly in the data root.
    fn base_is_ours(&self) -> bool {
        self.base.parent() == Some(data_root().as_path())
            && self
                .base
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
    }

    /// Whether the recorded pid is a `postgres` started on this folder's data directory.
    fn pid_serves_base(&self) -> bool {
        let pid = self.pid.pid;
        let data = self.base.join("data");
        is_postgres(pid)
            && fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                c.split(|b| *b == 0)
                    .any(|arg| Path::new(&*String::from_utf8_lossy(arg)) == data)
            })
    }
}

/// The record's name in the run's folder.
const RECORD: &str = "pg-local-server";

/// Removes this run's record (when its owner stops the server).
pub(crate) fn forget() {
    LocalServer::record().remove();
}

/// The watchdog's cleanup: stop the dead run's server.
pub(crate) fn reap(watch: &watchdog::Watch) {
    let record = Record::at(&watch.dir, RECORD);
    if let Some(server) = LocalServer::load(&record) {
        server.stop();
    }
    record.remove();
    // A server of the run that was still being set up when its process died (no record yet):
    // its folder names its owner, who is dead now.
    sweep();
}

/// Removes servers and folders left by runs whose owner is dead (a killed run whose watchdog
/// did not get to it). Never touches a live run's server.
pub(crate) fn sweep() {
    let Ok(entries) = fs::read_dir(data_root()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("run-") {
            continue;
        }
        let base = entry.path();
        let owner = fs::read_to_string(base.join("owner"))
            .ok()
            .and_then(|t| ProcessRef::parse(&t));
        if owner.is_some_and(|o| o.is_alive()) {
            continue;
        }
        let young = fs::metadata(&base)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < Duration::from_secs(60));
        if owner.is_none() && young {
            continue; // being set up by a run that has not written its owner yet
        }
        let pid_file = fs::read_to_string(base.join("data/postmaster.pid")).unwrap_or_default();
        if let Some(pid) = pid_file
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
            && let Some(p) = ProcessRef::of(pid)
            && is_postgres(pid)
        {
            let dead = LocalServer {
                pid: p,
                port: 0,
                socket_dir: base.join("socket"),
                base: base.clone(),
                password: String::new(),
                owner: owner.unwrap_or(p),
            };
            tracing::info!(dir = %base.display(), "sweeping a dead run's local server");
            dead.stop();
        } else {
            let _ = fs::remove_dir_all(&base);
        }
    }
}

fn is_postgres(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_records_round_trip() {
        let s = LocalServer {
            pid: ProcessRef { pid: 42, start: 7 },
            port: 5433,
            socket_dir: "/dev/shm/x/socket".into(),
            base: "/dev/shm/x".into(),
            password: "abc".into(),
            owner: ProcessRef { pid: 1, start: 2 },
        };
        let dir = std::env::temp_dir().join(format!("fx-local-record-{}", std::process::id()));
        fixtures_core::private::ensure(&dir, false).unwrap();
        let record = Record::at(&dir, RECORD);
        s.save(&record).unwrap();
        assert_eq!(LocalServer::load(&record), Some(s));
        record.write(&[("port", "1")]).unwrap();
        assert_eq!(LocalServer::load(&record), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_record_naming_a_stranger_signals_nothing_and_removes_nothing() {
        // A record whose pid is this very test process: were it signalled (SIGQUIT), the test
        // would die.
        let me = ProcessRef::of(std::process::id()).unwrap();
        let root = data_root();
        fixtures_core::private::ensure(&root, true).unwrap();
        let base = root.join(format!("run-stranger-{}", std::process::id()));
        fs::create_dir_all(base.join("data")).unwrap();
        let planted = LocalServer {
            pid: me,
            port: 1,
            socket_dir: base.join("socket"),
            base: base.clone(),
            password: String::new(),
            owner: me,
        };
        planted.stop();
        assert!(
            base.exists(),
            "the folder of a server not proven ours was removed"
        );
        // A folder outside the data root is never removed, whatever the record says.
        let outside = std::env::temp_dir().join(format!("fx-not-ours-{}", std::process::id()));
        fs::create_dir_all(&outside).unwrap();
        let dead = ProcessRef {
            pid: u32::MAX - 1,
            start: 1,
        };
        let elsewhere = LocalServer {
            pid: dead,
            base: outside.clone(),
            ..planted
        };
        elsewhere.stop();
        assert!(
            outside.exists(),
            "a folder outside the data root was removed"
        );
        fs::remove_dir_all(&outside).unwrap();
        // The same folder with no live process named: ours, and removed.
        LocalServer {
            base: base.clone(),
            ..elsewhere
        }
        .stop();
        assert!(!base.exists());
    }
}

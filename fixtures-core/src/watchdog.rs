//! A watchdog outside the test processes, for what no exit hook can catch (SIGKILL, a crash).
//!
//! The run's *owner* is the process whose life is the run's life: nextest's runner (the parent
//! of every test process of a run) under nextest, the test process itself under `cargo test`.
//! A crate that leaves something outside the process (a container, a server, a directory)
//! calls [`ensure`] with its role; the first process of the run starts the test binary again,
//! detached, in that role. A `#[ctor]` of the crate calls [`serve_if_role`], which waits until
//! the owner has died and then runs the crate's cleanup for the run. One watchdog per run and
//! role (an advisory lock), so a run of 200 nextest processes has one.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A process, told apart from a later one with the same pid by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRef {
    /// The process id.
    pub pid: u32,
    /// Its start time, in clock ticks since boot (`/proc/PID/stat`, field 22).
    pub start: u64,
}

impl ProcessRef {
    /// The process `pid`, if it exists now.
    pub fn of(pid: u32) -> Option<ProcessRef> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state); field 22 is at index 19.
        let state = *fields.first()?;
        if state == "Z" || state == "X" {
            return None;
        }
        Some(ProcessRef {
            pid,
            start: fields.get(19)?.parse().ok()?,
        })
    }

    /// This process.
    pub fn current() -> ProcessRef {
        ProcessRef::of(std::process::id()).unwrap_or(ProcessRef {
            pid: std::process::id(),
            start: 0,
        })
    }

    /// Where pids mean what they say: this boot of this machine and this process's PID
    /// namespace (`<boot id>/<namespace inode>`). A [`ProcessRef`] recorded under another
    /// value (another machine, a CI job's container) cannot be checked from here.
    pub fn namespace() -> &'static str {
        static NS: OnceLock<String> = OnceLock::new();
        NS.get_or_init(|| {
            let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|b| b.trim().replace('-', ""))
                .unwrap_or_else(|_| "noboot".into());
            let ns = std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .and_then(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("pid:[")?.strip_suffix(']')?.to_owned())
                })
                .unwrap_or_else(|| "nons".into());
            format!("{}/{ns}", boot.get(..16).unwrap_or(&boot))
        })
    }

    /// True while this very process (same pid, same start time) runs.
    pub fn is_alive(&self) -> bool {
        ProcessRef::of(self.pid).is_some_and(|p| self.start == 0 || p.start == self.start)
    }

    /// Parses `pid:start` (as written by `Display`).
    pub fn parse(text: &str) -> Option<ProcessRef> {
        let (pid, start) = text.trim().split_once(':')?;
        Some(ProcessRef {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }
}

impl fmt::Display for ProcessRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.pid, self.start)
    }
}

/// The process whose life is the run's life (nextest's runner, or this process).
pub fn run_owner() -> ProcessRef {
    static OWNER: OnceLock<ProcessRef> = OnceLock::new();
    *OWNER.get_or_init(|| {
        if let Some(owner) = std::env::var("FIXTURES_RUN_OWNER")
            .ok()
            .and_then(|s| ProcessRef::parse(&s))
        {
            return owner;
        }
        if crate::identity::runner() == crate::identity::Runner::Nextest {
            // The parent as it was when this process started: read lazily, a dead runner's
            // orphan would see pid 1 and take init for its run's owner.
            let ppid = PARENT_AT_START.load(std::sync::atomic::Ordering::Relaxed);
            return match ProcessRef::of(ppid) {
                // pid 1 is the runner itself when it is the first process of a PID namespace
                // (a CI job's container running `cargo nextest`: cargo execs nextest).
                Some(parent) if ppid > 1 || is_nextest(ppid) => parent,
                // Orphaned before it could look: the runner is gone, and so is the run.
                _ => ProcessRef {
                    pid: u32::MAX,
                    start: 0,
                },
            };
        }
        ProcessRef::current()
    })
}

/// Whether process `pid` is nextest's runner (its command name).
fn is_nextest(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim() == "cargo-nextest")
}

static PARENT_AT_START: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[allow(unsafe_code)]
#[ctor::ctor(unsafe)]
fn record_parent_at_start() {
    // Only a syscall: safe before `main`.
    PARENT_AT_START.store(
        std::os::unix::process::parent_id(),
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Removes the folders of runs whose owner is dead (lock and lease files a killed run left),
/// never a live run's. Runs once per process, on first use of the run folder.
fn sweep_runs() {
    let Ok(entries) = std::fs::read_dir(state_dir().join("runs")) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if entry.file_name() == crate::identity::run_id() {
            continue;
        }
        let text = std::fs::read_to_string(dir.join("owner")).unwrap_or_default();
        let mut lines = text.lines();
        let owner = lines.next().and_then(ProcessRef::parse);
        // Recorded in another PID namespace (a CI job's container sharing this folder): its
        // pid means nothing here; only a day's age says the run is over.
        let elsewhere = lines
            .next()
            .is_some_and(|ns| ns.trim() != ProcessRef::namespace());
        let age = || {
            std::fs::metadata(&dir)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
        };
        let stale = match owner {
            Some(_) if elsewhere => age().is_some_and(|a| a > Duration::from_secs(24 * 3600)),
            Some(o) => !o.is_alive(),
            // No owner recorded: only when old (its run may be writing it right now).
            None => age().is_some_and(|a| a > Duration::from_secs(600)),
        };
        if stale {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Where the framework keeps its state on this machine (`FIXTURES_STATE_DIR`, or a folder of
/// this user's in the temp directory). Private to this user: see [`crate::private`]; use it
/// through [`run_dir`] / [`state_dir_checked`].
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FIXTURES_STATE_DIR") {
        return PathBuf::from(dir);
    }
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("fixtures-state-{uid}"))
}

/// The state folder, created private if missing and checked ([`crate::private::ensure`]).
///
/// # Errors
///
/// When it cannot be created, or another user could read or plant what it holds.
pub fn state_dir_checked() -> std::io::Result<PathBuf> {
    let dir = state_dir();
    crate::private::ensure(&dir, false)?;
    Ok(dir)
}

/// Whether this run's folder and the folders above it (up to the state folder) exist and are
/// private: only then is what an earlier process of the run left there to be read.
pub fn run_dir_is_private() -> bool {
    let dir = run_dir_path();
    [state_dir(), state_dir().join("runs"), dir]
        .iter()
        .all(|d| crate::private::check(d).is_ok())
}

/// Where this run's folder is in the state directory, whether or not it exists yet (to look
/// for what an earlier process of the run left there without creating it).
pub fn run_dir_path() -> PathBuf {
    state_dir().join("runs").join(crate::identity::run_id())
}

/// How the names of [`run_note`]s begin.
const NOTE_PREFIX: &str = "note-";

/// A note for the run's other processes (what an earlier process found or started, say), in the
/// run's folder: `name` prefixed so that it goes with the folder when the run is over. Write it
/// after [`run_dir`] (which creates the folder); read it without creating anything.
pub fn run_note(name: &str) -> PathBuf {
    run_dir_path().join(format!("{NOTE_PREFIX}{name}"))
}

/// This run's folder in the state directory (created).
///
/// # Errors
///
/// When the folder cannot be created.
pub fn run_dir() -> std::io::Result<PathBuf> {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let dir = run_dir_path();
    let state = state_dir_checked()?;
    crate::private::ensure(&state.join("runs"), false)?;
    SWEPT.call_once(sweep_runs);
    crate::private::ensure(&dir, false)?;
    let owner = dir.join("owner");
    if !owner.exists() {
        // The owner, and the PID namespace its pid belongs to.
        std::fs::write(
            &owner,
            format!("{}\n{}\n", run_owner(), ProcessRef::namespace()),
        )?;
    }
    Ok(dir)
}

fn lock_path(dir: &Path, role: &str) -> PathBuf {
    dir.join(format!("watchdog-{role}.lock"))
}

/// Makes sure a watchdog in `role` watches this run (starting one if none does).
///
/// # Errors
///
/// When the run folder cannot be written or the watchdog process cannot be started.
pub fn ensure(role: &'static str) -> std::io::Result<()> {
    static STARTED: parking_lot::Mutex<Vec<&'static str>> = parking_lot::Mutex::new(Vec::new());
    let mut started = STARTED.lock();
    if started.contains(&role) {
        return Ok(());
    }
    let dir = run_dir()?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(&dir, role))?;
    if lock.try_lock().is_ok() {
        // Nobody holds it: no watchdog yet. Start one; it takes the lock itself.
        lock.unlock()?;
        let owner = run_owner();
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.env("FIXTURES_ROLE", role)
            .env("FIXTURES_RUN_ID", crate::identity::run_id())
            .env("FIXTURES_RUN_OWNER", owner.to_string())
            .env_remove("NEXTEST_TEST_PHASE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = cmd.spawn()?;
        tracing::debug!(role, pid = child.id(), owner = %owner, "started watchdog");
        // Wait (briefly) until it holds the lock, so that this run's next process sees it.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if lock.try_lock().is_err() {
                break;
            }
            lock.unlock()?;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    started.push(role);
    Ok(())
}

/// What a watchdog's cleanup is told about the run it watched.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The run's identity.
    pub run_id: String,
    /// The run's owner, now dead.
    pub owner: ProcessRef,
    /// The run's folder.
    pub dir: PathBuf,
}

/// In a `#[ctor]`: if this process was started as `role`'s watchdog, waits for the run's
/// owner to die, runs `cleanup`, and exits; otherwise returns at once.
///
/// Before `main` nothing else of the test binary has run; `cleanup` may start its own runtime.
pub fn serve_if_role(role: &str, cleanup: fn(&Watch)) {
    if std::env::var("FIXTURES_ROLE").ok().as_deref() != Some(role) {
        return;
    }
    let code = serve(role, cleanup);
    std::process::exit(code);
}

fn serve(role: &str, cleanup: fn(&Watch)) -> i32 {
    let (Ok(run_id), Some(owner)) = (
        std::env::var("FIXTURES_RUN_ID"),
        std::env::var("FIXTURES_RUN_OWNER")
            .ok()
            .and_then(|s| ProcessRef::parse(&s)),
    ) else {
        return 2;
    };
    let Ok(dir) = run_dir() else { return 2 };
    let Ok(lock) = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(&dir, role))
    else {
        return 2;
    };
    if lock.try_lock().is_err() {
        return 0; // another watchdog watches this run
    }
    while owner.is_alive() {
        std::thread::sleep(Duration::from_millis(100));
    }
    cleanup(&Watch {
        run_id,
        owner,
        dir: dir.clone(),
    });
    let _ = std::fs::remove_file(lock_path(&dir, role));
    drop(lock);
    // The folder goes once nothing but the owner's record and the run's notes are left
    // (another role's watchdog may still be at work in it; the last one removes it).
    let only_owner = std::fs::read_dir(&dir)
        .map(|entries| {
            entries.flatten().all(|e| {
                let name = e.file_name();
                name == "owner" || name.to_string_lossy().starts_with(NOTE_PREFIX)
            })
        })
        .unwrap_or(false);
    if only_owner {
        let _ = std::fs::remove_dir_all(&dir);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_round_trips() {
        let me = ProcessRef::current();
        assert!(me.start > 0);
        assert!(me.is_alive());
        assert_eq!(ProcessRef::parse(&me.to_string()), Some(me));
    }

    #[test]
    fn a_dead_or_reused_pid_is_not_alive() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let before = ProcessRef::of(pid);
        child.wait().unwrap();
        assert!(!ProcessRef { pid, start: 1 }.is_alive() || before.is_none());
        let me = ProcessRef::current();
        let reused = ProcessRef {
            pid: me.pid,
            start: me.start + 1,
        };
        assert!(
            !reused.is_alive(),
            "same pid, other start time: another process"
        );
    }

    #[test]
    fn under_cargo_test_the_run_owner_is_this_process() {
        if crate::identity::runner() == crate::identity::Runner::CargoTest
            && std::env::var_os("FIXTURES_RUN_OWNER").is_none()
        {
            assert_eq!(run_owner(), ProcessRef::current());
        } else {
            assert_ne!(run_owner().pid, std::process::id());
        }
    }
}

//! The local backend: a private server from the machine's Postgres binaries, data on tmpfs.
//!
//! `initdb` runs once per machine (per binaries and user) into a cache; each run copies the
//! cached data directory (≈ 75 ms on tmpfs instead of ≈ 850 ms) and starts `postgres` on a free
//! port, listening on 127.0.0.1 and a private unix socket, with durability off. As root, the
//! server runs as the `postgres` user. All processes of one run share one server (its address
//! is kept in the run's folder, under a lock); the run's owner stops it, or the watchdog does
//! when the run was killed.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixtures_core::watchdog::{self, ProcessRef};

use crate::error::Error;

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
    fn to_record(&self) -> String {
        format!(
            "pid={}\nport={}\nsocket={}\nbase={}\npassword={}\nowner={}\n",
            self.pid,
            self.port,
            self.socket_dir.display(),
            self.base.display(),
            self.password,
            self.owner
        )
    }

    fn from_record(text: &str) -> Option<LocalServer> {
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .map(str::to_owned)
        };
        Some(LocalServer {
            pid: ProcessRef::parse(&get("pid")?)?,
            port: get("port")?.parse().ok()?,
            socket_dir: get("socket")?.into(),
            base: get("base")?.into(),
            password: get("password")?,
            owner: ProcessRef::parse(&get("owner")?)?,
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

/// The Postgres binaries to use.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) bindir: PathBuf,
}

impl Binaries {
    /// Finds `initdb` and `postgres`: `FIXTURES_PG_BINDIR`, `PATH`, `pg_config --bindir`,
    /// then `/usr/lib/postgresql/*/bin` (newest version first).
    pub(crate) fn find() -> Result<Binaries, Error> {
        let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
        let mut tried = Vec::new();
        if let Ok(dir) = std::env::var("FIXTURES_PG_BINDIR") {
            let dir = PathBuf::from(dir);
            if has_both(&dir) {
                return Ok(Binaries { bindir: dir });
            }
            return Err(Error::Config {
                setting: "FIXTURES_PG_BINDIR".into(),
                value: dir.display().to_string(),
                expected: "a folder holding `initdb` and `postgres`".into(),
            });
        }
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            // `initdb` on PATH is often a symlink into the real bin folder.
            if let Ok(real) = fs::canonicalize(dir.join("initdb"))
                && let Some(parent) = real.parent()
                && has_both(parent)
            {
                return Ok(Binaries {
                    bindir: parent.to_path_buf(),
                });
            }
        }
        tried.push("PATH".to_owned());
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_both(&dir) {
                return Ok(Binaries { bindir: dir });
            }
        }
        tried.push("pg_config --bindir".to_owned());
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                has_both(&bin).then_some((v, bin))
            })
            .collect();
        versions.sort();
        tried.push("/usr/lib/postgresql/*/bin".to_owned());
        match versions.pop() {
            Some((_, bindir)) => Ok(Binaries { bindir }),
            None => Err(Error::LocalServer {
                step: "finding initdb and postgres",
                detail: format!(
                    "not found (looked in {}); install them (Debian: `apt-get install \
                     postgresql`), set FIXTURES_PG_BINDIR, or use another backend \
                     (FIXTURES_PG_BACKEND=docker, or FIXTURES_PG_URL)",
                    tried.join(", ")
                ),
            }),
        }
    }

    fn version(&self) -> String {
        Command::new(self.bindir.join("postgres"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

/// The user the server runs as: this user, or `postgres` when this is root (Postgres refuses
/// to run as root).
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl RunAs {
    fn pick() -> Result<Option<RunAs>, Error> {
        let me = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
        if me != 0 {
            return Ok(None);
        }
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 3 && f[0] == "postgres").then(|| {
                    Some(RunAs {
                        uid: f[2].parse().ok()?,
                        gid: f[3].parse().ok()?,
                    })
                })?
            })
            .map(Some)
            .ok_or_else(|| Error::LocalServer {
                step: "choosing a user",
                detail: "running as root, and there is no `postgres` user to run the server as \
                         (Postgres refuses to run as root); create one (`useradd postgres`) or \
                         run the tests as another user"
                    .into(),
            })
    }

    fn own(&self, path: &Path) -> std::io::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
    }
}

fn command(bin: &Path, run_as: Option<RunAs>) -> Command {
    let mut cmd = Command::new(bin);
    if let Some(r) = run_as {
        cmd.uid(r.uid).gid(r.gid);
    }
    cmd.env_remove("PGDATA")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    cmd
}

/// The folder on tmpfs for data directories (`FIXTURES_PG_DATA_ROOT` overrides).
pub(crate) fn data_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("FIXTURES_PG_DATA_ROOT") {
        return PathBuf::from(dir);
    }
    let uid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    let shm = Path::new("/dev/shm");
    if fs::metadata(shm).is_ok_and(|m| m.is_dir()) {
        return shm.join(format!("fixtures-pg-{uid}"));
    }
    tracing::warn!(
        "/dev/shm is missing: the local Postgres server keeps its data on disk, which is 10-20× \
         slower for CREATE DATABASE; set FIXTURES_PG_DATA_ROOT to a tmpfs folder"
    );
    std::env::temp_dir().join(format!("fixtures-pg-{uid}"))
}

/// The cached, initdb'd data directory for these binaries (made once, under a lock). It keeps
/// no password: each run's copy gets one of its own (see [`start`]).
fn cached_cluster(bins: &Binaries, run_as: Option<RunAs>) -> Result<PathBuf, Error> {
    use sha2::{Digest, Sha256};
    let root = data_root();
    let key: String = Sha256::digest(format!("{}|{}", bins.bindir.display(), bins.version()))
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache = root.join(format!("cache-{key}"));
    let io = |step: &'static str| {
        move |e: std::io::Error| Error::LocalServer {
            step,
            detail: e.to_string(),
        }
    };
    // Private to this user (searchable by the user the servers run as, never listable).
    fixtures_core::private::ensure(&root, run_as.is_some())
        .map_err(io("checking the data root"))?;
    let lock =
        File::create(root.join(format!("cache-{key}.lock"))).map_err(io("locking the cache"))?;
    lock.lock().map_err(io("locking the cache"))?;
    let complete = cache.join("complete");
    let data = cache.join("data");
    if data.join("PG_VERSION").is_file() && complete.is_file() {
        return Ok(data);
    }
    let _ = fs::remove_dir_all(&cache);
    fixtures_core::private::ensure(&cache, false).map_err(io("creating the cache"))?;
    // initdb wants a password; nobody needs it afterwards (each run sets its own).
    let pwfile = cache.join("pwfile");
    let secret = fixtures_core::secret::random_hex().map_err(io("writing the cache"))?;
    fs::write(&pwfile, secret).map_err(io("writing the cache"))?;
    fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o600))
        .map_err(io("writing the cache"))?;
    if let Some(r) = run_as {
        r.own(&cache)
            .and_then(|()| r.own(&pwfile))
            .map_err(io("giving the cache to the postgres user"))?;
    }
    let start = Instant::now();
    let out = command(&bins.bindir.join("initdb"), run_as)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output()
        .map_err(io("running initdb"))?;
    let _ = fs::remove_file(&pwfile);
    if !out.status.success() {
        let _ = fs::remove_dir_all(&cache);
        return Err(Error::LocalServer {
            step: "initdb",
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    fs::write(&complete, b"").map_err(io("writing the cache"))?;
    tracing::info!(elapsed = ?start.elapsed(), dir = %data.display(), "initdb done (cached for later runs)");
    Ok(data)
}

/// Copies a folder tree, keeping permissions (data directories must stay 0700).
fn copy_tree(from: &Path, to: &Path, run_as: Option<RunAs>) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    if let Some(r) = run_as {
        r.own(to)?;
    }
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst, run_as)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
            if let Some(r) = run_as {
                r.own(&dst)?;
            }
        }
    }
    Ok(())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn record_path() -> std::io::Result<PathBuf> {
    Ok(watchdog::run_dir()?.join("pg-local.server"))
}

/// Finds this run's server, or starts it. Blocking; call from a blocking context.
pub(crate) fn find_or_start(max_connections: u32) -> Result<(LocalServer, bool), Error> {
    let io = |step: &'static str| {
        move |e: std::io::Error| Error::LocalServer {
            step,
            detail: e.to_string(),
        }
    };
    let record = record_path().map_err(io("creating the run folder"))?;
    let mut lock = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(record.with_extension("lock"))
        .map_err(io("locking the run's server record"))?;
    lock.lock().map_err(io("locking the run's server record"))?;
    let _ = lock.seek(SeekFrom::Start(0));
    if let Some(existing) = fs::read_to_string(&record)
        .ok()
        .and_then(|t| LocalServer::from_record(&t))
        && existing.pid.is_alive()
    {
        return Ok((existing, true));
    }
    // The watchdog first: a run killed while the data directory is being copied or the
    // server is starting leaves a folder only it (or the next run's sweep) would remove.
    watchdog::ensure("pg-local-reaper").map_err(io("starting the watchdog"))?;
    let server = start(max_connections)?;
    fs::write(&record, server.to_record()).map_err(io("recording the server"))?;
    fs::set_permissions(&record, fs::Permissions::from_mode(0o600))
        .map_err(io("recording the server"))?;
    Ok((server, false))
}

/// Removes this run's record (when its owner stops the server).
pub(crate) fn forget() {
    if let Ok(record) = record_path() {
        let _ = fs::remove_file(&record);
        let _ = fs::remove_file(record.with_extension("lock"));
    }
}

/// Who may connect to a run's server: whoever can reach its socket folder (private to this
/// user and the server's), and with the run's own password over the loopback address.
const PG_HBA: &str =
    "local all all trust\nhost all all 127.0.0.1/32 md5\nhost all all ::1/128 md5\n";

fn start(max_connections: u32) -> Result<LocalServer, Error> {
    let io = |step: &'static str| {
        move |e: std::io::Error| Error::LocalServer {
            step,
            detail: e.to_string(),
        }
    };
    let bins = Binaries::find()?;
    let run_as = RunAs::pick()?;
    let cached = cached_cluster(&bins, run_as)?;
    let base = data_root().join(format!(
        "run-{}-{}",
        fixtures_core::run_id(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&base);
    let data = base.join("data");
    let socket_dir = base.join("socket");
    fixtures_core::private::ensure(&base, false).map_err(io("creating the server folder"))?;
    fixtures_core::private::ensure(&socket_dir, false).map_err(io("creating the server folder"))?;
    if let Some(r) = run_as {
        r.own(&base)
            .and_then(|()| r.own(&socket_dir))
            .map_err(io("creating the server folder"))?;
    }
    // Who owns this server, recorded before anything else goes in: another run's start-up
    // sweep removes folders whose owner is dead or unknown.
    fs::write(base.join("owner"), watchdog::run_owner().to_string())
        .map_err(io("recording the owner"))?;
    let copied = Instant::now();
    copy_tree(&cached, &data, run_as).map_err(io("copying the cached data directory"))?;
    // md5 where the stored password is md5 (set at start, see `server::cheap_auth`), SCRAM
    // until then: a SCRAM handshake costs ~50 ms of client CPU in a debug build, md5 ~0.
    fs::write(data.join("pg_hba.conf"), PG_HBA).map_err(io("writing pg_hba.conf"))?;
    tracing::debug!(elapsed = ?copied.elapsed(), "copied the cached data directory");
    let mut last = String::new();
    for _attempt in 0..5 {
        let port = free_port().map_err(io("finding a free port"))?;
        let log_path = base.join("server.log");
        let log = File::create(&log_path).map_err(io("creating the server log"))?;
        let child = command(&bins.bindir.join("postgres"), run_as)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&socket_dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                &format!("max_connections={max_connections}"),
                "-c",
                "shared_buffers=64MB",
                "-c",
                "max_locks_per_transaction=256",
                "-c",
                "log_min_messages=warning",
                "-c",
                "cluster_name=fixtures-pg-local",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(io("starting postgres"))?;
        let pid = ProcessRef::of(child.id()).ok_or_else(|| Error::LocalServer {
            step: "starting postgres",
            detail: tail(&log_path),
        })?;
        // Not waited for: under nextest it outlives this process; the run's owner or the
        // watchdog stops it by pid.
        drop(child);
        // Wait for the socket file or an early exit.
        let until = Instant::now() + Duration::from_secs(30);
        let sock = socket_dir.join(format!(".s.PGSQL.{port}"));
        while Instant::now() < until && pid.is_alive() && !sock.exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if sock.exists() {
            let password = run_password(&socket_dir, port).map_err(|e| Error::LocalServer {
                step: "setting the run's password",
                detail: e.to_string(),
            })?;
            return Ok(LocalServer {
                pid,
                port,
                socket_dir,
                base,
                password,
                owner: watchdog::run_owner(),
            });
        }
        last = tail(&log_path);
        if !last.contains("could not bind") && !last.contains("Address already in use") {
            break; // not a port race: retrying will not help
        }
    }
    let _ = fs::remove_dir_all(&base);
    Err(Error::LocalServer {
        step: "starting postgres",
        detail: format!("the server did not come up; its log ends with:\n{last}"),
    })
}

/// Gives the run's server a password of its own (stored as md5: see `server::cheap_auth`),
/// over its private socket: a password read from an earlier run, or another run's, opens
/// nothing here.
fn run_password(socket_dir: &Path, port: u16) -> Result<String, sqlx::Error> {
    use sqlx::Connection;
    let password = fixtures_core::secret::random_hex().map_err(sqlx::Error::Io)?;
    let options = sqlx::postgres::PgConnectOptions::new()
        .socket(socket_dir)
        .port(port)
        .username("postgres")
        .database("postgres");
    let sql = format!(
        "SET password_encryption = 'md5'; ALTER ROLE postgres PASSWORD '{password}'; \
         RESET password_encryption"
    );
    tokio::runtime::Handle::current().block_on(async {
        // The socket is there before the server accepts connections ("starting up").
        let until = Instant::now() + Duration::from_secs(30);
        let mut conn = loop {
            match sqlx::PgConnection::connect_with(&options).await {
                Ok(conn) => break conn,
                Err(_) if Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => return Err(e),
            }
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
        conn.close().await
    })?;
    Ok(password)
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The watchdog's cleanup: stop the dead run's server.
pub(crate) fn reap(watch: &watchdog::Watch) {
    let record = watch.dir.join("pg-local.server");
    if let Some(server) = fs::read_to_string(&record)
        .ok()
        .and_then(|t| LocalServer::from_record(&t))
    {
        server.stop();
    }
    let _ = fs::remove_file(&record);
    let _ = fs::remove_file(record.with_extension("lock"));
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
        assert_eq!(LocalServer::from_record(&s.to_record()), Some(s));
        assert_eq!(LocalServer::from_record("port=1\n"), None);
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

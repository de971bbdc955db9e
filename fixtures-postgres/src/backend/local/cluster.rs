//! A run's server: the cached `initdb`'d data directory copied to tmpfs, `postgres` started
//! on it with durability off, and given a password of its own.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fixtures_core::watchdog::{self, ProcessRef};

use super::machine::{Binaries, RunAs, command, data_root};
use super::record::LocalServer;
use crate::error::Error;

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

/// Who may connect to a run's server: whoever can reach its socket folder (private to this
/// user and the server's), and with the run's own password over the loopback address.
const PG_HBA: &str =
    "local all all trust\nhost all all 127.0.0.1/32 md5\nhost all all ::1/128 md5\n";

pub(super) fn start(max_connections: u32) -> Result<LocalServer, Error> {
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
    // md5 where the stored password is md5 (set at start, see `start::cheap_auth`), SCRAM
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
            watch(&bins, pid.pid, &socket_dir, port, &base)?;
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

/// Starts the server's watcher (see `idle.rs`): a shell loop in a process group of its own,
/// like the server, that stops the server once it has had no client for
/// `FIXTURES_PG_IDLE_STOP` and then removes its folder `base` — what ends it when the whole
/// run was killed at once.
fn watch(
    bins: &Binaries,
    pid: u32,
    socket_dir: &Path,
    port: u16,
    base: &Path,
) -> Result<(), Error> {
    let grace = crate::config::idle_stop()?;
    let psql = bins.bindir.join("psql");
    if grace == 0 || !psql.is_file() {
        return Ok(());
    }
    let script = format!(
        "{}watch \"$1\" \"$2\" \"$3\" \"$4\"; rm -rf \"$5\"",
        super::super::idle::WATCH
    );
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .arg("fixtures-pg-watch")
        .arg(pid.to_string())
        .arg(socket_dir)
        .arg(port.to_string())
        .arg(grace.to_string())
        .arg(base)
        .env("FIXTURES_PG_PSQL", &psql)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::LocalServer {
            step: "starting the server's watcher",
            detail: e.to_string(),
        })?;
    Ok(())
}

/// Gives the run's server a password of its own (stored as md5: see `start::cheap_auth`),
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

//! TEMPORARY: replaced by the fixtures_postgres::server fixture.
//!
//! A throwaway Postgres server for the cleaning tests and benchmark: started once per test
//! process from the local binaries (`initdb`, `postgres`; `FIXTURES_PG_BIN` or the newest
//! `/usr/lib/postgresql/*/bin`), data directory on tmpfs (`/dev/shm`), durability off, stopped
//! and removed at process exit by a `fixtures_core` finalizer. When run as root, the server
//! runs as the `postgres` user. Each [`scratch_database`] call creates a fresh database, so
//! tests stay independent under `cargo test` (threads) and `cargo nextest` (processes).
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use fixtures_core::finalizer::FinalizerHandle;
use sqlx::{Connection, Executor, PgConnection};

// TEMPORARY: replaced by the fixtures_postgres::server fixture.
struct Server {
    port: u16,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static STOP: Mutex<Option<FinalizerHandle>> = Mutex::new(None);
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty database on the scratch server: a superuser connection to it, and its URL.
// TEMPORARY: replaced by the fixtures_postgres::server fixture.
pub async fn scratch_database() -> (PgConnection, String) {
    let port = SERVER.get_or_init(start).port;
    let name = format!(
        "clean_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("connect to the scratch server");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .expect("create a scratch database");
    admin.close().await.ok();
    let url = format!("postgres://postgres@127.0.0.1:{port}/{name}");
    let conn = PgConnection::connect(&url)
        .await
        .expect("connect to the scratch database");
    (conn, url)
}

/// Stops the scratch server now rather than at exit (for a `main` of our own, such as the
/// benchmark's, where the exit hook may find the async runtime gone).
// TEMPORARY: replaced by the fixtures_postgres::server fixture.
pub fn stop_server() {
    if let Some(handle) = STOP.lock().unwrap_or_else(|e| e.into_inner()).take() {
        handle.run_now();
    }
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FIXTURES_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("no Postgres binaries: set FIXTURES_PG_BIN to a directory with initdb and postgres")
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program args...`, as the `postgres` user when we are root.
fn command(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start() -> Server {
    let bin = bin_dir();
    let dir = PathBuf::from(format!(
        "/dev/shm/fixtures-clean-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("create the data directory");
    if is_root() {
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("chown the data directory");
        assert!(status.success(), "chown {} failed", dir.display());
    }
    let data = dir.join("data");
    let out = command(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("pick a port")
        .port();
    let log = std::fs::File::create(dir.join("server.log")).expect("create the server log");
    let child = command(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&dir)
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
            "max_connections=200",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start postgres");
    let stop_dir = dir.clone();
    let handle =
        fixtures_core::finalizer::register("stop the scratch Postgres server", move || {
            stop(child, &stop_dir)
        });
    *STOP.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    wait_ready(port, &dir);
    Server { port }
}

fn wait_ready(port: u16, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) if dir.join("data/postmaster.pid").exists() => {
                // Accepting TCP is not yet accepting sessions; postmaster.pid's last line says.
                let pid_file =
                    std::fs::read_to_string(dir.join("data/postmaster.pid")).unwrap_or_default();
                if pid_file.lines().any(|l| l.trim() == "ready") {
                    return;
                }
            }
            _ => {}
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("the scratch server did not start within 30 s:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fast shutdown of the postmaster (its pid is the first line of postmaster.pid; `child` is
/// the postmaster or the `runuser` that waits for it), then the directory goes.
fn stop(mut child: Child, dir: &Path) {
    let pid_file = dir.join("data/postmaster.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string));
    if let Some(pid) = &pid {
        let _ = Command::new("kill").args(["-INT", pid]).status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if matches!(child.try_wait(), Ok(None)) {
        if let Some(pid) = &pid {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(dir);
}

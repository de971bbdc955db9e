//! Suite start: how long the first test of a run waits for the run's Postgres server, and for
//! its first database (the template built: migrations applied once), by backend:
//!
//! - a cold container (`FIXTURES_PG_BACKEND=docker`, a new run: a new container of the local
//!   image, no pull);
//! - the local backend (`FIXTURES_PG_BACKEND=local`): the cached `initdb`'d data directory
//!   copied to tmpfs and a server started on it;
//! - a container kept by an earlier run (`FIXTURES_REUSE=1`, what a developer's next run
//!   does): adopted, the template found;
//! - a second process of the same run (what every nextest process after the first does): the
//!   server adopted, the template found.
//!
//! `cargo bench --workspace --bench startup [-- --quick]`. Each start is a new process (a
//! new run); one start per backend before the measured ones is not counted.
#![allow(missing_docs)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench_suite::{Stats, parse_samples, sample_line};
use fixtures_postgres::{Databases, databases, pg_server};

databases!(mod app = Databases::new().migrator(&examples::MIGRATOR));

fn clean_env(cmd: &mut Command) -> &mut Command {
    for v in [
        "NEXTEST",
        "NEXTEST_RUN_ID",
        "NEXTEST_TEST_PHASE",
        "NEXTEST_TEST_NAME",
        "NEXTEST_EXECUTION_MODE",
        "FIXTURES_RUN_ID",
        "FIXTURES_RUN_OWNER",
    ] {
        cmd.env_remove(v);
    }
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit())
}

/// The first process of a run (role `start`) or a second one (role `join`): the server, then
/// the first database; a `start` runs a `join` before it exits.
async fn child(role: &str) -> Vec<String> {
    let backend = variant();
    let mut lines = Vec::new();
    let start = Instant::now();
    let server = pg_server::fixture()
        .lease_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    lines.push(sample_line(
        &format!("{backend} {role} server"),
        start.elapsed(),
    ));
    let start = Instant::now();
    let db = app::test_scope::db::fixture()
        .lease_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    lines.push(sample_line(
        &format!("{backend} {role} first database"),
        start.elapsed(),
    ));
    drop(db);
    if role == "start" && backend == "local" {
        lines.extend(connect_costs(&server).await);
    }
    if role == "start" {
        let out = clean_env(&mut Command::new(
            std::env::current_exe().expect("this binary"),
        ))
        .env("BENCH_ROLE", "join")
        .env("FIXTURES_RUN_ID", fixtures_core::run_id())
        .env(
            "FIXTURES_RUN_OWNER",
            fixtures_core::watchdog::run_owner().to_string(),
        )
        .output()
        .expect("run the second process");
        assert!(
            out.status.success(),
            "the second process failed: {:?}",
            out.status
        );
        lines.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned),
        );
    }
    drop(server);
    lines
}

/// Connecting to the local server over its private unix socket (what the framework does) and
/// over TCP on `127.0.0.1` (what a URL with a host gives a user): a new connection and one
/// query on it, closed, `CONNECTS` times each, alternating.
async fn connect_costs(server: &fixtures_postgres::PgServer) -> Vec<String> {
    use sqlx::{ConnectOptions, Connection};
    const CONNECTS: usize = 40;
    let socket = server.connect_options("postgres");
    let tcp: sqlx::postgres::PgConnectOptions =
        server.url("postgres").parse().expect("the server's URL");
    let mut lines = Vec::new();
    for _ in 0..CONNECTS {
        for (key, options) in [("socket", &socket), ("tcp", &tcp)] {
            let start = Instant::now();
            let mut conn = options.connect().await.expect("connect");
            sqlx::query("SELECT 1")
                .execute(&mut conn)
                .await
                .expect("SELECT 1");
            conn.close().await.expect("close");
            lines.push(sample_line(
                &format!("local connect {key}"),
                start.elapsed(),
            ));
        }
    }
    lines
}

/// What the samples are named after: the backend, or `reused` (Docker, `FIXTURES_REUSE=1`).
fn variant() -> String {
    if std::env::var_os("FIXTURES_REUSE").is_some() {
        "reused".into()
    } else {
        std::env::var("FIXTURES_PG_BACKEND").unwrap_or_default()
    }
}

/// The running containers kept for reuse.
fn kept_containers() -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            "label=org.fixtures.reuse=true",
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// One run: a new process with a new run identity; its whole life measured from here.
/// `backend` is `docker`, `local`, or `reused` (Docker with `FIXTURES_REUSE=1`).
fn one_run(backend: &str, run: usize) -> Vec<(String, Duration)> {
    let started = Instant::now();
    let mut cmd = Command::new(std::env::current_exe().expect("this binary"));
    if backend == "reused" {
        cmd.env("FIXTURES_REUSE", "1");
    } else {
        cmd.env_remove("FIXTURES_REUSE");
    }
    let out = clean_env(&mut cmd)
        .env("BENCH_ROLE", "start")
        .env(
            "FIXTURES_PG_BACKEND",
            if backend == "reused" {
                "docker"
            } else {
                backend
            },
        )
        .env(
            "FIXTURES_RUN_ID",
            format!("bench-start-{}-{backend}-{run}", std::process::id()),
        )
        .output()
        .expect("run the first process");
    let whole = started.elapsed();
    assert!(
        out.status.success(),
        "the {backend} start failed: {:?}",
        out.status
    );
    let mut samples = parse_samples(&String::from_utf8_lossy(&out.stdout));
    let inside = samples
        .iter()
        .find(|(k, _)| k == &format!("{backend} start inside"))
        .map(|(_, d)| *d);
    if let Some(inside) = inside {
        samples.push((
            format!("{backend} start exit"),
            whole.saturating_sub(inside),
        ));
    }
    samples
}

/// The engine's own floor for a container of the same image, in the same run: created,
/// started, its process (`true`) run and waited for, and removed, through the CLI.
fn engine_floor() -> Duration {
    let image = std::env::var("FIXTURES_POSTGRES_IMAGE")
        .unwrap_or_else(|_| "fixtures-local/postgres:15".into());
    let started = Instant::now();
    let ok = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "true", &image])
        .stdout(Stdio::null())
        .status()
        .expect("docker run")
        .success();
    assert!(ok, "docker run --entrypoint true {image}");
    started.elapsed()
}

fn cell(samples: &[(String, Duration)], key: &str) -> String {
    let v: Vec<Duration> = samples
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, d)| *d)
        .collect();
    Stats::of(&v).map_or_else(|| "—".into(), |s| s.show())
}

fn local_cache_exists() -> bool {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    let root = std::env::var_os("FIXTURES_PG_DATA_ROOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| format!("/dev/shm/fixtures-pg-{uid}").into());
    std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("cache-") && e.path().is_dir())
        })
        .unwrap_or(false)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let entered = Instant::now();
    if let Ok(role) = std::env::var("BENCH_ROLE") {
        let backend = std::env::var("FIXTURES_PG_BACKEND").unwrap_or_default();
        let mut lines = child(&role).await;
        if role == "start" {
            lines.push(sample_line(
                &format!("{backend} start inside"),
                entered.elapsed(),
            ));
        }
        println!("{}", lines.join("\n"));
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 1 } else { 5 };
    let cache_before = local_cache_exists();
    let mut samples = Vec::new();
    let kept_before = kept_containers();
    for backend in ["docker", "local", "reused"] {
        // Not counted; for `reused`, it leaves the container the measured runs adopt.
        one_run(backend, 0);
        for run in 1..=runs {
            samples.extend(one_run(backend, run));
            if backend == "docker" {
                samples.push(("engine floor".into(), engine_floor()));
            }
        }
    }
    for id in kept_containers() {
        if !kept_before.contains(&id) {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", &id])
                .stdout(Stdio::null())
                .status();
        }
    }

    println!(
        "\n## Suite start (medians, p10–p90, over {runs} runs per backend, each a new process and \
         a new run)\n"
    );
    println!(
        "| backend | first process: server ready | its first database (template built) | its exit (server removed) | second process of the run: server adopted | its first database (template found) |"
    );
    println!("|---|---|---|---|---|---|");
    for (backend, label) in [
        (
            "docker",
            "cold container (`fixtures-local/postgres:15` with its data directory made once, unpacked to tmpfs; no pull)",
        ),
        (
            "local",
            "local binaries, cached data directory copied to tmpfs",
        ),
        (
            "reused",
            "container kept by an earlier run (`FIXTURES_REUSE=1`): adopted, template found, kept at exit",
        ),
    ] {
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            cell(&samples, &format!("{backend} start server")),
            cell(&samples, &format!("{backend} start first database")),
            cell(&samples, &format!("{backend} start exit")),
            cell(&samples, &format!("{backend} join server")),
            cell(&samples, &format!("{backend} join first database")),
        );
    }
    println!(
        "| the engine's floor, same image, same run: `docker run --rm --entrypoint true` \
         (create, start, exit, remove; CLI) | {} | | | | |",
        cell(&samples, "engine floor")
    );
    println!(
        "\nserver ready: the first lease of `pg_server` (container created and started, its data \
         directory unpacked and `postgres` started — or, local, the data directory copied and \
         `postgres` started — until `SELECT 1` answers). exit: from the \
         process's last line to its end (the run's server stopped and removed, plus process \
         exit). The local data-directory cache {} before this bench (a first run makes it with \
         `initdb`).\n",
        if cache_before {
            "existed"
        } else {
            "did not exist"
        }
    );
    println!(
        "| a new connection to the local server and `SELECT 1` on it (medians, p10–p90, {} per \
         kind over the measured runs) | time |\n|---|---|\n| its private unix socket (what the \
         framework uses) | {} |\n| TCP on `127.0.0.1` (what a URL with a host gives) | {} |\n",
        samples
            .iter()
            .filter(|(k, _)| k == "local connect tcp")
            .count(),
        cell(&samples, "local connect socket"),
        cell(&samples, "local connect tcp"),
    );
    let mut keys: Vec<&String> = samples.iter().map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let v: Vec<Duration> = samples
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, d)| *d)
            .collect();
        if let Some(s) = Stats::of(&v) {
            println!(
                "@median startup {key} {:.3}",
                s.median.as_secs_f64() * 1000.0
            );
        }
    }
}

//! Runs in other PID namespaces share a server with this one, as CI jobs in containers share
//! a database service: a run's start-up sweep must not take another namespace's live run for
//! dead (its pids mean nothing here), and must remove what a killed one left.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_postgres::{PgServer, TestDb, pg_server};
use rstest::rstest;

use crate::children::{own_run, own_run_under, run, text};

/// Another PID namespace, as a CI job's container has (its processes die with `unshare`).
const UNSHARE: [&str; 5] = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"];

/// Holds a module-scope and a test-scope database until `HOLD_UNTIL_FILE` exists, then checks
/// both still answer (run as a child: a run of its own, in a PID namespace of its own).
#[rstest]
#[ignore = "run by namespaces::a_live_run_of_another_pid_namespace_is_spared_a_dead_one_swept"]
#[tokio::test]
async fn holds_databases(
    #[from(crate::pg::module_scope::db)] shared: Lease<TestDb>,
    #[from(crate::pg::test_scope::db)] fresh: Lease<TestDb>,
) {
    println!("HOLDING {} {}", shared.name(), fresh.name());
    let until = std::path::PathBuf::from(std::env::var("HOLD_UNTIL_FILE").unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    while !until.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for db in [&shared, &fresh] {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
            .fetch_one(&db.pool())
            .await
            .unwrap_or_else(|e| panic!("{} is gone under its test: {e}", db.name()));
        assert_eq!(n, 1, "{}", db.name());
    }
}

/// Starts a run of its own (its start-up sweep runs) and stays 3 s, so that its second look at
/// runs of other namespaces happens (run as a child).
#[rstest]
#[ignore = "run by namespaces::a_live_run_of_another_pid_namespace_is_spared_a_dead_one_swept"]
#[tokio::test]
async fn sweeps_and_lingers(#[from(crate::pg::test_scope::db)] db: Lease<TestDb>) {
    sqlx::query("SELECT 1").execute(&db.pool()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// Starts the holder in a PID namespace of its own; returns it and its databases' names.
fn start_holder(url: &str, until: &std::path::Path) -> (Child, Vec<String>) {
    let mut holder = own_run_under(
        &UNSHARE,
        &[
            "--ignored",
            "--exact",
            "namespaces::holds_databases",
            "--nocapture",
        ],
    )
    .env("FIXTURES_PG_URL", url)
    .env("HOLD_UNTIL_FILE", until)
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let names = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.strip_prefix("HOLDING ") {
                    break rest.split(' ').map(str::to_owned).collect::<Vec<_>>();
                }
            }
            _ => {
                let _ = holder.kill();
                panic!("the holder ended before holding its databases");
            }
        }
    };
    // Keep its stdout drained.
    std::thread::spawn(move || lines.for_each(drop));
    (holder, names)
}

async fn existing(pg_server: &PgServer, names: &[String]) -> Vec<String> {
    let mut admin = pg_server.admin().await.unwrap();
    sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname = ANY ($1) ORDER BY 1")
        .bind(names)
        .fetch_all(&mut admin)
        .await
        .unwrap()
}

#[rstest]
#[tokio::test]
async fn a_live_run_of_another_pid_namespace_is_spared_a_dead_one_swept(
    pg_server: Lease<PgServer>,
) {
    // This process's server is the other runs' external server.
    let url = pg_server.url("postgres");
    let until = std::env::temp_dir().join(format!("fixtures-ns-hold-{}", std::process::id()));
    let _ = std::fs::remove_file(&until);
    let sweep = || {
        let out = run(
            own_run(&["--ignored", "--exact", "namespaces::sweeps_and_lingers"])
                .env("FIXTURES_PG_URL", &url),
            Duration::from_secs(120),
        );
        assert!(out.status.success(), "{}", text(&out));
    };

    // A live run of another namespace: a sweep from here spares its databases.
    let (mut holder, names) = start_holder(&url, &until);
    sweep();
    assert_eq!(
        existing(&pg_server, &names).await.len(),
        2,
        "{names:?} swept under their tests"
    );
    std::fs::write(&until, b"done").unwrap();
    let status = holder.wait().unwrap();
    assert!(status.success(), "the holder's tests failed: {status:?}");

    // A run of another namespace killed whole: the next sweep removes what it left.
    let _ = std::fs::remove_file(&until);
    let (mut holder, names) = start_holder(&url, &until);
    let killed = Command::new("kill")
        .args(["-KILL", &holder.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = holder.wait();
    // The namespace's processes die with its first one: the keeper connection goes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        sweep();
        if existing(&pg_server, &names).await.is_empty() || Instant::now() > deadline {
            break;
        }
    }
    assert_eq!(
        existing(&pg_server, &names).await,
        Vec::<String>::new(),
        "left by a killed run"
    );
}

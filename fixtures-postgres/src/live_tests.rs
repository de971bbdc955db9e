//! Checks against a real server that need the crate's internals.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use sqlx::Connection;

use crate::{Databases, Error, PgServer, SharedDb, pg_server};

fn plain() -> &'static Databases {
    static D: std::sync::OnceLock<Databases> = std::sync::OnceLock::new();
    D.get_or_init(Databases::new)
}

#[fixture(scope = module)]
async fn collides(pg_server: Lease<PgServer>, setup: &Setup) -> Result<SharedDb, Error> {
    plain().shared(&pg_server, setup).await
}

async fn count_rows(server: &PgServer, db: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect_with(&server.connect_options(db))
        .await
        .unwrap();
    sqlx::query_scalar("SELECT count(*) FROM precious")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unmarked_database_is_refused_and_keeps_its_data() {
    let server = pg_server::fixture().lease_async().await.unwrap();
    let template = plain().template(&server).await.unwrap();
    // A database that happens to have the name the framework wants, made by someone else.
    let name = crate::shared::shared_name("live_tests", &template);
    let mut admin = server.admin().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut theirs = sqlx::PgConnection::connect_with(&server.connect_options(&name))
        .await
        .unwrap();
    sqlx::raw_sql("CREATE TABLE precious (v int); INSERT INTO precious VALUES (1), (2)")
        .execute(&mut theirs)
        .await
        .unwrap();
    theirs.close().await.unwrap();

    let err = collides::fixture()
        .lease_async()
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains(&format!("refusing to use database `{name}`")),
        "{err}"
    );
    assert!(err.contains("does not carry the fixtures mark"), "{err}");
    assert_eq!(count_rows(&server, &name).await, 2, "their data is intact");

    // Dropping and cleaning check the mark too.
    let err = crate::mark::drop_ours(&mut admin, &name)
        .await
        .expect_err("refused");
    assert!(
        matches!(err, Error::NotOurs { action: "drop", .. }),
        "{err}"
    );
    let err = crate::mark::ensure_ours(&mut admin, &name, "clean")
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            Error::NotOurs {
                action: "clean",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(count_rows(&server, &name).await, 2, "their data is intact");

    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

/// Holds the local backend's server until killed (run as a child).
#[test]
#[ignore = "run by live_tests::a_killed_runs_local_server_is_stopped_and_removed"]
fn hold_a_local_server() {
    let server = pg_server();
    assert_eq!(server.backend(), crate::Backend::Local);
    let record = fixtures_core::watchdog::run_note("pg-local-server");
    let text = std::fs::read_to_string(record).unwrap();
    println!("RECORD {}", text.replace('\n', " "));
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn a_killed_runs_local_server_is_stopped_and_removed() {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    for v in [
        "NEXTEST",
        "NEXTEST_RUN_ID",
        "NEXTEST_TEST_PHASE",
        "NEXTEST_TEST_NAME",
        "FIXTURES_RUN_ID",
        "FIXTURES_RUN_OWNER",
    ] {
        cmd.env_remove(v);
    }
    let mut child = cmd
        .args([
            "--ignored",
            "--exact",
            "live_tests::hold_a_local_server",
            "--nocapture",
        ])
        .env("FIXTURES_PG_BACKEND", "local")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let record = lines
        .find_map(|l| l.ok()?.strip_prefix("RECORD ").map(str::to_owned))
        .expect("the child reports its server");
    let field = |k: &str| {
        record
            .split(' ')
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .unwrap()
            .to_owned()
    };
    let pid = fixtures_core::watchdog::ProcessRef::parse(&field("pid")).unwrap();
    let base = std::path::PathBuf::from(field("base"));
    assert!(pid.is_alive() && base.exists());

    child.kill().unwrap(); // SIGKILL: no exit hook runs
    child.wait().unwrap();
    let killed = Instant::now();
    while (pid.is_alive() || base.exists()) && killed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !pid.is_alive(),
        "the server outlived its killed run by 10 s"
    );
    assert!(!base.exists(), "{} is left", base.display());
    eprintln!(
        "local server and folder gone {:?} after the kill",
        killed.elapsed()
    );
}

//! The connection budget: tests that hold some connections and wait for more, in one process
//! and in two nextest-style runs of many processes, on servers with few connections.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_postgres::{PgServer, TestDb, pg_server};
use rstest::rstest;

use crate::children::{own_run, run, text};

/// One of 16 tests run in parallel by `sixteen_parallel_tests_on_a_small_server` in a child
/// whose server allows few connections, and by `two_nextest_runs_share_a_small_server`. Each
/// takes 3 connections one after the other and holds them, the last one of its own: without a
/// connection budget, tests that hold some and wait for more fill the server, and a
/// connection of the test's own is refused ("too many clients").
async fn busy(db: &TestDb) {
    let step = std::env::var("FIXTURES_TEST_BUSY_STEP_MS").map_or(100, |v| v.parse().unwrap());
    let step = Duration::from_millis(step);
    let pool = db.pool();
    let mut held = Vec::new();
    for _ in 0..2 {
        let conn = tokio::time::timeout(Duration::from_secs(20), pool.acquire())
            .await
            .expect("no pool timeout: waited 20 s for a connection")
            .expect("no pool timeout");
        held.push(conn);
        tokio::time::sleep(step).await;
    }
    // And one of its own, as an app's code opens one (no retry: a full server fails it).
    let mut own = db.connect().await.expect("a connection of the test's own");
    tokio::time::sleep(step).await;
    for conn in &mut held {
        sqlx::query("SELECT 1").execute(&mut **conn).await.unwrap();
    }
    sqlx::query("SELECT 1").execute(&mut own).await.unwrap();
}

macro_rules! busy_tests {
    ($($name:ident)*) => {
        pub mod busy_tests {
            use super::*;
            $(
                #[rstest]
                #[ignore = "run by the tests of this module"]
                #[tokio::test]
                async fn $name(#[from(crate::pg::test_scope::db)] db: Lease<TestDb>) {
                    busy(&db).await;
                }
            )*
        }
    };
}
busy_tests!(t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16);

/// Four busy tests on a shared database (module scope), for the nextest-style runs.
pub mod busy_shared {
    use super::*;
    use crate::pg::module_scope::db;

    #[rstest]
    #[ignore = "run by budget::two_nextest_runs_share_a_small_server"]
    #[tokio::test]
    async fn m1(db: Lease<TestDb>) {
        busy(&db).await;
    }

    #[rstest]
    #[ignore = "run by budget::two_nextest_runs_share_a_small_server"]
    #[tokio::test]
    async fn m2(db: Lease<TestDb>) {
        busy(&db).await;
    }

    #[rstest]
    #[ignore = "run by budget::two_nextest_runs_share_a_small_server"]
    #[tokio::test]
    async fn m3(db: Lease<TestDb>) {
        busy(&db).await;
    }

    #[rstest]
    #[ignore = "run by budget::two_nextest_runs_share_a_small_server"]
    #[tokio::test]
    async fn m4(db: Lease<TestDb>) {
        busy(&db).await;
    }
}

#[test]
fn sixteen_parallel_tests_on_a_small_server() {
    // A run of its own (its own server), with max_connections = 24 for 16 tests that want 3
    // connections each.
    let mut cmd = own_run(&["--ignored", "--test-threads=16", "busy_tests::"]);
    cmd.env("FIXTURES_PG_MAX_CONNECTIONS", "24");
    let out = run(&mut cmd, Duration::from_secs(240));
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("16 passed"), "{all}");
    assert!(
        !all.contains("PoolTimedOut") && !all.contains("pool timed out"),
        "{all}"
    );
    // Nor a teardown waiting for connections its own test still held.
    assert!(!all.contains("timed out after"), "{all}");
}

/// Holds a server of its own (`max_connections` from the parent) for
/// `two_nextest_runs_share_a_small_server`: writes its URL to `FIXTURES_TEST_HOLD_URL_FILE`
/// and waits for the same name with `.done`.
#[rstest]
#[ignore = "run by budget::two_nextest_runs_share_a_small_server"]
#[tokio::test]
async fn hold_a_small_server(pg_server: Lease<PgServer>) {
    let file = std::env::var("FIXTURES_TEST_HOLD_URL_FILE").unwrap();
    let part = format!("{file}.part");
    std::fs::write(&part, pg_server.url("postgres")).unwrap();
    std::fs::rename(&part, &file).unwrap();
    let done = format!("{file}.done");
    let start = Instant::now();
    while !Path::new(&done).exists() && start.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A nextest-style run `run` of the busy tests: one process per test, `jobs` at a time, on
/// the server at `url`, with `owner` as its runner; each process's output.
fn nextest_like_run(run: &str, owner: &str, url: &str, jobs: usize) -> Vec<Output> {
    let mut names: Vec<String> = (1..=12)
        .map(|i| format!("budget::busy_tests::t{i:02}"))
        .collect();
    names.extend((1..=4).map(|i| format!("budget::busy_shared::m{i}")));
    let queue = std::sync::Mutex::new(names);
    let outputs = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    // (Not in a `while let`: its guard would be held through the loop's body.)
                    let next = queue.lock().unwrap().pop();
                    let Some(name) = next else { break };
                    let mut cmd = Command::new(std::env::current_exe().unwrap());
                    for v in [
                        "FIXTURES_RUN_OWNER",
                        "FIXTURES_PG_BACKEND",
                        "NEXTEST_TEST_PHASE",
                    ] {
                        cmd.env_remove(v);
                    }
                    cmd.args(["--ignored", "--exact", &name])
                        .env("NEXTEST", "1")
                        .env("NEXTEST_RUN_ID", run)
                        .env("NEXTEST_TEST_NAME", &name)
                        .env("FIXTURES_RUN_ID", run)
                        .env("FIXTURES_RUN_OWNER", owner)
                        .env("FIXTURES_PG_URL", url)
                        .env("FIXTURES_TEST_BUSY_STEP_MS", "500")
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped());
                    let out = crate::children::run(&mut cmd, Duration::from_secs(240));
                    outputs.lock().unwrap().push(out);
                }
            });
        }
    });
    outputs.into_inner().unwrap()
}

#[test]
fn two_nextest_runs_share_a_small_server() {
    // A server with max_connections = 40, held by a run that takes no budget itself.
    let pid = std::process::id();
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("small-server-{pid}.url"));
    let done = format!("{}.done", file.display());
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&done);
    let mut holder = own_run(&["--ignored", "--exact", "budget::hold_a_small_server"]);
    holder
        .env("FIXTURES_PG_MAX_CONNECTIONS", "40")
        .env("FIXTURES_PG_BUDGET", "off")
        .env("FIXTURES_TEST_HOLD_URL_FILE", &file);
    let mut holder = holder.spawn().unwrap();
    let start = Instant::now();
    while !file.exists() {
        if holder.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(120) {
            let _ = holder.kill();
            panic!(
                "the holder did not start its server: {}",
                text(&holder.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = std::fs::read_to_string(&file).unwrap();

    // Two runs of 16 processes, 8 at a time each, at once; each with a runner of its own
    // (nextest's runner process: the run is over when it has exited).
    let mut runners: Vec<std::process::Child> = (0..2)
        .map(|_| Command::new("sleep").arg("600").spawn().unwrap())
        .collect();
    let owners: Vec<String> = runners
        .iter()
        .map(|r| {
            fixtures_core::watchdog::ProcessRef::of(r.id())
                .unwrap()
                .to_string()
        })
        .collect();
    let runs = [format!("budget-a-{pid}"), format!("budget-b-{pid}")];
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (a, b) = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
                let mut peak = 0i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").fetch_one(&mut c).await.unwrap();
                    peak = peak.max(n);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                eprintln!("PEAK={peak}");
            });
        });
        let a = s.spawn(|| nextest_like_run(&runs[0], &owners[0], &url, 8));
        let b = s.spawn(|| nextest_like_run(&runs[1], &owners[1], &url, 8));
        let r = (a.join().unwrap(), b.join().unwrap());
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The runs' databases on the server (test, shared, warm, templates), by their marks.
    let runs_left = || -> i64 {
        rt.block_on(async {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            sqlx::query_scalar(
                "SELECT count(*) FROM pg_database \
                 WHERE shobj_description(oid, 'pg_database') ~ ('run=budget-[ab]-' || $1 || '( |$)')",
            )
            .bind(pid.to_string())
            .fetch_one(&mut c)
            .await
            .unwrap()
        })
    };
    let during = runs_left();
    // The runners exit: the runs are over, and their watchdogs sweep what they left (under
    // nextest no code of ours runs at a run's end).
    for r in &mut runners {
        let _ = r.kill();
        let _ = r.wait();
    }
    let start = Instant::now();
    let mut after = runs_left();
    while after > 0 && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
        after = runs_left();
    }
    std::fs::write(&done, "done").unwrap();
    let held = run_to_end(holder);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&done);

    let all: Vec<String> = a.iter().chain(&b).map(text).collect();
    let failed: Vec<&String> = all.iter().filter(|t| !t.contains("1 passed")).collect();
    assert!(
        failed.is_empty(),
        "{} of 32 failed; first:\n{}",
        failed.len(),
        failed[0]
    );
    for t in &all {
        assert!(
            !t.contains("too many clients") && !t.contains("PoolTimedOut"),
            "{t}"
        );
    }
    assert!(during > 0, "the runs made databases (templates, shared)");
    assert_eq!(
        after, 0,
        "the runs' databases are left on the server 15 s after the runs"
    );
    assert!(held.status.success(), "{}", text(&held));
}

fn run_to_end(child: std::process::Child) -> Output {
    let start = Instant::now();
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

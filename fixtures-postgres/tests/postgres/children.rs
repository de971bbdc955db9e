//! Checks that run this binary again as child processes: template reuse across processes of a
//! run, keep-on-failure, external servers.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_postgres::{Databases, PgServer, TestDb, pg_server};
use rstest::rstest;

/// This binary as a child that joins this process's run (same run id and owner: same server).
pub(crate) fn child(args: &[&str]) -> Command {
    let mut cmd = own_run(args);
    cmd.env("FIXTURES_RUN_ID", fixtures_core::run_id()).env(
        "FIXTURES_RUN_OWNER",
        fixtures_core::watchdog::run_owner().to_string(),
    );
    cmd
}

pub(crate) fn run(cmd: &mut Command, deadline: Duration) -> Output {
    let mut c = cmd.spawn().unwrap();
    let start = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if start.elapsed() > deadline {
            let _ = c.kill();
            let out = c.wait_with_output().unwrap();
            panic!("child did not finish within {deadline:?}:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    c.wait_with_output().unwrap()
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn origin(db: &TestDb) -> i32 {
    sqlx::query_scalar("SELECT built_by FROM template_origin")
        .fetch_one(&db.pool())
        .await
        .unwrap()
}

/// Prints the backend pid that migrated this clone's template (run as a child).
#[rstest]
#[ignore = "run by children::a_second_process_reuses_the_template"]
#[tokio::test]
async fn report_template_origin(#[from(crate::pg::test_scope::db)] db: Lease<TestDb>) {
    println!("TEMPLATE-ORIGIN={}", origin(&db).await);
}

/// Prints the version of the server the run got (run by `cargo xtask test` against each
/// server version, to check that the suite ran on the one it asked for).
#[rstest]
#[ignore = "run by cargo xtask test against each server version"]
#[tokio::test]
async fn report_server_version(pg_server: Lease<PgServer>) {
    println!("SERVER-VERSION={}", pg_server.version());
}

/// Prints the URL of this run's server, password included (run as a child by
/// `security::a_password_seen_once_opens_no_later_runs_server`).
#[rstest]
#[ignore = "run by security::a_password_seen_once_opens_no_later_runs_server"]
#[tokio::test]
async fn report_server_url(pg_server: Lease<PgServer>) {
    println!("SERVER-URL={}", pg_server.url("postgres"));
}

#[rstest]
#[tokio::test]
async fn a_second_process_reuses_the_template(
    #[from(crate::pg::test_scope::db)] db: Lease<TestDb>,
    pg_server: Lease<PgServer>,
) {
    let mine = origin(&db).await;
    let out = run(
        &mut child(&[
            "--ignored",
            "--exact",
            "children::report_template_origin",
            "--nocapture",
        ]),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}", text(&out));
    let theirs = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("TEMPLATE-ORIGIN=").map(str::to_owned))
        .expect("the child reports");
    assert_eq!(
        theirs,
        mine.to_string(),
        "the second process migrated again"
    );

    // Changed migrations: another template, migrated anew.
    let mut admin = pg_server.admin().await.unwrap();
    let templates: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'fxt\\_%' ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let v2 = v2_db::fixture().lease_async().await.unwrap();
    let v2_tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'tags'")
            .fetch_one(&v2.pool())
            .await
            .unwrap();
    assert_eq!(v2_tables, 1);
    let after: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'fxt\\_%' ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        after.len(),
        templates.len() + 1,
        "changed migrations make a new template: {templates:?} → {after:?}"
    );
}

#[fixture(scope = test)]
async fn v2_db(
    pg_server: Lease<PgServer>,
    setup: &Setup,
) -> Result<TestDb, fixtures_postgres::Error> {
    Databases::new()
        .migrations_dir("tests/data/migrations_v2")
        .fresh(&pg_server, setup)
        .await
}

/// Fails on purpose (run as a child with FIXTURES_PG_KEEP_FAILED=1).
#[rstest]
#[ignore = "run by children::a_failed_tests_database_is_kept_and_expires"]
#[tokio::test]
async fn fails_with_data(#[from(crate::pg::test_scope::db)] db: Lease<TestDb>) {
    sqlx::query("INSERT INTO notes (owner, body) VALUES ('kept', 'evidence')")
        .execute(&db.pool())
        .await
        .unwrap();
    println!("KEPT-DB={}", db.name());
    panic!("failing on purpose so that the database is kept");
}

#[rstest]
#[tokio::test]
async fn a_failed_tests_database_is_kept_and_expires(pg_server: Lease<PgServer>) {
    let out = run(
        child(&[
            "--ignored",
            "--exact",
            "children::fails_with_data",
            "--nocapture",
        ])
        .env("FIXTURES_PG_KEEP_FAILED", "1")
        .env("FIXTURES_PG_KEEP_TTL", "2s"),
        Duration::from_secs(120),
    );
    assert!(!out.status.success(), "{}", text(&out));
    let all = text(&out);
    let name = all
        .lines()
        .find_map(|l| l.strip_prefix("KEPT-DB=").map(str::to_owned))
        .expect("the child names its database");
    assert!(
        all.contains("kept the database of failed test `children::fails_with_data`"),
        "{all}"
    );
    assert!(all.contains("psql 'postgres://"), "{all}");
    let mut admin = pg_server.admin().await.unwrap();
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert_eq!(
        kept,
        vec![name.clone()],
        "the failed test's database is kept"
    );

    // A later run on the server sweeps it once it has expired.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let out = run(
        own_run(&["--ignored", "--exact", "children::report_template_origin"])
            .env("FIXTURES_PG_URL", pg_server.url("postgres")),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}", text(&out));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "the expired kept database was swept");
}

#[rstest]
#[tokio::test]
async fn an_external_server_only_gets_databases_of_our_own(pg_server: Lease<PgServer>) {
    // Someone's own database on the server the URL points at.
    let mut admin = pg_server.admin().await.unwrap();
    let theirs = format!("their_data_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {theirs}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut c =
        <sqlx::PgConnection as sqlx::Connection>::connect_with(&pg_server.connect_options(&theirs))
            .await
            .unwrap();
    sqlx::raw_sql("CREATE TABLE ledger (v int); INSERT INTO ledger VALUES (42)")
        .execute(&mut c)
        .await
        .unwrap();

    // A run of its own, told to use that server as an external one.
    let run = format!("ext{}", std::process::id());
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    for v in [
        "NEXTEST",
        "NEXTEST_RUN_ID",
        "NEXTEST_TEST_PHASE",
        "NEXTEST_TEST_NAME",
        "FIXTURES_RUN_OWNER",
        "FIXTURES_PG_BACKEND",
    ] {
        cmd.env_remove(v);
    }
    cmd.args(["isolation::"])
        .env("FIXTURES_RUN_ID", &run)
        .env("FIXTURES_PG_URL", pg_server.url("postgres"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = run_cmd(&mut cmd);
    assert!(out.status.success(), "{}", text(&out));

    let ledger: i32 = sqlx::query_scalar("SELECT v FROM ledger")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(ledger, 42, "their database is untouched");
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE '%run=' || $1 || ' %' \
         AND shobj_description(oid, 'pg_database') NOT LIKE '%kind=warm%' \
         AND shobj_description(oid, 'pg_database') NOT LIKE '%kind=template%'",
    )
    .bind(&run)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    // Templates and warm clones stay on purpose: the next run reuses them instead of migrating.
    assert!(
        left.is_empty(),
        "the external run left its databases: {left:?}"
    );
    drop(c);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {theirs} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

/// Prints what this run found on its server (run as a child, by
/// `reuse_keeps_the_server_for_the_next_run`): the server's address and start time, the
/// backend that migrated the template, this test's database, and how many databases are left
/// of the names given in `REUSE_PROBE_GONE`.
#[rstest]
#[ignore = "run by children::reuse_keeps_the_server_for_the_next_run"]
#[tokio::test]
async fn report_reused_server(
    #[from(crate::pg::test_scope::db)] db: Lease<TestDb>,
    pg_server: Lease<PgServer>,
) {
    let mut admin = pg_server.admin().await.unwrap();
    let started: String = sqlx::query_scalar("SELECT pg_postmaster_start_time()::text")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let gone = std::env::var("REUSE_PROBE_GONE").unwrap_or_default();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&gone)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    println!(
        "REUSE-PROBE host={} started={started} origin={} db={} left={left}",
        pg_server.host(),
        origin(&db).await,
        db.name()
    );
}

/// Removes a container and a folder when the test ends, passed or failed.
struct Cleanup {
    container: Option<String>,
    dir: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(id) = &self.container {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// This binary as a child that is a run of its own (its own run id, itself the owner).
pub(crate) fn own_run(args: &[&str]) -> Command {
    own_run_under(&[], args)
}

/// [`own_run`] started by `wrapper` (e.g. `unshare --pid --fork --mount-proc`).
pub(crate) fn own_run_under(wrapper: &[&str], args: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    for v in [
        "NEXTEST",
        "NEXTEST_TEST_PHASE",
        "NEXTEST_TEST_NAME",
        "NEXTEST_EXECUTION_MODE",
        "NEXTEST_RUN_ID",
        "FIXTURES_RUN_ID",
        "FIXTURES_RUN_OWNER",
    ] {
        cmd.env_remove(v);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The `report_reused_server` child's report, as `key → value`.
fn reuse_probe(state: &std::path::Path, gone: &str) -> std::collections::HashMap<String, String> {
    // A run of its own each time, on a Docker server kept for the next run; a state folder of
    // its own (its own password, so its own container).
    let mut cmd = own_run(&[
        "--ignored",
        "--exact",
        "children::report_reused_server",
        "--nocapture",
    ]);
    cmd.env_remove("FIXTURES_PG_URL")
        .env("FIXTURES_PG_BACKEND", "docker")
        .env("FIXTURES_REUSE", "1")
        .env("FIXTURES_STATE_DIR", state)
        .env("REUSE_PROBE_GONE", gone);
    let out = run(&mut cmd, Duration::from_secs(180));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("REUSE-PROBE "))
        .unwrap_or_else(|| panic!("the child reports:\n{}", text(&out)));
    line.split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The ids of running containers of ours kept for reuse whose address is `host`.
fn reused_at(host: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            "label=org.fixtures.reuse=true",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|id| {
            let ip = Command::new("docker")
                .args([
                    "inspect",
                    "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                    id,
                ])
                .output()
                .unwrap();
            String::from_utf8_lossy(&ip.stdout)
                .split_whitespace()
                .any(|a| a == host)
        })
        .map(str::to_owned)
        .collect()
}

/// `FIXTURES_REUSE=1`: the Docker backend's server outlives a run and the next run adopts it
/// (same server, template not migrated again), while the databases the first run made are
/// gone.
#[test]
fn reuse_keeps_the_server_for_the_next_run() {
    let state = std::env::temp_dir().join(format!("fx-reuse-test-{}", std::process::id()));
    let mut cleanup = Cleanup {
        container: None,
        dir: state.clone(),
    };
    let first = reuse_probe(&state, "");
    let kept = reused_at(&first["host"]);
    assert_eq!(
        kept.len(),
        1,
        "one container kept for reuse at {}: {kept:?}",
        first["host"]
    );
    cleanup.container = Some(kept[0].clone());

    let second = reuse_probe(&state, &first["db"]);
    assert_eq!(
        second["started"], first["started"],
        "the server was not adopted"
    );
    assert_eq!(
        second["origin"], first["origin"],
        "the template was migrated again"
    );
    assert_eq!(second["left"], "0", "the first run's database is left");
    assert_ne!(second["db"], first["db"]);
    assert_eq!(
        reused_at(&second["host"]),
        kept,
        "the container is kept again"
    );
}

/// Four modules on module scope, run one after the other by a child that is a run of its own
/// (on this run's server, as an external one): each test prints its database.
mod park_probe {
    macro_rules! probe {
        ($m:ident, $body:ident) => {
            pub mod $m {
                use fixtures_core::prelude::*;
                use fixtures_postgres::TestDb;
                use rstest::rstest;

                use crate::pg::module_scope::db;

                #[rstest]
                #[ignore = "run by children::an_ended_modules_database_is_taken_over_by_the_next"]
                #[tokio::test]
                async fn t(db: Lease<TestDb>) {
                    println!("PARK-PROBE {} {}", stringify!($m), db.name());
                    crate::isolation::write_and_check_alone(&db).await;
                    super::$body(db.pool()).await;
                }
            }
        };
    }

    async fn nothing(_: sqlx::PgPool) {}

    async fn ddl(pool: sqlx::PgPool) {
        sqlx::query("CREATE TABLE made_by_a_test (id int)")
            .execute(&pool)
            .await
            .unwrap();
    }

    probe!(m1, nothing);
    probe!(m2, nothing);
    probe!(m3_ddl, ddl);
    probe!(m4, nothing);
}

/// In a run's owner process, a module's lanes outlive it: the next module of the same template
/// starts on them (cleaned), unless DDL ran there; the process drops them at exit.
#[rstest]
#[tokio::test]
async fn an_ended_modules_database_is_taken_over_by_the_next(pg_server: Lease<PgServer>) {
    let mut cmd = own_run(&[
        "--ignored",
        "--test-threads=1",
        "--nocapture",
        "children::park_probe::",
    ]);
    cmd.env("FIXTURES_PG_URL", pg_server.url("postgres"));
    let out = run_cmd(&mut cmd);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let seen: std::collections::HashMap<&str, &str> = stdout
        .lines()
        .filter_map(|l| Some(&l[l.find("PARK-PROBE ")? + "PARK-PROBE ".len()..]))
        .filter_map(|l| l.split_once(' '))
        .collect();
    assert_eq!(seen.len(), 4, "{}", text(&out));
    assert_eq!(
        seen["m2"], seen["m1"],
        "the second module did not take the first one's database"
    );
    assert_eq!(seen["m3_ddl"], seen["m1"]);
    assert_ne!(
        seen["m4"], seen["m3_ddl"],
        "a database where a test ran DDL was handed on"
    );
    let mut admin = pg_server.admin().await.unwrap();
    for name in seen.values() {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(left, 0, "{name} outlived the run that made it");
    }
}

fn run_cmd(cmd: &mut Command) -> Output {
    run(cmd, Duration::from_secs(180))
}

/// Two tests of one module holding their module-scoped database at the same time: they
/// report its name and whether they held it together (each waits up to 3 s for the other).
mod lanes_probe {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use fixtures_core::prelude::*;
    use fixtures_postgres::TestDb;
    use rstest::rstest;

    use crate::pg::module_scope::db;

    static HOLDING: AtomicUsize = AtomicUsize::new(0);
    static SEEN: AtomicUsize = AtomicUsize::new(0);

    async fn hold(db: &TestDb, who: &str) {
        let pool = db.pool();
        sqlx::raw_sql("CREATE TABLE IF NOT EXISTS lane_marks (who text)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO lane_marks VALUES ($1)")
            .bind(who)
            .execute(&pool)
            .await
            .unwrap();
        HOLDING.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let mut together = false;
        while start.elapsed() < Duration::from_secs(3) {
            if HOLDING.load(Ordering::SeqCst) == 2 {
                together = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if together {
            // Keep holding until the other one has seen it too.
            SEEN.fetch_add(1, Ordering::SeqCst);
            while SEEN.load(Ordering::SeqCst) < 2 && start.elapsed() < Duration::from_secs(6) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let seen: Vec<String> = sqlx::query_scalar("SELECT who FROM lane_marks")
            .fetch_all(&pool)
            .await
            .unwrap();
        // Still holding: the other test must not have written here.
        assert_eq!(seen, [who], "another test's rows in {}", db.name());
        HOLDING.fetch_sub(1, Ordering::SeqCst);
        println!("LANE {} TOGETHER {together}", db.name());
    }

    #[rstest]
    #[ignore = "run by lanes_let_tests_of_a_module_run_at_once"]
    #[tokio::test]
    async fn first(db: Lease<TestDb>) {
        hold(&db, "first").await;
    }

    #[rstest]
    #[ignore = "run by lanes_let_tests_of_a_module_run_at_once"]
    #[tokio::test]
    async fn second(db: Lease<TestDb>) {
        hold(&db, "second").await;
    }
}

/// The probe's `LANE name TOGETHER bool` lines.
fn lanes_seen(lanes: &str) -> Vec<(String, bool)> {
    let out = run(
        child(&[
            "--ignored",
            "--test-threads=2",
            "lanes_probe::",
            "--nocapture",
        ])
        .env("FIXTURES_PG_LANES", lanes),
        Duration::from_secs(120),
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let seen: Vec<(String, bool)> = all
        .lines()
        .filter_map(|l| l.strip_prefix("LANE "))
        .filter_map(|l| l.split_once(" TOGETHER "))
        .map(|(name, t)| (name.to_owned(), t.trim() == "true"))
        .collect();
    assert_eq!(seen.len(), 2, "{all}");
    seen
}

#[test]
fn lanes_let_tests_of_a_module_run_at_once() {
    // Two lanes: both tests hold a copy of the module's database at once, each clean.
    let two = lanes_seen("2");
    assert!(two.iter().all(|(_, together)| *together), "{two:?}");
    assert_ne!(two[0].0, two[1].0, "two lanes, two databases");
    // One lane: they take turns on one database.
    let one = lanes_seen("1");
    assert!(one.iter().all(|(_, together)| !*together), "{one:?}");
    assert_eq!(one[0].0, one[1].0, "one lane, one database");
}

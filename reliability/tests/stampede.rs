//! A stampede on first use, per scope: 32 tests (two modules of 16) start at once with 32
//! test threads, and each asks for a database of one scope at the same moment — the server, the
//! template and the scope's shared database (the suite's, or each module's) are set up by the
//! first of 32 callers while the others wait. The row runs this binary again for each scope (a
//! run of its own, so every first use is really the first) and asserts, from
//! `FIXTURES_REPORT_FILE`, exactly one setup per instance.
//!
//! The tests of a shared database take turns on it (each gets it cleaned, alone): the gate is
//! before the first use, not while a turn is held.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fixtures_postgres::{Databases, TestDb, databases};
use reliability::leftovers::Leftovers;

databases!(
    /// The examples' schema, in every scope.
    pub mod pg = Databases::new().migrator(&examples::MIGRATOR)
);

/// The number of stampeding tests (and test threads).
const THREADS: usize = 32;

/// Waits (at most 60 s) until all the stampeding tests have reached the gate.
fn gate() {
    static REACHED: AtomicUsize = AtomicUsize::new(0);
    REACHED.fetch_add(1, Ordering::AcqRel);
    let deadline = Instant::now() + Duration::from_secs(60);
    while REACHED.load(Ordering::Acquire) < THREADS {
        assert!(
            Instant::now() < deadline,
            "only {} of {THREADS} tests reached the gate",
            REACHED.load(Ordering::Acquire)
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One stampeding test: the first use of the scope in `STAMPEDE_SCOPE`, all at once, then a
/// query on the database.
async fn stampede() {
    gate();
    let scope = std::env::var("STAMPEDE_SCOPE").unwrap_or_default();
    let db = match scope.as_str() {
        "test" => pg::test_scope::db::fixture().lease_async().await,
        "module" => pg::module_scope::db::fixture().lease_async().await,
        "suite" => pg::suite_scope::db::fixture().lease_async().await,
        other => panic!("STAMPEDE_SCOPE={other:?}: test, module or suite"),
    }
    .expect("database");
    query(&db).await;
}

async fn query(db: &TestDb) {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&db.pool())
        .await
        .expect("query");
    assert!(n >= 0);
}

macro_rules! stampede_module {
    ($module:ident; $($t:ident)*) => {
        mod $module {
            $(
                #[tokio::test]
                #[ignore = "run by thirty_two_threads_on_first_use_get_one_setup_per_instance"]
                async fn $t() {
                    crate::stampede().await;
                }
            )*
        }
    };
}

stampede_module!(stampede_a; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15);
stampede_module!(stampede_b; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15);

/// The setups and failures of each fixture in the report (`module::fixture` → counts).
fn setups(report: &str) -> Vec<(String, u64, u64)> {
    report
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let module = v["module"].as_str().unwrap_or("?");
            let tail = module.rsplit("::").next().unwrap_or(module);
            (
                format!("{tail}::{}", v["fixture"].as_str().unwrap_or("?")),
                v["setups"].as_u64().unwrap_or(0),
                v["failures"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Runs the 32 tests with the `scope`'s database; returns the report's rows, the output and
/// what the run left.
fn stampede_run(scope: &str) -> (Vec<(String, u64, u64)>, String, bool, Leftovers) {
    let run_id = format!("stampede-{scope}-{}", std::process::id());
    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{run_id}.jsonl"));
    let _ = std::fs::remove_file(&report);
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--ignored", "stampede_"])
        .args(["--test-threads", &THREADS.to_string()]);
    for (var, _) in std::env::vars() {
        if var.starts_with("FIXTURES_") || var.starts_with("NEXTEST") || var == "DOCKER_HOST" {
            cmd.env_remove(var);
        }
    }
    let image = std::env::var("FIXTURES_POSTGRES_IMAGE")
        .unwrap_or_else(|_| "fixtures-local/postgres:15".to_owned());
    cmd.env("FIXTURES_POSTGRES_IMAGE", image)
        .env("FIXTURES_RUN_ID", &run_id)
        .env("FIXTURES_PG_BACKEND", "local")
        .env("FIXTURES_REPORT_FILE", &report)
        .env("FIXTURES_SETUP_TIMEOUT", "60s")
        .env("FIXTURES_LOG", "info")
        .env("NO_COLOR", "1")
        .env("STAMPEDE_SCOPE", scope);
    let out = cmd.output().expect("start the stampede");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (left, _) = Leftovers::settle(&run_id, Duration::from_secs(10));
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    (setups(&text), output, out.status.success(), left)
}

#[test]
fn thirty_two_threads_on_first_use_get_one_setup_per_instance() {
    // Per scope: the shared instances it sets up (fixture, instances), besides one server.
    let cases: [(&str, &[(&str, u64)]); 3] = [
        ("test", &[("test_scope::db", THREADS as u64)]),
        (
            "module",
            &[
                ("module_scope::shared_db", 2),
                ("module_scope::db", THREADS as u64),
            ],
        ),
        (
            "suite",
            &[
                ("suite_scope::shared_db", 1),
                ("suite_scope::db", THREADS as u64),
            ],
        ),
    ];
    for (scope, expected) in cases {
        let (rows, output, passed, left) = stampede_run(scope);
        eprintln!("{scope} scope: setups per fixture {rows:?}");
        assert!(passed, "{scope} scope:\n{output}");
        assert!(
            output.contains(&format!("{THREADS} passed")),
            "{scope} scope: not all {THREADS} tests ran:\n{output}"
        );
        let count = |name: &str| {
            rows.iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, s, f)| (*s, *f))
                .unwrap_or_else(|| panic!("{scope} scope: {name} is not in the report: {rows:?}"))
        };
        assert_eq!(count("start::pg_server"), (1, 0), "{scope} scope");
        for (fixture, setups) in expected {
            assert_eq!(count(fixture), (*setups, 0), "{scope} scope: {fixture}");
        }
        // The template: migrated once.
        assert_eq!(
            output.matches("template built").count(),
            1,
            "{scope} scope: template builds:\n{output}"
        );
        assert_eq!(left.total(), 0, "{scope} scope: left behind: {left}");
    }
}

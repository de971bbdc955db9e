//! What a test waits for before its body runs, by scope: a fresh database (test scope: a clone
//! of the migrated template, claimed from the warm pool or created on demand) or its turn on a
//! shared database, cleaned (module and suite scope) — and what its end costs (the database
//! dropped, or the turn given back). On the example application's 21 tables and on a
//! generated 200-table schema, each test writing a few rows in between.
//!
//! `cargo bench --workspace --bench isolation [-- --quick]` (the server: the backend that
//! `fixtures-postgres` selects; `cargo xtask bench` sets `FIXTURES_PG_BACKEND=docker`).
//!
//! The fresh-database cases run in child processes of this run (they adopt its server), one
//! with `FIXTURES_PG_WARM=0` (no warm pool) and one with `FIXTURES_PG_WARM=4` (the default).
//! The clean strategies themselves are measured by `fixtures-postgres`'s `clean` bench.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench_suite::{Stats, ms, parse_samples, sample_line, wide_schema, wide_writes};
use fixtures_core::Lease;
use fixtures_postgres::{Databases, PgServer, TestDb, databases, pg_server};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

databases!(mod app = Databases::new().migrator(&examples::MIGRATOR));
databases!(mod wide = Databases::new().migrations_dir(wide_dir()));

const WIDE_TABLES: usize = 200;

/// The generated 200-table schema as a migrations folder (written once, atomically).
fn wide_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-wide-{WIDE_TABLES}"));
    let file = dir.join("1_wide.sql");
    let sql = wide_schema(WIDE_TABLES);
    if std::fs::read_to_string(&file).ok().as_deref() != Some(sql.as_str()) {
        std::fs::create_dir_all(&dir).expect("create the migrations folder");
        let tmp = dir.join(format!(".1_wide.sql.{}", std::process::id()));
        std::fs::write(&tmp, &sql).expect("write the migration");
        std::fs::rename(&tmp, &file).expect("write the migration");
    }
    dir
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Schema {
    App,
    Wide,
}

impl Schema {
    fn key(self) -> &'static str {
        match self {
            Schema::App => "app",
            Schema::Wide => "wide",
        }
    }

    fn label(self) -> String {
        match self {
            Schema::App => "21 tables (examples)".into(),
            Schema::Wide => format!("{WIDE_TABLES} tables (generated)"),
        }
    }

    fn parse(s: &str) -> Schema {
        if s == "wide" {
            Schema::Wide
        } else {
            Schema::App
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Fresh,
    Module,
    Suite,
}

async fn lease(schema: Schema, kind: Kind) -> Lease<TestDb> {
    let leased = match (schema, kind) {
        (Schema::App, Kind::Fresh) => app::test_scope::db::fixture().lease_async().await,
        (Schema::App, Kind::Module) => app::module_scope::db::fixture().lease_async().await,
        (Schema::App, Kind::Suite) => app::suite_scope::db::fixture().lease_async().await,
        (Schema::Wide, Kind::Fresh) => wide::test_scope::db::fixture().lease_async().await,
        (Schema::Wide, Kind::Module) => wide::module_scope::db::fixture().lease_async().await,
        (Schema::Wide, Kind::Suite) => wide::suite_scope::db::fixture().lease_async().await,
    };
    leased.unwrap_or_else(|e| panic!("{e}"))
}

/// A typical test's body: the benchmark suite's on the application, a few rows in 4 tables on
/// the wide schema. As in a test, its pool is still open when the test gives `db` back.
async fn body(schema: Schema, db: &TestDb) {
    let pool = db.pool();
    match schema {
        Schema::App => bench_suite::typical(pool).await,
        Schema::Wide => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(wide_writes(WIDE_TABLES)))
                .execute(&pool)
                .await
                .expect("write");
        }
    }
}

/// `n` tests (after one not counted): the wait for the database, the body, the release. Each
/// runs as a `#[tokio::test]` does: on a thread of its own, in a runtime of its own that ends
/// with the test (what a test's pool gives back as the runtime ends is lost with it).
fn tests(schema: Schema, kind: Kind, n: usize, key: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..=n {
        let (wait, release) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a test's runtime")
                        .block_on(async {
                            let start = Instant::now();
                            let db = lease(schema, kind).await;
                            let wait = start.elapsed();
                            body(schema, &db).await;
                            let start = Instant::now();
                            drop(db);
                            (wait, start.elapsed())
                        })
                })
                .join()
                .expect("the test's thread")
        });
        if i > 0 {
            lines.push(sample_line(&format!("{key} wait"), wait));
            lines.push(sample_line(&format!("{key} release"), release));
        }
    }
    lines
}

/// What `#[sqlx::test]` does per test, on the same server, measured the same way: create an
/// empty database, connect, apply the migrations (wait); the body; drop it (release).
async fn migrations_per_test(
    server: &PgServer,
    schema: Schema,
    n: usize,
) -> Vec<(String, Duration)> {
    let migrator = match schema {
        Schema::App => Migrator {
            migrations: examples::MIGRATOR.migrations.clone(),
            ..Migrator::DEFAULT
        },
        Schema::Wide => Migrator::new(wide_dir())
            .await
            .expect("the wide migrations"),
    };
    let mut admin = server.admin().await.unwrap_or_else(|e| panic!("{e}"));
    let mut samples = Vec::new();
    let key = format!("migrations {}", schema.key());
    for i in 0..=n {
        let name = format!("bench_migrations_{}_{i}", schema.key());
        let start = Instant::now();
        exec(&mut admin, &format!("CREATE DATABASE {name}")).await;
        let mut conn = PgConnection::connect_with(&server.connect_options(&name))
            .await
            .expect("connect");
        migrator
            .run_direct(None, &mut conn, false)
            .await
            .expect("migrate");
        let wait = start.elapsed();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_lazy_with(server.connect_options(&name));
        match schema {
            Schema::App => bench_suite::typical(pool.clone()).await,
            Schema::Wide => exec(&mut conn, &wide_writes(WIDE_TABLES)).await,
        }
        // `#[sqlx::test]` closes the test's pool before it drops the database.
        pool.close().await;
        let _ = conn.close().await;
        let start = Instant::now();
        exec(&mut admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
        let release = start.elapsed();
        if i > 0 {
            samples.push((format!("{key} wait"), wait));
            samples.push((format!("{key} release"), release));
        }
    }
    samples
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// In a child process of the run: test-scope databases with this process's warm setting.
async fn child_fresh() {
    let schema = Schema::parse(&std::env::var("BENCH_SCHEMA").unwrap_or_default());
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let warm = std::env::var("FIXTURES_PG_WARM").unwrap_or_else(|_| "4".into());
    let _server = pg_server::fixture()
        .lease_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = format!("fresh {} warm={warm}", schema.key());
    for line in tests(schema, Kind::Fresh, n, &key) {
        println!("{line}");
    }
}

/// Runs [`child_fresh`] in a process that joins this run (and its server).
fn fresh_in_child(schema: Schema, warm: u32, n: usize) -> Vec<(String, Duration)> {
    let mut cmd = Command::new(std::env::current_exe().expect("this binary"));
    for v in [
        "NEXTEST",
        "NEXTEST_TEST_PHASE",
        "NEXTEST_TEST_NAME",
        "NEXTEST_EXECUTION_MODE",
    ] {
        cmd.env_remove(v);
    }
    let out = cmd
        .env("BENCH_ROLE", "fresh")
        .env("BENCH_SCHEMA", schema.key())
        .env("BENCH_N", n.to_string())
        .env("FIXTURES_PG_WARM", warm.to_string())
        .env("FIXTURES_RUN_ID", fixtures_core::run_id())
        .env(
            "FIXTURES_RUN_OWNER",
            fixtures_core::watchdog::run_owner().to_string(),
        )
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "the fresh-database child failed: {:?}",
        out.status
    );
    parse_samples(&String::from_utf8_lossy(&out.stdout))
}

fn stats(samples: &[(String, Duration)], key: &str) -> Option<Stats> {
    let v: Vec<Duration> = samples
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, d)| *d)
        .collect();
    Stats::of(&v)
}

fn cell(samples: &[(String, Duration)], key: &str) -> String {
    stats(samples, key).map_or_else(|| "—".into(), |s| s.show())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("fresh") {
        return child_fresh().await;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 5 } else { 51 };
    wide_dir();

    let start = Instant::now();
    let server = pg_server::fixture()
        .lease_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let server_ready = start.elapsed();

    let schemas = [Schema::App, Schema::Wide];
    let mut samples = Vec::new();
    for schema in schemas {
        // No warm pool first: a warm run leaves its clones behind for the next claim.
        for warm in [0, 4] {
            samples.extend(fresh_in_child(schema, warm, n));
        }
        samples.extend(migrations_per_test(&server, schema, n).await);
        for (kind, name) in [(Kind::Module, "module"), (Kind::Suite, "suite")] {
            // Hold the shared database, as a module's or a suite's tests do between them.
            let _shared = match (schema, kind) {
                (Schema::App, Kind::Module) => {
                    app::module_scope::shared_db::fixture().lease_async().await
                }
                (Schema::App, _) => app::suite_scope::shared_db::fixture().lease_async().await,
                (Schema::Wide, Kind::Module) => {
                    wide::module_scope::shared_db::fixture().lease_async().await
                }
                (Schema::Wide, _) => wide::suite_scope::shared_db::fixture().lease_async().await,
            }
            .unwrap_or_else(|e| panic!("{e}"));
            let key = format!("{name} {}", schema.key());
            samples.extend(parse_samples(&tests(schema, kind, n, &key).join("\n")));
        }
    }

    println!(
        "\n## Per-test database: the wait before the body, and the release after it\n\n\
         Server: {:?} backend, PostgreSQL {} (ready in {} in this process). Medians \
         (p10–p90) over {n} tests each (one more before them not counted); each test writes a \
         few rows in between.\n",
        server.backend(),
        server.version(),
        ms(server_ready)
    );
    println!(
        "| schema | test scope, warm pool (4) | test scope, no warm pool | module scope (turn + clean) | suite scope (turn + clean) | a database + migrations per test (as `#[sqlx::test]`) |"
    );
    println!("|---|---|---|---|---|---|");
    for what in ["wait", "release"] {
        for schema in schemas {
            let s = schema.key();
            println!(
                "| {}: {what} | {} | {} | {} | {} | {} |",
                schema.label(),
                cell(&samples, &format!("fresh {s} warm=4 {what}")),
                cell(&samples, &format!("fresh {s} warm=0 {what}")),
                cell(&samples, &format!("module {s} {what}")),
                cell(&samples, &format!("suite {s} {what}")),
                cell(&samples, &format!("migrations {s} {what}")),
            );
        }
    }
    println!(
        "\nwait: from asking for `db` to holding it (test scope: claim a warm clone or `CREATE \
         DATABASE … TEMPLATE`; module/suite: take the turn, check the mark, clean). release: \
         from dropping it to the next test being able to start (test scope: the drop handed to \
         the background; \
         module/suite: end the test's connections, give the turn back; migrations per test: \
         `CREATE DATABASE`, connect, migrate / `DROP DATABASE … WITH (FORCE)`).\n"
    );
    // For `cargo xtask bench`: the medians, machine-readable.
    let mut keys: Vec<&String> = samples.iter().map(|(k, _)| k).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        if let Some(s) = stats(&samples, key) {
            println!("@median {key} {:.3}", s.median.as_secs_f64() * 1000.0);
        }
    }
}

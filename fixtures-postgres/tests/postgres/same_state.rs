//! The same starting state in every scope: whatever a test did to a shared database — rows,
//! seed rows, sequences, DDL, session settings, the framework's own tables — the next test
//! finds the template's state, as a fresh clone would be.

use std::time::Duration;

use fixtures_core::prelude::*;
use fixtures_postgres::{PgServer, TestDb, pg_server};
use rstest::rstest;
use sqlx::{Executor, PgPool};

use crate::children::{child, own_run, run, text};

/// Asserts the template's state: its schema (`notes` with its three columns, no other table
/// of ours), its seed row, the identity after it, a kept connection's session settings.
pub async fn assert_template_state(db: &TestDb) {
    let pool = db.pool();
    let me = fixtures_core::current_test().unwrap_or_default();
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'notes'::regclass \
         AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(columns, ["id", "owner", "body"], "{me}: schema of notes");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        ["_sqlx_migrations", "notes", "template_origin"],
        "{me}: tables"
    );
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, owner, body FROM notes ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [(1, "seed".into(), "present in every fresh database".into())],
        "{me}: rows of notes in {}",
        db.name()
    );
    let role: String = sqlx::query_scalar("SHOW session_replication_role")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(role, "origin", "{me}: a session setting survived");
    let next: i64 =
        sqlx::query_scalar("INSERT INTO notes (owner, body) VALUES ($1, 'x') RETURNING id")
            .bind(&me)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(next, 2, "{me}: the identity after the seed row");
}

async fn exec(pool: &PgPool, sql: &'static str) {
    pool.execute(sql).await.unwrap();
}

/// Five ways of leaving a shared database in a state of its own; each test checks the
/// template's state first.
macro_rules! same_state_module {
    ($m:ident, $scope:ident) => {
        pub mod $m {
            use super::*;
            use crate::pg::$scope::db;

            #[rstest]
            #[tokio::test]
            async fn alters_the_schema(db: Lease<TestDb>) {
                assert_template_state(&db).await;
                let pool = db.pool();
                exec(&pool, "ALTER TABLE notes DROP COLUMN body").await;
                exec(
                    &pool,
                    "CREATE TABLE intruder (v int); INSERT INTO intruder VALUES (1)",
                )
                .await;
                exec(&pool, "ALTER SEQUENCE notes_id_seq RESTART 100").await;
            }

            #[rstest]
            #[tokio::test]
            async fn rewrites_the_seed(db: Lease<TestDb>) {
                assert_template_state(&db).await;
                let pool = db.pool();
                exec(
                    &pool,
                    "UPDATE notes SET body = 'changed' WHERE owner = 'seed'",
                )
                .await;
                exec(&pool, "DELETE FROM notes WHERE id = 1").await;
                exec(
                    &pool,
                    "INSERT INTO notes (id, owner, body) VALUES (1, 'impostor', 'x')",
                )
                .await;
                exec(&pool, "SELECT setval('notes_id_seq', 500)").await;
            }

            #[rstest]
            #[tokio::test]
            async fn truncates_everything(db: Lease<TestDb>) {
                assert_template_state(&db).await;
                exec(
                    &db.pool(),
                    "TRUNCATE notes, template_origin RESTART IDENTITY",
                )
                .await;
            }

            #[rstest]
            #[tokio::test]
            async fn leaves_a_session_as_a_replica(db: Lease<TestDb>) {
                assert_template_state(&db).await;
                let pool = db.pool();
                let mut conn = pool.acquire().await.unwrap();
                conn.execute("SET session_replication_role = replica")
                    .await
                    .unwrap();
                conn.execute("INSERT INTO notes (owner, body) VALUES ('replica', 'x')")
                    .await
                    .unwrap();
            }

            #[rstest]
            #[tokio::test]
            async fn tampers_with_the_framework(db: Lease<TestDb>) {
                assert_template_state(&db).await;
                let pool = db.pool();
                exec(
                    &pool,
                    "INSERT INTO notes (owner, body) VALUES ('tamper', 'x')",
                )
                .await;
                let refused = pool.execute("TRUNCATE _fixtures.dirty").await.unwrap_err();
                assert!(refused.to_string().contains("refused"), "{refused}");
                pool.execute("DELETE FROM _fixtures.baseline")
                    .await
                    .unwrap_err();
            }

            #[rstest]
            #[tokio::test]
            async fn drops_the_framework(db: Lease<TestDb>) {
                assert_template_state(&db).await;
                exec(&db.pool(), "DROP SCHEMA _fixtures CASCADE").await;
            }
        }
    };
}

same_state_module!(module_ddl, module_scope);
same_state_module!(suite_ddl, suite_scope);

/// With one lane and one thread, every test of the module follows another on the same
/// database: each still finds the template's state. (A run of its own: its databases are not
/// this run's, which this process's modules use.)
#[rstest]
#[tokio::test]
async fn one_lane_in_turn_after_ddl_and_tampering() {
    let out = run(
        own_run(&["same_state::module_ddl::", "--test-threads", "1"]).env("FIXTURES_PG_LANES", "1"),
        Duration::from_secs(180),
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("6 passed"), "{all}");
}

/// A module whose first test fails on purpose (run as a child with one lane, one thread and
/// FIXTURES_PG_KEEP_FAILED=1).
pub mod keep_probe {
    use super::*;
    use crate::pg::module_scope::db;

    #[rstest]
    #[ignore = "run by same_state::a_failed_tests_shared_database_is_kept"]
    #[tokio::test]
    async fn a_fails_with_rows(db: Lease<TestDb>) {
        exec(
            &db.pool(),
            "INSERT INTO notes (owner, body) VALUES ('kept', 'evidence')",
        )
        .await;
        panic!("failing on purpose so that the shared database is kept");
    }

    #[rstest]
    #[ignore = "run by same_state::a_failed_tests_shared_database_is_kept"]
    #[tokio::test]
    async fn b_after_the_failure(db: Lease<TestDb>) {
        assert_template_state(&db).await;
    }
}

#[rstest]
#[tokio::test]
async fn a_failed_tests_shared_database_is_kept(pg_server: Lease<PgServer>) {
    let out = run(
        child(&[
            "--ignored",
            "same_state::keep_probe::",
            "--test-threads",
            "1",
        ])
        .env("FIXTURES_PG_LANES", "1")
        .env("FIXTURES_PG_KEEP_FAILED", "1"),
        Duration::from_secs(180),
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("same_state::keep_probe::b_after_the_failure ... ok"),
        "{all}"
    );
    let marker =
        "kept the shared database of failed test `same_state::keep_probe::a_fails_with_rows`";
    assert!(all.contains(marker), "{all}");
    let name = all
        .lines()
        .find_map(|l| l.trim().strip_prefix("psql '"))
        .and_then(|url| url.trim_end_matches('\'').rsplit('/').next())
        .expect("a psql command")
        .to_owned();
    let mut kept = sqlx::PgConnection::connect_with(&pg_server.connect_options(&name))
        .await
        .unwrap();
    let owners: Vec<String> = sqlx::query_scalar("SELECT owner FROM notes ORDER BY id")
        .fetch_all(&mut kept)
        .await
        .unwrap();
    assert_eq!(owners, ["seed", "kept"], "the failed test's rows are kept");
    drop(kept);
    let mut admin = pg_server.admin().await.unwrap();
    let sql = format!("DROP DATABASE \"{name}\" WITH (FORCE)");
    admin.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
}

use sqlx::Connection;

/// Creates a role: an object of the whole server (run as a child, a run of its own).
#[rstest]
#[ignore = "run by same_state::server_wide_objects_a_test_made_are_reported"]
#[tokio::test]
async fn creates_a_role(#[from(crate::pg::module_scope::db)] db: Lease<TestDb>) {
    exec(&db.pool(), "CREATE ROLE fixtures_probe_role").await;
}

#[rstest]
#[tokio::test]
async fn server_wide_objects_a_test_made_are_reported(pg_server: Lease<PgServer>) {
    let mut admin = pg_server.admin().await.unwrap();
    admin
        .execute("DROP ROLE IF EXISTS fixtures_probe_role")
        .await
        .unwrap();
    let out = run(
        own_run(&["--ignored", "--exact", "same_state::creates_a_role"])
            .env("FIXTURES_PG_URL", pg_server.url("postgres")),
        Duration::from_secs(120),
    );
    admin
        .execute("DROP ROLE IF EXISTS fixtures_probe_role")
        .await
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("role fixtures_probe_role"), "{all}");
    assert!(all.contains("No scope restores these"), "{all}");
}

/// Rollback mode: each test's writes happen in a transaction rolled back after it; the
/// sequences it moved (not transactional) are restored by the next turn.
pub mod rollback {
    use super::*;
    use crate::pg::rollback_scope::db;
    use fixtures_postgres::TxDb;

    async fn starts_from_the_template_then_writes(db: &TxDb, body: &'static str) {
        let mut conn = db.conn().await;
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, owner FROM notes ORDER BY id")
            .fetch_all(&mut **conn)
            .await
            .unwrap();
        assert_eq!(rows, [(1, "seed".to_owned())], "{}", db.name());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notes (owner, body) VALUES ('rollback', $1) RETURNING id",
        )
        .bind(body)
        .fetch_one(&mut **conn)
        .await
        .unwrap();
        assert_eq!(id, 2, "the identity after the seed row");
        conn.execute("DELETE FROM notes WHERE owner = 'seed'")
            .await
            .unwrap();
    }

    #[rstest]
    #[tokio::test]
    async fn a(db: Lease<TxDb>) {
        starts_from_the_template_then_writes(&db, "a").await;
    }
    #[rstest]
    #[tokio::test]
    async fn b(db: Lease<TxDb>) {
        starts_from_the_template_then_writes(&db, "b").await;
    }
    #[rstest]
    #[tokio::test]
    async fn c(db: Lease<TxDb>) {
        starts_from_the_template_then_writes(&db, "c").await;
    }
    #[rstest]
    #[tokio::test]
    async fn d(db: Lease<TxDb>) {
        starts_from_the_template_then_writes(&db, "d").await;
    }
}

//! Cases the restore property found and that were reduced to a test each: tables rewritten by
//! `VACUUM FULL` (old rows at new `ctid`s), concurrent refreshes (with and without a
//! superuser), schema changes only a fuller catalog fingerprint sees, and seed rows a
//! `NOT VALID` constraint rejects (the clean asks for a replacement). The property
//! (`writes.rs`) leaves some of these writes out, or accepts either outcome for them.

use fixtures_postgres::clean::CleanOptions;
use sqlx::PgConnection;

use crate::replace::owner_database;
use crate::support::scratch_database;
use crate::util::*;

/// A superuser's database with `ddl` (and its rows), prepared.
async fn prepared_with(ddl: &str) -> PgConnection {
    let (mut conn, _) = scratch_database().await;
    exec(&mut conn, ddl).await;
    prepare(&mut conn, &CleanOptions::new()).await;
    conn
}

async fn values(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    scalar::<Option<Vec<String>>>(conn, sql)
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn a_table_rewritten_by_vacuum_full_is_restored_exactly() {
    let mut conn = prepared_with(
        "CREATE TABLE plain (v text);
         INSERT INTO plain VALUES ('x1'), ('x2'), ('x3');
         CREATE TABLE keyed (id int PRIMARY KEY);
         INSERT INTO keyed VALUES (1), (2), (3);",
    )
    .await;
    exec(&mut conn, "DELETE FROM plain WHERE v = 'x1'").await;
    exec(&mut conn, "VACUUM FULL plain").await;
    exec(&mut conn, "DELETE FROM keyed WHERE id = 1").await;
    exec(&mut conn, "VACUUM FULL keyed").await;
    // Today: `plain` holds x2, x3, x3; the restore of `keyed` fails on its primary key.
    let report = fixtures_postgres::clean::__private::clean(&mut conn, &CleanOptions::new())
        .await
        .expect("the clean succeeds");
    if report.replace.is_none() {
        let plain = values(&mut conn, "SELECT array_agg(v ORDER BY v) FROM plain").await;
        assert_eq!(plain, ["x1", "x2", "x3"], "{report:?}");
        assert_eq!(count(&mut conn, "keyed").await, 3);
    }
}

#[tokio::test]
async fn a_concurrent_refresh_is_restored_in_place() {
    let mut conn = prepared_with(
        "CREATE TABLE o (id serial PRIMARY KEY, v int);
         INSERT INTO o (v) VALUES (1), (2);
         CREATE MATERIALIZED VIEW m AS SELECT count(*) AS n FROM o;
         CREATE UNIQUE INDEX ON m (n);",
    )
    .await;
    exec(
        &mut conn,
        "INSERT INTO o (v) VALUES (3); REFRESH MATERIALIZED VIEW CONCURRENTLY m;",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert!(report.replace.is_none(), "{report:?}");
    assert_eq!(scalar::<i64>(&mut conn, "SELECT n FROM m").await, 2);
}

#[tokio::test]
async fn without_superuser_a_concurrent_refresh_is_undone_or_replaced() {
    let mut conn = owner_database().await;
    exec(
        &mut conn,
        "CREATE TABLE o (id serial PRIMARY KEY, v int);
         INSERT INTO o (v) VALUES (1), (2);
         CREATE MATERIALIZED VIEW m AS SELECT count(*) AS n FROM o;
         CREATE UNIQUE INDEX ON m (n);",
    )
    .await;
    prepare(&mut conn, &CleanOptions::new()).await;
    exec(
        &mut conn,
        "INSERT INTO o (v) VALUES (3); REFRESH MATERIALIZED VIEW CONCURRENTLY m;",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    if report.replace.is_none() {
        // Today: `o` is restored (2 rows) and `m` still counts 3.
        assert_eq!(
            scalar::<i64>(&mut conn, "SELECT n FROM m").await,
            2,
            "{report:?}"
        );
    }
}

#[tokio::test]
async fn without_superuser_every_schema_change_asks_for_a_replacement() {
    let mut conn = owner_database().await;
    exec(
        &mut conn,
        "CREATE TABLE ev (id int, at int) PARTITION BY RANGE (at);
         CREATE TABLE ev_lo PARTITION OF ev FOR VALUES FROM (0) TO (10);
         CREATE TABLE ev_hi PARTITION OF ev FOR VALUES FROM (10) TO (20);
         CREATE TABLE animals (id int, name text);
         CREATE TABLE dogs (barks bool) INHERITS (animals);
         CREATE VIEW v AS SELECT 1 AS one;
         CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
         CREATE TRIGGER tr BEFORE INSERT ON animals FOR EACH ROW EXECUTE FUNCTION f();
         ALTER TABLE animals ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p ON animals USING (true);
         CREATE RULE r AS ON UPDATE TO animals DO ALSO NOTHING;",
    )
    .await;
    let changes = [
        "ALTER TABLE ev DETACH PARTITION ev_hi",
        "ALTER TABLE dogs NO INHERIT animals",
        "CREATE OR REPLACE VIEW v AS SELECT 2 AS one",
        // A trigger replaced (`CREATE OR REPLACE TRIGGER` is Postgres 14+).
        "DROP TRIGGER tr ON animals; CREATE TRIGGER tr BEFORE INSERT OR UPDATE ON animals \
         FOR EACH ROW EXECUTE FUNCTION f()",
        "ALTER POLICY p ON animals USING (false)",
        "CREATE OR REPLACE RULE r AS ON UPDATE TO animals DO INSTEAD NOTHING",
        "ALTER FUNCTION f() SECURITY DEFINER",
        "GRANT SELECT (name) ON animals TO PUBLIC",
    ];
    let mut missed = Vec::new();
    for ddl in changes {
        prepare(&mut conn, &CleanOptions::new()).await;
        exec(&mut conn, ddl).await;
        if clean(&mut conn, &CleanOptions::new())
            .await
            .replace
            .is_none()
        {
            missed.push(ddl);
        }
    }
    assert!(missed.is_empty(), "restored in place after {missed:#?}");
}

#[tokio::test]
async fn seed_rows_a_not_valid_check_rejects_are_restored_or_replaced() {
    let mut conn = prepared_with(
        "CREATE TABLE legacy (v int);
         INSERT INTO legacy VALUES (-1), (1);
         ALTER TABLE legacy ADD CONSTRAINT positive CHECK (v > 0) NOT VALID;",
    )
    .await;
    exec(
        &mut conn,
        "DELETE FROM legacy WHERE v = -1; INSERT INTO legacy VALUES (5);",
    )
    .await;
    let rows = "SELECT array_agg(v::text ORDER BY v) FROM legacy";
    let report = fixtures_postgres::clean::__private::clean(&mut conn, &CleanOptions::new())
        .await
        .expect("the clean succeeds");
    let after = values(&mut conn, rows).await;
    if report.replace.is_none() {
        assert_eq!(after, ["-1", "1"], "{report:?}");
    } else {
        // A replacement changes nothing: the test's row is still there.
        assert_eq!(after, ["1", "5"], "{report:?}");
    }
}

//! How `Auto` knows what a test wrote: the tracking triggers, the choice between DELETE and
//! TRUNCATE, preparation (which takes the snapshot), and the fallbacks without privileges.
//! (Schema changes, after which a clean asks for a replacement: `replace.rs`.)

use fixtures_postgres::clean::{CleanOptions, CleanStrategy};
use sqlx::PgConnection;

use crate::support::scratch_database;
use crate::util::*;

const DDL: &str = r#"
    CREATE TABLE parents (id serial PRIMARY KEY, name text);
    CREATE TABLE children (id serial PRIMARY KEY, parent_id int REFERENCES parents (id), note text);
    CREATE TABLE grandchildren (id serial PRIMARY KEY, child_id int REFERENCES children (id));
    CREATE TABLE leaf (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload text);
    CREATE TABLE other (id serial PRIMARY KEY);
"#;

pub async fn prepared() -> (PgConnection, String) {
    let (mut conn, url) = scratch_database().await;
    exec(&mut conn, DDL).await;
    prepare(&mut conn, &CleanOptions::new()).await;
    clean(&mut conn, &CleanOptions::new()).await;
    (conn, url)
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn only_the_written_tables_are_emptied() {
    let (mut conn, _) = prepared().await;
    exec(
        &mut conn,
        "INSERT INTO parents (name) VALUES ('p'); INSERT INTO leaf (payload) VALUES ('x');",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(
        sorted(report.deleted.clone()),
        ["public.leaf", "public.parents"]
    );
    assert!(report.truncated.is_empty(), "{report:?}");
    assert_eq!(
        sorted(report.sequences_reset.clone()),
        ["public.leaf_id_seq", "public.parents_id_seq"]
    );
    assert_eq!(report.tables_considered, 5);
    assert!(report.fallback.is_none());
    // Reading is not writing; an UPDATE that matches nothing still counts (cheaply).
    let _: i64 = scalar(&mut conn, "SELECT count(*) FROM parents").await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.tables_emptied(), 0, "{report:?}");
}

#[tokio::test]
async fn tables_with_many_rows_are_truncated_few_rows_deleted() {
    let (mut conn, _) = prepared().await;
    exec(
        &mut conn,
        "INSERT INTO leaf (payload) SELECT 'row ' || g FROM generate_series(1, 10000) g;
         INSERT INTO parents (name) VALUES ('few');
         INSERT INTO children (parent_id) VALUES (1);",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.truncated, ["public.leaf"], "{report:?}");
    assert_eq!(
        sorted(report.deleted.clone()),
        ["public.children", "public.parents"]
    );
    let after = snapshot(&mut conn).await;
    assert!(
        after.non_empty().is_empty() && after.moved().is_empty(),
        "{after:?}"
    );

    // Many rows in a table that three others reference: truncated with them (CASCADE).
    exec(
        &mut conn,
        "INSERT INTO parents (name) SELECT 'p' || g FROM generate_series(1, 20000) g;
         INSERT INTO children (parent_id) VALUES (1);",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(
        report.truncated,
        ["public.children", "public.grandchildren", "public.parents"],
        "{report:?}"
    );
    assert!(report.deleted.is_empty(), "{report:?}");
    let after = snapshot(&mut conn).await;
    assert!(
        after.non_empty().is_empty() && after.moved().is_empty(),
        "{after:?}"
    );
}

#[tokio::test]
async fn prepare_is_idempotent_re_snapshots_and_replaces_another_version() {
    let (mut conn, _) = prepared().await;
    let objects = "SELECT count(*) FROM pg_trigger WHERE tgname = '_fixtures_track'";
    let function = "SELECT '_fixtures.clean'::regproc::oid::bigint";
    assert_eq!(scalar::<i64>(&mut conn, objects).await, 5);
    let installed = scalar::<i64>(&mut conn, function).await;
    exec(
        &mut conn,
        "INSERT INTO parents (name) VALUES ('kept'); INSERT INTO leaf (payload) VALUES ('kept');",
    )
    .await;
    prepare(&mut conn, &CleanOptions::new()).await;
    prepare(&mut conn, &CleanOptions::new()).await;
    assert_eq!(scalar::<i64>(&mut conn, objects).await, 5);
    assert_eq!(
        scalar::<i64>(&mut conn, function).await,
        installed,
        "not reinstalled"
    );
    // The rows written before the last prepare are the snapshot now: kept, and restored.
    let state = snapshot(&mut conn).await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert!(report.replace.is_none(), "{report:?}");
    assert_eq!(report.tables_emptied(), 0, "{report:?}");
    assert_eq!(snapshot(&mut conn).await, state);
    exec(
        &mut conn,
        "DELETE FROM parents; INSERT INTO leaf (payload) VALUES ('test');",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(
        sorted(report.restored.clone()),
        ["public.leaf", "public.parents"],
        "{report:?}"
    );
    assert_eq!(snapshot(&mut conn).await, state);

    // Another version installed: replaced (its triggers with it).
    exec(
        &mut conn,
        "COMMENT ON SCHEMA _fixtures IS 'fixtures-postgres 0: old'; CREATE TABLE _fixtures.old ();",
    )
    .await;
    prepare(&mut conn, &CleanOptions::new()).await;
    let old: bool = scalar(&mut conn, "SELECT to_regclass('_fixtures.old') IS NOT NULL").await;
    assert!(!old, "the old installation was dropped");
    assert_eq!(scalar::<i64>(&mut conn, objects).await, 5);

    // Dropped by someone: the next clean changes nothing (it does not reinstall, which would
    // take the test's rows for the template's) and asks for a replacement.
    exec(
        &mut conn,
        "DROP SCHEMA _fixtures CASCADE; INSERT INTO other DEFAULT VALUES;",
    )
    .await;
    let before = snapshot(&mut conn).await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    let reason = report.replace.as_deref().unwrap_or_default();
    assert!(reason.contains("_fixtures"), "{report:?}");
    assert_eq!(snapshot(&mut conn).await, before);
    assert_eq!(scalar::<i64>(&mut conn, objects).await, 0);
}

/// A connection as a role that owns the tables but is no superuser.
pub async fn as_owner(
    url: &str,
    admin: &mut PgConnection,
    create_on_database: bool,
) -> PgConnection {
    let (mut conn, _) = owner(admin, url, create_on_database).await;
    exec(&mut conn, DDL).await;
    conn
}

#[tokio::test]
async fn without_superuser_auto_deletes_with_foreign_keys_checked() {
    let (mut admin, url) = scratch_database().await;
    let mut conn = as_owner(&url, &mut admin, true).await;
    exec(
        &mut conn,
        "CREATE TABLE audited (id serial PRIMARY KEY, parent_id int REFERENCES parents (id));
         CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'no deletes here'; END $$;
         CREATE TRIGGER refuse BEFORE DELETE ON audited FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .await;
    for strategy in [CleanStrategy::Auto, CleanStrategy::Delete] {
        let o = opts(strategy);
        prepare(&mut conn, &o).await;
        clean(&mut conn, &o).await;
        exec(
            &mut conn,
            "INSERT INTO parents (name) SELECT 'p' FROM generate_series(1, 100);
             INSERT INTO children (parent_id) VALUES (1), (2);
             INSERT INTO grandchildren (child_id) VALUES (1);
             INSERT INTO leaf (payload) VALUES ('x');",
        )
        .await;
        let report = clean(&mut conn, &o).await;
        match strategy {
            CleanStrategy::Auto => {
                // No replica role: the DELETE checks the foreign keys, in one statement.
                assert!(report.fallback.is_none(), "{report:?}");
                assert!(report.truncated.is_empty(), "{report:?}");
                assert_eq!(
                    sorted(report.deleted.clone()),
                    [
                        "public.children",
                        "public.grandchildren",
                        "public.leaf",
                        "public.parents"
                    ]
                );
            }
            _ => {
                assert!(report.fallback.is_some(), "{report:?}");
                assert!(report.deleted.is_empty(), "{report:?}");
                assert_eq!(report.truncated.len(), 6, "{report:?}");
            }
        }
        let after = snapshot(&mut conn).await;
        assert!(
            after.non_empty().is_empty() && after.moved().is_empty(),
            "{after:?}"
        );

        // A table whose DELETE trigger would fire (and refuse): truncated, with what
        // references it... and nothing else.
        exec(
            &mut conn,
            "INSERT INTO parents (name) VALUES ('p'); INSERT INTO audited (parent_id) VALUES (1);",
        )
        .await;
        let report = clean(&mut conn, &o).await;
        if strategy == CleanStrategy::Auto {
            assert_eq!(report.truncated, ["public.audited"], "{report:?}");
            assert_eq!(report.deleted, ["public.parents"], "{report:?}");
            assert!(report.fallback.is_some(), "{report:?}");
        }
        let after = snapshot(&mut conn).await;
        assert!(
            after.non_empty().is_empty() && after.moved().is_empty(),
            "{after:?}"
        );
    }
    let watch: bool = scalar(&mut conn, "SELECT watch FROM _fixtures.settings").await;
    assert!(
        !watch,
        "no event trigger without superuser: the catalog is listed every time"
    );
}

#[tokio::test]
async fn many_rows_in_referenced_tables_are_deleted_as_a_replica() {
    // Over the checked-DELETE budget (64 rows in referenced tables): replica role; the result
    // is the same.
    let (mut conn, _) = prepared().await;
    exec(
        &mut conn,
        "INSERT INTO parents (name) SELECT 'p' FROM generate_series(1, 300);
         INSERT INTO children (parent_id) SELECT 1 FROM generate_series(1, 300);
         INSERT INTO grandchildren (child_id) VALUES (1);",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(
        sorted(report.deleted.clone()),
        ["public.children", "public.grandchildren", "public.parents"]
    );
    let after = snapshot(&mut conn).await;
    assert!(
        after.non_empty().is_empty() && after.moved().is_empty(),
        "{after:?}"
    );
}

//! How `Auto` knows what a test wrote: the tracking triggers, tables created later, the
//! choice between DELETE and TRUNCATE, preparation, and the fallbacks without privileges.

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

async fn prepared() -> (PgConnection, String) {
    let (mut conn, url) = scratch_database().await;
    exec(&mut conn, DDL).await;
    prepare(&mut conn, &CleanOptions::new()).await;
    clean(&mut conn, &CleanOptions::new()).await;
    (conn, url)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
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
async fn a_table_created_after_prepare_is_cleaned_and_tracked() {
    let (mut conn, _) = prepared().await;
    exec(
        &mut conn,
        r#"CREATE TABLE late (id serial PRIMARY KEY, parent_id int REFERENCES parents (id));
           CREATE SCHEMA later;
           CREATE TABLE later."Late Too" (id bigserial PRIMARY KEY);
           INSERT INTO late DEFAULT VALUES;
           INSERT INTO later."Late Too" DEFAULT VALUES;"#,
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.tables_considered, 7, "{report:?}");
    assert_eq!(
        sorted(report.deleted.clone()),
        ["later.\"Late Too\"", "public.late"]
    );
    let after = snapshot(&mut conn).await;
    assert!(
        after.non_empty().is_empty() && after.moved().is_empty(),
        "{after:?}"
    );
    // Tracked from now on: untouched, it is left alone; written, it is cleaned.
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.tables_emptied(), 0, "{report:?}");
    exec(&mut conn, "INSERT INTO late DEFAULT VALUES").await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.deleted, ["public.late"]);
    assert_eq!(insert_id(&mut conn, "late").await, 1);
}

#[tokio::test]
async fn a_new_foreign_key_widens_the_scope() {
    // `other` is excluded; a test then makes it reference a cleaned table: it is emptied, as
    // TRUNCATE ... CASCADE would, although the scope was cached before.
    let o = CleanOptions::new().except(["other"]);
    let (mut conn, _) = scratch_database().await;
    exec(&mut conn, DDL).await;
    prepare(&mut conn, &o).await;
    assert_eq!(clean(&mut conn, &o).await.tables_considered, 4);
    exec(
        &mut conn,
        "ALTER TABLE other ADD COLUMN leaf_id bigint REFERENCES leaf (id);
         INSERT INTO other DEFAULT VALUES;",
    )
    .await;
    let report = clean(&mut conn, &o).await;
    assert_eq!(report.tables_considered, 5, "{report:?}");
    assert_eq!(count(&mut conn, "other").await, 0);
}

#[tokio::test]
async fn writes_with_triggers_disabled_or_as_a_replica_are_still_cleaned() {
    let (mut conn, _) = prepared().await;
    exec(
        &mut conn,
        "SET session_replication_role = replica;
         INSERT INTO parents (name) VALUES ('as a replica');
         RESET session_replication_role;
         ALTER TABLE leaf DISABLE TRIGGER ALL;
         INSERT INTO leaf (payload) VALUES ('untracked');",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(
        sorted(report.deleted.clone()),
        ["public.leaf", "public.parents"]
    );
    let after = snapshot(&mut conn).await;
    assert!(
        after.non_empty().is_empty() && after.moved().is_empty(),
        "{after:?}"
    );
    // The clean re-enabled the tracking on `leaf`.
    exec(&mut conn, "INSERT INTO leaf (payload) VALUES ('tracked')").await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.deleted, ["public.leaf"]);
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
async fn prepare_is_idempotent_and_replaces_another_version() {
    let (mut conn, _) = prepared().await;
    let objects = "SELECT count(*) FROM pg_trigger WHERE tgname = '_fixtures_track'";
    assert_eq!(scalar::<i64>(&mut conn, objects).await, 5);
    prepare(&mut conn, &CleanOptions::new()).await;
    prepare(&mut conn, &CleanOptions::new()).await;
    assert_eq!(scalar::<i64>(&mut conn, objects).await, 5);
    // Prepare marks everything written (a template's or a seed's rows are unknown to it).
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.deleted.len(), 5, "{report:?}");

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

    // Dropped by someone: the next clean reinstalls.
    exec(
        &mut conn,
        "DROP SCHEMA _fixtures CASCADE; INSERT INTO other DEFAULT VALUES;",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.tables_considered, 5, "{report:?}");
    assert_eq!(count(&mut conn, "other").await, 0);
    assert_eq!(scalar::<i64>(&mut conn, objects).await, 5);
}

/// A connection as a role that owns the tables but is no superuser.
async fn as_owner(url: &str, admin: &mut PgConnection, create_on_database: bool) -> PgConnection {
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

#[tokio::test]
async fn without_the_right_to_create_a_schema_auto_truncates_everything() {
    let (mut admin, url) = scratch_database().await;
    let mut conn = as_owner(&url, &mut admin, false).await;
    prepare(&mut conn, &CleanOptions::new()).await;
    exec(&mut conn, "INSERT INTO parents (name) VALUES ('p')").await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert!(report.fallback.is_some(), "{report:?}");
    assert_eq!(report.truncated.len(), 5, "{report:?}");
    let after = snapshot(&mut conn).await;
    assert!(
        after.non_empty().is_empty() && after.moved().is_empty(),
        "{after:?}"
    );
}

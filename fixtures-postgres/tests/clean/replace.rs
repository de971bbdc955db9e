//! When a clean cannot restore in place and asks for a replacement (a fresh clone of the
//! template), changing nothing: after DDL, seen by the event trigger (superuser) or the
//! catalog fingerprint (owner); after the tracking was disabled; without the `_fixtures`
//! objects.

use fixtures_postgres::clean::{CleanOptions, CleanStrategy};
use sqlx::PgConnection;

use crate::support::scratch_database;
use crate::tracking::{as_owner, prepared, sorted};
use crate::util::*;

/// A fresh, empty database and a connection to it as a role that owns what it creates and may
/// create schemas there, but is no superuser.
pub async fn owner_database() -> PgConnection {
    let (mut admin, url) = scratch_database().await;
    owner(&mut admin, &url, true).await.0
}

#[tokio::test]
async fn a_table_created_after_prepare_asks_for_a_replacement() {
    let (mut conn, _) = prepared().await;
    exec(
        &mut conn,
        r#"INSERT INTO parents (name) VALUES ('p');
           CREATE TABLE late (id serial PRIMARY KEY, parent_id int REFERENCES parents (id));
           CREATE SCHEMA later;
           CREATE TABLE later."Late Too" (id bigserial PRIMARY KEY);
           INSERT INTO late DEFAULT VALUES;
           INSERT INTO later."Late Too" DEFAULT VALUES;"#,
    )
    .await;
    let before = snapshot(&mut conn).await;
    for _ in 0..2 {
        let report = clean(&mut conn, &CleanOptions::new()).await;
        let reason = report.replace.as_deref().unwrap_or_default();
        assert!(reason.contains("DDL"), "{report:?}");
        assert_eq!(report.tables_emptied(), 0, "{report:?}");
        assert_eq!(snapshot(&mut conn).await, before, "nothing changed");
    }

    // Prepared again (as the replacing clone is), the new tables are tracked and restored.
    prepare(&mut conn, &CleanOptions::new()).await;
    let triggers = "SELECT count(*) FROM pg_trigger WHERE tgname = '_fixtures_track'";
    assert_eq!(scalar::<i64>(&mut conn, triggers).await, 7);
    exec(
        &mut conn,
        r#"INSERT INTO late DEFAULT VALUES; DELETE FROM later."Late Too";"#,
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert!(report.replace.is_none(), "{report:?}");
    assert_eq!(
        sorted(report.deleted.clone()),
        ["later.\"Late Too\"", "public.late"]
    );
    assert!(
        report.restored.contains(&"later.\"Late Too\"".to_string()),
        "{report:?}"
    );
    assert_eq!(snapshot(&mut conn).await, before);
}

/// Schema changes a test might make; each makes the next clean ask for a replacement.
const SCHEMA_CHANGES: [&str; 8] = [
    "ALTER TABLE other ADD COLUMN leaf_id bigint REFERENCES leaf (id)",
    "CREATE INDEX ON parents (name)",
    "CREATE TABLE late (id serial PRIMARY KEY)",
    "DROP TABLE grandchildren",
    "ALTER TABLE leaf DISABLE TRIGGER _fixtures_track",
    "COMMENT ON TABLE parents IS 'changed'",
    "ALTER TABLE children ALTER COLUMN note SET DEFAULT 'n'",
    "CREATE VIEW parent_names AS SELECT name FROM parents",
];

#[tokio::test]
async fn ddl_after_prepare_asks_for_a_replacement_with_or_without_superuser() {
    // A superuser's database: the event trigger sees the DDL. A mere owner's: the catalog
    // fingerprint taken at prepare differs.
    let (superuser, _) = prepared().await;
    let (mut admin, url) = scratch_database().await;
    let mut owner = as_owner(&url, &mut admin, true).await;
    prepare(&mut owner, &CleanOptions::new()).await;
    for (who, mut conn) in [("superuser", superuser), ("owner", owner)] {
        for ddl in SCHEMA_CHANGES {
            exec(
                &mut conn,
                &format!("{ddl}; INSERT INTO other DEFAULT VALUES;"),
            )
            .await;
            let before = snapshot(&mut conn).await;
            let report = clean(&mut conn, &CleanOptions::new()).await;
            assert!(report.replace.is_some(), "{who}, {ddl}: {report:?}");
            assert_eq!(report.tables_emptied(), 0, "{who}, {ddl}: {report:?}");
            assert_eq!(
                snapshot(&mut conn).await,
                before,
                "{who}, {ddl}: nothing changed"
            );
            // Prepared again, the changed schema is the one restored to.
            prepare(&mut conn, &CleanOptions::new()).await;
            exec(&mut conn, "INSERT INTO other DEFAULT VALUES").await;
            let report = clean(&mut conn, &CleanOptions::new()).await;
            assert!(report.replace.is_none(), "{who}, after {ddl}: {report:?}");
            assert_eq!(snapshot(&mut conn).await, before, "{who}, after {ddl}");
        }
    }
}

#[tokio::test]
async fn writes_as_a_replica_are_cleaned_and_disabling_the_tracking_asks_for_a_replacement() {
    let (mut conn, _) = prepared().await;
    exec(
        &mut conn,
        "SET session_replication_role = replica;
         INSERT INTO parents (name) VALUES ('as a replica');
         RESET session_replication_role;",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert_eq!(report.deleted, ["public.parents"], "{report:?}");
    let after = snapshot(&mut conn).await;
    assert!(
        after.non_empty().is_empty() && after.moved().is_empty(),
        "{after:?}"
    );
    // Writes the tracking cannot see: the schema changed, so the database is replaced.
    exec(
        &mut conn,
        "ALTER TABLE leaf DISABLE TRIGGER ALL;
         INSERT INTO leaf (payload) VALUES ('untracked');",
    )
    .await;
    let report = clean(&mut conn, &CleanOptions::new()).await;
    assert!(report.replace.is_some(), "{report:?}");
    assert_eq!(count(&mut conn, "leaf").await, 1);
}

#[tokio::test]
async fn without_the_right_to_create_a_schema_the_clean_asks_for_a_replacement() {
    for strategy in [CleanStrategy::Auto, CleanStrategy::Delete] {
        let (mut admin, url) = scratch_database().await;
        let mut conn = as_owner(&url, &mut admin, false).await;
        // Logged, not an error: the database is then replaced after every test.
        prepare(&mut conn, &opts(strategy)).await;
        exec(&mut conn, "INSERT INTO parents (name) VALUES ('p')").await;
        let before = snapshot(&mut conn).await;
        let report = clean(&mut conn, &opts(strategy)).await;
        let reason = report.replace.as_deref().unwrap_or_default();
        assert!(reason.contains("_fixtures"), "{strategy:?}: {report:?}");
        assert_eq!(report.tables_emptied(), 0, "{strategy:?}: {report:?}");
        assert_eq!(
            snapshot(&mut conn).await,
            before,
            "{strategy:?}: nothing changed"
        );
    }
}

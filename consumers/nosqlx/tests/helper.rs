//! The helper-style suite: plain `#[tokio::test]`s that call `spawn_store(db::fixture())`. One
//! module per scope; the modules differ by one line, the `use` of their `db` fixture, and
//! every test starts from the template. Each test is marked for the skip switch
//! (`#[needs_services]`: ignored when compiled with `FIXTURES_SKIP=1`).

mod common;

use common::pg;

/// The tests of one scope's module, on the `db` fixture imported where it is invoked.
macro_rules! helper_tests {
    () => {
        use crate::common::{cases, spawn_store};

        #[fixtures_postgres::needs_services]
        #[tokio::test]
        async fn adds_tasks() {
            cases::adds_tasks(&spawn_store(db::fixture()).await).await;
        }

        #[fixtures_postgres::needs_services]
        #[tokio::test]
        async fn removes_the_first_task() {
            cases::removes_the_first_task(&spawn_store(db::fixture()).await).await;
        }

        #[fixtures_postgres::needs_services]
        #[tokio::test]
        async fn finishes_the_first_task() {
            cases::finishes_the_first_task(&spawn_store(db::fixture()).await).await;
        }

        /// The migrations ran once, into the template: each clone has their two records.
        #[fixtures_postgres::needs_services]
        #[tokio::test]
        async fn has_the_migration_records() {
            let s = spawn_store(db::fixture()).await;
            s.assert_template_state().await;
            let sql = "SELECT version FROM schema_migrations ORDER BY version";
            let rows = s.client().query(sql, &[]).await.unwrap();
            let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
            assert_eq!(versions, [1, 2]);
            let database: String = s
                .client()
                .query_one("SELECT current_database()::text", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(database, s.db.name());
        }
    };
}

/// A fresh clone of the template per test (the cleanest).
mod test_scope {
    use crate::pg::test_scope::db;
    helper_tests!();
}

/// The module's shared database, brought back to the template before each test.
mod module_scope {
    use crate::pg::module_scope::db;
    helper_tests!();
}

/// The run's shared database, brought back to the template before each test (the fastest).
mod suite_scope {
    use crate::pg::suite_scope::db;
    helper_tests!();
}

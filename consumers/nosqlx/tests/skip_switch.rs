//! The skip switch from a user's side: `FIXTURES_SKIP=1 cargo test` reports every test marked
//! `#[needs_services]` as ignored, with the reason on its line, and starts nothing. Here a whole
//! inline module is marked (an `#[rstest]` with cases, a helper-style `#[tokio::test]`, a nested
//! module); tests/helper.rs and tests/rstest_suite.rs mark their tests one by one. With the
//! switch off they run as usual. The test outside the module is not marked: with the switch on
//! it fails, saying how to mark it (`cargo xtask test` checks all of this).

mod common;

use common::pg;

#[fixtures_postgres::needs_services]
mod marked {
    use fixtures_postgres::{Lease, TestDb};
    use rstest::rstest;

    use crate::common::{cases, open_store, spawn_store};
    use crate::pg::module_scope::db;

    #[rstest]
    #[case::adds(0)]
    #[case::finishes(1)]
    #[tokio::test]
    async fn cased(db: Lease<TestDb>, #[case] which: u8) {
        let store = open_store(db).await;
        match which {
            0 => cases::adds_tasks(&store).await,
            _ => cases::finishes_the_first_task(&store).await,
        }
    }

    #[tokio::test]
    async fn through_the_helper() {
        cases::removes_the_first_task(&spawn_store(db::fixture()).await).await;
    }

    /// Marked again on its own: its tests are ignored once.
    #[fixtures_postgres::needs_services]
    mod nested {
        use crate::common::{cases, spawn_store};
        use crate::pg::suite_scope::db;

        #[tokio::test]
        async fn in_a_nested_module() {
            cases::adds_tasks(&spawn_store(db::fixture()).await).await;
        }
    }
}

/// Not marked: with `FIXTURES_SKIP=1` its database's server is not started, and it fails with
/// the error that says to mark it.
#[tokio::test]
async fn unmarked() {
    let store = common::spawn_store(pg::test_scope::db::fixture()).await;
    common::cases::adds_tasks(&store).await;
}

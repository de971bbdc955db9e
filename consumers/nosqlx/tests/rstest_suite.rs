//! The same checks with the database injected by `#[rstest]`, in every scope: the test receives
//! `Lease<TestDb>` and opens the store on it with `open_store` (connecting with its URL). Each
//! test is marked for the skip switch (`#[needs_services]`).

mod common;

use common::pg;

/// The tests of one scope's module, on the `db` fixture imported where it is invoked.
macro_rules! rstest_tests {
    () => {
        use fixtures_postgres::Lease;
        use fixtures_postgres::TestDb;
        use rstest::rstest;

        use crate::common::{cases, open_store};

        #[fixtures_postgres::needs_services]
        #[rstest]
        #[tokio::test]
        async fn adds_tasks(db: Lease<TestDb>) {
            cases::adds_tasks(&open_store(db).await).await;
        }

        #[fixtures_postgres::needs_services]
        #[rstest]
        #[tokio::test]
        async fn removes_the_first_task(db: Lease<TestDb>) {
            cases::removes_the_first_task(&open_store(db).await).await;
        }

        #[fixtures_postgres::needs_services]
        #[rstest]
        #[tokio::test]
        async fn finishes_the_first_task(db: Lease<TestDb>) {
            cases::finishes_the_first_task(&open_store(db).await).await;
        }
    };
}

/// A fresh clone of the template per test (the cleanest).
mod test_scope {
    use crate::pg::test_scope::db;
    rstest_tests!();
}

/// The module's shared database, brought back to the template before each test.
mod module_scope {
    use crate::pg::module_scope::db;
    rstest_tests!();
}

/// The run's shared database, brought back to the template before each test (the fastest).
mod suite_scope {
    use crate::pg::suite_scope::db;
    rstest_tests!();
}

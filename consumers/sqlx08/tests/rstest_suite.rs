//! The same checks with the database injected by `#[rstest]`, in every scope: the test receives
//! `Lease<TestDb>` and serves the app on it with `TestApp::start`.

mod common;

use common::pg;

/// The tests of one scope's module, on the `db` fixture imported where it is invoked.
macro_rules! rstest_tests {
    () => {
        use fixtures_core::Lease;
        use fixtures_postgres::TestDb;
        use rstest::rstest;

        use crate::common::{TestApp, cases};

        #[rstest]
        #[tokio::test]
        async fn creates_notes(db: Lease<TestDb>) {
            cases::creates_notes(&TestApp::start(db).await).await;
        }

        #[rstest]
        #[tokio::test]
        async fn deletes_the_welcome_note(db: Lease<TestDb>) {
            cases::deletes_the_welcome_note(&TestApp::start(db).await).await;
        }

        #[rstest]
        #[tokio::test]
        async fn edits_the_welcome_note(db: Lease<TestDb>) {
            cases::edits_the_welcome_note(&TestApp::start(db).await).await;
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

//! The helper-style suite: plain `#[tokio::test]`s that call `spawn_app(db::fixture())`, the
//! way most web apps' suites are written. One module per scope; the modules differ by one
//! line, the `use` of their `db` fixture, and every test starts from the template.

mod common;

use common::pg;

/// The tests of one scope's module, on the `db` fixture imported where it is invoked.
macro_rules! api_tests {
    () => {
        use crate::common::{cases, spawn_app};

        #[tokio::test]
        async fn creates_notes() {
            cases::creates_notes(&spawn_app(db::fixture()).await).await;
        }

        #[tokio::test]
        async fn deletes_the_welcome_note() {
            cases::deletes_the_welcome_note(&spawn_app(db::fixture()).await).await;
        }

        #[tokio::test]
        async fn edits_the_welcome_note() {
            cases::edits_the_welcome_note(&spawn_app(db::fixture()).await).await;
        }

        /// The app reaches the test's own database, through the parts, as its settings say.
        #[tokio::test]
        async fn serves_the_leased_database() {
            let app = spawn_app(db::fixture()).await;
            let parts = app.db.parts();
            assert_eq!(parts.database, app.db.name());
            app.assert_template_state().await;
        }
    };
}

/// A fresh clone of the template per test (the cleanest).
mod test_scope {
    use crate::pg::test_scope::db;
    api_tests!();
}

/// The module's shared database, brought back to the template before each test.
mod module_scope {
    use crate::pg::module_scope::db;
    api_tests!();
}

/// The run's shared database, brought back to the template before each test (the fastest).
mod suite_scope {
    use crate::pg::suite_scope::db;
    api_tests!();
}

//! The 50 tests on the framework's `test_scope`: a fresh clone of the migrated template per test, dropped after it.
//!
//! Run by `cargo xtask bench`; by hand: `cargo test --test ours_test_scope -- --ignored`.

mod common;
mod ours;

realapp_tests! {
    #[ignore = "benchmark: run by cargo xtask bench"]
    spawn_app = crate::ours::spawn_app(crate::ours::pg::test_scope::db::fixture());
}

/// Two of the bodies, not ignored: a plain `cargo test` of the crate checks that the app, its
/// migrations and the helper work.
mod smoke {
    use crate::common::bodies;
    use crate::ours::{pg::test_scope::db, spawn_app};

    #[tokio::test]
    async fn logs_in_with_the_right_password() {
        bodies::sessions::logs_in_with_the_right_password(spawn_app(db::fixture()).await).await;
    }

    #[tokio::test]
    async fn the_demo_tasks_are_seeded() {
        bodies::tasks::the_demo_tasks_are_seeded(spawn_app(db::fixture()).await).await;
    }
}

//! The user-path benchmark, test scope (a fresh clone of the template per test): 60 tests in 3
//! modules of 20, plain `#[tokio::test]`s calling `spawn_app(db::fixture())`, which serves the app
//! on the database, the test body over HTTP. All `#[ignore]`d: `cargo xtask bench` runs them with
//! `--ignored`.

#[macro_use]
mod common;

use common::pg::test_scope::db;

for_each_test!(helper_tests);

/// The smoke test of a plain `cargo test`: the app on a fresh database, over HTTP.
#[tokio::test]
async fn smoke_spawn_app() {
    common::spawn_app(db::fixture())
        .await
        .writes_and_reads()
        .await;
}

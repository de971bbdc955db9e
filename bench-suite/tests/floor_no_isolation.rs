//! The floor: the 200 benchmark bodies on one database shared by every test, with no isolation
//! at all — each test connects to it as a suite without a framework would (a pool of its own,
//! on the test's runtime, from `DATABASE_URL`) and writes under keys of its own, so that tests
//! do not collide. Under `cargo test` it is floor (a), under nextest floor (b): the same bodies
//! in bare test processes with a plain connection.
//!
//! Run by `cargo xtask bench` (which starts the server, creates the database and runs
//! `migrate` first, untimed); by hand:
//! `DATABASE_URL=postgres://…/db cargo test -p bench-suite --test floor_no_isolation -- --ignored`.
#![allow(missing_docs)]

use sqlx::postgres::{PgPool, PgPoolOptions};

/// The test's pool: what a test with no framework opens (lazily, as ours does).
fn pool() -> PgPool {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the floor's database");
    PgPoolOptions::new()
        .max_connections(4)
        .connect_lazy(&url)
        .expect("a valid DATABASE_URL")
}

/// Applies the example schema to `DATABASE_URL`'s database (the xtask runs it once, untimed,
/// before the timed run).
#[tokio::test]
#[ignore = "benchmark: run by cargo xtask bench (needs DATABASE_URL)"]
async fn migrate() {
    examples::MIGRATOR.run(&pool()).await.expect("migrate");
}

macro_rules! define {
    ($($module:ident { $($test:ident)* })*) => {$(
        mod $module {
            $(
                #[tokio::test]
                #[ignore = "benchmark: run by cargo xtask bench (needs DATABASE_URL)"]
                async fn $test() {
                    let tag = concat!(stringify!($module), "-", stringify!($test));
                    bench_suite::unisolated(super::pool(), tag).await;
                }
            )*
        }
    )*};
}

bench_suite::for_each_test!(define);

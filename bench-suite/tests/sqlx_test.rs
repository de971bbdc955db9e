//! The 200 benchmark tests on `#[sqlx::test]`: a database per test, the migrations applied
//! per test, on the server `DATABASE_URL` names.
//!
//! Run by `cargo xtask bench` (which starts the server); by hand:
//! `DATABASE_URL=postgres://… cargo test -p bench-suite --test sqlx_test -- --ignored`.
#![allow(missing_docs)]

macro_rules! define {
    ($($module:ident { $($test:ident)* })*) => {$(
        mod $module {
            use sqlx::PgPool;

            $(
                #[sqlx::test(migrator = "examples::MIGRATOR")]
                #[ignore = "benchmark: run by cargo xtask bench (needs DATABASE_URL)"]
                async fn $test(pool: PgPool) {
                    bench_suite::typical(pool).await;
                }
            )*
        }
    )*};
}

bench_suite::for_each_test!(define);

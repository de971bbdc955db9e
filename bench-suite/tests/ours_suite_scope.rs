//! The 200 benchmark tests on our `suite` scope: one database for the run, cleaned before each test.
//!
//! Run by `cargo xtask bench`; by hand:
//! `cargo test -p bench-suite --test ours_suite_scope -- --ignored`.
#![allow(missing_docs)]

use fixtures_postgres::{Databases, databases};

databases!(mod pg = Databases::new().migrator(&examples::MIGRATOR));

macro_rules! define {
    ($($module:ident { $($test:ident)* })*) => {$(
        mod $module {
            use fixtures_core::prelude::*;
            use fixtures_postgres::TestDb;
            use rstest::rstest;

            use crate::pg::suite_scope::db;

            $(
                #[rstest]
                #[ignore = "benchmark: run by cargo xtask bench"]
                #[tokio::test]
                async fn $test(db: Lease<TestDb>) {
                    bench_suite::typical(db.pool()).await;
                }
            )*
        }
    )*};
}

bench_suite::for_each_test!(define);

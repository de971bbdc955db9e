//! The 200 benchmark tests on our `module` scope: one database per module (10 modules of 20 tests), cleaned before each test.
//!
//! Run by `cargo xtask bench`; by hand:
//! `cargo test -p bench-suite --test ours_module_scope -- --ignored`.
#![allow(missing_docs)]

use fixtures_postgres::{Databases, databases};

databases!(mod pg = Databases::new().migrator(&examples::MIGRATOR));

macro_rules! define {
    ($($module:ident { $($test:ident)* })*) => {$(
        mod $module {
            use fixtures_core::prelude::*;
            use fixtures_postgres::TestDb;
            use rstest::rstest;

            use crate::pg::module_scope::db;

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

//! Load and isolation: 1,000 tests (25 modules × 20 on module-scoped databases, 25 × 20 on the
//! suite's database), each writing a unique marker and asserting it sees only its own row.
//! Ignored in normal runs; the `faults` harness runs them (`--load`) with 16 test threads and
//! with nextest `-j 8`, and counts servers at peak and setups per fixture (from
//! `FIXTURES_REPORT_FILE`).

use std::time::Duration;

use fixtures_postgres::{Databases, TestDb, databases};

databases!(
    /// The examples' schema, in every scope.
    pub mod pg = Databases::new().migrator(&examples::MIGRATOR)
);

/// Writes `marker`, waits a little (so tests overlap), and asserts only `marker` is visible.
pub async fn own_data_only(db: &TestDb, marker: &str) {
    let pool = db.pool();
    sqlx::query("INSERT INTO users (email, display_name) VALUES ($1, 'load')")
        .bind(marker)
        .execute(&pool)
        .await
        .expect("insert the marker");
    let jitter = marker
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 5;
    tokio::time::sleep(Duration::from_millis(jitter)).await;
    let seen: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("read back");
    assert_eq!(
        seen,
        vec![marker.to_owned()],
        "cross-test leak in {}",
        db.name()
    );
    pool.close().await;
}

macro_rules! load_module {
    ($scope:ident, $module:ident; $($t:ident)*) => {
        mod $module {
            use fixtures_core::prelude::*;
            use fixtures_postgres::TestDb;
            use rstest::rstest;

            use crate::pg::$scope::db;

            $(
                #[rstest]
                #[tokio::test]
                #[ignore = "load: run by the faults harness (--load)"]
                async fn $t(db: Lease<TestDb>) {
                    crate::own_data_only(&db, concat!(module_path!(), "::", stringify!($t))).await;
                }
            )*
        }
    };
}

load_module!(module_scope, module_00; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_01; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_02; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_03; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_04; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_05; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_06; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_07; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_08; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_09; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_10; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_11; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_12; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_13; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_14; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_15; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_16; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_17; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_18; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_19; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_20; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_21; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_22; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_23; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(module_scope, module_24; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_00; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_01; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_02; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_03; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_04; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_05; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_06; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_07; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_08; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_09; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_10; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_11; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_12; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_13; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_14; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_15; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_16; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_17; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_18; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_19; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_20; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_21; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_22; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_23; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
load_module!(suite_scope, suite_24; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);

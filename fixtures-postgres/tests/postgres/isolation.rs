//! Data written by one test is never seen by another, in each scope, with tests in parallel
//! (and, under nextest, in separate processes).

use fixtures_core::prelude::*;
use fixtures_postgres::TestDb;

/// Writes a row that names this test and checks the database holds only this test's rows
/// (plus the seed row, in every scope: a shared database is restored to the template's state).
pub async fn write_and_check_alone(db: &TestDb) {
    let me = fixtures_core::current_test().unwrap();
    let pool = db.pool();
    let (id,): (i64,) =
        sqlx::query_as("INSERT INTO notes (owner, body) VALUES ($1, 'mine') RETURNING id")
            .bind(&me)
            .fetch_one(&pool)
            .await
            .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let owners: Vec<String> =
        sqlx::query_scalar("SELECT owner FROM notes WHERE owner <> 'seed' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        owners,
        vec![me.clone()],
        "{me} sees other tests' rows in {}",
        db.name()
    );
    // Every scope starts from the template's state: the seed row (id 1) is there, and every
    // test's first row gets the next id.
    let seeded: i64 = sqlx::query_scalar("SELECT count(*) FROM notes WHERE owner = 'seed'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        seeded,
        1,
        "{me}: the seed row is not there in {}",
        db.name()
    );
    assert_eq!(
        id, 2,
        "{me}: the identity did not continue after the seed row"
    );
}

macro_rules! isolation_module {
    ($m:ident, $scope:ident) => {
        pub mod $m {
            use super::*;
            use crate::pg::$scope::db;
            use rstest::rstest;

            #[rstest]
            #[tokio::test]
            async fn a(db: Lease<TestDb>) {
                write_and_check_alone(&db).await;
            }
            #[rstest]
            #[tokio::test]
            async fn b(db: Lease<TestDb>) {
                write_and_check_alone(&db).await;
            }
            #[rstest]
            #[tokio::test]
            async fn c(db: Lease<TestDb>) {
                write_and_check_alone(&db).await;
            }
            #[rstest]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn d(db: Lease<TestDb>) {
                write_and_check_alone(&db).await;
            }
            #[rstest]
            fn sync_test_uses_its_own_runtime(db: Lease<TestDb>) {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(write_and_check_alone(&db));
            }
        }
    };
}

isolation_module!(test_scope, test_scope);
isolation_module!(module_scope, module_scope);
isolation_module!(suite_scope, suite_scope);

#[rstest::rstest]
#[tokio::test]
async fn test_scope_databases_are_dropped_after_their_test(
    pg_server: Lease<fixtures_postgres::PgServer>,
) {
    let name = {
        let db = crate::pg::test_scope::db();
        db.name().to_owned()
    };
    // Dropped in the background, right after the release: poll for it.
    let mut admin = pg_server.admin().await.unwrap();
    let released = std::time::Instant::now();
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            released.elapsed() < std::time::Duration::from_secs(5),
            "{name} still exists 5 s after its lease was released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

use fixtures_postgres::pg_server;

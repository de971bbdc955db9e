//! One suite against several server versions in one run, as pytest's `params=`: a server per
//! version (`server_of_image`), a database fixture on each, and `#[rstest]` cases whose names
//! say the version (`…::case_1_pg13`).

use fixtures_core::prelude::*;
use fixtures_postgres::{PgServer, TestDb, pg_server};
use rstest::rstest;

/// The image of Postgres `major` built from Debian's packages (`scripts/build-images.sh
/// postgres13 postgres17`), or `FIXTURES_TEST_POSTGRES<major>_IMAGE`.
fn image(major: &str) -> String {
    std::env::var(format!("FIXTURES_TEST_POSTGRES{major}_IMAGE"))
        .unwrap_or_else(|_| format!("fixtures-local/postgres:{major}"))
}

#[fixture(scope = suite)]
async fn pg13(setup: &Setup) -> Result<PgServer, fixtures_postgres::Error> {
    fixtures_postgres::server_of_image(setup, &image("13")).await
}

#[fixture(scope = suite)]
async fn pg17(setup: &Setup) -> Result<PgServer, fixtures_postgres::Error> {
    fixtures_postgres::server_of_image(setup, &image("17")).await
}

#[fixture(scope = test)]
async fn db13(setup: &Setup, pg13: Lease<PgServer>) -> Result<TestDb, fixtures_postgres::Error> {
    crate::pg::config().fresh(&pg13, setup).await
}

#[fixture(scope = test)]
async fn db17(setup: &Setup, pg17: Lease<PgServer>) -> Result<TestDb, fixtures_postgres::Error> {
    crate::pg::config().fresh(&pg17, setup).await
}

/// The test's database on Postgres `major` (15: the run's own server).
async fn db_on(major: &str) -> Lease<TestDb> {
    let db = match major {
        "13" => db13::fixture().lease_async().await,
        "17" => db17::fixture().lease_async().await,
        _ => crate::pg::test_scope::db::fixture().lease_async().await,
    };
    db.unwrap_or_else(|e| panic!("a database on Postgres {major}: {e}"))
}

#[rstest]
#[case::pg13("13")]
#[case::pg15("15")]
#[case::pg17("17")]
#[tokio::test]
async fn the_same_test_runs_on_each_server_version(#[case] major: &str) {
    let db = db_on(major).await;
    let (version, seeded): (String, i64) =
        sqlx::query_as("SELECT current_setting('server_version'), (SELECT count(*) FROM notes)")
            .fetch_one(&db.pool())
            .await
            .unwrap();
    if major != "15" {
        assert!(
            version.starts_with(&format!("{major}.")),
            "asked {major}, got {version}"
        );
    }
    assert!(seeded > 0, "the template's seed rows on {version}");
}

#[rstest]
#[tokio::test]
async fn each_version_is_a_server_of_its_own(
    pg13: Lease<PgServer>,
    pg17: Lease<PgServer>,
    pg_server: Lease<PgServer>,
) {
    assert!(pg13.version().starts_with("13."), "{}", pg13.version());
    assert!(pg17.version().starts_with("17."), "{}", pg17.version());
    // Servers of different versions are different servers (the run's own may be of one of
    // them: `cargo xtask versions` runs this suite on 13 and 17 too).
    let at = |s: &PgServer| format!("{}:{}", s.host(), s.port());
    let servers = [&*pg13, &*pg17, &*pg_server];
    for a in servers {
        for b in servers {
            if a.version() != b.version() {
                assert_ne!(at(a), at(b), "{} and {}", a.version(), b.version());
            }
        }
    }
}

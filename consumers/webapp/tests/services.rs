//! The app's whole environment, from its own side (issue #15): the Postgres service of its
//! compose file (`tests/compose.yaml`) as the server of its database fixtures (`server_at`),
//! each test connected as a login role of its own that owns its database (`role_per_test`), and
//! Redis beside it — a server for the module, an empty database of its own for each test
//! (`redis_db`). Needs Docker.

use fixtures_core::BoxError;
use fixtures_core::prelude::*;
use fixtures_docker::{Compose, ComposeFile, Container, RedisDb};
use fixtures_postgres::{Databases, PgServer, TestDb};
use rstest::rstest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The compose file's services, once for the run.
#[fixture(scope = suite)]
async fn stack(setup: &Setup) -> Result<Compose, fixtures_docker::Error> {
    ComposeFile::read("tests/compose.yaml")?.start(setup).await
}

/// The file's `db` service as the database fixtures' server (its password is the file's).
#[fixture(scope = suite)]
async fn app_server(setup: &Setup, stack: Lease<Compose>) -> Result<PgServer, BoxError> {
    let address = stack
        .service("db")?
        .address(5432)
        .ok_or("db publishes 5432")?;
    let url = format!("postgres://postgres:app@{address}/postgres");
    Ok(fixtures_postgres::server_at(setup, &url).await?)
}

/// The app's databases as in tests/common, each test's connected as a role of its own.
fn databases() -> &'static Databases {
    static CONFIG: std::sync::OnceLock<Databases> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        Databases::new()
            .migrator(&webapp::MIGRATOR)
            .seed("tests/seed.sql")
            .role_per_test(true)
    })
}

/// A fresh clone of the template per test, on the compose file's server.
#[fixture(scope = test)]
async fn db(
    setup: &Setup,
    app_server: Lease<PgServer>,
) -> Result<TestDb, fixtures_postgres::Error> {
    databases().fresh(&app_server, setup).await
}

/// The module's Redis server.
#[fixture(scope = module)]
async fn cache_server(setup: &Setup) -> Result<Container, fixtures_docker::Error> {
    fixtures_docker::start(setup, fixtures_docker::redis_spec()).await
}

/// An empty Redis database of this test's own on the module's server.
#[fixture(scope = test)]
async fn cache(
    setup: &Setup,
    cache_server: Lease<Container>,
) -> Result<RedisDb, fixtures_docker::Error> {
    fixtures_docker::redis_db(setup, &cache_server).await
}

/// Sends `commands` (inline, one per line) to the test's Redis database and returns a reply
/// line for each: as small a client as the check needs.
async fn redis(db: &RedisDb, commands: &[&str]) -> Vec<String> {
    let mut conn = tokio::net::TcpStream::connect((db.host(), db.port()))
        .await
        .unwrap();
    let mut text = format!("SELECT {}\r\n", db.index());
    for c in commands {
        text.push_str(c);
        text.push_str("\r\n");
    }
    conn.write_all(text.as_bytes()).await.unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 512];
    while got.matches("\r\n").count() < commands.len() + 1 {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "Redis closed the connection after {got:?}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let mut lines: Vec<String> = got.lines().map(str::to_owned).collect();
    assert_eq!(lines.remove(0), "+OK", "SELECT {}", db.index());
    lines
}

/// What every test does: finds the template's state and an empty cache, writes to both.
async fn starts_clean_and_writes(db: &TestDb, cache: &RedisDb, who: &str) {
    let pool = db.pool();
    let (users, invoices): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM invoices)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (users, invoices),
        (1, 1),
        "the seed alone, in {}",
        db.name()
    );
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO invoices (user_id, amount_cents) VALUES (1, 100) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(next, 2, "identities continue after the seed in every test");
    let key = format!("SET last-invoice-by {who}");
    assert_eq!(
        redis(cache, &["DBSIZE", &key, "DBSIZE"]).await,
        [":0", "+OK", ":1"]
    );
}

#[rstest]
#[tokio::test]
async fn ada_starts_from_the_template_and_an_empty_cache(db: Lease<TestDb>, cache: Lease<RedisDb>) {
    starts_clean_and_writes(&db, &cache, "ada").await;
}

#[rstest]
#[tokio::test]
async fn bob_starts_from_the_template_and_an_empty_cache(db: Lease<TestDb>, cache: Lease<RedisDb>) {
    starts_clean_and_writes(&db, &cache, "bob").await;
}

/// The test's role: its database's owner, not a superuser, unable to make databases or roles —
/// code that must not run as superuser is tested as it runs in production.
#[rstest]
#[tokio::test]
async fn each_test_connects_as_a_role_of_its_own(db: Lease<TestDb>) {
    let pool = db.pool();
    let (user, superuser, owner): (String, bool, String) = sqlx::query_as(
        "SELECT current_user::text, rolsuper, \
                (SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()) \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_ne!(user, "postgres");
    assert!(!superuser, "{user} is a superuser");
    assert_eq!(owner, user, "{user} does not own {}", db.name());
    let refused = sqlx::query("CREATE DATABASE not_allowed_here")
        .execute(&pool)
        .await
        .expect_err("a test's role cannot create databases");
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );
    // Its own tables it may write (the seed's invoice, made by the migrations' owner).
    sqlx::query("UPDATE invoices SET amount_cents = 1 WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap();
}

/// The compose file's server is the one the databases live on.
#[rstest]
#[tokio::test]
async fn the_databases_live_on_the_compose_files_server(
    stack: Lease<Compose>,
    app_server: Lease<PgServer>,
    db: Lease<TestDb>,
) {
    let address = stack.service("db").unwrap().address(5432).unwrap();
    assert_eq!(
        address,
        format!("{}:{}", app_server.host(), app_server.port())
    );
    assert_eq!(db.parts().port, app_server.port());
}

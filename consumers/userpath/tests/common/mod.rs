//! What every test binary shares: the database fixtures of every scope (the 200-table
//! migration `build.rs` generates, applied once into a template), the test body, `TestApp` —
//! the app served on a test's database, with an HTTP client — and the macros that write the
//! 60 benchmark tests of a binary.
//!
//! Every benchmark test is `#[ignore]`d (`cargo xtask bench` runs them with `--ignored`); a
//! binary's smoke test is not.

use std::net::SocketAddr;

use fixtures_core::{Fixture, Lease};
use fixtures_postgres::{Databases, TestDb, databases};
use reqwest::StatusCode;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

databases!(
    /// The app's databases: its one migration (200 tables), applied once into a template.
    pub mod pg = Databases::new().migrations_dir(concat!(env!("OUT_DIR"), "/migrations"))
);

/// The test body on the database's pool: it starts from the template (every table empty),
/// writes a few rows into four tables and reads them back.
///
/// # Panics
///
/// When a query fails or the database was not in the template's state.
#[allow(dead_code)] // the helper-style binaries go through the app
pub async fn writes_and_reads(pool: &PgPool) {
    assert_eq!(userpath::read(pool).await.unwrap(), userpath::EMPTY);
    assert_eq!(userpath::write(pool).await.unwrap(), userpath::WRITTEN);
    assert_eq!(userpath::read(pool).await.unwrap(), userpath::READ);
}

/// The app, served on a test's database, and an HTTP client for it. The lease keeps the
/// database the test's until the `TestApp` is dropped.
#[derive(Debug)]
#[allow(dead_code)] // the rstest-style binaries use the pool directly
pub struct TestApp {
    /// Where the app listens.
    pub addr: SocketAddr,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    /// The test's database; released after the server is stopped.
    pub db: Lease<TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Leases a database from one of the `db` fixtures — `spawn_app(db::fixture())` with the
/// scope's `db` in scope — and serves the app on it, with a pool of its own made from the
/// database's URL, as the app's `main` makes it from its `DATABASE_URL`.
///
/// # Panics
///
/// With the fixture's setup error, so that the test fails with it.
#[allow(dead_code)] // the rstest-style binaries use the pool directly
pub async fn spawn_app(db: &'static Fixture<TestDb>) -> TestApp {
    let db = db.lease_async().await.unwrap_or_else(|e| panic!("{e}"));
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect_lazy(db.url())
        .expect("the test database's URL");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = userpath::router(pool);
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestApp {
        addr,
        client: reqwest::Client::new(),
        server,
        db,
    }
}

#[allow(dead_code)] // the rstest-style binaries use the pool directly
impl TestApp {
    /// `method /rows`: the answer's text, which must come with `200 OK`.
    async fn rows(&self, method: reqwest::Method) -> String {
        let url = format!("http://{}/rows", self.addr);
        let answer = self.client.request(method, url).send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{text}");
        text
    }

    /// The test body through the API: it starts from the template, `POST /rows` writes a few
    /// rows into four tables, `GET /rows` reads them back.
    ///
    /// # Panics
    ///
    /// When a request fails or the database was not in the template's state.
    pub async fn writes_and_reads(&self) {
        assert_eq!(self.rows(reqwest::Method::GET).await, userpath::EMPTY);
        assert_eq!(self.rows(reqwest::Method::POST).await, userpath::WRITTEN);
        assert_eq!(self.rows(reqwest::Method::GET).await, userpath::READ);
    }
}

/// Calls `$callback!` with the 60 benchmark test names, `t00` to `t59`, in 3 modules of 20
/// (`m0 { t00 … t19 } m1 { t20 … } m2 { … }`): module scope shares 3 databases. A libtest
/// filter picks a subset by name: `t0` is 10 tests (the quick run).
macro_rules! for_each_test {
    ($callback:ident) => {
        $callback! {
            m0 { t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 }
            m1 { t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30 t31 t32 t33 t34 t35 t36 t37 t38 t39 }
            m2 { t40 t41 t42 t43 t44 t45 t46 t47 t48 t49 t50 t51 t52 t53 t54 t55 t56 t57 t58 t59 }
        }
    };
}

/// The benchmark tests with the database injected by `#[rstest]`: `db` (the scope's fixture)
/// must be in scope where this is invoked, through [`for_each_test`].
#[allow(unused_macros)] // each binary uses one of the two styles
macro_rules! rstest_tests {
    ($($module:ident { $($test:ident)* })*) => {
        $(
            mod $module {
                use fixtures_core::Lease;
                use fixtures_postgres::TestDb;
                use rstest::rstest;

                use super::db;

                $(
                    #[rstest]
                    #[tokio::test]
                    #[ignore = "benchmark: run by cargo xtask bench"]
                    async fn $test(db: Lease<TestDb>) {
                        crate::common::writes_and_reads(&db.pool()).await;
                    }
                )*
            }
        )*
    };
}

/// The benchmark tests as plain `#[tokio::test]`s calling `spawn_app(db::fixture())`: `db`
/// (the scope's fixture) must be in scope where this is invoked, through [`for_each_test`].
#[allow(unused_macros)] // each binary uses one of the two styles
macro_rules! helper_tests {
    ($($module:ident { $($test:ident)* })*) => {
        $(
            mod $module {
                use super::db;

                $(
                    #[tokio::test]
                    #[ignore = "benchmark: run by cargo xtask bench"]
                    async fn $test() {
                        crate::common::spawn_app(db::fixture()).await.writes_and_reads().await;
                    }
                )*
            }
        )*
    };
}

//! A fresh scratch database per call, on the run's test server: the `pg_server` fixture
//! (Docker or local binaries, as `FIXTURES_PG_BACKEND` selects), so that the cleaning tests
//! run on both backends. Each call creates its own database, so tests stay independent under
//! `cargo test` (threads) and `cargo nextest` (processes).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use fixtures_postgres::pg_server;
use sqlx::{Connection, Executor, PgConnection};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty database on the test server: a superuser connection to it, and its URL.
pub async fn scratch_database() -> (PgConnection, String) {
    let server = pg_server::fixture()
        .lease_async()
        .await
        .expect("the test server");
    let name = format!(
        "clean_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = server.admin().await.expect("connect to the test server");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .expect("create a scratch database");
    admin.close().await.ok();
    let url = server.url(&name);
    let conn = PgConnection::connect(&url)
        .await
        .expect("connect to the scratch database");
    (conn, url)
}

/// Nothing to do: the server is the `pg_server` fixture's, stopped when the run ends.
pub fn stop_server() {}

//! The 200 benchmark tests on testcontainers-rs: each test starts its own Postgres container
//! (the locally built `fixtures-local/postgres:15`, data on tmpfs, durability off: the same
//! server settings as ours), waits for it, applies the migrations, runs the body; the
//! container is removed when the test drops it.
//!
//! Run by `cargo xtask bench`; by hand:
//! `cargo test -p bench-suite --test testcontainers_rs -- --ignored`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// A Postgres container of this test's own, migrated, and a pool on it.
pub async fn postgres() -> (ContainerAsync<GenericImage>, PgPool) {
    let label = std::env::var("BENCH_SUITE_LABEL").unwrap_or_else(|_| "manual".into());
    let container = GenericImage::new("fixtures-local/postgres", "15")
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_env_var("POSTGRES_PASSWORD", "postgres")
        .with_mount(Mount::tmpfs_mount("/var/lib/postgresql/data"))
        .with_cmd([
            "postgres",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .with_label("org.fixtures.bench", label)
        .with_startup_timeout(Duration::from_secs(90))
        .start()
        .await
        .expect("start the Postgres container");
    let host = container
        .get_host()
        .await
        .expect("container host")
        .to_string();
    let port = container
        .get_host_port_ipv4(5432)
        .await
        .expect("mapped port");
    let opts = PgConnectOptions::new()
        .host(&host)
        .port(port)
        .username("postgres")
        .password("postgres")
        .database("postgres");
    // The "ready" line is logged twice on a fresh data directory (the entrypoint's temporary
    // server, then the real one): wait for a real connection.
    let start = Instant::now();
    let mut delay = Duration::from_millis(10);
    let mut conn = loop {
        match PgConnection::connect_with(&opts).await {
            Ok(conn) => break conn,
            Err(e) if start.elapsed() > Duration::from_secs(60) => {
                panic!("Postgres never answered: {e}")
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
        }
    };
    examples::MIGRATOR.run(&mut conn).await.expect("migrations");
    let _ = conn.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .expect("pool");
    (container, pool)
}

macro_rules! define {
    ($($module:ident { $($test:ident)* })*) => {$(
        mod $module {
            $(
                #[ignore = "benchmark: run by cargo xtask bench"]
                #[tokio::test]
                async fn $test() {
                    let (_container, pool) = crate::postgres().await;
                    bench_suite::typical(pool).await;
                }
            )*
        }
    )*};
}

bench_suite::for_each_test!(define);

//! A storage mount: a host folder holding a Postgres data directory, kept across two
//! containers — the first one's data is there when the second starts on the same folder.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_docker::{Container, ContainerSpec, WaitFor};
use sqlx::Connection;

/// The host folder both containers mount (one per test process).
fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pg-storage-{}", std::process::id()))
}

fn on_storage(which: &str) -> ContainerSpec {
    ContainerSpec::from_env("FIXTURES_TEST_POSTGRES_IMAGE", "postgres:15")
        .env("POSTGRES_PASSWORD", "stored")
        .env("PGDATA", "/storage/pgdata")
        .bind(data_dir().display().to_string(), "/storage", false)
        .label("test", which)
        .expose(5432)
        .wait_for(WaitFor::exec([
            "pg_isready",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ]))
}

#[fixture(scope = test)]
async fn first(setup: &Setup) -> Result<Container, fixtures_docker::Error> {
    fixtures_docker::start(setup, on_storage("storage-first")).await
}

#[fixture(scope = test)]
async fn second(setup: &Setup) -> Result<Container, fixtures_docker::Error> {
    fixtures_docker::start(setup, on_storage("storage-second")).await
}

async fn connect(c: &Container) -> sqlx::PgConnection {
    let url = format!(
        "postgres://postgres:stored@{}/postgres",
        c.address(5432).unwrap()
    );
    sqlx::PgConnection::connect(&url).await.unwrap()
}

fn exists(id: &str) -> bool {
    std::process::Command::new("docker")
        .args(["inspect", id])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn a_data_directory_on_a_host_folder_outlives_its_container() {
    let _ = std::fs::remove_dir_all(data_dir());
    std::fs::create_dir_all(data_dir()).unwrap();
    let one = first::fixture().lease_async().await.unwrap();
    let mut c = connect(&one).await;
    sqlx::raw_sql(
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('from the first container')",
    )
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    let id = one.id().to_owned();
    drop(one); // its teardown removes the container
    let start = Instant::now();
    while exists(&id) && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!exists(&id), "the first container is gone");

    let two = second::fixture().lease_async().await.unwrap();
    assert_ne!(two.id(), id);
    let mut c = connect(&two).await;
    let v: String = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(v, "from the first container");
    c.close().await.unwrap();
    drop(two);
    // The folder is the test's own: the data directory (owned by the server's user) goes
    // with a container that can remove it.
    let _ = std::fs::remove_dir_all(data_dir());
}
